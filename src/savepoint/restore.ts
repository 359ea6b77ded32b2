// Installs a savepoint as a job's starting point. Everything that can refuse does so before any
// existing state is touched: checksums, configuration, running workers. The new stores are built
// beside the job's state dir and swapped in with renames. Before that, the changelog topics are
// reset to the savepoint (one transaction: every key not in the savepoint deleted, every saved key
// written, a marker one past the last): from then on a worker on any machine rebuilds the
// savepoint's state, and a local store from before is not trusted. So once the changelog is reset
// the restore has taken effect, even if building the local stores then fails.

import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { changelogTopicNames, type TopicNames } from '../config.js';
import { changelogTopics, ensureTopics, growTopics, jobTopics } from '../kafka/topics.js';
import { UserError } from '../errors.js';
import { Producer, commonConfig, connectClient, disconnect, partitionCounts } from '../kafka/clients.js';
import { commitGroupOffsets, groupWorkerCount } from '../kafka/groups.js';
import { jobDir, taskDir, type JobShape, type Stage } from '../state/state-dir.js';
import { TaskStore } from '../state/task-store.js';
import { checkpointRecords, type CheckpointStamp } from '../state/changelog.js';
import { ChangelogReader } from '../kafka/changelog-reader.js';
import { newInstanceId } from '../state/worker-slot.js';
import { ChangelogWriter, type ChangelogBatch } from '../kafka/changelog-writer.js';
import type { WindowSpec } from '../topology/windows.js';
import { configDifference, readSavepoint, type SavepointManifest, type SavepointTaskEntry, type TaskSnapshot } from './format.js';
import { LATENESS_KEY, LATE_PANES_UNTIL } from '../topology/state-keys.js';
import { rescaledSavepoint } from './rescale.js';

export interface RestoreOptions {
  dir: string;
  brokers: string;
  topics: TopicNames;
  topicPrefix: string;
  jobId: string;
  stateDir: string;
  windows: WindowSpec;
  maxOutOfOrdernessMs: number;
  force: boolean;
  /** Rescale: restore into this many partitions of `clicks` and the partials topic (savepoint/rescale.ts). */
  partitions?: number;
  onProgress?: (line: string) => void;
}

const batchEntries = 50_000;

