// Version 2 (docs/PROTOCOL.md, "Version 2") in real browsers against the real server: a
// long mixed-script message byte-exact, a forged message shown flagged and never its text,
// a kicked page that cannot read the room afterwards, and the original 0.9 page (from
// ../shared/original, loaded at run time, never copied here) still chatting after a
// rotation. A member in node (peer.mjs: the page's own Session over a WebSocket of its
// own) forges frames and witnesses what the room sends.
// One engine: DYSPATCHER_ENGINES=chromium node --test tests/browser/v2.test.mjs

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join as joinPath } from 'node:path';
import * as C from '../../www/crypto.js';
import * as E from '../../www/envelope.js';
import { forEachEngine, noProblems, startServer, vectors, vectorText, artifact, BIN, ROOT, sleep, joinChat, WAIT, KEYGEN } from './helpers.mjs';
import { Peer } from './peer.mjs';

const T = 240000;
const ALICE = { priv: 'alice.pkcs8.pem', pub: 'alice.pub.pem' };
const BOB = { priv: 'bob.pkcs8.pem', pub: 'bob.pub.pem' };

// Over 20,000 characters: emoji with skin-tone modifiers and a ZWJ sequence, CJK, Hangul,
// Arabic and Hebrew (right to left), combining marks, Cyrillic. About 40 KB of UTF-8.
const CHUNK = 'Grüße 👍🏽 👩🏾‍💻 漢字かな 한국어 مرحبا שלום e\u0301 a\u0308\u0323 Привет 123 ';
const LONG = ('START ' + CHUNK.repeat(Math.ceil(20000 / [...CHUNK].length)) + 'END').trim();

// The original page, if this machine has it (it is not part of the repository): in
// ../shared/original beside the repository (or beside the worktrees' folder), or where
// $DYSPATCHER_ORIGINAL says.
const isOriginal = (dir) => existsSync(joinPath(dir, 'dyspatcher.html')) && existsSync(joinPath(dir, 'dyspatcher.js'));
const ORIGINAL = [process.env.DYSPATCHER_ORIGINAL, joinPath(ROOT, '..', 'shared', 'original'), joinPath(ROOT, '..', '..', 'shared', 'original')].filter(Boolean).find(isOriginal);
const hasOriginal = !!ORIGINAL;
if (!hasOriginal) console.log('# the original 0.9 page is not here (../shared/original): its test is skipped');

const servers = [];
before(() => assert.ok(existsSync(BIN), `no server binary at ${BIN}: run cargo build, or set DYSPATCHER_BIN`));
after(async () => {
  for (const s of servers) await s.stop();
});

const flaggedText = (who) => `A message claiming to be from ${who} could not be verified and is not shown.`;

