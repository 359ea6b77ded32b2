// One worker process of the job. It joins the job's consumer group as two members, one reading
// `clicks` and one the internal partials topic (kafka/stage-consumers.ts), so Kafka spreads the
// source tasks and the merge tasks each evenly over the workers. One loop does everything in order: consume a batch, run it through the tasks,
// serve rebalances, close idle partitions, checkpoint every interval, serve savepoint requests.
// Each of those is a role of its own beside this file: task-manager.ts (tasks and rebalances),
// record-processor.ts (the hot path), output-sink.ts (producing with backpressure),
// idleness-probe.ts, the delivery modes (at-least-once.ts, exactly-once.ts: checkpoints and
// recovery), outage.ts (broker health), status.ts and savepoint-participant.ts. Why two stages
// (source tasks pre-aggregate, merge tasks emit windows): src/topology/source-stage.ts.

import type { Message, TopicPartition } from '@confluentinc/kafka-javascript';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { changelogTopicNames, defaults, transactionTimeoutFor, tunables, type TopicNames } from '../config.js';
import { ChangelogReader } from '../kafka/changelog-reader.js';
import { CODES, KafkaConsumer, connectClient, disconnect, highWatermark, type ConsumerClient } from '../kafka/clients.js';
import { StageConsumers } from '../kafka/stage-consumers.js';
import { jobConsumerConfig, jobConsumerTopicConfig } from '../kafka/consumer-config.js';
import { jobProducerConfig } from '../kafka/producer-config.js';
import { changelogTopics, ensureTopics, partitionsOfTopics } from '../kafka/topics.js';
import { logger } from '../log.js';
import { claimJobDir, type JobShape } from '../state/state-dir.js';
import { claimWorkerSlot, slotIdentity, type TransactionalIdentity, type WorkerSlot } from '../state/worker-slot.js';
import type { UrlTable } from '../table/urls.js';
import type { ClickLimits } from '../codec/click-admission.js';
import type { WindowSpec } from '../topology/windows.js';
import type { CheckpointReport, CheckpointedTask } from './checkpoint.js';
import type { CheckpointKind, DeliveryMode } from './delivery-mode.js';
import { CatchUpCheckpoints } from './catch-up.js';
import { AlignmentWaitCheckpoints } from './alignment-wait.js';
import { IdlenessProbe } from './idleness-probe.js';
import { BrokerHealth } from './outage.js';
import type { OutputSink } from './output-sink.js';
import { openDelivery } from './open-delivery.js';
import { RecordProcessor } from './record-processor.js';
import { SavepointParticipant } from './savepoint-participant.js';
import { alignSources } from './source-alignment.js';
import { effectiveDrift } from '../topology/watermark-alignment.js';
import { StatusReporter, emptyMetrics, type WorkerMetrics, type WorkerStatus } from './status.js';
import { TaskManager } from './task-manager.js';
import { openMergeTask, openSourceTask, type SourceTask, type Task, type TaskSettings } from './tasks.js';
import { InlineSourceJob, SourceJobError, ThreadSourceJob, type SourceJob } from '../job/source-job.js';
import type { SourceJobAccess } from '../job/source-handle.js';

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
  /** What a click may be (record size, url length, how far ahead of its record's time). */
  limits: ClickLimits;
  /** Print each closed minute as a table on stdout. */
  printMinuteTables: boolean;
  /** Outputs, internal records and input offsets committed in one Kafka transaction per checkpoint. */
  exactlyOnce?: boolean;
  /** Write each task's state changes to the changelog topics (default on): any worker can take any task. */
  changelog?: boolean;
  /** Source tasks count clicks in a worker thread (job/source-job.ts); default: in this one. */
  jobThread?: boolean;
  /** The --topic-prefix: the job's changelog topics are named with it and the job id. */
  topicPrefix?: string;
  consumeBatchSize?: number;
  /**
   * Watermark alignment: a source partition this far ahead of the slowest pauses until it is half
   * as far (runtime/source-alignment.ts), at least as far as effectiveDrift says; 0: off.
   * Default `defaults.maxWatermarkDriftMs`.
   */
  maxWatermarkDriftMs?: number;
}

const log = logger('worker');

/**
 * Waits for every step (none is left running into the shutdown that follows a failure), then
 * raises the first failure, in the order given.
 */
