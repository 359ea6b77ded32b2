// Turns a stream of failed and successful broker calls into two log events: the outage began,
// and it ended (with its length). A worker keeps its state in memory through an outage and
// retries on its own; one line each way tells the operator what happened without a line per
// retry. Pure: the caller passes the time.

export interface OutageEnd {
  durationMs: number;
  failures: number;
}

export class OutageTracker {
  private sinceMs: number | undefined;
  private failures = 0;

  /** Whether the broker is currently considered unreachable. */
  get inOutage(): boolean {
    return this.sinceMs !== undefined;
  }

  /** Records a failed call; true when it begins an outage (report it then, and only then). */
  failed(nowMs: number): boolean {
    this.failures++;
    if (this.sinceMs !== undefined) return false;
    this.sinceMs = nowMs;
    return true;
  }

  /** Records a successful call; returns the outage it ends, if any. */
  succeeded(nowMs: number): OutageEnd | undefined {
    if (this.sinceMs === undefined) return undefined;
    const end = { durationMs: nowMs - this.sinceMs, failures: this.failures };
    this.sinceMs = undefined;
    this.failures = 0;
    return end;
  }
}
