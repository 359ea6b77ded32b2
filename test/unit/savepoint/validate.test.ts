import { test } from 'node:test';
import assert from 'node:assert/strict';
import { taskFile, validateManifest, validateTaskBody } from '../../../src/savepoint/validate.js';

const task = (stage: 'source' | 'merge', partition: number) => ({ stage, partition, nextOffset: 10, watermarkMs: 5, openWindowKeys: 1, file: taskFile(stage, partition), bytes: 7, sha256: 'a'.repeat(64) });
const manifest = () => ({
  formatVersion: 1, savepointId: 'sp-1', createdAt: '2026-12-02T00:00:00Z', jobId: 'job', takenFrom: 'running-job',
  config: { clicksPartitions: 2, mergePartitions: 2, paneMs: 5_000, totalWindowMs: 10_000, totalSlideMs: 5_000, statsWindowMs: 60_000, maxOutOfOrdernessMs: 20_000, topicPrefix: '' },
  tasks: [task('source', 0), task('source', 1), task('merge', 0), task('merge', 1)],
  totalBytes: 28,
});

test('a manifest as clickstream writes it is taken', () => {
  assert.ok('manifest' in validateManifest(manifest()));
});

test('every tampered field is refused, naming it', () => {
  const cases: Array<[string, (m: ReturnType<typeof manifest>) => void, RegExp]> = [
    ['an id leading out of the state dir', (m) => (m.savepointId = 'x/../../victim'), /savepointId/],
    ['a dot-only id', (m) => (m.savepointId = '..'), /savepointId/],
    ['a job id with a separator', (m) => (m.jobId = 'a/b'), /jobId/],
    ['a stage that is a path', (m) => ((m.tasks[0] as { stage: string }).stage = '../../x'), /stage/],
    ['a file outside tasks/', (m) => (m.tasks[0]!.file = '../../etc/passwd'), /its file must be tasks\/source-0.json/],
    ['an offset of -1 (Kafka: the end)', (m) => (m.tasks[0]!.nextOffset = -1), /nextOffset/],
    ['an offset of 1e20', (m) => (m.tasks[0]!.nextOffset = 1e20), /nextOffset/],
    ['a fractional offset', (m) => (m.tasks[0]!.nextOffset = 1.5), /nextOffset/],
    ['a partition out of range', (m) => (m.tasks[1]!.partition = 99), /partition is not one of 0..1/],
    ['a non-numeric partition', (m) => ((m.tasks[1] as { partition: unknown }).partition = 'one'), /partition/],
    ['a duplicated task', (m) => (m.tasks[1] = task('source', 0)), /listed twice/],
    ['a missing task', (m) => m.tasks.pop(), /3 tasks listed, the configuration has 4/],
    ['a bad checksum field', (m) => (m.tasks[0]!.sha256 = 'zz'), /sha256/],
    ['a huge task file', (m) => (m.tasks[0]!.bytes = 2 ** 40), /bytes/],
    ['a wrong total', (m) => (m.totalBytes = 1), /totalBytes/],
    ['a partition count of 0', (m) => (m.config.clicksPartitions = 0), /clicksPartitions/],
    ['a topic prefix with controls', (m) => (m.config.topicPrefix = 'a\u001b[2J'), /topicPrefix/],
    ['another format', (m) => (m.formatVersion = 2), /format version 2/],
    ['a stop flag that is not a boolean', (m) => ((m as { stopped?: unknown }).stopped = 'yes'), /stopped is not true or false/],
  ];
  for (const [name, tamper, message] of cases) {
    const m = manifest();
    tamper(m);
    const result = validateManifest(m);
    assert.ok('problem' in result, `${name} is refused`);
    assert.match(result.problem, message, name);
  }
  assert.ok('problem' in validateManifest([]));
  assert.ok('problem' in validateManifest(null));
});

test('a task file must hold the offset its manifest entry names and [key, value] pairs of strings', () => {
  const t = task('source', 0) as Parameters<typeof validateTaskBody>[1];
  assert.ok('snapshot' in validateTaskBody({ nextOffset: 10, entries: [['pane!0!00', '[]']] }, t));
  assert.match((validateTaskBody({ nextOffset: 11, entries: [] }, t) as { problem: string }).problem, /nextOffset differs/);
  assert.match((validateTaskBody({ nextOffset: 10, entries: [['k', 1]] }, t) as { problem: string }).problem, /pair of strings/);
  assert.match((validateTaskBody('x', t) as { problem: string }).problem, /not a JSON object/);
});
