// The tasks a worker holds, and the group's rebalances that change them. The consumer's
// rebalance callback only queues events; the loop hands them here between batches, so a task is
// never opened or closed in the middle of one. Cooperative rebalancing: an assignment adds
// partitions (their tasks open from their stores, or are rebuilt from the changelog, and fetch
// from their checkpoint's offset), a revocation takes some away (checkpointed first, then
// closed), a lost assignment takes them without a checkpoint (another worker may own them
// already). The partitions kept go on untouched. The worker is two members of the group, one per
// stage (kafka/stage-consumers.ts): each hands its own events here, and each partition is
// assigned, sought, paused and committed through the member that owns it.

import type { TopicPartition } from '@confluentinc/kafka-javascript';
import type { ChangelogTopics } from '../config.js';
import { tunables } from '../config.js';
import { CODES, OFFSET_BEGINNING, incremental } from '../kafka/clients.js';
import type { StageConsumers } from '../kafka/stage-consumers.js';
import type { ChangelogReader, RestoreProgress } from '../kafka/changelog-reader.js';
import { logger } from '../log.js';
import type { Stage } from '../state/state-dir.js';
import type { AlignmentChanges } from '../topology/watermark-alignment.js';
import type { BrokerHealth } from './outage.js';
import type { TaskWaiting } from './status.js';
import { COMMITTED_READ_MS, OffsetNotReadyError, OffsetRead } from './committed-offsets.js';
import { TaskNotReadyError, WaitClocks, type NotReadyKind } from './not-ready.js';
import type { ChangelogAccess, MergeTask, OpenContext, SourceTask, Task } from './tasks.js';

const log = logger('worker');

/** A partition and the offset its task resumes reading at. */
export type Assignment = { topic: string; partition: number; offset: number };

/** How long after one attempt to open a waiting partition's task (its committed offset read first) the next may start. */
const PENDING_RETRY_MS = 1_000;

/** A partition assigned to this worker whose task could not open yet (not-ready.ts says why it may not). */
type PendingOpen = {
  topic: string;
  partition: number;
  /** When it first could not open (epoch ms). */
  since: number;
  /** How long it has been refused for each reason: what each reason's give-up deadline counts. */
  clocks: WaitClocks;
  /** The last refusal's reason, and its words for the status. */
  kind: NotReadyKind;
  reason: string;
  reported: boolean;
  triedAt: number;
};

/** The most of a reason a status carries (a store's path can be long; status-parse.ts bounds text). */
const STATUS_REASON_CHARS = 300;

/** What the task manager asks of the rest of the worker. */
export interface TaskManagerHooks {
  /** Checkpoints tasks about to be revoked (their next owner starts from it). */
  checkpointRevoked(tasks: Task[]): Promise<void>;
  /** The group took partitions without a revocation: no checkpoint of them may land. */
  partitionsLost(): void;
  /** A task is being rebuilt from the changelog (fraction 1: done). */
  restoreProgress(task: string, progress: RestoreProgress): void;
  /** A task closed: what it held beside its store goes too (a source task's state in the source job). */
  closed?(task: Task): void;
}

/** Opens the task of a partition from its store (or the changelog): tasks.ts, or a test's fake. */
export type TaskOpener = (stage: Stage, topic: string, partition: number, context: OpenContext) => Promise<Task>;

