// Unit tests of share.js: node --test www/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fingerprint, fingerprintPairs, pageLink, qrSource } from './share.js';

const FP = '0123456789abcdef'.repeat(4);

test('the fingerprint is read from the fragment, and nothing else is', () => {
  assert.equal(fingerprint(`#sha256=${FP}`), FP);
  assert.equal(fingerprint(`#sha256=${FP.toUpperCase()}`), FP);
  assert.equal(fingerprint(`#x=1&sha256=${FP}`), FP);
  assert.equal(fingerprint(''), '');
  assert.equal(fingerprint(`#sha256=${FP}00`), '', 'too long');
  assert.equal(fingerprint('#sha256=<script>'), '');
});

test('it is shown as the browser shows it', () => {
  const p = fingerprintPairs(FP);
  assert.equal(p.split(':').length, 32);
  assert.ok(p.startsWith('01:23:45:67:89:AB:CD:EF:'));
});

test('the shared link is the page with its fingerprint; its QR comes from the server', () => {
  const loc = { origin: 'https://192.168.1.20:8443', pathname: '/', hash: `#sha256=${FP}`, search: '?x' };
  assert.equal(pageLink(loc), `https://192.168.1.20:8443/#sha256=${FP}`);
  assert.equal(pageLink({ ...loc, hash: '' }), 'https://192.168.1.20:8443/');
  assert.equal(qrSource('https://a.example/#sha256=ab'), '/qr.svg?text=https%3A%2F%2Fa.example%2F%23sha256%3Dab');
  assert.equal(qrSource('https://a.example/' + 'x'.repeat(300)), '');
});
