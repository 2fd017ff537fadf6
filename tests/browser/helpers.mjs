// Shared helpers of the browser tests: each test is written once and runs in every engine
// (engines.mjs) through WebDriver (webdriver.mjs); the real server binary; a static server
// for www/ (for tests that need no chat server).

import { spawn } from 'node:child_process';
import { readFileSync, mkdirSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, dirname, resolve, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { selectedEngines, missing, startDriver } from './engines.mjs';
import { Key } from './webdriver.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const VECTORS = join(ROOT, 'tests', 'vectors');
export const ARTIFACTS = join(ROOT, 'tests', 'artifacts');
export const vectors = JSON.parse(readFileSync(join(VECTORS, 'vectors.json'), 'utf8'));
export const vectorFile = (name) => join(VECTORS, name);
export const vectorText = (name) => readFileSync(join(VECTORS, name), 'utf8');

// Declares the tests `define(t)` gives once per engine, in a suite named after the engine.
// t.test is node's test, skipped (with the command that installs the engine) when the
// engine is missing; under CI=true a missing engine fails instead. t.open(url, options)
// opens a page in a browser of its own.
export function forEachEngine(define) {
  for (const engine of selectedEngines()) {
    const why = missing(engine);
    describe(engine.name, () => {
      if (why && process.env.CI === 'true') {
        test(`${engine.name} is installed`, () => assert.fail(why));
        return;
      }
      let driver = null;
      const pages = [];
      if (!why) {
        before(async () => (driver = await startDriver(engine)));
        after(async () => {
          for (const p of pages) await p.close();
          await driver?.stop();
        });
      }
      define({
        engine: engine.name,
        test: (name, opts, fn) => test(name, { ...opts, skip: why || opts.skip || false }, fn),
        before: (fn) => why || before(fn),
        after: (fn) => why || after(fn),
        async open(url, options = {}) {
          const page = await Page.open(driver, options);
          pages.push(page);
          if (url) await page.goto(url);
          return page;
        },
      });
    });
  }
}

// What the page reports as going wrong: uncaught errors, console.error, CSP violations.
// Classic WebDriver has no console log (and WebKitGTK's driver no BiDi), so the page is
// given listeners right after it loads; a CSP violation during the load itself still shows
// through the buffered ReportingObserver where the engine has one.
function recordProblems() {
  if (window.__dyspProblems) return;
  const P = (window.__dyspProblems = []);
  addEventListener('error', (e) => P.push('pageerror: ' + e.message));
  addEventListener('unhandledrejection', (e) => P.push('pageerror: ' + ((e.reason && e.reason.message) || e.reason)));
  document.addEventListener('securitypolicyviolation', (e) => P.push(`csp: ${e.violatedDirective} ${e.blockedURI}`));
  const error = console.error;
  console.error = (...a) => {
    P.push('console: ' + a.join(' '));
    error.apply(console, a);
  };
  if (window.ReportingObserver) {
    new ReportingObserver((reports) => reports.forEach((r) => P.push('csp: ' + JSON.stringify(r.body))), { types: ['csp-violation'], buffered: true }).observe();
  }
}

// Finds the elements of a chain of steps { css, text, nth }: each step searches inside the
// previous one's elements; text keeps those whose text holds it (case and spacing aside).
function findAll(steps) {
  const norm = (t) => t.replace(/\s+/g, ' ').trim().toLowerCase();
  let els = [document];
  for (const s of steps) {
    let next = [];
    for (const e of els) {
      for (const c of e.querySelectorAll(s.css)) {
        if (!next.includes(c) && (s.text == null || norm(c.textContent).includes(norm(s.text)))) next.push(c);
      }
    }
    if (s.nth != null) next = s.nth < 0 ? next.slice(s.nth).slice(0, 1) : next.slice(s.nth, s.nth + 1);
    els = next;
  }
  return els;
}

const isVisible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';

// Text with a character outside the BMP cannot be typed through every driver (ChromeDriver
// refuses them): such text is put in the box as a paste would, with an input event.
const outsideBmp = /[\u{10000}-\u{10FFFF}]/u;

export class Locator {
  constructor(page, steps) {
    this.page = page;
    this.steps = steps;
  }

  locator(css, { hasText } = {}) {
    return new Locator(this.page, [...this.steps, { css, text: hasText }]);
  }

  first() {
    const last = this.steps[this.steps.length - 1];
    return new Locator(this.page, [...this.steps.slice(0, -1), { ...last, nth: 0 }]);
  }

  last() {
    const last = this.steps[this.steps.length - 1];
    return new Locator(this.page, [...this.steps.slice(0, -1), { ...last, nth: -1 }]);
  }

  all() {
    return this.page.session.execute(`function (steps) { return (${findAll})(steps); }`, this.steps);
  }

  async count() {
    return (await this.all()).length;
  }

  // The first element, once there (and visible, unless `visible: false`).
  async element({ timeout = this.page.timeout, visible = true } = {}) {
    const t0 = Date.now();
    for (;;) {
      const el = await this.page.session.execute(
        `function (steps, visible) { const e = (${findAll})(steps)[0]; return e && (!visible || (${isVisible})(e)) ? e : null; }`,
        this.steps,
        visible,
      );
      if (el) return el;
      if (Date.now() - t0 > timeout) throw new Error(`${this.page.engine}: no ${visible ? 'visible ' : ''}element for ${JSON.stringify(this.steps)} in ${timeout} ms`);
      await sleep(50);
    }
  }

  // Until the element is there and visible, or (state: 'detached') until there is none.
  async waitFor({ timeout = this.page.timeout, state = 'visible' } = {}) {
    if (state !== 'detached') return void (await this.element({ timeout }));
    const t0 = Date.now();
    while ((await this.count()) > 0) {
      if (Date.now() - t0 > timeout) throw new Error(`${this.page.engine}: still an element for ${JSON.stringify(this.steps)} after ${timeout} ms`);
      await sleep(50);
    }
  }

  async isVisible() {
    return this.page.session.execute(`function (steps) { const e = (${findAll})(steps)[0]; return !!e && (${isVisible})(e); }`, this.steps);
  }

  async isHidden() {
    return !(await this.isVisible());
  }

  boundingBox() {
    return this.evaluate((e) => {
      const r = e.getBoundingClientRect();
      return { x: r.x, y: r.y, width: r.width, height: r.height };
    });
  }

  innerText() {
    return this.evaluate((e) => e.innerText);
  }

  // Chooses the <option> of this value in a <select>: WebDriver's click on an option
  // selects it as the user's choice does (input and change events).
  async selectOption(value) {
    const option = await this.locator(`option[value="${value}"]`).element({ visible: false });
    await this.page.session.click(option);
  }

  // Runs fn(element, arg) in the page.
  async evaluate(fn, arg) {
    const el = await this.element({ visible: false });
    return this.page.session.execute(`function (e, a) { return (${fn})(e, a); }`, el, arg);
  }

  async evaluateAll(fn) {
    return this.page.session.execute(`function (steps) { return (${fn})((${findAll})(steps)); }`, this.steps);
  }

  textContent() {
    return this.evaluate((e) => e.textContent);
  }

  inputValue() {
    return this.evaluate((e) => e.value);
  }

  getAttribute(name) {
    return this.evaluate((e, n) => e.getAttribute(n), name);
  }

  // A click as the user's pointer gives it, retried while something covers the element.
  async click() {
    const t0 = Date.now();
    for (;;) {
      const el = await this.element();
      try {
        return await this.page.session.click(el);
      } catch (e) {
        if (!/intercepted|not interactable|stale/.test(e.code) || Date.now() - t0 > this.page.timeout) throw e;
        await sleep(100);
      }
    }
  }

  async fill(text) {
    const el = await this.element();
    await this.page.session.clear(el);
    if (outsideBmp.test(text)) {
      await this.page.session.execute((e, t) => {
        e.value = t;
        e.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertFromPaste', data: t }));
      }, el, text);
    } else if (text) {
      await this.page.session.sendKeys(el, text);
    }
  }

  async pressSequentially(text) {
    await this.page.session.sendKeys(await this.element(), text);
  }

  // 'Enter' or 'Shift+Enter': the modifier stays down to the end of the keys sent.
  async press(keys) {
    await this.page.session.sendKeys(await this.element(), keys.split('+').map((k) => Key[k]).join(''));
  }

  async setInputFiles(path) {
    await this.page.session.sendKeys(await this.element({ visible: false }), path);
  }
}

export class Page {
  static async open(driver, { viewport = { width: 1280, height: 800 }, ...options } = {}) {
    const session = await driver.open(options);
    // Scripts run as long as the test lets them (the drivers' default is 30 s; a few RSA-4096
    // keys in WebKitGTK on a busy machine take longer).
    await session.cmd('POST', '/timeouts', { script: 300000 });
    const page = new Page(driver.engine, session);
    page.viewport = viewport;
    page.dark = !!options.dark;
    await page.setViewportSize(viewport);
    return page;
  }

  constructor(engine, session) {
    this.engine = engine;
    this.session = session;
    this.timeout = 20000;
    this.seenDownloads = new Set();
  }

  setDefaultTimeout(ms) {
    this.timeout = ms;
  }

  async goto(url) {
    await this.session.navigate(url);
    await this.session.execute(recordProblems);
  }

  locator(css, opts) {
    return new Locator(this, [{ css, text: opts?.hasText }]);
  }

  // Keys ('Enter', 'Shift+Enter') to whatever has the focus.
  async pressKey(keys) {
    const el = await this.session.cmd('GET', '/element/active');
    await this.session.sendKeys(el, keys.split('+').map((k) => Key[k]).join(''));
  }

  // A click of the pointer at this point of the viewport.
  clickAt(x, y) {
    const pointer = { type: 'pointer', id: 'mouse', parameters: { pointerType: 'mouse' }, actions: [{ type: 'pointerMove', origin: 'viewport', x: Math.round(x), y: Math.round(y), duration: 0 }, { type: 'pointerDown', button: 0 }, { type: 'pointerUp', button: 0 }] };
    return this.session.cmd('POST', '/actions', { actions: [pointer] });
  }


  evaluate(fn, arg) {
    return this.session.execute(fn, arg);
  }

  problems() {
    return this.session.execute(() => window.__dyspProblems || ['the problem recorder is missing']);
  }

  // The window is sized so that the page's viewport is exactly this (window decorations
  // and toolbars differ between engines).
  async setViewportSize({ width, height }) {
    let rect = { width, height };
    for (let i = 0; i < 4; i++) {
      await this.session.setWindowRect(rect);
      const [w, h] = await this.session.execute(() => [innerWidth, innerHeight]);
      if (w === width && h === height) return;
      const now = await this.session.cmd('GET', '/window/rect');
      rect = { width: now.width + width - w, height: now.height + height - h };
    }
    const got = await this.session.execute(() => [innerWidth, innerHeight]);
    throw new Error(`${this.engine}: the viewport is ${got.join('x')}, not ${width}x${height}`);
  }

  async screenshot({ path }) {
    writeFileSync(path, await this.session.screenshot());
  }

  // The next file the page downloads (into this browser's own download folder).
  async nextDownload({ timeout = this.timeout } = {}) {
    const t0 = Date.now();
    const dir = this.session.downloads;
    for (;;) {
      const done = readdirSync(dir).filter((n) => !/^\.|\.(crdownload|part)$/.test(n) && !this.seenDownloads.has(n)); // dot files are the browser's own
      if (done.length) {
        this.seenDownloads.add(done[0]);
        await sleep(200); // the rename to the final name comes after the last write
        return { name: done[0], path: join(dir, done[0]) };
      }
      if (Date.now() - t0 > timeout) throw new Error(`${this.engine}: no download in ${timeout} ms (${dir}: ${readdirSync(dir).join(', ')})`);
      await sleep(100);
    }
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    await this.session.close();
  }
}

export async function noProblems(...pages) {
  for (const p of pages) assert.deepEqual(await p.problems(), [], `${p.engine}: console errors or CSP violations in the page`);
}

// Screenshots go in tests/artifacts/<engine>/.
export function artifact(engine, name) {
  const dir = join(ARTIFACTS, engine);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

// ---- the real server --------------------------------------------------------------

export const BIN = resolve(ROOT, process.env.DYSPATCHER_BIN || 'target/debug/dyspatcher');

// Starts the server; resolves when the banner gives the chat page URL. `port`: the web
// port (0: any free one), e.g. that of a server stopped before, to start it again.
export function startServer(extraArgs = [], { timeoutMs = 20000, port = 0 } = {}) {
  const args = ['-i', '127.0.0.1', '-p', String(port), '-w', '0', '--admin-private-key', vectorFile('admin.pkcs8.pem'), ...extraArgs];
  const child = spawn(BIN, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const srv = {
    child,
    stdout: '',
    stderr: '',
    url: '',
    exited: null,
    send(line) {
      child.stdin.write(line.endsWith('\n') ? line : line + '\n');
    },
    // Waits until stdout (after `from`) matches re.
    async waitOutput(re, { timeoutMs = 10000, from = 0 } = {}) {
      const t0 = Date.now();
      while (Date.now() - t0 < timeoutMs) {
        const m = re.exec(srv.stdout.slice(from));
        if (m) return m;
        if (srv.exited) break;
        await sleep(50);
      }
      throw new Error(`server output did not match ${re} in ${timeoutMs} ms; exit ${JSON.stringify(srv.exited)}\n--- stdout ---\n${srv.stdout}\n--- stderr ---\n${srv.stderr}`);
    },
    async stop() {
      if (srv.exited) return;
      try {
        child.stdin.write('/quit\n');
      } catch { /* closed */ }
      const done = new Promise((r) => child.once('exit', r));
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await done;
      clearTimeout(t);
    },
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => (srv.stdout += d));
  child.stderr.on('data', (d) => (srv.stderr += d));
  child.stdin.on('error', () => {});
  child.on('exit', (code, signal) => (srv.exited = { code, signal }));
  child.on('error', (e) => (srv.exited = { error: String(e) }));
  return srv
    .waitOutput(/Chat page: (https?:\/\/[^\s]+)/, { timeoutMs })
    .then((m) => {
      // With --self-signed the banner's link ends in #sha256=<fingerprint> (what its
      // QR code opens): srv.link keeps it, srv.url is the page's own address.
      srv.link = m[1];
      srv.url = m[1].replace(/#.*$/, '');
      return srv;
    })
    .catch(async (e) => {
      child.kill('SIGKILL');
      throw e;
    });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// How long a page may take to show one thing, and to make its RSA-4096 keys with other
// browsers busy on theirs (seconds each in WebKitGTK).
export const WAIT = 20000;
export const KEYGEN = 90000;

// Joins the chat from the page's join form: with custom keys (vector files
// { priv, pub }) if given, else once the generated keys are ready.
export async function joinChat(page, name, keys) {
  if (keys) {
    await page.locator('#custom summary').click();
    await page.locator('#key-private').setInputFiles(vectorFile(keys.priv));
    if (keys.pub) await page.locator('#key-public').setInputFiles(vectorFile(keys.pub));
    await page.locator('#keygen-text', { hasText: 'Custom keys loaded' }).waitFor({ timeout: WAIT });
  } else {
    await page.locator('#keygen[data-state="done"]').waitFor({ timeout: KEYGEN });
  }
  await page.locator('#name').fill(name);
  await page.locator('#name').press('Enter');
}

// ---- a static server for www/ (crypto tests without the chat server) ----------------
// It is also an HTTP proxy (a proxied request names the whole URL): a browser told to use
// it as its proxy reaches it under any host name, e.g. http://chat.example/.

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };
export const CSP = "default-src 'self'; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function staticServer() {
  const www = join(ROOT, 'www');
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://proxied/').pathname;
    const name = path === '/' ? 'index.html' : path.slice(1);
    if (!/^[a-z0-9.-]+$/.test(name) || !existsSync(join(www, name))) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': TYPES[extname(name)] || 'application/octet-stream',
      'Content-Security-Policy': CSP,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(readFileSync(join(www, name)));
  });
  return new Promise((r) =>
    server.listen(0, '127.0.0.1', () =>
      r({ url: `http://127.0.0.1:${server.address().port}/`, proxy: `127.0.0.1:${server.address().port}`, close: () => new Promise((c) => server.close(c)) }),
    ),
  );
}
