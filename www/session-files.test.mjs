// Unit tests of files through the page's session (docs/PROTOCOL.md, "Version 2 — files"),
// without a browser: node --test www/ — the offer as a signed envelope of kind "file", its
// clear part for the server, and the chunks of files.js between two real Sessions.
// The "server" is the same few functions as in session-v2.test.mjs:
// Two or three real Sessions on node's WebCrypto with the keys of tests/vectors/; the
// "server" here is a few functions that write the frames the contract describes (member
// keys wrapped with RSA-OAEP, group keys with AES-GCM and their AAD) and relay what one
// session sends to another, adding `from` as the server does.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as C from './crypto.js';
import * as E from './envelope.js';
import { Session } from './session.js';
import { Transfers } from './files.js';

const vectorFile = (name) => readFileSync(new URL(`../tests/vectors/${name}`, import.meta.url), 'utf8');
const KEYS = {
  alice: await C.importPem(vectorFile('alice.pkcs8.pem'), vectorFile('alice.pub.pem')),
  bob: await C.importPem(vectorFile('bob.pkcs8.pem'), vectorFile('bob.pub.pem')),
  admin: await C.importPem(vectorFile('admin.pkcs1.pem'), vectorFile('admin.pub.pem')),
  carol: await C.importPem(vectorFile('small2048.pkcs8.pem'), vectorFile('small2048.pub.pem')),
};

// A long text in many scripts: emoji with skin-tone modifiers and ZWJ sequences, flags,
// CJK, Arabic and Hebrew (right to left), combining marks, and characters JSON escapes.
const MIXED = '👍🏽 👩🏾‍💻 🇫🇷 漢字かなカナ 한국어 مرحبا بالعالم שלום עולם e\u0301 a\u0308\u0323 Z\u0351\u0352 \u200f "q" \\ \t\n ';
const LONG = MIXED.repeat(Math.ceil(20000 / [...MIXED].length)).trim();

// ---- the server ---------------------------------------------------------------------

const frame = (cmd, data, user = '') => JSON.stringify({ cmd, user, data });
const signal = (code, more = {}) => frame('signal', { code, ...more });

// The state a server keeps for one version-2 member.
class Member {
  constructor(name, keys) {
    this.name = name;
    this.keys = keys;
    this.m = C.randomBytes(32);
  }

  async config({ admin = false } = {}) {
    const peer = await C.importPeer(this.keys.spkiB64);
    return frame('config', {
      v: 2, 'disable-all': false, user: this.name, 'is-admin': admin, keyid: this.keys.keyid,
      admin: 'ADMIN', adminkey: { hash: KEYS.admin.keyid, text: KEYS.admin.spkiB64 },
      memberkey: C.b64(await C.rsaEncrypt(peer, this.m)), 'max-text': 65536,
    });
  }

  // chat-groupkey of `epoch`; `name` in the AAD (another name: a key wrapped for someone else).
  async groupKey(epoch, raw, name = this.name) {
    const { iv, ct } = await C.gcmSeal(await C.importSecret(this.m), raw, C.groupKeyAad(epoch, name));
    return signal('chat-groupkey', { epoch, iv: C.b64(iv), key: C.b64(ct) });
  }
}

const users = (...list) => signal('chat-users', { users: list });
const keyOf = (name, keys) => signal('chat-key', { keyid: keys.keyid, name, publickey: keys.spkiB64 });

// What the server relays of a sent frame: its data with `from` the sender's name.
const relay = (sent, from) => frame('message', { ...JSON.parse(sent).data, from });

// ---- outputs ----------------------------------------------------------------------------

const ofType = (outputs, type) => outputs.filter((o) => o.type === type);
const one = (outputs, type) => {
  const found = ofType(outputs, type);
  assert.equal(found.length, 1, `one ${type} in ${JSON.stringify(outputs.map((o) => o.type))}`);
  return found[0];
};
const sent = (outputs) => ofType(outputs, 'send').map((o) => JSON.parse(o.frame));
const sentText = (outputs) => ofType(outputs, 'send').map((o) => o.frame);

const G1 = C.randomBytes(32);
const G2 = C.randomBytes(32);
const ROOM = [['ADMIN', KEYS.admin.keyid], ['alice', KEYS.alice.keyid], ['bob', KEYS.bob.keyid]];

