// Unit tests of the page's session speaking version 2 (docs/PROTOCOL.md, "Version 2"),
// without a browser: node --test www/
// Two or three real Sessions on node's WebCrypto, in the room of v2-room.testing.mjs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as C from './crypto.js';
import * as E from './envelope.js';
import { Session, REPLAY_WINDOW_MS, MAX_FRAME_BYTES, MAX_WAITING_PER_KEY } from './session.js';

import { KEYS, LONG, frame, signal, Member, users, keyOf, relay, ofType, one, sent, sentText, G1, G2, ROOM, joined, deliver } from './v2-room.testing.mjs';

// ---- join ----------------------------------------------------------------------------------

test('v2 join: v:2 is asked; the member key and the group key are unwrapped; the list has names and Key IDs', async () => {
  const { welcome, listed, s } = await joined('alice', KEYS.alice);
  assert.deepEqual(one(welcome, 'state').state, { name: 'joined', me: 'alice', keyid: KEYS.alice.keyid, again: false });
  assert.deepEqual(ofType(welcome, 'notice'), []);
  assert.deepEqual(one(listed, 'users').users.map((u) => [u.name, u.keyid, u.admin]), [['ADMIN', KEYS.admin.keyid, true], ['bob', KEYS.bob.keyid, false]]);
  assert.deepEqual(sent(listed), [], 'no key is fetched before one is needed');
  // @all is available: a group key of epoch 1 was read.
  const out = await s.send('all', 'hi');
  assert.equal(sent(out)[0].data.epoch, 1);
});

test('v2 join: a group key wrapped for another name (its AAD) is not taken', async () => {
  const s = new Session(C);
  const conn = one(s.join('alice', KEYS.alice), 'connect').conn;
  await s.opened(conn);
  const m = new Member('alice', KEYS.alice);
  await s.received(conn, await m.config());
  const out = await s.received(conn, await m.groupKey(1, G1, 'bob'));
  assert.match(one(out, 'notice').text, /could not be read/);
  await s.received(conn, users(...ROOM));
  assert.deepEqual(await s.send('all', 'hi'), [{ type: 'send-error', text: 'No group key from the server: @all is unavailable.' }]);
});

// ---- round trips --------------------------------------------------------------------------

test('v2 1:1: a 20,000-character mixed-script text arrives byte-exact, after a lazy key fetch each side', async () => {
  assert.ok([...LONG].length >= 20000);
  const alice = await joined('alice', KEYS.alice);
  const bob = await joined('bob', KEYS.bob);
  const out = await alice.s.send('bob', LONG);
  // Bob's key is not known yet: asked for, the message shown as sending.
  const [ask] = sent(out);
  assert.deepEqual(ask.data, { code: 'chat-getkeys', keyids: [KEYS.bob.keyid] });
  assert.equal(one(out, 'outgoing').text, LONG);
  const wrote = await alice.feed(keyOf('bob', KEYS.bob));
  const [msg] = sent(wrote);
  assert.deepEqual(Object.keys(msg.data).sort(), ['ciphertext', 'id', 'iv', 'to', 'v', 'wrapped']);
  assert.equal(msg.data.to, 'bob');
  assert.equal(C.unb64(msg.data.wrapped).length, 512, 'wrapped for a 4096-bit key');
  assert.equal(C.unb64(msg.data.iv).length, 12);

  const got = await deliver(bob, relay(sentText(wrote)[0], 'alice'));
  const m = one(got, 'message');
  assert.equal(m.text, LONG);
  assert.deepEqual(C.utf8(m.text), C.utf8(LONG));
  assert.deepEqual({ ...m, text: '' }, { type: 'message', kind: 'other', from: 'alice', console: false, to: 'bob', admin: false, reply: 'alice', text: '' });
  // The second message needs no key fetch on either side.
  const again = await alice.s.send('bob', 'second');
  assert.equal(sent(again).length, 1);
  assert.equal(one(await bob.feed(relay(sentText(again)[0], 'alice')), 'message').text, 'second');
});

