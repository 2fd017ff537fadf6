// Unit tests of the page's session (session.js), without a browser: node --test www/
// The session runs on node's WebCrypto with the keys of tests/vectors/; the "server" here
// is a few functions writing the frames docs/PROTOCOL.md describes, with real RSA and AES.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as C from './crypto.js';
import { Session } from './session.js';

const vectorFile = (name) => readFileSync(new URL(`../tests/vectors/${name}`, import.meta.url), 'utf8');
const vectors = JSON.parse(vectorFile('vectors.json'));

const KEYS = {
  alice: await C.importPem(vectorFile('alice.pkcs8.pem'), vectorFile('alice.pub.pem')),
  bob: await C.importPem(vectorFile('bob.pkcs8.pem'), vectorFile('bob.pub.pem')),
  admin: await C.importPem(vectorFile('admin.pkcs1.pem'), vectorFile('admin.pub.pem')),
};
const GROUP_B64 = vectors.aes_message_alice_to_all.aeskey_b64;
const GROUP = await C.importGroupKey(GROUP_B64);

// ---- the server's frames -------------------------------------------------------------

const frame = (cmd, data, user = '') => JSON.stringify({ cmd, user, data });
const signal = (code, more = {}, user = '') => frame('signal', { code, ...more }, user);
const config = (user, keys, { admin = false, disableAll = false, keyid = keys.keyid, aeskey = GROUP_B64 } = {}) =>
  frame('config', { 'disable-all': disableAll, user, 'is-admin': admin, keyid, aeskey });
const entry = (name, keys, hash = keys.keyid) => ({ name, publickey: { hash, text: keys.spkiB64 } });
const usersList = (...entries) => signal('chat-userslist', { userslist: JSON.stringify(entries) });
const joinOf = (name, keys, hash = keys.keyid) => signal('chat-join', { publickey: { hash, text: keys.spkiB64 } }, name);

// A 1:1 message as a client writes it: encrypted to `toKeys`, signed with `signKeys`.
async function rsaFrame(signKeys, toKeys, plaintext) {
  const plain = C.utf8(JSON.stringify(plaintext));
  const peer = await C.importPeer(toKeys.spkiB64);
  const data = { algo: 'rsa', ciphertext: C.b64(await C.rsaEncrypt(peer, plain)), signature: C.b64(await C.sign(signKeys, plain)), to: plaintext.to };
  return frame('message', data);
}

async function aesFrame(signKeys, plaintext) {
  const plain = C.utf8(JSON.stringify(plaintext));
  const { iv, ct } = await C.aesEncrypt(GROUP, plain);
  return frame('message', { algo: 'aes', iv: C.b64(iv), ciphertext: C.b64(ct), signature: C.b64(await C.sign(signKeys, plain)) });
}

// ---- reading outputs ------------------------------------------------------------------

const ofType = (outputs, type) => outputs.filter((o) => o.type === type);
const one = (outputs, type) => {
  const found = ofType(outputs, type);
  assert.equal(found.length, 1, `one ${type} in ${JSON.stringify(outputs.map((o) => o.type))}`);
  return found[0];
};
const sentFrames = (outputs) => ofType(outputs, 'send').map((o) => JSON.parse(o.frame));
const notices = (outputs) => ofType(outputs, 'notice').map((o) => o.text);
const names = (usersOutput) => usersOutput.users.map((u) => u.name);

// The plaintext of a 1:1 frame, decrypted with `keys` and checked against the signer's key.
async function openRsa(f, keys, signer) {
  const plain = await C.rsaDecrypt(keys, C.unb64(f.data.ciphertext));
  assert.ok(await C.verify(await C.importPeer(signer.spkiB64), C.unb64(f.data.signature), plain), 'signature verifies');
  return JSON.parse(C.fromUtf8(plain));
}

// A session through join, config and the users list, as the server sends them.
async function joined(name = 'alice', keys = KEYS.alice, { as = name, admin = false, disableAll = false, users } = {}) {
  let n = 0;
  const s = new Session(C, { newId: () => `m${++n}` });
  const conn = one(s.join(name, keys), 'connect').conn;
  await s.opened(conn);
  const welcome = await s.received(conn, config(as, keys, { admin, disableAll }));
  const list = await s.received(conn, usersList(...(users || [entry('ADMIN', KEYS.admin), entry(as, keys), entry('bob', KEYS.bob)])));
  return { s, conn, welcome, list, feed: (text) => s.received(conn, text) };
}

// ---- join -----------------------------------------------------------------------------

