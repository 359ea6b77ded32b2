// Exactly-once delivery: every record a worker writes between two checkpoints (outputs, partials,
// late and dead-lettered clicks, changelog records) is in one open Kafka transaction, which the
// checkpoint commits together with the input offsets. A reader with read_committed sees every
// window once, across kill -9 too.
//
// A Kafka transaction and a LevelDB batch cannot commit atomically together, so a checkpoint
// (checkpointInTransaction) has two phases:
//   1. per task, one LevelDB batch stages the state changes and next offset, tagged with a token;
//   2. the input offsets, with the token as their metadata, join the transaction; it commits;
//   3. per task, one LevelDB batch promotes the staged checkpoint.
// A crash before the commit leaves an open transaction (aborted when the worker's transactional
// id is registered again, or at its timeout) and a staged checkpoint that is then discarded: the
// task replays from the previous checkpoint and read_committed readers never saw the outputs. A
// crash after the commit leaves a staged checkpoint whose token the group's offset carries: it is
// promoted on open (TaskStore.resolvePending), and the task resumes exactly after the committed
// input. A transaction that fails while the worker runs (broker away, group rebalancing) is
// aborted and every task reopens from its store (`recover`).

import { FencedError } from '../errors.js';
import { CODES, Producer, connectClient, disconnect, type ProducerClient } from '../kafka/clients.js';
import type { MemberOf } from '../kafka/stage-consumers.js';
import { Transactions, type CommitOutcome } from '../kafka/transactions.js';
import type { TransactionalIdentity } from '../state/worker-slot.js';
import { logger } from '../log.js';
import { crashPoint } from './crash-points.js';
import { changelogBatches, hasNewInput, inputOffsets, notCommitted, prepare, storeWriteError, type ChangelogSink, type CheckpointReport, type CheckpointedTask, type TaskCheckpoint } from './checkpoint.js';
import { checkpointTimeoutMs } from './at-least-once.js';
import type { CheckpointKind, DeliveryMode } from './delivery-mode.js';
import type { OutputSink } from './output-sink.js';
import type { BrokerHealth } from './outage.js';
import type { Task } from './tasks.js';

const log = logger('exactly-once');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The transaction calls a checkpoint makes (what the unit tests fake). */
export type CheckpointTransactions = Pick<Transactions, 'commit'>;

/**
 * An exactly-once checkpoint of every task of the worker (they share the one open transaction).
 * Returns 'aborted' when the transaction did not commit: the caller aborts it and reopens the
 * tasks from their stores (the in-memory state has moved past what Kafka holds).
 */
export async function checkpointInTransaction(
  id: number,
  token: string,
  tasks: Iterable<CheckpointedTask>,
  transactions: CheckpointTransactions,
  memberOf: MemberOf | undefined,
  timeoutMs: number,
  /** In this mode `write` puts the records into the open transaction (and waits until they are handed over). */
  changelog?: ChangelogSink,
): Promise<CheckpointReport> {
  const startedAtMs = Date.now();
  const started = performance.now();
  const taskList = [...tasks];
  const progressed = hasNewInput(taskList);
  crashPoint('eos-before-stage', progressed);

  const work = taskList.map((task) => prepare(task, changelog?.writer));
  const offsets = inputOffsets(taskList, token);
  if (changelog !== undefined && !(await changelog.write(changelogBatches(work, changelog), offsets))) {
    return notCommitted(id, startedAtMs, started, 'aborted', 'changelog records could not be queued');
  }
  const staged = await Promise.all(
    work.map(async ({ task, changes, stamp }): Promise<TaskCheckpoint> => {
      try {
        const write = await task.store.stage(changes, task.nextOffset, token, stamp);
        return { stage: task.stage, partition: task.partition, nextOffset: task.nextOffset, bytes: write.bytes, keys: write.keys };
      } catch (err) {
        throw storeWriteError(task.store.location, err);
      }
    }),
  );
  crashPoint('eos-after-stage', progressed);

  const commitStarted = performance.now();
  const outcome: CommitOutcome = await transactions.commit(offsets, memberOf, timeoutMs, () => crashPoint('eos-after-send-offsets', progressed));
  const commitMs = performance.now() - commitStarted;
  if (!outcome.committed) return notCommitted(id, startedAtMs, started, 'aborted', outcome.reason, commitMs);
  crashPoint('eos-after-commit', progressed);

  await Promise.all(
    work.map(async ({ task, stamp }) => {
      try {
        await task.store.promote();
      } catch (err) {
        throw storeWriteError(task.store.location, err);
      }
      task.checkpointedOffset = task.nextOffset;
      task.unsavedChanges = undefined;
      if (stamp !== undefined) task.seq = stamp.seq;
    }),
  );
  crashPoint('eos-after-promote', progressed);
  const bytes = staged.reduce((sum, t) => sum + t.bytes, 0);
  return { id, startedAtMs, durationMs: performance.now() - started, kafkaWaitMs: commitMs, bytes, tasks: staged, status: 'completed' };
}

