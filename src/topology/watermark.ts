// Watermarks with bounded out-of-orderness, and idleness, per source partition. A watermark W
// says: no event older than W is expected any more; a window [s, e) closes once W >= e.
// Idleness is a separate small tracker, fed wall-clock time as data (no clock is read here).

/** Watermark before any event: nothing can close yet. Kept finite so it survives int64 encoding. */
export const NO_WATERMARK = Number.MIN_SAFE_INTEGER;

export class BoundedOutOfOrderness {
  private maxEventTimeMs = NO_WATERMARK;

  constructor(private readonly boundMs: number) {}

  /** Highest event time seen so far (NO_WATERMARK before the first event). */
  get maxEventTime(): number {
    return this.maxEventTimeMs;
  }

  set maxEventTime(ms: number) {
    this.maxEventTimeMs = ms;
  }

  observe(eventTimeMs: number): void {
    if (eventTimeMs > this.maxEventTimeMs) this.maxEventTimeMs = eventTimeMs;
  }

  get watermarkMs(): number {
    return this.maxEventTimeMs === NO_WATERMARK ? NO_WATERMARK : this.maxEventTimeMs - this.boundMs;
  }
}

/**
 * A partition is idle when it has had no record for `timeoutMs` of wall-clock time and the
 * consumer has read everything it holds. Requiring "caught up" keeps a partition that is merely
 * slow to be read (a backlog, a worker starting) from being skipped: that would make its clicks late.
 */
export class IdlenessTracker {
  private lastActivityMs: number;
  private idle = false;

  constructor(private readonly timeoutMs: number, nowMs: number) {
    this.lastActivityMs = nowMs;
  }

  get isIdle(): boolean {
    return this.idle;
  }

  /** A record arrived. Returns true if this ends an idle period. */
  recordSeen(nowMs: number): boolean {
    this.lastActivityMs = nowMs;
    if (!this.idle) return false;
    this.idle = false;
    return true;
  }

  /**
   * Restarts the quiet timer of a partition that is not idle: after a broker outage, time
   * without records says nothing about the stream, and records may still be on their way.
   */
  postpone(nowMs: number): void {
    if (!this.idle) this.lastActivityMs = Math.max(this.lastActivityMs, nowMs);
  }

  /** Quiet for the whole timeout and not idle yet: worth asking whether it is caught up. */
  quietLongEnough(nowMs: number): boolean {
    return !this.idle && nowMs - this.lastActivityMs >= this.timeoutMs;
  }

  /** Returns true if the partition becomes idle now. */
  check(nowMs: number, caughtUp: boolean): boolean {
    if (this.idle || !caughtUp || nowMs - this.lastActivityMs < this.timeoutMs) return false;
    this.idle = true;
    return true;
  }
}