test('join: connecting, the join frame with my key on open, then joined on config', async () => {
  const s = new Session(C);
  assert.equal(s.state.name, 'idle');
  const start = s.join('alice', KEYS.alice);
  assert.deepEqual(start.map((o) => o.type), ['state', 'connect']);
  assert.equal(start[0].state.name, 'connecting');
  const conn = start[1].conn;

  const open = await s.opened(conn);
  assert.equal(one(open, 'state').state.name, 'joining');
  assert.deepEqual(sentFrames(open), [{ cmd: 'signal', user: 'alice', data: { code: 'chat-join', publickey: vectors.keys.alice.spki_b64, prove: true, v: 2 } }]);

  const welcome = await s.received(conn, config('alice', KEYS.alice));
  assert.deepEqual(one(welcome, 'state').state, { name: 'joined', me: 'alice', keyid: vectors.keys.alice.keyid, again: false });
  assert.deepEqual(notices(welcome), []);
  assert.equal(s.me, 'alice');
});

test('join: a challenge is answered with my signature over the host and the nonce', async () => {
  const s = new Session(C, { host: 'chat.lan:8080' });
  const conn = one(s.join('alice', KEYS.alice), 'connect').conn;
  await s.opened(conn);
  const nonce = C.b64(new Uint8Array(32).fill(7));
  const out = await s.received(conn, JSON.stringify({ cmd: 'signal', user: '', data: { code: 'chat-challenge', nonce } }));
  const [f] = sentFrames(out);
  assert.deepEqual(Object.keys(f.data).sort(), ['code', 'signature']);
  assert.equal(f.data.code, 'chat-proof');
  assert.equal(f.user, 'alice');
  const peer = await C.importPeer(KEYS.alice.spkiB64);
  const signed = (host) => C.utf8(`dyspatcher join proof v1\n${host}\n${nonce}`);
  assert.equal(C.unb64(f.data.signature).length, 512, 'the size of the key');
  assert.ok(await C.verify(peer, C.unb64(f.data.signature), signed('chat.lan:8080')));
  assert.ok(!(await C.verify(peer, C.unb64(f.data.signature), signed('elsewhere:8080'))), 'bound to the host');
  assert.equal(s.state.name, 'joining', 'still joining until the config');
  const welcome = await s.received(conn, config('alice', KEYS.alice));
  assert.equal(one(welcome, 'state').state.name, 'joined');
});

test('join: the users list puts the administrator first and leaves me out', async () => {
  const { list } = await joined();
  const users = one(list, 'users');
  assert.deepEqual(users.users, [
    { name: 'ADMIN', keyid: vectors.keys.admin.keyid, bad: false, admin: true, self: false },
    { name: 'bob', keyid: vectors.keys.bob.keyid, bad: false, admin: false, self: false },
  ]);
  assert.equal(users.all, true);
});

test('join: the welcome (a message from the administrator) shows from ADMIN to me', async () => {
  const { feed } = await joined();
  const out = await feed(await rsaFrame(KEYS.admin, KEYS.alice, { from: 'ADMIN', to: 'alice', message: 'Welcome to the chat ☃' }));
  assert.deepEqual(one(out, 'message'), { type: 'message', kind: 'other', from: 'ADMIN', console: false, to: 'alice', admin: true, reply: 'ADMIN', text: 'Welcome to the chat ☃' });
});

test('join: is-admin renames me and says I am the administrator; my console is listed', async () => {
  const { s, welcome, list } = await joined('boss', KEYS.admin, { as: 'ADMIN', admin: true, users: [entry('ADMIN', KEYS.admin), entry('alice', KEYS.alice)] });
  assert.equal(s.me, 'ADMIN');
  assert.equal(one(welcome, 'state').state.me, 'ADMIN');
  assert.deepEqual(notices(welcome), ['You are the administrator (ADMIN) on the web. Messages typed on the console show here as copies.']);
  assert.deepEqual(one(list, 'users').users.map((u) => [u.name, u.admin, u.self]), [['ADMIN', true, true], ['alice', false, false]]);
});

test('join: a Key ID that differs from mine and an unusable group key are warned about', async () => {
  const s = new Session(C);
  const conn = one(s.join('alice', KEYS.alice), 'connect').conn;
  await s.opened(conn);
  const out = await s.received(conn, config('alice', KEYS.alice, { keyid: vectors.keys.bob.keyid, aeskey: 'c2hvcnQ=' }));
  assert.deepEqual(ofType(out, 'notice'), [
    { type: 'notice', level: 'warn', text: `Warning: the server reports Key ID ${vectors.keys.bob.keyid.slice(0, 12)} for you, not ${vectors.keys.alice.keyid.slice(0, 12)}.` },
    { type: 'notice', level: 'warn', text: 'The server sent no usable group key: messages to @all cannot be read or sent.' },
  ]);
  assert.deepEqual(await s.send('all', 'hello'), [{ type: 'send-error', text: 'No group key from the server: @all is unavailable.' }]);
});

