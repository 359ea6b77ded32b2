// A worker's part in savepoints: it watches the control topic, and on a request for its job it
// contributes, right after a checkpoint (so each store holds exactly the state at its offset),
// every task's full state to the savepoints topic. With `stop`, the worker then shuts down.
// Requests wait while the worker's assignment is not settled (mid-rebalance it holds only part of
// what it will: contributing, and with `stop` stopping, could leave partitions no worker
// contributes) and across a failed exactly-once checkpoint; one whose requester gave up is dropped.

import { hostname } from 'node:os';
import type { Message } from '@confluentinc/kafka-javascript';
import type { TopicNames } from '../config.js';
import { KafkaConsumer, commonConfig, connectClient, disconnect, type ConsumerClient, type ProducerClient } from '../kafka/clients.js';
import { flush } from '../kafka/clients.js';
import { logger, rateLimited } from '../log.js';
import type { JobShape } from '../state/state-dir.js';
import { parseSavepointRequest, snapshotRecords, taskName, type ContributionEnd, type SavepointRequest } from '../savepoint/protocol.js';
import { summarizeTaskState } from '../savepoint/summary.js';
import type { WindowSpec } from '../topology/windows.js';
import type { Task } from './tasks.js';

const log = logger('savepoint');
const ignoredLog = rateLimited((msg, fields) => log.debug(msg, fields));

/** What serving a request needs from the worker. */
export interface SavepointService {
  /** Every task is settled where it is (no rebalance under way). */
  assignmentSettled(): boolean;
  tasks(): Task[];
  /** A checkpoint of every task, after which the stores hold exactly the state at their offsets; false if it failed. */
  checkpoint(): Promise<boolean>;
  send(topic: string, partition: number, value: Buffer, key: string): void;
  producer(): ProducerClient;
  contributed(entry: { savepointId: string; atMs: number; stop: boolean }): void;
  stop(): void;
}
/** librdkafka's logical offset "end of partition": only requests made from now on count. */
const OFFSET_END = -1;

export class SavepointParticipant {
  private consumer!: ConsumerClient;
  private readonly worker = `${hostname()}/${process.pid}`;
  /** Requests read from the control topic and not served yet (oldest first). */
  private readonly requests: SavepointRequest[] = [];

  constructor(
    private readonly brokers: string,
    private readonly topics: TopicNames,
    private readonly jobId: string,
    private readonly shape: JobShape,
    private readonly windows: WindowSpec,
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

  /** Contributes to the requested savepoints (called right after a checkpoint); stops the worker if asked to. */
  async serve(service: SavepointService): Promise<void> {
    this.requests.push(...(await this.poll()));
    if (!service.assignmentSettled()) return;
    while (this.requests.length > 0) {
      const request = this.requests[0]!;
      // A request whose requester gave up (this worker was recovering meanwhile) is dropped:
      // contributing, and with `stop` stopping, after "nothing was written" would surprise.
      if (request.deadlineMs !== undefined && Date.now() > request.deadlineMs) {
        log.warn('savepoint request expired before this worker could serve it', { savepointId: request.savepointId });
        this.requests.shift();
        continue;
      }
      // Checkpoint first: the stores then hold exactly the state at each task's offset. If it
      // fails, the request waits for the recovery and is served at the next checkpoint.
      if (!(await service.checkpoint())) return;
      await this.contribute(request, service.tasks(), service.send, service.producer());
      // Exactly-once: the chunks are part of the open transaction; commit them for the collector.
      if (!(await service.checkpoint())) return;
      this.requests.shift();
      service.contributed({ savepointId: request.savepointId, atMs: Date.now(), stop: request.stop });
      if (request.stop) {
        log.info('stopping after savepoint', { savepointId: request.savepointId });
        service.stop();
      }
    }
  }

  /** Savepoint requests for this job that arrived since the last call (never blocks). */
  private async poll(): Promise<SavepointRequest[]> {
    const messages = await new Promise<Message[]>((resolve, reject) => this.consumer.consume(100, (err, got) => (err ? reject(err) : resolve(got))));
    const requests: SavepointRequest[] = [];
    for (const message of messages) {
      // Anyone who can write to Kafka can write here: only requests shaped as the command writes them count.
      const request = parseSavepointRequest(String(message.value ?? ''), this.jobId);
      if (request !== undefined) requests.push(request);
      else ignoredLog('ignored a control record that is not a savepoint request of this job', { offset: message.offset });
    }
    return requests;
  }

  /** Sends every task's state (freshly checkpointed by the caller) and waits for the broker's ack. */
  private async contribute(
    request: SavepointRequest,
    tasks: Task[],
    send: (topic: string, partition: number, value: Buffer, key: string) => void,
    producer: ProducerClient,
  ): Promise<void> {
    const { shape, windows } = this;
    const contributed: string[] = [];
    for (const task of tasks) {
      const loaded = await task.store.load();
      const state = summarizeTaskState(task.stage, loaded.entries, windows, shape.maxOutOfOrdernessMs, shape.clicksPartitions);
      const snapshot = { stage: task.stage, partition: task.partition, nextOffset: loaded.nextOffset ?? null, entries: state.entries };
      const summary = state.summary;
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
