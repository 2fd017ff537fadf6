// The three browser engines the page is tested in, each from Debian's packages and driven
// through its WebDriver: what each needs installed, how its driver starts, and how each is
// told the same things (window, colour scheme, proxy, downloads, one trusted certificate).

import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newSession } from './webdriver.mjs';

// The geckodriver release the tests want; .ci/run reads it from here and installs it.
export const GECKODRIVER_VERSION = '0.37.1';

const which = (name) => {
  for (const dir of (process.env.PATH || '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
};
// MiniBrowser lives in the multiarch library folder (/usr/lib/x86_64-linux-gnu/...).
const miniBrowser = () => {
  for (const d of readdirSync('/usr/lib')) {
    const p = join('/usr/lib', d, 'webkit2gtk-4.1', 'MiniBrowser');
    if (existsSync(p)) return p;
  }
  return null;
};

const HEADLESS_CHROMIUM = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// Each engine: `find()` gives its binaries or null; `caps(o)` its session capabilities for
// the options o = { dark, proxy, downloads, profile, trust: { certFile, spki, host } }.
export const ENGINES = {
  chromium: {
    install: 'apt-get install chromium chromium-driver',
    find: () => {
      const browser = process.env.CHROMIUM || which('chromium');
      const driver = which('chromedriver');
      return browser && driver ? { browser, driver } : null;
    },
    driverArgs: (port) => [`--port=${port}`],
    caps: (bin, o) => ({
      browserName: 'chrome',
      'goog:chromeOptions': {
        binary: bin.browser,
        args: [
          ...HEADLESS_CHROMIUM,
          `--user-data-dir=${o.profile}`,
          // The system's colour scheme as the page sees it through prefers-color-scheme.
          ...(o.dark ? ['--force-dark-mode'] : []),
          ...(o.proxy ? [`--proxy-server=http://${o.proxy}`] : []),
          // Trusts exactly the certificate with this public key, for every host.
          ...(o.trust ? [`--ignore-certificate-errors-spki-list=${o.trust.spki}`] : []),
        ],
        prefs: { 'download.default_directory': o.downloads, 'download.prompt_for_download': false },
      },
    }),
  },

  firefox: {
    install: `apt-get install firefox-esr && cargo install --locked geckodriver --version ${GECKODRIVER_VERSION}`,
    find: () => {
      const browser = which('firefox-esr') || which('firefox');
      const driver = which('geckodriver');
      return browser && driver ? { browser, driver } : null;
    },
    driverArgs: (port) => [`--port=${port}`, '--log=warn'],
    caps: (bin, o) => {
      if (o.trust) trustInFirefoxProfile(o.profile, o.trust);
      allowPhoneWidth(join(o.profile, 'chrome'), 'userChrome.css', '* { min-width: 0 !important; }');
      return {
        browserName: 'firefox',
        ...(o.proxy ? { proxy: { proxyType: 'manual', httpProxy: o.proxy } } : {}),
        'moz:firefoxOptions': {
          binary: bin.browser,
          args: ['-headless', '-profile', o.profile],
          prefs: {
            // 0 dark, 1 light: what prefers-color-scheme says to pages.
            'layout.css.prefers-color-scheme.content-override': o.dark ? 0 : 1,
            'toolkit.legacyUserProfileCustomizations.stylesheets': true,
            'browser.download.folderList': 2,
            'browser.download.dir': o.downloads,
            'browser.download.useDownloadDir': true,
            'browser.download.always_ask_before_handling_new_types': false,
            'browser.download.start_downloads_in_tmp_dir': false,
            'browser.helperApps.neverAsk.saveToDisk': 'application/x-pem-file',
            // A proxy is how a test gives a host name to a test server: use it for that too.
            'network.proxy.allow_hijacking_localhost': true,
          },
        },
      };
    },
  },

  webkit: {
    install: 'apt-get install webkit2gtk-driver xvfb',
    // WebKitGTK has no headless mode: its MiniBrowser needs an X display (Xvfb).
    display: true,
    find: () => {
      const browser = miniBrowser();
      const driver = which('WebKitWebDriver');
      const xvfb = which('Xvfb');
      return browser && driver && (xvfb || process.env.DISPLAY) ? { browser, driver, xvfb } : null;
    },
    driverArgs: (port) => [`--port=${port}`],
    // MiniBrowser (GTK 3) reads its widgets' style from $XDG_CONFIG_HOME/gtk-3.0/gtk.css,
    // and saves downloads in the XDG download folder ($XDG_CONFIG_HOME/user-dirs.dirs).
    driverEnv: (o) => {
      allowPhoneWidth(join(o.profile, 'gtk-3.0'), 'gtk.css', '* { min-width: 0; padding: 0; margin: 0; }');
      writeFileSync(join(o.profile, 'user-dirs.dirs'), `XDG_DOWNLOAD_DIR="${o.downloads}"\n`);
      return { XDG_CONFIG_HOME: o.profile };
    },
    caps: (bin, o) => ({
      ...(o.proxy ? { proxy: { proxyType: 'manual', httpProxy: o.proxy } } : {}),
      'webkitgtk:browserOptions': {
        binary: bin.browser,
        args: ['--automation', ...(o.dark ? ['--dark-mode'] : [])],
        // Trusts this certificate for this host only.
        ...(o.trust ? { certificates: [{ host: o.trust.host, certificateFile: o.trust.certFile }] } : {}),
      },
    }),
  },
};

// The browsers' toolbars keep a window wider than a phone (Firefox 500 px, MiniBrowser
// 447 px): a style sheet for the browser's own widgets lets them shrink.
function allowPhoneWidth(dir, file, css) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), css);
}

