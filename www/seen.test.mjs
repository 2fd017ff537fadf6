// Unit tests of the replay window's memory (seen.js): node --test www/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeenIds } from './seen.js';

test('seen: an id is a replay within the window, forgotten after it', () => {
  const s = new SeenIds(1000);
  assert.equal(s.replay('alice', 'm1', 0), false);
  assert.equal(s.replay('alice', 'm1', 999), true);
  assert.equal(s.replay('bob', 'm1', 999), false, 'ids are per sender');
  assert.equal(s.replay('alice', 'm1', 1001), false, 'forgotten after the window');
  assert.equal(s.size, 2, 'bob (seen at 999) and alice again');
});

test('seen: at most `cap` ids, the oldest forgotten first', () => {
  const s = new SeenIds(60000, 3);
  for (const id of ['a', 'b', 'c', 'd']) s.replay('x', id, 0);
  assert.equal(s.size, 3);
  assert.equal(s.replay('x', 'a', 1), false, 'the oldest went');
  assert.equal(s.replay('x', 'd', 1), true);
});
