// Unit tests of the page's file transfers (files.js) on node's WebCrypto: node --test www/
// A sender's and a recipient's Transfers, with a few lines of "server" in between that
// relay the chunks (adding `from`), count the acks and move the window as
// docs/PROTOCOL.md ("Version 2 — files") says.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as C from './crypto.js';
import { Transfers, CHUNK_SIZE, FILE_WINDOW, sniffImage, previewType, sanitizeName, parseOffer, chunkCount, rowOf } from './files.js';

const frames = (out) => out.filter((o) => o.type === 'send').map((o) => JSON.parse(o.frame));
const of = (out, type) => out.filter((o) => o.type === type);

function bytes(n, seed = 7) {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) b[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return b;
}

// Sends `data` from alice to bob through the window; `tamper(chunkData)` may change a
// relayed chunk. Returns what bob's side output, and how many chunks were ever ahead of acks.
async function transfer(data, { name = 'notes.txt', type = 'text/plain', tamper = (d) => d } = {}) {
  const alice = new Transfers(C, { me: () => 'alice' });
  const bob = new Transfers(C, { me: () => 'bobby' });
  const { tid, file, clear } = await alice.prepare({ to: 'bobby', name, type, bytes: data });
  assert.deepEqual(clear, { tid, size: data.length, chunks: chunkCount(data.length) });
  const got = await bob.offer('alice', 'bobby', false, file);
  let wire = frames(await alice.accepted(tid));
  let acked = 0;
  let maxAhead = 0;
  const out = [...got];
  while (wire.length) {
    const f = wire.shift();
    assert.equal(f.cmd, 'file-chunk');
    maxAhead = Math.max(maxAhead, f.data.seq + 1 - acked);
    const b = await bob.chunk(tamper({ ...f.data, from: 'alice' }));
    out.push(...b);
    for (const a of frames(b)) {
      if (a.cmd !== 'file-ack') continue;
      acked = a.data.seq + 1;
      // The last ack ends bobby's part: the server says so with a file-status, no window.
      const w = acked === chunkCount(data.length) ? await alice.status(tid, 'bobby', 'delivered') : await alice.window(tid, acked);
      out.push(...of(w, 'file-sent'));
      wire.push(...frames(w));
    }
  }
  return { out, tid, maxAhead, alice };
}

test('a file of several chunks arrives whole, verified, within the window; the sender learns it is sent', async () => {
  const data = bytes(CHUNK_SIZE * 9 + 123);
  const { out, maxAhead } = await transfer(data);
  const done = of(out, 'file-complete');
  assert.equal(done.length, 1);
  assert.deepEqual(done[0].bytes, data);
  assert.equal(done[0].name, 'notes.txt');
  assert.equal(done[0].preview, '');
  assert.ok(maxAhead <= FILE_WINDOW, `at most the window ahead (${maxAhead})`);
  assert.equal(of(out, 'file-sent').length, 1);
  assert.equal(of(out, 'file-failed').length, 0);
});

test('an empty file is one empty chunk', async () => {
  const { out } = await transfer(new Uint8Array(0));
  assert.equal(of(out, 'file-complete')[0].bytes.length, 0);
});

