import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedOutOfOrderness, IdlenessTracker, NO_WATERMARK } from '../../../src/topology/watermark.js';

test('the watermark is the highest event time seen minus the bound, never moving back', () => {
  const watermark = new BoundedOutOfOrderness(20_000);
  assert.equal(watermark.watermarkMs, NO_WATERMARK);
  watermark.observe(100_000);
  assert.equal(watermark.watermarkMs, 80_000);
  watermark.observe(90_000);
  assert.equal(watermark.watermarkMs, 80_000);
  watermark.observe(101_000);
  assert.equal(watermark.watermarkMs, 81_000);
});

test('a partition is idle only when quiet for the timeout and caught up', () => {
  const idleness = new IdlenessTracker(10_000, 0);
  assert.equal(idleness.check(9_999, true), false);
  assert.equal(idleness.check(10_000, false), false, 'a lagging partition is never idle');
  assert.equal(idleness.check(10_000, true), true);
  assert.equal(idleness.isIdle, true);
  assert.equal(idleness.check(20_000, true), false, 'becoming idle is reported once');
  assert.equal(idleness.recordSeen(21_000), true, 'a record ends idleness');
  assert.equal(idleness.isIdle, false);
  assert.equal(idleness.check(30_000, true), false);
  assert.equal(idleness.check(31_000, true), true);
});