export class TaskManager {
  /** Tasks by partition, per stage: arrays for a fast lookup on the hot path. */
  private readonly sources: Array<SourceTask | undefined> = [];
  private readonly merges: Array<MergeTask | undefined> = [];
  private readonly pendingRebalances: Array<{ stage: Stage; assign: boolean; partitions: TopicPartition[] }> = [];
  /** Per member: false from a revocation until the group's next assignment reaches it. */
  private readonly settled: Record<Stage, boolean> = { source: false, merge: false };
  /** Shutting down: every task was checkpointed and closed already. */
  private closing = false;
  /** Fetching is paused (outputs wait for room, or a transaction is being aborted). */
  private paused = false;
  /** Clicks are not read while a stop-with-savepoint drains the partials (holdClicks). */
  private clicksHeld = false;
  /** Source partitions not read because their watermark ran ahead (topology/watermark-alignment.ts). */
  private readonly aligned = new Set<number>();
  /**
   * Partitions assigned to this worker whose tasks could not open yet (not-ready.ts): assigned
   * but paused, each tried again in turn: its committed offset read by `backgroundRead` (one at a
   * time), its task opened on the round after that read succeeded.
   */
  private readonly pendingOpens = new Map<string, PendingOpen>();
  private backgroundRead: { read: OffsetRead; pending: PendingOpen } | undefined;

  constructor(
    private readonly consumers: StageConsumers,
    private readonly changelog: { reader: ChangelogReader; topics: ChangelogTopics } | undefined,
    private readonly health: BrokerHealth,
    private readonly hooks: TaskManagerHooks,
    private readonly open: TaskOpener,
  ) {}

  get tasks(): Task[] {
    return [...this.sources, ...this.merges].filter((task): task is Task => task !== undefined);
  }

  /**
   * Whether the worker runs a task of `stage`. (Asked every loop round: the consumer's own
   * assignments() is a native call that cost 2.6 % of a catch-up's JS-thread time.)
   */
  holds(stage: Stage): boolean {
    return (stage === 'source' ? this.sources : this.merges).some((task) => task !== undefined);
  }

  /** The open source tasks, by partition (holes for partitions held elsewhere). */
  get sourceTasks(): ReadonlyArray<SourceTask | undefined> {
    return this.sources;
  }

  get mergeTasks(): ReadonlyArray<MergeTask | undefined> {
    return this.merges;
  }

  source(partition: number): SourceTask | undefined {
    return this.sources[partition];
  }

  merge(partition: number): MergeTask | undefined {
    return this.merges[partition];
  }

  /** The worker holds all it will until the next rebalance (savepoints wait for this). */
  get assignmentSettled(): boolean {
    return this.settled.source && this.settled.merge && this.pendingOpens.size === 0;
  }

  /** The tasks waiting to be opened, how long and why (for the worker's status). */
  get waitingToOpen(): TaskWaiting[] {
    const now = Date.now();
    return [...this.pendingOpens.values()].map((p) => ({ task: `${this.consumers.stageOf(p.topic)}-${p.partition}`, waitedMs: now - p.since, reason: p.reason.slice(0, STATUS_REASON_CHARS) }));
  }

  /** Whether tasks wait to be opened (not-ready.ts). */
  get opensPending(): boolean {
    return this.pendingOpens.size > 0;
  }

  /**
   * Called every round while tasks wait to open: opens the one whose committed offset the last
   * read got, and starts the next read (of the partition tried longest ago). Waits for no read.
   */
  async retryPendingOpens(nowMs = Date.now()): Promise<void> {
    const background = this.backgroundRead;
    if (background !== undefined) {
      if (!background.read.settled) {
        for (const pending of this.pendingOpens.values()) this.reportHanging(pending, nowMs);
        return;
      }
      this.backgroundRead = undefined;
      const { read, pending } = background;
      // Revoked meanwhile (and perhaps assigned again since: then its offset is read anew), or
      // lost (another worker owns it now and may wait for its store; the lost event drops it).
      if (this.pendingOpens.get(`${pending.topic}:${pending.partition}`) !== pending || this.lost(pending)) return;
      if (read.failed) {
        pending.triedAt = nowMs; // the next read of it a second after this one ended
        this.refused(pending, 'offset', read.reason, nowMs);
        return;
      }
      const stage = this.consumers.stageOf(pending.topic);
      const opened = await this.assign(stage, [pending], true, read);
      // Its task open and sought back to its checkpoint, the partition fetches (unless fetching
      // is paused for everyone).
      if (opened.length > 0 && !this.paused && !(stage === 'source' && this.clicksHeld)) this.consumers[stage].resume(opened.map(({ topic, partition }) => ({ topic, partition })));
      return;
    }
    let next: PendingOpen | undefined;
    for (const pending of this.pendingOpens.values()) if ((next === undefined || pending.triedAt < next.triedAt) && !this.lost(pending)) next = pending;
    if (next === undefined || nowMs - next.triedAt < PENDING_RETRY_MS) return;
    next.triedAt = nowMs;
    this.backgroundRead = { read: new OffsetRead(this.consumers.of(next.topic), [next]), pending: next };
  }