test('an altered, a reordered and a foreign chunk each fail the transfer with a reason and a cancel', async () => {
  const flip = (d) => {
    if (d.seq !== 2) return d;
    const b = C.unb64(d.data);
    b[5] ^= 1;
    return { ...d, data: C.b64(b) };
  };
  for (const [tamper, why] of [
    [flip, /could not be decrypted/],
    [(d) => (d.seq === 1 ? { ...d, seq: 2 } : d), /out of order|could not be decrypted/],
    [(d) => (d.seq === 0 ? { ...d, from: 'alice' } : d), null],
  ]) {
    const { out } = await transfer(bytes(CHUNK_SIZE * 4), { tamper });
    if (!why) continue;
    assert.equal(of(out, 'file-complete').length, 0);
    const f = of(out, 'file-failed');
    assert.equal(f.length, 1);
    assert.match(f[0].text, why);
    assert.ok(frames(out).some((x) => x.cmd === 'file-cancel' && x.data.from === 'alice'));
  }
  // A chunk sealed for another transfer (same key, another tid in the AAD) does not open.
  const alice = new Transfers(C, { me: () => 'alice' });
  const bob = new Transfers(C, { me: () => 'bobby' });
  const p = await alice.prepare({ to: 'bobby', name: 'a', type: '', bytes: bytes(10) });
  await bob.offer('alice', 'bobby', false, { ...p.file, tid: 'other' });
  const [chunk] = frames(await alice.accepted(p.tid));
  const out = await bob.chunk({ ...chunk.data, tid: 'other', from: 'alice' });
  assert.match(of(out, 'file-failed')[0].text, /could not be decrypted/);
});

test('a file whose bytes do not have the announced hash is not shown', async () => {
  const alice = new Transfers(C, { me: () => 'alice' });
  const bob = new Transfers(C, { me: () => 'bobby' });
  const p = await alice.prepare({ to: 'bobby', name: 'x.bin', type: '', bytes: bytes(100) });
  await bob.offer('alice', 'bobby', false, { ...p.file, sha256: '0'.repeat(64) });
  const [chunk] = frames(await alice.accepted(p.tid));
  const out = await bob.chunk({ ...chunk.data, from: 'alice' });
  assert.equal(of(out, 'file-complete').length, 0);
  assert.match(of(out, 'file-failed')[0].text, /SHA-256 differs/);
});

test('chunks that come before their offer are kept (a window of them) and read once it is', async () => {
  const alice = new Transfers(C, { me: () => 'alice' });
  const bob = new Transfers(C, { me: () => 'bobby' });
  const data = bytes(CHUNK_SIZE * 2 + 5);
  const p = await alice.prepare({ to: 'bobby', name: 'early', type: '', bytes: data });
  for (const f of frames(await alice.accepted(p.tid))) assert.deepEqual(await bob.chunk({ ...f.data, from: 'alice' }), []);
  const out = await bob.offer('alice', 'bobby', false, p.file);
  assert.deepEqual(of(out, 'file-complete')[0].bytes, data);
  assert.equal(frames(out).filter((f) => f.cmd === 'file-ack').length, 3);
});

test('cancel on either side: the frame the contract names, and the row fails', async () => {
  const alice = new Transfers(C, { me: () => 'alice' });
  const bob = new Transfers(C, { me: () => 'bobby' });
  const p = await alice.prepare({ to: 'bobby', name: 'c', type: '', bytes: bytes(CHUNK_SIZE * 8) });
  await bob.offer('alice', 'bobby', false, p.file);
  await alice.accepted(p.tid);
  const mine = await alice.cancel('out', p.tid);
  assert.deepEqual(frames(mine)[0], { cmd: 'file-cancel', user: 'alice', data: { tid: p.tid, reason: 'alice cancelled the file.' } });
  assert.equal(of(mine, 'file-failed')[0].row, rowOf('out', p.tid));
  const theirs = await bob.cancelled({ from: 'alice', tid: p.tid, reason: 'alice cancelled the file.' });
  assert.match(of(theirs, 'file-failed')[0].text, /alice cancelled the file/);

  const q = await alice.prepare({ to: 'bobby', name: 'd', type: '', bytes: bytes(10) });
  await bob.offer('alice', 'bobby', false, q.file);
  const stop = await bob.cancel('in', q.tid, 'alice');
  assert.deepEqual(frames(stop)[0], { cmd: 'file-cancel', user: 'bobby', data: { tid: q.tid, from: 'alice' } });
  assert.equal(of(stop, 'file-failed')[0].row, rowOf('in', q.tid, 'alice'));
  await alice.accepted(q.tid);
  const st = await alice.status(q.tid, 'bobby', 'cancelled', 'bobby cancelled the file.');
  assert.equal(of(st, 'file-failed')[0].text, 'bobby cancelled the file.');
});

