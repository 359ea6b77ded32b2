import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shapeDifference, type JobShape } from '../../../src/state/state-dir.js';
import { configDifference } from '../../../src/savepoint/format.js';

const shape: JobShape = { clicksPartitions: 4, mergePartitions: 4, paneMs: 5_000, totalWindowMs: 10_000, totalSlideMs: 5_000, statsWindowMs: 60_000, maxOutOfOrdernessMs: 20_000, allowedLatenessMs: 60_000 };

test('every field of the shape must stay while state exists, the allowed lateness too (it changes through a savepoint)', () => {
  assert.equal(shapeDifference(shape, { ...shape }), undefined);
  assert.match(shapeDifference(shape, { ...shape, allowedLatenessMs: 0 }) ?? '', /allowedLatenessMs: 60000 in the state, 0 now; change it with savepoint --stop, then restore --allowed-lateness \(shorter only\)/);
  assert.match(shapeDifference(shape, { ...shape, allowedLatenessMs: 120_000 }) ?? '', /allowedLatenessMs: 60000 in the state, 120000 now/);
  assert.match(shapeDifference(shape, { ...shape, maxOutOfOrdernessMs: 10_000 }) ?? '', /maxOutOfOrdernessMs: 20000 in the state, 10000 now/);
});

test('a restore may shorten the allowed lateness from a stop-with-savepoint only, and never lengthen it', () => {
  const saved = { ...shape, topicPrefix: 'p-' };
  assert.equal(configDifference(saved, { ...saved }, false), undefined);
  assert.equal(configDifference(saved, { ...saved, allowedLatenessMs: 10_000 }, true), undefined, 'shorter, after a stop: honoured');
  assert.match(configDifference(saved, { ...saved, allowedLatenessMs: 10_000 }, false) ?? '', /60000 in the savepoint, 10000 now; only a savepoint taken with --stop/);
  assert.match(configDifference(saved, { ...saved, allowedLatenessMs: 120_000 }, true) ?? '', /60000 in the savepoint, 120000 now; it may shorten, never grow/);
  assert.match(configDifference(saved, { ...saved, allowedLatenessMs: 0, paneMs: 1_000 }, true) ?? '', /paneMs: 5000 in the savepoint, 1000 now/, 'a shorter lateness does not hide another difference');
  assert.match(configDifference(saved, { ...saved, topicPrefix: 'q-' }, true) ?? '', /topicPrefix/);
});