  get rebalancePending(): boolean {
    return this.pendingRebalances.length > 0;
  }

  /** A member's rebalance callback: queues the event for the loop. */
  onRebalance(stage: Stage, err: { code: number }, assignment: TopicPartition[]): void {
    const assign = err.code === CODES.ERRORS.ERR__ASSIGN_PARTITIONS;
    if (this.closing) {
      // The binding refuses these calls once it is disconnecting; librdkafka then completes the
      // rebalance by itself.
      try {
        if (assign) incremental(this.consumers[stage]).incrementalAssign(assignment);
        else incremental(this.consumers[stage]).incrementalUnassign(assignment);
      } catch {
        // disconnecting
      }
      return;
    }
    this.pendingRebalances.push({ stage, assign, partitions: assignment });
  }

  /** Serves the queued rebalance events, in order. */
  async handleRebalances(): Promise<void> {
    while (this.pendingRebalances.length > 0) {
      const { stage, assign, partitions } = this.pendingRebalances.shift()!;
      if (assign) await this.assign(stage, partitions);
      else await this.revoke(stage, partitions);
      // A revocation (or a lost assignment) is followed by an assignment, empty or not, once
      // the group has settled again.
      this.settled[stage] = assign;
    }
  }

  /**
   * Opens a task per partition newly assigned and starts fetching each from its checkpoint. With
   * `reposition`, the partitions are assigned already (exactly-once recovery): their tasks reopen
   * and fetching seeks back.
   */
  private async assign(member: Stage, partitions: Array<{ topic: string; partition: number }>, reposition = false, offsets?: OffsetRead): Promise<Assignment[]> {
    const assignment: Assignment[] = [];
    const notReady: Array<{ topic: string; partition: number }> = [];
    // Every partition's committed offset in one short read (a task may not need it): one that
    // cannot be read yet leaves its task waiting, never the loop.
    const read = offsets ?? new OffsetRead(this.consumers[member], partitions);
    const deadline = Date.now() + COMMITTED_READ_MS + 1_000;
    for (const { topic, partition } of partitions) {
      const stage = this.consumers.stageOf(topic);
      const clocks = this.pendingOpens.get(`${topic}:${partition}`)?.clocks ?? new WaitClocks();
      let task: Task;
      try {
        task = await this.open(stage, topic, partition, { committed: () => read.get(topic, partition, deadline), changelog: this.changelogAccess(stage), waitedMs: (kind) => clocks.waitedMs(kind, Date.now()) });
      } catch (err) {
        if (!(err instanceof TaskNotReadyError)) throw err;
        this.waitToOpen(topic, partition, clocks, err.kind, err instanceof OffsetNotReadyError ? read.reason : err.message);
        notReady.push({ topic, partition });
        continue;
      }
      this.pendingOpens.delete(`${topic}:${partition}`);
      const name = `${task.stage}-${partition}`;
      if (task.stateOrigin.use === 'changelog') {
        const openKeys = task.stage === 'source' ? task.topology.view.openKeys : task.topology.windows.openKeyCount;
        log.warn('task state rebuilt from the changelog', { task: name, localStore: task.stateOrigin.reason, seq: task.seq, nextOffset: task.nextOffset, openKeys });
      } else if (task.stateOrigin.use === 'seed') log.info('changelog empty: seeding it from the local store', { task: name });
      if (task.stage === 'source') this.sources[partition] = task;
      else this.merges[partition] = task;
      assignment.push({ topic, partition, offset: task.resume.from === 'earliest' ? OFFSET_BEGINNING : task.resume.offset });
    }
    const consumer = this.consumers[member];
    if (reposition) {
      for (const { topic, partition, offset } of assignment) await this.health.retry('seeking', () => this.seek(topic, partition, offset), { local: true });
      if (notReady.length > 0) consumer.pause(notReady);
      if (assignment.length > 0) log.info('repositioned', { partitions: assignment });
      return assignment;
    }
    // A partition whose task could not open yet is assigned too (the rebalance completes and the
    // loop polls on), paused until its task opens and seeks to its checkpoint.
    incremental(consumer).incrementalAssign([...assignment, ...notReady.map(({ topic, partition }) => ({ topic, partition }))]);
    // New partitions fetch at once; while outputs wait or a transaction is being aborted, not yet.
    // Either way say so: librdkafka keeps a partition's pause across unassign and assign, so a
    // partition paused before a revocation would otherwise come back paused for good.
    const added = assignment.map(({ topic, partition }) => ({ topic, partition }));
    if (added.length > 0) {
      if (this.paused || (member === 'source' && this.clicksHeld)) consumer.pause(added);
      else consumer.resume(added);
    }
    if (notReady.length > 0) consumer.pause(notReady);
    log.info('assigned', { partitions: assignment, ...(notReady.length > 0 ? { waitingToOpen: notReady.map((p) => `${p.topic}-${p.partition}`) } : {}) });
    return assignment;
  }

