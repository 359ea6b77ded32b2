// What the worker's client thread and its source job (job/source-host.ts) say to each other. The
// job holds every source task's topology (SourcePanes, SourceStage): the per-click counting and
// everything it closes and forwards. The client thread keeps the Kafka clients, the stores and
// the delivery modes, and produces what the job returns. Every message is structured-clone data,
// so one protocol serves the job in the same thread (the default) and in a worker thread
// (--job-thread), where its numeric columns travel as transferred buffers.

import type { StateChanges } from '../topology/state-keys.js';
import type { WindowSpec } from '../topology/windows.js';
import type { UrlIdsUpdate } from './url-ids.js';

/** What the job needs to know of the job's settings (sent once, when the job starts). */
export interface SourceJobSettings {
  windows: WindowSpec;
  maxOutOfOrdernessMs: number;
  mergePartitions: number;
}

/**
 * A batch of admitted clicks, in input order: task, url and event time per click. `touched` lists
 * the tasks the batch touched, in the order first touched (each is flushed at the end, as it
 * always was); `wake` those of them that came back from idle with these clicks.
 */
export interface ClickBatch {
  op: 'batch';
  count: number;
  task: Uint32Array;
  url: Uint32Array;
  urls: UrlIdsUpdate;
  time: Float64Array;
  touched: number[];
  wake: number[];
}

export type SourceRequest =
  | { op: 'open'; task: number; partition: number; entries: Array<[string, string]> }
  | { op: 'close'; task: number }
  | ClickBatch
  /** Checkpoint: the task's state changes since the last take. */
  | { op: 'take'; task: number }
  /** The task opened: tell the merge stage its watermark (once). */
  | { op: 'announce'; task: number }
  /** The task's last checkpoint completed: release what it held. */
  | { op: 'checkpointed'; task: number }
  /** The task's partition went idle. */
  | { op: 'idle'; task: number }
  /** The worker read a backlog to its end: tell the merge stage (SourceStage.caughtUp). */
  | { op: 'caughtUp'; task: number };

/** What the client thread shows of a task without asking (status, logs). */
export interface SourceView {
  watermarkMs: number;
  openKeys: number;
  awaitingCheckpoint: boolean;
}

/**
 * Partials to send, encoded, in order: record i is bytes[ends[i-1]..ends[i]) for merge partition
 * mergePartition[i], with no key.
 */
export interface EncodedPartials {
  count: number;
  bytes: Uint8Array;
  ends: Uint32Array;
  mergePartition: Uint32Array;
}

/** Clicks of a batch that missed some of their windows: batch index, event time, MISSED_* bits, the watermark then. */
export interface LateClicks {
  count: number;
  index: Uint32Array;
  timeMs: Float64Array;
  missed: Uint8Array;
  watermarkMs: Float64Array;
}

export type SourceResponse =
  | { op: 'opened'; restoredLatenessMs: number | undefined; skipped: Array<[string, string]>; view: SourceView }
  | { op: 'closed' }
  | { op: 'batch'; late: LateClicks; partials: EncodedPartials; views: Array<[number, number]> }
  | { op: 'taken'; changes: StateChanges; view: SourceView }
  | { op: 'routed'; partials: EncodedPartials; view: SourceView }
  | { op: 'fail'; message: string; stack: string | undefined };

/**
 * The buffers of a message worth moving rather than copying between threads. Empty late clicks
 * and partials are not moved: the job answers most batches with one shared empty instance of
 * each, which a transfer would detach (and a second transfer of it would throw).
 */
export function transferables(message: SourceRequest | SourceResponse): ArrayBuffer[] {
  switch (message.op) {
    case 'batch':
      if ('task' in message) return [message.task.buffer as ArrayBuffer, message.url.buffer as ArrayBuffer, message.time.buffer as ArrayBuffer];
      return [...lateBuffers(message.late), ...partialBuffers(message.partials)];
    case 'routed':
      return partialBuffers(message.partials);
    default:
      return [];
  }
}

function lateBuffers(late: LateClicks): ArrayBuffer[] {
  return late.count === 0 ? [] : ([late.index.buffer, late.timeMs.buffer, late.missed.buffer, late.watermarkMs.buffer] as ArrayBuffer[]);
}

function partialBuffers(partials: EncodedPartials): ArrayBuffer[] {
  return partials.count === 0 ? [] : ([partials.bytes.buffer, partials.ends.buffer, partials.mergePartition.buffer] as ArrayBuffer[]);
}
