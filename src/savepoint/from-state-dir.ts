// A savepoint of a stopped job, read straight from its state dir. A store still locked by a
// running worker is refused (use the running-job savepoint for that).

import { existsSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { jobDir, readShape, taskDir, type Stage } from '../state/state-dir.js';
import { TaskStore } from '../state/task-store.js';
import { jobWindows } from '../config.js';
import { newSavepointId, writeSavepoint, type SavepointManifest, type TaskSnapshot, type TaskSummary } from './format.js';
import { summarizeTaskState } from './summary.js';
import { LATENESS_KEY, parseLateness } from '../topology/state-keys.js';

export async function savepointFromStateDir(stateDir: string, jobId: string, topicPrefix: string, dir: string): Promise<SavepointManifest> {
  const shapeFile = path.join(jobDir(stateDir, jobId), 'job.json');
  if (!existsSync(shapeFile)) throw new UserError('BAD_STATE', `no state of job ${jobId} in ${stateDir} (missing ${shapeFile})`);
  const stored = readShape(shapeFile);
  const tasks: Array<[Stage, number]> = [
    ...Array.from({ length: stored.clicksPartitions }, (_, p): [Stage, number] => ['source', p]),
    ...Array.from({ length: stored.mergePartitions }, (_, p): [Stage, number] => ['merge', p]),
  ];
  const loaded: Array<{ stage: Stage; partition: number; entries: Array<[string, string]>; nextOffset: number | null }> = [];
  for (const [stage, partition] of tasks) {
    const location = taskDir(stateDir, jobId, stage, partition);
    let entries: Array<[string, string]> = [];
    let nextOffset: number | null = null;
    if (existsSync(location)) {
      const store = await TaskStore.open(location);
      try {
        const state = await store.load();
        entries = state.entries;
        nextOffset = state.nextOffset ?? null;
      } finally {
        await store.close();
      }
    }
    loaded.push({ stage, partition, entries, nextOffset });
  }
  const shape = { ...stored, allowedLatenessMs: latenessOfTasks(loaded, stored.allowedLatenessMs, stateDir, jobId) };
  const windows = { ...jobWindows, paneMs: shape.paneMs, totalWindowMs: shape.totalWindowMs, totalSlideMs: shape.totalSlideMs, statsWindowMs: shape.statsWindowMs, allowedLatenessMs: shape.allowedLatenessMs };
  const snapshots: Array<{ snapshot: TaskSnapshot; summary: TaskSummary }> = loaded.map(({ stage, partition, entries, nextOffset }) => {
    const state = summarizeTaskState(stage, entries, windows, shape.maxOutOfOrdernessMs, shape.clicksPartitions);
    return { snapshot: { stage, partition, nextOffset, entries: state.entries }, summary: state.summary };
  });
  return writeSavepoint(dir, { savepointId: newSavepointId(), createdAt: new Date().toISOString(), jobId, takenFrom: 'state-dir', config: { ...shape, topicPrefix } }, snapshots);
}

/**
 * The allowed lateness the tasks' state was built with (job.json's is only this dir's first: a
 * restore elsewhere may have changed it through the changelog); tasks that disagree are refused.
 */
export function latenessOfTasks(tasks: Array<{ stage: Stage; partition: number; entries: Array<[string, string]>; nextOffset: number | null }>, fallbackMs: number, stateDir: string, jobId: string): number {
  const found = new Map<number, string>();
  for (const { stage, partition, entries, nextOffset } of tasks) {
    const value = entries.find(([key]) => key === LATENESS_KEY)?.[1];
    // State from before tasks recorded it was built with job.json's.
    const hasState = entries.length > 0 || nextOffset !== null;
    const ms = (value === undefined ? undefined : parseLateness(value)) ?? (hasState ? fallbackMs : undefined);
    if (ms !== undefined && !found.has(ms)) found.set(ms, `${stage}-${partition}`);
  }
  if (found.size > 1) {
    const which = [...found].map(([ms, task]) => `${task}: ${ms} ms`).join(', ');
    throw new UserError('BAD_STATE', `tasks of job ${jobId} in ${stateDir} were built with different allowed lateness (${which}); nothing was written`);
  }
  return found.size === 1 ? [...found.keys()][0]! : fallbackMs;
}