test('a key change stops what goes to and comes from that name; a lost connection ends all', async () => {
  const alice = new Transfers(C, { me: () => 'alice' });
  const p = await alice.prepare({ to: 'bobby', name: 'k', type: '', bytes: bytes(10) });
  await alice.accepted(p.tid);
  const out = await alice.keyChanged('bobby');
  assert.equal(frames(out)[0].cmd, 'file-cancel');
  assert.match(of(out, 'file-failed')[0].text, /bobby's key changed/);
  await alice.prepare({ to: 'all', name: 'k', type: '', bytes: bytes(10) });
  assert.match(of(await alice.closed(), 'file-failed')[0].text, /connection was lost/);
});

test('images: previewed only when the declared type and the magic bytes agree', () => {
  const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]);
  const jpg = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0]);
  const gif = C.utf8('GIF89a....');
  const webp = C.utf8('RIFF....WEBPVP8 ');
  assert.equal(sniffImage(png), 'image/png');
  assert.equal(sniffImage(jpg), 'image/jpeg');
  assert.equal(sniffImage(gif), 'image/gif');
  assert.equal(sniffImage(webp), 'image/webp');
  assert.equal(previewType('image/png', png), 'image/png');
  assert.equal(previewType('image/jpeg', png), '');
  assert.equal(previewType('image/svg+xml', C.utf8('<svg')), '');
  assert.equal(previewType('text/html', gif), '');
});

test('names: no path, no control or direction characters, bounded', () => {
  assert.equal(sanitizeName('../../etc/passwd'), 'passwd');
  assert.equal(sanitizeName('C:\\Users\\x\\map.jpg'), 'map.jpg');
  assert.equal(sanitizeName('evil\u202egpj.exe'), 'evilgpj.exe');
  assert.equal(sanitizeName('a\nb\u0000c'), 'abc');
  assert.equal(sanitizeName('...hidden'), 'hidden');
  assert.equal(sanitizeName(''), 'file');
  const long = sanitizeName('x'.repeat(500) + '.pdf');
  assert.equal([...long].length, 120);
  assert.ok(long.endsWith('.pdf'));
});

test('offers: malformed descriptions are refused', () => {
  const ok = { tid: 'f1', name: 'a', type: 'text/plain', size: 70000, chunks: 3, 'chunk-size': CHUNK_SIZE, sha256: 'a'.repeat(64), key: 'AAAA' };
  assert.ok(parseOffer(ok));
  for (const bad of [{ chunks: 2 }, { size: -1 }, { 'chunk-size': CHUNK_SIZE + 1 }, { tid: 'a b' }, { sha256: 'xyz' }, { size: 2 ** 40 }, { name: 5 }]) {
    assert.equal(parseOffer({ ...ok, ...bad }), null, JSON.stringify(bad));
  }
});

test('to all: over once each recipient the page saw has an outcome; each outcome is a line', async () => {
  const alice = new Transfers(C, { me: () => 'alice' });
  const p = await alice.prepare({ to: 'all', name: 'r', type: '', bytes: bytes(10) });
  await alice.offered(p.tid, ['bobby', 'carol']);
  await alice.accepted(p.tid);
  const first = await alice.status(p.tid, 'bobby', 'delivered');
  assert.deepEqual(first.map((o) => [o.type, o.text]), [['file-note', 'Delivered to bobby.']]);
  const second = await alice.status(p.tid, 'carol', 'failed', 'carol left: the file was not delivered to carol.');
  assert.deepEqual(second.map((o) => [o.type, o.text]), [['file-note', 'carol left: the file was not delivered to carol.'], ['file-sent', 'Sent to 1 of 2.']]);
  assert.deepEqual(await alice.status(p.tid, 'dave', 'delivered'), [], 'over: a late status is ignored');
});

