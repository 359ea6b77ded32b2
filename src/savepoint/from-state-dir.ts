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

export async function savepointFromStateDir(stateDir: string, jobId: string, topicPrefix: string, dir: string): Promise<SavepointManifest> {
  const shapeFile = path.join(jobDir(stateDir, jobId), 'job.json');
  if (!existsSync(shapeFile)) throw new UserError('BAD_STATE', `no state of job ${jobId} in ${stateDir} (missing ${shapeFile})`);
  const shape = readShape(shapeFile);
  const windows = { ...jobWindows, paneMs: shape.paneMs, totalWindowMs: shape.totalWindowMs, totalSlideMs: shape.totalSlideMs, statsWindowMs: shape.statsWindowMs, allowedLatenessMs: shape.allowedLatenessMs };
  const tasks: Array<[Stage, number]> = [
    ...Array.from({ length: shape.clicksPartitions }, (_, p): [Stage, number] => ['source', p]),
    ...Array.from({ length: shape.mergePartitions }, (_, p): [Stage, number] => ['merge', p]),
  ];
  const snapshots: Array<{ snapshot: TaskSnapshot; summary: TaskSummary }> = [];
  for (const [stage, partition] of tasks) {
    const location = taskDir(stateDir, jobId, stage, partition);
    let entries: Array<[string, string]> = [];
    let nextOffset: number | null = null;
    if (existsSync(location)) {
      const store = await TaskStore.open(location);
      try {
        const loaded = await store.load();
        entries = loaded.entries;
        nextOffset = loaded.nextOffset ?? null;
      } finally {
        await store.close();
      }
    }
    const state = summarizeTaskState(stage, entries, windows, shape.maxOutOfOrdernessMs, shape.clicksPartitions);
    snapshots.push({ snapshot: { stage, partition, nextOffset, entries: state.entries }, summary: state.summary });
  }
  return writeSavepoint(dir, { savepointId: newSavepointId(), createdAt: new Date().toISOString(), jobId, takenFrom: 'state-dir', config: { ...shape, topicPrefix } }, snapshots);
}