test('v2 @all: the long text under the group key of the epoch; no legacy copy in a room without 0.9 users', async () => {
  const alice = await joined('alice', KEYS.alice);
  const bob = await joined('bob', KEYS.bob);
  const out = await alice.s.send('all', LONG);
  const frames = sent(out);
  assert.equal(frames.length, 1);
  assert.deepEqual(Object.keys(frames[0].data).sort(), ['ciphertext', 'epoch', 'id', 'iv', 'to', 'v']);
  const got = await deliver(bob, relay(sentText(out)[0], 'alice'));
  assert.equal(one(got, 'message').text, LONG);
  assert.equal(one(got, 'message').to, 'all');
});

test('v2 length: up to max-text bytes of UTF-8; past it, a clear refusal; the counter shows near the limit only', async () => {
  const alice = await joined('alice', KEYS.alice);
  assert.equal(alice.s.charactersLeft('bob', 'short'), null, 'far from the limit: no counter');
  const near = '漢'.repeat(20000); // 60,000 bytes
  assert.equal(alice.s.room('bob', near), 65536 - 60000);
  assert.equal(alice.s.charactersLeft('bob', near), Math.floor(5536 / 3));
  const over = '漢'.repeat(21846); // 65,538 bytes
  assert.equal(alice.s.charactersLeft('bob', over), -1);
  assert.deepEqual(await alice.s.send('bob', over), [{ type: 'send-error', text: 'Too long: 65538 bytes of text, at most 65536. Shorten it by 2 bytes or send it in parts.' }]);
  // Within max-text, but its escapes would make the frame larger than the server takes.
  const quotes = await alice.s.send('all', '"'.repeat(60000));
  assert.match(one(quotes, 'send-error').text, /^Too long once encrypted: its quotes, backslashes and control characters take 60000 more bytes/);
  // The largest plain text fits: its frame is under MAX_FRAME_BYTES.
  const [f] = sent(await alice.s.send('all', 'y'.repeat(65536)));
  assert.ok(f && C.utf8(JSON.stringify(f)).length <= MAX_FRAME_BYTES, 'the frame fits');
});

// ---- receiving: the checks ------------------------------------------------------------------

// A 1:1 frame as anybody can make one: an envelope `e`, signed with `signer`, for `to`.
async function handMade(e, signer, toKeys, from = e.from) {
  const sealed = await E.seal(C, signer, e);
  const data = await E.hybrid(C, await C.importPeer(toKeys.spkiB64), sealed);
  return frame('message', { v: 2, from, to: e.to, id: e.id, ...data });
}
const envelope = (more) => ({ from: 'alice', to: 'bob', id: 'x1', time: 1764633600000, epoch: 1, text: 'the secret plan', ...more });

test('v2 forgery: an envelope naming another sender than the relay, or signed by another key, is flagged, not shown', async () => {
  const bob = await joined('bob', KEYS.bob);
  // mallory (here: the admin's key, connected as mallory) claims to be alice.
  const claimed = await deliver(bob, await handMade(envelope(), KEYS.admin, KEYS.bob, 'ADMIN'));
  assert.deepEqual(claimed, [{ type: 'flagged', from: 'alice', text: 'A message claiming to be from alice could not be verified and is not shown.' }]);
  // The relay says alice, but the signature is not alice's.
  const forged = await deliver(bob, await handMade(envelope({ id: 'x2' }), KEYS.admin, KEYS.bob));
  assert.deepEqual(forged.filter((o) => o.type !== 'send'), [{ type: 'flagged', from: 'alice', text: 'A message claiming to be from alice could not be verified and is not shown.' }]);
  assert.ok(!JSON.stringify([claimed, forged]).includes('secret plan'), 'the text is nowhere');
  // A claimed name that is not a name is not repeated.
  const odd = await deliver(bob, await handMade(envelope({ from: '<b>x</b>' }), KEYS.alice, KEYS.bob, 'alice'));
  assert.equal(one(odd, 'flagged').text, 'A message claiming to be from someone could not be verified and is not shown.');
});