test('join: a taken name closes as refused, before ever joining', async () => {
  const s = new Session(C);
  const conn = one(s.join('frank', KEYS.alice), 'connect').conn;
  await s.opened(conn);
  assert.deepEqual(await s.received(conn, signal('chat-invaliduser')), []);
  const out = await s.closed(conn);
  assert.deepEqual(one(out, 'state').state, {
    name: 'closed',
    reason: { kind: 'refused', text: 'The name "frank" is taken or not allowed. Choose another one.' },
    user: 'frank',
    everJoined: false,
  });
  assert.deepEqual(notices(out), []);
  // A second try with another name is a new join.
  assert.equal(s.join('frank2', KEYS.alice)[0].state.name, 'connecting');
});

test('join: a refusal notice goes to the join form; a socket that never opens is unreachable', async () => {
  const s = new Session(C);
  const conn = one(s.join('boss', KEYS.admin), 'connect').conn;
  await s.opened(conn);
  assert.deepEqual(await s.received(conn, signal('notice', { notice: 'Admin is already connected via web interface' })), [
    { type: 'join-error', text: 'Admin is already connected via web interface' },
  ]);
  assert.deepEqual(one(await s.closed(conn), 'state').state.reason, { kind: 'notice', text: 'Admin is already connected via web interface' });

  const t = new Session(C);
  const c2 = one(t.join('kate', KEYS.alice), 'connect').conn;
  assert.deepEqual(one(await t.closed(c2), 'state').state.reason, { kind: 'unreachable', text: 'Could not reach the chat server.' });
});

// ---- users list -----------------------------------------------------------------------

test('users: a join is announced and listed, a leave too; the administrator never leaves', async () => {
  const { feed } = await joined('alice', KEYS.alice, { users: [entry('ADMIN', KEYS.admin), entry('alice', KEYS.alice)] });
  const came = await feed(joinOf('bob', KEYS.bob));
  assert.deepEqual(came.map((o) => o.type), ['user-joined', 'users']);
  assert.equal(came[0].name, 'bob');
  assert.deepEqual(names(came[1]), ['ADMIN', 'bob']);
  assert.equal(came[1].users[1].keyid, vectors.keys.bob.keyid);

  const left = await feed(signal('chat-left', {}, 'bob'));
  assert.deepEqual(left.map((o) => o.type), ['users', 'user-left']);
  assert.deepEqual(names(left[0]), ['ADMIN']);
  assert.equal(left[1].name, 'bob');
  assert.deepEqual(await feed(signal('chat-left', {}, 'bob')), [], 'a second leave is nothing');
  assert.deepEqual(await feed(signal('chat-left', {}, 'ADMIN')), []);
});

test('users: a key whose Key ID differs from the server’s hash is flagged; bad entries are skipped', async () => {
  const { feed } = await joined();
  const out = await feed(joinOf('carol', KEYS.bob, 'f'.repeat(64)));
  const carol = one(out, 'users').users.find((u) => u.name === 'carol');
  assert.deepEqual(carol, { name: 'carol', keyid: vectors.keys.bob.keyid, bad: true, admin: false, self: false });

  const list = await feed(signal('chat-userslist', { userslist: [entry('ADMIN', KEYS.admin), { name: 'nokey' }, { name: 'junk', publickey: { text: 'bm90IGEga2V5' } }, entry('bob', KEYS.bob)] }));
  assert.deepEqual(names(one(list, 'users')), ['ADMIN', 'bob']);
  assert.deepEqual(await feed(joinOf('', KEYS.bob)), [], 'a join without a name');
});

// ---- 1:1 ------------------------------------------------------------------------------

test('1:1: my message is encrypted to bob and signed by me; the ack marks it sent', async () => {
  const { s, feed } = await joined();
  const out = await s.send('BOB', 'hello bob, <b>not bold</b>');
  const [f] = sentFrames(out);
  assert.deepEqual(Object.keys(f.data).sort(), ['algo', 'ciphertext', 'id', 'signature', 'to']);
  assert.equal(f.cmd, 'message');
  assert.equal(f.data.to, 'bob');
  assert.equal(f.data.id, 'm1');
  assert.deepEqual(await openRsa(f, KEYS.bob, KEYS.alice), { from: 'alice', to: 'bob', message: 'hello bob, <b>not bold</b>' });
  assert.deepEqual(one(out, 'outgoing'), { type: 'outgoing', id: 'm1', to: 'bob', text: 'hello bob, <b>not bold</b>', admin: false });

  assert.deepEqual(await feed(signal('chat-ack', { id: 'm1' })), [{ type: 'ack', id: 'm1' }]);
  assert.deepEqual(await feed(signal('chat-ack', { id: 'm1' })), [], 'one answer per message');
});

