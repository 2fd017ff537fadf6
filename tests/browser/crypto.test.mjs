// The page's crypto (www/crypto.js) in every browser engine against the shared vectors and
// OpenSSL (through Node's crypto). Needs no chat server: www/ is served by a tiny static
// server with the same Content-Security-Policy as the real one.

import assert from 'node:assert/strict';
import * as nodeCrypto from 'node:crypto';
import { forEachEngine, staticServer, vectors, vectorText, artifact } from './helpers.mjs';

const pems = () => ({
  alicePriv: vectorText('alice.pkcs8.pem'),
  alicePub: vectorText('alice.pub.pem'),
  bobPriv: vectorText('bob.pkcs8.pem'),
  bobPub: vectorText('bob.pub.pem'),
  adminPkcs1: vectorText('admin.pkcs1.pem'),
  adminPub: vectorText('admin.pub.pem'),
  smallPriv: vectorText('small2048.pkcs8.pem'),
  smallPub: vectorText('small2048.pub.pem'),
});

forEachEngine((t) => {
  let web, page;

  t.before(async () => {
    web = await staticServer();
    page = await t.open(web.url);
  });

  t.after(async () => {
    await web?.close();
  });

  t.test('the page loads under the CSP and generates a 4096-bit key', { timeout: 30000 }, async () => {
    await page.locator('#keygen[data-state="done"]').waitFor({ timeout: 25000 });
    const text = await page.locator('#keygen-text').textContent();
    assert.match(text, /Keys ready\. Key ID [0-9a-f]{12}$/);
    const bits = await page.evaluate(async () => {
      const C = await import('/crypto.js');
      return (await C.generate(4096)).bits;
    });
    assert.equal(bits, 4096);
    assert.deepEqual(await page.problems(), []);
  });

  t.test('key generation leaves the page responsive: its timers keep ticking', { timeout: 60000 }, async () => {
    const r = await page.evaluate(async () => {
      const C = await import('/crypto.js');
      let last = performance.now();
      let longest = 0;
      const tick = setInterval(() => {
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
      }, 10);
      const t0 = performance.now();
      const k = await C.generate(4096);
      const took = performance.now() - t0;
      clearInterval(tick);
      return { bits: k.bits, took, longest };
    });
    assert.equal(r.bits, 4096);
    // The page's progress line ticks every 200 ms: no pause may be longer than a few ticks.
    assert.ok(r.longest < 500, `the page froze ${Math.round(r.longest)} ms of a ${Math.round(r.took)} ms key generation`);
  });

  t.test('custom keys: PKCS#8, PKCS#1 and 2048-bit import with the vectors Key IDs; PEM round trip', { timeout: 30000 }, async () => {
    const r = await page.evaluate(async (p) => {
      const C = await import('/crypto.js');
      const alice = await C.importPem(p.alicePriv, p.alicePub);
      const aliceNoPub = await C.importPem(p.alicePriv, '');
      const admin = await C.importPem(p.adminPkcs1, p.adminPub);
      const small = await C.importPem(p.smallPriv, p.smallPub);
      const errors = {};
      for (const [k, priv, pub] of [
        ['mismatch', p.alicePriv, p.bobPub],
        ['garbage', 'hello', ''],
        ['encrypted', '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n', ''],
        ['pubAsPriv', p.alicePub, ''],
      ]) {
        try {
          await C.importPem(priv, pub);
          errors[k] = 'accepted';
        } catch (e) {
          errors[k] = e.message;
        }
      }
      return {
        alice: alice.keyid,
        aliceNoPub: aliceNoPub.keyid,
        admin: admin.keyid,
        small: small.keyid,
        smallBits: small.bits,
        alicePrivPem: C.pem('PRIVATE KEY', alice.pkcs8),
        alicePubPem: C.pem('PUBLIC KEY', alice.spki),
        adminPrivPem: C.pem('PRIVATE KEY', admin.pkcs8),
        aliceSpki: alice.spkiB64,
        errors,
      };
    }, pems());
    assert.equal(r.alice, vectors.keys.alice.keyid);
    assert.equal(r.aliceNoPub, vectors.keys.alice.keyid);
    assert.equal(r.admin, vectors.keys.admin.keyid);
    assert.equal(r.small, vectors.keys.small2048.keyid);
    assert.equal(r.smallBits, 2048);
    assert.equal(r.aliceSpki, vectors.keys.alice.spki_b64);
    assert.equal(r.alicePubPem.trim(), vectorText('alice.pub.pem').trim());
    assert.equal(r.alicePrivPem.trim(), vectorText('alice.pkcs8.pem').trim());
    // The PKCS#1 admin key, wrapped into PKCS#8 by the page, is the same key OpenSSL sees.
    const fromPage = nodeCrypto.createPrivateKey(r.adminPrivPem).export({ format: 'der', type: 'pkcs1' });
    const fromFile = nodeCrypto.createPrivateKey(vectorText('admin.pkcs1.pem')).export({ format: 'der', type: 'pkcs1' });
    assert.ok(fromPage.equals(fromFile));
    assert.match(r.errors.mismatch, /does not belong/);
    assert.match(r.errors.garbage, /not a PEM key/);
    assert.match(r.errors.encrypted, /openssl pkcs8 -topk8 -nocrypt -in private\.pem -out private-pkcs8\.pem/);
    assert.match(r.errors.pubAsPriv, /not an RSA private key/);
  });

  t.test('the vectors decrypt and verify in the page', { timeout: 30000 }, async () => {
    const r = await page.evaluate(
      async ({ p, v }) => {
        const C = await import('/crypto.js');
        const bob = await C.importPem(p.bobPriv, p.bobPub);
        const admin = await C.importPem(p.adminPkcs1, p.adminPub);
        const alicePeer = await C.importPeer(v.keys.alice.spki_b64);
        const bobPeer = await C.importPeer(v.keys.bob.spki_b64);
        const m1 = v.rsa_message_alice_to_bob;
        const pt1 = await C.rsaDecrypt(bob, C.unb64(m1.ciphertext_b64));
        const m2 = v.aes_message_alice_to_all;
        const g = await C.importGroupKey(m2.aeskey_b64);
        const pt2 = await C.aesDecrypt(g, C.unb64(m2.iv_b64), C.unb64(m2.ciphertext_b64));
        const m3 = v.rsa_message_bob_to_admin;
        const pt3 = await C.rsaDecrypt(admin, C.unb64(m3.ciphertext_b64));
        let wrongKey = 'decrypted';
        try {
          await C.rsaDecrypt(admin, C.unb64(m1.ciphertext_b64));
        } catch {
          wrongKey = 'refused';
        }
        return {
          pt1: C.fromUtf8(pt1),
          sig1: await C.verify(alicePeer, C.unb64(m1.signature_b64), pt1),
          sig1wrongKey: await C.verify(bobPeer, C.unb64(m1.signature_b64), pt1),
          salt32: await C.verify(alicePeer, C.unb64(v.pss_salt32_signature.signature_b64), pt1),
          pt2: C.fromUtf8(pt2),
          sig2: await C.verify(alicePeer, C.unb64(m2.signature_b64), pt2),
          pt3: C.fromUtf8(pt3),
          sig3: await C.verify(bobPeer, C.unb64(m3.signature_b64), pt3),
          wrongKey,
        };
      },
      { p: pems(), v: vectors },
    );
    assert.equal(r.pt1, vectors.rsa_message_alice_to_bob.plaintext_utf8);
    assert.equal(r.sig1, true);
    assert.equal(r.sig1wrongKey, false);
    assert.equal(r.salt32, true);
    assert.equal(r.pt2, vectors.aes_message_alice_to_all.plaintext_utf8);
    assert.equal(r.sig2, true);
    assert.equal(r.pt3, vectors.rsa_message_bob_to_admin.plaintext_utf8);
    assert.equal(r.sig3, true);
    assert.equal(r.wrongKey, 'refused');
  });

  t.test('what the page encrypts and signs, OpenSSL decrypts and verifies (salt 256; 222 for 2048 bits)', { timeout: 30000 }, async () => {
    const plain = JSON.stringify({ from: 'alice', to: 'bob', message: 'hé ☃ '.repeat(20) });
    const r = await page.evaluate(
      async ({ p, plain }) => {
        const C = await import('/crypto.js');
        const alice = await C.importPem(p.alicePriv, p.alicePub);
        const small = await C.importPem(p.smallPriv, p.smallPub);
        const bobPeer = await C.importPeer((await C.importPem(p.bobPriv, p.bobPub)).spkiB64);
        const bytes = C.utf8(plain);
        const g = C.b64(crypto.getRandomValues(new Uint8Array(32)));
        const gk = await C.importGroupKey(g);
        const a = await C.aesEncrypt(gk, bytes);
        let tooLong = 'sent';
        try {
          await C.rsaEncrypt(bobPeer, new Uint8Array(C.oaepMax(4096) + 1));
        } catch {
          tooLong = 'refused';
        }
        return {
          ct: C.b64(await C.rsaEncrypt(bobPeer, bytes)),
          sig: C.b64(await C.sign(alice, bytes)),
          smallSig: C.b64(await C.sign(small, bytes)),
          max4096: C.oaepMax(4096),
          full: C.b64(await C.rsaEncrypt(bobPeer, new Uint8Array(C.oaepMax(4096)))),
          tooLong,
          g,
          iv: C.b64(a.iv),
          act: C.b64(a.ct),
        };
      },
      { p: pems(), plain },
    );
    const bobKey = nodeCrypto.createPrivateKey(vectorText('bob.pkcs8.pem'));
    const oaep = { key: bobKey, padding: nodeCrypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
    assert.equal(nodeCrypto.privateDecrypt(oaep, Buffer.from(r.ct, 'base64')).toString('utf8'), plain);
    assert.equal(nodeCrypto.privateDecrypt(oaep, Buffer.from(r.full, 'base64')).length, 446);
    assert.equal(r.max4096, 446);
    assert.equal(r.tooLong, 'refused');
    const pss = (pem, saltLength) => ({ key: nodeCrypto.createPublicKey(pem), padding: nodeCrypto.constants.RSA_PKCS1_PSS_PADDING, saltLength });
    assert.ok(nodeCrypto.verify('sha256', Buffer.from(plain), pss(vectorText('alice.pub.pem'), 256), Buffer.from(r.sig, 'base64')));
    assert.ok(nodeCrypto.verify('sha256', Buffer.from(plain), pss(vectorText('small2048.pub.pem'), 222), Buffer.from(r.smallSig, 'base64')));
    const ct = Buffer.from(r.act, 'base64');
    const d = nodeCrypto.createDecipheriv('aes-256-gcm', Buffer.from(r.g, 'base64'), Buffer.from(r.iv, 'base64'));
    d.setAuthTag(ct.subarray(ct.length - 16));
    assert.equal(Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]).toString('utf8'), plain);
    assert.equal(Buffer.from(r.iv, 'base64').length, 16);
  });

  t.test('the join form checks the name as the server does, inline', { timeout: 20000 }, async () => {
    const name = page.locator('#name');
    const err = page.locator('#name-error');
    for (const [value, want] of [
      ['ab', /at least 4/],
      ['abcdefghijklmnopq', /at most 15|Too long/],
      ['ali ce', /Only letters a-z and digits/],
      ['alice_1', /Only letters a-z and digits/],
    ]) {
      await name.fill(value);
      await page.locator('#join').click();
      assert.match(await err.textContent(), want, value);
      assert.equal(await name.getAttribute('aria-invalid'), 'true');
    }
    await name.fill('ALICE');
    assert.equal(await name.inputValue(), 'alice'); // upper case is lowered as typed
    assert.equal(await err.textContent(), '');
    assert.deepEqual(await page.problems(), []);
  });

  t.test('without Web Crypto (plain http on a network address) the page explains that HTTPS is needed', { timeout: 30000 }, async () => {
    // A host name that is not localhost makes plain http an insecure context; the browser
    // reaches it through the static server acting as its HTTP proxy.
    const p = await t.open(null, { viewport: { width: 360, height: 640 }, proxy: web.proxy });
    try {
      await p.goto(web.url.replace('127.0.0.1', 'chat.example'));
      await p.locator('#nocrypto').waitFor({ timeout: 10000 });
      const text = await p.locator('#nocrypto').textContent();
      assert.match(text, /HTTPS/);
      assert.match(text, /--self-signed/);
      assert.match(text, /https:\/\/chat\.example\//);
      assert.equal(await p.locator('#join-form').isVisible(), false);
      await p.screenshot({ path: artifact(t.engine, 'nocrypto-360x640.png') });
      assert.deepEqual(await p.problems(), []);
    } finally {
      await p.close();
    }
  });
});
