// Unit tests of backoff.js and reconnect.js: node --test www/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, CAP_MS } from './backoff.js';
import { Reconnector, stopsRetries } from './reconnect.js';

test('the delays double from 1 s and stop growing at 30 s', () => {
  const mid = () => 0.5; // no jitter
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 100].map((n) => backoffDelay(n, mid)), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
});

test('the jitter stays within ±25 % and never passes the cap', () => {
  assert.equal(backoffDelay(0, () => 0), 750);
  assert.equal(backoffDelay(0, () => 0.999999), 1250);
  assert.equal(backoffDelay(2, () => 0), 3000);
  for (let n = 0; n < 12; n++) {
    for (const r of [0, 0.3, 0.7, 0.999]) {
      const d = backoffDelay(n, () => r);
      assert.ok(d >= 750 && d <= CAP_MS, `${n}, ${r}: ${d}`);
    }
  }
});

// A clock the test moves by hand.
function fakeClock() {
  let t = 0;
  let next = 1;
  const timers = new Map();
  return {
    now: () => t,
    setTimeout: (fn, ms) => (timers.set(next, { at: t + ms, fn }), next++),
    clearTimeout: (id) => timers.delete(id),
    advance(ms) {
      const end = t + ms;
      for (;;) {
        const due = [...timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        t = due[1].at;
        due[1].fn();
      }
      t = end;
    },
    pending: () => timers.size,
  };
}

function reconnector() {
  const clock = fakeClock();
  const log = { attempts: 0, views: [] };
  const r = new Reconnector({ attempt: () => log.attempts++, show: (v) => log.views.push(v), clock, random: () => 0.5 });
  return { r, clock, log };
}

test('a lost connection is tried again after 1, 2 then 4 s, with a countdown', () => {
  const { r, clock, log } = reconnector();
  assert.equal(r.lost(), 1000);
  assert.deepEqual(log.views.at(-1), { waiting: true, seconds: 1 });
  clock.advance(999);
  assert.equal(log.attempts, 0);
  clock.advance(1);
  assert.equal(log.attempts, 1);
  assert.deepEqual(log.views.at(-1), { waiting: false });
  assert.equal(r.lost(), 2000); // that attempt failed too
  assert.equal(r.lost(), 4000);
  log.views.length = 0;
  clock.advance(3100);
  assert.deepEqual(log.views.map((v) => v.seconds), [3, 2, 1]);
  clock.advance(900);
  assert.equal(log.attempts, 2);
});

test('"Now" tries at once and only once; a join resets the delays', () => {
  const { r, clock, log } = reconnector();
  r.lost();
  r.lost();
  r.now();
  assert.equal(log.attempts, 1);
  r.now(); // nothing waits any more
  clock.advance(60000);
  assert.equal(log.attempts, 1);
  r.joined();
  assert.equal(r.lost(), 1000);
});

test('stop cancels the attempt and its countdown', () => {
  const { r, clock, log } = reconnector();
  r.lost();
  r.stop();
  assert.equal(clock.pending(), 0);
  clock.advance(60000);
  assert.equal(log.attempts, 0);
  assert.equal(r.waiting, false);
});

test('refusals stop the retries; a dropped or unreachable connection does not', () => {
  assert.equal(stopsRetries({ kind: 'closed', text: '' }), false);
  assert.equal(stopsRetries({ kind: 'unreachable', text: '' }), false);
  for (const kind of ['refused', 'admin-key', 'notice']) assert.equal(stopsRetries({ kind, text: '' }), true, kind);
});

test('by default the real timers run it', async () => {
  let attempts = 0;
  const r = new Reconnector({ attempt: () => attempts++, show: () => {}, random: () => 0 });
  assert.equal(r.lost(), 750);
  assert.equal(r.waiting, true);
  r.now();
  assert.equal(attempts, 1);
  r.stop();
});
