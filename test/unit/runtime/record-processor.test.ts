// The record processor's guard against records handed out twice: librdkafka can return a record
// of a partition again after it was paused and resumed (its resume position is saved on another
// thread than the read that returned the record). A record at an offset its task has read is in
// that task's state: it must not be counted again, in either stage. Fakes stand in for the task
// manager, the tasks and the source job: what is asserted is what reaches them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '@confluentinc/kafka-javascript';
import { jobWindows, topicNames } from '../../../src/config.js';
import { clickCodec, partialCodec, type SourceWatermark } from '../../../src/codec/messages.js';
import type { ClickBatch } from '../../../src/job/protocol.js';
import type { SourceJob } from '../../../src/job/source-job.js';
import { RecordProcessor } from '../../../src/runtime/record-processor.js';
import type { OutputSink } from '../../../src/runtime/output-sink.js';
import { emptyMetrics } from '../../../src/runtime/status.js';
import type { TaskManager } from '../../../src/runtime/task-manager.js';
import type { MergeTask, SourceTask } from '../../../src/runtime/tasks.js';
import { toUrlTable } from '../../../src/table/urls.js';

const topics = topicNames('t.');
const NOW = Date.UTC(2026, 11, 7, 12);

function setup() {
  const source = { stage: 'source', partition: 0, nextOffset: undefined as number | undefined, recordsIn: 0, late: 0, deadLettered: 0, topology: { id: 0, sawWatermark() {} }, idleness: { recordSeen: () => false } };
  const applied: unknown[] = [];
  const merge = { stage: 'merge', partition: 0, nextOffset: undefined as number | undefined, recordsIn: 0, topology: { refusal: () => undefined, apply: (partial: unknown) => applied.push(partial) } };
  const tasks = { source: (p: number) => (p === 0 ? source : undefined), merge: (p: number) => (p === 0 ? merge : undefined) } as unknown as TaskManager;
  // Every click the source job is given, by its event time.
  const counted: number[] = [];
  const job: SourceJob = {
    dispatch(batch: ClickBatch) {
      for (let i = 0; i < batch.count; i++) counted.push(batch.time[i]!);
    },
    call: () => assert.fail('no request expected'),
    settle() {},
    stop: async () => {},
  };
  const sink = { produce() {} } as unknown as OutputSink;
  const metrics = emptyMetrics();
  const settings = { topics, limits: { maxRecordBytes: 65_536, maxUrlBytes: 2_048, maxFutureMs: 600_000 }, sourcePartitions: 1, mergePartitions: 1, windows: jobWindows, urlTable: toUrlTable([]), printMinuteTables: false };
  const processor = new RecordProcessor(settings, tasks, sink, metrics, job);
  return { processor, source: source as unknown as SourceTask, merge: merge as unknown as MergeTask, counted, metrics, applied };
}

/** A click record at `offset` whose event time says which one it is. */
function click(offset: number): Message {
  const value = Buffer.from(clickCodec.encode({ url: '/a', timestampMs: NOW - 60_000 + offset, userId: 'u', sessionId: 's', region: 'eu', referrer: '' }));
  return { topic: topics.clicks, partition: 0, offset, value, key: null, size: value.length, timestamp: NOW };
}

test('clicks at offsets the source task has read are skipped and counted as read again; the rest are counted once', () => {
  const { processor, source, counted, metrics } = setup();
  processor.process([click(0), click(1), click(2)], NOW);
  // The client hands out 1 and 2 again (a pause and resume), then goes on.
  processor.process([click(1), click(2), click(3)], NOW);
  assert.deepEqual(counted, [0, 1, 2, 3].map((offset) => NOW - 60_000 + offset));
  assert.equal(source.nextOffset, 4);
  assert.equal(source.recordsIn, 4);
  assert.equal(metrics.clicksIn, 4);
  assert.equal(metrics.readAgain, 2);
});

test('a forward gap (a transaction marker, a compacted record) is no reason to skip', () => {
  const { processor, counted, metrics } = setup();
  processor.process([click(0), click(5), click(9)], NOW);
  assert.equal(counted.length, 3);
  assert.equal(metrics.readAgain, 0);
});

test('partials at offsets the merge task has read are skipped before they are read', () => {
  const { processor, merge, metrics } = setup();
  // Not partials at all: each one read is counted as skipped for what it holds.
  const partial = (offset: number): Message => ({ topic: topics.partials, partition: 0, offset, value: Buffer.from('not a partial'), key: null, size: 13, timestamp: NOW });
  processor.process([partial(0), partial(1)], NOW);
  processor.process([partial(1), partial(2)], NOW);
  assert.equal(merge.nextOffset, 3);
  assert.equal(metrics.partialsIn, 3);
  assert.equal(metrics.internalSkipped, 3);
  assert.equal(metrics.readAgain, 1);
});

test('a marker flagged as caught up is reported once to the worker (it checkpoints early); unflagged ones are not', () => {
  const { processor, applied } = setup();
  const marker = (offset: number, watermark: SourceWatermark): Message => {
    const value = Buffer.from(partialCodec.encode({ watermark }));
    return { topic: topics.partials, partition: 0, offset, value, key: null, size: value.length, timestamp: NOW };
  };
  processor.process([marker(0, { sourcePartition: 0, watermarkMs: NOW - 60_000, idle: false })], NOW);
  assert.equal(processor.takeSourcesCaughtUp(), false);
  processor.process([marker(1, { sourcePartition: 0, watermarkMs: NOW - 55_000, idle: false, caughtUp: true }), marker(2, { sourcePartition: 0, watermarkMs: NOW - 55_000, idle: false })], NOW);
  assert.equal(applied.length, 3, 'every marker is merged');
  assert.equal(processor.takeSourcesCaughtUp(), true);
  assert.equal(processor.takeSourcesCaughtUp(), false);
});
