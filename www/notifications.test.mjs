// Unit tests of notifications.js: node --test www/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Notifier, notificationFor, titleWith } from './notifications.js';

function fakeApi(permission = 'default', answer = 'granted') {
  const shown = [];
  function N(title, options) {
    shown.push({ title, options });
    this.close = () => {};
  }
  N.permission = permission;
  N.requestPermission = async () => (N.permission = answer);
  N.shown = shown;
  return N;
}

const msg = { kind: 'other', from: 'alex', to: 'me', text: 'the secret plan' };

test('a notification names the sender, never the text', () => {
  const n = notificationFor(msg);
  assert.equal(n.title, 'Message from alex');
  assert.equal(n.options.body, '');
  assert.ok(!JSON.stringify(n).includes('secret'));
  assert.equal(notificationFor({ ...msg, to: 'all' }).title, 'alex wrote to everybody');
  assert.equal(notificationFor({ ...msg, kind: 'mine' }), null);
});

test('nothing is shown before the person allows it, nor while the page is visible', async () => {
  const api = fakeApi();
  const doc = { hidden: true };
  const n = new Notifier(api, doc);
  assert.equal(n.message(msg), null);
  assert.equal(await n.enable(), true);
  doc.hidden = false;
  assert.equal(n.message(msg), null);
  doc.hidden = true;
  assert.ok(n.message(msg));
  assert.deepEqual(api.shown.map((s) => s.title), ['Message from alex']);
  n.disable();
  assert.equal(n.message(msg), null);
});

test('a refusal leaves notifications off; without the API nothing breaks', async () => {
  const n = new Notifier(fakeApi('default', 'denied'), { hidden: true });
  assert.equal(await n.enable(), false);
  assert.equal(n.message(msg), null);
  const none = new Notifier(undefined, { hidden: true });
  assert.equal(none.supported, false);
  assert.equal(await none.enable(), false);
});

test('the title counts what was not seen', () => {
  assert.equal(titleWith(0, 'alice · dyspatcher'), 'alice · dyspatcher');
  assert.equal(titleWith(3, 'alice · dyspatcher'), '(3) alice · dyspatcher');
});
