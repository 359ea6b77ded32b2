// Takes a savepoint of a running job: asks its workers over the control topic and collects what
// every task contributes from the savepoints topic, then writes the directory. Returns only when
// every partition of both stages is in; otherwise times out leaving no complete-looking directory.

import type { Message } from '@confluentinc/kafka-javascript';
import type { TopicNames } from '../config.js';
import { UserError } from '../errors.js';
import { KafkaConsumer, Producer, commonConfig, connectClient, disconnect, partitionCounts } from '../kafka/clients.js';
import { flush } from '../kafka/clients.js';
import { shapeDifference, type Stage } from '../state/state-dir.js';
import { newSavepointId, writeSavepoint, type SavepointManifest } from './format.js';
import { SnapshotAssembler, parseSavepointRecord, type SavepointOutcome, type SavepointRequest } from './protocol.js';

export interface TakeOptions {
  brokers: string;
  topics: TopicNames;
  topicPrefix: string;
  jobId: string;
  dir: string;
  stop: boolean;
  timeoutMs: number;
  onProgress?: (collected: number, expected: number) => void;
}

export async function takeSavepoint(options: TakeOptions): Promise<{ manifest: SavepointManifest; elapsedMs: number }> {
  const startedAt = Date.now();
  const { brokers, topics } = options;
  const producer = new Producer(commonConfig(brokers, 'clickstream-savepoint'));
  const metadata = await connectClient(producer, brokers);
  const partitions = partitionCounts(metadata);
  const missing = [topics.clicks, topics.partials, topics.control, topics.savepoints].filter((t) => !partitions.has(t));
  if (missing.length > 0) {
    await disconnect(producer);
    throw new UserError('TOPIC_MISMATCH', `topics missing at ${brokers}: ${missing.join(', ')}; run "clickstream topics create" first`);
  }
  const expected: Array<[Stage, number]> = [
    ...Array.from({ length: partitions.get(topics.clicks)! }, (_, p): [Stage, number] => ['source', p]),
    ...Array.from({ length: partitions.get(topics.partials)! }, (_, p): [Stage, number] => ['merge', p]),
  ];

  const tell = async (record: SavepointRequest | SavepointOutcome): Promise<void> => {
    producer.produce(topics.control, 0, Buffer.from(JSON.stringify(record)), options.jobId);
    await flush(producer, 10_000);
  };
  /** The request made, until its outcome is told. */
  let requested: string | undefined;
  const consumer = new KafkaConsumer({ ...commonConfig(brokers, 'clickstream-savepoint'), 'group.id': `clickstream-savepoint-${process.pid}-${Date.now()}`, 'enable.auto.commit': false }, {});
  await connectClient(consumer, brokers);
  try {
    // Read the savepoints topic from its current end: only this request's answers matter.
    const end = await new Promise<number>((resolve, reject) =>
      producer.queryWatermarkOffsets(topics.savepoints, 0, 5_000, (err, offsets) => (err ? reject(err) : resolve(offsets.highOffset))),
    );
    consumer.assign([{ topic: topics.savepoints, partition: 0, offset: end }]);
    const savepointId = newSavepointId();
    const request: SavepointRequest = { type: 'savepoint-request', savepointId, jobId: options.jobId, stop: options.stop, deadlineMs: startedAt + options.timeoutMs };
    await tell(request);
    requested = savepointId;

    const assembler = new SnapshotAssembler(savepointId);
    const deadline = startedAt + options.timeoutMs;
    // Every expected task, not a count: records for tasks the job does not have must not fill it.
    while (!expected.every(([stage, p]) => assembler.has(stage, p))) {
      if (Date.now() > deadline) {
        const absent = expected.filter(([stage, p]) => !assembler.has(stage, p)).map(([stage, p]) => `${stage}-${p}`);
        throw new UserError(
          'SAVEPOINT_INCOMPLETE',
          `savepoint ${savepointId} incomplete after ${options.timeoutMs / 1000} s: no state from ${absent.join(', ')} (are workers of job ${options.jobId} running?); nothing was written`,
        );
      }
      const messages = await new Promise<Message[]>((resolve, reject) => consumer.consume(100, (err, got) => (err ? reject(err) : resolve(got))));
      for (const message of messages) {
        const record = parseSavepointRecord(String(message.value ?? ''), savepointId);
        if (record !== undefined) assembler.add(record);
      }
      options.onProgress?.(expected.filter(([stage, p]) => assembler.has(stage, p)).length, expected.length);
    }
    const wanted = new Set(expected.map(([stage, p]) => `${stage}-${p}`));
    const contributions = assembler.snapshots().filter((c) => wanted.has(`${c.snapshot.stage}-${c.snapshot.partition}`));
    const config = contributions[0]!.config;
    for (const c of contributions) {
      const difference = shapeDifference(config, c.config);
      if (difference !== undefined) throw new UserError('BAD_STATE', `workers of job ${options.jobId} run with different configurations (${difference}); savepoint not written`);
    }
    const manifest = writeSavepoint(
      options.dir,
      { savepointId, createdAt: new Date().toISOString(), jobId: options.jobId, takenFrom: 'running-job', stopped: options.stop, aligned: options.stop, config: { ...config, topicPrefix: options.topicPrefix } },
      contributions,
    );
    // Stop-with-savepoint: the workers hold clicks until they hear how it ended.
    if (options.stop) await tell({ type: 'savepoint-complete', savepointId, jobId: options.jobId });
    requested = undefined;
    return { manifest, elapsedMs: Date.now() - startedAt };
  } catch (err) {
    // Best effort: workers that do not hear it read clicks again 30 s after the deadline.
    if (options.stop && requested !== undefined) await tell({ type: 'savepoint-abandoned', savepointId: requested, jobId: options.jobId }).catch(() => undefined);
    throw err;
  } finally {
    await disconnect(consumer);
    await disconnect(producer);
  }
}
