// Version 2's signed envelopes (docs/PROTOCOL.md, "The sealed payload"): making one from a
// text, and reading one back with its fields checked for type. What the envelope must
// match (sender, recipient, time, ids) is checked by the session, which knows the room.
// `C` is crypto.js (or node's same functions in the tests).

import { ID_RE } from './protocol.js';

// The sealed payload of `text` from `from` to `to` (a name or 'all'); with `file` (the
// offer's description, docs/PROTOCOL.md "Version 2 — files") a file offer instead.
export async function seal(C, keys, { from, to, id, time, epoch, text, file }) {
  const content = file ? { kind: 'file', file } : { kind: 'text', text };
  const body = C.utf8(JSON.stringify({ v: 2, from, to, id, time, epoch, ...content }));
  return C.sealPayload(await C.signEnvelope(keys, body), body);
}

// The sealed payload of a 0.9 plaintext {from, to: 'all', message}, signed as in 0.9: the
// legacy copy for 0.9 clients.
export async function sealLegacy(C, keys, from, text) {
  const body = C.utf8(JSON.stringify({ from, to: 'all', message: text }));
  return C.sealPayload(await C.sign(keys, body), body);
}

// A 1:1 message's fields (base64) for `peer`: a fresh key K, wrapped for it.
export async function hybrid(C, peer, sealed) {
  const raw = C.randomBytes(32);
  const wrapped = await C.rsaEncrypt(peer, raw);
  const { iv, ct } = await C.gcmSeal(await C.importSecret(raw), sealed);
  return { wrapped: C.b64(wrapped), iv: C.b64(iv), ciphertext: C.b64(ct) };
}

// The sealed payload of a 1:1 message to me; throws when it is not for my key or damaged.
export async function unhybrid(C, keys, d) {
  const raw = await C.rsaDecrypt(keys, C.unb64(d.wrapped));
  return C.gcmOpen(await C.importSecret(raw), C.unb64(d.iv), C.unb64(d.ciphertext));
}

export async function underGroupKey(C, key, sealed) {
  const { iv, ct } = await C.gcmSeal(key, sealed);
  return { iv: C.b64(iv), ciphertext: C.b64(ct) };
}

// The envelope of `body` (UTF-8 JSON), or null when it is not one: wrong types, or a text
// message without its text.
export function parse(C, body) {
  let e;
  try {
    e = JSON.parse(C.fromUtf8(body));
  } catch {
    return null;
  }
  if (!e || typeof e !== 'object' || e.v !== 2) return null;
  if (typeof e.from !== 'string' || typeof e.to !== 'string' || typeof e.id !== 'string' || !ID_RE.test(e.id)) return null;
  if (!Number.isSafeInteger(e.time) || !Number.isSafeInteger(e.epoch) || typeof e.kind !== 'string') return null;
  if (e.kind === 'text' && typeof e.text !== 'string') return null;
  return e;
}

// A 0.9 plaintext {from, to, message}, or null.
export function parseLegacy(C, body) {
  let m;
  try {
    m = JSON.parse(C.fromUtf8(body));
  } catch {
    return null;
  }
  if (!m || typeof m.from !== 'string' || typeof m.to !== 'string' || typeof m.message !== 'string') return null;
  return m;
}