test('1:1: a message from bob shows from bob to me, with its lines', async () => {
  const { feed } = await joined();
  const out = await feed(await rsaFrame(KEYS.bob, KEYS.alice, { from: 'bob', to: 'alice', message: 'hi alice\nsecond line' }));
  assert.deepEqual(out, [{ type: 'message', kind: 'other', from: 'bob', console: false, to: 'alice', admin: false, reply: 'bob', text: 'hi alice\nsecond line' }]);
});

test('1:1: the OpenSSL vector from alice to bob reads in bob’s session', async () => {
  const v = vectors.rsa_message_alice_to_bob;
  const { feed } = await joined('bob', KEYS.bob, { users: [entry('ADMIN', KEYS.admin), entry('alice', KEYS.alice), entry('bob', KEYS.bob)] });
  const out = await feed(frame('message', { algo: 'rsa', ciphertext: v.ciphertext_b64, signature: v.signature_b64, to: 'bob' }));
  assert.equal(one(out, 'message').text, 'hello bob èé ☃');
  assert.equal(one(out, 'message').from, 'alice');
});

test('1:1: refusals before sending keep the text out of the socket', async () => {
  const { s } = await joined();
  const refused = async (value) => {
    const out = await s.send(...value);
    assert.deepEqual(sentFrames(out), []);
    return one(out, 'send-error').text;
  };
  // Nothing chosen: the text may still name its recipient.
  assert.match(await refused(['', 'no destination']), /^Start with @name/);
  assert.equal(await refused(['', '@bob']), 'Write the message after @bob.');
  assert.equal(await refused(['', '@nobody1 are you there?']), 'Unknown destination: nobody called "nobody1" is connected.');
  assert.equal(await refused(['nobody1', 'are you there?']), 'Unknown destination: nobody called "nobody1" is connected.');
  assert.equal(await refused(['alice', 'me?']), 'That is you: choose somebody else.');
  assert.match(await refused(['ADMIN', 'x'.repeat(500)]), /^Too long for one encrypted message: 542 bytes, at most 446 for ADMIN\./);
  assert.equal(s.room('ADMIN', 'x'.repeat(500)), -96);
  assert.equal(s.room('bob', 'hi'), 446 - JSON.stringify({ from: 'alice', to: 'bob', message: 'hi' }).length);
  assert.equal(s.room('', '@bob hi'), s.room('bob', 'hi'));
  assert.equal(s.room('all', 'hi'), null);
  assert.deepEqual(await s.send('bob', '  '), [], 'an empty box sends nothing');
});

test('1:1: the server’s undelivered report comes with its reason, or a default one', async () => {
  const { s, feed } = await joined();
  await s.send('bob', 'are you still there?');
  await s.send('bob', 'and now?');
  assert.deepEqual(await feed(signal('chat-undelivered', { id: 'm1', to: 'bob', reason: 'bob is not connected' })), [
    { type: 'undelivered', id: 'm1', to: 'bob', text: 'are you still there?', reason: 'bob is not connected' },
  ]);
  assert.equal(one(await feed(signal('chat-undelivered', { id: 'm2' })), 'undelivered').reason, 'the server did not deliver it');
});

test('1:1: a socket that stops being open during the encryption gets nothing', async () => {
  const { s, feed } = await joined();
  let asked = 0;
  const out = await s.send('bob', 'hello', () => ++asked === 1);
  assert.deepEqual(out, [{ type: 'send-error', text: 'The connection closed: nothing was sent. Reconnect, then press Send again.' }]);
  assert.equal(asked, 2);
  assert.deepEqual(await feed(signal('chat-ack', { id: 'm1' })), [], 'nothing is pending');
});

// ---- @all -------------------------------------------------------------------------------

