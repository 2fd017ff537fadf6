// Unit tests of identity-store.js: node --test www/ (node has WebCrypto but no
// IndexedDB: the storing itself is tested in the browser, tests/browser/trust.test.mjs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as C from './crypto.js';
import { storable, load, saveVerified, forget } from './identity-store.js';

const vectorFile = (name) => readFileSync(new URL(`../tests/vectors/${name}`, import.meta.url), 'utf8');

test('stored keys cannot be exported, and still sign and decrypt', async () => {
  const keys = await C.importPem(vectorFile('alice.pkcs8.pem'), vectorFile('alice.pub.pem'));
  assert.equal(keys.decrypt.extractable, true, 'custom keys come in extractable');
  const s = await storable(keys);
  assert.equal(s.pkcs8, undefined, 'no private key bytes');
  for (const [field, v] of Object.entries(s)) if (v instanceof CryptoKey && v.type === 'private') assert.equal(v.extractable, false, field);
  assert.equal(s.keyid, keys.keyid);
  await assert.rejects(crypto.subtle.exportKey('pkcs8', s.decrypt));
  const peer = await C.importPeer(keys.spkiB64);
  const msg = C.utf8('hello');
  assert.deepEqual(await C.rsaDecrypt(s, await C.rsaEncrypt(peer, msg)), msg);
  assert.ok(await C.verify(peer, await C.sign({ ...s }, msg), msg));
});

test('without IndexedDB nothing is remembered and nothing fails', async () => {
  assert.equal(await load(undefined), null);
  assert.equal(await saveVerified(new Map(), undefined), false);
  await forget(undefined);
});
