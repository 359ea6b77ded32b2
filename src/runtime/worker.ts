// One worker process of the job. It joins the job's consumer group on two topics, `clicks` and
// the internal partials topic, so Kafka spreads both the source tasks and the merge tasks over
// the workers. One loop does everything in order: consume a batch, run it through the tasks,
// produce what they emit, handle rebalances, detect idle partitions, checkpoint every interval.
//
// Design (why two stages): a url's clicks may sit in any input partition (keyed by user, or not
// keyed at all), and the job-wide total needs every partition. So each source task pre-aggregates
// its partition into closed 5 s panes and forwards them, with its watermark, through the partials
// topic; merge tasks combine them per url (and partition 0 of it the totals) and emit a window
// once every source partition's watermark has passed its end. See src/topology/.

import type { Message, TopicPartition } from '@confluentinc/kafka-javascript';
import { changelogTopicNames, type ChangelogTopics, type TopicNames } from '../config.js';
import { changelogTopics, ensureTopics } from '../kafka/topics.js';
import { partialCodec, urlStatsCodec, windowCountCodec, windowTotalCodec, type Partial, type UrlStats } from '../codec/messages.js';
import { readClickFields, type ClickFields } from '../codec/click-fields.js';
import { CODES, KafkaConsumer, OFFSET_BEGINNING, Producer, connectClient, disconnect, incremental, partitionCounts, type ConsumerClient, type Metadata, type ProducerClient } from '../kafka/clients.js';
import { flush, producerConfig } from '../producer/send.js';
import { consumeBatchSize, jobConsumerConfig, jobConsumerTopicConfig } from '../kafka/consumer-config.js';
import { UserError } from '../errors.js';
import { logger } from '../log.js';
import { claimJobDir, type JobShape } from '../state/state-dir.js';
import { joinUrlStats } from '../topology/merge-stage.js';
import { emptyOutput, type MergeOutput } from '../topology/merge-windows.js';
import type { RoutedPartial } from '../topology/source-stage.js';
import type { WindowSpec } from '../topology/windows.js';
import type { UrlTable } from '../table/urls.js';
import { checkpoint, checkpointInTransaction, type CheckpointRecord } from './checkpointer.js';
import { FencedError, Transactions } from '../kafka/transactions.js';
import { claimWorkerSlot, transactionalIdOf, type WorkerSlot } from '../state/worker-slot.js';
import { OutageTracker } from './outage.js';
import { ChangelogWriter, type ChangelogBatch, type TransactionalIdentity } from './changelog-writer.js';
import { ChangelogReader, type RestoreProgress } from '../kafka/changelog-reader.js';
import type { ChangelogSink } from './checkpointer.js';
import type { ChangelogAccess } from './tasks.js';
import type { Stage } from '../state/state-dir.js';
import { formatMinuteTable } from './minute-table.js';
import { SavepointParticipant } from './savepoint-participant.js';
import type { SavepointRequest } from '../savepoint/protocol.js';
import type { TaskStatus, WorkerStatus } from './status.js';
import { hostname } from 'node:os';
import { NO_WATERMARK } from '../topology/watermark.js';
import { openMergeTask, openSourceTask, type CommittedToken, type MergeTask, type SourceTask, type Task, type TaskSettings } from './tasks.js';

export interface WorkerConfig {
  brokers: string;
  topics: TopicNames;
  jobId: string;
  stateDir: string;
  windows: WindowSpec;
  maxOutOfOrdernessMs: number;
  idleTimeoutMs: number;
  checkpointIntervalMs: number;
  urlTable: UrlTable;
  /** Print each closed minute as a table on stdout. */
  printMinuteTables: boolean;
  /** Outputs, internal records and input offsets committed in one Kafka transaction per checkpoint. */
  exactlyOnce?: boolean;
  /** Write each task's state changes to the changelog topics (default on): any worker can take any task. */
  changelog?: boolean;
  /** The --topic-prefix: the job's changelog topics are named with it and the job id. */
  topicPrefix?: string;
  consumeBatchSize?: number;
}

export interface WorkerMetrics {
  /** Records read from clicks. */
  clicksIn: number;
  /** Records read from the partials topic. */
  partialsIn: number;
  late: number;
  lateAtMerge: number;
  deadLettered: number;
  partialsOut: number;
  countsOut: number;
  totalsOut: number;
  statsOut: number;
}

const log = logger('worker');
/** A periodic checkpoint gives up (and retries at the next) rather than stall the loop. */
const flushTimeoutMs = 10_000;
/** A final checkpoint (the worker stops) waits longer: otherwise the next owner replays. */
const finalFlushTimeoutMs = 20_000;
/**
 * A revocation checkpoint waits less: the whole group waits for it, and when it fails the next
 * owner just replays from the previous one. Measured in the chaos run: 20 s flushes after a
 * broker restart held the group's rebalance for a minute.
 */
const revocationFlushTimeoutMs = 5_000;
/** How long the loop hands queued outputs to a full producer queue before it polls again. */
const drainBudgetMs = 100;
/**
 * A committed offset unreadable this long is suspected to be held by a hanging transaction: well
 * past any transaction's timeout (the coordinator aborts those) and a broker restart's outage.
 */
const hangingTransactionSuspectMs = 90_000;

