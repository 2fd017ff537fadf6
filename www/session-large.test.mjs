// Unit tests of the page's session in a large room (docs/PROTOCOL.md, "Large rooms: the
// list is a view"): `count`, chat-find and chat-found, looked-up people, `fromkey`.
// Real Sessions on node's WebCrypto, in the room of v2-room.testing.mjs: node --test www/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_LOOKED_UP, MAX_FOUND } from './session.js';
import { findProblem } from './protocol.js';
import * as C from './crypto.js';
import { Transfers } from './files.js';
import { KEYS, frame, signal, users, keyOf, ofType, one, sent, sentText, ROOM, joined, deliver } from './v2-room.testing.mjs';

const ADMIN = ['ADMIN', KEYS.admin.keyid];
// A Key ID nobody here has.
const kid = (n) => n.toString(16).padStart(64, '0');

const presence = (changes, count) => signal('chat-presence', { changes, count });
const found = (name, list, more = false) => signal('chat-found', { name, users: list, more });
// What the server relays of a version-2 frame: `from` and `fromkey` added.
const relayed = (sentFrame, from, fromkey) => frame('message', { ...JSON.parse(sentFrame).data, from, fromkey });
const names = (out) => one(out, 'users').users.map((u) => u.name);

// alice in a room of `count` of which the server lists the administrator and bob.
const inLargeRoom = (name = 'alice', keys = KEYS.alice, count = 10000) =>
  joined(name, keys, { list: [ADMIN, ['bob', KEYS.bob.keyid]] }).then(async (r) => ({ ...r, listed: await r.feed(signal('chat-users', { users: [ADMIN, ['bob', KEYS.bob.keyid]], count })) }));

// ---- count ---------------------------------------------------------------------------------

test('large room: the count says how many the list has when complete, and that it is partial', async () => {
  const { listed } = await inLargeRoom();
  const view = one(listed, 'users');
  assert.deepEqual(view.users.map((u) => u.name), ['ADMIN', 'bob']);
  // 10,000 with me in it; the list shows everybody but me.
  assert.equal(view.total, 9999);
  assert.equal(view.partial, true);
});

test('complete room: the count is the list; a count-only presence moves the total', async () => {
  const { feed, listed } = await joined('alice', KEYS.alice);
  const view = one(listed, 'users');
  assert.equal(view.total, 2, 'no count: the entries');
  assert.equal(view.partial, false);
  const counted = one(await feed(signal('chat-users', { users: ROOM, count: 3 })), 'users');
  assert.deepEqual([counted.total, counted.partial], [2, false]);
  // More join than are listed: only the count says so.
  const more = await feed(presence([], 5));
  assert.deepEqual(ofType(more, 'user-joined'), []);
  assert.deepEqual([one(more, 'users').total, one(more, 'users').partial], [4, true]);
  assert.deepEqual(names(more), ['ADMIN', 'bob']);
});

test('the web administrator is in the count once, as its console in the list', async () => {
  const { feed } = await joined('ADMIN', KEYS.admin, { admin: true });
  const view = one(await feed(signal('chat-users', { users: [ADMIN, ['alice', KEYS.alice.keyid]], count: 40 })), 'users');
  assert.deepEqual(view.users.map((u) => [u.name, u.self]), [['ADMIN', true], ['alice', false]]);
  assert.equal(view.total, 40);
});

test('large room: a listed user leaving and the first unlisted taking the place says who left, not that the other joined', async () => {
  const { feed } = await inLargeRoom();
  const out = await feed(presence([['left', 'bob'], ['join', 'dave', kid(4)]], 9999));
  assert.deepEqual(names(out), ['ADMIN', 'dave']);
  assert.deepEqual(ofType(out, 'user-left').map((o) => o.name), ['bob']);
  assert.deepEqual(ofType(out, 'user-joined'), [], 'dave was there before');
  assert.equal(one(out, 'users').total, 9998);
  // In a room that is complete, a join is someone arriving.
  const small = await joined('alice', KEYS.alice);
  const came = await small.feed(presence([['join', 'dave', kid(4)]], 4));
  assert.deepEqual(ofType(came, 'user-joined').map((o) => o.name), ['dave']);
});

