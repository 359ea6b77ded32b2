// The client thread's handle on the source job (job/source-host.ts): in this thread, or in a
// worker thread so that counting clicks runs beside the Kafka client's work on this one.
//
// The rule that keeps a split job exactly as correct as one thread: every request is answered in
// order, and only `dispatch` leaves its answer pending. Any other request (and `settle`) first
// takes every pending answer, in order, and hands it to its handler, which produces its records.
// So the worker sees the job's state and outputs exactly as if every batch had been processed
// when dispatched, wherever it looks: at a checkpoint, a rebalance, an idle probe, a savepoint.
// The thread's waits are synchronous (Atomics.wait): short, since the job answers one batch of
// about a thousand clicks in a few milliseconds, and free of any interleaving with other events.

import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { SourceHost } from './source-host.js';
import { transferables, type ClickBatch, type SourceJobSettings, type SourceRequest, type SourceResponse } from './protocol.js';

export type BatchHandler = (response: Extract<SourceResponse, { op: 'batch' }>) => void;

export interface SourceJob {
  /** Hands a batch over; `done` gets its answer by the next call, settle or dispatch at the latest. */
  dispatch(batch: ClickBatch, done: BatchHandler): void;
  /** Answers a request, after every batch dispatched before it. Throws if the job failed. */
  call(request: Exclude<SourceRequest, ClickBatch>): SourceResponse;
  /** Takes every pending batch answer. */
  settle(): void;
  /** Ends the job (its thread, if it has one). */
  stop(): Promise<void>;
}

/** A job that failed: its state may be half-changed, so the worker stops (no final checkpoint). */
export class SourceJobError extends Error {}

function checked(response: SourceResponse): SourceResponse {
  if (response.op === 'fail') throw new SourceJobError(`source job: ${response.message}`);
  return response;
}

/** The job in this thread: every answer at once. */
export class InlineSourceJob implements SourceJob {
  private readonly host: SourceHost;

  constructor(settings: SourceJobSettings) {
    this.host = new SourceHost(settings);
  }

  dispatch(batch: ClickBatch, done: BatchHandler): void {
    done(checked(this.host.handle(batch)) as Extract<SourceResponse, { op: 'batch' }>);
  }

  call(request: Exclude<SourceRequest, ClickBatch>): SourceResponse {
    return checked(this.host.handle(request));
  }

  settle(): void {}

  async stop(): Promise<void> {}
}

/** How long a request may go unanswered before the job counts as dead (a batch takes milliseconds). */
const ANSWER_TIMEOUT_MS = 120_000;

/** The job in a worker thread of its own. */
export class ThreadSourceJob implements SourceJob {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  /** Answers posted by the job thread (it notifies after each). */
  private readonly posted: Int32Array;
  private received = 0;
  /** Handlers of dispatched batches, oldest first. */
  private readonly pending: BatchHandler[] = [];
  private failure: Error | undefined;

  constructor(settings: SourceJobSettings, resourceLimits: { maxYoungGenerationSizeMb?: number } = {}) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.posted = new Int32Array(new SharedArrayBuffer(4));
    this.worker = new Worker(new URL('./source-thread.js', import.meta.url), {
      workerData: { port: port2, posted: this.posted, settings },
      transferList: [port2],
      resourceLimits,
    });
    // Neither keeps the process alive: the worker stops the job at shutdown.
    this.worker.unref();
    this.port.unref();
    this.worker.on('error', (err) => (this.failure ??= err));
  }

  dispatch(batch: ClickBatch, done: BatchHandler): void {
    this.post(batch);
    this.pending.push(done);
  }

  call(request: Exclude<SourceRequest, ClickBatch>): SourceResponse {
    this.settle();
    this.post(request);
    return this.answer();
  }

  settle(): void {
    while (this.pending.length > 0) {
      const done = this.pending.shift()!;
      done(this.answer() as Extract<SourceResponse, { op: 'batch' }>);
    }
  }

  async stop(): Promise<void> {
    this.port.close();
    await this.worker.terminate();
  }

  private post(request: SourceRequest): void {
    if (this.failure !== undefined) throw new SourceJobError(`the source job failed earlier: ${this.failure.message}`);
    this.port.postMessage(request, transferables(request));
  }

  /** The next answer, checked. A job that failed (or stopped answering) fails every later request at once. */
  private answer(): SourceResponse {
    let response: SourceResponse;
    try {
      response = this.receive();
    } catch (err) {
      this.fail(err as Error);
      throw err;
    }
    if (response.op === 'fail') this.fail(new Error(response.message));
    return checked(response);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    // No answer will come for these: nothing may wait for them.
    this.pending.length = 0;
  }

  /** The next answer; waits for it, without letting anything else run meanwhile. */
  private receive(): SourceResponse {
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    for (;;) {
      const got = receiveMessageOnPort(this.port);
      if (got !== undefined) {
        // Kept in step with the shared Int32 counter, which wraps.
        this.received = (this.received + 1) | 0;
        return got.message as SourceResponse;
      }
      if (this.failure !== undefined) throw new SourceJobError(`the source job failed earlier: ${this.failure.message}`);
      // A thread that died (out of memory) is seen only through the timeout: its 'error' and
      // 'exit' events cannot run while this thread waits.
      if (Date.now() > deadline) throw new SourceJobError(`source job thread did not answer in ${ANSWER_TIMEOUT_MS / 1000} s`);
      const posted = Atomics.load(this.posted, 0);
      // Posted but not visible yet: look again at once; otherwise sleep until the next answer.
      if (posted === this.received) Atomics.wait(this.posted, 0, posted, 50);
    }
  }
}
