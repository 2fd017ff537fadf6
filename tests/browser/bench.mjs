// Measures, in each installed engine, the RSA-4096 key generation of the page's crypto
// (www/crypto.js, 10 keys) and the page's load from the real server (5 loads): medians,
// for docs/PERFORMANCE.md. Not a test: run it alone, on a machine as quiet as can be.
//   node tests/browser/bench.mjs            (all engines; DYSPATCHER_ENGINES=firefox for one)

import { existsSync } from 'node:fs';
import { selectedEngines, missing, startDriver } from './engines.mjs';
import { Page, startServer, BIN } from './helpers.mjs';

const KEYS = 10;
const LOADS = 5;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);

if (!existsSync(BIN)) throw new Error(`no server binary at ${BIN}: cargo build --bin dyspatcher`);
const srv = await startServer();
const rows = [];
try {
  for (const engine of selectedEngines()) {
    const why = missing(engine);
    if (why) {
      console.log(`${engine.name}: SKIPPED (${why})`);
      continue;
    }
    const driver = await startDriver(engine);
    try {
      const page = await Page.open(driver);
      const loads = [];
      for (let i = 0; i < LOADS; i++) {
        await page.session.navigate(srv.url + `?load=${i}`);
        // From the navigation's start to the end of the load event (scripts, styles, icon);
        // WebKitWebDriver may answer during the load event, before its end is recorded.
        loads.push(
          await page.evaluate(async () => {
            const nav = () => performance.getEntriesByType('navigation')[0];
            while (!nav() || !nav().loadEventEnd) await new Promise((r) => setTimeout(r, 10));
            return nav().loadEventEnd;
          }),
        );
      }
      // The page generates its own keys as it loads: let that finish before timing ours.
      await page.locator('#keygen[data-state="done"]').waitFor({ timeout: 120000 });
      const keygen = await page.evaluate(async (n) => {
        const C = await import('/crypto.js');
        const times = [];
        for (let i = 0; i < n; i++) {
          const t0 = performance.now();
          const k = await C.generate(4096);
          if (k.bits !== 4096) throw new Error('not a 4096-bit key');
          times.push(performance.now() - t0);
        }
        return times;
      }, KEYS);
      const version = page.session.capabilities.browserVersion;
      rows.push({ engine: engine.name, version, keygen, loads });
      console.log(`${engine.name} ${version}: RSA-4096 keygen median ${fmt(median(keygen))} (min ${fmt(Math.min(...keygen))}, max ${fmt(Math.max(...keygen))}, n=${KEYS}); page load median ${fmt(median(loads))} (n=${LOADS})`);
      await page.close();
    } finally {
      await driver.stop();
    }
  }
} finally {
  await srv.stop();
}

console.log('\n| engine | version | RSA-4096 key generation, median of 10 (min–max) | page load, median of 5 |');
console.log('| --- | --- | --- | --- |');
for (const r of rows) {
  console.log(`| ${r.engine} | ${r.version} | ${fmt(median(r.keygen))} (${fmt(Math.min(...r.keygen))}–${fmt(Math.max(...r.keygen))}) | ${fmt(median(r.loads))} |`);
}
