// A task is the unit of state and recovery: one input partition (of `clicks` for a source task,
// of the internal partials topic for a merge task), its topology stage, its LevelDB store and
// the next offset to read. Opening a task restores its stage from its store.

import { tunables } from '../config.js';
import { MergeStage } from '../topology/merge-stage.js';
import { MergeWindows } from '../topology/merge-windows.js';
import { SourceHandle, type SourceJobAccess } from '../job/source-handle.js';
import { IdlenessTracker } from '../topology/watermark.js';
import type { WindowSpec } from '../topology/windows.js';
import { TaskStore } from '../state/task-store.js';
import { chooseSource, markerMatches, resumePoint, type CheckpointStamp, type ResumePoint, type StoreSource } from '../state/changelog.js';
import type { ChangelogReader, RestoreProgress } from '../kafka/changelog-reader.js';
import { UserError, isUserError } from '../errors.js';
import { TaskNotReadyError, type NotReadyKind } from './not-ready.js';
import { logger, rateLimited } from '../log.js';
import type { BadEntry } from '../topology/state-keys.js';
import { taskDir, type Stage } from '../state/state-dir.js';
import type { StateChanges } from '../topology/state-keys.js';

const log = logger('tasks');
const badEntryLog = rateLimited((msg, fields) => log.error(msg, fields));

/**
 * State read back (a local store, or the changelog anyone who can write to Kafka can write to)
 * with an entry that is not state of its stage: skipped and logged, never a task that cannot open.
 */
function skipBadEntry(stage: Stage, partition: number, skipped: string[]): BadEntry {
  return (key, why) => {
    skipped.push(key);
    badEntryLog('skipped a state entry that is not task state (deleted at the next checkpoint)', { task: `${stage}-${partition}`, key: key.slice(0, 80), why });
  };
}

/** The same, for entries the source job skipped. */
function skippedBySourceJob(partition: number, entries: Array<[string, string]>): string[] {
  const skip = skipBadEntry('source', partition, []);
  entries.forEach(([key, why]) => skip(key, why));
  return entries.map(([key]) => key);
}

/** What the first checkpoint must write besides the task's own changes: a seed, and deletions of skipped entries. */
function unsaved(backlog: Map<string, string | null> | undefined, skipped: string[]): Map<string, string | null> | undefined {
  if (skipped.length === 0) return backlog;
  const changes = new Map(backlog);
  for (const key of skipped) changes.set(key, null);
  return changes;
}

export interface TaskSettings {
  stateDir: string;
  jobId: string;
  windows: WindowSpec;
  maxOutOfOrdernessMs: number;
  idleTimeoutMs: number;
  clicksPartitions: number;
  mergePartitions: number;
  /** The lateness job.json records: taken for state that does not record its own (older, or unreadable). */
  recordedLatenessMs: number;
}

interface TaskBase {
  readonly stage: Stage;
  readonly topic: string;
  readonly partition: number;
  readonly store: TaskStore;
  /** Next offset to read; undefined until the task has read or restored one. */
  nextOffset: number | undefined;
  /** Where the task resumes reading its input (state/changelog.ts says why that is exact). */
  readonly resume: ResumePoint;
  /** Offset of the task's last completed checkpoint (whether a checkpoint covers new input). */
  checkpointedOffset: number | undefined;
  /** Where the state came from when the task opened (the changelog decides; see state/changelog.ts). */
  readonly stateOrigin: StoreSource;
  /** The task's checkpoint sequence number (its changelog's last marker once written). */
  seq: number;
  /**
   * Changes taken from the topology that no completed checkpoint holds: a skipped checkpoint's
   * (its changelog transaction failed), or the whole state when seeding an empty changelog.
   */
  unsavedChanges: Map<string, string | null> | undefined;
  recordsIn: number;
  takeChanges(): StateChanges;
}

export interface SourceTask extends TaskBase {
  readonly stage: 'source';
  /** Its topology, in the source job (job/source-handle.ts). */
  readonly topology: SourceHandle;
  readonly idleness: IdlenessTracker;
  late: number;
  deadLettered: number;
}

export interface MergeTask extends TaskBase {
  readonly stage: 'merge';
  readonly topology: MergeStage;
}

export type Task = SourceTask | MergeTask;


/**
 * Opens a store, unless another process holds it: in a rebalance the previous owner may still be
 * closing it (or finishing a checkpoint it cannot complete while the broker is away). The task
 * then waits to open (TaskNotReadyError), for `storeReleaseWaitMs` since the store was first
 * refused to it at most; past that, the lock error stops the worker.
 */
async function openUnlessHeld(location: string, waitedMs: OpenContext['waitedMs']): Promise<TaskStore> {
  try {
    return await TaskStore.open(location);
  } catch (err) {
    const lockedElsewhere = isUserError(err) && err.code === 'STATE_LOCKED' && !err.message.includes('in this process');
    if (!lockedElsewhere || waitedMs('store') >= tunables.storeReleaseWaitMs) throw err;
    throw new TaskNotReadyError('store', `its state store ${location} is still held by the previous owner (another worker on this machine)`);
  }
}