/** What the exactly-once mode needs from the rest of the worker. */
export interface ExactlyOnceContext {
  brokers: string;
  /** librdkafka settings of the producer, without the transactional id. */
  producerSettings: Record<string, string | number | boolean>;
  /** How long an open transaction may last before the coordinator aborts it. */
  transactionTimeoutMs: number;
  identity: TransactionalIdentity;
  /** The worker's member of the group that owns a topic's partitions (it sends their offsets). */
  memberOf: MemberOf;
  sink: OutputSink;
  health: BrokerHealth;
  /** Every task of the worker: one transaction covers them all. */
  tasks(): Task[];
  /** Closes every task and reopens it from its store, fetching from its checkpoint again. */
  reopenTasks(): Promise<number>;
  /** Stops (true) or resumes fetching, while the transaction is being aborted. */
  pauseFetching(paused: boolean): void;
  changelog: { writerId: string; topicOf: (task: CheckpointedTask) => string } | undefined;
  onClientError(err: { code?: number; message: string }): void;
}

export class ExactlyOnce implements DeliveryMode {
  readonly name = 'exactly-once';
  private producerClient: ProducerClient;
  private transactions: Transactions;
  private failed = false;
  /** The producer failed fatally (fenced) or got stuck: recovery replaces it. */
  private producerBroken = false;
  /** ...because it was fenced: its replacement registers a new transactional id (state/worker-slot.ts). */
  private producerFenced = false;
  private abortFailures = 0;
  private checkpointSeq = 0;
  private readonly startedAt = Date.now();

  constructor(private readonly context: ExactlyOnceContext) {
    this.producerClient = this.newProducer();
    this.transactions = new Transactions(this.producerClient);
  }

  get producer(): ProducerClient {
    return this.producerClient;
  }

  get recovering(): boolean {
    return this.failed;
  }

  private newProducer(): ProducerClient {
    const { identity, producerSettings, transactionTimeoutMs } = this.context;
    const producer = new Producer({
      ...producerSettings,
      'transactional.id': identity.transactionalId(),
      // A dead worker's open transaction holds read_committed readers back this long unless its
      // id is registered again first; librdkafka requires records to time out within it.
      'transaction.timeout.ms': transactionTimeoutMs,
      'message.timeout.ms': transactionTimeoutMs,
    });
    producer.on('event.error', (err) => this.context.onClientError(err));
    return producer;
  }

  /** Connects the producer (whose metadata the worker reads), registers the id, opens a transaction. */
  async connect(): Promise<Awaited<ReturnType<typeof connectClient>>> {
    return connectClient(this.producerClient, this.context.brokers);
  }

  async start(): Promise<void> {
    // Registering the id aborts what a previous holder of this slot left open (kill -9).
    await this.transactions.init(60_000);
    await this.transactions.begin();
  }

  /** A produce error: a transaction librdkafka refuses records for is a failed checkpoint, not a crash. */
  produceFailed(err: unknown): boolean {
    const code = (err as { code?: number }).code;
    if (code !== CODES.ERRORS.ERR__STATE && code !== CODES.ERRORS.ERR__FATAL) return false;
    if (code === CODES.ERRORS.ERR__FATAL) this.producerBroken = this.producerFenced = true;
    this.fail();
    log.debug('transaction lost', { reason: (err as Error).message });
    return true;
  }

  private fail(): void {
    this.failed = true;
    this.context.sink.discarding = true; // its records replay after the tasks reopen
  }

  async checkpoint(_tasks: Task[], kind: CheckpointKind): Promise<CheckpointReport | undefined> {
    const id = ++this.checkpointSeq;
    if (this.failed) return undefined; // the open transaction is being aborted: nothing to commit
    const timeoutMs = checkpointTimeoutMs(kind);
    let report: CheckpointReport;
    // One transaction holds every task's outputs: a checkpoint always covers all of them.
    if (!(await this.context.sink.drain(timeoutMs))) {
      report = notCommitted(id, Date.now(), performance.now(), 'aborted', 'producer queue did not drain');
    } else {
      const token = `${this.context.identity.transactionalId()}:${this.startedAt}:${id}`;
      try {
        report = await checkpointInTransaction(id, token, this.context.tasks(), this.transactions, this.context.memberOf, timeoutMs, this.changelogSink(timeoutMs));
      } catch (err) {
        if (!(err instanceof FencedError)) throw err;
        this.producerBroken = this.producerFenced = true;
        report = notCommitted(id, Date.now(), performance.now(), 'aborted', err.message);
      }
    }
    if (report.status === 'completed') await this.begin();
    else this.fail();
    return report;
  }

