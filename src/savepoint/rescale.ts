// Rescale through a savepoint (pure): the state of an aligned stop-with-savepoint, laid out for a
// job with more partitions. Source tasks keep their partition's state (its open panes and
// watermark: the clicks already in it stay there). An added source partition starts at the
// watermark of the slowest old one (never behind the windows the merge stage has emitted), so
// it holds back no window the old ones had closed, and a click it reads for a window they all
// had closed is late. Merge rows move to the merge partition that now owns their url (totals
// stay on partition 0), counts per source widened for the added sources. That is exact only if
// every merge task had read every partial the sources sent before their state was taken, and all
// emitted windows up to the same time: an aligned savepoint (topology/barrier-alignment.ts).

import { UserError } from '../errors.js';
import { MergeWindows, rescaleMergeState } from '../topology/merge-windows.js';
import { SourcePanes, addedPartitionState } from '../topology/source-panes.js';
import { LATENESS_KEY } from '../topology/state-keys.js';
import { UrlOwners } from '../topology/url-owners.js';
import { NO_WATERMARK } from '../topology/watermark.js';
import { alignDown, type WindowSpec } from '../topology/windows.js';
import type { SavepointManifest, SavepointTaskEntry, TaskSnapshot } from './manifest.js';
import { taskFile } from './validate.js';

export interface LoadedSavepoint {
  manifest: SavepointManifest;
  load(task: SavepointTaskEntry): TaskSnapshot;
}

/** Partition counts past this are refused (as a savepoint's own are: savepoint/validate.ts). */
const MAX_PARTITIONS = 10_000;

/**
 * The savepoint as it restores into `partitions` partitions of `clicks` and of the partials
 * topic, and the watermark the added source partitions start at (null: none, the old ones had
 * not read a click). Refusals are UserErrors of one line.
 */
export function rescaledSavepoint(saved: LoadedSavepoint, partitions: number): LoadedSavepoint & { addedWatermarkMs: number | null } {
  const { manifest } = saved;
  const config = manifest.config;
  const id = manifest.savepointId;
  if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) throw new UserError('BAD_FLAG', `--partitions must be a whole number from 1 to ${MAX_PARTITIONS}`);
  if (partitions < config.clicksPartitions || partitions < config.mergePartitions) {
    throw new UserError(
      'BAD_FLAG',
      `--partitions ${partitions}: savepoint ${id} has ${config.clicksPartitions}, and a Kafka topic never loses partitions; to shrink, take the clicks into a job under a new --topic-prefix`,
    );
  }
  if (manifest.aligned !== true) {
    throw new UserError('BAD_STATE', `savepoint ${id} cannot be rescaled: only an aligned one, taken with "clickstream savepoint --stop", holds no partial unread; nothing was changed`);
  }
  const windows: WindowSpec = { paneMs: config.paneMs, totalWindowMs: config.totalWindowMs, totalSlideMs: config.totalSlideMs, statsWindowMs: config.statsWindowMs, allowedLatenessMs: config.allowedLatenessMs };
  const sources = manifest.tasks.filter((t) => t.stage === 'source');
  const merges = manifest.tasks.filter((t) => t.stage === 'merge').sort((a, b) => a.partition - b.partition);
  const lowest = (values: Array<number | null>) => (values.some((v) => v === null) || values.length === 0 ? NO_WATERMARK : Math.min(...(values as number[])));
  const start = Math.max(lowest(sources.map((t) => t.watermarkMs)), merges[0]?.watermarkMs ?? NO_WATERMARK);

  const snapshots = new Map<string, { entry: SavepointTaskEntry; snapshot: TaskSnapshot }>();
  const add = (snapshot: TaskSnapshot, summary: Pick<SavepointTaskEntry, 'watermarkMs' | 'openWindowKeys'>): void => {
    const file = taskFile(snapshot.stage, snapshot.partition);
    snapshots.set(file, { entry: { stage: snapshot.stage, partition: snapshot.partition, nextOffset: snapshot.nextOffset, ...summary, file, bytes: 0, sha256: '' }, snapshot });
  };

  for (const task of sources) add(saved.load(task), { watermarkMs: task.watermarkMs, openWindowKeys: task.openWindowKeys });
  for (let partition = config.clicksPartitions; partition < partitions; partition++) {
    const entries = start === NO_WATERMARK ? [[LATENESS_KEY, String(config.allowedLatenessMs)] as [string, string]] : addedPartitionState(start, config.maxOutOfOrdernessMs, config.allowedLatenessMs);
    const panes = SourcePanes.restore(windows, config.maxOutOfOrdernessMs, entries);
    add({ stage: 'source', partition, nextOffset: 0, entries }, { watermarkMs: panes.watermarkMs === NO_WATERMARK ? null : panes.watermarkMs, openWindowKeys: 0 });
  }

  const owners = new UrlOwners(partitions);
  let moved: Array<Array<[string, string]>>;
  try {
    // What an added source says first (its watermark aligned to panes, as sources send it).
    const addedSays = start === NO_WATERMARK ? NO_WATERMARK : alignDown(start, windows.paneMs);
    moved = rescaleMergeState(merges.map((task) => saved.load(task).entries), config.clicksPartitions, partitions, partitions, (url) => owners.of(url), addedSays);
  } catch (err) {
    throw new UserError('BAD_STATE', `savepoint ${id} cannot be rescaled: ${(err as Error).message}; nothing was changed`);
  }
  for (const [partition, entries] of moved.entries()) {
    const merge = MergeWindows.restore(windows, partitions, entries);
    const old = merges.find((t) => t.partition === partition);
    add({ stage: 'merge', partition, nextOffset: old?.nextOffset ?? 0, entries }, { watermarkMs: merge.frontierMs === NO_WATERMARK ? null : merge.frontierMs, openWindowKeys: merge.openKeyCount });
  }

  const tasks = [...snapshots.values()].map((s) => s.entry).sort((a, b) => a.stage.localeCompare(b.stage) || a.partition - b.partition);
  return {
    manifest: { ...manifest, config: { ...config, clicksPartitions: partitions, mergePartitions: partitions }, tasks, totalBytes: 0 },
    load: (task) => snapshots.get(task.file)!.snapshot,
    addedWatermarkMs: start === NO_WATERMARK ? null : start,
  };
}