test('@all: my message is AES-encrypted with the group key and its echo is not shown', async () => {
  const { s, feed } = await joined();
  const out = await s.send('All', 'hello everyone');
  const [f] = sentFrames(out);
  assert.equal(f.data.algo, 'aes');
  assert.equal(f.data.to, undefined);
  const plain = await C.aesDecrypt(GROUP, C.unb64(f.data.iv), C.unb64(f.data.ciphertext));
  assert.deepEqual(JSON.parse(C.fromUtf8(plain)), { from: 'alice', to: 'all', message: 'hello everyone' });
  assert.ok(await C.verify(await C.importPeer(KEYS.alice.spkiB64), C.unb64(f.data.signature), plain));
  assert.deepEqual(one(out, 'outgoing'), { type: 'outgoing', id: 'm1', to: 'all', text: 'hello everyone', admin: false });

  assert.deepEqual(await feed(frame('message', f.data)), [], 'the echo of my own message');
  assert.deepEqual(await feed(signal('chat-ack', { id: 'm1' })), [{ type: 'ack', id: 'm1' }]);
});

test('@all: bob’s message to all, and the OpenSSL vector, show as to all', async () => {
  const { feed } = await joined('carol', KEYS.bob, { users: [entry('ADMIN', KEYS.admin), entry('alice', KEYS.alice), entry('bob', KEYS.bob)] });
  const out = await feed(await aesFrame(KEYS.bob, { from: 'bob', to: 'all', message: 'hello from bob' }));
  assert.deepEqual(out, [{ type: 'message', kind: 'other', from: 'bob', console: false, to: 'all', admin: false, reply: 'bob', text: 'hello from bob' }]);

  const v = vectors.aes_message_alice_to_all;
  const vec = await feed(frame('message', { algo: 'aes', iv: v.iv_b64, ciphertext: v.ciphertext_b64, signature: v.signature_b64 }));
  assert.equal(one(vec, 'message').text, 'hi everyone');
  assert.equal(one(vec, 'message').to, 'all');
});

test('@all: a group message not addressed to all is dropped', async () => {
  const { feed } = await joined();
  assert.deepEqual(await feed(await aesFrame(KEYS.bob, { from: 'bob', to: 'alice', message: 'sneaky' })), []);
});

test('@all: --disable-all hides @all from users and refuses it', async () => {
  const { s, list } = await joined('grace', KEYS.alice, { disableAll: true });
  assert.equal(one(list, 'users').all, false);
  assert.deepEqual(await s.send('all', 'anyone?'), [{ type: 'send-error', text: 'Messages to @all are disabled on this server: write to one person.' }]);
});

// ---- signatures -------------------------------------------------------------------------

test('bad signature: a message signed by another key is dropped, not shown', async () => {
  const { feed } = await joined();
  const forged = await rsaFrame(KEYS.admin, KEYS.alice, { from: 'bob', to: 'alice', message: 'I am bob, trust me' });
  assert.deepEqual(await feed(forged), [{ type: 'dropped', from: 'bob', reason: 'bad signature' }]);
  const forgedAll = await aesFrame(KEYS.alice, { from: 'bob', to: 'all', message: 'me too' });
  assert.deepEqual(await feed(forgedAll), [{ type: 'dropped', from: 'bob', reason: 'bad signature' }]);
  const stranger = await rsaFrame(KEYS.bob, KEYS.alice, { from: 'mallory', to: 'alice', message: 'who am I' });
  assert.deepEqual(await feed(stranger), [{ type: 'dropped', from: 'mallory', reason: 'unknown sender' }]);
});

test('bad signature: a damaged signature, a message for someone else, junk frames: nothing shown', async () => {
  const { feed } = await joined();
  const good = JSON.parse(await rsaFrame(KEYS.bob, KEYS.alice, { from: 'bob', to: 'alice', message: 'x' }));
  const damaged = { ...good.data, signature: good.data.signature.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) };
  assert.deepEqual(await feed(frame('message', damaged)), [{ type: 'dropped', from: 'bob', reason: 'bad signature' }]);
  assert.deepEqual(await feed(await rsaFrame(KEYS.alice, KEYS.bob, { from: 'alice', to: 'bob', message: 'for bob' })), []);
  for (const junk of ['', 'not json', '[]', '{"cmd":"message","data":{}}', '{"cmd":"message","data":{"algo":"rsa","signature":"x","ciphertext":"%%"}}', '{"cmd":"signal","data":{"code":"chat-ack","id":"zz"}}']) {
    assert.deepEqual(await feed(junk), [], junk);
  }
});

// ---- the administrator on the web ----------------------------------------------------------