/** An output waiting for room in librdkafka's queue: topic, partition, value, key, headers. */
type QueuedRecord = [string, number | null, Buffer | null, string | Buffer | null, Array<Record<string, string>> | undefined];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Worker {
  private consumer!: ConsumerClient;
  private producer!: ProducerClient;
  private settings!: TaskSettings;
  /** Tasks by partition, per stage: arrays for a fast lookup on the hot path. */
  private readonly sources: Array<SourceTask | undefined> = [];
  private readonly merges: Array<MergeTask | undefined> = [];
  private readonly pendingRebalances: Array<{ assign: boolean; partitions: TopicPartition[] }> = [];
  private stopRequested = false;
  private shape!: JobShape;
  readonly workerId = `${hostname()}/${process.pid}`;
  private readonly startedAt = Date.now();
  /** Checkpoints and savepoints not yet reported in a status, and the last report's counters. */
  private unreportedCheckpoints: CheckpointRecord[] = [];
  private unreportedSavepoints: WorkerStatus['savepoints'] = [];
  /** False from a revocation until the group's next assignment reaches this worker. */
  private assignmentSettled = false;
  /** Savepoint requests read from the control topic and not served yet (oldest first). */
  private readonly savepointRequests: SavepointRequest[] = [];
  private lastStatusAt = Date.now();
  private readonly lastRecordsIn = new Map<string, number>();
  /** Set by whoever serves this worker's /metrics, for the status to point at it. */
  metricsUrl: string | null = null;
  private readonly checkpointListeners: Array<(record: CheckpointRecord) => void> = [];
  /** When each quiet source partition last asked the broker whether it is caught up. */
  private readonly idleProbeAt = new Map<number, number>();
  private savepoints!: SavepointParticipant;
  private closing = false;
  private checkpointSeq = 0;
  private lastCheckpointAt = 0;
  private readonly click: ClickFields = { url: '', timestampMs: 0 };
  /**
   * Outputs produced while librdkafka's queue was full, in order. Once one waits, every later
   * output queues behind it (a watermark must never overtake the panes it covers), and the
   * consumer pauses until they are handed over: backpressure without blocking the event loop.
   */
  private overflow: QueuedRecord[] = [];
  private overflowHead = 0;
  private paused = false;
  /** Exactly-once mode: the open transaction, and whether the tasks must be reopened after an abort. */
  private transactions: Transactions | undefined;
  private slot: WorkerSlot | undefined;
  private transactionalId = '';
  private recoveryNeeded = false;
  /** The transactional producer failed fatally (fenced) or got stuck: recovery replaces it. */
  private producerBroken = false;
  /** ...because it was fenced: its replacement registers a new transactional id (worker-slot.ts). */
  private producerFenced = false;
  private producerSettings: Record<string, string | number | boolean> = {};
  private abortFailures = 0;
  /** Changelog: who this worker is in checkpoint stamps, its reader, its writer (at-least-once). */
  private writerId = '';
  private changelogReader: ChangelogReader | undefined;
  private changelogWriter: ChangelogWriter | undefined;
  /** Tasks being rebuilt from the changelog now, for the status. */
  readonly restoring = new Map<string, RestoreProgress>();
  private readonly changelogTopics: ChangelogTopics;
  private readonly outage = new OutageTracker();
  private lastBrokerAnswerAt = 0;
  readonly metrics: WorkerMetrics = { clicksIn: 0, partialsIn: 0, late: 0, lateAtMerge: 0, deadLettered: 0, partialsOut: 0, countsOut: 0, totalsOut: 0, statsOut: 0 };
  readonly checkpoints: CheckpointRecord[] = [];

  private readonly topics: TopicNames;

  constructor(private readonly config: WorkerConfig) {
    this.topics = config.topics;
    this.changelogTopics = changelogTopicNames(config.topicPrefix ?? '', config.jobId);
  }

  get tasks(): Task[] {
    return [...this.sources, ...this.merges].filter((task): task is Task => task !== undefined);
  }

  /** Connects, checks topics and state, and joins the group. */
  async start(): Promise<void> {
    const { brokers, jobId, topics } = this.config;
    const exactlyOnce = this.config.exactlyOnce === true;
    const changelog = this.config.changelog !== false;
    let transactional: Record<string, string | number> = {};
    if (exactlyOnce || changelog) {
      this.slot = claimWorkerSlot(this.config.stateDir, jobId);
      this.transactionalId = transactionalIdOf(jobId, this.slot.instanceId);
    }
    this.writerId = `${this.transactionalId || this.workerId}:${this.startedAt}`;
    if (exactlyOnce) {
      transactional = {
        'transactional.id': this.transactionalId,
        // Longer than a checkpoint interval plus its commit; a dead worker's open transaction
        // holds read_committed readers back this long unless its slot is taken over first.
        'transaction.timeout.ms': Math.max(20_000, this.config.checkpointIntervalMs * 3 + flushTimeoutMs),
        // librdkafka requires records to time out within a transaction.
        'message.timeout.ms': Math.max(20_000, this.config.checkpointIntervalMs * 3 + flushTimeoutMs),
      };
    }
    // Outputs are few next to the input (pre-aggregated) but spread over many partitions: small
    // batches and a bounded queue keep their buffers from costing more memory than the input's.
    this.producerSettings = {
      ...producerConfig(brokers, `${jobId}-worker-${process.pid}`),
      // Checkpoints wait for these records' acknowledgements: send them almost at once.
      'linger.ms': 1,
      'batch.size': 262_144,
      'batch.num.messages': 10_000,
      'queue.buffering.max.kbytes': 16_384,
      ...transactional,
    };
    this.producer = new Producer(this.producerSettings);
    let metadata = await connectClient(this.producer, brokers);
    this.producer.on('event.error', (err) => this.onClientError(err));
    // Topics created a moment ago (a broker that just started) can be missing from the first
    // metadata: look again for a few seconds before calling them missing.
    const missingIn = (m: Metadata) => Object.values(topics).filter((topic) => !partitionCounts(m).has(topic));
    for (const deadline = Date.now() + 10_000; missingIn(metadata).length > 0 && Date.now() < deadline; ) {
      await sleep(500);
      metadata = await new Promise<Metadata>((resolve, reject) => this.producer.getMetadata({ timeout: 5_000 }, (err, m) => (err ? reject(err) : resolve(m))));
    }
    const partitions = partitionCounts(metadata);
    const missing = missingIn(metadata);
    if (missing.length > 0) {
      await disconnect(this.producer);
      throw new UserError('TOPIC_MISMATCH', `topics missing at ${brokers}: ${missing.join(', ')}; run "clickstream topics create" first`);
    }
    const clicksPartitions = partitions.get(this.topics.clicks)!;
    const mergePartitions = partitions.get(this.topics.partials)!;
    const { windows, maxOutOfOrdernessMs } = this.config;
    this.shape = { clicksPartitions, mergePartitions, ...windowShape(windows), maxOutOfOrdernessMs };
    try {
      claimJobDir(this.config.stateDir, jobId, this.shape);
    } catch (err) {
      await disconnect(this.producer);
      throw err;
    }
    this.settings = { stateDir: this.config.stateDir, jobId, windows, maxOutOfOrdernessMs, idleTimeoutMs: this.config.idleTimeoutMs, clicksPartitions, mergePartitions };

    this.consumer = new KafkaConsumer(
      {
        ...jobConsumerConfig(brokers, jobId, `${jobId}-worker-${process.pid}`),
        'rebalance_cb': (err: { code: number }, assignment: TopicPartition[]) => this.onRebalance(err, assignment),
      } as unknown as ConstructorParameters<typeof KafkaConsumer>[0],
      jobConsumerTopicConfig,
    );
    await connectClient(this.consumer, brokers);
    this.consumer.on('event.error', (err) => this.onClientError(err));
    this.consumer.setDefaultConsumeTimeout(100);
    this.consumer.subscribe([this.topics.clicks, this.topics.partials]);
    this.savepoints = new SavepointParticipant(brokers, topics, jobId);
    await this.savepoints.start();
    if (changelog) {
      await ensureTopics(brokers, changelogTopics(this.changelogTopics, clicksPartitions, mergePartitions));
      this.changelogReader = await ChangelogReader.open(brokers, `${jobId}-worker-${process.pid}-changelog`);
      if (!exactlyOnce) this.changelogWriter = await ChangelogWriter.open(brokers, `${jobId}-worker-${process.pid}-changelog`, this.identity());
    }
    if (exactlyOnce) {
      this.transactions = new Transactions(this.producer);
      // Registering the id aborts what a previous holder of this slot left open (kill -9).
      await this.transactions.init(60_000);
      await this.transactions.begin();
    }
    this.lastCheckpointAt = Date.now();
    log.info('worker started', { jobId, clicksPartitions, mergePartitions, stateDir: this.config.stateDir, exactlyOnce, changelog, transactionalId: this.transactionalId || undefined });
  }

  requestStop(): void {
    this.stopRequested = true;
  }

  /** Runs until requestStop(); then takes a final checkpoint and leaves the group. */
  async run(): Promise<void> {
    const batchSize = this.config.consumeBatchSize ?? consumeBatchSize;
    try {
      while (!this.stopRequested) {
        // Exactly-once after a failed transaction: one bounded recovery attempt per round, with
        // fetching paused, so that rebalances are still served while the broker is away.
        if (this.recoveryNeeded) await this.recover();
        const messages = await this.consumeBatch(batchSize);
        if (this.recoveryNeeded) {
          // Read before the pause took effect: the tasks will reread it from their checkpoints.
          if (this.pendingRebalances.length > 0) await this.handleRebalances();
          continue;
        }
        if (messages.length > 0) this.process(messages);
        if (this.hasOverflow()) this.setPaused(!(await this.drainOverflow(drainBudgetMs)));
        else if (this.paused) this.setPaused(false);
        if (this.pendingRebalances.length > 0) await this.handleRebalances();
        if (this.recoveryNeeded) continue;
        const now = Date.now();
        await this.checkIdleness(now);
        if (now - this.lastCheckpointAt >= this.config.checkpointIntervalMs) {
          await this.checkpointAll();
          // A failed exactly-once checkpoint leaves a transaction to abort: nothing more goes in.
          if (this.recoveryNeeded) continue;
          await this.serveSavepointRequests();
          if (!this.recoveryNeeded) this.publishStatus('running');
        }
      }
      if (!this.recoveryNeeded) await this.checkpointAll(this.tasks, true);
      if (this.transactions !== undefined) {
        // Commit only what the final checkpoint covers; a transaction it could not complete is
        // aborted (committing it would show outputs the restarted task emits again).
        if (this.recoveryNeeded) await this.transactions.abort(10_000).catch(() => undefined);
        else {
          this.publishStatus('stopped');
          if (await this.drainOverflow(10_000)) await this.transactions.commit([], this.consumer, 10_000).catch(() => undefined);
          else await this.transactions.abort(10_000).catch(() => undefined);
        }
      } else {
        this.publishStatus('stopped');
        await this.drainOverflow(10_000);
        await flush(this.producer, 10_000).catch(() => undefined);
      }
    } finally {
      await this.shutdown();
    }
  }

  private consumeBatch(size: number): Promise<Message[]> {
    return new Promise((resolve, reject) => {
      this.consumer.consume(size, (err, messages) => (err ? reject(err) : resolve(messages)));
    });
  }

  // ---------------------------------------------------------------- the hot path

  private process(messages: Message[]): void {
    const now = Date.now();
    const touchedSources = new Set<SourceTask>();
    const touchedMerges = new Map<MergeTask, MergeOutput>();
    for (const message of messages) {
      if (message.topic === this.topics.clicks) {
        const task = this.sources[message.partition];
        if (task === undefined) continue; // revoked meanwhile: its new owner reads it from the checkpoint
        this.processClick(task, message);
        touchedSources.add(task);
      } else {
        const task = this.merges[message.partition];
        if (task === undefined) continue;
        let out = touchedMerges.get(task);
        if (out === undefined) touchedMerges.set(task, (out = emptyOutput()));
        task.topology.apply(partialCodec.decode(message.value!), out);
        task.nextOffset = message.offset + 1;
        task.recordsIn++;
        this.metrics.partialsIn++;
      }
    }
    const routed: RoutedPartial[] = [];
    for (const task of touchedSources) {
      if (task.idleness.recordSeen(now)) task.topology.setIdle(false, routed);
      task.topology.flush(routed);
    }
    this.sendPartials(routed);
    for (const [task, out] of touchedMerges) this.emitResults(task, out);
  }

  private processClick(task: SourceTask, message: Message): void {
    task.nextOffset = message.offset + 1;
    task.recordsIn++;
    this.metrics.clicksIn++;
    const value = message.value;
    const error = value ? readClickFields(value, this.click) : 'empty record';
    if (error !== undefined) {
      task.deadLettered++;
      this.metrics.deadLettered++;
      this.produce(this.topics.deadLetter, null, value ?? null, message.key ?? null, [
        { error },
        { 'source-topic': message.topic },
        { 'source-partition': String(message.partition) },
        { 'source-offset': String(message.offset) },
      ]);
      return;
    }
    if (!task.topology.add(this.click.url, this.click.timestampMs)) {
      task.late++;
      this.metrics.late++;
      this.produce(this.topics.late, null, value!, message.key ?? null, [
        { reason: `event time ${this.click.timestampMs} is in a 5 s pane that closed at watermark ${task.topology.panes.watermarkMs} of partition ${task.partition}` },
        { 'source-partition': String(message.partition) },
        { 'source-offset': String(message.offset) },
      ]);
    }
  }

  private sendPartials(routed: RoutedPartial[]): void {
    for (const r of routed) {
      this.produce(this.topics.partials, r.mergePartition, partialCodec.encode(r.partial) as Buffer, r.key);
    }
    this.metrics.partialsOut += routed.length;
  }

  private emitResults(task: MergeTask, out: MergeOutput): void {
    for (const count of out.counts) this.produce(this.topics.counts, null, windowCountCodec.encode(count) as Buffer, count.url);
    for (const total of out.totals) this.produce(this.topics.total, null, windowTotalCodec.encode(total) as Buffer, String(total.windowStart));
    const joined: UrlStats[] = out.stats.map((stats) => joinUrlStats(stats, this.config.urlTable));
    for (const stats of joined) this.produce(this.topics.urlStats, null, urlStatsCodec.encode(stats) as Buffer, stats.url);
    for (const late of out.late) {
      const partial: Partial = late.url !== null
        ? { paneCount: { sourcePartition: late.sourcePartition, paneStart: late.paneStart, url: late.url, count: late.count } }
        : { paneTotal: { sourcePartition: late.sourcePartition, paneStart: late.paneStart, count: late.count } };
      this.produce(this.topics.late, null, partialCodec.encode(partial) as Buffer, late.url, [
        { reason: `${late.count} clicks of source partition ${late.sourcePartition} arrived after their window closed while that partition was idle` },
      ]);
    }
    this.metrics.countsOut += out.counts.length;
    this.metrics.totalsOut += out.totals.length;
    this.metrics.statsOut += joined.length;
    this.metrics.lateAtMerge += out.late.reduce((sum, late) => sum + late.count, 0);
    if (this.config.printMinuteTables && joined.length > 0) process.stdout.write(formatMinuteTable(joined, task.partition));
  }

  /** Produces one record, or queues it behind earlier ones while librdkafka's queue is full. */
  private produce(topic: string, partition: number | null, value: Buffer | null, key: string | Buffer | null, headers?: Array<Record<string, string>>): void {
    if (this.recoveryNeeded) return; // exactly-once: the open transaction is lost; its outputs replay
    if (!this.hasOverflow()) {
      try {
        this.producer.produce(topic, partition, value, key, null, undefined, headers);
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== CODES.ERRORS.ERR__QUEUE_FULL) {
          if (!this.transactionLost(err)) throw err;
          return;
        }
      }
    }
    this.overflow.push([topic, partition, value, key, headers]);
  }

  /**
   * Exactly-once: librdkafka refuses records once the transaction failed (an abortable error,
   * or a fatal one such as the epoch bump of a transaction that outlived its timeout). That is a
   * failed checkpoint, not a crash: recover from the last one. True if the error was that.
   */
  private transactionLost(err: unknown): boolean {
    const code = (err as { code?: number }).code;
    if (this.transactions === undefined || (code !== CODES.ERRORS.ERR__STATE && code !== CODES.ERRORS.ERR__FATAL)) return false;
    if (code === CODES.ERRORS.ERR__FATAL) this.producerBroken = this.producerFenced = true;
    this.recoveryNeeded = true;
    log.debug('transaction lost', { reason: (err as Error).message });
    return true;
  }

  private hasOverflow(): boolean {
    return this.overflowHead < this.overflow.length;
  }

  /** Hands queued outputs to librdkafka as its queue frees up, for at most `budgetMs`; true when all went. */
  private async drainOverflow(budgetMs: number): Promise<boolean> {
    const deadline = Date.now() + budgetMs;
    while (this.hasOverflow()) {
      const [topic, partition, value, key, headers] = this.overflow[this.overflowHead]!;
      try {
        this.producer.produce(topic, partition, value, key, null, undefined, headers);
        this.overflowHead++;
      } catch (err) {
        if ((err as { code?: number }).code !== CODES.ERRORS.ERR__QUEUE_FULL) {
          if (!this.transactionLost(err)) throw err;
          this.overflow = [];
          this.overflowHead = 0;
          return false;
        }
        if (Date.now() >= deadline) return false;
        this.producer.poll();
        await sleep(5); // librdkafka's threads send meanwhile; the event loop stays free
      }
    }
    this.overflow = [];
    this.overflowHead = 0;
    return true;
  }

  /** Stops fetching while outputs wait (rebalances are still served by consume()). */
  private setPaused(paused: boolean): void {
    if (paused === this.paused) return;
    const partitions = this.consumer.assignments();
    if (partitions.length > 0) {
      if (paused) this.consumer.pause(partitions);
      else this.consumer.resume(partitions);
    }
    this.paused = paused;
  }

  // ---------------------------------------------------------------- idleness

  private async checkIdleness(now: number): Promise<void> {
    const due: SourceTask[] = [];
    for (const task of this.sources) {
      if (task === undefined || !task.idleness.quietLongEnough(now)) continue;
      if (now - (this.idleProbeAt.get(task.partition) ?? 0) < 1_000) continue; // one broker query a second
      this.idleProbeAt.set(task.partition, now);
      due.push(task);
    }
    if (due.length === 0) return;
    // Ask the broker, not a cached end offset: during a broker outage a stale "caught up" would
    // close windows that the partition's unread records still belong to. All at once: during an
    // outage each query takes its full timeout, and the loop must keep serving rebalances.
    const caughtUp = await Promise.all(due.map((task) => this.caughtUp(task)));
    const routed: RoutedPartial[] = [];
    due.forEach((task, i) => {
      if (this.sources[task.partition] !== task) return; // revoked meanwhile
      if (task.idleness.check(now, caughtUp[i]!)) {
        log.info('partition idle', { partition: task.partition, watermarkMs: task.topology.panes.watermarkMs });
        task.topology.setIdle(true, routed);
      }
    });
    this.sendPartials(routed);
  }

  private async caughtUp(task: SourceTask): Promise<boolean> {
    let high: number;
    try {
      high = await new Promise<number>((resolve, reject) =>
        this.consumer.queryWatermarkOffsets(task.topic, task.partition, 2_000, (err, offsets) => (err ? reject(err) : resolve(offsets.highOffset))),
      );
    } catch (err) {
      this.brokerFailed((err as Error).message);
      return false; // the broker does not answer: assume there is more to read
    }
    this.brokerAnswered();
    if (task.nextOffset !== undefined) return task.nextOffset >= high;
    return high === 0;
  }

  // ---------------------------------------------------------------- checkpoints

  private async checkpointAll(tasks: Task[] = this.tasks, final = false, timeoutMs = final ? finalFlushTimeoutMs : flushTimeoutMs): Promise<void> {
    this.lastCheckpointAt = Date.now();
    const id = ++this.checkpointSeq;
    let record: CheckpointRecord;
    if (this.recoveryNeeded) return; // the open transaction is being aborted: nothing to commit
    if (this.transactions !== undefined) {
      // One transaction holds every task's outputs: a checkpoint always covers all of them.
      if (!(await this.drainOverflow(timeoutMs))) {
        record = { id, startedAtMs: Date.now(), durationMs: 0, flushMs: 0, bytes: 0, tasks: [], status: 'aborted', reason: 'producer queue did not drain' };
      } else {
        const token = `${this.transactionalId}:${this.startedAt}:${id}`;
        try {
          record = await checkpointInTransaction(id, token, this.tasks, this.transactions, this.consumer, timeoutMs, this.changelogSink(timeoutMs));
        } catch (err) {
          if (!(err instanceof FencedError)) throw err;
          this.producerBroken = this.producerFenced = true;
          record = { id, startedAtMs: Date.now(), durationMs: 0, flushMs: 0, bytes: 0, tasks: [], status: 'aborted', reason: err.message };
        }
      }
      if (record.status === 'completed') await this.beginTransaction();
      else this.recoveryNeeded = true;
    } else {
      if (tasks.length === 0) return;
      if (!(await this.drainOverflow(timeoutMs))) {
        record = { id, startedAtMs: Date.now(), durationMs: 0, flushMs: 0, bytes: 0, tasks: [], status: 'skipped', reason: 'producer queue did not drain' };
      } else {
        record = await checkpoint(id, tasks, this.producer, this.consumer, timeoutMs, final, this.changelogSink(timeoutMs));
      }
    }
    this.checkpoints.push(record);
    if (this.checkpoints.length > 200) this.checkpoints.shift();
    this.unreportedCheckpoints.push(record);
    for (const listener of this.checkpointListeners) listener(record);
    if (record.status !== 'completed') {
      // A checkpoint fails when the broker does not answer: part of an outage, reported once.
      this.brokerFailed(`checkpoint ${record.status}: ${record.reason}`);
      log.debug(`checkpoint ${record.status}`, { id: record.id, reason: record.reason });
    } else this.brokerAnswered();
    if (record.status === 'completed') log.debug('checkpoint', { id: record.id, durationMs: Math.round(record.durationMs), bytes: record.bytes, tasks: record.tasks.length });
  }

  /** Where checkpoints write the changelog: the worker's transaction, or the changelog writer's. */
  private changelogSink(timeoutMs: number): ChangelogSink | undefined {
    if (this.changelogReader === undefined) return undefined;
    const topicOf = (task: Task) => (task.stage === 'source' ? this.changelogTopics.source : this.changelogTopics.merge);
    if (this.transactions !== undefined) {
      return {
        writer: this.writerId,
        topicOf,
        // The offsets join the transaction when it commits.
        write: async (batches: ChangelogBatch[]) => {
          for (const batch of batches) {
            for (const record of batch.records) this.produce(batch.topic, batch.partition, record.value, record.key, record.headers);
          }
          return this.drainOverflow(timeoutMs); // all of it must be in the transaction before it commits
        },
      };
    }
    const writer = this.changelogWriter!;
    return { writer: this.writerId, topicOf, write: (batches, offsets) => writer.write(batches, offsets, this.consumer, timeoutMs) };
  }

  private changelogAccess(stage: Stage): ChangelogAccess | undefined {
    if (this.changelogReader === undefined) return undefined;
    return {
      reader: this.changelogReader,
      topic: stage === 'source' ? this.changelogTopics.source : this.changelogTopics.merge,
      onProgress: (taskStage, partition, progress) => this.onRestoreProgress(`${taskStage}-${partition}`, progress),
      retry: (what, call) => this.retryBroker(what, call),
    };
  }

  /**
   * A broker call a task cannot open without (offsets, changelog reads): retried every second,
   * as part of an outage, for up to 5 minutes; then the worker stops with the error.
   */
  private async retryBroker<T>(what: string, call: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + 300_000;
    for (;;) {
      try {
        const result = await call();
        this.brokerAnswered();
        return result;
      } catch (err) {
        if (Date.now() >= deadline) throw new Error(`${what} failed for 5 minutes: ${(err as Error).message}`);
        this.brokerFailed(`${what}: ${(err as Error).message}`);
        await sleep(1_000);
      }
    }
  }

  /** Restoring from the changelog can take a while: shown in the log and, via the status, on the dashboard. */
  private onRestoreProgress(task: string, progress: RestoreProgress): void {
    const percent = Math.round(progress.fraction * 100);
    log.warn(progress.fraction >= 1 ? 'restored from the changelog' : 'restoring from the changelog', {
      task, records: progress.records, percent, recordsPerSec: Math.round(progress.recordsPerSec), elapsedMs: progress.elapsedMs,
    });
    if (progress.fraction >= 1) this.restoring.delete(task);
    else this.restoring.set(task, progress);
    try {
      this.publishStatus('running');
    } catch {
      // exactly-once recovery between transactions: the next status reports it
    }
  }

  /**
   * Exactly-once mode after a transaction did not commit: the in-memory state is ahead of what
   * Kafka holds. Abort, reopen every task from its store (settling the staged checkpoint by the
   * group's committed offset) and read again from there.
   */
  private async recover(): Promise<void> {
    this.overflow = [];
    this.overflowHead = 0;
    this.setPaused(true);
    if (!this.producerBroken) {
      try {
        await this.transactions!.abort(5_000);
        this.abortFailures = 0;
      } catch (err) {
        if (err instanceof FencedError) this.producerBroken = this.producerFenced = true;
        else {
          this.brokerFailed(`cannot abort the transaction yet: ${(err as Error).message}`);
          // librdkafka's coordinator connection can stay stuck after a broker restart: a new
          // producer registering the same id aborts the transaction on the coordinator instead.
          if (++this.abortFailures < 3) return; // recoveryNeeded stays set: the loop calls again
          this.producerBroken = true;
        }
      }
    }
    if (this.producerBroken) {
      try {
        await this.replaceProducer();
      } catch (err) {
        if (err instanceof FencedError) throw err; // another live process holds the id
        log.debug('cannot start a new transactional producer yet', { reason: (err as Error).message });
        this.brokerFailed(`cannot start a new transactional producer yet: ${(err as Error).message}`);
        await sleep(1_000);
        return;
      }
    }
    const partitions = this.tasks.map((task) => ({ topic: task.topic, partition: task.partition }));
    if (partitions.length > 0) {
      await this.closeTasks(this.tasks);
      await this.assign(partitions, true); // back to each store's offset
    }
    this.setPaused(false);
    await this.beginTransaction();
    if (this.producerBroken) return; // begin failed: the next round starts over
    this.recoveryNeeded = false;
    this.abortFailures = 0;
    log.warn('transaction aborted; tasks resumed from their last checkpoint', { partitions: partitions.length });
  }

  private async beginTransaction(): Promise<void> {
    try {
      await this.transactions!.begin();
    } catch (err) {
      if (!(err instanceof FencedError)) throw err;
      this.producerBroken = this.producerFenced = true;
      this.recoveryNeeded = true;
    }
  }

  /**
   * A fatal transactional error does not always mean a zombie: the coordinator also bumps the
   * producer's epoch when it aborts a transaction that outlived its timeout (a broker outage).
   * A new producer registers the same id (aborting whatever is open) and carries on; if another
   * live process really holds the id, registering fails and the worker stops.
   */
  private async replaceProducer(): Promise<void> {
    const old = this.producer;
    await Promise.race([disconnect(old), sleep(5_000)]);
    // Fenced: another live worker may hold the id (a copied state dir); registering it again
    // would fence that one in turn. A stuck producer keeps the id: registering it is what ends
    // its open transaction.
    if (this.producerFenced) {
      this.identity().renew();
      this.producerSettings = { ...this.producerSettings, 'transactional.id': this.transactionalId };
      this.producerFenced = false;
    }
    this.producer = new Producer(this.producerSettings);
    this.producer.on('event.error', (err) => this.onClientError(err));
    await connectClient(this.producer, this.config.brokers);
    this.transactions = new Transactions(this.producer);
    await this.transactions.init(30_000);
    this.producerBroken = false;
    log.info('transactional producer replaced (the previous one was fenced or stuck)', { transactionalId: this.transactionalId });
  }

  /** This worker's transactional id, and how to draw a new one (see state/worker-slot.ts). */
  private identity(): TransactionalIdentity {
    return {
      transactionalId: () => this.transactionalId,
      renew: () => (this.transactionalId = transactionalIdOf(this.config.jobId, this.slot!.renew())),
    };
  }

  private async closeTasks(tasks: Task[]): Promise<void> {
    for (const task of tasks) {
      await task.store.close();
      if (task.stage === 'source') this.sources[task.partition] = undefined;
      else this.merges[task.partition] = undefined;
    }
  }

  // ---------------------------------------------------------------- broker outages

  private onClientError(err: { code?: number; message: string }): void {
    // The binding does not always carry librdkafka's code (-1): the message tells too.
    const down = err.code === CODES.ERRORS.ERR__ALL_BROKERS_DOWN || err.code === CODES.ERRORS.ERR__TRANSPORT || /all broker connections are down|transport failure/i.test(err.message);
    // Right after a successful call such an event is a stale one from before (librdkafka queues
    // them): counting it would report a second, 0 s outage.
    if (down && Date.now() - this.lastBrokerAnswerAt > 2_000) this.brokerFailed(err.message);
    else log.debug('kafka client error', { code: err.code, reason: err.message });
  }

  /** A broker call failed: the first failure of an outage is reported, retries are not. */
  private brokerFailed(reason: string): void {
    if (this.outage.failed(Date.now())) {
      log.warn('broker unreachable: keeping state in memory and retrying until it returns', { brokers: this.config.brokers, reason });
    }
  }

  private brokerAnswered(): void {
    const now = Date.now();
    this.lastBrokerAnswerAt = now;
    const end = this.outage.succeeded(now);
    if (end === undefined) return;
    log.warn('broker reachable again', { outageMs: end.durationMs, failedCalls: end.failures });
    // Quiet time during the outage does not count: producers may still be sending what they hold.
    for (const task of this.sources) task?.idleness.postpone(now);
  }

  // ---------------------------------------------------------------- status

  get jobId(): string {
    return this.config.jobId;
  }

  onCheckpoint(listener: (record: CheckpointRecord) => void): void {
    this.checkpointListeners.push(listener);
  }

  /** The current status without resetting the per-interval rates (for metrics scrapes). */
  peekStatus(): WorkerStatus {
    return this.buildStatus('running', false);
  }

  /** The worker's status now (also what the status topic carries). */
  status(state: WorkerStatus['state']): WorkerStatus {
    return this.buildStatus(state, true);
  }

  private buildStatus(state: WorkerStatus['state'], advance: boolean): WorkerStatus {
    const now = Date.now();
    const seconds = Math.max((now - this.lastStatusAt) / 1000, 0.001);
    const tasks: TaskStatus[] = this.tasks.map((task) => {
      const key = `${task.stage}-${task.partition}`;
      const recordsPerSec = (task.recordsIn - (this.lastRecordsIn.get(key) ?? task.recordsIn)) / seconds;
      if (advance) this.lastRecordsIn.set(key, task.recordsIn);
      let highOffset: number | null = null;
      try {
        const high = this.consumer.getWatermarkOffsets(task.topic, task.partition).highOffset;
        if (high >= 0) highOffset = high;
      } catch {
        // not fetched yet
      }
      const watermarkMs = task.stage === 'source' ? task.topology.panes.watermarkMs : task.topology.windows.frontierMs;
      return {
        stage: task.stage,
        partition: task.partition,
        nextOffset: task.nextOffset ?? null,
        highOffset,
        lag: highOffset !== null && task.nextOffset !== undefined ? Math.max(0, highOffset - task.nextOffset) : null,
        watermarkMs: watermarkMs === NO_WATERMARK || !Number.isFinite(watermarkMs) ? null : watermarkMs,
        idle: task.stage === 'source' ? task.topology.isIdle : false,
        recordsIn: task.recordsIn,
        recordsPerSec: Math.round(recordsPerSec),
        openKeys: task.stage === 'source' ? task.topology.panes.openKeyCount : task.topology.windows.openKeyCount,
      };
    });
    if (advance) this.lastStatusAt = now;
    return {
      worker: this.workerId,
      jobId: this.config.jobId,
      state,
      startedAt: this.startedAt,
      updatedAt: now,
      checkpointIntervalMs: this.config.checkpointIntervalMs,
      metricsUrl: this.metricsUrl,
      metrics: { ...this.metrics },
      tasks,
      checkpoints: this.unreportedCheckpoints,
      restoring: [...this.restoring].map(([task, p]) => ({ task, records: p.records, percent: Math.round(p.fraction * 100), recordsPerSec: Math.round(p.recordsPerSec) })),
      savepoints: this.unreportedSavepoints,
    };
  }

  private publishStatus(state: WorkerStatus['state']): void {
    const status = this.status(state);
    this.unreportedCheckpoints = [];
    this.unreportedSavepoints = [];
    this.produce(this.topics.status, 0, Buffer.from(JSON.stringify(status)), this.workerId);
  }

  // ---------------------------------------------------------------- savepoints

  /** Contributes to requested savepoints right after a checkpoint; stops if asked to. */
  private async serveSavepointRequests(): Promise<void> {
    this.savepointRequests.push(...(await this.savepoints.poll()));
    // Mid-rebalance this worker holds only part of what it will: contributing (and, with `stop`,
    // stopping) now could leave partitions that no worker contributes. Served once settled.
    if (!this.assignmentSettled) return;
    while (this.savepointRequests.length > 0) {
      const request = this.savepointRequests[0]!;
      // A request whose requester gave up (this worker was recovering meanwhile) is dropped:
      // contributing, and with `stop` stopping, after "nothing was written" would surprise.
      if (request.deadlineMs !== undefined && Date.now() > request.deadlineMs) {
        log.warn('savepoint request expired before this worker could serve it', { savepointId: request.savepointId });
        this.savepointRequests.shift();
        continue;
      }
      // Checkpoint first: the stores then hold exactly the state at each task's offset. If it
      // fails, the request waits for the recovery and is served at the next checkpoint.
      await this.checkpointAll(this.tasks, true);
      if (this.recoveryNeeded) return;
      await this.savepoints.contribute(request, this.tasks, (topic, partition, value, key) => this.produce(topic, partition, value, key), this.producer, this.shape, this.config.windows);
      // Exactly-once: the chunks are part of the open transaction; commit them for the collector.
      if (this.transactions !== undefined) await this.checkpointAll(this.tasks, true);
      if (this.recoveryNeeded) return;
      this.savepointRequests.shift();
      this.unreportedSavepoints.push({ savepointId: request.savepointId, atMs: Date.now(), stop: request.stop });
      if (request.stop) {
        log.info('stopping after savepoint', { savepointId: request.savepointId });
        this.requestStop();
      }
    }
  }

  // ---------------------------------------------------------------- rebalancing

  private onRebalance(err: { code: number }, assignment: TopicPartition[]): void {
    const assign = err.code === CODES.ERRORS.ERR__ASSIGN_PARTITIONS;
    if (this.closing) {
      // Shutting down: every task was checkpointed and closed already. The binding refuses these
      // calls once it is disconnecting; librdkafka then completes the rebalance by itself.
      try {
        if (assign) incremental(this.consumer).incrementalAssign(assignment);
        else incremental(this.consumer).incrementalUnassign(assignment);
      } catch {
        // disconnecting
      }
      return;
    }
    this.pendingRebalances.push({ assign, partitions: assignment });
  }

  private async handleRebalances(): Promise<void> {
    while (this.pendingRebalances.length > 0) {
      const { assign, partitions } = this.pendingRebalances.shift()!;
      if (assign) await this.assign(partitions);
      else await this.revoke(partitions);
      // A revocation (or a lost assignment) is followed by an assignment, empty or not, once
      // the group has settled again.
      this.assignmentSettled = assign;
    }
  }

  /**
   * Opens a task per partition newly assigned (cooperative rebalancing: the partitions kept go on
   * untouched) and starts fetching each from its store's offset. With `reposition`, the partitions
   * are assigned already (exactly-once recovery): their tasks reopen and fetching seeks back.
   */
  private async assign(partitions: TopicPartition[], reposition = false): Promise<void> {
    const now = Date.now();
    const assignment: Array<{ topic: string; partition: number; offset: number }> = [];
    for (const { topic, partition } of partitions) {
      const committed = this.committedToken(topic, partition);
      const task = topic === this.topics.clicks
        ? await openSourceTask(this.settings, topic, partition, now, committed, this.changelogAccess('source'))
        : await openMergeTask(this.settings, topic, partition, committed, this.changelogAccess('merge'));
      if (task.pendingResolution !== 'none') log.info(`staged checkpoint ${task.pendingResolution}`, { task: `${task.stage}-${partition}`, nextOffset: task.nextOffset });
      if (task.source.use === 'changelog') {
        const openKeys = task.stage === 'source' ? task.topology.panes.openKeyCount : task.topology.windows.openKeyCount;
        log.warn('task state rebuilt from the changelog', { task: `${task.stage}-${partition}`, localStore: task.source.reason, seq: task.seq, nextOffset: task.nextOffset, openKeys });
      }
      else if (task.source.use === 'seed') log.info('changelog empty: seeding it from the local store', { task: `${task.stage}-${partition}` });
      if (task.stage === 'source') this.sources[partition] = task;
      else this.merges[partition] = task;
      assignment.push({ topic, partition, offset: task.resume.from === 'earliest' ? OFFSET_BEGINNING : task.resume.offset });
    }
    if (reposition) {
      for (const { topic, partition, offset } of assignment) await this.retryBroker('seeking', () => this.seek(topic, partition, offset));
      log.info('repositioned', { partitions: assignment });
      return;
    }
    incremental(this.consumer).incrementalAssign(assignment);
    // New partitions fetch at once; while outputs wait or a transaction is being aborted, not yet.
    // Either way say so: librdkafka keeps a partition's pause across unassign and assign, so a
    // partition paused before a revocation would otherwise come back paused for good.
    const added = assignment.map(({ topic, partition }) => ({ topic, partition }));
    if (added.length > 0) {
      if (this.paused) this.consumer.pause(added);
      else this.consumer.resume(added);
    }
    log.info('assigned', { partitions: assignment });
  }

  private seek(topic: string, partition: number, offset: number): Promise<void> {
    return new Promise((resolve, reject) => this.consumer.seek({ topic, partition, offset }, 10_000, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * The metadata of the group's committed offset of a partition (the token of the transaction
   * that committed it). Asked with the transactional offsets settled: librdkafka's read_committed
   * consumer waits for pending transactional commits (KIP-447). Retries while the broker is away.
   */
  private committedToken(topic: string, partition: number): CommittedToken {
    return async () => {
      const since = Date.now();
      let hangingReported = false;
      for (let attempt = 1; ; attempt++) {
        try {
          const [committed] = await new Promise<Array<{ metadata?: string | null; offset?: number }>>((resolve, reject) =>
            this.consumer.committed([{ topic, partition }], 10_000, (err, offsets) => (err ? reject(err) : resolve(offsets))),
          );
          const offset = committed?.offset;
          return { token: committed?.metadata ?? undefined, offset: offset !== undefined && offset >= 0 ? offset : undefined };
        } catch (err) {
          this.brokerFailed(`cannot read the committed offset of ${topic}-${partition} (attempt ${attempt}): ${(err as Error).message}`);
          if (!hangingReported && Date.now() - since > hangingTransactionSuspectMs) {
            // No open transaction outlives its timeout; an offset unstable for longer is held by a
            // transaction whose markers the broker never wrote. Only an operator can abort it.
            hangingReported = true;
            log.error(`the committed offset of ${topic}-${partition} is still unreadable after ${Math.round((Date.now() - since) / 1000)} s: the broker is unreachable, or holds a hanging transaction (a single-node broker restart can leave one); list and abort those with 'bash scripts/kafka.sh hanging --abort' (kafka-transactions.sh find-hanging / abort)`);
          }
          await sleep(1_000);
        }
      }
    };
  }

  private async revoke(partitions: TopicPartition[]): Promise<void> {
    const revoked: Task[] = [];
    for (const { topic, partition } of partitions) {
      const task = topic === this.topics.clicks ? this.sources[partition] : this.merges[partition];
      if (task !== undefined) revoked.push(task);
    }
    if (incremental(this.consumer).assignmentLost()) {
      // Another worker may own these already (this one missed the group's deadline): no
      // checkpoint of them, which could land after the new owner's. It replays from the last one.
      // Exactly-once: the open transaction holds their outputs; it is aborted.
      log.warn('partitions lost to the group (this worker was too slow to rejoin)', { partitions: revoked.map((t) => `${t.stage}-${t.partition}`) });
      if (this.transactions !== undefined) this.recoveryNeeded = true;
      await this.closeTasks(revoked);
      incremental(this.consumer).incrementalUnassign(partitions);
      return;
    }
    // Exactly-once: if this checkpoint's transaction fails, the next owners replay from the last
    // one; the loop then aborts it (recover) before anything else is produced.
    await this.checkpointAll(revoked, true, revocationFlushTimeoutMs);
    await this.closeTasks(revoked);
    incremental(this.consumer).incrementalUnassign(partitions);
    log.info('revoked', { partitions: partitions.map((p) => `${p.topic}-${p.partition}`) });
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    for (const task of this.tasks) await task.store.close().catch(() => undefined);
    this.sources.length = 0;
    this.merges.length = 0;
    // Give the partitions back while still connected, then leave: a cooperative consumer closing
    // with partitions still assigned waits for a revocation the binding can no longer serve.
    try {
      const assigned = this.consumer.assignments();
      if (assigned.length > 0) incremental(this.consumer).incrementalUnassign(assigned);
      this.consumer.unsubscribe();
    } catch {
      // not connected
    }
    // Each client gets a bounded time: a worker that was asked to stop must exit.
    const bounded = (closing: Promise<unknown> | undefined) => Promise.race([closing?.catch(() => undefined), sleep(10_000)]);
    await bounded(disconnect(this.consumer));
    await bounded(this.savepoints?.close());
    await bounded(this.changelogReader?.close());
    await bounded(this.changelogWriter?.close());
    await bounded(disconnect(this.producer));
    this.slot?.release();
  }
}

function windowShape(windows: WindowSpec): Pick<WindowSpec, 'paneMs' | 'totalWindowMs' | 'totalSlideMs' | 'statsWindowMs'> {
  return { paneMs: windows.paneMs, totalWindowMs: windows.totalWindowMs, totalSlideMs: windows.totalSlideMs, statsWindowMs: windows.statsWindowMs };
}
