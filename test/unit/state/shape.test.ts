import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shapeDifference, type JobShape } from '../../../src/state/state-dir.js';

const shape: JobShape = { clicksPartitions: 4, mergePartitions: 4, paneMs: 5_000, totalWindowMs: 10_000, totalSlideMs: 5_000, statsWindowMs: 60_000, maxOutOfOrdernessMs: 20_000, allowedLatenessMs: 60_000 };

test('the allowed lateness may shrink while state exists, never grow; every other field must stay', () => {
  assert.equal(shapeDifference(shape, { ...shape }), undefined);
  assert.equal(shapeDifference(shape, { ...shape, allowedLatenessMs: 0 }), undefined, 'shorter: windows kept longer are finished');
  assert.match(shapeDifference(shape, { ...shape, allowedLatenessMs: 120_000 }) ?? '', /allowedLatenessMs: 60000 in the state, 120000 now; it may shrink, never grow/);
  assert.match(shapeDifference(shape, { ...shape, maxOutOfOrdernessMs: 10_000 }) ?? '', /maxOutOfOrdernessMs: 20000 in the state, 10000 now/);
});
