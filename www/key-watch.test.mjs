// Unit tests of key-watch.js: node --test www/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyWatch, MAX_SEEN } from './key-watch.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

test('a name seen with one key and then listed with another is a key change, said once', () => {
  const w = new KeyWatch();
  assert.deepEqual(w.listed([{ name: 'alex', keyid: A }, { name: 'bob', keyid: B }]), []);
  assert.deepEqual(w.listed([{ name: 'alex', keyid: A }]), [], 'the same key again is nothing');
  assert.deepEqual(w.listed([{ name: 'alex', keyid: C }]), [{ name: 'alex', before: A, after: C, wasVerified: false }]);
  assert.deepEqual(w.listed([{ name: 'alex', keyid: C }]), [], 'not repeated for the same new key');
  assert.equal(w.status('alex', C), '');
});

test('a verified key carries the mark; another key for that name drops it and says so', () => {
  const w = new KeyWatch();
  w.listed([{ name: 'alex', keyid: A }]);
  w.verify('alex', A);
  assert.equal(w.status('alex', A), 'verified');
  const [change] = w.listed([{ name: 'alex', keyid: C }]);
  assert.deepEqual(change, { name: 'alex', before: A, after: C, wasVerified: true });
  assert.equal(w.status('alex', C), 'changed');
  w.verify('alex', C); // compared again
  assert.equal(w.status('alex', C), 'verified');
  assert.equal(w.status('alex', A), '');
});

test('keys remembered as verified are checked from the first list on', () => {
  const w = new KeyWatch(new Map([['alex', A]]));
  assert.deepEqual(w.listed([{ name: 'alex', keyid: A }]), []);
  assert.equal(w.status('alex', A), 'verified');
  const w2 = new KeyWatch(new Map([['alex', A]]));
  assert.deepEqual(w2.listed([{ name: 'alex', keyid: B }]), [{ name: 'alex', before: A, after: B, wasVerified: true }]);
  assert.equal(w2.status('alex', B), 'changed');
});

test('the verified key coming back is verified again; unverify removes the mark', () => {
  const w = new KeyWatch();
  w.listed([{ name: 'alex', keyid: A }]);
  w.verify('alex', A);
  w.listed([{ name: 'alex', keyid: B }]);
  assert.equal(w.listed([{ name: 'alex', keyid: A }]).length, 1, 'a change again (from B)');
  assert.equal(w.status('alex', A), 'verified');
  w.unverify('alex');
  assert.equal(w.status('alex', A), '');
  assert.deepEqual([...w.verified], []);
});

test('the names seen are bounded: the oldest is forgotten first', () => {
  const w = new KeyWatch();
  w.listed([{ name: 'first', keyid: A }]);
  w.listed(Array.from({ length: MAX_SEEN }, (_, i) => ({ name: `u${i}`, keyid: B })));
  assert.deepEqual(w.listed([{ name: 'first', keyid: C }]), [], 'forgotten: no longer compared');
  assert.equal(w.listed([{ name: 'u5', keyid: C }]).length, 1, 'the recent ones still are');
});