// A version-2 session through config, group key and users list. `clock` is its time.
async function joined(name, keys, { list = ROOM, epoch = 1, raw = G1, admin = false, as = name } = {}) {
  let n = 0;
  const clock = { t: 1764633600000 };
  const s = new Session(C, { newId: () => `${name}-${++n}`, now: () => clock.t });
  const conn = one(s.join(name, keys), 'connect').conn;
  await s.opened(conn);
  const member = new Member(as, keys);
  const feed = (text) => s.received(conn, text);
  const welcome = await feed(await member.config({ admin }));
  await feed(await member.groupKey(epoch, raw));
  const listed = await feed(users(...list));
  return { s, member, feed, clock, welcome, listed };
}

// Feeds `frameText` to `to`, answering its key requests with `keys` (name -> key set).
async function deliver(to, frameText, keys = { alice: KEYS.alice, bob: KEYS.bob, ADMIN: KEYS.admin }) {
  let out = await to.feed(frameText);
  const all = [...out];
  for (let i = 0; i < 4; i++) {
    const asks = sent(out).filter((f) => f.data.code === 'chat-getkeys');
    if (!asks.length) break;
    out = [];
    for (const f of asks) {
      for (const keyid of f.data.keyids) {
        const [name, k] = Object.entries(keys).find(([, k]) => k.keyid === keyid) || [];
        out.push(...(await to.feed(k ? keyOf(name, k) : signal('chat-key', { keyid, missing: true }))));
      }
    }
    all.push(...out);
  }
  return all;
}


// node's getRandomValues gives at most 65,536 bytes at a time.
const random = (n) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) b.set(C.randomBytes(Math.min(65536, n - i)), i);
  return b;
};
const png = (n) => {
  const b = random(n);
  b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return b;
};

// Sends `bytes` from `a` to `b` through both sessions and Transfers; the window is moved
// as the server would, from b's acks. Returns b's file outputs and a's.
async function sendThrough(a, b, to, bytes, { name = 'map.png', type = 'image/png' } = {}) {
  const ta = new Transfers(C, { me: () => a.s.me });
  const tb = new Transfers(C, { me: () => b.s.me });
  const p = await ta.prepare({ to, name, type, bytes });
  let out = await a.s.sendFile(to, p.file, p.clear);
  await ta.offered(p.tid, one(out, 'file-offered').audience);
  if (sent(out)[0].data.code === 'chat-getkeys') out = await a.feed(keyOf(b.s.me, KEYS[b.s.me])); // the recipient's key, fetched lazily
  const [offer] = sent(out);
  assert.deepEqual(offer.data.file, p.clear, 'the clear part for the server');
  assert.equal(JSON.stringify(offer).includes(name), false, 'the name only inside the encrypted envelope');
  const got = await deliver(b, relay(JSON.stringify(offer), a.s.me));
  const o = one(got, 'file-offer');
  const bOut = [...(await tb.offer(o.from, o.to, o.admin, o.file))];
  const acked = one(await a.feed(signal('chat-ack', { id: offer.data.id })), 'file-accepted');
  assert.equal(acked.tid, p.tid);
  const aOut = [];
  let wire = sent(await ta.accepted(p.tid));
  while (wire.length) {
    const f = wire.shift();
    const [c] = await b.feed(frame('file-chunk', { ...f.data, from: a.s.me }));
    const r = await tb.chunk(c.data);
    bOut.push(...r);
    for (const ack of sent(r)) {
      const last = ack.data.seq + 1 === p.clear.chunks;
      const [w] = await a.feed(last ? signal('file-status', { tid: p.tid, to: b.s.me, state: 'delivered' }) : signal('file-window', { tid: p.tid, acked: ack.data.seq + 1 }));
      const next = last ? await ta.status(w.tid, w.to, w.state, w.reason) : await ta.window(w.tid, w.acked);
      aOut.push(...next);
      wire.push(...sent(next));
    }
  }
  return { bOut, aOut, tid: p.tid };
}

