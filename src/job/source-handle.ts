// A source task's topology as the client thread sees it: each call is a request to the source job
// (job/source-job.ts), and what the job routes to the merge stage is produced as it answers. What
// the worker shows without asking (watermark, state size) is the last the job said.

import type { StateChanges } from '../topology/state-keys.js';
import { barrierPartials } from '../topology/source-stage.js';
import { encodePartials } from './source-host.js';
import type { EncodedPartials, SourceResponse, SourceView } from './protocol.js';
import type { SourceJob } from './source-job.js';

/** What opening a source task in the job needs beside the task itself. */
export interface SourceJobAccess {
  job: SourceJob;
  /** Produces partials the job returned. */
  send(partials: EncodedPartials): void;
  mergePartitions: number;
}

let lastTaskId = 0;

export class SourceHandle {
  /** The job's name for this task: never reused, so a partition assigned back is a new task. */
  readonly id = ++lastTaskId;
  private announced = false;
  private closed = false;
  view: SourceView;
  restoredLatenessMs: number | undefined;
  /** State entries the job skipped as not state of a source task: [key, why]. */
  readonly skipped: Array<[string, string]>;

  constructor(
    private readonly access: SourceJobAccess,
    readonly sourcePartition: number,
    entries: Array<[string, string]>,
  ) {
    const opened = this.call({ op: 'open', task: this.id, partition: sourcePartition, entries }) as Extract<SourceResponse, { op: 'opened' }>;
    this.view = opened.view;
    this.restoredLatenessMs = opened.restoredLatenessMs;
    this.skipped = opened.skipped;
  }

  /** The watermark after a batch (the job says it for every task a batch touched). */
  sawWatermark(watermarkMs: number): void {
    this.view.watermarkMs = watermarkMs;
  }

  get watermarkMs(): number {
    return this.view.watermarkMs;
  }

  /** True while partials wait for a checkpoint of this task. */
  get awaitingCheckpoint(): boolean {
    return this.view.awaitingCheckpoint;
  }

  /** Once, after the task opened: its restored watermark (SourceStage.announce). */
  announce(): void {
    if (this.announced) return;
    this.announced = true;
    this.route('announce');
  }

  /** Its last checkpoint completed: what it held goes out. */
  checkpointed(): void {
    if (this.view.awaitingCheckpoint) this.route('checkpointed');
  }

  /** Its partition went idle. */
  goIdle(): void {
    this.route('idle');
  }

  /** The worker read a backlog to its end (SourceStage.caughtUp). */
  caughtUp(): void {
    this.route('caughtUp');
  }

  /** Stop-with-savepoint: sends the barrier, after everything this task sent (no state involved). */
  barrier(savepointId: string): void {
    this.access.job.settle();
    this.access.send(encodePartials(barrierPartials(this.sourcePartition, this.access.mergePartitions, savepointId)));
  }

  takeChanges(): StateChanges {
    const taken = this.call({ op: 'take', task: this.id }) as Extract<SourceResponse, { op: 'taken' }>;
    this.view = taken.view;
    return taken.changes;
  }

  /** The task closed: the job forgets it (what it sent for earlier batches is produced first). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.call({ op: 'close', task: this.id });
  }

  private route(op: 'announce' | 'checkpointed' | 'idle' | 'caughtUp'): void {
    const routed = this.call({ op, task: this.id }) as Extract<SourceResponse, { op: 'routed' }>;
    this.view = routed.view;
    this.access.send(routed.partials);
  }

  private call(request: Parameters<SourceJob['call']>[0]): SourceResponse {
    return this.access.job.call(request);
  }
}
