// What the savepoint command and the workers say to each other through Kafka (JSON records):
// the command writes a request to the control topic; every worker, at its next checkpoint
// boundary, writes each of its tasks' state to the savepoints topic in chunks, then a `done`
// record per task, then an `end` record naming the tasks of its contribution. Kafka carries it
// all, so workers on other machines take part as well.

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

/**
 * Stop-with-savepoint, second phase (the command writes it to the control topic): `complete`,
 * the directory is written and the workers stop; `abandoned`, it was not, and they read clicks
 * again. Workers wait for one or the other, so a job never stops on an incomplete savepoint.
 */
export interface SavepointOutcome {
  type: 'savepoint-complete' | 'savepoint-abandoned';
  savepointId: string;
  jobId: string;
}

export interface SnapshotChunk {
  type: 'chunk';
  savepointId: string;
  stage: Stage;
  partition: number;
  seq: number;
  entries: Array<[string, string]>;
  /** Who sent it: two workers' contributions of one task (it moved) may interleave in the log. */
  worker: string;
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

/** Closes one worker's contribution: the assembler takes its tasks all together or not at all. */
export interface ContributionEnd {
  type: 'end';
  savepointId: string;
  worker: string;
  tasks: string[];
}

export type SavepointRecord = SnapshotChunk | SnapshotDone | ContributionEnd;

export const taskName = (stage: Stage, partition: number): string => `${stage}-${partition}`;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const whole = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
const word = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 256;
/** The JSON object in `text`, if it is one. */
function jsonObject(text: string): Json | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Chunks of one task: its state over 512 KB chunks; more than this is not a task of ours. */
const MAX_CHUNKS = 1_000_000;

/**
 * A record of the savepoints topic for `savepointId`, if it has the shape workers write, else
 * undefined (anyone who can write to Kafka can write there: a record that does not fit is skipped).
 */
export function parseSavepointRecord(text: string, savepointId: string): SavepointRecord | undefined {
  const v = jsonObject(text);
  if (v === undefined || v.savepointId !== savepointId || !word(v.worker)) return undefined;
  if (v.type === 'end') return Array.isArray(v.tasks) && v.tasks.length <= 100_000 && v.tasks.every(word) ? (v as unknown as ContributionEnd) : undefined;
  if ((v.stage !== 'source' && v.stage !== 'merge') || !whole(v.partition, 100_000)) return undefined;
  if (v.type === 'chunk') {
    const entries = v.entries;
    const pairs = Array.isArray(entries) && entries.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && typeof e[1] === 'string');
    return whole(v.seq, MAX_CHUNKS - 1) && pairs ? (v as unknown as SnapshotChunk) : undefined;
  }
  if (v.type === 'done') {
    const offsetOk = v.nextOffset === null || whole(v.nextOffset);
    const summaryOk = (v.watermarkMs === null || (typeof v.watermarkMs === 'number' && Number.isSafeInteger(v.watermarkMs))) && whole(v.openWindowKeys);
    return whole(v.chunks, MAX_CHUNKS) && offsetOk && summaryOk && isObject(v.config) ? (v as unknown as SnapshotDone) : undefined;
  }
  return undefined;
}

const savepointIdOk = (v: unknown): v is string => typeof v === 'string' && /^[A-Za-z0-9._-]{1,200}$/.test(v);

/** A record of the control topic for `jobId`, if it has a shape `clickstream savepoint` writes. */
export function parseControlRecord(text: string, jobId: string): SavepointRequest | SavepointOutcome | undefined {
  const v = jsonObject(text);
  if (v === undefined || v.jobId !== jobId || !savepointIdOk(v.savepointId)) return undefined;
  if (v.type === 'savepoint-complete' || v.type === 'savepoint-abandoned') return { type: v.type, savepointId: v.savepointId, jobId };
  return parseSavepointRequest(text, jobId);
}

/** A request of the control topic for `jobId`, if it has the shape `clickstream savepoint` writes. */
export function parseSavepointRequest(text: string, jobId: string): SavepointRequest | undefined {
  const v = jsonObject(text);
  if (v === undefined || v.type !== 'savepoint-request' || v.jobId !== jobId) return undefined;
  if (!savepointIdOk(v.savepointId) || typeof v.stop !== 'boolean') return undefined;
  if (v.deadlineMs !== undefined && (typeof v.deadlineMs !== 'number' || !Number.isFinite(v.deadlineMs))) return undefined;
  return v as unknown as SavepointRequest;
}