test('files 1:1: an image offered in a signed envelope, chunked, arrives verified and previewable', async () => {
  const alice = await joined('alice', KEYS.alice);
  const bob = await joined('bob', KEYS.bob);
  const bytes = png(100000);
  const { bOut, aOut } = await sendThrough(alice, bob, 'bob', bytes);
  const done = one(bOut, 'file-complete');
  assert.deepEqual(done.bytes, bytes);
  assert.equal(done.preview, 'image/png');
  assert.equal(done.name, 'map.png');
  assert.equal(one(aOut, 'file-sent').text, 'Sent: bob has it.');
});

test('files to all: under the group key, the same bytes at the recipient', async () => {
  const alice = await joined('alice', KEYS.alice);
  const bob = await joined('bob', KEYS.bob);
  const bytes = random(70000);
  const { bOut, aOut } = await sendThrough(alice, bob, 'all', bytes, { name: 'notes.pdf', type: 'application/pdf' });
  assert.equal(one(aOut, 'file-sent').text, 'Sent: every recipient has it.', 'the audience was bob: his status ends it');
  const done = one(bOut, 'file-complete');
  assert.deepEqual(done.bytes, bytes);
  assert.equal(done.preview, '');
});

test('files: refused by the server (cap) with its reason; never to oneself, the console or a 0.9 client', async () => {
  const alice = await joined('alice', KEYS.alice, { list: [...ROOM, ['carol', KEYS.carol.keyid, '0.9']] });
  const t = new Transfers(C, { me: () => 'alice' });
  const p = await t.prepare({ to: 'all', name: 'big', type: '', bytes: C.randomBytes(10) });
  const out = await alice.s.sendFile('all', p.file, p.clear);
  assert.equal(one(out, 'file-offered').old, true, 'the room has a 0.9 user, who gets nothing');
  const [offer] = sent(out);
  const r = one(await alice.feed(signal('chat-undelivered', { id: offer.data.id, why: 'file-too-large', reason: 'the file is over the 25 MiB cap' })), 'file-refused');
  assert.deepEqual(r, { type: 'file-refused', tid: p.tid, reason: 'the file is over the 25 MiB cap', why: 'file-too-large' });
  const alone = await joined('alice', KEYS.alice, { list: [['ADMIN', KEYS.admin.keyid], ['alice', KEYS.alice.keyid]] });
  assert.match(one(await alone.s.sendFile('all', p.file, p.clear), 'send-error').text, /Nobody else here/);
  for (const [to, why] of [['', /Choose who gets/], ['alice', /That is you/], ['ADMIN', /console cannot receive files/], ['carol', /0\.9 client/], ['nobody', /Nobody called/]]) {
    assert.match(one(await alice.s.sendFile(to, p.file, p.clear), 'send-error').text, why);
  }
});

test('files: an offer whose clear part differs from the signed one is flagged, not taken', async () => {
  const alice = await joined('alice', KEYS.alice);
  const bob = await joined('bob', KEYS.bob);
  const t = new Transfers(C, { me: () => 'alice' });
  const p = await t.prepare({ to: 'all', name: 'x', type: '', bytes: C.randomBytes(10) });
  const [offer] = sent(await alice.s.sendFile('all', p.file, p.clear));
  offer.data.file.size = 11;
  const got = await deliver(bob, relay(JSON.stringify(offer), 'alice'));
  assert.equal(ofType(got, 'file-offer').length, 0);
  assert.match(one(got, 'flagged').text, /does not match its description/);
});

test('files: the server\'s file frames come out for files.js; a close ends the transfers', async () => {
  const bob = await joined('bob', KEYS.bob);
  assert.deepEqual(await bob.feed(frame('file-cancel', { from: 'alice', tid: 't1', reason: 'alice left before the file was sent.' })), [{ type: 'file-cancel', data: { from: 'alice', tid: 't1', reason: 'alice left before the file was sent.' } }]);
  assert.deepEqual(await bob.feed(signal('file-status', { tid: 't1', to: 'carol', state: 'failed', reason: 'carol left' })), [{ type: 'file-status', tid: 't1', to: 'carol', state: 'failed', reason: 'carol left' }]);
  const conn = 1;
  assert.equal(ofType(await bob.s.closed(conn), 'files-closed').length, 1);
});
