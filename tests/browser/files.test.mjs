// Files over version 2 (docs/PROTOCOL.md, "Version 2 — files") in real browsers against
// the real server: an image sent 1:1 shown as a preview at the recipient; a file sent to
// everybody saved by another page with the same bytes; a cancel from each side; a file over
// the server's cap refused with its reason in the page. Screenshots of the attach button,
// progress rows and previews, at phone and desktop size, light and dark.
// One engine: DYSPATCHER_ENGINES=chromium node --test tests/browser/files.test.mjs

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { forEachEngine, noProblems, startServer, artifact, BIN, joinChat, WAIT, KEYGEN } from './helpers.mjs';

const T = 300000;
const ALICE = { priv: 'alice.pkcs8.pem', pub: 'alice.pub.pem' };
const BOB = { priv: 'bob.pkcs8.pem', pub: 'bob.pub.pem' };

// ---- files to send ------------------------------------------------------------------------

const DIR = mkdtempSync(join(tmpdir(), 'dysp-files-'));

function crc32(b) {
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

// A real PNG of w×h pixels (a colour gradient), so that the browser can decode it.
function png(w, h) {
  const chunk = (type, data) => {
    const t = Buffer.concat([Buffer.from(type), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(t));
    return Buffer.concat([len, t, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) raw.set([(x * 255) / w, (y * 255) / h, 160], y * (w * 3 + 1) + 1 + x * 3);
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

function file(name, bytes) {
  const path = join(DIR, name);
  writeFileSync(path, bytes);
  return { path, bytes };
}

const IMAGE = file('map.png', png(320, 200));
const REPORT = file('report 2026.pdf', randomBytes(300 * 1024));
const BIG = file('survey.bin', randomBytes(20 * 1024 * 1024)); // a few seconds at the server's file budget
const OVER = file('scan.bin', randomBytes(2 * 1024 * 1024 + 17));

const servers = [];
before(() => assert.ok(existsSync(BIN), `no server binary at ${BIN}: run cargo build, or set DYSPATCHER_BIN`));
after(async () => {
  for (const s of servers) await s.stop();
});

forEachEngine((t) => {
  async function server(args = []) {
    const s = await startServer(args);
    servers.push(s);
    return s;
  }

  async function open(url, viewport, options = {}) {
    const page = await t.open(null, { viewport, ...options });
    page.setDefaultTimeout(WAIT);
    await page.goto(url);
    return page;
  }

  async function joined(page, name, keys) {
    await joinChat(page, name, keys);
    await page.locator('#state', { hasText: `Connected as ${name}` }).waitFor({ timeout: KEYGEN });
  }

  // Two pages joined: alice at desktop size, bobby at phone size.
  async function pair(srv, options = {}) {
    const a = await open(srv.url, { width: 1280, height: 800 }, options);
    const b = await open(srv.url, { width: 360, height: 640 }, options);
    await joined(a, 'alice', ALICE);
    await joined(b, 'bobby', BOB);
    await a.locator('#users-list li[data-name="bobby"]').waitFor({ timeout: WAIT });
    return { a, b };
  }

  const fileRow = (page, name) => page.locator('#log li.msg.file', { hasText: name }).last();
  const attach = (page, f) => page.locator('#file-input').setInputFiles(f.path);

  t.test('an image sent 1:1 shows as a preview at the recipient once verified; the sender sees it sent', { timeout: T }, async () => {
    const srv = await server();
    const { a, b } = await pair(srv);
    await a.locator('#to').selectOption('bobby');
    await attach(a, IMAGE);
    const row = fileRow(b, 'map.png');
    await row.locator('img.preview').waitFor({ timeout: WAIT });
    const img = await row.locator('img.preview').evaluate((e) => ({ w: e.naturalWidth, h: e.naturalHeight, src: e.src.slice(0, 5), alt: e.alt, done: e.complete }));
    assert.deepEqual(img, { w: 320, h: 200, src: 'blob:', alt: 'Image map.png', done: true });
    assert.match(await row.locator('.fstate').textContent(), /Received and verified/);
    assert.match(await row.locator('.meta').textContent(), /alice → you/);
    // The bytes behind the preview are the file's.
    const got = await row.locator('img.preview').evaluate(async (e) => {
      const c = document.createElement('canvas');
      c.width = e.naturalWidth;
      c.height = e.naturalHeight;
      const g = c.getContext('2d');
      g.drawImage(e, 0, 0);
      return Array.from(g.getImageData(0, 0, 1, 1).data.slice(0, 3));
    });
    assert.deepEqual(got, [0, 0, 160]);
    await fileRow(a, 'map.png').locator('.fstate', { hasText: 'Sent: bobby has it.' }).waitFor({ timeout: WAIT });
    // Nothing of it went to the log as text, nor to a third party's eyes.
    assert.equal(await a.locator('#log li.msg.file').count(), 1);
    await a.screenshot({ path: artifact(t.engine, 'file-sent-1280x800.png') });
    await b.screenshot({ path: artifact(t.engine, 'file-preview-360x640.png') });

    // A pasted image (a screenshot) and a dropped file go the same way.
    const pasted = await a.evaluate((b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const paste = new DataTransfer();
      paste.items.add(new File([bytes], 'image.png', { type: 'image/png' }));
      // An engine may give a script-made paste event an empty clipboard (Firefox does):
      // then only a real paste could be tested, which no driver performs.
      const ev = new ClipboardEvent('paste', { clipboardData: paste, bubbles: true, cancelable: true });
      const carries = !!(ev.clipboardData && (ev.clipboardData.files.length || ev.clipboardData.items.length));
      document.getElementById('text').dispatchEvent(ev);
      const drop = new DataTransfer();
      drop.items.add(new File(['dropped text'], 'notes.txt', { type: 'text/plain' }));
      const chat = document.getElementById('chat');
      for (const type of ['dragenter', 'dragover', 'drop']) chat.dispatchEvent(new DragEvent(type, { dataTransfer: drop, bubbles: true, cancelable: true }));
      return carries;
    }, IMAGE.bytes.toString('base64'));
    if (pasted) await fileRow(b, 'image.png').locator('img.preview').waitFor({ timeout: WAIT });
    else console.log(`# ${t.engine}: a script-made paste event carries no clipboard here: the pasted image is not checked`);
    await fileRow(b, 'notes.txt').locator('a.fsave').waitFor({ timeout: WAIT });
    assert.equal(await a.locator('#text').inputValue(), '', 'a pasted file is not text');
    assert.equal(await a.locator('#chat.dropping').count(), 0);
    await noProblems(a, b);
  });

  t.test('a file sent to everybody is saved by another page with the same bytes and its name (dark)', { timeout: T }, async () => {
    const srv = await server();
    const { a, b } = await pair(srv, { dark: true });
    assert.equal(await a.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches), true);
    await a.locator('#to').selectOption('all');
    await attach(a, REPORT);
    const row = fileRow(b, 'report 2026.pdf');
    await row.locator('a.fsave').waitFor({ timeout: WAIT });
    assert.match(await row.locator('.meta').textContent(), /alice → all/);
    assert.equal(await row.locator('a.fsave').getAttribute('download'), 'report 2026.pdf');
    await row.locator('a.fsave').click();
    const saved = await b.nextDownload();
    assert.equal(saved.name, 'report 2026.pdf');
    assert.ok(Buffer.from(readFileSync(saved.path)).equals(REPORT.bytes), 'the saved file has the bytes sent');
    await fileRow(a, 'report 2026.pdf').locator('.fstate', { hasText: 'every recipient has it' }).waitFor({ timeout: WAIT });
    // An image to everybody, previewed in the dark layout too.
    await attach(a, IMAGE);
    await fileRow(b, 'map.png').locator('img.preview').waitFor({ timeout: WAIT });
    await a.screenshot({ path: artifact(t.engine, 'file-dark-1280x800.png') });
    await b.screenshot({ path: artifact(t.engine, 'file-dark-360x640.png') });
    // A large one in progress, then cancelled by its sender.
    await attach(a, BIG);
    await waitProgress(fileRow(b, 'survey.bin'));
    await a.screenshot({ path: artifact(t.engine, 'file-progress-dark-1280x800.png') });
    await b.screenshot({ path: artifact(t.engine, 'file-progress-dark-360x640.png') });
    await fileRow(a, 'survey.bin').locator('button.fcancel').click();
    await fileRow(b, 'survey.bin').locator('.fstate', { hasText: 'alice cancelled the file' }).waitFor({ timeout: WAIT });
    await noProblems(a, b);
  });

  t.test('cancel: by the sender (the recipient is told) and by the recipient (the sender is told)', { timeout: T }, async () => {
    const srv = await server();
    const { a, b } = await pair(srv);
    await a.locator('#to').selectOption('bobby');

    await attach(a, BIG);
    const inRow = fileRow(b, 'survey.bin');
    await inRow.locator('.fstate', { hasText: 'Receiving…' }).waitFor({ timeout: WAIT });
    await waitProgress(inRow);
    await a.screenshot({ path: artifact(t.engine, 'file-progress-1280x800.png') });
    await b.screenshot({ path: artifact(t.engine, 'file-progress-360x640.png') });
    await fileRow(a, 'survey.bin').locator('button.fcancel').click();
    await fileRow(a, 'survey.bin').locator('.fstate', { hasText: 'Cancelled' }).waitFor({ timeout: WAIT });
    await inRow.locator('.fstate', { hasText: 'alice cancelled the file' }).waitFor({ timeout: WAIT });
    assert.equal(await inRow.locator('img, a.fsave').count(), 0, 'nothing of a cancelled file is shown');

    await attach(a, BIG);
    // The new line, still in progress (an ended one has a data-state).
    await b.locator('#log li.msg.file:not([data-state])', { hasText: 'survey.bin' }).waitFor({ timeout: WAIT });
    const inRow2 = fileRow(b, 'survey.bin');
    assert.equal(await b.locator('#log li.msg.file', { hasText: 'survey.bin' }).count(), 2);
    await waitProgress(inRow2);
    await inRow2.locator('button.fcancel').click();
    await inRow2.locator('.fstate', { hasText: 'Cancelled: you stopped this file' }).waitFor({ timeout: WAIT }).catch(async (e) => {
      throw new Error(`${e.message}: ${await inRow2.textContent()} / sender: ${await fileRow(a, 'survey.bin').textContent()}`);
    });
    await fileRow(a, 'survey.bin').locator('.fstate', { hasText: 'bobby cancelled the file' }).waitFor({ timeout: WAIT });
    // The chat goes on.
    await a.locator('#text').fill('still here');
    await a.locator('#text').press('Enter');
    await b.locator('#log li.msg.other', { hasText: 'still here' }).waitFor({ timeout: WAIT });
    await noProblems(a, b);
  });

  // Until a row's progress bar is past its start (some chunks arrived).
  async function waitProgress(row) {
    const t0 = Date.now();
    for (;;) {
      const v = await row.evaluate((e) => {
        const p = e.querySelector('progress');
        return p ? p.value / p.max : -1;
      });
      if (v > 0 && v < 1) return;
      if (v === -1 || Date.now() - t0 > WAIT) throw new Error(`${t.engine}: no progress (${v}): ${await row.textContent()}`);
      await new Promise((r) => setTimeout(r, 30));
    }
  }

  t.test('a file over the server\'s cap is refused before any chunk, with the reason in the page', { timeout: T }, async () => {
    const srv = await server(['--max-file-size', '2']);
    const { a, b } = await pair(srv);
    await a.locator('#to').selectOption('bobby');
    await attach(a, OVER);
    const row = fileRow(a, 'scan.bin');
    await row.locator('.fstate', { hasText: 'not sent' }).waitFor({ timeout: WAIT });
    const text = await row.locator('.fstate').textContent();
    assert.equal(text, 'The file is larger than this server accepts: not sent.', 'the server\'s reason');
    assert.equal(await row.locator('button.fcancel').count(), 0);
    assert.equal(await b.locator('#log li.msg.file').count(), 0, 'the recipient saw nothing of it');
    await a.screenshot({ path: artifact(t.engine, 'file-refused-1280x800.png') });
    await noProblems(a, b);
  });
});
