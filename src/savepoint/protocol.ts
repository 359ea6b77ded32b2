// What the savepoint command and the workers say to each other through Kafka (JSON records):
// the command writes a request to the control topic; every worker, at its next checkpoint
// boundary, writes each of its tasks' state to the savepoints topic in chunks, then a `done`
// record per task. Kafka carries it all, so workers on other machines take part as well.

import type { JobShape, Stage } from '../state/state-dir.js';
import type { TaskSnapshot, TaskSummary } from './format.js';

export interface SavepointRequest {
  type: 'savepoint-request';
  savepointId: string;
  jobId: string;
  /** Stop the workers right after their contribution (stop-with-savepoint). */
  stop: boolean;
  /** When the requester gives up (epoch ms): a worker busy until then no longer contributes. */
  deadlineMs?: number;
}

export interface SnapshotChunk {
  type: 'chunk';
  savepointId: string;
  stage: Stage;
  partition: number;
  seq: number;
  entries: Array<[string, string]>;
}

export interface SnapshotDone extends TaskSummary {
  type: 'done';
  savepointId: string;
  stage: Stage;
  partition: number;
  chunks: number;
  nextOffset: number | null;
  worker: string;
  /** The configuration the worker runs with (the manifest records it). */
  config: JobShape;
}

export type SavepointRecord = SnapshotChunk | SnapshotDone;

/** Chunks stay well below Kafka's default 1 MB record limit. */
const chunkBytes = 512 * 1024;

/** Splits a task snapshot into chunk records and its closing `done` record. */
export function snapshotRecords(savepointId: string, snapshot: TaskSnapshot, summary: TaskSummary, worker: string, config: JobShape): SavepointRecord[] {
  const records: SavepointRecord[] = [];
  let entries: Array<[string, string]> = [];
  let size = 0;
  const cut = (): void => {
    records.push({ type: 'chunk', savepointId, stage: snapshot.stage, partition: snapshot.partition, seq: records.length, entries });
    entries = [];
    size = 0;
  };
  for (const entry of snapshot.entries) {
    entries.push(entry);
    size += entry[0].length + entry[1].length + 8;
    if (size >= chunkBytes) cut();
  }
  if (entries.length > 0) cut();
  records.push({ type: 'done', savepointId, stage: snapshot.stage, partition: snapshot.partition, chunks: records.length, nextOffset: snapshot.nextOffset, worker, config, ...summary });
  return records;
}

/** Reassembles task snapshots from records (in log order); a task is complete once its chunks are all in. */
export class SnapshotAssembler {
  private readonly chunks = new Map<string, SnapshotChunk[]>();
  private readonly complete = new Map<string, { snapshot: TaskSnapshot; summary: TaskSummary; worker: string; config: JobShape }>();

  constructor(private readonly savepointId: string) {}

  add(record: SavepointRecord): void {
    if (record.savepointId !== this.savepointId) return;
    const task = `${record.stage}-${record.partition}`;
    if (this.complete.has(task)) return; // a task that moved and was contributed twice: the first wins
    if (record.type === 'chunk') {
      let list = this.chunks.get(task);
      if (list === undefined) this.chunks.set(task, (list = []));
      list[record.seq] = record;
      return;
    }
    const list = this.chunks.get(task) ?? [];
    if (list.length !== record.chunks || list.some((chunk) => chunk === undefined)) {
      this.chunks.delete(task); // an incomplete contribution (a worker died midway): wait for another
      return;
    }
    this.chunks.delete(task);
    this.complete.set(task, {
      snapshot: { stage: record.stage, partition: record.partition, nextOffset: record.nextOffset, entries: list.flatMap((chunk) => chunk.entries) },
      summary: { watermarkMs: record.watermarkMs, openWindowKeys: record.openWindowKeys },
      worker: record.worker,
      config: record.config,
    });
  }

  has(stage: Stage, partition: number): boolean {
    return this.complete.has(`${stage}-${partition}`);
  }

  get size(): number {
    return this.complete.size;
  }

  snapshots(): Array<{ snapshot: TaskSnapshot; summary: TaskSummary; worker: string; config: JobShape }> {
    return [...this.complete.values()];
  }
}
