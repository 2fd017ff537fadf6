// Shared helpers of the browser tests: Chromium through playwright-core, the real
// server binary, a static server for www/ (for tests that need no chat server).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, mkdirSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname, resolve, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const VECTORS = join(ROOT, 'tests', 'vectors');
export const ARTIFACTS = join(ROOT, 'tests', 'artifacts');
export const vectors = JSON.parse(readFileSync(join(VECTORS, 'vectors.json'), 'utf8'));
export const vectorFile = (name) => join(VECTORS, name);
export const vectorText = (name) => readFileSync(join(VECTORS, name), 'utf8');

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export async function launchBrowser(extraArgs = []) {
  const dataDir = mkdtempSync(join(tmpdir(), 'dysp-chromium-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    ...extraArgs,
  ];
  const context = await chromium.launchPersistentContext(dataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    viewport: { width: 1280, height: 800 },
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// A page that records console errors and CSP violations.
export async function newPage(browser, viewport) {
  const page = await browser.context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  page.problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error') page.problems.push('console: ' + m.text());
  });
  page.on('pageerror', (e) => page.problems.push('pageerror: ' + e.message));
  return page;
}

export function artifact(name) {
  if (!existsSync(ARTIFACTS)) mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

// ---- the real server --------------------------------------------------------------

export const BIN = resolve(ROOT, process.env.DYSPATCHER_BIN || 'target/debug/dyspatcher');

// Starts the server; resolves when the banner gives the chat page URL.
export function startServer(extraArgs = [], { timeoutMs = 20000 } = {}) {
  const args = ['-i', '127.0.0.1', '-p', '0', '-w', '0', '--admin-private-key', vectorFile('admin.pkcs8.pem'), ...extraArgs];
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
      srv.url = m[1];
      return srv;
    })
    .catch(async (e) => {
      child.kill('SIGKILL');
      throw e;
    });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- a static server for www/ (crypto tests without the chat server) ----------------

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };
export const CSP = "default-src 'self'; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function staticServer() {
  const www = join(ROOT, 'www');
  const server = createServer((req, res) => {
    const name = req.url === '/' ? 'index.html' : req.url.slice(1).split('?')[0];
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
      r({ url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((c) => server.close(c)) }),
    ),
  );
}
