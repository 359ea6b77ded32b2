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

  constructor(private readonly graceMs = 1_000) {}

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

  /** Records a successful call; returns the reported outage it ends, if any. */
  succeeded(nowMs: number): OutageEnd | undefined {
    if (this.sinceMs === undefined) return undefined;
    const end = this.reported ? { durationMs: nowMs - this.sinceMs, failures: this.failures } : undefined;
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
  private lastAnswerAt = 0;
  private readonly returnListeners: Array<(nowMs: number) => void> = [];

  constructor(
    private readonly brokers: string,
    private readonly log: Logger,
    /** librdkafka's codes for "all brokers down" and "transport failure". */
    private readonly downCodes: readonly number[],
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
    // Right after a successful call such an event is a stale one from before (librdkafka queues
    // them): counting it would report a second, 0 s outage.
    if (down && Date.now() - this.lastAnswerAt > 2_000) this.failed(err.message);
    else this.log.debug('kafka client error', { code: err.code, reason: err.message });
  }

  /** A broker call failed: the first failure of an outage is reported, retries are not. */
  failed(reason: string): void {
    if (this.tracker.failed(Date.now())) {
      this.log.warn('broker unreachable: keeping state in memory and retrying until it returns', { brokers: this.brokers, reason });
    }
  }

  /** A broker call succeeded. */
  answered(): void {
    const now = Date.now();
    this.lastAnswerAt = now;
    const end = this.tracker.succeeded(now);
    if (end === undefined) return;
    this.log.warn('broker reachable again', { outageMs: end.durationMs, failedCalls: end.failures });
    for (const listener of this.returnListeners) listener(now);
  }

  /**
   * A broker call a task cannot do without (offsets, changelog reads): retried every second, as
   * part of an outage, for up to `limitMs`; then the error, which stops the worker.
   */
  async retry<T>(what: string, call: () => Promise<T>, limitMs = 300_000): Promise<T> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      try {
        const result = await call();
        this.answered();
        return result;
      } catch (err) {
        if (Date.now() >= deadline) throw new Error(`${what} failed for ${Math.round(limitMs / 60_000)} minutes: ${(err as Error).message}`);
        this.failed(`${what}: ${(err as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }
}
