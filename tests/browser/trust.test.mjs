// Trust on the page (issue 15): comparison codes and "mark as verified", the warning when
// a known name comes back with another key, reconnecting by itself with what was written
// meanwhile sent exactly once, "remember me on this device" and "forget", the certificate
// fingerprint of the link and the QR code of the link to share. Real browsers, the real
// server binary. One engine: DYSPATCHER_ENGINES=chromium node --test tests/browser/trust.test.mjs

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { forEachEngine, noProblems, startServer, vectors, artifact, BIN, sleep, joinChat as join, WAIT, KEYGEN } from './helpers.mjs';

const T = 240000;
const ALICE = { priv: 'alice.pkcs8.pem', pub: 'alice.pub.pem' };
const BOB = { priv: 'bob.pkcs8.pem', pub: 'bob.pub.pem' };
const OTHER = { priv: 'small2048.pkcs8.pem', pub: 'small2048.pub.pem' };
// The comparison code of alice's and bob's vector keys, computed with python3's hashlib
// (www/comparison.test.mjs has the same).
const ALICE_BOB_CODE = '784 496 660 601';
const PHONE = { width: 360, height: 640 };

const servers = [];

before(() => {
  assert.ok(existsSync(BIN), `no server binary at ${BIN}: run cargo build, or set DYSPATCHER_BIN`);
});

after(async () => {
  for (const s of servers) await s.stop();
});

