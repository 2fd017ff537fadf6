// Held for a short absence (issue 15): a message to somebody whose page went away is held
// by the server; the sender's page shows "waiting for …", then "delivered to …" once they
// are back with the same key, and they get it once. Real browsers, the real server binary.
// One engine: DYSPATCHER_ENGINES=chromium node --test tests/browser/held.test.mjs

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { forEachEngine, noProblems, startServer, BIN, sleep, joinChat as join, WAIT } from './helpers.mjs';

const T = 240000;
const ALICE = { priv: 'alice.pkcs8.pem', pub: 'alice.pub.pem' };
const BOB = { priv: 'bob.pkcs8.pem', pub: 'bob.pub.pem' };

const servers = [];

before(() => {
  assert.ok(existsSync(BIN), `no server binary at ${BIN}: run cargo build, or set DYSPATCHER_BIN`);
});

after(async () => {
  for (const s of servers) await s.stop();
});

forEachEngine((t) => {
  async function open(url) {
    const page = await t.open(null, { viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(WAIT);
    await page.goto(url);
    return page;
  }

  const joined = (page, as) => page.locator('#state', { hasText: `Connected as ${as}` }).waitFor({ timeout: WAIT });
  const msg = (page, text) => page.locator('#log li.msg', { hasText: text });

  async function say(page, text) {
    const box = page.locator('#text');
    await box.fill(text);
    await box.press('Enter');
  }

  t.test('a message to somebody who went away waits, and is delivered once when they come back with the same key', { timeout: T }, async () => {
    const s = await startServer();
    servers.push(s);
    const a = await open(s.url);
    await join(a, 'alice', ALICE);
    await joined(a, 'alice');
    const b = await open(s.url);
    await join(b, 'bobby', BOB);
    await joined(b, 'bobby');
    await say(a, '@bobby hello while here');
    await msg(b, 'hello while here').waitFor();

    // bobby's page goes away; alice sees him leave, then writes to him.
    await b.close();
    await a.locator('#users-list li[data-name="bobby"]').waitFor({ state: 'detached' });
    await say(a, '@bobby written while you were away');
    const mine = msg(a, 'written while you were away');
    await mine.locator('.status[data-state="waiting"]', { hasText: 'waiting for bobby (until' }).waitFor();
    assert.match(await mine.locator('.status').textContent(), /^waiting for bobby \(until \d\d:\d\d\)$/);

    // Back, in a new page, with the same key.
    const back = await open(s.url);
    await join(back, 'bobby', BOB);
    await joined(back, 'bobby');
    await msg(back, 'written while you were away').waitFor();
    await mine.locator('.status[data-state="sent"]', { hasText: 'delivered to bobby' }).waitFor();
    await sleep(1500); // a second copy would be there by now
    assert.equal(await msg(back, 'written while you were away').count(), 1, 'delivered once');
    assert.equal(await msg(a, 'written while you were away').count(), 1, 'shown once');
    await noProblems(a, back);
    await a.close();
    await back.close();
  });
});