test('v2 misaddressed: alice\'s signed message to carol, passed on to bob, is flagged as addressed to someone else', async () => {
  const bob = await joined('bob', KEYS.bob);
  const out = await deliver(bob, await handMade(envelope({ to: 'carol' }), KEYS.alice, KEYS.bob));
  assert.deepEqual(ofType(out, 'flagged'), [{ type: 'flagged', from: 'alice', text: 'A message claiming to be from alice was addressed to someone else and is not shown.' }]);
  assert.deepEqual(ofType(out, 'message'), []);
  // To all, an envelope of another epoch than the frame's: the same.
  const sealed = await E.seal(C, KEYS.alice, envelope({ to: 'all', epoch: 0, id: 'x3' }));
  const data = await E.underGroupKey(C, await C.importSecret(G1), sealed);
  const all = await bob.feed(frame('message', { v: 2, from: 'alice', to: 'all', id: 'x3', epoch: 1, ...data }));
  assert.equal(one(all, 'flagged').text, 'A message claiming to be from alice was addressed to someone else and is not shown.');
});

test('v2 replay: the same frame again is dropped silently; a time off the window is not shown', async () => {
  const bob = await joined('bob', KEYS.bob);
  const f = await handMade(envelope(), KEYS.alice, KEYS.bob);
  assert.equal(one(await deliver(bob, f), 'message').text, 'the secret plan');
  assert.deepEqual(await bob.feed(f), [], 'a replay');
  // Another id, but eleven minutes old.
  const old = await bob.feed(await handMade(envelope({ id: 'x9', time: bob.clock.t - REPLAY_WINDOW_MS - 60000 }), KEYS.alice, KEYS.bob));
  assert.deepEqual(ofType(old, 'message'), []);
  assert.match(one(old, 'notice').text, /^A message from alice is not shown: its time is more than 10 minutes off/);
  // Past the window, the first id is forgotten, and its old time refuses it anyway.
  bob.clock.t += REPLAY_WINDOW_MS + 1;
  assert.deepEqual(ofType(await bob.feed(f), 'message'), []);
});

test('v2 undecryptable: a 1:1 frame not wrapped for me says it could not be decrypted', async () => {
  const bob = await joined('bob', KEYS.bob);
  const out = await bob.feed(await handMade(envelope(), KEYS.alice, KEYS.alice));
  assert.deepEqual(out, [{ type: 'flagged', from: 'alice', text: 'A message from alice could not be decrypted.' }]);
});

test('v2 lazy key: an answer whose DER is not the Key ID asked for is dropped; the message is flagged', async () => {
  const bob = await joined('bob', KEYS.bob);
  const out = await bob.feed(await handMade(envelope(), KEYS.alice, KEYS.bob));
  assert.deepEqual(sent(out), [{ cmd: 'signal', user: 'bob', data: { code: 'chat-getkeys', keyids: [KEYS.alice.keyid] } }]);
  // The server (or someone in its place) answers alice's Key ID with another key.
  const swapped = await bob.feed(signal('chat-key', { keyid: KEYS.alice.keyid, name: 'alice', publickey: KEYS.admin.spkiB64 }));
  assert.deepEqual(swapped, [{ type: 'flagged', from: 'alice', text: 'A message claiming to be from alice could not be verified and is not shown.' }]);
  // Not kept: the next message from alice asks again.
  const next = await bob.feed(await handMade(envelope({ id: 'x2' }), KEYS.alice, KEYS.bob));
  assert.equal(sent(next)[0].data.code, 'chat-getkeys');
  assert.equal(one(await bob.feed(keyOf('alice', KEYS.alice)), 'message').text, 'the secret plan');
});

test('v2 lazy key: a recipient whose key is missing (gone) is reported undelivered', async () => {
  const alice = await joined('alice', KEYS.alice);
  const out = await alice.s.send('bob', 'hello');
  const id = one(out, 'outgoing').id;
  const gone = await alice.feed(signal('chat-key', { keyid: KEYS.bob.keyid, missing: true }));
  assert.deepEqual(gone, [{ type: 'undelivered', id, to: 'bob', text: 'hello', reason: 'bob is not connected' }]);
});

