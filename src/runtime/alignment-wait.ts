// Under exactly-once, a worker whose every source partition waits for watermark alignment waits
// for the other partitions' watermarks, which it learns from the partials its merge tasks read.
// But its own open transaction holds partials on every merge partition (each source task sends
// its watermark to all of them), and a read_committed reader reads no partition past an open
// transaction: its own merge tasks, and every other worker's, stop there. Paused, it reads no
// new clicks, so the catch-up rule never finds the end of a backlog, and that transaction stayed
// open until the periodic checkpoint: the worker waited for news it was itself holding back, one
// checkpoint interval per pause (seen with a 10-minute interval: paused for good in a test). So
// it checkpoints as such a wait begins, and again while clicks prefetched before the pause are
// still read (their partials open the next transaction), or after a checkpoint released what an
// idle partition held (its watermark goes out in the next one). Pure: the worker loop feeds it.

export class AlignmentWaitCheckpoints {
  /** When the current wait began; undefined while some source partition may read. */
  private waitStartedAtMs: number | undefined;
  /** Clicks read since the last checkpoint: their partials are in the open transaction. */
  private clicksSinceCheckpoint = 0;
  /** Held watermarks went out after the last checkpoint (`partialsSent`). */
  private releasedSinceCheckpoint = false;

  /** @param minGapMs the least time between two checkpoints this rule asks for. */
  constructor(private readonly minGapMs: number) {}

  /**
   * Feeds one round; true when the worker should checkpoint now: its source partitions all
   * wait for alignment, and either no checkpoint has started since that wait began or clicks
   * were read since the last one; and the last one is at least `minGapMs` old. Once the
   * prefetched clicks are read, a wait asks for nothing more: what the worker reads meanwhile
   * (others' partials) is left to the other rules and the periodic schedule.
   */
  round(clicksRead: number, sourcesWaitForAlignment: boolean, nowMs: number, lastCheckpointAtMs: number): boolean {
    this.clicksSinceCheckpoint += clicksRead;
    if (!sourcesWaitForAlignment) {
      this.waitStartedAtMs = undefined;
      return false;
    }
    this.waitStartedAtMs ??= nowMs;
    const open = lastCheckpointAtMs < this.waitStartedAtMs || this.clicksSinceCheckpoint > 0 || this.releasedSinceCheckpoint;
    return open && nowMs - lastCheckpointAtMs >= this.minGapMs;
  }

  /** A checkpoint released what idle source tasks held: it went into the open transaction. */
  partialsSent(): void {
    this.releasedSinceCheckpoint = true;
  }

  /** A checkpoint (of any kind) started: what was read and sent is in it. */
  checkpointed(): void {
    this.clicksSinceCheckpoint = 0;
    this.releasedSinceCheckpoint = false;
  }
}
