// Unit tests of files through the page's session (docs/PROTOCOL.md, "Version 2 — files"),
// without a browser: node --test www/ — the offer as a signed envelope of kind "file", its
// clear part for the server, and the chunks of files.js between two real Sessions.
// The room and its "server" are those of v2-room.testing.mjs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as C from './crypto.js';
import { Session } from './session.js';
import { Transfers } from './files.js';

import { KEYS, frame, signal, keyOf, relay, ofType, one, sent, ROOM, joined, deliver } from './v2-room.testing.mjs';


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
