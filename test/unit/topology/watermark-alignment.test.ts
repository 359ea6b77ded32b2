import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignmentChanges, effectiveDrift, type AlignedSource } from '../../../src/topology/watermark-alignment.js';
import { NO_WATERMARK } from '../../../src/topology/watermark.js';

const MIN = 60_000;
const source = (partition: number, watermarkMs: number, idle = false): AlignedSource => ({ partition, watermarkMs, idle });
const none = new Set<number>();

test('a partition more than the drift ahead of the slowest pauses; one at the drift does not', () => {
  const sources = [source(0, 0), source(1, 10 * MIN), source(2, 10 * MIN + 1), source(3, 3 * MIN)];
  assert.deepEqual(alignmentChanges(sources, [], none, 10 * MIN), { pause: [2], resume: [] });
});

test('a paused partition resumes once the slowest is within half the drift, not before', () => {
  const held = new Set([2]);
  assert.deepEqual(alignmentChanges([source(0, 4 * MIN), source(2, 10 * MIN)], [], held, 10 * MIN), { pause: [], resume: [] }, '6 min ahead: still paused');
  assert.deepEqual(alignmentChanges([source(0, 5 * MIN), source(2, 10 * MIN)], [], held, 10 * MIN), { pause: [], resume: [2] }, '5 min ahead: resumed');
});

test("other workers' partitions hold this worker's back; only this worker's pause", () => {
  // This worker's partitions run side by side; another worker's partition 2 trails at 0.
  const sources = [source(0, 20 * MIN), source(1, 21 * MIN)];
  assert.deepEqual(alignmentChanges(sources, [source(2, 0)], none, 10 * MIN), { pause: [0, 1], resume: [] });
  assert.deepEqual(alignmentChanges(sources, [source(2, 15 * MIN)], none, 10 * MIN), { pause: [], resume: [] });
  // Partition 2 far ahead is not this worker's to pause.
  assert.deepEqual(alignmentChanges(sources, [source(2, 500 * MIN)], none, 10 * MIN), { pause: [], resume: [] });
  // Idle there, or not heard from yet: it holds nothing back.
  assert.deepEqual(alignmentChanges(sources, [source(2, 0, true), source(3, NO_WATERMARK)], none, 10 * MIN), { pause: [], resume: [] });
});

test('idle partitions, and partitions without a watermark yet, neither set the slowest nor pause', () => {
  const sources = [source(0, 0, true), source(1, NO_WATERMARK), source(2, 30 * MIN), source(3, 45 * MIN)];
  assert.deepEqual(alignmentChanges(sources, [], none, 10 * MIN), { pause: [3], resume: [] });
  // An idle partition that was paused resumes (it holds nothing open; it is read when it wakes).
  assert.deepEqual(alignmentChanges([source(0, 0), source(1, 50 * MIN, true)], [], new Set([1]), 10 * MIN), { pause: [], resume: [1] });
  // No watermark known at all: nothing paused.
  assert.deepEqual(alignmentChanges([source(2, NO_WATERMARK)], [source(0, Number.POSITIVE_INFINITY)], none, 10 * MIN), { pause: [], resume: [] });
});

test('the slowest partition itself is never paused, whatever the others do', () => {
  for (const drift of [1, 1_000, 10 * MIN]) {
    const sources = [source(0, 7 * MIN), source(1, 100 * MIN), source(2, 1_000 * MIN)];
    const { pause } = alignmentChanges(sources, [source(3, 200 * MIN)], none, drift);
    assert.ok(!pause.includes(0), `drift ${drift}`);
    assert.deepEqual(pause, [1, 2]);
  }
});

test('alignment off (0): nothing pauses and every held partition resumes', () => {
  const sources = [source(0, 0), source(1, 1_000 * MIN)];
  assert.deepEqual(alignmentChanges(sources, [], none, 0), { pause: [], resume: [] });
  assert.deepEqual(alignmentChanges(sources, [], new Set([1]), 0), { pause: [], resume: [1] });
});

test('a held partition whose task is gone is left out (its next task starts unpaused)', () => {
  assert.deepEqual(alignmentChanges([source(0, 0)], [], new Set([3]), 10 * MIN), { pause: [], resume: [] });
});

test('the drift in use leaves room for accepted clicks dated ahead, and for a quiet slowest partition', () => {
  // Defaults: --max-future 10m, --idle-timeout 10s.
  assert.equal(effectiveDrift(15 * MIN, 10 * MIN, 10_000), 15 * MIN);
  assert.equal(effectiveDrift(1 * MIN, 10 * MIN, 10_000), 11 * MIN + 10_000);
  assert.equal(effectiveDrift(1 * MIN, 0, 3_000), 63_000);
  assert.equal(effectiveDrift(0, 10 * MIN, 10_000), 0, 'off stays off');
  // A click dated the longest accepted time ahead, on a partition read as it is written, while the
  // slowest partition has been quiet for just under the idle timeout: not paused.
  const nowMs = 100 * MIN;
  const bound = 20_000;
  const ahead = source(0, nowMs + 10 * MIN - bound);
  const quiet = source(1, nowMs - 10_000 - bound);
  assert.deepEqual(alignmentChanges([ahead, quiet], [], none, effectiveDrift(1 * MIN, 10 * MIN, 10_000)), { pause: [], resume: [] });
});