test('admin on the web: console copies show as mine from the console; my 1:1 goes to the console too', async () => {
  const users = [entry('ADMIN', KEYS.admin), entry('erin', KEYS.alice)];
  const { s, feed } = await joined('boss', KEYS.admin, { as: 'ADMIN', admin: true, users });
  const copy = await rsaFrame(KEYS.admin, KEYS.admin, { from: 'ADMIN', to: 'ADMIN', message: JSON.stringify({ message: 'hello erin', to: 'erin' }), isWebAdminMsgCopy: true });
  assert.deepEqual(await feed(copy), [{ type: 'message', kind: 'mine', from: 'ADMIN', console: true, to: 'erin', admin: true, reply: 'erin', text: 'hello erin' }]);
  const typedToAll = await aesFrame(KEYS.admin, { from: 'ADMIN', to: 'all', message: 'console to everybody' });
  assert.deepEqual(one(await feed(typedToAll), 'message'), { type: 'message', kind: 'mine', from: 'ADMIN', console: true, to: 'all', admin: true, reply: 'all', text: 'console to everybody' });

  const out = await s.send('erin', 'answer from the web');
  const [toErin, toConsole] = sentFrames(out);
  assert.equal(toErin.data.to, 'erin');
  assert.equal(toConsole.data.to, 'ADMIN');
  const sent = { from: 'ADMIN', to: 'erin', message: 'answer from the web' };
  assert.deepEqual(await openRsa(toErin, KEYS.alice, KEYS.admin), sent);
  assert.deepEqual(await openRsa(toConsole, KEYS.admin, KEYS.admin), sent);
  assert.equal(one(out, 'outgoing').admin, true);

  assert.deepEqual(await feed(signal('chat-undelivered', { id: toConsole.data.id, reason: 'the console is busy' })), [{ type: 'copy-undelivered', id: toErin.data.id, what: 'console', reason: 'the console is busy' }]);
  assert.deepEqual(await feed(signal('chat-ack', { id: toErin.data.id })), [{ type: 'ack', id: toErin.data.id }]);
});

// ---- kick and reconnect ---------------------------------------------------------------------

test('kick: the notice shows, the close leaves unanswered messages unconfirmed, nothing more is sent', async () => {
  const { s, conn, feed } = await joined('dave', KEYS.alice);
  await s.send('bob', 'in flight');
  assert.deepEqual(await feed(signal('notice', { notice: 'You have been disconnected by the administrator.' })), [
    { type: 'notice', text: 'You have been disconnected by the administrator.', level: '' },
  ]);
  const out = await s.closed(conn);
  assert.deepEqual(out, [
    { type: 'unconfirmed', id: 'm1', to: 'bob', text: 'in flight' },
    { type: 'state', state: { name: 'closed', reason: { kind: 'notice', text: 'You have been disconnected by the administrator.' }, user: 'dave', everJoined: true } },
    { type: 'notice', text: 'Disconnected.', level: '' },
  ]);
  assert.deepEqual(await s.send('ADMIN', 'still there?'), [{ type: 'send-error', text: 'Not connected: nothing was sent. Reconnect, then press Send again.' }]);
  assert.deepEqual(await feed(await rsaFrame(KEYS.bob, KEYS.alice, { from: 'bob', to: 'dave', message: 'late' })), [], 'frames after the close');
});

test('kick: a close without a notice says the server closed it', async () => {
  const { s, conn } = await joined();
  const out = await s.closed(conn);
  assert.deepEqual(one(out, 'state').state.reason, { kind: 'closed', text: 'The server closed the connection.' });
  assert.deepEqual(notices(out), ['Disconnected from the server.']);
});

test('reconnect: a new connection with the same keys; the old one is ignored; joined again', async () => {
  const { s: t, conn: old } = await joined('dave', KEYS.alice);
  await t.closed(old);
  const again = t.reconnect();
  assert.equal(one(again, 'state').state.name, 'reconnecting');
  const conn = one(again, 'connect').conn;
  assert.notEqual(conn, old);
  assert.deepEqual(t.reconnect(), [], 'one connection at a time');

  assert.deepEqual(await t.received(old, config('dave', KEYS.alice)), [], 'a frame of the old connection');
  assert.deepEqual(await t.closed(old), [], 'the old connection closing');
  const open = await t.opened(conn);
  assert.equal(one(open, 'state').state.name, 'joining');
  assert.deepEqual(sentFrames(open), [{ cmd: 'signal', user: 'dave', data: { code: 'chat-join', publickey: vectors.keys.alice.spki_b64, prove: true, v: 2 } }]);
  const back = await t.received(conn, config('dave', KEYS.alice));
  assert.deepEqual(one(back, 'state').state, { name: 'joined', me: 'dave', keyid: vectors.keys.alice.keyid, again: true });
  assert.deepEqual(notices(back), ['Reconnected as dave.']);
  await t.received(conn, usersList(entry('ADMIN', KEYS.admin), entry('dave', KEYS.alice)));
  const [f] = sentFrames(await t.send('ADMIN', 'still there?'));
  assert.deepEqual(await openRsa(f, KEYS.admin, KEYS.alice), { from: 'dave', to: 'ADMIN', message: 'still there?' });
});

