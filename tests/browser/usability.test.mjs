// The page as people use it (issue 17, items 1-6), in every browser engine (engines.mjs)
// against the real server binary: who a message goes to, following new messages, the
// administrator's key changing, names and counts, leaving the page, and the smaller things.
// Run from the repository root: node --test tests/browser/ (one engine:
// DYSPATCHER_ENGINES=firefox). Screenshots go to tests/artifacts/<engine>/ (git-ignored).

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { forEachEngine, noProblems, startServer, staticServer, artifact, BIN, ROOT, sleep, joinChat as join, WAIT, KEYGEN } from './helpers.mjs';

const T = 300000; // per test: servers, several browsers, key generation (seconds each in WebKitGTK)
const PHONE = { width: 360, height: 640 };
const DESKTOP = { width: 1280, height: 800 };

const servers = [];

before(() => {
  assert.ok(existsSync(BIN), `no server binary at ${BIN}: run cargo build, or set DYSPATCHER_BIN`);
});

after(async () => {
  for (const s of servers) await s.stop();
});

// Why no engine's check of the browser's own "leave this page?" question runs: tried with
// unhandledPromptBehavior { beforeUnload: 'ignore' } (WebKitGTK: 'ignore'), Firefox's
// dom.disable_beforeunload and dom.require_user_interaction_for_beforeunload off, a real
// click and typing first, then location.reload() or WebDriver Refresh: Get Alert Text never
// saw a prompt and the page reloaded, in ChromeDriver, geckodriver and WebKitWebDriver.
const NO_UNLOAD_PROMPT = 'none of the three drivers shows a beforeunload prompt to classic WebDriver (Get Alert Text)';