/** Chunks stay well below Kafka's default 1 MB record limit. */
const chunkBytes = 512 * 1024;

/** Splits a task snapshot into chunk records and its closing `done` record. */
export function snapshotRecords(savepointId: string, snapshot: TaskSnapshot, summary: TaskSummary, worker: string, config: JobShape): SavepointRecord[] {
  const records: SavepointRecord[] = [];
  let entries: Array<[string, string]> = [];
  let size = 0;
  const cut = (): void => {
    records.push({ type: 'chunk', savepointId, stage: snapshot.stage, partition: snapshot.partition, seq: records.length, entries, worker });
    entries = [];
    size = 0;
  };
  for (const entry of snapshot.entries) {
    entries.push(entry);
    size += Buffer.byteLength(entry[0]) + Buffer.byteLength(entry[1]) + 8; // bytes, not UTF-16 units
    if (size >= chunkBytes) cut();
  }
  if (entries.length > 0) cut();
  records.push({ type: 'done', savepointId, stage: snapshot.stage, partition: snapshot.partition, chunks: records.length, nextOffset: snapshot.nextOffset, worker, config, ...summary });
  return records;
}

type Contributed = { snapshot: TaskSnapshot; summary: TaskSummary; worker: string; config: JobShape };

/**
 * Reassembles task snapshots from records (in log order). A worker's contribution counts once its
 * `end` record is in and every task it names is complete. A task contributed twice (it moved to
 * a worker that had not served the request yet, which went on processing it) keeps the snapshot
 * furthest along its input: that worker's outputs already include what came after the first one,
 * so restoring the first would emit those outputs again.
 */
export class SnapshotAssembler {
  /** Per worker, per task: the chunks so far and, once its `done` record checks out, the snapshot. */
  private readonly staged = new Map<string, Map<string, { chunks: SnapshotChunk[]; done?: Contributed }>>();
  private readonly complete = new Map<string, Contributed>();

  constructor(private readonly savepointId: string) {}

  add(record: SavepointRecord): void {
    if (record.savepointId !== this.savepointId) return;
    let byTask = this.staged.get(record.worker);
    if (byTask === undefined) this.staged.set(record.worker, (byTask = new Map()));
    if (record.type === 'end') {
      this.staged.delete(record.worker);
      const done = record.tasks.map((task) => byTask.get(task)?.done);
      // A task missing from its own contribution (a chunk lost): the whole contribution is ignored.
      if (done.some((d) => d === undefined)) return;
      for (const [i, task] of record.tasks.entries()) {
        const existing = this.complete.get(task);
        if (existing === undefined || inputPosition(done[i]!) >= inputPosition(existing)) this.complete.set(task, done[i]!);
      }
      return;
    }
    const task = taskName(record.stage, record.partition);
    let entry = byTask.get(task);
    if (entry === undefined) byTask.set(task, (entry = { chunks: [] }));
    if (record.type === 'chunk') {
      entry.chunks[record.seq] = record;
      return;
    }
    const { chunks } = entry;
    if (chunks.length !== record.chunks) return;
    // Every chunk, holes included (array methods skip holes: a lost middle chunk would pass).
    for (let i = 0; i < chunks.length; i++) if (chunks[i] === undefined) return;
    entry.done = {
      snapshot: { stage: record.stage, partition: record.partition, nextOffset: record.nextOffset, entries: chunks.flatMap((chunk) => chunk.entries) },
      summary: { watermarkMs: record.watermarkMs, openWindowKeys: record.openWindowKeys },
      worker: record.worker,
      config: record.config,
    };
  }

  has(stage: Stage, partition: number): boolean {
    return this.complete.has(taskName(stage, partition));
  }

  get size(): number {
    return this.complete.size;
  }

  snapshots(): Contributed[] {
    return [...this.complete.values()];
  }
}

/** How far a snapshot is along its input partition (a task that read nothing yet: before 0). */
function inputPosition(contributed: Contributed): number {
  return contributed.snapshot.nextOffset ?? -1;
}
