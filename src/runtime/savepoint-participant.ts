// A worker's part in savepoints: it watches the control topic, and on a request for its job it
// contributes, right after a checkpoint (so each store holds exactly the state at its offset),
// every task's full state to the savepoints topic. With `stop`, the worker then shuts down.

import { hostname } from 'node:os';
import type { Message } from '@confluentinc/kafka-javascript';
import type { TopicNames } from '../config.js';
import { KafkaConsumer, commonConfig, connectClient, disconnect, type ConsumerClient, type ProducerClient } from '../kafka/clients.js';
import { flush } from '../producer/send.js';
import { logger } from '../log.js';
import type { JobShape } from '../state/state-dir.js';
import { snapshotRecords, taskName, type ContributionEnd, type SavepointRequest } from '../savepoint/protocol.js';
import { summarizeTaskState } from '../savepoint/summary.js';
import type { WindowSpec } from '../topology/windows.js';
import type { Task } from './tasks.js';

const log = logger('savepoint');
/** librdkafka's logical offset "end of partition": only requests made from now on count. */
const OFFSET_END = -1;

export class SavepointParticipant {
  private consumer!: ConsumerClient;
  private readonly worker = `${hostname()}/${process.pid}`;

  constructor(
    private readonly brokers: string,
    private readonly topics: TopicNames,
    private readonly jobId: string,
  ) {}

  async start(): Promise<void> {
    this.consumer = new KafkaConsumer(
      { ...commonConfig(this.brokers, `${this.jobId}-control`), 'group.id': `${this.jobId}-control-${this.worker}`, 'enable.auto.commit': false },
      {},
    );
    await connectClient(this.consumer, this.brokers);
    this.consumer.setDefaultConsumeTimeout(0);
    this.consumer.assign([{ topic: this.topics.control, partition: 0, offset: OFFSET_END }]);
  }

  /** Savepoint requests for this job that arrived since the last call (never blocks). */
  async poll(): Promise<SavepointRequest[]> {
    const messages = await new Promise<Message[]>((resolve, reject) => this.consumer.consume(100, (err, got) => (err ? reject(err) : resolve(got))));
    const requests: SavepointRequest[] = [];
    for (const message of messages) {
      try {
        const request = JSON.parse(String(message.value)) as SavepointRequest;
        if (request.type === 'savepoint-request' && request.jobId === this.jobId) requests.push(request);
      } catch {
        log.warn('ignored a control record that is not JSON', { offset: message.offset });
      }
    }
    return requests;
  }

  /** Sends every task's state (freshly checkpointed by the caller) and waits for the broker's ack. */
  async contribute(
    request: SavepointRequest,
    tasks: Task[],
    send: (topic: string, partition: number, value: Buffer, key: string) => void,
    producer: ProducerClient,
    shape: JobShape,
    windows: WindowSpec,
  ): Promise<void> {
    const contributed: string[] = [];
    for (const task of tasks) {
      const loaded = await task.store.load();
      const snapshot = { stage: task.stage, partition: task.partition, nextOffset: loaded.nextOffset ?? null, entries: loaded.entries };
      const summary = summarizeTaskState(task.stage, loaded.entries, windows, shape.maxOutOfOrdernessMs, shape.clicksPartitions);
      for (const record of snapshotRecords(request.savepointId, snapshot, summary, this.worker, shape)) {
        send(this.topics.savepoints, 0, Buffer.from(JSON.stringify(record)), request.savepointId);
      }
      contributed.push(taskName(task.stage, task.partition));
    }
    const end: ContributionEnd = { type: 'end', savepointId: request.savepointId, worker: this.worker, tasks: contributed };
    send(this.topics.savepoints, 0, Buffer.from(JSON.stringify(end)), request.savepointId);
    await flush(producer, 30_000);
    log.info('savepoint contributed', { savepointId: request.savepointId, tasks: contributed });
  }

  async close(): Promise<void> {
    await disconnect(this.consumer);
  }
}