/** The metadata of the group's committed offset of a task's partition, asked only when needed. */
export type CommittedToken = () => Promise<{ token: string | undefined; offset: number | undefined }>;

/** How a task reaches its changelog, when the job keeps one. */
export interface ChangelogAccess {
  reader: ChangelogReader;
  topic: string;
  onProgress: (stage: Stage, partition: number, progress: RestoreProgress) => void;
  /** Runs a broker call until it succeeds (reporting an outage), for at most a few minutes. */
  retry<T>(what: string, call: () => Promise<T>): Promise<T>;
}

/** What opening a task asks of the worker. */
export interface OpenContext {
  committed: CommittedToken;
  changelog: ChangelogAccess | undefined;
  /** How long this task has been refused for a reason so far (0: never; not-ready.ts). */
  waitedMs(kind: NotReadyKind): number;
}

/**
 * What to do with the changelog's last marker beside the group's committed offset. They come
 * from one transaction: until they agree its markers are still being written, so the task waits
 * (for `changelogInDoubtWaitMs` since the changelog first disagreed, which is after the committed
 * offset was read as stable); past that, the group's offset was committed without the changelog
 * (a run with --no-changelog), and the marker is taken as it is. An empty changelog beside a
 * local store at the committed offset is a job that ran without the changelog, whose store seeds
 * it: nothing to wait for. Pure.
 */
export function markerVerdict(stamp: CheckpointStamp | undefined, committedOffset: number | undefined, localOffset: number | undefined, waitedMs: number): 'use' | 'wait' | 'give up' {
  if (stamp === undefined && localOffset !== undefined && localOffset === committedOffset) return 'use';
  if (markerMatches(stamp, committedOffset)) return 'use';
  return waitedMs < tunables.changelogInDoubtWaitMs ? 'wait' : 'give up';
}

/**
 * The changelog's last marker, read after the group's committed offset (read as stable: a previous
 * owner's transaction has ended) and taken once the two agree (`markerVerdict`), so that no
 * checkpoint of a previous owner becomes visible after this read (see the invariant in
 * state/changelog.ts). Until then the task waits to open (TaskNotReadyError).
 */
async function lastStamp(changelog: ChangelogAccess, partition: number, committed: { offset: number | undefined }, localOffset: number | undefined, waitedMs: OpenContext['waitedMs']): Promise<CheckpointStamp | undefined> {
  const stamp = await changelog.retry(`reading ${changelog.topic}-${partition}`, () => changelog.reader.lastStamp(changelog.topic, partition));
  const verdict = markerVerdict(stamp, committed.offset, localOffset, waitedMs('changelog'));
  if (verdict === 'use') return stamp;
  const fields = { topic: changelog.topic, partition, committedOffset: committed.offset ?? null, markerOffset: stamp?.nextOffset ?? null };
  if (verdict === 'wait') {
    throw new TaskNotReadyError('changelog', `the changelog ${changelog.topic}-${partition} does not show the checkpoint of committed offset ${fields.committedOffset} yet (its last marker names ${fields.markerOffset})`);
  }
  log.warn('the changelog does not show the checkpoint the committed offset names', fields);
  return stamp;
}

/**
 * Opens a task's store and reads what its last checkpoint holds, after settling a checkpoint a
 * crash left staged (exactly-once mode): kept if the group's committed offset carries its token.
 * With a changelog, a store that is not at the changelog's last checkpoint is rebuilt from it.
 * A task that has to wait (TaskNotReadyError) finds out before its state is loaded: it is
 * tried again about once a second.
 */