// ---- finding someone -----------------------------------------------------------------------

test('find: lower-cased, 1 to 15 of a-z0-9, sent as chat-find; anything else sends nothing', async () => {
  const { s } = await inLargeRoom();
  assert.deepEqual(sent(s.find('  Zo ')), [{ cmd: 'signal', user: 'alice', data: { code: 'chat-find', name: 'zo' } }]);
  for (const bad of ['', ' ', 'zo-', 'zoé', 'a'.repeat(16), '@zo']) assert.deepEqual(s.find(bad), [], JSON.stringify(bad));
  assert.deepEqual(sent(s.find('a'.repeat(15))).map((f) => f.data.name), ['a'.repeat(15)]);
});

test('the search box says why a text cannot be looked for', () => {
  assert.equal(findProblem(''), '');
  assert.equal(findProblem(' Zo '), '');
  assert.equal(findProblem('zo-'), 'Names have only letters a–z and digits 0–9.');
  assert.equal(findProblem('zoé'), 'Names have only letters a–z and digits 0–9.');
  assert.equal(findProblem('a'.repeat(16)), 'Names have at most 15 characters.');
});

test('find: the matches are shown, join the list as looked up, and can be written to', async () => {
  const alice = await inLargeRoom();
  alice.s.find('ca');
  const out = await alice.feed(found('ca', [['carol', KEYS.carol.keyid], ['cathy', kid(7), '0.9'], ['alice', KEYS.alice.keyid]], true));
  const f = one(out, 'found');
  assert.equal(f.name, 'ca');
  assert.equal(f.more, true);
  assert.deepEqual(f.users.map((u) => [u.name, u.keyid, !!u.legacy, u.lookedUp]), [['carol', KEYS.carol.keyid, false, true], ['cathy', kid(7), true, true]], 'me left out');
  assert.deepEqual(names(out), ['ADMIN', 'bob', 'carol', 'cathy']);
  assert.equal(one(out, 'users').users.find((u) => u.name === 'bob').lookedUp, undefined, 'bob is listed');
  // cathy is on a 0.9 client: her key is fetched at once, as for a listed 0.9 user.
  assert.deepEqual(sent(out).map((x) => x.data), [{ code: 'chat-getkeys', keyids: [kid(7)] }]);

  // carol, found, is a recipient like a listed person: the selector names her.
  assert.deepEqual(alice.s.recipient('carol'), { kind: 'one', to: 'carol', admin: false, allowed: true });
  const wrote = await alice.s.send('carol', 'hello carol');
  assert.deepEqual(sent(wrote).map((x) => x.data), [{ code: 'chat-getkeys', keyids: [KEYS.carol.keyid] }]);
  const [msg] = sent(await alice.feed(keyOf('carol', KEYS.carol)));
  assert.equal(msg.data.to, 'carol');
  // carol, who does not list alice, reads it: alice's key by `fromkey`.
  const carol = await joined('carol', KEYS.carol, { list: [ADMIN, ['bob', KEYS.bob.keyid]] });
  const got = await deliver(carol, relayed(JSON.stringify(msg), 'alice', KEYS.alice.keyid));
  assert.equal(one(got, 'message').text, 'hello carol');
});

test('find: an answer overtaken by more typing adds its users but is not shown; at most MAX_FOUND are taken', async () => {
  const { s, feed } = await inLargeRoom();
  s.find('c');
  s.find('ca');
  const old = await feed(found('c', [['carol', KEYS.carol.keyid]]));
  assert.deepEqual(ofType(old, 'found'), []);
  assert.deepEqual(names(old), ['ADMIN', 'bob', 'carol']);
  const many = Array.from({ length: MAX_FOUND + 5 }, (_, i) => [`ca${String(i).padStart(2, '0')}`, kid(100 + i)]);
  const out = await feed(found('ca', many, true));
  assert.equal(one(out, 'found').users.length, MAX_FOUND);
  assert.equal(one(out, 'users').users.length, 3 + MAX_FOUND);
  // Junk entries are skipped, the administrator is never a match.
  s.find('x');
  const junk = await feed(found('x', [['xa', 'nothex'], 'x', ['ADMIN', kid(1)], ['xb', kid(9)]]));
  assert.deepEqual(one(junk, 'found').users.map((u) => u.name), ['xb']);
  assert.equal(one(junk, 'users').users.find((u) => u.name === 'ADMIN').keyid, KEYS.admin.keyid);
});

