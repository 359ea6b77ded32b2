// A worker's part in savepoints: it watches the control topic, and on a request for its job it
// contributes, right after a checkpoint (so each store holds exactly the state at its offset),
// every task's full state to the savepoints topic. Requests wait while the worker's assignment is
// not settled (mid-rebalance it holds only part of what it will) and across a failed
// exactly-once checkpoint; one whose requester gave up is dropped.
//
// Stop-with-savepoint is aligned (topology/barrier-alignment.ts): source tasks contribute, send a
// barrier to every merge partition and read no more clicks; merge tasks contribute once they have
// read every source's barrier, so no partial is left unread in between. The worker stops only when
// the command says the savepoint is complete, and reads clicks again if it was abandoned (or its
// requester is long gone): a job is never left stopped on an incomplete savepoint.

import { hostname } from 'node:os';
import type { Message } from '@confluentinc/kafka-javascript';
import type { TopicNames } from '../config.js';
import { KafkaConsumer, commonConfig, connectClient, disconnect, type ConsumerClient, type ProducerClient } from '../kafka/clients.js';
import { flush } from '../kafka/clients.js';
import { logger, rateLimited } from '../log.js';
import type { JobShape } from '../state/state-dir.js';
import { parseControlRecord, snapshotRecords, taskName, type ContributionEnd, type SavepointRequest } from '../savepoint/protocol.js';
import { summarizeTaskState } from '../savepoint/summary.js';
import type { WindowSpec } from '../topology/windows.js';
import type { SourceTask, Task } from './tasks.js';

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
  /** Stop-with-savepoint: read no clicks (true) or read them again. */
  holdClicks(held: boolean): void;
  /** Sends a source task's barrier for the savepoint to every merge partition. */
  sendBarrier(task: SourceTask, savepointId: string): void;
}
/** librdkafka's logical offset "end of partition": only requests made from now on count. */
const OFFSET_END = -1;
/** How long past its requester's deadline a stop-with-savepoint holds clicks without an outcome. */
const RESUME_AFTER_DEADLINE_MS = 30_000;

/** A stop-with-savepoint this worker is draining for. */
interface Drain {
  request: SavepointRequest;
  /** Tasks this worker has contributed (a task it is given meanwhile may still have to). */
  contributed: Set<string>;
  /** Merge tasks whose alignment broke, logged once. */
  broken: Set<string>;
}

export class SavepointParticipant {
  private consumer!: ConsumerClient;
  private readonly worker = `${hostname()}/${process.pid}`;
  /** Requests read from the control topic and not served yet (oldest first). */
  private readonly requests: SavepointRequest[] = [];
  /** Outcomes of stop-with-savepoints the command announced (the latest few). */
  private readonly outcomes = new Map<string, 'savepoint-complete' | 'savepoint-abandoned'>();
  private draining: Drain | undefined;

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
    await this.poll();
    // A stop-with-savepoint runs to its outcome before any other request.
    if (this.draining !== undefined) return this.drain(this.draining, service);
    if (!service.assignmentSettled()) return;
    while (this.requests.length > 0) {
      const request = this.requests[0]!;
      // A request whose requester gave up (this worker was recovering meanwhile) is dropped:
      // contributing, and with `stop` holding clicks, after "nothing was written" would surprise.
      if (request.deadlineMs !== undefined && Date.now() > request.deadlineMs) {
        log.warn('savepoint request expired before this worker could serve it', { savepointId: request.savepointId });
        this.requests.shift();
        continue;
      }
      if (request.stop) {
        this.requests.shift();
        this.draining = { request, contributed: new Set(), broken: new Set() };
        service.holdClicks(true);
        log.info('stop-with-savepoint: clicks held until it completes', { savepointId: request.savepointId });
        return this.drain(this.draining, service);
      }
      // Checkpoint first: the stores then hold exactly the state at each task's offset. If it
      // fails, the request waits for the recovery and is served at the next checkpoint.
      if (!(await service.checkpoint())) return;
      await this.contribute(request, service.tasks(), service.send, service.producer());
      // Exactly-once: the chunks are part of the open transaction; commit them for the collector.
      if (!(await service.checkpoint())) return;
      this.requests.shift();
      service.contributed({ savepointId: request.savepointId, atMs: Date.now(), stop: false });
    }
  }

  /**
   * One step of a stop-with-savepoint: contribute every source task not contributed yet (with
   * its barrier), and every merge task that has read all barriers; stop once the command says
   * the savepoint is complete, read clicks again if it gave up.
   */
  private async drain(drain: Drain, service: SavepointService): Promise<void> {
    const { savepointId, deadlineMs } = drain.request;
    const outcome = this.outcomes.get(savepointId);
    if (outcome === 'savepoint-complete') {
      log.info('stopping after savepoint', { savepointId });
      service.stop();
      return;
    }
    if (outcome === 'savepoint-abandoned' || (deadlineMs !== undefined && Date.now() > deadlineMs + RESUME_AFTER_DEADLINE_MS)) {
      log.warn('stop-with-savepoint not completed: reading clicks again', { savepointId, reason: outcome === undefined ? 'no word from the savepoint command' : 'abandoned by the savepoint command' });
      for (const task of service.tasks()) if (task.stage === 'merge') task.topology.alignment.forget(savepointId);
      service.holdClicks(false);
      this.draining = undefined;
      return;
    }
    const due: Task[] = [];
    for (const task of service.tasks()) {
      const name = taskName(task.stage, task.partition);
      if (drain.contributed.has(name)) continue;
      if (task.stage === 'source') {
        due.push(task);
        continue;
      }
      const alignment = task.topology.alignment;
      const state = alignment.state(savepointId);
      if (state === 'aligned') due.push(task);
      else if (state === 'broken' && !drain.broken.has(name)) {
        drain.broken.add(name);
        log.warn('stop-with-savepoint cannot complete: a merge task read data from after a barrier (it will time out, and the job go on)', { savepointId, task: name, reason: alignment.brokenBecause(savepointId) });
      }
    }
    if (due.length === 0) return;
    if (!(await service.checkpoint())) return;
    for (const task of due) if (task.stage === 'source') service.sendBarrier(task, savepointId);
    await this.contribute(drain.request, due, service.send, service.producer());
    // Exactly-once: barriers and chunks are part of the open transaction; commit them.
    if (!(await service.checkpoint())) return;
    for (const task of due) {
      drain.contributed.add(taskName(task.stage, task.partition));
      if (task.stage === 'merge') task.topology.alignment.forget(savepointId);
    }
    service.contributed({ savepointId, atMs: Date.now(), stop: true });
  }

  /** Reads the control records for this job that arrived since the last call (never blocks). */
  private async poll(): Promise<void> {
    const messages = await new Promise<Message[]>((resolve, reject) => this.consumer.consume(100, (err, got) => (err ? reject(err) : resolve(got))));
    for (const message of messages) {
      // Anyone who can write to Kafka can write here: only records shaped as the command writes them count.
      const record = parseControlRecord(String(message.value ?? ''), this.jobId);
      if (record === undefined) ignoredLog('ignored a control record that is not a savepoint record of this job', { offset: message.offset });
      else if (record.type === 'savepoint-request') this.requests.push(record);
      else {
        this.outcomes.set(record.savepointId, record.type);
        if (this.outcomes.size > 16) this.outcomes.delete(this.outcomes.keys().next().value!);
      }
    }
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