  /** Keeps a partition whose task could not open waiting (paused) to be tried again. */
  private waitToOpen(topic: string, partition: number, clocks: WaitClocks, kind: NotReadyKind, reason: string): void {
    const key = `${topic}:${partition}`;
    const now = Date.now();
    let pending = this.pendingOpens.get(key);
    if (pending === undefined) {
      pending = { topic, partition, since: now, clocks, kind, reason, reported: false, triedAt: now };
      this.pendingOpens.set(key, pending);
      // Not reported as an outage: the usual cause of an unreadable committed offset is a
      // previous owner killed inside a transaction (its offsets stay unstable until the broker
      // aborts it, after the transaction timeout); a broker that is really away fails the loop's
      // calls too.
      log.info('the task cannot open yet: its partition waits, paused, while the worker polls on; the task opens once it can', { partition: `${topic}-${partition}`, reason });
    }
    this.refused(pending, kind, reason, now);
  }

  /** Notes a refusal of a waiting task (starting that reason's clock) and reports a hanging offset. */
  private refused(pending: PendingOpen, kind: NotReadyKind, reason: string, nowMs: number): void {
    pending.clocks.refused(kind, nowMs);
    pending.kind = kind;
    pending.reason = reason;
    this.reportHanging(pending, nowMs);
  }

  /** The member holding a waiting partition lost its assignment (it missed max.poll.interval.ms). */
  private lost(pending: PendingOpen): boolean {
    return incremental(this.consumers.of(pending.topic)).assignmentLost();
  }

  /** One error line once a partition's committed offset stayed unreadable for long. */
  private reportHanging(pending: PendingOpen, nowMs: number): void {
    const waitedMs = pending.clocks.waitedMs('offset', nowMs);
    if (pending.reported || pending.kind !== 'offset' || waitedMs <= tunables.hangingTransactionSuspectMs) return;
    pending.reported = true;
    // No open transaction outlives its timeout; an offset unstable for longer is held by a
    // transaction whose markers the broker never wrote. Only an operator can abort it.
    log.error(`the committed offset of ${pending.topic}-${pending.partition} is still unreadable after ${Math.round(waitedMs / 1000)} s: the broker is unreachable, or holds a hanging transaction (a single-node broker restart can leave one); list and abort those with 'bash scripts/kafka.sh hanging --abort' (kafka-transactions.sh find-hanging / abort)`);
  }

