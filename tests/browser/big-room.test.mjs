// A large room (docs/PROTOCOL.md, "Large rooms: the list is a view") in real browsers
// against the real server, made small with --list-size 2: the page is beyond the listed
// ones, with members in node (peer.mjs) around it. It shows how many are in the room,
// finds an unlisted person by name and writes to them, reads a message from a sender it
// does not list as genuine (its key by `fromkey`), and sees a looked-up person leave; a
// file to everybody is counted against the whole room (peers that ack), not the list.
// Screenshots of the list with its search, phone and desktop, light and dark.
// One engine: DYSPATCHER_ENGINES=chromium node --test tests/browser/big-room.test.mjs

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { forEachEngine, noProblems, startServer, vectorText, artifact, BIN, sleep, joinChat, WAIT, KEYGEN } from './helpers.mjs';
import { Peer } from './peer.mjs';

const T = 240000;
const ALICE = { priv: 'alice.pkcs8.pem', pub: 'alice.pub.pem' };
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

const servers = [];
const peers = [];
before(() => assert.ok(existsSync(BIN), `no server binary at ${BIN}: run cargo build, or set DYSPATCHER_BIN`));
after(async () => {
  for (const p of peers) if (!p.closed) await p.close().catch(() => {});
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

  const wsUrl = (srv) => srv.url.replace(/\/$/, '') + '/ws';

  async function peer(srv, name, keys) {
    const p = await Peer.join(wsUrl(srv), name, keys || (await Peer.newKeys()));
    peers.push(p);
    return p;
  }

  const count = (page) => page.locator('#people-count').textContent();
  const waitCount = async (page, text) => {
    const t0 = Date.now();
    while ((await count(page)) !== text) {
      if (Date.now() - t0 > WAIT) assert.equal(await count(page), text);
      await sleep(100);
    }
  };
  const rows = (page, list) => page.locator(`#${list} li.user:not(.all)`).evaluateAll((els) => els.map((e) => e.dataset.name));

  // The room: the administrator, anna and bert listed (--list-size 2), then the page, zora
  // and zack, whom nobody lists.
  async function bigRoom(page, name, keys) {
    const srv = await server(['--list-size', '2']);
    const anna = await peer(srv, 'anna', vectorText('bob.pkcs8.pem'));
    const bert = await peer(srv, 'bert', vectorText('small2048.pkcs8.pem'));
    await page.goto(srv.url);
    await joinChat(page, name, keys);
    await page.locator('#state', { hasText: `Connected as ${name}` }).waitFor({ timeout: KEYGEN });
    const zora = await peer(srv, 'zora');
    const zack = await peer(srv, 'zack');
    return { srv, anna, bert, zora, zack };
  }

  t.test('beyond the listed ones: the count, a person found by name and written to, a sender not listed verified, a looked-up person leaving', { timeout: T }, async () => {
    const a = await open('about:blank', DESKTOP);
    const { zora, zack, anna } = await bigRoom(a, 'alice', ALICE);

    // Listed: the administrator, anna and bert; of the 6 in the room, 5 besides alice.
    await waitCount(a, '(3 of 5)');
    assert.equal(await a.locator('#users-count').textContent(), '(5)', 'the bar: how many are here');
    assert.deepEqual(await rows(a, 'users-list'), ['ADMIN', 'anna', 'bert']);
    assert.equal(await a.locator('#people-partial').textContent(), '3 of 5 people are listed here: this room is large. Find the others by name.');
    // The listed peers do not list alice either: the room is partial for everybody.
    assert.equal(anna.listed.partial, true);
    assert.ok(!anna.listed.users.some((u) => u.name === 'alice'));

    // To everybody: the note says how many that is, not only the listed ones.
    await a.locator('#users-list li.all .pick').click();
    assert.equal(await a.locator('#to-note').textContent(), 'Everybody connected reads it: all 5 people, listed or not.');

    // Typed in the search box: the server's answer lists zora, who can be chosen.
    await a.locator('#find').fill('ZO');
    assert.equal(await a.locator('#find').inputValue(), 'zo', 'names are lower case');
    await a.locator('#found-list li.user[data-name="zora"]').waitFor();
    assert.deepEqual(await rows(a, 'found-list'), ['zora']);
    assert.match(await a.locator('#find-note').textContent(), /^1 found/);
    assert.deepEqual(await rows(a, 'users-list'), ['ADMIN', 'anna', 'bert', 'zora'], 'zora joined the list, looked up');
    await waitCount(a, '(4 of 5)');
    await a.screenshot({ path: artifact(t.engine, 'big-room-search-1280x800.png') });

    await a.locator('#found-list li.user[data-name="zora"] .pick').click();
    assert.equal(await a.locator('#to').inputValue(), 'zora');
    assert.equal(await a.locator('#to-note').textContent(), 'Only zora reads it.');
    const toZora = 'hello zora, found by name ✓ 漢字';
    await a.locator('#text').fill(toZora);
    await a.locator('#text').press('Enter');
    await a.locator('#log li.msg.mine .status', { hasText: 'sent' }).waitFor();
    const got = await zora.until(() => zora.shown().find((m) => m.from === 'alice'), 'message from alice');
    assert.equal(got.text, toZora);
    assert.equal(got.to, 'zora');

    // zack, whom alice does not list, writes to her (he found her): verified, not flagged.
    await zack.find('alice');
    const fromZack = 'hi alice, from someone you do not list';
    await zack.send('alice', fromZack);
    const shown = a.locator('#log li.msg.other', { hasText: fromZack });
    await shown.waitFor();
    assert.equal(await shown.locator('.who').textContent(), 'zack → you');
    assert.equal(await shown.locator('.text').textContent(), fromZack);
    assert.equal(await a.locator('#log li.flagged').count(), 0);
    await a.locator('#users-list li.user[data-name="zack"]').waitFor();
    await waitCount(a, '(5)');
    // Answered by a click on the message: zack is a recipient like any other.
    await shown.click();
    assert.equal(await a.locator('#to').inputValue(), 'zack');

    // Both leave: looked up, their departures are announced to alice.
    await zora.close();
    await a.locator('#log li.notice', { hasText: 'zora left' }).waitFor();
    await a.locator('#users-list li.user[data-name="zora"]').waitFor({ state: 'detached' });
    await a.locator('#found-list li.user[data-name="zora"]').waitFor({ state: 'detached' });
    await zack.close();
    await a.locator('#log li.notice', { hasText: 'zack left' }).waitFor();
    await a.locator('#users-list li.user[data-name="zack"]').waitFor({ state: 'detached' });
    await waitCount(a, '(3)');
    assert.equal(await a.locator('#log li.notice', { hasText: 'joined' }).count(), 0, 'nobody was said to join: they were there');

    // Phone size: the list (opened) with its search.
    await a.locator('#find').fill('b');
    await a.locator('#found-list li.user[data-name="bert"]').waitFor();
    await a.setViewportSize(PHONE);
    await a.locator('#users-toggle').click();
    await a.locator('#users.open #find').waitFor();
    await sleep(300); // WebKitGTK paints the new size a moment after the resize
    await a.screenshot({ path: artifact(t.engine, 'big-room-search-390x844.png') });
    await noProblems(a);
    await a.close();
  });

  t.test('a file to everybody: counted against the whole room, not only the listed ones; no line per recipient', { timeout: T }, async () => {
    const a = await open('about:blank', DESKTOP);
    const { anna, bert, zora, zack } = await bigRoom(a, 'alice', ALICE);
    await waitCount(a, '(3 of 5)');
    for (const p of [anna, bert, zora]) p.ackFiles(); // zack is slow: he acks later
    // One chunk: whoever acks it has the file.
    const path = join(mkdtempSync(join(tmpdir(), 'dysp-big-')), 'minutes.txt');
    writeFileSync(path, randomBytes(20000));
    await a.locator('#users-list li.all .pick').click();
    await a.locator('#file-input').setInputFiles(path);
    const row = a.locator('#log li.msg.file', { hasText: 'minutes.txt' });
    // The listed anna and bert, and zora, whom nobody lists, have it; zack not yet: not "sent".
    await row.locator('.fstate', { hasText: 'Sent to everybody: 3 of about 4 have it so far.' }).waitFor();
    assert.equal(await row.locator('.fnote').count(), 0, 'no line per recipient');
    assert.equal(await row.locator('.fcancel').count(), 1, 'still going: it can be cancelled');
    await a.screenshot({ path: artifact(t.engine, 'big-room-file-sending-1280x800.png') });
    await a.setViewportSize(PHONE);
    await sleep(300); // WebKitGTK paints the new size a moment after the resize
    await a.screenshot({ path: artifact(t.engine, 'big-room-file-sending-390x844.png') });
    zack.ackFiles();
    await row.locator('.fstate', { hasText: 'Sent: 4 have it.' }).waitFor();
    assert.equal(await row.locator('.fnote').count(), 0);
    assert.equal(await row.getAttribute('data-state'), 'done');
    await noProblems(a);
    await a.close();
  });

  t.test('with the system in dark mode: the list with its search, desktop and phone', { timeout: T }, async () => {
    const a = await open('about:blank', DESKTOP, { dark: true });
    const { zora } = await bigRoom(a, 'alice', ALICE);
    await waitCount(a, '(3 of 5)');
    await a.locator('#find').fill('z');
    await a.locator('#found-list li.user[data-name="zack"]').waitFor();
    assert.deepEqual(await rows(a, 'found-list'), ['zack', 'zora']);
    await a.screenshot({ path: artifact(t.engine, 'big-room-search-dark-1280x800.png') });
    // Nobody matching: said so.
    await a.locator('#find').fill('qq');
    await a.locator('#find-note', { hasText: 'Nobody connected has a name starting with “qq”' }).waitFor();
    assert.deepEqual(await rows(a, 'found-list'), []);
    // Not a name: said at once, nothing asked.
    await a.locator('#find').fill('z-');
    await a.locator('#find-note', { hasText: 'only letters a–z and digits 0–9' }).waitFor();
    await a.locator('#find').fill('zo');
    await a.locator('#found-list li.user[data-name="zora"]').waitFor();
    await a.setViewportSize(PHONE);
    await a.locator('#users-toggle').click();
    await a.locator('#users.open #find').waitFor();
    await sleep(300); // WebKitGTK paints the new size a moment after the resize
    await a.screenshot({ path: artifact(t.engine, 'big-room-search-dark-390x844.png') });
    await zora.close();
    await a.locator('#found-list li.user[data-name="zora"]').waitFor({ state: 'detached' });
    await noProblems(a);
    await a.close();
  });
});
