import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignDown, totalWindowStartsOfPane, validateWindowSpec } from '../../../src/topology/windows.js';
import { jobWindows } from '../../../src/config.js';

test('a click belongs to the 5 s pane starting at its time floored to 5 s, negatives too', () => {
  assert.equal(alignDown(0, 5000), 0);
  assert.equal(alignDown(4999, 5000), 0);
  assert.equal(alignDown(5000, 5000), 5000);
  assert.equal(alignDown(-1, 5000), -5000);
});

test('a pane is in two 10 s total windows: the one it starts and the one before', () => {
  assert.deepEqual(totalWindowStartsOfPane(10_000, jobWindows), [5_000, 10_000]);
});

test('window sizes must be whole panes', () => {
  assert.equal(validateWindowSpec(jobWindows), undefined);
  assert.match(validateWindowSpec({ ...jobWindows, statsWindowMs: 62_500 }) ?? '', /stats window/);
});