forEachEngine((t) => {
  async function server(args = [], options = {}) {
    const s = await startServer(args, options);
    servers.push(s);
    return s;
  }

  async function open(url, viewport = { width: 1280, height: 800 }, options = {}) {
    const page = await t.open(null, { viewport, ...options });
    page.setDefaultTimeout(WAIT);
    await page.goto(url);
    return page;
  }

  const joined = (page, as) => page.locator('#state', { hasText: `Connected as ${as}` }).waitFor({ timeout: WAIT });

  // On a phone the users list is collapsed: open it for `fn`, close it after.
  async function withUsers(page, fn) {
    const opened = !(await page.locator('#users').isVisible());
    if (opened) await page.locator('#users-toggle').click();
    try {
      return await fn();
    } finally {
      if (opened && (await page.locator('#users').isVisible())) await page.locator('#users-toggle').click();
    }
  }

  // The verification panel of `name`: { code, theirs, mine, state } as shown, left open
  // (closeVerify closes it, and the users list a phone opened for it).
  async function compare(page, name) {
    if (!(await page.locator('#users').isVisible())) await page.locator('#users-toggle').click();
    await page.locator(`#users-list li[data-name="${name}"] button.compare`).click();
    await page.locator('#verify').waitFor();
    const text = (id) => page.locator(id).textContent();
    return { code: await text('#verify-code'), theirs: await text('#verify-their'), mine: await text('#verify-mine'), state: await text('#verify-state') };
  }

  async function closeVerify(page) {
    if (await page.locator('#verify').isVisible()) await page.locator('#verify-close').click();
    if (await page.locator('#users-toggle').isVisible() && (await page.locator('#users').isVisible())) await page.locator('#users-toggle').click();
  }

  async function say(page, text) {
    const box = page.locator('#text');
    await box.fill(text);
    await box.press('Enter');
  }

  const msg = (page, text) => page.locator('#log li.msg', { hasText: text });
  const databases = (page) => page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
  const grouped = (keyid) => keyid.match(/..../g).join(' ');

  t.test('two pages show the same comparison code; verified marks; a key change is warned about first', { timeout: T }, async () => {
    const srv = await server();
    const a = await open(srv.url);
    const b = await open(srv.url, PHONE);
    await join(a, 'alice', ALICE);
    await joined(a, 'alice');
    await join(b, 'bobby', BOB);
    await joined(b, 'bobby');

    // The same 12 digits on both screens (and the vector), the whole Key IDs in groups.
    const pa = await compare(a, 'bobby');
    assert.equal(pa.code, ALICE_BOB_CODE);
    assert.equal(pa.theirs, grouped(vectors.keys.bob.keyid));
    assert.equal(pa.mine, grouped(vectors.keys.alice.keyid));
    assert.match(pa.state, /not verified/i);
    await a.screenshot({ path: artifact(t.engine, 'trust-compare-1280x800.png') });
    const pb = await compare(b, 'alice');
    assert.equal(pb.code, ALICE_BOB_CODE);
    assert.equal(pb.theirs, grouped(vectors.keys.alice.keyid));
    await b.screenshot({ path: artifact(t.engine, 'trust-compare-360x640.png') });
    await closeVerify(b);

    // alice marks bobby verified: the mark in the list and on his messages.
    await a.locator('#verify-mark').click();
    await closeVerify(a);
    await a.locator('#users-list li[data-name="bobby"] .trust.verified').waitFor();
    await say(b, '@alice from the verified key');
    await msg(a, 'from the verified key').locator('.trust.verified').waitFor();
    assert.deepEqual(await databases(a), [], 'nothing stored without "remember me"');

    // bobby leaves; someone else comes as bobby with another key.
    await b.close();
    await a.locator('#log li.notice', { hasText: 'bobby left' }).waitFor();
    const c = await open(srv.url);
    await join(c, 'bobby', OTHER);
    await joined(c, 'bobby');
    const warning = a.locator('#log li.keychange', { hasText: 'bobby now has a different key' });
    await warning.waitFor();
    assert.match(await warning.textContent(), /Compare codes again before trusting them/);
    assert.match(await warning.textContent(), /verified the old one/);
    await a.locator('#users-list li[data-name="bobby"] .trust.changed').waitFor();
    assert.equal(await a.locator('#users-list li[data-name="bobby"] .trust.verified').count(), 0, 'the verified mark is gone');
    await say(c, '@alice from the new key');
    const m = msg(a, 'from the new key');
    await m.locator('.trust.changed').waitFor();
    assert.equal(await m.locator('.trust.verified').count(), 0);
    // The warning comes before the message in the log.
    const order = await a.evaluate(() => [...document.querySelectorAll('#log > li')].map((li) => (li.classList.contains('keychange') ? 'warning' : li.textContent.includes('from the new key') ? 'message' : '')).filter(Boolean));
    assert.deepEqual(order, ['warning', 'message']);
    await a.screenshot({ path: artifact(t.engine, 'trust-keychange-1280x800.png') });
    await a.setViewportSize(PHONE);
    await a.screenshot({ path: artifact(t.engine, 'trust-keychange-360x640.png') });
    await a.setViewportSize({ width: 1280, height: 800 });

    // The warning's button compares again; the new code differs from the old one.
    await warning.locator('button.compare').click();
    await a.locator('#verify').waitFor();
    assert.notEqual(await a.locator('#verify-code').textContent(), ALICE_BOB_CODE);
    assert.match(await a.locator('#verify-state').textContent(), /different key/);
    await closeVerify(a);
    await noProblems(a, c);
    await a.close();
    await c.close();
  });

  t.test('the server restarts with the same administrator key: pages reconnect, a message typed meanwhile arrives once', { timeout: T }, async () => {
    const first = await server();
    const port = Number(new URL(first.url).port);
    // In dark mode here (the other tests are light): screenshots of both schemes.
    const a = await open(first.url, PHONE, { dark: true });
    const b = await open(first.url, { width: 1280, height: 800 }, { dark: true });
    await join(a, 'alice', ALICE);
    await joined(a, 'alice');
    await join(b, 'bobby', BOB);
    await joined(b, 'bobby');
    await say(a, '@bobby before the restart');
    await msg(b, 'before the restart').waitFor();

    await first.stop();
    await a.locator('#banner', { hasText: 'Reconnecting in' }).waitFor();
    assert.equal(await a.locator('#reconnect').textContent(), 'Now');
    await say(a, '@bobby typed while the server was down');
    const waiting = msg(a, 'typed while the server was down');
    await waiting.locator('.status[data-state="waiting"]').waitFor();
    await a.screenshot({ path: artifact(t.engine, 'trust-reconnecting-dark-360x640.png') });
    await b.screenshot({ path: artifact(t.engine, 'trust-reconnecting-dark-1280x800.png') });

    const second = await server([], { port });
    assert.equal(second.url, first.url);
    await joined(a, 'alice'); // by itself: nobody pressed anything
    await a.screenshot({ path: artifact(t.engine, 'trust-reconnected-dark-360x640.png') });
    await joined(b, 'bobby');
    await msg(b, 'typed while the server was down').waitFor({ timeout: 40000 });
    await waiting.locator('.status[data-state="sent"]').waitFor();
    await sleep(1500); // a second copy would arrive by now
    assert.equal(await msg(b, 'typed while the server was down').count(), 1, 'delivered once');
    assert.equal(await msg(a, 'typed while the server was down').count(), 1, 'shown once');
    assert.equal(await msg(b, 'before the restart').count(), 1, 'nothing sent before is sent again');
    assert.equal(await a.locator('#banner').isVisible(), false);

    // And the chat goes on both ways.
    await say(b, '@alice after the restart');
    await msg(a, 'after the restart').waitFor();
    await noProblems(a, b);
    await a.close();
    await b.close();
  });

  t.test('a refusal stops the reconnection: kicked by the administrator', { timeout: T }, async () => {
    const srv = await server();
    const a = await open(srv.url);
    await join(a, 'alice', ALICE);
    await joined(a, 'alice');
    srv.send('/kick alice');
    await a.locator('#banner', { hasText: 'disconnected by the administrator' }).waitFor();
    await sleep(2500); // longer than the first delays
    assert.equal(await a.locator('#banner', { hasText: 'Reconnecting in' }).count(), 0);
    assert.equal(await a.locator('#reconnect').textContent(), 'Reconnect');
    assert.match(await a.locator('#state').textContent(), /Disconnected/);
    await noProblems(a);
    await a.close();
  });

  t.test('"remember me" keeps the keys (not extractable) across a reload; "forget" erases them', { timeout: T }, async () => {
    const srv = await server();
    const a = await open(srv.url);
    await a.locator('#keygen[data-state="done"]').waitFor({ timeout: KEYGEN });
    assert.deepEqual(await databases(a), [], 'loading the page stores nothing');
    await a.locator('#remember').click();
    await a.screenshot({ path: artifact(t.engine, 'trust-remember-1280x800.png') });
    await join(a, 'alice');
    await joined(a, 'alice');
    const keyid = await a.evaluate(() => document.querySelector('#me-kid').dataset.keyid);
    // Mark the administrator verified: remembered too.
    await compare(a, 'ADMIN');
    await a.locator('#verify-mark').click();
    await closeVerify(a);
    await a.locator('#users-list li[data-name="ADMIN"] .trust.verified').waitFor();
    for (let i = 0; !(await databases(a)).includes('dyspatcher'); i++) {
      assert.ok(i < 100, 'the identity is stored');
      await sleep(50);
    }
    await sleep(300); // the verified key's write

    await a.goto(srv.url);
    await a.locator('#remembered', { hasText: 'remembers you as alice' }).waitFor();
    assert.equal(await a.locator('#name').inputValue(), 'alice');
    assert.equal(await a.locator('#remember').evaluate((e) => e.checked), true);
    const stored = await a.evaluate(async () => {
      const db = await new Promise((r, j) => Object.assign(indexedDB.open('dyspatcher'), { onsuccess: (e) => r(e.target.result), onerror: j }));
      const me = await new Promise((r) => (db.transaction('identity').objectStore('identity').get('me').onsuccess = (e) => r(e.target.result)));
      db.close();
      const priv = Object.values(me.keys).filter((k) => k instanceof CryptoKey && k.type === 'private');
      return { name: me.name, keyid: me.keys.keyid, pkcs8: 'pkcs8' in me.keys, count: priv.length, extractable: priv.map((k) => k.extractable) };
    });
    assert.equal(stored.name, 'alice');
    assert.equal(stored.keyid, keyid);
    assert.equal(stored.pkcs8, false, 'no private key bytes stored');
    assert.ok(stored.count >= 1);
    assert.deepEqual(stored.extractable, stored.extractable.map(() => false), 'private keys stored non-extractable');
    await a.locator('#join').click();
    await joined(a, 'alice');
    assert.equal(await a.evaluate(() => document.querySelector('#me-kid').dataset.keyid), keyid, 'the same Key ID after the reload');
    await a.locator('#users-list li[data-name="ADMIN"] .trust.verified').waitFor();
    assert.equal(await a.locator('#dl-private').isVisible(), false, 'a non-extractable key cannot be saved as a file');
    await a.screenshot({ path: artifact(t.engine, 'trust-remembered-1280x800.png') });

    await a.locator('#forget').click();
    await a.locator('#device-note', { hasText: 'Forgotten' }).waitFor();
    assert.deepEqual(await databases(a), [], 'no database left');
    await a.goto(srv.url);
    await a.locator('#keygen-text', { hasText: 'Generating' }).waitFor();
    assert.equal(await a.locator('#remembered').isVisible(), false);
    assert.deepEqual(await databases(a), []);
    await noProblems(a);
    await a.close();
  });

  t.test('the certificate fingerprint of the link and the QR code of the link to share; dark screens', { timeout: T }, async () => {
    const srv = await server();
    const fp = 'a1b2c3d4e5f60718'.repeat(4);
    const url = `${srv.url}#sha256=${fp}`;
    const qr = await fetch(`${srv.url}qr.svg?text=x`).catch(() => null);
    const hasQr = !!qr && qr.status === 200;
    for (const [viewport, name] of [[PHONE, '360x640'], [{ width: 1280, height: 800 }, '1280x800']]) {
      const a = await open(url, viewport, { dark: true });
      await a.locator('#cert').waitFor();
      assert.equal(await a.locator('#cert-fp').textContent(), fp.toUpperCase().match(/../g).join(':'));
      await a.screenshot({ path: artifact(t.engine, `trust-cert-dark-${name}.png`) });
      await join(a, 'alice', ALICE);
      await joined(a, 'alice');
      await withUsers(a, async () => {
        await a.locator('#share').click();
        const link = await a.locator('#share-link').textContent();
        assert.equal(link, url, 'the shared link carries the fingerprint');
        const src = await a.locator('#share-qr').getAttribute('src');
        assert.equal(src, `/qr.svg?text=${encodeURIComponent(url)}`);
        if (hasQr) {
          for (let i = 0; !(await a.locator('#share-qr').evaluate((e) => e.complete && e.naturalWidth > 0)); i++) {
            assert.ok(i < 100, 'the QR code loads');
            await sleep(50);
          }
        } else {
          // A server without /qr.svg (before the console-trust branch): no broken image.
          await a.locator('#share-noqr').waitFor();
          assert.equal(await a.locator('#share-qr').isVisible(), false);
        }
        await a.screenshot({ path: artifact(t.engine, `trust-share-dark-${name}.png`) });
        await a.locator('#share').click();
      });
      await compare(a, 'ADMIN');
      await a.screenshot({ path: artifact(t.engine, `trust-compare-dark-${name}.png`) });
      await closeVerify(a);
      if (hasQr) await noProblems(a);
      await a.close();
    }
  });
});