test('reconnect: while the server still holds the name, the close is refused with the name', async () => {
  const { s, conn } = await joined('dave', KEYS.alice);
  await s.closed(conn);
  const next = one(s.reconnect(), 'connect').conn;
  await s.opened(next);
  await s.received(next, signal('chat-invaliduser'));
  const out = await s.closed(next);
  assert.deepEqual(one(out, 'state').state, { name: 'closed', reason: { kind: 'refused', text: 'The name "dave" is taken or not allowed. Choose another one.' }, user: 'dave', everJoined: true });
  assert.deepEqual(notices(out), [], 'it never joined on this connection');
});

// ---- the recipient ------------------------------------------------------------------------

test('recipient: what the selector shows for the chosen recipient', async () => {
  const { s } = await joined();
  assert.deepEqual(s.recipient(''), { kind: 'none' });
  assert.deepEqual(s.recipient('ALL'), { kind: 'all', allowed: true });
  assert.deepEqual(s.recipient('Bob'), { kind: 'one', to: 'bob', admin: false, allowed: true });
  assert.deepEqual(s.recipient('ADMIN'), { kind: 'one', to: 'ADMIN', admin: true, allowed: true });
  assert.deepEqual(s.recipient('alice'), { kind: 'one', to: 'alice', admin: false, allowed: false });
  assert.deepEqual(s.recipient('phone3'), { kind: 'unknown', typed: 'phone3' });
  const { s: g } = await joined('grace', KEYS.alice, { disableAll: true });
  assert.deepEqual(g.recipient('all'), { kind: 'all', allowed: false });
});

test('recipient: "@name " typed first in the box is the recipient, not text', async () => {
  const { s } = await joined();
  assert.deepEqual(s.leading('@Bob my password'), { to: 'bob', text: 'my password' });
  assert.deepEqual(s.leading('@ALL '), { to: 'all', text: '' });
  assert.deepEqual(s.leading('@ADMIN  two spaces'), { to: 'ADMIN', text: ' two spaces' });
  // Not a recipient that can be chosen, or not "@name " yet: the text stays as typed.
  for (const v of ['@bob', '@bob, hi', '@phone3 hi', '@alice hi', 'hi @bob ', ' @bob hi', '@ noon']) assert.equal(s.leading(v), null, v);
  const { s: g } = await joined('grace', KEYS.alice, { disableAll: true });
  assert.equal(g.leading('@all hi'), null, '@all where it is disabled');
});

test('recipient: a text starting with another @name is named before sending', async () => {
  const { s } = await joined();
  assert.deepEqual(s.named('all', '@bob, my password'), { named: 'bob', namedTo: 'bob', refused: '' });
  assert.deepEqual(s.named('bob', '@phone3 hi'), { named: 'phone3', namedTo: null, refused: 'unknown' });
  assert.deepEqual(s.named('bob', '@alice hi'), { named: 'alice', namedTo: null, refused: 'self' });
  assert.deepEqual(s.named('', '@phone3 hi'), { named: 'phone3', namedTo: null, refused: 'unknown' }, 'nothing chosen');
  assert.equal(s.named('Bob', '@BOB hi'), null, 'the same person');
  assert.equal(s.named('bob', 'hi @alice'), null);
  assert.equal(s.named('phone3', '@bob hi'), null, 'the recipient itself is what is wrong');
  const { s: g } = await joined('grace', KEYS.alice, { disableAll: true });
  assert.deepEqual(g.named('bob', '@all hi'), { named: 'all', namedTo: null, refused: 'disabled' });
});