test('to all in a partial room: outcomes counted against the room, a line only for a listed one who did not get it, never "everybody"', async () => {
  const alice = new Transfers(C, { me: () => 'alice' });
  const p = await alice.prepare({ to: 'all', name: 'r', type: '', bytes: bytes(10) });
  await alice.offered(p.tid, ['bobby', 'carol'], 1000);
  assert.equal(of(await alice.accepted(p.tid), 'file-progress')[0].text, 'Sending… to about 1,000 people');
  const first = await alice.status(p.tid, 'bobby', 'delivered');
  assert.deepEqual(first.map((o) => [o.type, o.text, o.done, o.total]), [['file-progress', 'Sent to everybody: 1 of about 1,000 have it so far.', 1, 1000]]);
  assert.deepEqual(await alice.status(p.tid, 'bobby', 'delivered'), [], 'a listed one counts once');
  const second = await alice.status(p.tid, 'carol', 'failed', 'carol left: the file was not delivered to carol.');
  assert.deepEqual(second.map((o) => [o.type, o.text]), [
    ['file-note', 'carol left: the file was not delivered to carol.'],
    ['file-progress', 'Sent to everybody: 1 of about 1,000 have it so far, 1 did not get it.'],
  ]);
  // Everybody the page listed has an outcome: 998 more are in the room.
  for (let i = 0; i < 997; i++) {
    const out = await alice.status(p.tid, `u${i}`, 'delivered');
    assert.deepEqual(out.map((o) => o.type), ['file-progress'], `u${i}: counted, no line, not over`);
  }
  const last = await alice.status(p.tid, 'u997', 'failed', 'u997 left: the file was not delivered to u997.');
  assert.deepEqual(last.map((o) => [o.type, o.text]), [['file-sent', 'Sent: 998 have it; 2 did not get it.']]);
  assert.deepEqual(await alice.status(p.tid, 'u998', 'delivered'), [], 'over: a late status is ignored');
});

test('to all in a partial room: the count reached is not the end while a listed recipient has no outcome', async () => {
  const alice = new Transfers(C, { me: () => 'alice' });
  const p = await alice.prepare({ to: 'all', name: 'r', type: '', bytes: bytes(CHUNK_SIZE * 2) });
  await alice.offered(p.tid, ['bobby'], 3);
  await alice.accepted(p.tid);
  const w = await alice.window(p.tid, 1);
  assert.equal(of(w, 'file-progress')[0].text, 'Sending… 32 KB of 64 KB (as far as the slowest recipient) to about 3 people');
  for (const n of ['u1', 'u2', 'u3']) assert.equal(of(await alice.status(p.tid, n, 'delivered'), 'file-sent').length, 0, n);
  const more = await alice.status(p.tid, 'u4', 'cancelled');
  assert.equal(of(more, 'file-note').length, 0, 'an unlisted one gets no line');
  assert.deepEqual(of(more, 'file-progress').map((o) => [o.text, o.done, o.total]), [['Sent to everybody: 3 of about 4 have it so far, 1 did not get it.', 4, 4]], 'more than the count said: never beyond the whole');
  const end = await alice.status(p.tid, 'bobby', 'delivered');
  assert.deepEqual(end.map((o) => [o.type, o.text]), [['file-sent', 'Sent: 4 have it; 1 did not get it.']]);
});

test('to all in a partial room: only failures so far say nobody has it yet', async () => {
  const alice = new Transfers(C, { me: () => 'alice' });
  const p = await alice.prepare({ to: 'all', name: 'r', type: '', bytes: bytes(10) });
  await alice.offered(p.tid, [], 2);
  await alice.accepted(p.tid);
  assert.equal(of(await alice.status(p.tid, 'u1', 'failed'), 'file-progress')[0].text, 'Sending… to about 2 people; nobody has it yet, 1 did not get it');
  const end = await alice.status(p.tid, 'u2', 'failed');
  assert.deepEqual(end.map((o) => [o.type, o.text]), [['file-failed', 'Nobody received it.']]);
});