async function openStore(settings: TaskSettings, stage: Stage, partition: number, context: OpenContext) {
  const { committed: committedToken, changelog, waitedMs } = context;
  const location = taskDir(settings.stateDir, settings.jobId, stage, partition);
  let store = await openUnlessHeld(location, waitedMs);
  try {
    const pendingResolution = await store.resolvePending(async () => (await committedToken()).token);
    // Said here, when it happens: an opening that has to wait after this finds nothing staged
    // when it is tried again.
    if (pendingResolution !== 'none') log.info(`staged checkpoint ${pendingResolution}`, { task: `${stage}-${partition}`, nextOffset: (await store.checkpointOffset()) ?? null });
    let source: StoreSource = { use: 'local' };
    let committed: { offset: number | undefined } | undefined;
    let remote: CheckpointStamp | undefined;
    if (changelog !== undefined) {
      committed = await committedToken();
      remote = await lastStamp(changelog, partition, committed, await store.checkpointOffset(), waitedMs);
    }
    let loaded = await store.load();
    if (changelog !== undefined) {
      source = chooseSource(loaded.stamp, loaded.entries.length > 0 || loaded.nextOffset !== undefined, remote);
      if (source.use === 'changelog') {
        await store.close();
        const fold = await changelog.retry(`restoring ${changelog.topic}-${partition}`, () =>
          changelog.reader.readAll(changelog.topic, partition, (progress) => changelog.onProgress(stage, partition, progress)),
        );
        if (fold.marker === undefined) throw new Error(`changelog ${changelog.topic}-${partition} lost its checkpoint marker while being read`);
        store = await TaskStore.rebuild(location, fold.entries(), fold.marker);
        loaded = await store.load();
      }
    }
    const backlog = source.use === 'seed' ? new Map<string, string | null>(loaded.entries) : undefined;
    // The group's committed offset matters only to a task without a checkpoint of its own.
    const resume = resumePoint(loaded.nextOffset, loaded.nextOffset === undefined ? (committed ?? (await committedToken())).offset : undefined);
    if (resume.from === 'group' && changelog !== undefined) {
      log.warn('no checkpoint of this task in its store or the changelog: resuming at the group\'s committed offset with empty state (windows open there miss earlier clicks)', { task: `${stage}-${partition}`, offset: resume.offset });
    }
    return { store, loaded, source, seq: loaded.stamp?.seq ?? 0, backlog, resume };
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
}

/**
 * The lateness a task's state was built with if it is not the worker's, else undefined: the one
 * its state records, or for state that records none (older, or unreadable) the one job.json does.
 * Pure.
 */
export function latenessConflict(hasState: boolean, restoredMs: number | undefined, recordedMs: number, workerMs: number): number | undefined {
  const stateMs = restoredMs ?? (hasState ? recordedMs : undefined);
  return stateMs === undefined || stateMs === workerMs ? undefined : stateMs;
}

/**
 * A task whose state was built with another allowed lateness stops the worker (one line): its
 * windows were revised, and its late totals kept or dropped, by the other lateness. job.json
 * guards one machine's state dir; this guards state handed over through the changelog.
 */
async function refuseOtherLateness(store: TaskStore, stage: Stage, partition: number, loaded: { entries: unknown[]; nextOffset: number | undefined }, restoredMs: number | undefined, settings: TaskSettings): Promise<void> {
  const hasState = loaded.entries.length > 0 || loaded.nextOffset !== undefined;
  const workerMs = settings.windows.allowedLatenessMs;
  const stateMs = latenessConflict(hasState, restoredMs, settings.recordedLatenessMs, workerMs);
  if (stateMs === undefined) return;
  await store.close().catch(() => undefined);
  throw new UserError(
    'BAD_STATE',
    `task ${stage}-${partition} holds state built with an allowed lateness of ${stateMs} ms, this worker runs with ${workerMs} ms: start every worker of a job with the same --allowed-lateness (change it with savepoint --stop, then restore --allowed-lateness, shorter only)`,
  );
}

export async function openSourceTask(settings: TaskSettings, access: SourceJobAccess, topic: string, partition: number, nowMs: number, context: OpenContext): Promise<SourceTask> {
  const { store, loaded, source, seq, backlog, resume } = await openStore(settings, 'source', partition, context);
  const topology = new SourceHandle(access, partition, loaded.entries);
  try {
    await refuseOtherLateness(store, 'source', partition, loaded, topology.restoredLatenessMs, settings);
  } catch (err) {
    topology.close();
    throw err;
  }
  return {
    stage: 'source',
    topic,
    partition,
    store,
    nextOffset: loaded.nextOffset,
    resume,
    checkpointedOffset: loaded.nextOffset,
    stateOrigin: source,
    seq,
    unsavedChanges: unsaved(backlog, skippedBySourceJob(partition, topology.skipped)),
    recordsIn: 0,
    topology,
    idleness: new IdlenessTracker(settings.idleTimeoutMs, nowMs),
    late: 0,
    deadLettered: 0,
    takeChanges: () => topology.takeChanges(),
  };
}

export async function openMergeTask(settings: TaskSettings, topic: string, partition: number, context: OpenContext): Promise<MergeTask> {
  const { store, loaded, source, seq, backlog, resume } = await openStore(settings, 'merge', partition, context);
  const skipped: string[] = [];
  const windows = MergeWindows.restore(settings.windows, settings.clicksPartitions, loaded.entries, skipBadEntry('merge', partition, skipped));
  await refuseOtherLateness(store, 'merge', partition, loaded, windows.restoredLatenessMs, settings);
  return {
    stage: 'merge',
    topic,
    partition,
    store,
    nextOffset: loaded.nextOffset,
    resume,
    checkpointedOffset: loaded.nextOffset,
    stateOrigin: source,
    seq,
    unsavedChanges: unsaved(backlog, skipped),
    recordsIn: 0,
    topology: new MergeStage(partition, windows),
    takeChanges: () => windows.takeChanges(),
  };
}
