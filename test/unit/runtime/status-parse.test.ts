import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWorkerStatus } from '../../../src/runtime/status-parse.js';

const good = {
  worker: 'vm/1', jobId: 'job', state: 'running', startedAt: 1, updatedAt: 2, checkpointIntervalMs: 2_000, metricsUrl: null,
  metrics: { clicksIn: 1, partialsIn: 0, late: 0, lateAtMerge: 0, deadLettered: 0, partialsOut: 0, countsOut: 0, totalsOut: 0, statsOut: 0 },
  tasks: [{ stage: 'source', partition: 0, nextOffset: 5, highOffset: null, lag: null, watermarkMs: null, idle: false, recordsIn: 5, recordsPerSec: 1, openKeys: 2 }],
  checkpoints: [{ id: 1, startedAtMs: 1, durationMs: 3, kafkaWaitMs: 1, bytes: 10, status: 'completed', tasks: [{ stage: 'source', partition: 0, bytes: 10, keys: 1, nextOffset: 5 }] }],
  savepoints: [],
};

test('a status as a worker writes it is taken (an older one without internalSkipped, alignmentPauses or readAgain too)', () => {
  const parsed = parseWorkerStatus(good);
  assert.ok('status' in parsed);
  assert.equal(parsed.status.metrics.internalSkipped, 0);
  assert.equal(parsed.status.metrics.alignmentPauses, 0);
  assert.equal(parsed.status.metrics.readAgain, 0);
  const current = parseWorkerStatus({ ...good, metrics: { ...good.metrics, internalSkipped: 1, alignmentPauses: 2, readAgain: 3 } });
  assert.ok('status' in current);
  assert.deepEqual([current.status.metrics.internalSkipped, current.status.metrics.alignmentPauses, current.status.metrics.readAgain], [1, 2, 3]);
  for (const name of ['alignmentPauses', 'readAgain']) assert.ok('problem' in parseWorkerStatus({ ...good, metrics: { ...good.metrics, [name]: -1 } }), name);
});

test('tasks waiting to open are taken when well formed, refused otherwise', () => {
  const waiting = [{ task: 'source-1', waitedMs: 1_000, reason: 'committed offset not readable: still being read' }];
  const parsed = parseWorkerStatus({ ...good, waiting });
  assert.ok('status' in parsed);
  assert.deepEqual(parsed.status.waiting, waiting);
  for (const bad of [[{ task: 'source-1', waitedMs: 'x', reason: 'r' }], [{ task: 'source-1', waitedMs: -1, reason: 'r' }], [{ task: 'source-1', waitedMs: 1 }], [{ task: 'source-1', waitedMs: 1, reason: 'x'.repeat(10_000) }], 'x', Array.from({ length: 5_000 }, () => waiting[0])]) {
    assert.ok('problem' in parseWorkerStatus({ ...good, waiting: bad }), JSON.stringify(bad).slice(0, 80));
  }
});

test('JSON that is not a status is refused with the reason, whatever its shape', () => {
  const bad: unknown[] = [null, 42, 'x', [], {}, { ...good, worker: '' }, { ...good, state: 'weird' }, { ...good, metrics: {} }, { ...good, tasks: 'x' },
    { ...good, tasks: [{ stage: 'evil' }] }, { ...good, checkpoints: [{}] }, { ...good, savepoints: [{ savepointId: 1 }] }, { ...good, worker: 'x'.repeat(10_000) },
    { ...good, tasks: Array.from({ length: 5_000 }, () => good.tasks[0]) }];
  for (const value of bad) assert.ok('problem' in parseWorkerStatus(value), JSON.stringify(value).slice(0, 80));
});