test('find: a looked-up person who leaves is removed as usual, and can still be written to a short while', async () => {
  const { s, feed } = await inLargeRoom();
  s.find('dave');
  await feed(found('dave', [['dave', kid(4)]]));
  const out = await feed(presence([['left', 'dave']], 9999));
  assert.deepEqual(ofType(out, 'user-left').map((o) => o.name), ['dave']);
  assert.deepEqual(names(out), ['ADMIN', 'bob']);
  assert.equal(s.recipient('dave').gone, true);
});

test('find: a looked-up person who becomes listed stays, listed; the most recent MAX_LOOKED_UP are kept', async () => {
  const { s, feed } = await inLargeRoom();
  await feed(found('d', [['dave', kid(4)]]));
  const promoted = await feed(presence([['left', 'bob'], ['join', 'dave', kid(4)]], 9999));
  assert.equal(one(promoted, 'users').users.find((u) => u.name === 'dave').lookedUp, undefined);
  let last;
  for (let i = 0; i < MAX_LOOKED_UP + 1; i++) last = await feed(found('u', [[`u${i}`, kid(1000 + i)]]));
  const list = names(last);
  assert.equal(list.length, 2 + MAX_LOOKED_UP, 'the administrator, dave and the looked up');
  assert.ok(!list.includes('u0'), 'the oldest is no longer followed');
  assert.ok(list.includes('u1') && list.includes(`u${MAX_LOOKED_UP}`));
  assert.ok(list.includes('dave'), 'a listed one is not dropped');
  // Found again, an older one is the most recent.
  await feed(found('u', [['u1', kid(1001)]]));
  const after = names(await feed(found('z', [['zz', kid(5)]])));
  assert.ok(after.includes('u1') && !after.includes('u2'));
  assert.equal(s.recipient('u0').kind, 'unknown');
  // Asking for a looked-up user's key (to write to them) makes them the most recent too,
  // as it does for the server.
  await s.send('u3', 'hi');
  await feed(found('y', [['yy', kid(6)]]));
  const kept = names(await feed(found('x', [['xx', kid(8)]])));
  assert.ok(kept.includes('u3') && !kept.includes('u4') && !kept.includes('u5'));
});

test('large room: @all says how many read it, most of whom are not listed', async () => {
  const { s } = await inLargeRoom();
  assert.deepEqual(s.recipient('all'), { kind: 'all', allowed: true, people: 9999 });
  const small = await joined('alice', KEYS.alice);
  assert.deepEqual(small.s.recipient('all'), { kind: 'all', allowed: true });
});

test('large room: a name not in the list is said to be findable, not absent', async () => {
  const { s } = await inLargeRoom();
  assert.deepEqual(s.recipient('zora'), { kind: 'unknown', typed: 'zora', partial: true });
  assert.deepEqual(await s.send('zora', 'hi'), [{ type: 'send-error', text: 'Nobody called "zora" is in your list: this room is large, find them by name under People first.' }]);
  const small = await joined('alice', KEYS.alice);
  assert.deepEqual(small.s.recipient('zora'), { kind: 'unknown', typed: 'zora' });
});

test('a new connection starts the list again: what was looked up before is not followed; lookUp() finds them again, unseen', async () => {
  const { s, feed } = await inLargeRoom();
  s.find('c');
  await feed(found('c', [['carol', KEYS.carol.keyid]]));
  const again = await feed(signal('chat-users', { users: [ADMIN, ['bob', KEYS.bob.keyid]], count: 50 }));
  assert.deepEqual(names(again), ['ADMIN', 'bob']);
  assert.equal(s.recipient('carol').kind, 'unknown');
  // A message to carol waits in the outbox: she is looked up by her whole name.
  assert.deepEqual(sent(s.lookUp('carol')).map((f) => f.data), [{ code: 'chat-find', name: 'carol' }]);
  assert.deepEqual(s.lookUp('c'), [], 'a name, not the start of one');
  const back = await feed(found('carol', [['carol', KEYS.carol.keyid]]));
  assert.deepEqual(ofType(back, 'found'), [], 'not the search box\'s question');
  assert.equal(s.recipient('carol').kind, 'one');
});

