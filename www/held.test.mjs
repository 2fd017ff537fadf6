import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clockTime, waitingText, deliveredText, HeldMessages } from './held.js';

test('held: the waiting text names the recipient and the end of the window, HH:MM local', () => {
  const until = new Date(2026, 11, 2, 9, 5, 30).getTime();
  assert.equal(clockTime(until), '09:05');
  assert.equal(waitingText('bob', until), 'waiting for bob (until 09:05)');
  assert.equal(waitingText('bob', 0), 'waiting for bob');
  assert.equal(deliveredText('bob'), 'delivered to bob');
});

test('held: an ack of a held message is a delivery; any other answer is not', () => {
  const h = new HeldMessages();
  h.held('m1', 'bob');
  assert.equal(h.answered('m2'), null, 'never held: a plain ack');
  assert.equal(h.answered('m1'), 'bob');
  assert.equal(h.answered('m1'), null, 'answered once');
});