// ---- epochs ------------------------------------------------------------------------------------

test('v2 epoch: a message refused as stale is sealed again under the new key and sent again with its id, once', async () => {
  const alice = await joined('alice', KEYS.alice);
  const bob = await joined('bob', KEYS.bob, { epoch: 2, raw: G2 });
  const out = await alice.s.send('all', 'after the rotation');
  const [first] = sent(out);
  assert.equal(first.data.epoch, 1);
  // Refused: the room is at epoch 2, whose key alice has not received yet.
  const refused = await alice.feed(signal('chat-undelivered', { id: first.data.id, to: 'all', reason: 'stale', why: 'stale-epoch', epoch: 2 }));
  assert.deepEqual(refused, [], 'waits for the key of epoch 2');
  const resent = await alice.feed(await alice.member.groupKey(2, G2));
  const [second] = sent(resent);
  assert.equal(second.data.id, first.data.id, 'the same id');
  assert.equal(second.data.epoch, 2);
  assert.equal(one(await deliver(bob, relay(sentText(resent)[0], 'alice')), 'message').text, 'after the rotation');
  // The first frame (epoch 1) cannot be read by someone who has the key of epoch 2 only.
  assert.match(one(await bob.feed(relay(sentText(out)[0], 'alice')), 'flagged').text, /could not be decrypted/);
  // Refused again: not sent a third time.
  const twice = await alice.feed(signal('chat-undelivered', { id: first.data.id, to: 'all', reason: 'stale again', why: 'stale-epoch', epoch: 3 }));
  assert.deepEqual(twice, [{ type: 'undelivered', id: first.data.id, to: 'all', text: 'after the rotation', reason: 'stale again' }]);
});

test('v2 epoch: the key of the epoch before is kept for frames on their way; older ones are not', async () => {
  const bob = await joined('bob', KEYS.bob);
  const sealed = async (id) => E.underGroupKey(C, await C.importSecret(G1), await E.seal(C, KEYS.alice, envelope({ to: 'all', id })));
  const at1 = async (id) => frame('message', { v: 2, from: 'alice', to: 'all', id, epoch: 1, ...(await sealed(id)) });
  await bob.feed(await bob.member.groupKey(2, G2));
  assert.equal(one(await deliver(bob, await at1('y1')), 'message').text, 'the secret plan');
  await bob.feed(await bob.member.groupKey(3, C.randomBytes(32)));
  assert.match(one(await bob.feed(await at1('y2')), 'flagged').text, /could not be decrypted/);
});

// ---- mixed rooms --------------------------------------------------------------------------------

test('v2 mixed room: 0.9 users are marked and their keys fetched; @all adds a legacy copy; 1:1 to them is a 0.9 frame', async () => {
  const list = [...ROOM, ['carol', KEYS.carol.keyid, '0.9']];
  const alice = await joined('alice', KEYS.alice, { list });
  assert.equal(one(alice.listed, 'users').users.find((u) => u.name === 'carol').legacy, true);
  assert.deepEqual(sent(alice.listed), [{ cmd: 'signal', user: 'alice', data: { code: 'chat-getkeys', keyids: [KEYS.carol.keyid] } }]);
  await alice.feed(keyOf('carol', KEYS.carol));

  const out = await alice.s.send('all', 'hello everybody ☃');
  const [v2, legacy] = sent(out);
  assert.equal(v2.data.legacy, undefined);
  assert.equal(legacy.data.legacy, true);
  assert.notEqual(legacy.data.id, v2.data.id);
  // The legacy copy holds the 0.9 plaintext, signed as 0.9 signs.
  const { sig, body } = C.openPayload(await C.gcmOpen(await C.importSecret(G1), C.unb64(legacy.data.iv), C.unb64(legacy.data.ciphertext)));
  assert.deepEqual(JSON.parse(C.fromUtf8(body)), { from: 'alice', to: 'all', message: 'hello everybody ☃' });
  assert.ok(await C.verify(await C.importPeer(KEYS.alice.spkiB64), sig, body));
  // Its undelivery is a note on the message, not a failure of it.
  assert.deepEqual(await alice.feed(signal('chat-undelivered', { id: legacy.data.id, reason: 'nobody old' })), [{ type: 'copy-undelivered', id: v2.data.id, what: 'legacy', reason: 'nobody old' }]);

  // 1:1 to carol: one 0.9 RSA block, with `to`; too long for it: refused clearly.
  const [rsa] = sent(await alice.s.send('carol', 'hi carol'));
  assert.equal(rsa.data.algo, 'rsa');
  assert.equal(rsa.data.to, 'carol');
  const plain = JSON.parse(C.fromUtf8(await C.rsaDecrypt(KEYS.carol, C.unb64(rsa.data.ciphertext))));
  assert.deepEqual(plain, { from: 'alice', to: 'carol', message: 'hi carol' });
  const long = await alice.s.send('carol', 'x'.repeat(300));
  assert.match(one(long, 'send-error').text, /carol uses an old 0.9 client/);
  assert.ok(alice.s.charactersLeft('carol', 'abc') > 100, 'the counter for a 0.9 recipient shows its block');
});