// ---- fromkey: a sender not listed ---------------------------------------------------------

// carol, whom alice does not list, writes to alice (whom carol found).
async function fromCarol(text) {
  const carol = await joined('carol', KEYS.carol, { list: [ADMIN, ['bob', KEYS.bob.keyid]] });
  await carol.feed(found('alice', [['alice', KEYS.alice.keyid]]));
  await carol.s.send('alice', text);
  const out = await carol.feed(keyOf('alice', KEYS.alice));
  return sentText(out)[0];
}

test('fromkey: a message from a sender not listed is verified with the key asked for by fromkey; the sender joins the list', async () => {
  const msg = await fromCarol('from an unlisted sender');
  const alice = await inLargeRoom();
  const first = await alice.feed(relayed(msg, 'carol', KEYS.carol.keyid));
  assert.deepEqual(sent(first).map((f) => f.data), [{ code: 'chat-getkeys', keyids: [KEYS.carol.keyid] }]);
  assert.deepEqual(first.filter((o) => o.type !== 'send'), [], 'nothing shown before the key is checked');
  const got = await alice.feed(keyOf('carol', KEYS.carol));
  const m = one(got, 'message');
  assert.deepEqual([m.from, m.text, m.reply], ['carol', 'from an unlisted sender', 'carol']);
  assert.deepEqual(ofType(got, 'flagged'), []);
  const view = one(got, 'users');
  assert.deepEqual(view.users.map((u) => [u.name, !!u.lookedUp]), [['ADMIN', false], ['bob', false], ['carol', true]]);
  assert.ok(got.indexOf(view) < got.indexOf(m), 'listed before the message shows, so that an answer can go to carol');
  assert.equal(alice.s.recipient('carol').kind, 'one');
  // Her departure is announced to alice (looked up) and removes her.
  const left = await alice.feed(presence([['left', 'carol']], 9999));
  assert.deepEqual(ofType(left, 'user-left').map((o) => o.name), ['carol']);
});

test('fromkey: without it, with a key of another DER, or missing, the message is flagged, never shown', async () => {
  const msg = await fromCarol('the secret plan');
  const flaggedCarol = [{ type: 'flagged', from: 'carol', text: 'A message claiming to be from carol could not be verified and is not shown.' }];
  const none = await inLargeRoom();
  assert.deepEqual(await none.feed(frame('message', { ...JSON.parse(msg).data, from: 'carol' })), flaggedCarol);
  assert.deepEqual(await none.feed(relayed(msg, 'carol', 'not-a-key-id')), flaggedCarol);

  const wrong = await inLargeRoom();
  await wrong.feed(relayed(msg, 'carol', KEYS.carol.keyid));
  // The server answers with bob's DER for carol's Key ID: not taken.
  const out = await wrong.feed(signal('chat-key', { keyid: KEYS.carol.keyid, name: 'carol', publickey: KEYS.bob.spkiB64 }));
  assert.deepEqual(out, flaggedCarol);

  const missing = await inLargeRoom();
  await missing.feed(relayed(msg, 'carol', KEYS.carol.keyid));
  assert.deepEqual(await missing.feed(signal('chat-key', { keyid: KEYS.carol.keyid, missing: true })), flaggedCarol);
  // The key of someone else (bob's Key ID given as carol's): the signature fails.
  const other = await inLargeRoom();
  const b = await deliver(other, relayed(msg, 'carol', KEYS.bob.keyid));
  assert.deepEqual(b.filter((o) => o.type !== 'send'), flaggedCarol);
  assert.ok(!JSON.stringify([out, b]).includes('secret plan'));
  assert.equal(other.s.recipient('carol').kind, 'unknown', 'not listed');
});

