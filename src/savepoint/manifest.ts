// What a savepoint directory holds, as types: the manifest (format version, job configuration,
// per task its offset, watermark, file, size and checksum) and one task's state.

import type { JobShape, Stage } from '../state/state-dir.js';

export const SAVEPOINT_FORMAT_VERSION = 1;

export interface TaskSnapshot {
  stage: Stage;
  partition: number;
  /** Next input offset; null if the task never read a record. */
  nextOffset: number | null;
  entries: Array<[string, string]>;
}

export interface SavepointTaskEntry {
  stage: Stage;
  partition: number;
  nextOffset: number | null;
  /** Source: the partition's watermark; merge: the watermark its windows are emitted up to. */
  watermarkMs: number | null;
  openWindowKeys: number;
  file: string;
  bytes: number;
  sha256: string;
}

export interface SavepointManifest {
  formatVersion: number;
  savepointId: string;
  createdAt: string;
  jobId: string;
  /** Where the state came from: the workers of a running job, or a stopped job's state dir. */
  takenFrom: 'running-job' | 'state-dir';
  /**
   * Taken with --stop: the workers stopped at it, so nothing was written after it. Absent in
   * savepoints from before it existed (then false).
   */
  stopped?: boolean;
  /**
   * Taken aligned (stop-with-savepoint since barriers): every merge task's state holds every
   * partial the sources sent before theirs, none unread in the partials topic. What a rescale
   * needs. Absent in older savepoints (then false).
   */
  aligned?: boolean;
  config: JobShape & { topicPrefix: string };
  tasks: SavepointTaskEntry[];
  totalBytes: number;
}

export type TaskSummary = Pick<SavepointTaskEntry, 'watermarkMs' | 'openWindowKeys'>;