forEachEngine((t) => {
  async function server(args = []) {
    const s = await startServer(args);
    servers.push(s);
    return s;
  }

  async function open(url, viewport = { width: 1280, height: 800 }, options = {}) {
    const page = await t.open(null, { viewport, ...options });
    page.setDefaultTimeout(WAIT);
    await page.goto(url);
    return page;
  }

  async function joined(page, name, keys) {
    await joinChat(page, name, keys);
    await page.locator('#state', { hasText: `Connected as ${name}` }).waitFor({ timeout: KEYGEN });
  }

  // Puts `text` in the box as a paste does (and as typing does for what the driver can
  // type), then Enter.
  async function say(page, text) {
    const box = page.locator('#text');
    await box.fill(text);
    await box.press('Enter');
  }

  const wsUrl = (srv) => srv.url.replace(/\/$/, '') + '/ws';
  const msgs = (page, text) => page.locator('#log li.msg', { hasText: text });

  t.test('a 20,000-character mixed-script message arrives byte-exact, 1:1 and to all; the counter shows near the limit', { timeout: T }, async () => {
    assert.ok([...LONG].length >= 20000);
    const srv = await server();
    const a = await open(srv.url);
    const b = await open(srv.url, { width: 360, height: 640 });
    await joined(a, 'alice', ALICE);
    await joined(b, 'bobby', BOB);
    await a.locator('#users-list li[data-name="bobby"]').waitFor({ timeout: WAIT });

    await say(a, '@bobby ' + LONG);
    const got = b.locator('#log li.msg.other', { hasText: 'START' });
    await got.waitFor({ timeout: WAIT });
    assert.equal(await got.locator('.who').textContent(), 'alice → you');
    const text = await got.locator('.text').textContent();
    assert.equal(text.length, LONG.length);
    assert.ok(text === LONG, 'the text arrived byte-exact');
    await a.locator('#log li.msg.mine .status', { hasText: 'sent' }).waitFor({ timeout: WAIT });

    await say(b, '@all ' + LONG.replace('START', 'ALLSTART'));
    const all = a.locator('#log li.msg.other', { hasText: 'ALLSTART' });
    await all.waitFor({ timeout: WAIT });
    assert.equal(await all.locator('.who').textContent(), 'bobby → all');
    assert.ok((await all.locator('.text').textContent()) === LONG.replace('START', 'ALLSTART'));

    // Near max-text (65,536 bytes) the help line counts down; under it, nothing.
    const box = a.locator('#text');
    await box.fill('@bobby 🙂' + '漢'.repeat(21000));
    assert.match(await a.locator('#text-help').textContent(), /\b5?\d+ characters left/);
    await box.fill('@bobby 🙂' + '漢'.repeat(22000));
    assert.match(await a.locator('#text-help').textContent(), /\d+ characters too many/);
    await box.fill('ok'); // typed: the box and its help line as after typing
    assert.doesNotMatch(await a.locator('#text-help').textContent(), /characters/);

    await a.screenshot({ path: artifact(t.engine, 'v2-long-1280x800.png') });
    await b.screenshot({ path: artifact(t.engine, 'v2-long-360x640.png') });
    await noProblems(a, b);
    await a.close();
    await b.close();
  });

  t.test('a forged message (another sender claimed, or a broken signature) shows flagged, never its text', { timeout: T }, async () => {
    const srv = await server();
    const a = await open(srv.url);
    const b = await open(srv.url, { width: 360, height: 640 });
    await joined(a, 'alice', ALICE);
    await joined(b, 'bobby', BOB);
    const mallory = await Peer.join(wsUrl(srv), 'mallory', vectorText('small2048.pkcs8.pem'));
    await b.locator('#log li.notice', { hasText: 'mallory joined' }).waitFor({ timeout: WAIT });
    const bobKey = await mallory.peerKey(vectors.keys.bob.keyid);

    // A frame to bobby whose envelope says `from`, signed by mallory's key; `breakSig`
    // flips a byte of the signature.
    let n = 0;
    async function forge(from, text, { breakSig = false } = {}) {
      const id = `forged${++n}`;
      let sealed = await E.seal(C, mallory.keys, { from, to: 'bobby', id, time: Date.now(), epoch: mallory.epoch, text });
      if (breakSig) {
        sealed = new Uint8Array(sealed);
        sealed[10] ^= 0x01;
      }
      const data = await E.hybrid(C, bobKey, sealed);
      mallory.sendRaw(JSON.stringify({ cmd: 'message', user: 'mallory', data: { v: 2, to: 'bobby', id, ...data } }));
      await mallory.frame((f) => f.data && f.data.id === id && (f.data.code === 'chat-ack' || f.data.code === 'chat-undelivered'), `a report of ${id}`);
    }

    await forge('alice', 'FORGED claim of alice');
    await forge('mallory', 'FORGED broken signature', { breakSig: true });
    await forge('mallory', 'GENUINE hello from mallory');
    await msgs(b, 'GENUINE hello from mallory').waitFor({ timeout: WAIT });
    const flagged = await b.locator('#log li.flagged').evaluateAll((els) => els.map((e) => e.querySelector('span').textContent));
    assert.deepEqual(flagged, [flaggedText('alice'), flaggedText('mallory')]);
    assert.equal(await msgs(b, 'FORGED').count(), 0);
    assert.ok(!(await b.locator('#log').textContent()).includes('FORGED'), 'the forged text is nowhere in the log');
    assert.equal(await msgs(b, 'GENUINE').locator('.who').textContent(), 'mallory → you');

    await b.screenshot({ path: artifact(t.engine, 'v2-flagged-360x640.png') });
    // The same line on a desktop, and both in dark mode.
    const d = await open(srv.url, { width: 1280, height: 800 }, { dark: true });
    const p = await open(srv.url, { width: 360, height: 640 }, { dark: true });
    await joined(d, 'darkdesk');
    await joined(p, 'darkphone');
    const keyOf = async (name) => {
      const f = await mallory.frame((f) => f.data && f.data.code === 'chat-presence' && f.data.changes.some((c) => c[1] === name), `${name} joined`);
      return mallory.peerKey(f.data.changes.find((c) => c[1] === name)[2]);
    };
    for (const [page, name] of [[d, 'darkdesk'], [p, 'darkphone']]) {
      const key = await keyOf(name);
      const sealed = await E.seal(C, mallory.keys, { from: 'alice', to: name, id: `forged-${name}`, time: Date.now(), epoch: mallory.epoch, text: 'FORGED' });
      mallory.sendRaw(JSON.stringify({ cmd: 'message', user: 'mallory', data: { v: 2, to: name, id: `forged-${name}`, ...(await E.hybrid(C, key, sealed)) } }));
      await page.locator('#log li.flagged', { hasText: flaggedText('alice') }).waitFor({ timeout: WAIT });
    }
    await d.screenshot({ path: artifact(t.engine, 'v2-flagged-dark-1280x800.png') });
    await p.screenshot({ path: artifact(t.engine, 'v2-flagged-dark-360x640.png') });
    await a.screenshot({ path: artifact(t.engine, 'v2-users-1280x800.png') });
    await noProblems(a, b, d, p);
    await mallory.close();
    for (const x of [a, b, d, p]) await x.close();
  });

  t.test('a kicked page reads nothing of the room afterwards; the epoch changed', { timeout: T }, async () => {
    const srv = await server();
    const a = await open(srv.url);
    const b = await open(srv.url, { width: 360, height: 640 });
    await joined(a, 'alice', ALICE);
    await joined(b, 'bobby', BOB);
    const witness = await Peer.join(wsUrl(srv), 'witness', vectorText('small2048.pkcs8.pem'));
    const before = witness.epoch;
    assert.ok(before >= 1);

    await say(a, '@all before the kick');
    await msgs(b, 'before the kick').waitFor({ timeout: WAIT });

    srv.send('/kick bobby');
    await b.locator('#state', { hasText: 'Disconnected' }).waitFor({ timeout: WAIT });
    await witness.until(() => witness.epoch > before, 'a new epoch after the kick');
    await a.locator('#log li.notice', { hasText: 'bobby left' }).waitFor({ timeout: WAIT });

    await say(a, '@all after the kick');
    const seen = await witness.until(() => witness.shown().find((m) => m.text === 'after the kick'), 'the message after the kick');
    assert.equal(seen.from, 'alice');
    const frame = witness.frames.find((f) => f.cmd === 'message' && f.data.from === 'alice' && f.data.epoch === witness.epoch);
    assert.ok(frame, 'sent under the new epoch');
    await sleep(1000);
    assert.equal(await msgs(b, 'after the kick').count(), 0);
    assert.equal(await msgs(b, 'before the kick').count(), 1);
    await b.screenshot({ path: artifact(t.engine, 'v2-kicked-360x640.png') });
    await noProblems(a, b);
    await witness.close();
    await a.close();
    await b.close();
  });

  t.test('the original 0.9 page still sends and receives @all with a version-2 page after a rotation', { timeout: T, skip: hasOriginal ? false : 'no original 0.9 page in ../shared/original (set DYSPATCHER_ORIGINAL)' }, async () => {
    // The original page from a server of its own, its port token replaced as 0.9 did.
    let wsPort = 0;
    const http = createServer((req, res) => {
      const name = req.url === '/' ? 'dyspatcher.html' : req.url.slice(1);
      if (!['dyspatcher.html', 'dyspatcher.js'].includes(name)) return res.writeHead(404).end();
      let body = readFileSync(joinPath(ORIGINAL, name), 'utf8');
      if (name.endsWith('.html')) body = body.replace('__WEBSOCKET_PORT_TOKEN__', `${wsPort},false`);
      res.writeHead(200, { 'Content-Type': name.endsWith('.html') ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8' }).end(body);
    });
    await new Promise((r) => http.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${http.address().port}`;
    try {
      const srv = await server(['--allowed-origin', origin]);
      wsPort = Number(/WebSocket for 0\.9 clients: ws:\/\/[^\s]*:(\d+)\//.exec(srv.stdout)[1]);
      const old = await open(origin + '/');
      const a = await open(srv.url);
      await joined(a, 'alice', ALICE);
      // The original makes its 4096-bit keys on the page's thread, then offers to connect.
      await old.locator('#chat-connect.active').waitFor({ timeout: KEYGEN });
      await old.locator('#user').fill('oldie');
      await old.locator('#user').press('Enter');
      await old.locator('#chat-message-txt').waitFor({ timeout: WAIT });
      await a.locator('#users-list li[data-name="oldie"] .badge.old', { hasText: '0.9 client' }).waitFor({ timeout: WAIT });
      const oldKey = () => old.evaluate(async () => btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.exportKey('raw', CHAT.CRYPTO.keyCache.aeskey)))));
      await old.locator('#userslist li', { hasText: 'alice' }).element({ timeout: WAIT, visible: false });
      const keyBefore = await oldKey();

      // Someone leaves: a new epoch, and the original gets a fresh config with a new key.
      const leaver = await Peer.join(wsUrl(srv), 'leaver', vectorText('small2048.pkcs8.pem'));
      await old.locator('#userslist li', { hasText: 'leaver' }).element({ timeout: WAIT, visible: false });
      await leaver.close();
      await a.locator('#log li.notice', { hasText: 'leaver left' }).waitFor({ timeout: WAIT });
      const t0 = Date.now();
      while ((await oldKey()) === keyBefore) {
        assert.ok(Date.now() - t0 < WAIT, 'the original page received a new group key');
        await sleep(100);
      }

      await say(a, '@all hello old friend after the rotation');
      await old.locator('#receivedMessages li', { hasText: 'hello old friend after the rotation' }).waitFor({ timeout: WAIT });
      await old.locator('#chat-message-txt').fill('@all greetings from 0.9 after the rotation');
      await old.locator('#chat-message-txt').press('Enter');
      const got = msgs(a, 'greetings from 0.9 after the rotation');
      await got.waitFor({ timeout: WAIT });
      assert.equal(await got.locator('.who').textContent(), 'oldie → all');
      assert.equal(await got.locator('.legacy').textContent(), '0.9 client');
      // 1:1 both ways: a 0.9 frame to it (one RSA block), its 0.9 frame to the v2 page.
      await say(a, '@oldie just for you');
      await old.locator('#receivedMessages li', { hasText: 'just for you' }).waitFor({ timeout: WAIT });
      await old.locator('#chat-message-txt').fill('@alice just for alice');
      await old.locator('#chat-message-txt').press('Enter');
      const one = msgs(a, 'just for alice');
      await one.waitFor({ timeout: WAIT });
      assert.equal(await one.locator('.who').textContent(), 'oldie → you');
      assert.equal(await one.locator('.legacy').textContent(), '0.9 client');
      await a.screenshot({ path: artifact(t.engine, 'v2-original-1280x800.png') });
      await old.screenshot({ path: artifact(t.engine, 'v2-original-page-1280x800.png') });
      await noProblems(a);
      await a.close();
      await old.close();
    } finally {
      await new Promise((r) => http.close(r));
    }
  });
});