// Firefox trusts a self-signed server certificate that its profile's NSS database holds
// as a trust anchor for TLS servers (C): only that certificate (it signs nothing else: it
// is no CA), for the names it carries. The trusted-peer flag (P) is not enough for
// Firefox's certificate verifier. acceptInsecureCerts would trust every certificate.
function trustInFirefoxProfile(profile, trust) {
  execFileSync('certutil', ['-N', '-d', `sql:${profile}`, '--empty-password']);
  execFileSync('certutil', ['-A', '-d', `sql:${profile}`, '-n', 'dyspatcher-test', '-t', 'C,,', '-i', trust.certFile]);
}

// The engines this run covers: $DYSPATCHER_ENGINES (comma-separated), default all three.
export function selectedEngines() {
  const names = (process.env.DYSPATCHER_ENGINES || Object.keys(ENGINES).join(',')).split(',').filter(Boolean);
  for (const n of names) if (!ENGINES[n]) throw new Error(`unknown engine ${n}: one of ${Object.keys(ENGINES).join(', ')}`);
  return names.map((name) => ({ name, ...ENGINES[name], bin: ENGINES[name].find() }));
}

// Why an engine is skipped; under CI=true a missing engine fails instead.
export function missing(engine) {
  return engine.bin ? null : `${engine.name} is not installed: ${engine.install}`;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(base, child, log, timeoutMs = 20000) {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (child.exitCode !== null) break;
    try {
      const r = await fetch(base + '/status');
      if (r.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${child.spawnargs[0]} did not start: ${log()}`);
}

// An X server of its own for the engines that need a display: Xvfb picks a free display
// number and writes it on the descriptor given to -displayfd.
function startXvfb(xvfb) {
  const child = spawn(xvfb, ['-displayfd', '1', '-screen', '0', '1920x1080x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^(\d+)\n/.exec(out);
      if (m) resolve({ display: `:${m[1]}`, stop: () => child.kill() });
    });
    child.once('exit', (code) => reject(new Error(`Xvfb exited (${code}) before giving a display`)));
  });
}

// One driver process per browser: geckodriver and WebKitWebDriver hold one session each.
async function spawnDriver(engine, env) {
  const port = await freePort();
  const child = spawn(engine.bin.driver, engine.driverArgs(port), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log = (log + d).slice(-4000)));
  child.stderr.on('data', (d) => (log = (log + d).slice(-4000)));
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    const exited = new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r()));
    child.kill();
    await exited;
  };
  try {
    await waitReady(base, child, () => log);
  } catch (e) {
    await stop();
    throw e;
  }
  return { base, stop, log: () => log };
}

// What the tests of one engine share (its X display, if it needs one); `open(options)`
// starts one browser with a driver, a profile and a download folder of its own.
export async function startDriver(engine) {
  let x = null;
  const env = { ...process.env };
  if (engine.display && !process.env.DISPLAY) {
    x = await startXvfb(engine.bin.xvfb);
    env.DISPLAY = x.display;
  }
  const open = new Set();
  return {
    engine: engine.name,
    async open(o = {}) {
      const profile = mkdtempSync(join(tmpdir(), `dysp-${engine.name}-`));
      const downloads = join(profile, 'downloads');
      mkdirSync(downloads);
      const options = { ...o, profile, downloads };
      const driver = await spawnDriver(engine, { ...env, ...engine.driverEnv?.(options) });
      let session;
      try {
        session = await newSession(driver.base, engine.caps(engine.bin, options));
      } catch (e) {
        await driver.stop();
        rmSync(profile, { recursive: true, force: true });
        throw new Error(`${e.message}\n${driver.log()}`);
      }
      session.downloads = downloads;
      const closeOne = async () => {
        open.delete(closeOne);
        await session.delete().catch(() => {});
        await driver.stop();
        rmSync(profile, { recursive: true, force: true });
      };
      open.add(closeOne);
      session.close = closeOne;
      return session;
    },
    async stop() {
      for (const close of [...open]) await close();
      x?.stop();
    },
  };
}
