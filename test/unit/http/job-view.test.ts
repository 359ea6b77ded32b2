import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JobView } from '../../../src/http/job-view.js';
import type { WorkerStatus } from '../../../src/runtime/status.js';

const metrics = { clicksIn: 100, partialsIn: 10, late: 2, lateAtMerge: 1, deadLettered: 3, internalSkipped: 0, partialsOut: 10, countsOut: 5, totalsOut: 1, statsOut: 0, corrections: 0, alignmentPauses: 0, readAgain: 0 };
const status = (worker: string, updatedAt: number, overrides: Partial<WorkerStatus> = {}): WorkerStatus => ({
  worker, jobId: 'job', state: 'running', startedAt: 0, updatedAt, checkpointIntervalMs: 2_000, metricsUrl: null, metrics,
  tasks: [{ stage: 'source', partition: worker === 'a' ? 0 : 1, nextOffset: 50, highOffset: 60, lag: 10, watermarkMs: updatedAt - 25_000, idle: false, recordsIn: 50, recordsPerSec: 25, openKeys: 7 }],
  checkpoints: [], savepoints: [], ...overrides,
});

test('a worker silent for 3 checkpoint intervals (at least 10 s) is dead; a goodbye marks it stopped', () => {
  const view = new JobView();
  view.applyStatus(status('a', 1_000), 1_000);
  view.applyStatus(status('b', 1_000), 1_000);
  view.applyStatus(status('b', 5_000), 5_000);
  let snapshot = view.snapshot(10_999);
  assert.deepEqual(snapshot.workers.map((w) => w.state), ['running', 'running']);
  snapshot = view.snapshot(11_001);
  assert.deepEqual(snapshot.workers.map((w) => [w.worker, w.state]), [['a', 'dead'], ['b', 'running']]);
  assert.deepEqual(snapshot.partitions.map((p) => p.worker), ['b'], 'a dead worker holds no partitions');
  assert.equal(snapshot.partitions[0]!.eventTimeSkewMs, 11_001 - (5_000 - 25_000));
  view.applyStatus(status('b', 12_000, { state: 'stopped' }), 12_000);
  assert.equal(view.snapshot(12_000).workers[1]!.state, 'stopped');
  assert.equal(view.snapshot(12_000).records.clicksIn, 200, 'counters add up over every worker seen');
});

test('checkpoint history merges workers in time order; stats count skipped ones apart', () => {
  const view = new JobView();
  const checkpoint = (id: number, startedAtMs: number, durationMs: number, status: 'completed' | 'skipped') => ({ id, startedAtMs, durationMs, kafkaWaitMs: 1, bytes: 100, tasks: [], status });
  view.applyStatus(status('a', 3_000, { checkpoints: [checkpoint(1, 1_000, 10, 'completed'), checkpoint(2, 3_000, 30, 'completed')] }), 3_000);
  view.applyStatus(status('b', 3_000, { checkpoints: [checkpoint(1, 2_000, 20, 'skipped')] }), 3_000);
  const snapshot = view.snapshot(3_000);
  assert.deepEqual(snapshot.checkpoints.map((c) => [c.worker, c.id]), [['a', 2], ['b', 1], ['a', 1]]);
  assert.deepEqual(snapshot.checkpointStats, { completed: 2, skipped: 1, lastDurationMs: 30, p50DurationMs: 30, p99DurationMs: 30 });
});

test('windows: totals in order, top urls of the latest count window', () => {
  const view = new JobView();
  view.applyTotal({ windowStart: 10_000, windowEnd: 20_000, count: 5 });
  view.applyTotal({ windowStart: 5_000, windowEnd: 15_000, count: 3 });
  view.applyCount({ url: '/a', windowStart: 5_000, windowEnd: 10_000, count: 9 });
  view.applyCount({ url: '/b', windowStart: 10_000, windowEnd: 15_000, count: 2 });
  view.applyCount({ url: '/c', windowStart: 10_000, windowEnd: 15_000, count: 4 });
  const snapshot = view.snapshot(0);
  assert.deepEqual(snapshot.totals.map((t) => t.windowStart), [5_000, 10_000]);
  assert.deepEqual(snapshot.topUrls, { windowStart: 10_000, windowEnd: 15_000, rows: [{ url: '/c', count: 4 }, { url: '/b', count: 2 }] });
});