  private async revoke(member: Stage, partitions: TopicPartition[]): Promise<void> {
    const consumer = this.consumers[member];
    const revoked: Task[] = [];
    for (const { topic, partition } of partitions) {
      this.pendingOpens.delete(`${topic}:${partition}`); // no task, nothing to checkpoint
      const task = this.consumers.stageOf(topic) === 'source' ? this.sources[partition] : this.merges[partition];
      if (task !== undefined) revoked.push(task);
    }
    if (incremental(consumer).assignmentLost()) {
      // Another worker may own these already (this one missed the group's deadline): no
      // checkpoint of them, which could land after the new owner's. It replays from the last one.
      log.warn('partitions lost to the group (this worker was too slow to rejoin)', { partitions: revoked.map((t) => `${t.stage}-${t.partition}`) });
      this.hooks.partitionsLost();
      await this.close(revoked);
      incremental(consumer).incrementalUnassign(partitions);
      return;
    }
    await this.hooks.checkpointRevoked(revoked);
    await this.close(revoked);
    incremental(consumer).incrementalUnassign(partitions);
    log.info('revoked', { partitions: partitions.map((p) => `${p.topic}-${p.partition}`) });
  }

  get fetchingPaused(): boolean {
    return this.paused;
  }

  /** Source partitions paused by watermark alignment. */
  get alignedPartitions(): ReadonlySet<number> {
    return this.aligned;
  }

  /** Every source partition not idle is paused by alignment: a round reads no clicks, and that says nothing of a backlog's end. */
  get sourcesWaitForAlignment(): boolean {
    return this.aligned.size > 0 && this.sources.every((task) => task === undefined || this.aligned.has(task.partition) || task.idleness.isIdle);
  }

  /**
   * Pauses the source partitions whose watermark ran ahead and resumes those the others caught up
   * with: only open tasks, and a partition fetches again only if nothing else keeps it paused
   * (backpressure, a savepoint holding clicks). Returns how many it paused.
   */
  align(changes: AlignmentChanges): number {
    const consumer = this.consumers.source;
    const pause: TopicPartition[] = [];
    for (const partition of changes.pause) {
      const task = this.sources[partition];
      if (task === undefined || this.aligned.has(partition)) continue;
      this.aligned.add(partition);
      pause.push({ topic: task.topic, partition });
    }
    const resume: TopicPartition[] = [];
    for (const partition of changes.resume) {
      const task = this.sources[partition];
      if (!this.aligned.delete(partition) || task === undefined) continue;
      if (!this.paused && !this.clicksHeld) resume.push({ topic: task.topic, partition });
    }
    if (pause.length > 0) consumer.pause(pause);
    if (resume.length > 0) consumer.resume(resume);
    return pause.length;
  }

  /** Stops (or resumes) fetching every assigned partition; rebalances are still served by consume(). */
  pauseFetching(paused: boolean): void {
    if (paused === this.paused) return;
    for (const consumer of this.consumers.all) {
      const assigned = consumer.assignments();
      const partitions = paused ? assigned : this.withTasks(assigned, consumer).filter((p) => !(consumer === this.consumers.source && this.aligned.has(p.partition)));
      if (partitions.length === 0 || (!paused && consumer === this.consumers.source && this.clicksHeld)) continue;
      if (paused) consumer.pause(partitions);
      else consumer.resume(partitions);
    }
    this.paused = paused;
  }

