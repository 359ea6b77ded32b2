// Broker outages. OutageTracker (pure: the caller passes the time) turns a stream of failed and
// successful broker calls into two events: the outage began, and it ended (with its length).
// BrokerHealth feeds it from the worker's calls and client events and logs those two events. A
// worker keeps its state in memory through an outage and retries on its own; one line each way
// tells the operator what happened without a line per retry. A blip (failures for less than
// `graceMs`, e.g. one stale event) is not an outage.

import type { Logger } from '../log.js';

export interface OutageEnd {
  durationMs: number;
  failures: number;
}

export class OutageTracker {
  private sinceMs: number | undefined;
  private reported = false;
  private failures = 0;
  /** When the latest call that succeeded (and counted) was sent. */
  private lastAnswerSentMs = Number.NEGATIVE_INFINITY;
  /** When a success last ended a run of failures (reported as an outage or not). */
  private lastRunEndMs = Number.NEGATIVE_INFINITY;
  private lastEndMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly graceMs = 1_000,
    /** How long after an outage's end a client's "brokers down" event is taken for a stale one from it. */
    private readonly staleMs = 2_000,
  ) {}

  /** Whether the broker is currently considered unreachable (an outage was reported). */
  get inOutage(): boolean {
    return this.reported;
  }

  /** Records a failed call; true when the outage is to be reported now (once per outage). */
  failed(nowMs: number): boolean {
    this.failures++;
    this.sinceMs ??= nowMs;
    if (this.reported || nowMs - this.sinceMs < this.graceMs) return false;
    this.reported = true;
    return true;
  }

  /**
   * A client said the brokers are down (librdkafka says so once per change, and may deliver it
   * late). Right after an outage ended it is a stale one from it: ignore it. Otherwise it counts
   * as a failure ('report': the outage begins now, as with `failed`), and unless that reports the
   * outage the caller asks `stillDown` after a while ('confirm'): the worker's own calls may hang
   * through a whole outage (a commit waits for the broker) without one failing.
   */
  clientSaysDown(nowMs: number): 'stale' | 'report' | 'confirm' {
    if (nowMs - this.lastEndMs < this.staleMs) return 'stale';
    return this.failed(nowMs) ? 'report' : 'confirm';
  }

  /**
   * Asked a while after `clientSaysDown(eventMs)`: true when no call sent since has succeeded,
   * and the failures the event joined have not ended since, so the outage is to be reported now
   * (once, as `failed` would). An event that came during an outage which has ended meanwhile
   * must not start another.
   */
  stillDown(eventMs: number, nowMs: number): boolean {
    if (this.lastAnswerSentMs >= eventMs || this.lastRunEndMs >= eventMs) return false;
    return this.failed(nowMs);
  }

  /**
   * Records a successful call, sent at `startedMs`; returns the reported outage it ends, if any.
   * A call sent before the failures began answers for then, not for now (a checkpoint whose
   * reply was on its way when the broker went away, delivered late on a loaded machine): it
   * neither ends the outage nor cancels a "brokers down" event's confirmation.
   */
  succeeded(nowMs: number, startedMs = nowMs): OutageEnd | undefined {
    if (this.sinceMs !== undefined && startedMs < this.sinceMs) return undefined;
    this.lastAnswerSentMs = Math.max(this.lastAnswerSentMs, startedMs);
    if (this.sinceMs === undefined) return undefined;
    this.lastRunEndMs = nowMs;
    const end = this.reported ? { durationMs: nowMs - this.sinceMs, failures: this.failures } : undefined;
    if (end !== undefined) this.lastEndMs = nowMs;
    this.sinceMs = undefined;
    this.reported = false;
    this.failures = 0;
    return end;
  }
}

/** A Kafka client's error event, as the binding reports it. */
export interface ClientError {
  code?: number;
  message: string;
}

/**
 * The worker's view of the broker: every broker call reports how it went here, and the tracker
 * above turns that into one log line when an outage begins and one when it ends. Listeners hear
 * the end (quiet time during an outage must not count towards idleness).
 */
export class BrokerHealth {
  private readonly tracker = new OutageTracker();
  private readonly returnListeners: Array<(nowMs: number) => void> = [];

  constructor(
    private readonly brokers: string,
    private readonly log: Logger,
    /** librdkafka's codes for "all brokers down" and "transport failure". */
    private readonly downCodes: readonly number[],
    /**
     * How long a "brokers down" event waits for a call sent after it to succeed before it is an
     * outage: several checkpoint intervals, so that a loaded machine's next checkpoint is back by then.
     */
    private readonly confirmMs = 8_000,
  ) {}

  get inOutage(): boolean {
    return this.tracker.inOutage;
  }

  onReachableAgain(listener: (nowMs: number) => void): void {
    this.returnListeners.push(listener);
  }

  /** A client's error event: an outage if it says the broker is away. */
  clientError(err: ClientError): void {
    // The binding does not always carry librdkafka's code (-1): the message tells too.
    const down = (err.code !== undefined && this.downCodes.includes(err.code)) || /all broker connections are down|transport failure/i.test(err.message);
    this.log.debug('kafka client error', { code: err.code, reason: err.message });
    if (!down) return;
    const at = Date.now();
    const verdict = this.tracker.clientSaysDown(at);
    if (verdict === 'report') this.reportOutage(err.message);
    if (verdict !== 'confirm') return;
    // A dropped idle connection says "transport failure" too: an outage only if nothing answers
    // meanwhile (checkpoints call the broker every few seconds).
    setTimeout(() => {
      if (this.tracker.stillDown(at, Date.now())) this.reportOutage(err.message);
    }, this.confirmMs).unref();
  }

  /** A broker call failed: the first failure of an outage is reported, retries are not. */
  failed(reason: string): void {
    if (this.tracker.failed(Date.now())) this.reportOutage(reason);
  }

  private reportOutage(reason: string): void {
    this.log.warn('broker unreachable: keeping state in memory and retrying until it returns', { brokers: this.brokers, reason });
  }

  /** A broker call sent at `startedMs` succeeded. */
  answered(startedMs: number): void {
    const now = Date.now();
    const end = this.tracker.succeeded(now, startedMs);
    if (end === undefined) return;
    this.log.warn('broker reachable again', { outageMs: end.durationMs, failedCalls: end.failures });
    for (const listener of this.returnListeners) listener(now);
  }

  /**
   * A broker call a task cannot do without (offsets, changelog reads): retried every second, as
   * part of an outage, for up to `limitMs`; then the error, which stops the worker. `local`: a
   * call librdkafka serves without the broker (a seek): its success does not say the broker
   * answered (taken for one, a seek right after a brokers-down event would cancel the check that
   * confirms the outage).
   */
  async retry<T>(what: string, call: () => Promise<T>, { limitMs = 300_000, local = false }: { limitMs?: number; local?: boolean } = {}): Promise<T> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const startedMs = Date.now();
      try {
        const result = await call();
        if (!local) this.answered(startedMs);
        return result;
      } catch (err) {
        if (Date.now() >= deadline) throw new Error(`${what} failed for ${Math.round(limitMs / 60_000)} minutes: ${(err as Error).message}`);
        this.failed(`${what}: ${(err as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }
}