test('fromkey: a key known from before is used at once, and asked for again so that the sender is followed', async () => {
  const msg = await fromCarol('known key');
  const alice = await inLargeRoom();
  alice.s.find('carol');
  await alice.feed(found('carol', [['carol', KEYS.carol.keyid]]));
  await alice.s.send('carol', 'hi');
  await alice.feed(keyOf('carol', KEYS.carol)); // carol's key is known now
  await alice.feed(presence([['left', 'carol']], 9999)); // she left, and came back unlisted
  const out = await alice.feed(relayed(msg, 'carol', KEYS.carol.keyid));
  assert.deepEqual(sent(out).map((f) => f.data), [{ code: 'chat-getkeys', keyids: [KEYS.carol.keyid] }]);
  assert.equal(one(out, 'message').text, 'known key');
  assert.ok(names(out).includes('carol'));
});

test('fromkey: the key answered under another name verifies the message, but that name is not listed', async () => {
  const msg = await fromCarol('renamed');
  const alice = await inLargeRoom();
  await alice.feed(relayed(msg, 'carol', KEYS.carol.keyid));
  const out = await alice.feed(keyOf('caroline', KEYS.carol));
  assert.equal(one(out, 'message').text, 'renamed');
  assert.deepEqual(ofType(out, 'users'), []);
  assert.equal(alice.s.recipient('carol').kind, 'unknown');
});

test('a 0.9 user is always listed: their 1:1 message is checked with the listed key, in a large room too', async () => {
  const alice = await joined('alice', KEYS.alice, { list: [ADMIN, ['bob', KEYS.bob.keyid, '0.9']] });
  assert.deepEqual(sent(alice.listed).map((f) => f.data.keyids), [[KEYS.bob.keyid]], 'a 0.9 key is fetched at once');
  assert.equal(one(await alice.feed(signal('chat-users', { users: [ADMIN, ['bob', KEYS.bob.keyid, '0.9']], count: 5000 })), 'users').partial, true);
  await alice.feed(keyOf('bob', KEYS.bob));
  const C = await import('./crypto.js');
  const plain = C.utf8(JSON.stringify({ from: 'bob', to: 'alice', message: 'old client here' }));
  const sig = C.b64(await C.sign(KEYS.bob, plain));
  const ct = C.b64(await C.rsaEncrypt(await C.importPeer(KEYS.alice.spkiB64), plain));
  const m = one(await alice.feed(frame('message', { algo: 'rsa', ciphertext: ct, signature: sig })), 'message');
  assert.deepEqual([m.from, m.text, m.legacy], ['bob', 'old client here', true]);
});

// ---- files to all ----------------------------------------------------------------------------

const fileOffered = async (r, to = 'all') => {
  const p = await new Transfers(C, { me: () => r.s.me }).prepare({ to, name: 'map.txt', type: 'text/plain', bytes: C.randomBytes(10) });
  return one(await r.s.sendFile(to, p.file, p.clear), 'file-offered');
};

test('a file to all in a large room: the page expects the whole room but the console, me and the 0.9 users', async () => {
  const o = await fileOffered(await inLargeRoom());
  assert.deepEqual([o.audience, o.expected], [['bob'], 9998]);
  const mixed = await joined('alice', KEYS.alice, { list: [ADMIN, ['bob', KEYS.bob.keyid], ['carol', KEYS.carol.keyid, '0.9']] });
  await mixed.feed(signal('chat-users', { users: [ADMIN, ['bob', KEYS.bob.keyid], ['carol', KEYS.carol.keyid, '0.9']], count: 5000 }));
  assert.equal((await fileOffered(mixed)).expected, 4997);
  const small = await joined('alice', KEYS.alice);
  assert.equal((await fileOffered(small)).expected, 0, 'the list is the room: its names are the audience');
  assert.equal((await fileOffered(await inLargeRoom(), 'bob')).expected, 0, 'to one person: that person');
});

test('a file to all in a large room of which nobody else is listed still goes (the others are there)', async () => {
  const alice = await joined('alice', KEYS.alice, { list: [ADMIN, ['alice', KEYS.alice.keyid]] });
  await alice.feed(signal('chat-users', { users: [ADMIN, ['alice', KEYS.alice.keyid]], count: 300 }));
  const o = await fileOffered(alice);
  assert.deepEqual([o.audience, o.expected], [[], 298]);
});