  /**
   * Stop-with-savepoint: no clicks are read (by this worker's source tasks, and those it is
   * given meanwhile) until the savepoint completes or is given up; partials still are.
   */
  holdClicks(held: boolean): void {
    if (held === this.clicksHeld) return;
    this.clicksHeld = held;
    const consumer = this.consumers.source;
    const partitions = held ? consumer.assignments() : this.withTasks(consumer.assignments(), consumer).filter((p) => !this.aligned.has(p.partition));
    if (partitions.length === 0) return;
    if (held) consumer.pause(partitions);
    else if (!this.paused) consumer.resume(partitions);
  }

  get clicksHeldForSavepoint(): boolean {
    return this.clicksHeld;
  }

  /**
   * The partitions whose tasks are open: one waiting for its task stays paused, and so does one
   * left without a task (exactly-once recovery does not reopen a lost member's tasks).
   */
  private withTasks(partitions: TopicPartition[], consumer: StageConsumers['source']): TopicPartition[] {
    const tasks = consumer === this.consumers.source ? this.sources : this.merges;
    return partitions.filter((p) => tasks[p.partition] !== undefined);
  }

  /**
   * Exactly-once recovery: every task closes and reopens from its store; fetching seeks back.
   * Not those of a member whose assignment is lost (it missed max.poll.interval.ms, which is also
   * why its transaction was fenced): another worker owns them now, and may be waiting for their
   * stores. The lost event that follows finds them closed.
   * Only while fetching is paused for everyone (ExactlyOnce.recover): closing forgets which
   * partitions alignment paused, so pauseFetching(false) is what fetches them again.
   */
  async reopenAll(): Promise<number> {
    const tasks = this.tasks;
    if (tasks.length === 0) return 0;
    await this.close(tasks);
    for (const stage of ['source', 'merge'] as const) {
      if (incremental(this.consumers[stage]).assignmentLost()) continue;
      const partitions = tasks.filter((task) => task.stage === stage).map((task) => ({ topic: task.topic, partition: task.partition }));
      if (partitions.length > 0) await this.assign(stage, partitions, true);
    }
    return tasks.length;
  }

  private async close(tasks: Task[]): Promise<void> {
    for (const task of tasks) {
      await task.store.close();
      // Its next task (here after a recovery, or on the worker it moves to) starts unaligned.
      if (task.stage === 'source') {
        this.sources[task.partition] = undefined;
        this.aligned.delete(task.partition);
      } else this.merges[task.partition] = undefined;
      this.hooks.closed?.(task);
    }
  }

  /** At stop: closes every store (the final checkpoint is taken) and gives the partitions back. */
  async closeAll(): Promise<void> {
    this.closing = true;
    this.pendingOpens.clear();
    this.backgroundRead = undefined;
    for (const task of this.tasks) {
      await task.store.close().catch(() => undefined);
      try {
        this.hooks.closed?.(task);
      } catch {
        // Stopping anyway (after a failure, or a final checkpoint): every other task closes too.
      }
    }
    this.sources.length = 0;
    this.merges.length = 0;
    // Give the partitions back while still connected, then leave: a cooperative consumer closing
    // with partitions still assigned waits for a revocation the binding can no longer serve.
    for (const consumer of this.consumers.all) {
      try {
        const assigned = consumer.assignments();
        if (assigned.length > 0) incremental(consumer).incrementalUnassign(assigned);
        consumer.unsubscribe();
      } catch {
        // not connected
      }
    }
  }

  private seek(topic: string, partition: number, offset: number): Promise<void> {
    return new Promise((resolve, reject) => this.consumers.of(topic).seek({ topic, partition, offset }, 10_000, (err) => (err ? reject(err) : resolve())));
  }

  private changelogAccess(stage: Stage): ChangelogAccess | undefined {
    if (this.changelog === undefined) return undefined;
    return {
      reader: this.changelog.reader,
      topic: stage === 'source' ? this.changelog.topics.source : this.changelog.topics.merge,
      onProgress: (taskStage, partition, progress) => this.hooks.restoreProgress(`${taskStage}-${partition}`, progress),
      retry: (what, call) => this.health.retry(what, call),
    };
  }
}