test('a running worker rebuilding tasks from the changelog shows their progress; a dead one does not', () => {
  const view = new JobView();
  const restoring = [{ task: 'merge-2', records: 120_000, percent: 45, recordsPerSec: 80_000 }];
  view.applyStatus(status('a', 1_000, { restoring }), 1_000);
  view.applyStatus(status('b', 1_000), 1_000);
  let snapshot = view.snapshot(2_000);
  assert.deepEqual(snapshot.workers.map((w) => [w.worker, w.restoring]), [['a', restoring], ['b', []]], 'older statuses without the field show nothing');
  snapshot = view.snapshot(20_000);
  assert.deepEqual(snapshot.workers[0]!.restoring, [], 'a dead worker restores nothing');
});

test('a running worker shows the tasks waiting to open and why; a dead one does not', () => {
  const view = new JobView();
  const waiting = [{ task: 'source-3', waitedMs: 4_500, reason: 'its state store /s is still held by the previous owner (another worker on this machine)' }];
  view.applyStatus(status('a', 1_000, { waiting }), 1_000);
  view.applyStatus(status('b', 1_000), 1_000);
  let snapshot = view.snapshot(2_000);
  assert.deepEqual(snapshot.workers.map((w) => [w.worker, w.waiting]), [['a', waiting], ['b', []]], 'older statuses without the field show nothing');
  snapshot = view.snapshot(20_000);
  assert.deepEqual(snapshot.workers[0]!.waiting, [], 'a dead worker waits for nothing');
});

test('the worker list forgets workers silent for 10 minutes, and stays bounded whatever the restarts', () => {
  const view = new JobView();
  view.applyStatus(status('old/1', 0, { state: 'stopped' }), 0);
  view.applyStatus(status('live/2', 0), 0);
  view.applyStatus(status('live/2', 590_000), 590_000);
  assert.deepEqual(view.snapshot(601_000).workers.map((w) => w.worker), ['live/2']);
  for (let i = 0; i < 1_500; i++) view.applyStatus(status(`restart/${i}`, 700_000), 700_000);
  assert.equal(view.snapshot(700_000).workers.length, 1_000);
});

test('the top urls of a window are exact while only a hundred are kept', () => {
  const view = new JobView();
  const counts = Array.from({ length: 5_000 }, (_, i) => ({ url: `/u${i}`, count: (i * 7919) % 5_003 }));
  for (const c of [...counts, ...counts]) view.applyCount({ url: c.url, windowStart: 1_000, windowEnd: 6_000, count: c.count });
  const expected = [...counts].sort((a, b) => b.count - a.count || (a.url < b.url ? -1 : 1)).slice(0, 10);
  assert.deepEqual(view.snapshot(10_000).topUrls.rows, expected);
});

test('corrections per minute come from each running worker\'s counter between its last two statuses; the allowed lateness is shown', () => {
  const view = new JobView();
  view.applyStatus(status('a', 10_000, { allowedLatenessMs: 120_000, metrics: { ...metrics, corrections: 100 } }), 10_000);
  assert.equal(view.snapshot(10_000).lateness.correctionsPerMinute, 0, 'one status: no rate yet');
  view.applyStatus(status('a', 20_000, { allowedLatenessMs: 120_000, metrics: { ...metrics, corrections: 150 } }), 20_000);
  view.applyStatus(status('b', 20_000, { metrics: { ...metrics, corrections: 7 } }), 20_000); // an older worker: no lateness reported
  const snapshot = view.snapshot(20_000);
  assert.equal(snapshot.lateness.correctionsPerMinute, 300, '50 in 10 s');
  assert.equal(snapshot.lateness.allowedLatenessMs, 120_000);
  assert.equal(snapshot.records.corrections, 157);
  assert.equal(view.snapshot(40_000).lateness.correctionsPerMinute, 0, 'dead workers add nothing');
});
