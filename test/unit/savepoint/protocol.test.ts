import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotAssembler, parseControlRecord, parseSavepointRecord, parseSavepointRequest, snapshotRecords, type ContributionEnd, type SavepointRecord } from '../../../src/savepoint/protocol.js';
import type { TaskSnapshot } from '../../../src/savepoint/format.js';
import type { Stage } from '../../../src/state/state-dir.js';

const shape = { clicksPartitions: 2, mergePartitions: 1, paneMs: 5_000, totalWindowMs: 10_000, totalSlideMs: 5_000, statsWindowMs: 60_000, maxOutOfOrdernessMs: 20_000, allowedLatenessMs: 0 };
const summary = { watermarkMs: 0, openWindowKeys: 0 };

/** A task snapshot whose entries are big enough to need several chunks when `big`. */
function snapshot(stage: Stage, partition: number, nextOffset: number | null, tag: string, big = false): TaskSnapshot {
  const value = big ? 'x'.repeat(300 * 1024) : 'v';
  const names = big ? ['a', 'b', 'c', 'd'] : ['a', 'b'];
  return { stage, partition, nextOffset, entries: names.map((n): [string, string] => [`${tag}-${n}`, value]) };
}

function contribution(worker: string, snapshots: TaskSnapshot[], savepointId = 'sp-1'): SavepointRecord[] {
  const records = snapshots.flatMap((s) => snapshotRecords(savepointId, s, summary, worker, shape));
  const end: ContributionEnd = { type: 'end', savepointId, worker, tasks: snapshots.map((s) => `${s.stage}-${s.partition}`) };
  return [...records, end];
}

const keysOf = (assembler: SnapshotAssembler, stage: Stage, partition: number) =>
  assembler.snapshots().find((c) => c.snapshot.stage === stage && c.snapshot.partition === partition)?.snapshot.entries.map(([k]) => k);

test('a task contributed twice keeps the snapshot furthest along its input, in either order', () => {
  const older = contribution('host/1', [snapshot('source', 0, 100, 'old'), snapshot('merge', 0, 40, 'old')]);
  const newer = contribution('host/2', [snapshot('source', 0, 180, 'new'), snapshot('source', 1, 7, 'new'), snapshot('merge', 0, 55, 'new')]);
  for (const order of [[...older, ...newer], [...newer, ...older]]) {
    const assembler = new SnapshotAssembler('sp-1');
    for (const record of order) assembler.add(record);
    assert.equal(assembler.size, 3);
    assert.deepEqual(keysOf(assembler, 'source', 0), ['new-a', 'new-b']);
    assert.deepEqual(keysOf(assembler, 'merge', 0), ['new-a', 'new-b']);
    assert.equal(assembler.snapshots().find((c) => c.snapshot.stage === 'merge')?.worker, 'host/2');
  }
});

test('chunks of two workers interleaved in the log are not mixed', () => {
  const a = contribution('host/1', [snapshot('source', 0, 10, 'a', true)]);
  const b = contribution('host/2', [snapshot('source', 0, 20, 'b', true)]);
  assert.ok(a.length > 3, 'the snapshot is chunked');
  const interleaved: SavepointRecord[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) interleaved.push(...(a[i] ? [a[i]!] : []), ...(b[i] ? [b[i]!] : []));
  const assembler = new SnapshotAssembler('sp-1');
  for (const record of interleaved) assembler.add(record);
  assert.deepEqual(keysOf(assembler, 'source', 0), ['b-a', 'b-b', 'b-c', 'b-d']);
});

test('a contribution counts only once its end record is in, and only whole', () => {
  const assembler = new SnapshotAssembler('sp-1');
  const records = contribution('host/1', [snapshot('source', 0, 10, 'a'), snapshot('source', 1, 10, 'a')]);
  for (const record of records.slice(0, -1)) assembler.add(record);
  assert.equal(assembler.size, 0, 'no end record yet');
  assembler.add(records.at(-1)!);
  assert.equal(assembler.size, 2);

  // A chunk lost (a worker that died midway and whose end record is someone else's) spoils it all.
  const broken = new SnapshotAssembler('sp-1');
  const big = contribution('host/3', [snapshot('source', 0, 10, 'c', true), snapshot('source', 1, 10, 'c')]);
  for (const record of big.filter((r) => !(r.type === 'chunk' && r.seq === 1 && r.partition === 0))) broken.add(record);
  assert.equal(broken.size, 0);
});

test('records of another savepoint are ignored', () => {
  const assembler = new SnapshotAssembler('sp-1');
  for (const record of contribution('host/1', [snapshot('source', 0, 10, 'a')], 'sp-0')) assembler.add(record);
  assert.equal(assembler.size, 0);
});

test('records of the savepoints topic that are not shaped as workers write them are skipped', () => {
  const id = 'sp-1';
  const good = { type: 'chunk', savepointId: id, stage: 'source', partition: 0, seq: 0, entries: [['k', 'v']], worker: 'w' };
  assert.ok(parseSavepointRecord(JSON.stringify(good), id));
  assert.equal(parseSavepointRecord('\u0000\u0001garbage', id), undefined);
  assert.equal(parseSavepointRecord('{"type":"chunk"}', id), undefined);
  assert.equal(parseSavepointRecord(JSON.stringify({ ...good, savepointId: 'other' }), id), undefined, 'another savepoint');
  assert.equal(parseSavepointRecord(JSON.stringify({ ...good, seq: 1e12 }), id), undefined, 'a seq that would make a sparse array of a trillion');
  assert.equal(parseSavepointRecord(JSON.stringify({ ...good, stage: '../x' }), id), undefined);
  assert.equal(parseSavepointRecord(JSON.stringify({ ...good, entries: [['k', 1]] }), id), undefined);
  assert.equal(parseSavepointRecord(JSON.stringify({ type: 'end', savepointId: id, worker: 'w', tasks: [1] }), id), undefined);
});

test('control records count only when shaped as the savepoint command writes them', () => {
  const good = { type: 'savepoint-request', savepointId: 'sp-1', jobId: 'job', stop: false };
  assert.ok(parseSavepointRequest(JSON.stringify(good), 'job'));
  assert.equal(parseSavepointRequest(JSON.stringify(good), 'other-job'), undefined);
  assert.equal(parseSavepointRequest(JSON.stringify({ ...good, savepointId: '../../x' }), 'job'), undefined);
  assert.equal(parseSavepointRequest(JSON.stringify({ ...good, stop: 'yes' }), 'job'), undefined);
  assert.equal(parseSavepointRequest('not json', 'job'), undefined);
  // The outcome of a stop-with-savepoint, and nothing else of that name.
  const complete = { type: 'savepoint-complete', savepointId: 'sp-1', jobId: 'job' };
  assert.deepEqual(parseControlRecord(JSON.stringify({ ...complete, extra: 'x'.repeat(100) }), 'job'), complete);
  assert.equal(parseControlRecord(JSON.stringify({ ...complete, type: 'savepoint-abandoned' }), 'job')?.type, 'savepoint-abandoned');
  assert.equal(parseControlRecord(JSON.stringify(complete), 'other-job'), undefined);
  assert.equal(parseControlRecord(JSON.stringify({ ...complete, savepointId: 'a/b' }), 'job'), undefined);
  assert.equal(parseControlRecord(JSON.stringify({ ...complete, type: 'savepoint-done' }), 'job'), undefined);
  assert.equal(parseControlRecord(JSON.stringify(good), 'job')?.type, 'savepoint-request');
});