export async function restoreSavepoint(options: RestoreOptions): Promise<{ manifest: SavepointManifest; keys: number; elapsedMs: number }> {
  const startedAt = Date.now();
  const saved = readSavepoint(options.dir);
  const from = saved.manifest.config;
  const rescale = options.partitions !== undefined && (options.partitions !== from.clicksPartitions || options.partitions !== from.mergePartitions);
  const { manifest, load, addedWatermarkMs } = rescale ? rescaledSavepoint(saved, options.partitions!) : { ...saved, addedWatermarkMs: null };

  const probe = new Producer(commonConfig(options.brokers, 'clickstream-restore'));
  const metadata = await connectClient(probe, options.brokers);
  await disconnect(probe);
  const partitions = partitionCounts(metadata);
  if (rescale) {
    // Topics still as the savepoint left them, or already grown by a rescale that stopped midway.
    for (const [topic, had] of [[options.topics.clicks, from.clicksPartitions], [options.topics.partials, from.mergePartitions]] as const) {
      const now = partitions.get(topic);
      if (now !== undefined && now !== had && now !== options.partitions) {
        throw new UserError('TOPIC_MISMATCH', `topic ${topic} has ${now} partitions: neither the savepoint's ${had} nor ${options.partitions}; nothing was changed`);
      }
    }
  }
  const { windows } = options;
  const wanted: JobShape & { topicPrefix: string } = {
    clicksPartitions: rescale ? options.partitions! : (partitions.get(options.topics.clicks) ?? 0),
    mergePartitions: rescale ? options.partitions! : (partitions.get(options.topics.partials) ?? 0),
    paneMs: windows.paneMs,
    totalWindowMs: windows.totalWindowMs,
    totalSlideMs: windows.totalSlideMs,
    statsWindowMs: windows.statsWindowMs,
    maxOutOfOrdernessMs: options.maxOutOfOrdernessMs,
    allowedLatenessMs: windows.allowedLatenessMs,
    topicPrefix: options.topicPrefix,
  };
  const difference = configDifference(manifest.config, wanted, manifest.stopped === true);
  if (difference !== undefined) throw new UserError('BAD_STATE', `savepoint ${manifest.savepointId} is from another configuration (${difference}); nothing was changed`);

  const workers = await groupWorkerCount(options.brokers, options.jobId);
  if (workers > 0 && !options.force) {
    throw new UserError('JOB_RUNNING', `job ${options.jobId} has ${workers} running worker(s); stop them first or pass --force; nothing was changed`);
  }

  if (rescale) {
    const names = changelogTopicNames(options.topicPrefix, options.jobId);
    await growTopics(options.brokers, [...jobTopics(options.topics, options.partitions!), ...changelogTopics(names, options.partitions!, options.partitions!)]);
    const start = addedWatermarkMs === null ? 'no watermark yet' : `watermark ${new Date(addedWatermarkMs).toISOString()}`;
    options.onProgress?.(`grew the job's topics from ${from.clicksPartitions} to ${options.partitions} partitions; added source partitions start at ${start}`);
  }

  // The state carries the lateness it was built with (topology/state-keys.ts): from here on, the
  // new one. Shortened, the merge tasks still take late panes that sources had closed by the
  // savepoint (held, or in flight): up to the furthest source watermark in it.
  const shortened = windows.allowedLatenessMs < manifest.config.allowedLatenessMs;
  const sourceWatermarks = manifest.tasks.filter((t) => t.stage === 'source' && t.watermarkMs !== null).map((t) => t.watermarkMs!);
  const latePanesUntil = shortened && sourceWatermarks.length > 0 ? Math.max(...sourceWatermarks) : undefined;
  const loadRestored = (task: SavepointTaskEntry): TaskSnapshot => {
    const snapshot = load(task);
    return { ...snapshot, entries: withRestoredLateness(snapshot.stage, snapshot.entries, windows.allowedLatenessMs, latePanesUntil) };
  };
  const stamps = await resetChangelogs(options, manifest, loadRestored);

  // Build the new state beside the old, then swap.
  const target = jobDir(options.stateDir, options.jobId);
  // The savepoint id is checked (savepoint/validate.ts); the staging directory stays beside the job's.
  const staging = `${target}.restoring-${manifest.savepointId}`;
  if (path.dirname(staging) !== path.dirname(target)) throw new UserError('BAD_FILE', `savepoint id ${manifest.savepointId} would stage outside the state dir; nothing was changed`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  let keys = 0;
  try {
    for (const task of manifest.tasks) {
      const snapshot = loadRestored(task);
      const store = await TaskStore.open(taskDir(path.dirname(staging), path.basename(staging), task.stage, task.partition));
      try {
        for (let i = 0; i < snapshot.entries.length || i === 0; i += batchEntries) {
          const slice = snapshot.entries.slice(i, i + batchEntries);
          const last = i + batchEntries >= snapshot.entries.length;
          const stamp = last ? stamps.get(`${task.stage}-${task.partition}`) : undefined;
          await store.checkpoint(new Map(slice), last ? (snapshot.nextOffset ?? undefined) : undefined, stamp);
        }
      } finally {
        await store.close();
      }
      keys += snapshot.entries.length;
      options.onProgress?.(`restored ${task.stage}-${task.partition}: ${snapshot.entries.length} keys, next offset ${snapshot.nextOffset ?? '-'}`);
    }
    const { topicPrefix: _prefix, ...shape } = manifest.config;
    writeFileSync(path.join(staging, 'job.json'), JSON.stringify({ ...shape, allowedLatenessMs: windows.allowedLatenessMs }, null, 2) + '\n');
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  const replaced = `${target}.replaced-${Date.now()}`;
  if (existsSync(target)) renameSync(target, replaced);
  renameSync(staging, target);
  rmSync(replaced, { recursive: true, force: true });

  // The group's offsets agree with the stores, for any worker that starts without them.
  const offsets = manifest.tasks
    .filter((task) => task.nextOffset !== null)
    .map((task) => ({ topic: task.stage === 'source' ? options.topics.clicks : options.topics.partials, partition: task.partition, offset: task.nextOffset! }));
  await commitGroupOffsets(options.brokers, options.jobId, offsets);
  return { manifest, keys, elapsedMs: Date.now() - startedAt };
}

/**
 * A task's saved entries as restored: the lateness they record is the restored one, and a merge
 * task's `latePanesUntil` is the further of the one it had (an earlier shortening restore's late
 * panes may be in flight still) and `latePanesUntil` (this one's, if it shortens). Pure.
 */
export function withRestoredLateness(stage: Stage, saved: Array<[string, string]>, latenessMs: number, latePanesUntil: number | undefined): Array<[string, string]> {
  const entries = saved.filter(([key]) => key !== LATENESS_KEY && key !== LATE_PANES_UNTIL);
  entries.push([LATENESS_KEY, String(latenessMs)]);
  const earlier = saved.find(([key]) => key === LATE_PANES_UNTIL)?.[1];
  const until = [earlier === undefined ? undefined : Number(earlier), latePanesUntil].filter((t): t is number => Number.isSafeInteger(t));
  if (stage === 'merge' && until.length > 0) entries.push([LATE_PANES_UNTIL, String(Math.max(...until))]);
  return entries;
}

/**
 * Rewrites each task's changelog partition to the savepoint's state, in one transaction, and
 * returns the stamps the restored stores carry (creating the job's changelog topics if missing).
 */
async function resetChangelogs(
  options: RestoreOptions,
  manifest: SavepointManifest,
  load: (task: SavepointTaskEntry) => TaskSnapshot,
): Promise<Map<string, CheckpointStamp>> {
  const stamps = new Map<string, CheckpointStamp>();
  const names = changelogTopicNames(options.topicPrefix, options.jobId);
  const topicOf = (stage: string) => (stage === 'source' ? names.source : names.merge);
  await ensureTopics(options.brokers, changelogTopics(names, manifest.config.clicksPartitions, manifest.config.mergePartitions));
  const reader = await ChangelogReader.open(options.brokers, `${options.jobId}-restore-${process.pid}`);
  const batches: ChangelogBatch[] = [];
  const writer = `savepoint:${manifest.savepointId}:${Date.now()}`;
  try {
    for (const task of manifest.tasks) {
      const topic = topicOf(task.stage);
      const current = await reader.readAll(topic, task.partition);
      const snapshot = load(task);
      const saved = new Map(snapshot.entries);
      const stamp: CheckpointStamp = { seq: (current.marker?.seq ?? 0) + 1, writer, nextOffset: snapshot.nextOffset ?? null };
      // Like a checkpoint's: deletions of what the savepoint lacks, its entries, then the marker.
      const changes = new Map<string, string | null>();
      for (const key of current.entries().keys()) if (!saved.has(key)) changes.set(key, null);
      for (const [key, value] of saved) changes.set(key, value);
      batches.push({ topic, partition: task.partition, records: checkpointRecords(changes, stamp) });
      stamps.set(`${task.stage}-${task.partition}`, stamp);
    }
  } finally {
    await reader.close();
  }
  // One transaction for every task: give it as long as the write itself may take.
  // One restore runs at a time (it refuses running workers): a fixed id ends what a killed one left open.
  let transactionalId = `${options.jobId}-restore`;
  const identity = { transactionalId: () => transactionalId, renew: () => (transactionalId = `${options.jobId}-restore-${newInstanceId()}`) };
  const changelog = await ChangelogWriter.open(options.brokers, `${options.jobId}-restore`, identity, 300_000);
  try {
    if (!(await changelog.write(batches, [], undefined, 280_000))) throw new Error('could not reset the changelog topics to the savepoint (transaction not committed); the state dir was not changed');
  } finally {
    await changelog.close();
  }
  options.onProgress?.(`reset the changelog of ${batches.length} tasks to the savepoint`);
  return stamps;
}
