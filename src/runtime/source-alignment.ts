// Watermark alignment in the worker: each round, the rule (topology/watermark-alignment.ts) over
// this worker's source partitions, against the slowest source partition of the whole job: its own
// as they are, the others' as this worker's merge tasks last heard of them (every source partition
// sends its watermark to every merge partition, so any merge task knows them all, a little late).
// A worker without merge tasks aligns its own partitions only.

import { logger } from '../log.js';
import { alignmentChanges, type AlignedSource } from '../topology/watermark-alignment.js';
import { NO_WATERMARK } from '../topology/watermark.js';
import type { TaskManager } from './task-manager.js';

const log = logger('worker');

/** What alignment needs of the task manager. */
export type AlignmentTasks = Pick<TaskManager, 'alignedPartitions' | 'sourceTasks' | 'mergeTasks' | 'source' | 'align'>;

/** The source partitions this worker does not run, each as the merge task that heard of it last knows it. */
function othersAsMergedKnowThem(tasks: AlignmentTasks): AlignedSource[] {
  const others = new Map<number, AlignedSource>();
  for (const merge of tasks.mergeTasks) {
    if (merge === undefined) continue;
    const windows = merge.topology.windows;
    for (let partition = 0; partition < windows.sourcePartitions; partition++) {
      if (tasks.source(partition) !== undefined) continue;
      const progress = windows.progressOf(partition);
      // Watermarks only move forward: the highest is the latest word.
      if (progress !== undefined && progress.watermarkMs >= (others.get(partition)?.watermarkMs ?? NO_WATERMARK)) others.set(partition, { partition, watermarkMs: progress.watermarkMs, idle: progress.idle });
    }
  }
  return [...others.values()];
}

/** Applies the rule; returns how many partitions it paused. */
export function alignSources(tasks: AlignmentTasks, maxDriftMs: number, nowMs: number): number {
  if (maxDriftMs === 0 && tasks.alignedPartitions.size === 0) return 0;
  const sources: AlignedSource[] = [];
  for (const task of tasks.sourceTasks) if (task !== undefined) sources.push({ partition: task.partition, watermarkMs: task.topology.watermarkMs, idle: task.idleness.isIdle });
  const changes = alignmentChanges(sources, othersAsMergedKnowThem(tasks), tasks.alignedPartitions, maxDriftMs);
  const paused = tasks.align(changes);
  if (paused > 0 || changes.resume.length > 0) log.debug('watermark alignment', { paused: changes.pause, resumed: changes.resume, sources });
  // Not read on purpose: not quiet, so not probed for idleness (it is behind, not caught up).
  for (const partition of tasks.alignedPartitions) tasks.source(partition)?.idleness.postpone(nowMs);
  return paused;
}