test('v2 mixed room: a legacy frame from a 0.9 client and its 0.9 1:1 frame are shown marked "0.9 client"; forged ones flagged', async () => {
  const list = [...ROOM, ['carol', KEYS.carol.keyid, '0.9']];
  const alice = await joined('alice', KEYS.alice, { list });
  await alice.feed(keyOf('carol', KEYS.carol));
  const legacyFrame = async (signer, plain) => {
    const body = C.utf8(JSON.stringify(plain));
    const sealed = C.sealPayload(await C.sign(signer, body), body);
    return frame('message', { v: 2, from: 'carol', to: 'all', legacy: true, epoch: 1, ...(await E.underGroupKey(C, await C.importSecret(G1), sealed)) });
  };
  const m = one(await alice.feed(await legacyFrame(KEYS.carol, { from: 'carol', to: 'all', message: 'old hello' })), 'message');
  assert.deepEqual(m, { type: 'message', kind: 'other', from: 'carol', console: false, to: 'all', admin: false, reply: 'carol', text: 'old hello', legacy: true });
  assert.equal(one(await alice.feed(await legacyFrame(KEYS.bob, { from: 'carol', to: 'all', message: 'forged' })), 'flagged').from, 'carol');

  const plain = C.utf8(JSON.stringify({ from: 'carol', to: 'alice', message: 'old 1:1' }));
  const rsa = frame('message', { algo: 'rsa', ciphertext: C.b64(await C.rsaEncrypt(await C.importPeer(KEYS.alice.spkiB64), plain)), signature: C.b64(await C.sign(KEYS.carol, plain)) });
  const one09 = one(await alice.feed(rsa), 'message');
  assert.equal(one09.text, 'old 1:1');
  assert.equal(one09.legacy, true);
});

test('v2 presence: joins and departures in order; a join of a listed name replaces it', async () => {
  const alice = await joined('alice', KEYS.alice);
  const out = await alice.feed(signal('chat-presence', { changes: [['join', 'dave', KEYS.carol.keyid], ['left', 'bob'], ['left', 'nobody'], ['join', 'erin', KEYS.bob.keyid, '0.9']] }));
  assert.deepEqual(one(out, 'users').users.map((u) => [u.name, !!u.legacy]), [['ADMIN', false], ['dave', false], ['erin', true]]);
  assert.deepEqual(out.filter((o) => o.type === 'user-joined' || o.type === 'user-left').map((o) => [o.type, o.name]), [['user-joined', 'dave'], ['user-left', 'bob'], ['user-joined', 'erin']]);
  assert.deepEqual(sent(out)[0].data.keyids, [KEYS.bob.keyid], 'the 0.9 user\'s key is fetched');
});