forEachEngine((t) => {
  async function server(args = []) {
    const s = await startServer(args);
    servers.push(s);
    return s;
  }

  async function open(srv, viewport = DESKTOP, options = {}) {
    const page = await t.open(null, { viewport, ...options });
    page.setDefaultTimeout(WAIT);
    await page.goto(srv.url);
    return page;
  }

  const joined = (page, as) => page.locator('#state', { hasText: `Connected as ${as}` }).waitFor();

  async function say(page, text) {
    await page.locator('#text').fill(text);
    await page.locator('#text').press('Enter');
  }

  const msg = (page, text) => page.locator('#log li.msg', { hasText: text });
  const notice = (page, text) => page.locator('#log li.notice', { hasText: text });

  // Opens the users list on a phone, where it is collapsed, for `fn`.
  async function withUsers(page, fn) {
    const opened = !(await page.locator('#users').isVisible());
    if (opened) await page.locator('#users-toggle').click();
    try {
      return await fn();
    } finally {
      if (opened && (await page.locator('#users').isVisible())) await page.locator('#users-toggle').click();
    }
  }

  const listedNames = (page) => page.locator('#users-list li.user:not(.all)').evaluateAll((l) => l.map((e) => e.dataset.name));

  // Whether the element is inside the visible part of the message log.
  const inView = (locator) =>
    locator.evaluate((e) => {
      const log = document.getElementById('log').getBoundingClientRect();
      const r = e.getBoundingClientRect();
      return r.top >= log.top - 1 && r.bottom <= log.bottom + 1;
    });

  // A screenshot in the page's colour scheme (a browser is light or dark from its start:
  // not every engine can switch once started) at its size.
  async function shoot(page, name) {
    const { width, height } = page.viewport;
    await page.screenshot({ path: artifact(t.engine, `${name}${page.dark ? '-dark' : ''}-${width}x${height}.png`) });
  }

  // The recipient chosen beside the box, and the text in the box.
  const recipient = async (page) => ({ to: await page.locator('#to').inputValue(), text: await page.locator('#text').inputValue() });

  t.test('1. the recipient is a choice of its own; a text starting with another @name waits for confirmation', { timeout: T }, async () => {
    const srv = await server();
    const a = await open(srv);
    const b = await open(srv, PHONE);
    await join(a, 'alice');
    await joined(a, 'alice');
    await join(b, 'bobby');
    await joined(b, 'bobby');
    await a.locator('#users-list li[data-name="bobby"]').waitFor();

    // Nothing chosen yet: the selector says so.
    assert.equal(await a.locator('#to-row').getAttribute('data-kind'), 'none');
    assert.match(await a.locator('#to-note').textContent(), /Choose who reads it/);

    // Chosen in the selector (keyboard-reachable, a native select): everybody, unmistakably.
    await a.locator('#to').selectOption('all');
    assert.deepEqual(await recipient(a), { to: 'all', text: '' }, 'the box holds the message only');
    assert.equal(await a.locator('#to-row').getAttribute('data-kind'), 'all');
    assert.equal(await a.locator('#to-note').textContent(), 'Everybody connected reads it.');
    assert.equal(await a.locator('#send').textContent(), 'Send to all');
    await a.locator('#text').pressSequentially('hello everybody');
    await a.locator('#text').press('Enter');
    await msg(b, 'hello everybody').waitFor();
    await a.locator('#log li.msg.mine .status', { hasText: 'sent' }).waitFor();
    assert.equal(await a.locator('#to-row').getAttribute('data-kind'), 'all', 'the choice stays');

    // Out of habit, "@bobby " typed first after the @all message: it becomes the recipient,
    // out of the text; and back to everybody the same way.
    await a.locator('#text').pressSequentially('@bobby my password');
    assert.deepEqual(await recipient(a), { to: 'bobby', text: 'my password' });
    assert.equal(await a.locator('#to-note').textContent(), 'Only bobby reads it.');
    await a.locator('#text').fill('@all ');
    assert.deepEqual(await recipient(a), { to: 'all', text: '' });

    // "@bobby, …" (not "@bobby ") after the @all message: not sent without asking; said
    // beside the box before Enter too.
    const before = srv.stdout.length;
    await a.locator('#text').pressSequentially('@bobby, my password is hunter2');
    assert.equal(await a.locator('#to-note').textContent(), 'It goes to EVERYBODY, but the text starts with @bobby: you will be asked before it is sent.');
    assert.equal(await a.locator('#to-row').getAttribute('data-named'), 'yes');
    await a.locator('#text').press('Enter');
    await a.locator('#confirm').waitFor();
    assert.equal(await a.locator('#confirm-text').textContent(), 'This message goes to EVERYBODY, but it starts with @bobby. Send it to whom?');
    assert.equal(await a.locator('#confirm-a').textContent(), 'Send to bobby only');
    assert.equal(await a.locator('#confirm-b').textContent(), 'Send to everybody');
    assert.ok(await a.locator('#confirm-a').evaluate((e) => e === document.activeElement), 'the narrower choice has the focus');
    await sleep(500);
    assert.equal(await msg(b, 'hunter2').count(), 0, 'nothing sent while asking');
    assert.equal(await msg(a, 'hunter2').count(), 0);
    assert.ok(!srv.stdout.slice(before).includes('hunter2'));
    await a.pressKey('Enter'); // the focused choice: bobby only
    const secret = msg(b, 'my password is hunter2');
    await secret.waitFor();
    assert.equal(await secret.locator('.who').textContent(), 'alice → you');
    assert.equal(await secret.locator('.text').textContent(), 'my password is hunter2');
    await a.locator('#log li.msg.mine', { hasText: 'hunter2' }).locator('.status', { hasText: 'sent' }).waitFor();
    assert.ok(!srv.stdout.slice(before).includes('hunter2'), 'a 1:1 message is not readable on the console');
    assert.deepEqual(await recipient(a), { to: 'bobby', text: '' }, 'the next message goes where this one went');
    assert.equal(await a.locator('#to-note').textContent(), 'Only bobby reads it.');

    // The other way round: "@all: …" after a 1:1 asks too; the wider choice needs a click.
    await a.locator('#text').pressSequentially('@all: lunch is ready');
    await a.locator('#text').press('Enter');
    await a.locator('#confirm').waitFor();
    assert.equal(await a.locator('#confirm-a').textContent(), 'Send to bobby only');
    assert.equal(await a.locator('#confirm-b').textContent(), 'Send to everybody');
    await a.locator('#confirm-b').click();
    const lunch = msg(b, 'lunch is ready');
    await lunch.waitFor();
    assert.equal(await lunch.locator('.who').textContent(), 'alice → all');
    await srv.waitOutput(/alice → all: lunch is ready/, { from: before });

    // Nobody of that name: only the chosen recipient or editing; the focus is on editing.
    await a.locator('#to').selectOption('all');
    await a.locator('#text').pressSequentially('@phone3 call me');
    await a.locator('#text').press('Enter');
    await a.locator('#confirm').waitFor();
    assert.match(await a.locator('#confirm-text').textContent(), /@phone3, who is not connected/);
    assert.ok(await a.locator('#confirm-b').isHidden());
    assert.ok(await a.locator('#confirm-edit').evaluate((e) => e === document.activeElement));
    await a.pressKey('Enter');
    assert.ok(await a.locator('#confirm').isHidden());
    assert.deepEqual(await recipient(a), { to: 'all', text: '@phone3 call me' }, 'the text is kept');
    await sleep(300);
    assert.equal(await msg(b, 'call me').count(), 0);

    // Typing "@name " at the start sets the recipient; an unknown one is shown as such, and
    // stays in the text.
    await a.locator('#text').fill('@nobody1 hi');
    assert.equal(await a.locator('#to-row').getAttribute('data-kind'), 'all');
    assert.equal(await a.locator('#to-note').textContent(), 'It goes to EVERYBODY, but the text starts with @nobody1 (nobody called "nobody1" is connected): you will be asked before it is sent.');
    assert.deepEqual(await recipient(a), { to: 'all', text: '@nobody1 hi' });
    await a.locator('#text').fill('@BOBBY hi');
    assert.deepEqual(await recipient(a), { to: 'bobby', text: 'hi' });
    // Clicking a person sets it too, and keeps the text.
    await a.locator('#users-list li[data-name="ADMIN"]').click();
    assert.deepEqual(await recipient(a), { to: 'ADMIN', text: 'hi' });
    assert.equal(await a.locator('#to-note').textContent(), 'Only ADMIN, the administrator, reads it.');
    // A recipient who leaves is shown as not connected; a message then waits for them
    // (held by the server for a while, held.test.mjs), and says so.
    const c = await open(srv, PHONE);
    await join(c, 'carla', { priv: 'bob.pkcs8.pem', pub: 'bob.pub.pem' });
    await joined(c, 'carla');
    await a.locator('#users-list li[data-name="carla"]').click();
    await c.close();
    await a.locator('#to-row[data-kind="gone"]').waitFor();
    assert.equal(await a.locator('#to-note').textContent(), 'carla is not connected: a message waits for them up to 10 minutes, then is not delivered.');
    assert.equal(await a.locator('#to option[value="?"]').textContent(), 'carla: not connected');
    await a.locator('#text').press('Enter');
    await msg(a, 'hi').locator('.status', { hasText: 'waiting for carla' }).waitFor({ timeout: WAIT });

    await b.locator('#to').selectOption('all');
    await b.locator('#text').pressSequentially('@alice, psst');
    await b.locator('#text').press('Enter');
    await b.locator('#confirm').waitFor();
    await b.locator('#confirm-edit').click();
    assert.deepEqual(await recipient(b), { to: 'all', text: '@alice, psst' });
    await noProblems(a, b);
    await a.close();
    await b.close();
  });

  t.test('2. after 20 quick messages the last one is in view; scrolled up, a control says there are more', { timeout: T }, async () => {
    const srv = await server();
    for (const size of [DESKTOP, PHONE]) {
      const a = await open(srv, size);
      const name = size === PHONE ? 'carol2' : 'carol1';
      await join(a, name);
      await joined(a, name);
      await srv.waitOutput(new RegExp(`${name} joined`));
      for (let i = 1; i <= 20; i++) srv.send(`@${name} quick ${i} ${'words '.repeat(i % 4 * 8)}`);
      const last = msg(a, 'quick 20 ');
      await last.waitFor();
      await sleep(300);
      assert.ok(await inView(last), `the last message is in view at ${size.width}x${size.height}`);
      assert.ok(await a.locator('#new-below').isHidden());

      // Scrolled up to read: the view stays, and says there is more below.
      await a.locator('#log').evaluate((l) => (l.scrollTop = 0));
      await sleep(200);
      srv.send(`@${name} one more while reading`);
      const more = msg(a, 'one more while reading');
      await more.waitFor();
      await a.locator('#new-below').waitFor();
      assert.ok(!(await inView(more)));
      await a.locator('#new-below').click();
      await sleep(200);
      assert.ok(await inView(more));
      assert.ok(await a.locator('#new-below').isHidden());

      // The disconnected banner takes room from the log, not from its last lines.
      srv.send(`/kick ${name}`);
      await a.locator('#banner #reconnect').waitFor();
      await sleep(300);
      assert.ok(await inView(a.locator('#log li').last()), 'the last line is above the composer, not under the banner');
      if (size === PHONE) await shoot(a, 'follow');
      await noProblems(a);
      await a.close();
    }
  });

  // Starts the binary on the same ports as `srv` after it stopped, without
  // --admin-private-key: a new administrator key.
  async function restartWithNewAdminKey(srv) {
    const port = new URL(srv.url).port;
    await srv.stop();
    const child = spawn(BIN, ['-i', '127.0.0.1', '-p', port, '-w', '0'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const next = { child, stdout: '', exited: null };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => (next.stdout += d));
    child.stdin.on('error', () => {});
    child.on('exit', () => (next.exited = true));
    next.stop = async () => {
      if (next.exited) return;
      child.stdin.write('/quit\n');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await new Promise((r) => child.once('exit', r));
      clearTimeout(t);
    };
    servers.push(next);
    const t0 = Date.now();
    while (!/Chat page: /.test(next.stdout)) {
      assert.ok(Date.now() - t0 < WAIT && !next.exited, `the restarted server did not start: ${next.stdout}`);
      await sleep(50);
    }
    return next;
  }

  t.test('3. the administrator’s key changing is explained; "admin" and "Admin" are refused as user names', { timeout: T }, async () => {
    const srv = await server();
    const admin = await open(srv);
    const u = await open(srv, PHONE);
    await join(admin, 'boss', { priv: 'admin.pkcs8.pem', pub: 'admin.pub.pem' });
    await joined(admin, 'ADMIN');
    await join(u, 'erin');
    await joined(u, 'erin');

    // Others could not tell "admin" from ADMIN: refused, in any letter case.
    for (const typed of ['admin', 'Admin']) {
      const p = await open(srv, PHONE);
      await join(p, typed);
      await p.locator('#name-error', { hasText: 'taken or not allowed' }).waitFor();
      assert.equal(await p.locator('#name').inputValue(), 'admin', 'lower case, as the name input shows it');
      assert.equal(await p.locator('#state').textContent(), 'Not connected');
      await srv.waitOutput(/join refused for "admin": the administrator's name \(ADMIN\) in other letters/);
      await p.close();
    }

    const next = await restartWithNewAdminKey(srv);
    await admin.locator('#banner-text', { hasText: 'Reconnecting in' }).waitFor();

    // The administrator's page tries again by itself, as ADMIN, the name in use: it is not
    // let in as an ordinary user, says why, plainly, and stops trying.
    const explained = admin.locator('#banner-text', { hasText: "The administrator's key changed" });
    await explained.waitFor({ timeout: 40000 });
    const text = await explained.textContent();
    assert.match(text, /this server no longer has the key you joined with as ADMIN, so it did not let you in/);
    assert.match(text, /restarted without --admin-private-key/);
    assert.match(text, /\/key private/);
    assert.ok(!/Reconnected/.test(await admin.locator('#log').textContent()));
    assert.match(next.stdout, /join refused for "ADMIN": the administrator's name\n/);
    await shoot(admin, 'admin-key-changed');

    await sleep(2500);
    assert.equal(await admin.locator('#reconnect').textContent(), 'Reconnect', 'no countdown any more');

    // A user's page reconnects by itself and is told that the administrator now has
    // another key, and what that means.
    await joined(u, 'erin');
    const warn = notice(u, "The administrator's key changed");
    await warn.waitFor();
    assert.match(await warn.textContent(), /ADMIN now has Key ID [0-9a-f]{12}, not [0-9a-f]{12} as before\. .*check its Key ID with the administrator/);
    assert.ok((await warn.getAttribute('class')).includes('warn'));
    await shoot(u, 'admin-key-changed');
    await noProblems(u);
    await admin.close();
    await u.close();
  });

  t.test('4. counts and names shown are the real ones', { timeout: T }, async () => {
    const srv = await server();
    const admin = await open(srv);
    const a = await open(srv, PHONE);
    const b = await open(srv);
    await join(admin, 'boss', { priv: 'admin.pkcs1.pem', pub: 'admin.pub.pem' });
    await joined(admin, 'ADMIN');
    await join(a, 'frank');
    await joined(a, 'frank');
    await join(b, 'grace');
    await joined(b, 'grace');
    await b.locator('#users-list li[data-name="frank"]').waitFor();
    await admin.locator('#users-list li[data-name="grace"]').waitFor();

    for (const p of [a, b, admin]) {
      const shown = await withUsers(p, () => listedNames(p));
      assert.equal(await p.locator('#users-count').textContent(), `(${shown.length})`, `${shown}`);
    }
    assert.deepEqual(await listedNames(b), ['ADMIN', 'frank']);

    // The console: the count matches the lines listed.
    const from = srv.stdout.length;
    srv.send('/users');
    const head = await srv.waitOutput(/(\d+) connected besides ADMIN \(console and web\), Key ID [0-9a-f]+:/, { from });
    assert.equal(head[1], '2');
    await srv.waitOutput(/\] {3}grace /, { from });
    const listed = [...srv.stdout.slice(from).matchAll(/^\[[0-9:]+\] {3}([a-z0-9]+) +[0-9a-f]{64}$/gm)].map((m) => m[1]);
    assert.deepEqual(listed, ['frank', 'grace']);

    // Disconnected: no stale count; the administrator's banner names the name in use.
    srv.send('/kick frank');
    await a.locator('#banner #reconnect').waitFor();
    assert.equal(await a.locator('#users-count').textContent(), '(offline)');
    assert.match(await a.locator('#banner-text').textContent(), /join again as frank\.$/);
    await b.locator('#users-list li[data-name="frank"]').waitFor({ state: 'detached' });
    assert.equal(await b.locator('#users-count').textContent(), '(1)');

    // The administrator is shown once by name, with what it is beside it.
    const adminRow = await b.locator('#users-list li.admin .pick').innerText();
    assert.match(adminRow, /^ADMIN\s*administrator$/);
    await noProblems(a, b, admin);
    await a.close();
    await b.close();
    await admin.close();
  });

  // Whether the page is still the one the test marked (not reloaded), in time.
  async function stillThere(page, timeout = 3000) {
    const t0 = Date.now();
    for (;;) {
      try {
        if (!(await page.evaluate(() => window.__mark === true))) return false;
      } catch {
        /* navigating */
      }
      if (Date.now() - t0 > timeout) return true;
      await sleep(100);
    }
  }

  // Reloads the page as the user would, after marking it (stillThere() tells).
  async function reload(page) {
    await page.evaluate(() => {
      window.__mark = true;
      setTimeout(() => location.reload(), 0);
    });
  }

  // Whether the page would have the browser ask before it goes: it cancels beforeunload.
  const asksBeforeUnload = (page) => page.evaluate(() => !dispatchEvent(new Event('beforeunload', { cancelable: true })));

  t.test('5. leaving the page warns once joined; "Save my keys" is pointed out once', { timeout: T }, async (tc) => {
    // A kicked key stays out for --kick-for: one second here, then the page may rejoin.
    const srv = await server(['--kick-for', '1']);
    const a = await open(srv);
    await a.locator('#keygen[data-state="done"]').waitFor({ timeout: KEYGEN });
    await a.locator('#name').click(); // a gesture: browsers ask before unload only after one
    assert.equal(await asksBeforeUnload(a), false, 'nothing to lose before joining');
    await reload(a);
    assert.equal(await stillThere(a), false, 'reloaded without a question');
    await a.goto(srv.url);

    await join(a, 'heidi');
    await joined(a, 'heidi');
    const keep = notice(a, 'Save my keys');
    await keep.waitFor();
    assert.match(await keep.textContent(), /Your keys exist only in this tab: reloading or closing it loses them\. To come back later as heidi with the same Key ID/);
    srv.send('/kick heidi');
    await a.locator('#banner #reconnect').waitFor();
    await sleep(1500);
    await a.locator('#reconnect').click();
    await notice(a, 'Reconnected as heidi').waitFor();
    assert.equal(await notice(a, 'Save my keys').count(), 1, 'said once');

    await a.locator('#text').click();
    // The page asks the browser to warn (it cancels the event) in every engine; the
    // browser's own question itself is out of a classic WebDriver test's reach.
    assert.equal(await asksBeforeUnload(a), true, 'asked before unload');
    tc.diagnostic(`${t.engine}: the browser's own "leave this page?" question is not checked: ${NO_UNLOAD_PROMPT}`);
    assert.equal(await a.locator('#me-name').textContent(), 'heidi', 'the page is still there');

    // With custom keys, they are already saved: not pointed out.
    const c = await open(srv);
    await join(c, 'ivan1', { priv: 'alice.pkcs8.pem', pub: 'alice.pub.pem' });
    await joined(c, 'ivan1');
    await notice(c, 'To start:').waitFor();
    assert.equal(await notice(c, 'Save my keys').count(), 0);
    await noProblems(c);
    await a.close();
    await c.close();
  });

  t.test('6. a trailing space is trimmed, the empty chat says how to start, rows are clickable, the form stays still', { timeout: T }, async () => {
    const srv = await server();
    for (const size of [PHONE, DESKTOP]) {
      const a = await open(srv, size);
      // Nothing moves when key generation ends.
      const y0 = (await a.locator('#join').boundingBox()).y;
      assert.equal(await a.locator('#keygen').getAttribute('data-state'), 'busy');
      await a.locator('#keygen[data-state="done"]').waitFor();
      assert.equal((await a.locator('#join').boundingBox()).y, y0, `the Join button stays put at ${size.width}x${size.height}`);
      await a.screenshot({ path: artifact(t.engine, `join-ready-${size.width}x${size.height}.png`) });
      await a.close();
    }

    const a = await open(srv, PHONE);
    const b = await open(srv);
    await join(a, 'judy ');
    await joined(a, 'judy');
    await join(b, ' Kate ');
    await joined(b, 'kate');
    const start = notice(a, 'To start:');
    await start.waitFor();
    assert.match(await start.textContent(), /choose who reads your message beside “To” \(or click a person under People, or a message to answer it\), write it, press Enter\./);
    await shoot(a, 'empty-chat');

    // The whole row picks, not only the name.
    await b.locator('#users-list li[data-name="judy"]').waitFor();
    const row = b.locator('#users-list li[data-name="judy"]');
    const box = await row.boundingBox();
    const kid = await row.locator('.kid').boundingBox();
    await b.clickAt(kid.x - 12, box.y + box.height / 2); // between the name and the Key ID
    assert.deepEqual(await recipient(b), { to: 'judy', text: '' });

    // Near the limit (65,536 bytes of text in version 2) the length left shows, counted
    // in characters as people count: each ☃ is 3 bytes, 1 character. Far from it, nothing.
    const help = () => b.locator('#text-help').textContent();
    await b.locator('#text').pressSequentially('x');
    assert.doesNotMatch(await help(), /characters? left/);
    const paste = (text) => b.locator('#text').evaluate((e, t) => {
      e.value = t;
      e.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertFromPaste', data: t }));
    }, text);
    await paste('x'.repeat(65000));
    const max = Number(/ (\d+) characters left$/.exec(await help())[1]) + 65000;
    await paste('x'.repeat(max) + '☃☃');
    assert.match(await help(), / · 2 characters too many$/);
    await paste('x'.repeat(max) + '☃');
    assert.match(await help(), / · 1 character too many$/);
    await paste('x'.repeat(max - 1));
    assert.match(await help(), / · 1 character left$/);
    await noProblems(a, b);
    await a.close();
    await b.close();
  });

  t.test('6. the HTTPS hint keeps the port of the page', { timeout: T }, async () => {
    // Plain http on a host name that is not localhost: no Web Crypto. The browser reaches
    // the page through the static server acting as its HTTP proxy, on that server's port.
    const web = await staticServer();
    const p = await t.open(null, { viewport: PHONE, proxy: web.proxy });
    try {
      const port = new URL(web.url).port;
      await p.goto(`http://chat.example:${port}/`);
      const link = p.locator('#https-link');
      await link.waitFor();
      assert.equal(await link.textContent(), `https://chat.example:${port}/`);
      assert.equal(await link.getAttribute('href'), `https://chat.example:${port}/`);
      assert.equal(await p.locator('#https-link-443').getAttribute('href'), 'https://chat.example/', 'the other place it may be');
      await p.screenshot({ path: artifact(t.engine, 'nocrypto-port-360x640.png') });
    } finally {
      await p.close();
      await web.close();
    }
  });

  t.test('the composer at both sizes, light and dark: to one person, to everybody, the confirmation', { timeout: T }, async () => {
    const srv = await server();
    for (const dark of [false, true]) {
      const suffix = dark ? 'd' : 'l';
      const a = await open(srv, DESKTOP, { dark });
      const b = await open(srv, PHONE, { dark });
      await join(a, `alice${suffix}`, { priv: 'alice.pkcs8.pem', pub: 'alice.pub.pem' });
      await joined(a, `alice${suffix}`);
      await join(b, `bobby${suffix}`, { priv: 'bob.pkcs8.pem', pub: 'bob.pub.pem' });
      await joined(b, `bobby${suffix}`);
      await a.locator(`#users-list li[data-name="bobby${suffix}"]`).waitFor();
      for (const [p, other] of [[a, `bobby${suffix}`], [b, `alice${suffix}`]]) {
        await withUsers(p, () => p.locator(`#users-list li[data-name="${other}"]`).click());
        await p.locator('#text').pressSequentially('see you at noon by the station');
        assert.deepEqual(await recipient(p), { to: other, text: 'see you at noon by the station' });
        assert.equal(await p.locator('#to-row').getAttribute('data-kind'), 'one');
        await shoot(p, 'composer-one');
        await p.locator('#to').selectOption('all');
        assert.equal(await p.locator('#to-row').getAttribute('data-kind'), 'all');
        assert.equal(await p.locator('#send').textContent(), 'Send to all');
        await shoot(p, 'composer-all');
        await p.locator('#text').fill(`@${other}, my password is hunter2`);
        await p.locator('#text').press('Enter');
        await p.locator('#confirm').waitFor();
        await shoot(p, 'composer-confirm');
        await p.locator('#confirm-edit').click();
        assert.deepEqual(await recipient(p), { to: 'all', text: `@${other}, my password is hunter2` });
      }
      await noProblems(a, b);
      await a.close();
      await b.close();
      await srv.waitOutput(new RegExp(`bobby${suffix} left`));
    }
  });
});
