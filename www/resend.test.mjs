// The outbox's resend through a real Session: a message written before (outbox.js) goes
// out again with the id it was given, not a new one. node --test www/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as C from './crypto.js';
import { Session } from './session.js';
import { Outbox } from './outbox.js';

const vectorFile = (name) => readFileSync(new URL(`../tests/vectors/${name}`, import.meta.url), 'utf8');
const alice = await C.importPem(vectorFile('alice.pkcs8.pem'), vectorFile('alice.pub.pem'));
const bob = await C.importPem(vectorFile('bob.pkcs8.pem'), vectorFile('bob.pub.pem'));
const frame = (cmd, data) => JSON.stringify({ cmd, user: '', data });
const group = JSON.parse(vectorFile('vectors.json')).aes_message_alice_to_all.aeskey_b64;

// A 0.9 server's answer to a join: config with the group key, then the users list.
async function welcome(s, conn) {
  await s.opened(conn);
  await s.received(conn, frame('config', { 'disable-all': false, user: 'alice', 'is-admin': false, keyid: alice.keyid, aeskey: group }));
  const list = [alice, bob].map((k, i) => ({ name: ['alice', 'bobby'][i], publickey: { hash: k.keyid, text: k.spkiB64 } }));
  await s.received(conn, frame('signal', { code: 'chat-userslist', userslist: JSON.stringify(list) }));
}

async function joinedSession(ids) {
  const s = new Session(C, { newId: () => ids.shift() });
  const conn = s.join('alice', alice).find((o) => o.type === 'connect').conn;
  await welcome(s, conn);
  return { s, conn };
}

const sentIds = (outputs) => outputs.filter((o) => o.type === 'send').map((o) => JSON.parse(o.frame).data.id);

test('a message sent again after a drop keeps its id; a new one gets a new id', async () => {
  const { s, conn } = await joinedSession(['m1', 'm2', 'm3']);
  const box = new Outbox();
  const first = await s.send('bobby', 'hello', () => true, { confirmed: true });
  const out = first.find((o) => o.type === 'outgoing');
  box.sending(out.id, out.to, out.text);
  assert.deepEqual(sentIds(first), ['m1']);

  // The connection drops before the ack; the session says it is unconfirmed.
  const closed = await s.closed(conn);
  assert.deepEqual(closed.filter((o) => o.type === 'unconfirmed').map((o) => o.id), ['m1']);
  assert.deepEqual(box.lost().map((e) => e.id), ['m1']);

  // Joined again: the outbox hands it out once, and the session sends it with that id.
  const again = s.reconnect().find((o) => o.type === 'connect').conn;
  await welcome(s, again);
  const e = box.next();
  const resent = await s.send(e.to, e.text, () => true, { confirmed: true, id: e.id });
  assert.deepEqual(sentIds(resent), ['m1']);
  assert.equal(box.next(), null);
  const acked = await s.received(again, frame('signal', { code: 'chat-ack', id: 'm1' }));
  assert.deepEqual(acked.filter((o) => o.type === 'ack').map((o) => o.id), ['m1']);
  assert.equal(box.settled('m1').text, 'hello');
  assert.deepEqual(sentIds(await s.send('bobby', 'next', () => true, { confirmed: true })), ['m2']);
});
