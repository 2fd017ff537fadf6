// Unit tests of comparison.js: node --test www/
// The expected codes were computed independently with python3's hashlib:
//   int.from_bytes(sha256(("dyspatcher comparison v1\n" + min + "\n" + max).encode()).digest()[:8], 'big') % 10**12

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { comparisonCode, keyIdGroups, inGroups } from './comparison.js';

// SHA-256 of the DER of tests/vectors' alice, bob and admin public keys.
const ALICE = '3a2a05238472d1af0fe2370dc84af000f02163c6c4ebbc1aee243e1d61126580';
const BOB = 'dca1f38c793349bef5897da31ce04d0b40a652bc15cf8ed92988877da8d6da51';
const ADMIN = 'b2a6523d60dc09ee840a68b273bbbb684b11856d8a67863496585d1f4628b107';

test('the comparison code of two keys is the fixed vector, whatever their order', async () => {
  assert.equal(await comparisonCode(ALICE, BOB), '784 496 660 601');
  assert.equal(await comparisonCode(BOB, ALICE), '784 496 660 601');
  assert.equal(await comparisonCode(ALICE, ADMIN), '716 702 703 856');
});

test('the code keeps its leading zeros: always 12 digits in four groups', async () => {
  assert.equal(await comparisonCode('0'.repeat(64), 'f'.repeat(64)), '019 673 122 882');
  assert.match(await comparisonCode(ADMIN, BOB), /^\d{3} \d{3} \d{3} \d{3}$/);
});

test('another key on one side gives another code', async () => {
  assert.notEqual(await comparisonCode(ALICE, BOB), await comparisonCode(ADMIN, BOB));
});

test('a Key ID is shown whole, in 16 groups of four', () => {
  const g = keyIdGroups(ALICE);
  assert.equal(g.split(' ').length, 16);
  assert.ok(g.startsWith('3a2a 0523 8472 '));
  assert.equal(g.replaceAll(' ', ''), ALICE);
  assert.equal(inGroups('abcde', 2, ':'), 'ab:cd:e');
});
