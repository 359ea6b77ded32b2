// The source job: every source task's topology, driven by the requests of job/protocol.ts. Pure
// logic with no I/O: the same object answers in the worker's own thread or in a worker thread
// (job/source-thread.ts). It returns partials encoded, so the client thread only produces them.

import { partialCodec } from '../codec/messages.js';
import { SourcePanes } from '../topology/source-panes.js';
import { SourceStage, type RoutedPartial } from '../topology/source-stage.js';
import { UrlList } from './url-ids.js';
import type { ClickBatch, EncodedPartials, LateClicks, SourceJobSettings, SourceRequest, SourceResponse, SourceView } from './protocol.js';

export class SourceHost {
  private readonly stages = new Map<number, SourceStage>();
  private readonly urls = new UrlList();
  /** Set by the first request that threw: a stage may be half-changed, so nothing more is taken. */
  private failure: string | undefined;

  constructor(private readonly settings: SourceJobSettings) {}

  /** Answers one request; a request that throws is answered with `fail`, and so is every later one. */
  handle(request: SourceRequest): SourceResponse {
    if (this.failure !== undefined) return { op: 'fail', message: `the source job failed earlier: ${this.failure}`, stack: undefined };
    try {
      return this.answer(request);
    } catch (err) {
      this.failure = (err as Error).message;
      return { op: 'fail', message: this.failure, stack: (err as Error).stack };
    }
  }

  private answer(request: SourceRequest): SourceResponse {
    switch (request.op) {
      case 'open':
        return this.open(request.task, request.partition, request.entries);
      case 'close':
        this.stages.delete(request.task);
        return { op: 'closed' };
      case 'batch':
        return this.batch(request);
      case 'take': {
        const stage = this.stage(request.task);
        return { op: 'taken', changes: stage.panes.takeChanges(), view: view(stage) };
      }
      case 'announce':
      case 'checkpointed':
      case 'idle':
      case 'caughtUp': {
        const stage = this.stage(request.task);
        const routed: RoutedPartial[] = [];
        if (request.op === 'announce') stage.announce(routed);
        else if (request.op === 'checkpointed') stage.checkpointed(routed);
        else if (request.op === 'caughtUp') stage.caughtUp(routed);
        else stage.setIdle(true, routed);
        return { op: 'routed', partials: encodePartials(routed), view: view(stage) };
      }
    }
  }

  private open(task: number, partition: number, entries: Array<[string, string]>): SourceResponse {
    if (this.stages.has(task)) throw new Error(`source task ${task} is open already`);
    const { windows, maxOutOfOrdernessMs, mergePartitions } = this.settings;
    const skipped: Array<[string, string]> = [];
    const panes = SourcePanes.restore(windows, maxOutOfOrdernessMs, entries, (key, why) => skipped.push([key, why]));
    const stage = new SourceStage(partition, mergePartitions, windows.paneMs, panes);
    this.stages.set(task, stage);
    return { op: 'opened', restoredLatenessMs: panes.restoredLatenessMs, skipped, view: view(stage) };
  }

  private batch(batch: ClickBatch): SourceResponse {
    this.urls.apply(batch.urls);
    let late = NO_LATE_CLICKS;
    let stage: SourceStage | undefined;
    let stageTask = -1;
    for (let i = 0; i < batch.count; i++) {
      const task = batch.task[i]!;
      if (task !== stageTask) {
        stage = this.stage(task);
        stageTask = task;
      }
      const missed = stage!.add(this.urls.url(batch.url[i]!), batch.time[i]!);
      if (missed !== 0) {
        if (late.count === late.index.length) late = grown(late, batch.count);
        late.index[late.count] = i;
        late.timeMs[late.count] = batch.time[i]!;
        late.missed[late.count] = missed;
        late.watermarkMs[late.count] = stage!.panes.watermarkMs;
        late.count++;
      }
    }
    const routed: RoutedPartial[] = [];
    const views: Array<[number, number]> = [];
    const waking = new Set(batch.wake);
    for (const task of batch.touched) {
      const touched = this.stage(task);
      if (waking.has(task)) touched.setIdle(false, routed);
      touched.flush(routed);
      views.push([task, touched.panes.watermarkMs]);
    }
    return { op: 'batch', late, partials: encodePartials(routed), views };
  }

  private stage(task: number): SourceStage {
    const stage = this.stages.get(task);
    if (stage === undefined) throw new Error(`no source task ${task} is open`);
    return stage;
  }
}

function view(stage: SourceStage): SourceView {
  return { watermarkMs: stage.panes.watermarkMs, openKeys: stage.panes.openKeyCount, awaitingCheckpoint: stage.awaitingCheckpoint };
}

/**
 * A batch's answer when none of its clicks was late (most batches), never changed and never
 * transferred (protocol.ts): even empty, four typed arrays per batch cost 0.075 s per 5 M clicks.
 */
const NO_LATE_CLICKS: LateClicks = lateClicks(0);

/** The same for a request that routed no partial. */
const NO_PARTIALS: EncodedPartials = { count: 0, bytes: new Uint8Array(0), ends: new Uint32Array(0), mergePartition: new Uint32Array(0) };

function lateClicks(capacity: number): LateClicks {
  return { count: 0, index: new Uint32Array(capacity), timeMs: new Float64Array(capacity), missed: new Uint8Array(capacity), watermarkMs: new Float64Array(capacity) };
}

/**
 * Room for more late clicks, at most one per click of the batch. Grown on demand: about 1 % of
 * clicks are late, and four columns sized to every batch (21 KB of zeroed memory per thousand
 * clicks) cost the client thread 0.17 s per 5 M clicks, besides the collections they caused.
 */
function grown(late: LateClicks, batchCount: number): LateClicks {
  const more = lateClicks(Math.min(batchCount, Math.max(16, late.index.length * 2)));
  more.index.set(late.index);
  more.timeMs.set(late.timeMs);
  more.missed.set(late.missed);
  more.watermarkMs.set(late.watermarkMs);
  more.count = late.count;
  return more;
}

/** Encodes partials into one buffer of their own (never a pooled one: it may be transferred). */
export function encodePartials(routed: RoutedPartial[]): EncodedPartials {
  if (routed.length === 0) return NO_PARTIALS;
  const encoded = routed.map((r) => partialCodec.encode(r.partial));
  let total = 0;
  for (const bytes of encoded) total += bytes.length;
  const out: EncodedPartials = { count: routed.length, bytes: new Uint8Array(total), ends: new Uint32Array(routed.length), mergePartition: new Uint32Array(routed.length) };
  let at = 0;
  encoded.forEach((bytes, i) => {
    out.bytes.set(bytes, at);
    at += bytes.length;
    out.ends[i] = at;
    out.mergePartition[i] = routed[i]!.mergePartition;
  });
  return out;
}
