// WebCrypto for dyspatcher: RSA-OAEP/SHA-256 (1:1), RSA-PSS/SHA-256 (signatures),
// AES-256-GCM with a 16-byte IV (to all). Keys travel as base64 DER SPKI; Key ID =
// lowercase hex SHA-256 of that DER.

const subtle = globalThis.crypto && globalThis.crypto.subtle;
const OAEP = { name: 'RSA-OAEP', hash: 'SHA-256' };
const PSS = { name: 'RSA-PSS', hash: 'SHA-256' };
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export const OPENSSL_PKCS8 = 'openssl pkcs8 -topk8 -nocrypt -in private.pem -out private-pkcs8.pem';

export function available() {
  return !!subtle && globalThis.isSecureContext !== false;
}

export function b64(buf) {
  const u = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  let s = '';
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
  return btoa(s);
}

export function unb64(s) {
  const bin = atob(String(s));
  const u = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
  return u;
}

export const utf8 = (s) => enc.encode(s);
export const fromUtf8 = (b) => dec.decode(b);

export async function sha256hex(bytes) {
  const h = new Uint8Array(await subtle.digest('SHA-256', bytes));
  return Array.from(h, (x) => x.toString(16).padStart(2, '0')).join('');
}

// Largest OAEP-SHA-256 plaintext for a modulus of `bits`: k - 2*32 - 2.
export const oaepMax = (bits) => Math.ceil(bits / 8) - 66;
// Largest PSS-SHA-256 salt for a modulus of `bits`: emLen - 32 - 2.
export const pssMaxSalt = (bits) => Math.ceil((bits - 1) / 8) - 34;

function modulusBits(key) {
  return key.algorithm.modulusLength;
}

// ---- PEM -------------------------------------------------------------------

export function pem(label, der) {
  const body = b64(der).replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

// Returns { label, der } of the first PEM block, or throws with a reason for the user.
export function parsePem(text) {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(String(text));
  if (!m) throw new Error('This file is not a PEM key (no -----BEGIN ...----- block).');
  const body = m[2];
  if (/Proc-Type:\s*4,ENCRYPTED/.test(body) || m[1] === 'ENCRYPTED PRIVATE KEY') {
    throw new Error('This private key is protected by a passphrase. Remove it first: ' + OPENSSL_PKCS8);
  }
  let der;
  try {
    der = unb64(body.replace(/[^A-Za-z0-9+/=]/g, ''));
  } catch {
    throw new Error('The PEM block is damaged (bad base64).');
  }
  return { label: m[1], der };
}

// DER length bytes.
function derLen(n) {
  if (n < 0x80) return [n];
  const out = [];
  while (n > 0) { out.unshift(n & 0xff); n >>= 8; }
  return [0x80 | out.length, ...out];
}

// PKCS#1 RSAPrivateKey -> PKCS#8 PrivateKeyInfo:
// SEQUENCE { INTEGER 0, SEQUENCE { OID rsaEncryption, NULL }, OCTET STRING { pkcs1 } }
export function pkcs1ToPkcs8(pkcs1) {
  const head = [0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
  const octet = [0x04, ...derLen(pkcs1.length)];
  const inner = head.length + octet.length + pkcs1.length;
  const out = new Uint8Array(1 + derLen(inner).length + inner);
  out.set([0x30, ...derLen(inner), ...head, ...octet]);
  out.set(pkcs1, out.length - pkcs1.length);
  return out;
}

// PKCS#1 RSAPublicKey -> SPKI: SEQUENCE { SEQUENCE { OID, NULL }, BIT STRING { 0, pkcs1 } }
export function pkcs1PubToSpki(pkcs1) {
  const alg = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
  const bits = [0x03, ...derLen(pkcs1.length + 1), 0x00];
  const inner = alg.length + bits.length + pkcs1.length;
  const out = new Uint8Array(1 + derLen(inner).length + inner);
  out.set([0x30, ...derLen(inner), ...alg, ...bits]);
  out.set(pkcs1, out.length - pkcs1.length);
  return out;
}

// ---- Key sets ------------------------------------------------------------------

// A key set: { decrypt, sign, encrypt, spkiB64, keyid, bits, pkcs8 (DER), spki (DER) }
async function finish(pkcs8, spki, decryptKey) {
  const sign = await subtle.importKey('pkcs8', pkcs8, PSS, false, ['sign']);
  const encrypt = await subtle.importKey('spki', spki, OAEP, false, ['encrypt']);
  return {
    decrypt: decryptKey,
    sign,
    encrypt,
    pkcs8: new Uint8Array(pkcs8),
    spki: new Uint8Array(spki),
    spkiB64: b64(spki),
    keyid: await sha256hex(spki),
    bits: modulusBits(encrypt),
  };
}

// Generated in a worker (keygen-worker.js) so that the page stays responsive in every
// engine; on this thread where a worker cannot be had.
export async function generate(bits = 4096) {
  let der;
  try {
    der = await inWorker(bits);
  } catch {
    const pair = await subtle.generateKey({ ...OAEP, modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]) }, true, ['encrypt', 'decrypt']);
    der = { pkcs8: await subtle.exportKey('pkcs8', pair.privateKey), spki: await subtle.exportKey('spki', pair.publicKey) };
  }
  const decrypt = await subtle.importKey('pkcs8', der.pkcs8, OAEP, false, ['decrypt']);
  return finish(der.pkcs8, der.spki, decrypt);
}