test('recipient: a text starting with another @name is not sent without confirmation', async () => {
  const { s } = await joined('alice', KEYS.alice, { users: [entry('ADMIN', KEYS.admin), entry('alice', KEYS.alice), entry('bob', KEYS.bob)] });
  // Typed after an @all message, out of habit: it must not go to everybody.
  const ask = await s.send('all', '@bob, my password is hunter2');
  assert.deepEqual(ask, [{ type: 'confirm', to: 'all', named: 'bob', namedTo: 'bob', asNamed: { to: 'bob', text: 'my password is hunter2' }, asChosen: { to: 'all', text: '@bob, my password is hunter2' } }]);
  const [toBob] = sentFrames(await s.send(ask[0].asNamed.to, ask[0].asNamed.text, () => true, { confirmed: true }));
  assert.equal(toBob.data.algo, 'rsa');
  assert.deepEqual(await openRsa(toBob, KEYS.bob, KEYS.alice), { from: 'alice', to: 'bob', message: 'my password is hunter2' });

  // The other way round: "@all …" typed after a 1:1.
  const wider = one(await s.send('bob', '@All, hello everybody'), 'confirm');
  assert.deepEqual([wider.to, wider.named, wider.namedTo, wider.asNamed], ['bob', 'All', 'all', { to: 'all', text: 'hello everybody' }]);
  const [kept] = sentFrames(await s.send(wider.asChosen.to, wider.asChosen.text, () => true, { confirmed: true }));
  assert.equal(kept.data.to, 'bob');
  assert.equal((await openRsa(kept, KEYS.bob, KEYS.alice)).message, '@All, hello everybody');

  // Nobody of that name: only the chosen recipient can be confirmed.
  assert.deepEqual(one(await s.send('bob', '@phone3 hi'), 'confirm').namedTo, null);
  assert.deepEqual(one(await s.send('bob', '@alice hi'), 'confirm').namedTo, null, 'myself');
  // Nothing chosen: the text's own "@name " is the recipient; a second one is asked about.
  assert.deepEqual(one(await s.send('', '@all @bob hi'), 'confirm').asNamed, { to: 'bob', text: 'hi' });
  // The same person, an @ further in, or no name at all: sent at once.
  for (const v of [['bob', '@BOB hi'], ['bob', 'mail me at x@y'], ['bob', '@ noon'], ['bob', '@bob'], ['', '@bob hi']]) assert.equal(ofType(await s.send(...v), 'outgoing').length, 1, v.join(' '));
});

test('recipient: the length left is counted in characters', async () => {
  const { s } = await joined();
  const max = 446 - JSON.stringify({ from: 'alice', to: 'bob', message: '' }).length;
  assert.equal(s.charactersLeft('bob', 'ab'), max - 2);
  assert.equal(s.charactersLeft('bob', 'éé'), Math.floor((max - 4) / 2), 'two bytes each');
  assert.equal(s.charactersLeft('bob', 'x'.repeat(max)), 0);
  assert.equal(s.charactersLeft('bob', 'x'.repeat(max) + '☃☃'), -2, 'two characters to take off, whatever their bytes');
  assert.equal(s.charactersLeft('bob', 'x'.repeat(max - 2) + '☃'), -1);
  assert.equal(s.charactersLeft('', '@bob ab'), max - 2, 'nothing chosen: the text names it');
  assert.equal(s.charactersLeft('all', 'hi'), null);
  assert.equal(s.charactersLeft('bob', ''), null);
});

// ---- the administrator's key ------------------------------------------------------------------

test('admin key: the web administrator reconnects as the name in use; a new server key is explained', async () => {
  const { s, conn } = await joined('boss', KEYS.admin, { as: 'ADMIN', admin: true, users: [entry('ADMIN', KEYS.admin), entry('alice', KEYS.alice)] });
  assert.deepEqual(one(await s.closed(conn), 'state').state.user, 'ADMIN');
  const next = one(s.reconnect(), 'connect').conn;
  assert.equal(sentFrames(await s.opened(next))[0].user, 'ADMIN');
  await s.received(next, signal('chat-invaliduser'));
  const { reason, user } = one(await s.closed(next), 'state').state;
  assert.equal(user, 'ADMIN');
  assert.equal(reason.kind, 'admin-key');
  assert.match(reason.text, /^The administrator's key changed: this server no longer has the key you joined with as ADMIN/);
  assert.match(reason.text, /--admin-private-key/);
});

test('admin key: a user is warned when the administrator’s Key ID is not the one listed before', async () => {
  const { s, conn } = await joined('dave', KEYS.alice);
  await s.closed(conn);
  const next = one(s.reconnect(), 'connect').conn;
  await s.opened(next);
  await s.received(next, config('dave', KEYS.alice));
  const same = await s.received(next, usersList(entry('ADMIN', KEYS.admin), entry('dave', KEYS.alice)));
  assert.deepEqual(notices(same), []);
  await s.closed(next);
  const third = one(s.reconnect(), 'connect').conn;
  await s.opened(third);
  await s.received(third, config('dave', KEYS.alice));
  const changed = await s.received(third, usersList(entry('ADMIN', KEYS.bob), entry('dave', KEYS.alice)));
  const [warn] = ofType(changed, 'notice');
  assert.equal(warn.level, 'warn');
  assert.equal(warn.text.split(':')[0], "The administrator's key changed");
  assert.ok(warn.text.includes(`ADMIN now has Key ID ${vectors.keys.bob.keyid.slice(0, 12)}, not ${vectors.keys.admin.keyid.slice(0, 12)}`), warn.text);
});
