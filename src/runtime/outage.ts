// Turns a stream of failed and successful broker calls into two log events: the outage began,
// and it ended (with its length). A worker keeps its state in memory through an outage and
// retries on its own; one line each way tells the operator what happened without a line per
// retry. A blip (failures for less than `graceMs`, e.g. one stale event) is not an outage.
// Pure: the caller passes the time.

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