function inWorker(bits) {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./keygen-worker.js', import.meta.url));
    w.onmessage = (ev) => {
      w.terminate();
      if (ev.data.error) reject(new Error(ev.data.error));
      else resolve(ev.data);
    };
    w.onerror = (ev) => {
      w.terminate();
      ev.preventDefault();
      reject(new Error('no worker'));
    };
    w.postMessage({ bits });
  });
}

// Import custom keys from PEM texts. The public key is optional: when missing it is
// derived from the private key; when given it must match it.
export async function importPem(privateText, publicText) {
  const p = parsePem(privateText);
  let pkcs8;
  if (p.label === 'PRIVATE KEY') pkcs8 = p.der;
  else if (p.label === 'RSA PRIVATE KEY') pkcs8 = pkcs1ToPkcs8(p.der);
  else throw new Error(`The private key file holds "${p.label}", not an RSA private key.`);
  let priv;
  try {
    priv = await subtle.importKey('pkcs8', pkcs8, OAEP, true, ['decrypt']);
  } catch {
    throw new Error('The browser cannot read this private key. If it came from openssl, convert it: ' + OPENSSL_PKCS8);
  }
  const bits = modulusBits(priv);
  if (bits < 2048 || bits > 8192) throw new Error(`Keys of 2048 to 8192 bits are accepted; this one has ${bits}.`);
  const jwk = await subtle.exportKey('jwk', priv);
  const derived = await subtle.importKey('jwk', { kty: 'RSA', n: jwk.n, e: jwk.e, ext: true }, OAEP, true, ['encrypt']);
  const spki = new Uint8Array(await subtle.exportKey('spki', derived));
  if (publicText && String(publicText).trim()) {
    const q = parsePem(publicText);
    let given;
    if (q.label === 'PUBLIC KEY') given = q.der;
    else if (q.label === 'RSA PUBLIC KEY') given = pkcs1PubToSpki(q.der);
    else throw new Error(`The public key file holds "${q.label}", not a public key.`);
    let pub;
    try {
      pub = await subtle.importKey('spki', given, OAEP, true, ['encrypt']);
    } catch {
      throw new Error('The browser cannot read this public key.');
    }
    const pj = await subtle.exportKey('jwk', pub);
    if (pj.n !== jwk.n || pj.e !== jwk.e) throw new Error('The public key does not belong to the private key.');
  }
  return finish(pkcs8, spki, priv);
}

// A peer's public key from base64 SPKI: { encrypt, verify, bits, keyid }
export async function importPeer(spkiB64) {
  const der = unb64(spkiB64);
  const encrypt = await subtle.importKey('spki', der, OAEP, false, ['encrypt']);
  const verify = await subtle.importKey('spki', der, PSS, false, ['verify']);
  return { encrypt, verify, bits: modulusBits(encrypt), keyid: await sha256hex(der) };
}

