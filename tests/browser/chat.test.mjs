// The web client (www/) in every browser engine (engines.mjs) against the real server
// binary. Run from the repository root: node --test tests/browser/ (one engine:
// DYSPATCHER_ENGINES=firefox). The binary: $DYSPATCHER_BIN, default target/debug/dyspatcher.
// Screenshots go to tests/artifacts/<engine>/ (git-ignored).

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createHash, X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { forEachEngine, noProblems, startServer, vectors, vectorFile, artifact, BIN, sleep, joinChat as join, WAIT, KEYGEN } from './helpers.mjs';

const T = 240000; // per test: servers, browsers, key generation (seconds each in WebKitGTK), joins

// Mixed scripts, typed through each engine's keyboard; one more beyond the BMP (pasted).
const MIXED = 'Grüße, Привет, 你好, مرحبا, Γειά, नमस्ते';
const EMOJI = 'ça va? 🙂👍🏽 — 日本語';

const servers = [];

before(() => {
  assert.ok(existsSync(BIN), `no server binary at ${BIN}: run cargo build, or set DYSPATCHER_BIN`);
});

after(async () => {
  for (const s of servers) await s.stop();
});

forEachEngine((t) => {
  async function server(args = []) {
    const s = await startServer(args);
    servers.push(s);
    return s;
  }

  // Opens the page and waits for its keys (generated, unless custom keys are given).
  async function open(srv, viewport = { width: 1280, height: 800 }, options = {}) {
    const page = await t.open(null, { viewport, ...options });
    page.setDefaultTimeout(WAIT);
    await page.goto(srv.url);
    return page;
  }

  async function joined(page, as) {
    await page.locator('#state', { hasText: `Connected as ${as}` }).waitFor({ timeout: WAIT });
    assert.equal(await page.locator('#me-name').textContent(), as);
  }

  // On a phone the users list (and one's own keys) is collapsed: open it when needed.
  async function withUsers(page, fn) {
    const toggle = page.locator('#users-toggle');
    const opened = !(await page.locator('#users').isVisible());
    if (opened) await toggle.click();
    try {
      return await fn();
    } finally {
      if (opened) await toggle.click();
    }
  }

  // The whole Key ID the page shows for itself (expanding it on demand).
  const ownKeyId = (page) => withUsers(page, () => ownKeyIdShown(page));
  async function ownKeyIdShown(page) {
    const b = page.locator('#me-kid');
    const short = await b.textContent();
    assert.match(short, /^[0-9a-f]{12}$/);
    await b.click();
    const full = await b.textContent();
    await b.click();
    assert.match(full, /^[0-9a-f]{64}$/);
    assert.ok(full.startsWith(short));
    return full;
  }

  // The Key ID shown beside `name` in the users list: short, and whole on demand.
  const listedKeyId = (page, name) => withUsers(page, () => listedKeyIdShown(page, name));
  async function listedKeyIdShown(page, name) {
    const kid = page.locator(`#users-list li[data-name="${name}"] .kid`);
    await kid.waitFor({ timeout: WAIT });
    const short = await kid.textContent();
    await kid.click();
    const full = await kid.textContent();
    await kid.click();
    return { short, full };
  }

  async function say(page, text) {
    const box = page.locator('#text');
    await box.fill(text);
    await box.press('Enter');
  }

  const msg = (page, text) => page.locator('#log li.msg', { hasText: text });

  // The recipient chosen beside the box, and the text in the box.
  const recipient = async (page) => ({ to: await page.locator('#to').inputValue(), text: await page.locator('#text').inputValue() });

  async function shows(page, text, who) {
    const m = msg(page, text);
    await m.first().waitFor({ timeout: WAIT });
    if (who) assert.equal(await m.first().locator('.who').textContent(), who);
    return m;
  }

  const dark = (page) => page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches);

  t.test('two pages: keys, join, Key IDs, 1:1 and @all both ways, screenshots', { timeout: T }, async () => {
    const srv = await server();
    const a = await open(srv);
    const b = await open(srv, { width: 360, height: 640 });
    await b.locator('#keygen[data-state="done"]').waitFor({ timeout: KEYGEN });
    await b.screenshot({ path: artifact(t.engine, 'join-360x640.png') });
    await join(a, 'alice');
    await joined(a, 'alice');
    await join(b, 'bobby');
    await joined(b, 'bobby');

    // Each sees the other with the right Key ID, and the administrator marked.
    const ka = await ownKeyId(a);
    const kb = await ownKeyId(b);
    assert.notEqual(ka, kb);
    assert.deepEqual(await listedKeyId(b, 'alice'), { short: ka.slice(0, 12), full: ka });
    assert.deepEqual(await listedKeyId(a, 'bobby'), { short: kb.slice(0, 12), full: kb });
    assert.deepEqual(await listedKeyId(a, 'ADMIN'), { short: vectors.keys.admin.keyid.slice(0, 12), full: vectors.keys.admin.keyid });
    assert.match(await a.locator('#users-list li.admin').textContent(), /ADMIN\s*admin/i);
    await b.locator('#users-toggle').click();
    await b.screenshot({ path: artifact(t.engine, 'users-360x640.png') });
    await b.locator('#users-toggle').click();
    await a.locator('#log li.notice', { hasText: 'bobby joined' }).waitFor({ timeout: WAIT });

    // 1:1, alice -> bobby; typed first, "@bobby " is the recipient, and it stays chosen.
    await say(a, '@bobby hello bobby, <b>not bold</b>');
    await shows(b, 'hello bobby, <b>not bold</b>', 'alice → you');
    assert.equal(await b.locator('#log b').count(), 0, 'text is inserted as text, never HTML');
    await a.locator('#log li.msg.mine .status', { hasText: 'sent' }).waitFor({ timeout: WAIT });
    assert.deepEqual(await recipient(a), { to: 'bobby', text: '' });

    // bobby answers by clicking the message.
    await msg(b, 'hello bobby').click();
    assert.deepEqual(await recipient(b), { to: 'alice', text: '' });
    await b.locator('#text').pressSequentially('hi alice');
    await b.locator('#text').press('Shift+Enter');
    await b.locator('#text').pressSequentially('second line');
    await b.locator('#text').press('Enter');
    const two = await shows(a, 'hi alice', 'bobby → you');
    assert.equal(await two.locator('.text').textContent(), 'hi alice\nsecond line');

    // Mixed scripts, 1:1 both ways.
    await say(a, '@bobby ' + MIXED);
    assert.equal(await (await shows(b, MIXED, 'alice → you')).first().locator('.text').textContent(), MIXED);
    await say(b, '@alice ' + EMOJI);
    assert.equal(await (await shows(a, EMOJI, 'bobby → you')).first().locator('.text').textContent(), EMOJI);

    // @all both ways, each shown once.
    await say(a, '@all hello everyone');
    await shows(b, 'hello everyone', 'alice → all');
    await say(b, '@all hello from bobby');
    await shows(a, 'hello from bobby', 'bobby → all');
    await sleep(500); // the server's echo of one's own @all message must not show twice
    assert.equal(await msg(a, 'hello everyone').count(), 1);
    assert.equal(await msg(b, 'hello from bobby').count(), 1);
    await msg(b, 'hello from bobby').locator('.status', { hasText: 'sent' }).waitFor({ timeout: WAIT });
    await say(a, '@all to all: ' + EMOJI + ' ' + MIXED);
    assert.equal(await (await shows(b, 'to all: ', 'alice → all')).first().locator('.text').textContent(), 'to all: ' + EMOJI + ' ' + MIXED);
    await say(b, '@all for all: ' + MIXED + ' ' + EMOJI);
    assert.equal(await (await shows(a, 'for all: ', 'bobby → all')).first().locator('.text').textContent(), 'for all: ' + MIXED + ' ' + EMOJI);

    await a.screenshot({ path: artifact(t.engine, 'chat-1280x800.png') });
    await b.screenshot({ path: artifact(t.engine, 'chat-360x640.png') });
    assert.equal(await dark(a), false);
    await noProblems(a, b);
    await a.close();
    await b.close();
  });

  // Not every engine can switch its colour scheme once started (WebKitGTK's is a
  // MiniBrowser option): each of these browsers starts with the system's scheme dark.
  t.test('with the system in dark mode: the chat in both layouts, screenshots', { timeout: T }, async () => {
    const srv = await server();
    const a = await open(srv, { width: 1280, height: 800 }, { dark: true });
    const b = await open(srv, { width: 360, height: 640 }, { dark: true });
    assert.equal(await dark(a), true);
    assert.equal(await dark(b), true);
    // The page follows: its background is not the light one.
    const bg = await b.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(bg, 'rgb(255, 255, 255)');
    await join(a, 'alice');
    await joined(a, 'alice');
    await join(b, 'bobby');
    await joined(b, 'bobby');
    await say(a, '@bobby ' + MIXED);
    await shows(b, MIXED, 'alice → you');
    await say(b, '@all ' + EMOJI);
    await shows(a, EMOJI, 'bobby → all');
    await a.locator('#log li.msg.mine .status', { hasText: 'sent' }).waitFor({ timeout: WAIT });
    await b.locator('#log li.msg.mine .status', { hasText: 'sent' }).waitFor({ timeout: WAIT });
    await a.screenshot({ path: artifact(t.engine, 'chat-dark-1280x800.png') });
    await b.screenshot({ path: artifact(t.engine, 'chat-dark-360x640.png') });
    await b.locator('#users-toggle').click();
    await b.screenshot({ path: artifact(t.engine, 'users-dark-360x640.png') });
    await noProblems(a, b);
    await a.close();
    await b.close();
  });

  t.test('console @name shows in the page; a page message to the administrator shows on the console', { timeout: T }, async () => {
    const srv = await server();
    const a = await open(srv);
    await join(a, 'carol');
    await joined(a, 'carol');
    await srv.waitOutput(/carol joined/);
    srv.send('@carol hello from the console');
    await shows(a, 'hello from the console', 'ADMIN → you');
    assert.ok(await msg(a, 'hello from the console').evaluate((e) => e.classList.contains('admin')));
    await say(a, '@ADMIN hi admin, from carol');
    await srv.waitOutput(/carol → ADMIN: hi admin, from carol/);
    await a.locator('#log li.msg.mine .status', { hasText: 'sent' }).waitFor({ timeout: WAIT });
    await noProblems(a);
    await a.close();
  });

  t.test('inline errors keep the text; /kick shows the page disconnected; reconnect with the same keys', { timeout: T }, async () => {
    // A kicked key stays out for --kick-for: one second here, then the page may rejoin.
    const srv = await server(['--kick-for', '1']);
    const a = await open(srv, { width: 360, height: 640 });
    await join(a, 'dave');
    await joined(a, 'dave');
    const key = await ownKeyId(a);

    // Nobody chosen yet (once one is, it stays).
    await say(a, 'no destination');
    assert.match(await a.locator('#send-error').textContent(), /Start with @name/);

    await say(a, '@nobody1 are you there?');
    assert.match(await a.locator('#send-error').textContent(), /Unknown destination/);
    assert.equal(await a.locator('#text').inputValue(), '@nobody1 are you there?');

    // Past max-text (65,536 bytes of UTF-8), pasted: refused, the text kept.
    const long = '🙂' + 'x'.repeat(65536);
    await say(a, '@ADMIN ' + long);
    assert.match(await a.locator('#send-error').textContent(), /Too long/);
    assert.deepEqual(await recipient(a), { to: 'ADMIN', text: long });

    srv.send('/kick dave');
    await a.locator('#state', { hasText: 'Disconnected' }).waitFor({ timeout: WAIT });
    await a.locator('#banner #reconnect').waitFor({ timeout: WAIT });
    await say(a, '@ADMIN still there?');
    assert.match(await a.locator('#send-error').textContent(), /Not connected/);
    assert.deepEqual(await recipient(a), { to: 'ADMIN', text: 'still there?' });
    await a.screenshot({ path: artifact(t.engine, 'kicked-360x640.png') });

    await sleep(1500);
    await a.locator('#reconnect').click();
    await joined(a, 'dave');
    assert.equal(await ownKeyId(a), key);
    await a.locator('#log li.notice', { hasText: 'Reconnected as dave' }).waitFor({ timeout: WAIT });
    await a.locator('#send').click(); // the text kept in the box goes now
    await srv.waitOutput(/dave → ADMIN: still there\?/);
    await a.close();
  });

  t.test('a message the server reports undelivered shows the reason and goes back in the box', { timeout: T }, async () => {
    // Without the hold, a message to somebody gone is refused (held.test.mjs has the hold).
    const srv = await server(['--hold-for', '0']);
    const a = await open(srv);
    // Hide the server's departures (0.9 chat-left, version 2 chat-presence) from this page,
    // so that it still lists bobby after he left (the page makes its WebSocket when it
    // joins, after this). In version 2 his key, asked for then, is missing: not delivered.
    await a.evaluate(() => {
      const Native = window.WebSocket;
      window.WebSocket = class extends Native {
        addEventListener(type, fn, options) {
          if (type !== 'message') return super.addEventListener(type, fn, options);
          return super.addEventListener(type, (ev) => /"chat-left"|\["left",/.test(String(ev.data)) || fn.call(this, ev), options);
        }
      };
    });
    const b = await open(srv);
    await join(a, 'alice');
    await joined(a, 'alice');
    await join(b, 'bobby');
    await joined(b, 'bobby');
    await a.locator('#users-list li[data-name="bobby"]').waitFor({ timeout: WAIT });
    await b.close();
    await srv.waitOutput(/bobby left/);
    await say(a, '@bobby are you still there?');
    const m = msg(a, 'are you still there?');
    await m.locator('.status', { hasText: 'Not delivered' }).waitFor({ timeout: WAIT });
    assert.match(await m.locator('.status').textContent(), /^Not delivered: .*bobby/);
    assert.deepEqual(await recipient(a), { to: 'bobby', text: 'are you still there?' });
    await noProblems(a);
    await a.close();
  });

  t.test('custom keys from the vectors join with the expected Key ID', { timeout: T }, async () => {
    const srv = await server();
    const a = await open(srv);
    const b = await open(srv);
    await join(a, 'alice', { priv: 'alice.pkcs8.pem', pub: 'alice.pub.pem' });
    await joined(a, 'alice');
    assert.equal(await ownKeyId(a), vectors.keys.alice.keyid);
    await join(b, 'bobby', { priv: 'bob.pkcs8.pem', pub: 'bob.pub.pem' });
    await joined(b, 'bobby');
    assert.deepEqual(await listedKeyId(b, 'alice'), { short: vectors.keys.alice.keyid.slice(0, 12), full: vectors.keys.alice.keyid });
    assert.equal((await listedKeyId(a, 'bobby')).full, vectors.keys.bob.keyid);
    await say(b, '@alice with custom keys');
    await shows(a, 'with custom keys', 'bobby → you');

    // My keys download as PEM, the same as the files they came from.
    for (const [button, file] of [['#dl-private', 'alice.pkcs8.pem'], ['#dl-public', 'alice.pub.pem']]) {
      await a.locator(button).click();
      const dl = await a.nextDownload();
      assert.match(dl.name, /^alice-(private|public)\.pem$/);
      assert.equal(readFileSync(dl.path, 'utf8').trim(), readFileSync(vectorFile(file), 'utf8').trim());
    }
    await noProblems(a, b);
    await a.close();
    await b.close();
  });

  t.test('the administrator on the web (PKCS#1 admin key) sees console copies and writes to users', { timeout: T }, async () => {
    const srv = await server();
    const admin = await open(srv);
    const a = await open(srv);
    await join(admin, 'boss', { priv: 'admin.pkcs1.pem', pub: 'admin.pub.pem' });
    await joined(admin, 'ADMIN');
    await admin.locator('#log li.notice', { hasText: 'administrator' }).waitFor({ timeout: WAIT });
    await join(a, 'erin');
    await joined(a, 'erin');
    await admin.locator('#users-list li[data-name="erin"]').waitFor({ timeout: WAIT });

    srv.send('@erin hello erin, from the console');
    await shows(a, 'hello erin, from the console', 'ADMIN → you');
    await shows(admin, 'hello erin, from the console', 'ADMIN (console) → erin');

    await say(a, '@ADMIN question for the boss');
    await shows(admin, 'question for the boss', 'erin → you');
    await srv.waitOutput(/erin → ADMIN: question for the boss/);

    const before = srv.stdout.length;
    await say(admin, '@erin answer from the web');
    await shows(a, 'answer from the web', 'ADMIN → you');
    await srv.waitOutput(/answer from the web/, { from: before });
    await admin.locator('#log li.msg.mine .status', { hasText: 'sent' }).waitFor({ timeout: WAIT });

    srv.send('@all console to everybody');
    await shows(a, 'console to everybody', 'ADMIN → all');
    await shows(admin, 'console to everybody', 'ADMIN (console) → all');
    await admin.screenshot({ path: artifact(t.engine, 'admin-1280x800.png') });

    // A second administrator page proves the key and takes over (issue 12: one live
    // session per key); the first page is told why.
    const again = await open(srv);
    await join(again, 'boss', { priv: 'admin.pkcs8.pem', pub: 'admin.pub.pem' });
    await joined(again, 'ADMIN');
    await admin.locator('#log li.notice', { hasText: 'You joined from another place: this connection is closed.' }).waitFor({ timeout: WAIT });
    await noProblems(again, a);
    await again.close();
    await admin.close();
    await a.close();
  });

  t.test('a name that is taken is refused in the page', { timeout: T }, async () => {
    const srv = await server();
    const a = await open(srv);
    const b = await open(srv, { width: 360, height: 640 });
    await join(a, 'frank');
    await joined(a, 'frank');
    await join(b, 'frank');
    await b.locator('#name-error', { hasText: 'taken' }).waitFor({ timeout: WAIT });
    assert.equal(await b.locator('#state').textContent(), 'Not connected');
    assert.ok(await b.locator('#join-form').isVisible());
    await b.screenshot({ path: artifact(t.engine, 'taken-360x640.png') });
    await join(b, 'frank2');
    await joined(b, 'frank2');
    await noProblems(a, b);
    await a.close();
    await b.close();
  });

  t.test('--disable-all hides @all for users and refuses it inline', { timeout: T }, async () => {
    const srv = await server(['--disable-all']);
    const a = await open(srv);
    await join(a, 'grace');
    await joined(a, 'grace');
    await a.locator('#users-list li[data-name="ADMIN"]').waitFor({ timeout: WAIT });
    assert.equal(await a.locator('#users-list li.all').count(), 0);
    await say(a, '@all anyone?');
    assert.match(await a.locator('#send-error').textContent(), /disabled/);
    assert.equal(await a.locator('#text').inputValue(), '@all anyone?');
    await a.close();
  });

  t.test('--only-admin: users see and write to the administrator only', { timeout: T }, async () => {
    const srv = await server(['--only-admin']);
    const a = await open(srv);
    const b = await open(srv);
    await join(a, 'heidi');
    await joined(a, 'heidi');
    await join(b, 'ivan1');
    await joined(b, 'ivan1');
    await b.locator('#users-list li[data-name="ADMIN"]').waitFor({ timeout: WAIT });
    assert.deepEqual(await a.locator('#users-list li').evaluateAll((l) => l.map((e) => e.dataset.name)), ['ADMIN']);
    assert.deepEqual(await b.locator('#users-list li').evaluateAll((l) => l.map((e) => e.dataset.name)), ['ADMIN']);
    await say(b, '@heidi psst');
    assert.match(await b.locator('#send-error').textContent(), /Unknown destination/);
    await say(b, '@ADMIN help please');
    await srv.waitOutput(/ivan1 → ADMIN: help please/);
    await noProblems(a, b);
    await a.close();
    await b.close();
  });

  // The SPKI hash Chromium's --ignore-certificate-errors-spki-list wants: base64 SHA-256 of
  // the certificate's SubjectPublicKeyInfo. Only that certificate is trusted.
  function spkiHash(certPemFile) {
    const cert = new X509Certificate(readFileSync(certPemFile));
    const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
    return createHash('sha256').update(spki).digest('base64');
  }

  t.test('over HTTPS (--self-signed, only that certificate trusted): two pages chat on wss; a failing WebSocket shows the certificate guidance', { timeout: T }, async () => {
    const dir = mkdtempSync(joinPath(tmpdir(), 'dysp-selfsigned-'));
    const srv = await server(['--self-signed-dir', dir]);
    assert.match(srv.url, /^https:/);
    const certFile = joinPath(dir, 'cert.pem');
    // Each engine is told to trust this one certificate (engines.mjs says how).
    const trust = { certFile, spki: spkiHash(certFile), host: new URL(srv.url).hostname };
    const a = await open(srv, { width: 1280, height: 800 }, { trust });
    const j = await open(srv, { width: 360, height: 640 }, { trust });
    await join(a, 'judy');
    await joined(a, 'judy');
    await join(j, 'jack');
    await joined(j, 'jack');
    await say(a, '@jack over tls, from judy');
    await shows(j, 'over tls, from judy', 'judy → you');
    await say(j, '@all over tls, from jack');
    await shows(a, 'over tls, from jack', 'jack → all');
    srv.send('@judy from the console over tls');
    await shows(a, 'from the console over tls', 'ADMIN → you');
    await j.screenshot({ path: artifact(t.engine, 'tls-chat-360x640.png') });
    await noProblems(a, j);
    await a.close();
    await j.close();

    // A browser that refuses the WebSocket's certificate: the connection fails before it opens.
    const b = await open(srv, { width: 360, height: 640 }, { trust });
    // The page makes its WebSocket when it joins, after this.
    await b.evaluate(() => {
      // Stands in for a WebSocket whose TLS handshake the browser refuses: error, close, never open.
      window.WebSocket = class extends EventTarget {
        static OPEN = 1;
        constructor(url) {
          super();
          this.url = url;
          this.readyState = 0;
          setTimeout(() => {
            this.readyState = 3;
            this.dispatchEvent(new Event('error'));
            this.dispatchEvent(new Event('close'));
          }, 50);
        }
        send() {}
        close() {}
      };
    });
    await join(b, 'kate');
    await b.locator('#join-cert', { hasText: 'self-signed certificate' }).waitFor();
    assert.ok((await b.locator('#join-cert').textContent()).includes(`open ${srv.url} in a new tab, accept the certificate`));
    assert.equal(await b.locator('#join-cert a').getAttribute('href'), srv.url);
    await b.screenshot({ path: artifact(t.engine, 'tls-guidance-360x640.png') });
    await b.close();
  });
});
