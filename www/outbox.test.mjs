// Unit tests of outbox.js: node --test www/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Outbox } from './outbox.js';

// Everything the outbox hands out on one connection.
function drain(box) {
  const out = [];
  for (let e = box.next(); e; e = box.next()) out.push(e);
  return out;
}

test('messages written offline go out once, in the order written', () => {
  const box = new Outbox();
  box.queue('a1', 'bob', 'first');
  box.queue('a2', 'all', 'second');
  box.queue('a1', 'bob', 'first again'); // the same id is one message
  assert.equal(box.queued, 2);
  assert.deepEqual(drain(box).map((e) => [e.id, e.to, e.text]), [['a1', 'bob', 'first'], ['a2', 'all', 'second']]);
  assert.deepEqual(drain(box), [], 'handed out once per connection');
  assert.equal(box.size, 2, 'kept until the server answers');
});

test('acked messages are never sent again, not even after a drop', () => {
  const box = new Outbox();
  box.sending('b1', 'bob', 'hello');
  box.sending('b2', 'bob', 'there');
  assert.equal(box.settled('b1').text, 'hello');
  assert.equal(box.settled('b1'), null, 'a second ack of the same id is nothing');
  assert.deepEqual(box.lost().map((e) => e.id), ['b2']);
  assert.deepEqual(drain(box).map((e) => e.id), ['b2'], 'the unacked one, with its own id');
  assert.equal(box.settled('b2').id, 'b2');
  box.lost();
  assert.deepEqual(drain(box), []);
  assert.equal(box.size, 0);
});

test('a message lost twice keeps its id and is still sent once per connection', () => {
  const box = new Outbox();
  box.queue('c1', 'carol', 'x');
  assert.equal(box.next().id, 'c1');
  box.lost();
  box.lost(); // an attempt that failed before joining
  assert.deepEqual(drain(box).map((e) => e.id), ['c1']);
});

test('a message the connection closed under is queued again; a refusal drains all', () => {
  const box = new Outbox();
  box.queue('d1', 'dave', 'x');
  box.queue('d2', 'dave', 'y');
  const e = box.next();
  box.requeue(e.id);
  assert.deepEqual(drain(box).map((x) => x.id), ['d1', 'd2']);
  assert.deepEqual(box.drain().map((x) => x.id), ['d1', 'd2']);
  assert.equal(box.size, 0);
  assert.equal(box.next(), null);
});

test('a refused (undelivered) message is done: not sent again', () => {
  const box = new Outbox();
  box.sending('e1', 'erin', 'x');
  box.settled('e1');
  box.lost();
  assert.equal(box.next(), null);
});

test('a message whose recipient is not back yet waits; the others go on', () => {
  const box = new Outbox();
  box.queue('f1', 'bob', 'to bob');
  box.queue('f2', 'carol', 'to carol');
  box.queue('f3', 'bob', 'to bob again');
  const here = new Set(['carol']);
  const ready = (e) => here.has(e.to);
  assert.deepEqual([box.next(ready)?.id, box.next(ready)], ['f2', null]);
  here.add('bob');
  assert.deepEqual([box.next(ready).id, box.next(ready).id, box.next(ready)], ['f1', 'f3', null], 'in the order written');
});