export async function importGroupKey(b64key) {
  const raw = unb64(b64key);
  if (raw.length !== 32) throw new Error('bad group key');
  return subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

// ---- Messages ----------------------------------------------------------------------

export async function sign(keys, bytes) {
  const saltLength = Math.min(256, pssMaxSalt(keys.bits));
  return new Uint8Array(await subtle.sign({ ...PSS, saltLength }, keys.sign, bytes));
}

// The answer to a chat-challenge (docs/PROTOCOL.md): the nonce and the host[:port] this
// page connected to, signed, so that the proof is good for this server only.
export async function signJoinProof(keys, host, nonceB64) {
  return b64(await sign(keys, utf8(`dyspatcher join proof v1\n${host}\n${nonceB64}`)));
}

// Verify with the usual salt lengths: 256 (all clients), the largest the key allows
// (servers with small keys), 32 and 0.
export async function verify(peer, sig, bytes) {
  const max = pssMaxSalt(peer.bits);
  const salts = [...new Set([256, max, 32, 0])].filter((s) => s >= 0 && s <= max);
  for (const saltLength of salts) {
    try {
      if (await subtle.verify({ ...PSS, saltLength }, peer.verify, sig, bytes)) return true;
    } catch { /* try the next */ }
  }
  return false;
}

export async function rsaEncrypt(peer, bytes) {
  if (bytes.length > oaepMax(peer.bits)) throw new Error('too long');
  return new Uint8Array(await subtle.encrypt(OAEP, peer.encrypt, bytes));
}

export async function rsaDecrypt(keys, ct) {
  return new Uint8Array(await subtle.decrypt(OAEP, keys.decrypt, ct));
}

export async function aesEncrypt(groupKey, bytes) {
  const iv = crypto.getRandomValues(new Uint8Array(16));
  const ct = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, tagLength: 128 }, groupKey, bytes));
  return { iv, ct };
}

export async function aesDecrypt(groupKey, iv, ct) {
  return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv, tagLength: 128 }, groupKey, ct));
}

// ---- Version 2 (docs/PROTOCOL.md, "Version 2") -------------------------------------------

const GCM_IV = 12;

export const randomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));

// A 32-byte AES-256-GCM key from its raw bytes.
export async function importSecret(raw) {
  if (raw.length !== 32) throw new Error('bad key size');
  return subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

// AES-256-GCM with a fresh 12-byte IV; `aad` optional.
export async function gcmSeal(key, bytes, aad) {
  const iv = randomBytes(GCM_IV);
  const p = { name: 'AES-GCM', iv, tagLength: 128 };
  if (aad) p.additionalData = aad;
  return { iv, ct: new Uint8Array(await subtle.encrypt(p, key, bytes)) };
}

export async function gcmOpen(key, iv, ct, aad) {
  if (iv.length !== GCM_IV) throw new Error('bad iv');
  const p = { name: 'AES-GCM', iv, tagLength: 128 };
  if (aad) p.additionalData = aad;
  return new Uint8Array(await subtle.decrypt(p, key, ct));
}

// The member key of config v2: RSA-OAEP-wrapped for my key.
export async function unwrapMemberKey(keys, b64wrapped) {
  return importSecret(await rsaDecrypt(keys, unb64(b64wrapped)));
}

// The AAD that binds a wrapped group key to its epoch and to its recipient.
export const groupKeyAad = (epoch, name) => utf8(`dyspatcher group key v2\n${epoch}\n${name}`);

export async function unwrapGroupKey(memberKey, epoch, name, ivB64, keyB64) {
  return importSecret(await gcmOpen(memberKey, unb64(ivB64), unb64(keyB64), groupKeyAad(epoch, name)));
}

// `u16be(length of S) ‖ S ‖ body`.
export function sealPayload(sig, body) {
  const out = new Uint8Array(2 + sig.length + body.length);
  out[0] = sig.length >> 8;
  out[1] = sig.length & 0xff;
  out.set(sig, 2);
  out.set(body, 2 + sig.length);
  return out;
}

// { sig, body } of a sealed payload; throws when it is shorter than its length says.
export function openPayload(bytes) {
  if (bytes.length < 2) throw new Error('short payload');
  const n = (bytes[0] << 8) | bytes[1];
  if (bytes.length < 2 + n) throw new Error('short payload');
  return { sig: bytes.subarray(2, 2 + n), body: bytes.subarray(2 + n) };
}

// What an envelope's signature covers: a fixed prefix keeps it from passing for a join
// proof or a 0.9 message.
function envelopeSigned(envelope) {
  const prefix = utf8('dyspatcher message v2\n');
  const out = new Uint8Array(prefix.length + envelope.length);
  out.set(prefix);
  out.set(envelope, prefix.length);
  return out;
}

export const signEnvelope = (keys, envelope) => sign(keys, envelopeSigned(envelope));
export const verifyEnvelope = (peer, sig, envelope) => verify(peer, sig, envelopeSigned(envelope));