async function settleAll(steps: Array<Promise<unknown> | undefined>): Promise<void> {
  const failed = (await Promise.allSettled(steps)).find((step): step is PromiseRejectedResult => step.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

/** One read of both members: the records, how many of them are clicks, or why it failed. */
type BatchRead = { messages: Message[]; clicks: number } | { error: unknown };

/**
 * A member that did not poll within max.poll.interval.ms has left the group: librdkafka reports
 * it once, on a read, and its partitions come back as lost on the next one (no checkpoint: their
 * next owner resumes from the last). The next read rejoins, so it is a round without records,
 * not a crash.
 */
export function leftGroupAsEmpty(read: PromiseSettledResult<Message[]>): PromiseSettledResult<Message[]> {
  if (read.status === 'fulfilled' || (read.reason as { code?: number } | undefined)?.code !== CODES.ERRORS.ERR__MAX_POLL_EXCEEDED) return read;
  log.warn('left the group: the loop did not poll within max.poll.interval.ms; rejoining', { reason: (read.reason as Error).message });
  return { status: 'fulfilled', value: [] };
}

export class Worker {
  readonly workerId = `${hostname()}/${process.pid}`;
  readonly metrics: WorkerMetrics = emptyMetrics();
  /** The latest checkpoints (at most 200), newest last. */
  readonly checkpoints: CheckpointReport[] = [];
  /** Set by whoever serves this worker's /metrics, for the status to point at it. */
  metricsUrl: string | null = null;
  private readonly startedAt = Date.now();
  private readonly health: BrokerHealth;
  private readonly status: StatusReporter;
  private readonly checkpointListeners: Array<(report: CheckpointReport) => void> = [];
  private consumers: StageConsumers | undefined;
  private tasks!: TaskManager;
  private sink!: OutputSink;
  private delivery!: DeliveryMode;
  private processor!: RecordProcessor;
  /** Where source tasks count clicks: this thread, or a worker thread of its own (job/source-job.ts). */
  private sourceJob: SourceJob | undefined;
  private idleness!: IdlenessProbe;
  private savepoints!: SavepointParticipant;
  private changelogReader: ChangelogReader | undefined;
  private slot: WorkerSlot | undefined;
  private identity: TransactionalIdentity | undefined;
  private stopRequested = false;
  private lastCheckpointAt = 0;
  /** The merge member's last read brought records: read both without waiting until it runs dry. */
  private partialsFlowing = false;
  /** The next batch, read while the current one is processed (during a catch-up only: run()). */
  private readAhead: Promise<BatchRead> | undefined;
  /** A checkpoint was taken with a read ahead in flight: savepoint requests are served after it. */
  private savepointsDue = false;
  private readonly catchUp: CatchUpCheckpoints;
  /** Exactly-once only: under at-least-once the partials are readable as soon as they are sent. */
  private readonly alignmentWait: AlignmentWaitCheckpoints | undefined;
  /** Watermark alignment's drift (effectiveDrift of the configured one); 0: off. */
  private readonly maxDriftMs: number;

  constructor(private readonly config: WorkerConfig) {
    // A partition that ran out during a catch-up is found idle the idle timeout after its last
    // click, give or take a probe and a round: its release then still ends the catch-up.
    this.maxDriftMs = effectiveDrift(config.maxWatermarkDriftMs ?? defaults.maxWatermarkDriftMs, config.limits.maxFutureMs, config.idleTimeoutMs);
    this.catchUp = new CatchUpCheckpoints(tunables.caughtUpCheckpointGapMs, tunables.caughtUpSettleMs, config.idleTimeoutMs + 2 * tunables.idleProbeIntervalMs);
    this.alignmentWait = config.exactlyOnce === true ? new AlignmentWaitCheckpoints(tunables.caughtUpCheckpointGapMs) : undefined;
    this.health = new BrokerHealth(config.brokers, log, [CODES.ERRORS.ERR__ALL_BROKERS_DOWN, CODES.ERRORS.ERR__TRANSPORT]);
    this.status = new StatusReporter({
      worker: this.workerId,
      jobId: config.jobId,
      startedAt: this.startedAt,
      checkpointIntervalMs: config.checkpointIntervalMs,
      allowedLatenessMs: config.windows.allowedLatenessMs,
      metrics: this.metrics,
      tasks: () => this.tasks?.tasks ?? [],
      highOffset: (task) => (this.consumers === undefined ? null : highWatermark(this.consumers.of(task.topic), task.topic, task.partition)),
      waitingToOpen: () => this.tasks?.waitingToOpen ?? [],
      metricsUrl: () => this.metricsUrl,
    });
  }

  get jobId(): string {
    return this.config.jobId;
  }

  /** Connects, checks topics and state, and joins the group; a failure closes what it opened. */
  async start(): Promise<void> {
    try {
      await this.open();
    } catch (err) {
      await this.shutdown();
      throw err;
    }
  }

  private async open(): Promise<void> {
    const { brokers, jobId, topics, windows, maxOutOfOrdernessMs } = this.config;
    const exactlyOnce = this.config.exactlyOnce === true;
    const changelog = this.config.changelog !== false;
    if (exactlyOnce || changelog) {
      this.slot = claimWorkerSlot(this.config.stateDir, jobId);
      this.identity = slotIdentity(jobId, this.slot);
    }
    const clientId = `${jobId}-worker-${process.pid}`;
    const member = (stage: 'source' | 'merge', extra: Record<string, number> = {}): ConsumerClient =>
      new KafkaConsumer(
        {
          ...jobConsumerConfig(brokers, jobId, `${clientId}-${stage}`),
          ...extra,
          'rebalance_cb': (err: { code: number }, assignment: TopicPartition[]) => this.tasks.onRebalance(stage, err, assignment),
        } as unknown as ConstructorParameters<typeof KafkaConsumer>[0],
        jobConsumerTopicConfig,
      );
    // Partials are a few per cent of the clicks: a smaller prefetch queue does. They also come in
    // small bursts: a fetch that waits for 64 KB (or fetch.wait.max.ms) instead of returning with
    // the first record measured ~25x fewer fetch requests on the broker.
    this.consumers = new StageConsumers(member('source'), member('merge', { 'queued.max.messages.kbytes': 4_096, 'fetch.min.bytes': 65_536 }), topics.clicks);
    const { source: sourceMember, merge: mergeMember } = this.consumers;
    // Who this worker is in checkpoint stamps: tells two histories of a task apart.
    const writerId = `${this.identity?.transactionalId() ?? this.workerId}:${this.startedAt}`;
    const changelogNames = changelogTopicNames(this.config.topicPrefix ?? '', jobId);
    const topicOf = (task: CheckpointedTask) => (task.stage === 'source' ? changelogNames.source : changelogNames.merge);

    // The source member connects first: it finds out whether the brokers answer and the topics
    // and state dir fit the job, before anything else is opened. The other clients then connect
    // at once: one after another, their connects (a metadata request each), the changelog
    // topics' creation and the transactional producers' registration took about 0.5 s of a
    // worker's start; together they take as long as the slowest.
    const metadata = await connectClient(sourceMember, brokers);
    const partitions = await partitionsOfTopics(sourceMember, brokers, Object.values(topics), metadata);
    const shape: JobShape = { clicksPartitions: partitions.get(topics.clicks)!, mergePartitions: partitions.get(topics.partials)!, paneMs: windows.paneMs, totalWindowMs: windows.totalWindowMs, totalSlideMs: windows.totalSlideMs, statsWindowMs: windows.statsWindowMs, maxOutOfOrdernessMs, allowedLatenessMs: windows.allowedLatenessMs };
    const { recordedLatenessMs } = claimJobDir(this.config.stateDir, jobId, shape, { latenessInTasks: this.config.changelog !== false });
    this.savepoints = new SavepointParticipant(brokers, topics, jobId, shape, windows);
    await settleAll([
      connectClient(mergeMember, brokers),
      this.savepoints.start(),
      changelog ? ensureTopics(brokers, changelogTopics(changelogNames, shape.clicksPartitions, shape.mergePartitions)) : undefined,
      changelog ? ChangelogReader.open(brokers, `${clientId}-changelog`).then((reader) => void (this.changelogReader = reader)) : undefined,
      openDelivery({
        exactlyOnce,
        brokers,
        clientId,
        producerSettings: jobProducerConfig(brokers, clientId),
        transactionTimeoutMs: transactionTimeoutFor(this.config.checkpointIntervalMs, tunables.flushTimeoutMs),
        identity: this.identity,
        memberOf: (topic) => this.consumers!.of(topic),
        tasks: () => this.tasks.tasks,
        reopenTasks: () => this.tasks.reopenAll(),
        health: this.health,
        pauseFetching: (paused) => this.tasks.pauseFetching(paused),
        changelog: changelog ? { writerId, topicOf } : undefined,
        onRefused: (topic, partition, value, key, error) => this.processor.deadLetterRefused(topic, partition, value, key, error),
      }).then(({ delivery, sink }) => void ({ delivery: this.delivery, sink: this.sink } = { delivery, sink })),
    ]);
    const { clicksPartitions, mergePartitions } = shape;
    for (const consumer of this.consumers.all) {
      consumer.on('event.error', (err) => this.health.clientError(err));
      // A read waits (if at all) for its first record only, then takes what is queued: a trickle
      // of clicks must not hold the other member's partials and rebalance events for a batch.
      (consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(only: boolean): void }).setDefaultIsTimeoutOnlyForFirstMessage(true);
    }

    const sourceJobSettings = { windows, maxOutOfOrdernessMs, mergePartitions };
    this.sourceJob = this.config.jobThread === true ? new ThreadSourceJob(sourceJobSettings) : new InlineSourceJob(sourceJobSettings);
    const taskSettings: TaskSettings = { stateDir: this.config.stateDir, jobId, windows, maxOutOfOrdernessMs, idleTimeoutMs: this.config.idleTimeoutMs, clicksPartitions, mergePartitions, recordedLatenessMs };
    const sourceAccess: SourceJobAccess = { job: this.sourceJob, send: (partials) => this.processor.sendEncoded(partials), mergePartitions };
    this.tasks = new TaskManager(
      this.consumers,
      this.changelogReader !== undefined ? { reader: this.changelogReader, topics: changelogNames } : undefined,
      this.health,
      {
        checkpointRevoked: async (revoked) => void (await this.checkpoint(revoked, 'revocation')),
        partitionsLost: () => this.delivery.partitionsLost(),
        // Rebuilding from the changelog can take a while: in the log, and on the dashboard.
        restoreProgress: (task, progress) => {
          this.status.restoreProgress(task, progress);
          this.publishStatus('running');
        },
        closed: (task) => {
          if (task.stage !== 'source') return;
          try {
            task.topology.close();
          } catch (err) {
            // A failed source job fails the worker at its next request; a closing task just goes.
            if (!(err instanceof SourceJobError)) throw err;
          }
        },
      },
      (stage, topic, partition, context) =>
        stage === 'source' ? openSourceTask(taskSettings, sourceAccess, topic, partition, Date.now(), context) : openMergeTask(taskSettings, topic, partition, context),
    );
    const { urlTable, printMinuteTables, limits } = this.config;
    this.processor = new RecordProcessor({ topics, limits, sourcePartitions: clicksPartitions, mergePartitions, windows, urlTable, printMinuteTables }, this.tasks, this.sink, this.metrics, this.sourceJob);
    this.idleness = new IdlenessProbe(sourceMember, this.tasks, this.health);
    // Ready before joining: a member that joins and then waits (registering a transactional id
    // can take a while after a broker restart) cannot serve the group's next rebalance, and the
    // whole group waits for it (up to max.poll.interval.ms).
    await this.delivery.start();
    sourceMember.subscribe([topics.clicks]);
    mergeMember.subscribe([topics.partials]);
    this.lastCheckpointAt = Date.now();
    log.info('worker started', { jobId, clicksPartitions, mergePartitions, stateDir: this.config.stateDir, exactlyOnce, changelog, jobThread: this.config.jobThread === true, transactionalId: this.identity?.transactionalId() });
  }

  requestStop(): void {
    this.stopRequested = true;
  }

  /** Runs until requestStop(); then takes a final checkpoint and leaves the group. */
  async run(): Promise<void> {
    const batchSize = this.config.consumeBatchSize ?? tunables.consumeBatchSize;
    try {
      while (!this.stopRequested) {
        // Exactly-once after a failed transaction: one bounded recovery attempt per round, with
        // fetching paused, so that rebalances are still served while the broker is away. The
        // tasks reread from their checkpoints: a batch read ahead before that is dropped.
        if (this.delivery.recovering) {
          // What the source job still returns for batches before the failure is discarded now,
          // not produced into the transaction recovery begins.
          this.sourceJob!.settle();
          await this.dropReadAhead();
          await this.delivery.recover();
        }
        const batch = await this.nextBatch(batchSize);
        if (this.delivery.recovering) {
          // Read before the pause took effect: the tasks will reread it from their checkpoints.
          if (this.tasks.rebalancePending) await this.tasks.handleRebalances();
          continue;
        }
        const { messages } = batch;
        if (this.mayReadAhead(batch.clicks, batchSize)) this.readAhead = this.startRead(batchSize);
        if (messages.length > 0) this.processor.process(messages, Date.now());
        // A source's catch-up ended (usually another worker's), and its tail was merged here:
        // checkpoint it early too.
        if (this.processor.takeSourcesCaughtUp()) this.catchUp.tailArrived(Date.now());
        // Backpressure: fetching pauses while outputs wait for room in the producer's queue.
        if (this.sink.waiting) this.tasks.pauseFetching(!(await this.sink.drain(tunables.drainBudgetMs)));
        else if (this.tasks.fetchingPaused) this.tasks.pauseFetching(false);
        if (this.tasks.rebalancePending) await this.tasks.handleRebalances();
        // Tasks whose committed offsets were not readable yet: one bounded attempt per second,
        // never with a read in flight (opening one seeks its partition).
        if (this.tasks.opensPending && this.readAhead === undefined) await this.tasks.retryPendingOpens();
        if (this.delivery.recovering) continue;
        // While a stop-with-savepoint holds clicks, source tasks send nothing after their barrier.
        const clicksHeld = this.tasks.clicksHeldForSavepoint;
        if (!clicksHeld) this.announceOpenedSources();
        const now = Date.now();
        if (!clicksHeld) this.metrics.alignmentPauses += alignSources(this.tasks, this.maxDriftMs, now);
        // A partition gone idle holds its new watermark back until a checkpoint: take it now,
        // unless outputs wait for room (then the periodic one releases it).
        const wentIdle = !clicksHeld && (await this.idleness.check(now));
        const backpressure = this.tasks.fetchingPaused || this.sink.waiting;
        // An empty read says nothing of a backlog's end while fetching is paused for backpressure,
        // or while every partition of this worker waits for others to catch up (alignment).
        const blocked = backpressure || this.tasks.sourcesWaitForAlignment;
        const caughtUp = this.catchUp.round({ clicks: batch.clicks, total: messages.length, batchSize, blocked }, now, this.lastCheckpointAt);
        // Exactly-once: this worker's open transaction hides the partials it waits on (AlignmentWaitCheckpoints).
        const alignmentWait = this.alignmentWait?.round(batch.clicks, this.tasks.sourcesWaitForAlignment, now, this.lastCheckpointAt) === true;
        if (caughtUp || alignmentWait || (wentIdle && !backpressure) || now - this.lastCheckpointAt >= this.config.checkpointIntervalMs) {
          // A read ahead may have received a rebalance: serve it first, or the checkpoint would
          // commit with a generation the group is leaving (refused: a failed checkpoint).
          if (this.readAhead !== undefined) {
            await this.readAhead;
            if (this.tasks.rebalancePending) await this.tasks.handleRebalances();
            if (this.delivery.recovering) continue;
          }
          // The end of this worker's catch-up: its source tasks say so in this checkpoint, after
          // their last partials (not while a savepoint holds them: nothing after a barrier).
          if (this.catchUp.takeAnnouncement() && !this.tasks.clicksHeldForSavepoint) this.announceCaughtUp();
          await this.checkpoint(this.tasks.tasks, 'periodic');
          // A failed exactly-once checkpoint leaves a transaction to abort: nothing more goes in.
          if (this.delivery.recovering) continue;
          this.savepointsDue = true;
          this.publishStatus('running');
        }
        // A stop-with-savepoint holds clicks and sends each source task's barrier at its offset:
        // no clicks may be read and not yet processed then, so requests wait for a round
        // without a read ahead (mayReadAhead starts none while they are due).
        if (this.savepointsDue && this.readAhead === undefined) {
          this.savepointsDue = false;
          await this.savepoints.serve(this.savepointService());
        }
      }
      // Read ahead and not processed: after the final checkpoint, whoever owns the partitions next
      // reads it again.
      await this.dropReadAhead();
      if (!this.delivery.recovering) await this.checkpoint(this.tasks.tasks, 'final');
      if (!this.delivery.recovering) this.publishStatus('stopped');
      await this.delivery.finish(10_000);
    } finally {
      await this.dropReadAhead();
      await this.shutdown();
    }
  }

  /**
   * Whether to read the next batch while this one is processed: only while catching up (the
   * last read found a full batch of clicks), when nothing in this round may change what a read
   * returns or means. Reading happens on a libuv thread (librdkafka's per-record polling and
   * the batch's assembly); without this the JS thread waited for it every round (about 8 % of a
   * catch-up). What the read ahead returns is processed next round as if read then; a task
   * revoked in this round skips its records, which its next owner reads from the checkpoint (an
   * assignment back to this worker needs a later rebalance, handled after those records).
   */
  private mayReadAhead(clicksRead: number, batchSize: number): boolean {
    return (
      clicksRead >= batchSize &&
      !this.stopRequested &&
      !this.savepointsDue &&
      !this.delivery.recovering &&
      !this.tasks.rebalancePending &&
      !this.tasks.opensPending &&
      !this.tasks.fetchingPaused &&
      !this.tasks.clicksHeldForSavepoint &&
      !this.sink.waiting
    );
  }

  /** The batch read ahead, or a new read; a failed read is raised here. */
  private async nextBatch(size: number): Promise<{ messages: Message[]; clicks: number }> {
    const read = this.readAhead ?? this.startRead(size);
    this.readAhead = undefined;
    const result = await read;
    if ('error' in result) throw result.error;
    return result;
  }

  /** Waits for a read ahead (no read may run into a recovery's seeks or the shutdown) and drops it. */
  private async dropReadAhead(): Promise<void> {
    const read = this.readAhead;
    this.readAhead = undefined;
    if (read !== undefined) await read;
  }

  /** A read that never rejects (a read ahead may fail before anyone awaits it). */
  private startRead(size: number): Promise<BatchRead> {
    return this.consumeBatch(size).then(
      (read) => read,
      (error: unknown) => ({ error }),
    );
  }

  /**
   * A batch from both members, read at once; each read serves its member's rebalance events.
   * At most one of them waits (up to 100 ms, for its first record): the source member, unless
   * it holds no partition or partials are flowing (then neither waits, and partials drain at
   * the loop's pace, not one batch per 100 ms). A failed read is raised once both reads are
   * over (no read is left running into the shutdown); the partitions are re-read from their
   * checkpoints by whoever owns them next.
   */
  private async consumeBatch(size: number): Promise<{ messages: Message[]; clicks: number }> {
    const { source, merge } = this.consumers!;
    const sourceWaits = !this.partialsFlowing && (this.tasks.holds('source') || !this.tasks.holds('merge'));
    const mergeWaits = !this.partialsFlowing && !sourceWaits;
    source.setDefaultConsumeTimeout(sourceWaits ? 100 : 0);
    merge.setDefaultConsumeTimeout(mergeWaits ? 100 : 0);
    const read = (consumer: ConsumerClient) =>
      new Promise<Message[]>((resolve, reject) => consumer.consume(size, (err, messages) => (err ? reject(err) : resolve(messages))));
    const [clicks, partials] = await Promise.allSettled([read(source), read(merge)]).then((reads) => reads.map(leftGroupAsEmpty));
    const failed = [clicks, partials].find((read): read is PromiseRejectedResult => read.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    const clickMessages = (clicks as PromiseFulfilledResult<Message[]>).value;
    const partialMessages = (partials as PromiseFulfilledResult<Message[]>).value;
    this.partialsFlowing = partialMessages.length > 0;
    // Most rounds of a catch-up read clicks only: no copy of the batch then.
    const messages = partialMessages.length === 0 ? clickMessages : clickMessages.length === 0 ? partialMessages : clickMessages.concat(partialMessages);
    return { messages, clicks: clickMessages.length };
  }

  // ---------------------------------------------------------------- checkpoints

  private async checkpoint(tasks: Task[], kind: CheckpointKind): Promise<void> {
    // Every output of the input the checkpoint covers is in the sink before it starts.
    this.sourceJob?.settle();
    this.lastCheckpointAt = Date.now();
    this.catchUp.checkpointed();
    this.alignmentWait?.checkpointed();
    const report = await this.delivery.checkpoint(tasks, kind);
    if (report === undefined) return;
    this.checkpoints.push(report);
    if (this.checkpoints.length > 200) this.checkpoints.shift();
    this.status.checkpointTaken(report);
    for (const listener of this.checkpointListeners) listener(report);
    if (report.status !== 'completed') {
      // A checkpoint fails when the broker does not answer: part of an outage, reported once.
      this.health.failed(`checkpoint ${report.status}: ${report.reason}`);
      log.debug(`checkpoint ${report.status}`, { id: report.id, reason: report.reason });
    } else {
      this.health.answered(report.startedAtMs);
      log.debug('checkpoint', { id: report.id, durationMs: Math.round(report.durationMs), bytes: report.bytes, tasks: report.tasks.length });
      // What idle source tasks held for a durable checkpoint goes now (a stopping worker's next
      // owner sends it from the checkpoint instead).
      if (kind === 'periodic' && !this.tasks.clicksHeldForSavepoint) this.releaseHeld(tasks);
    }
  }

  /** Source tasks opened since the last round tell the merge partitions they are not idle. */
  private announceOpenedSources(): void {
    for (const task of this.tasks.sourceTasks) task?.topology.announce();
  }

  /** Every source task's marker, flagged as caught up (CatchUpCheckpoints.takeAnnouncement). */
  private announceCaughtUp(): void {
    for (const task of this.tasks.sourceTasks) task?.topology.caughtUp();
  }

  private releaseHeld(tasks: Task[]): void {
    let released = false;
    for (const task of tasks) {
      if (task.stage !== 'source' || !task.topology.awaitingCheckpoint) continue;
      task.topology.checkpointed();
      released = true;
    }
    // The checkpoint's start: its own duration (a flush, a transaction's commit) is not idle time.
    if (released) {
      this.catchUp.heldReleased(this.lastCheckpointAt);
      this.alignmentWait?.partialsSent();
    }
  }

  onCheckpoint(listener: (report: CheckpointReport) => void): void {
    this.checkpointListeners.push(listener);
  }

  // ---------------------------------------------------------------- status and savepoints

  /** The current status without resetting the per-interval rates (for metrics scrapes). */
  peekStatus(): WorkerStatus {
    return this.status.peek('running');
  }

  private publishStatus(state: WorkerStatus['state']): void {
    this.sink.produce(this.config.topics.status, 0, Buffer.from(JSON.stringify(this.status.take(state))), this.workerId);
  }

  private savepointService() {
    return {
      assignmentSettled: () => this.tasks.assignmentSettled,
      tasks: () => this.tasks.tasks,
      checkpoint: async () => {
        await this.checkpoint(this.tasks.tasks, 'final');
        return !this.delivery.recovering;
      },
      send: (topic: string, partition: number, value: Buffer, key: string) => this.sink.produce(topic, partition, value, key),
      producer: () => this.delivery.producer,
      contributed: (entry: WorkerStatus['savepoints'][number]) => this.status.savepointContributed(entry),
      stop: () => this.requestStop(),
      holdClicks: (held: boolean) => this.tasks.holdClicks(held),
      sendBarrier: (task: SourceTask, savepointId: string) => {
        task.topology.barrier(savepointId);
      },
    };
  }

  // ---------------------------------------------------------------- shutdown

  /** Closes everything start() opened (what it got to), each client within a bounded time. */
  private async shutdown(): Promise<void> {
    await this.tasks?.closeAll();
    await this.sourceJob?.stop();
    // Each client gets a bounded time: a worker that was asked to stop must exit.
    const bounded = (closing: Promise<unknown> | undefined) => Promise.race([closing?.catch(() => undefined), sleep(10_000)]);
    // Both members leave together: one still in the group, unpolled, would hold up the rebalance.
    await Promise.all((this.consumers?.all ?? []).map((consumer) => bounded(disconnect(consumer))));
    await bounded(this.savepoints?.close());
    await bounded(this.changelogReader?.close());
    await bounded(this.delivery?.close());
    this.slot?.release();
  }
}