test('v2 web administrator: my 1:1 goes to the console too, its envelope naming the person; console copies show as mine', async () => {
  const list = [['ADMIN', KEYS.admin.keyid], ['alice', KEYS.alice.keyid]];
  const web = await joined('boss', KEYS.admin, { as: 'ADMIN', admin: true, list });
  assert.equal(web.s.me, 'ADMIN');
  const out = await web.s.send('alice', 'from the web');
  await web.feed(keyOf('alice', KEYS.alice)).then((o) => out.push(...o));
  const [toAlice, toConsole] = sent(out).filter((f) => f.cmd === 'message');
  assert.equal(toAlice.data.to, 'alice');
  assert.equal(toConsole.data.to, 'ADMIN');
  const { body } = C.openPayload(await E.unhybrid(C, KEYS.admin, toConsole.data));
  assert.equal(JSON.parse(C.fromUtf8(body)).to, 'alice');
  // A copy of a console message: from ADMIN (me) to alice.
  const copy = await handMade(envelope({ from: 'ADMIN', to: 'alice', id: 'c1', text: 'typed on the console' }), KEYS.admin, KEYS.admin);
  const shown = one(await web.feed(copy), 'message');
  assert.deepEqual(shown, { type: 'message', kind: 'mine', from: 'ADMIN', console: true, to: 'alice', admin: true, reply: 'alice', text: 'typed on the console' });
});

test('v2 limits: at most MAX_WAITING_PER_KEY messages wait for one sender\'s key; the next is flagged at once', async () => {
  const bob = await joined('bob', KEYS.bob);
  const f = await handMade(envelope(), KEYS.alice, KEYS.bob);
  for (let i = 0; i < MAX_WAITING_PER_KEY; i++) assert.deepEqual(ofType(await bob.feed(f), 'flagged'), []);
  assert.equal(one(await bob.feed(f), 'flagged').from, 'alice');
  // When the key comes, the waiting ones are checked: the first shown, the same id again a replay.
  const out = await bob.feed(keyOf('alice', KEYS.alice));
  assert.equal(ofType(out, 'message').length, 1);
});

// ---- held for a short absence ------------------------------------------------------------

test('v2 held: a user who left can still be written to; chat-held, then the ack, for the shown message', async () => {
  const alice = await joined('alice', KEYS.alice);
  await alice.feed(signal('chat-presence', { changes: [['left', 'bob']] }));
  assert.equal(alice.s.recipient('bob').kind, 'one');
  assert.equal(alice.s.recipient('bob').gone, true);
  const out = await alice.s.send('bob', 'while you were away');
  const id = one(out, 'outgoing').id;
  const wrote = await alice.feed(keyOf('bob', KEYS.bob));
  const [msg] = sent(wrote);
  assert.equal(msg.data.to, 'bob');
  const until = 1764634200000;
  assert.deepEqual(await alice.feed(signal('chat-held', { id: msg.data.id, to: 'bob', until })), [{ type: 'held', id, to: 'bob', until }]);
  assert.deepEqual(await alice.feed(signal('chat-ack', { id: msg.data.id })), [{ type: 'ack', id }]);
  // Back in the list: no longer gone.
  await alice.feed(signal('chat-presence', { changes: [['join', 'bob', KEYS.bob.keyid]] }));
  assert.equal(alice.s.recipient('bob').gone, undefined);
});

test('v2 held: an expired hold is reported with its reason', async () => {
  const alice = await joined('alice', KEYS.alice);
  await alice.feed(signal('chat-presence', { changes: [['left', 'bob']] }));
  const out = await alice.s.send('bob', 'too late');
  const id = one(out, 'outgoing').id;
  const [msg] = sent(await alice.feed(keyOf('bob', KEYS.bob)));
  await alice.feed(signal('chat-held', { id: msg.data.id, to: 'bob', until: 1 }));
  const reason = 'bob did not come back within 10 minutes: not delivered.';
  const report = await alice.feed(signal('chat-undelivered', { id: msg.data.id, to: 'bob', reason, why: 'hold-expired' }));
  assert.deepEqual(report, [{ type: 'undelivered', id, to: 'bob', text: 'too late', reason }]);
});