  /** The changelog records go into the open transaction; the offsets join it when it commits. */
  private changelogSink(timeoutMs: number): ChangelogSink | undefined {
    const changelog = this.context.changelog;
    if (changelog === undefined) return undefined;
    const { sink } = this.context;
    return {
      writer: changelog.writerId,
      topicOf: changelog.topicOf,
      write: async (batches) => {
        for (const batch of batches) {
          for (const record of batch.records) sink.produce(batch.topic, batch.partition, record.value, record.key);
        }
        return sink.drain(timeoutMs); // all of it must be in the transaction before it commits
      },
    };
  }

  partitionsLost(): void {
    // The open transaction holds their outputs: it is aborted.
    this.fail();
  }

  /**
   * After a transaction did not commit: the in-memory state is ahead of what Kafka holds. Abort,
   * reopen every task from its store (settling the staged checkpoint by the group's committed
   * offset) and read again from there. One bounded attempt; the loop calls again while it fails.
   */
  async recover(): Promise<void> {
    const { sink, health } = this.context;
    sink.clear();
    this.context.pauseFetching(true);
    if (!this.producerBroken) {
      try {
        await this.transactions.abort(5_000);
        this.abortFailures = 0;
      } catch (err) {
        if (err instanceof FencedError) this.producerBroken = this.producerFenced = true;
        else {
          health.failed(`cannot abort the transaction yet: ${(err as Error).message}`);
          // librdkafka's coordinator connection can stay stuck after a broker restart: a new
          // producer registering the same id aborts the transaction on the coordinator instead.
          if (++this.abortFailures < 3) return;
          this.producerBroken = true;
        }
      }
    }
    if (this.producerBroken) {
      try {
        await this.replaceProducer();
      } catch (err) {
        if (err instanceof FencedError) throw err; // another live process holds even the new id
        log.debug('cannot start a new transactional producer yet', { reason: (err as Error).message });
        health.failed(`cannot start a new transactional producer yet: ${(err as Error).message}`);
        await sleep(1_000);
        return;
      }
    }
    // Records stay discarded until the new transaction is open (a status published while the
    // tasks reopen would otherwise go to no transaction).
    const reopened = await this.context.reopenTasks(); // back to each store's offset
    this.context.pauseFetching(false);
    await this.begin();
    if (this.producerBroken) return; // begin failed: the next round starts over
    this.failed = false;
    sink.discarding = false;
    this.abortFailures = 0;
    log.warn('transaction aborted; tasks resumed from their last checkpoint', { partitions: reopened });
  }

  private async begin(): Promise<void> {
    try {
      await this.transactions.begin();
    } catch (err) {
      if (!(err instanceof FencedError)) throw err;
      this.producerBroken = this.producerFenced = true;
      this.fail();
    }
  }

  /**
   * A fatal transactional error does not always mean a zombie: the coordinator also bumps the
   * producer's epoch when it aborts a transaction that outlived its timeout (a broker outage).
   * A new producer carries on. Fenced, it registers a new id: another live worker may hold the
   * old one (a copied state dir), and registering it again would fence that one in turn. A stuck
   * producer keeps the id: registering it is what ends its open transaction.
   */
  private async replaceProducer(): Promise<void> {
    await Promise.race([disconnect(this.producerClient), sleep(5_000)]);
    if (this.producerFenced) {
      this.context.identity.renew();
      this.producerFenced = false;
    }
    this.producerClient = this.newProducer();
    this.context.sink.use(this.producerClient);
    await connectClient(this.producerClient, this.context.brokers);
    this.transactions = new Transactions(this.producerClient);
    await this.transactions.init(30_000);
    this.producerBroken = false;
    log.info('transactional producer replaced (the previous one was fenced or stuck)', { transactionalId: this.context.identity.transactionalId() });
  }

  /** Commits only what the final checkpoint covers; a transaction it could not complete is aborted (committing it would show outputs the restarted task emits again). */
  async finish(timeoutMs: number): Promise<void> {
    if (!this.failed && (await this.context.sink.drain(timeoutMs))) {
      await this.transactions.commit([], this.context.memberOf, timeoutMs).catch(() => undefined);
    } else {
      await this.transactions.abort(timeoutMs).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await Promise.race([disconnect(this.producerClient), sleep(10_000)]);
  }
}
