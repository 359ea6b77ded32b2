// When a worker that was reading a backlog runs dry, its last records wait in uncommitted state
// (and, in exactly-once mode, in an open transaction) until the next periodic checkpoint, and the
// merge stage only sees the source stage's last partials after that checkpoint: the end of a
// catch-up waited up to one checkpoint interval per stage hop. This rule checkpoints at once
// instead, and only after a catch-up (or a release of what idle partitions held, at its end): a
// worker fed live traffic reads partial batches and keeps the periodic schedule (checkpoints are
// transactions; a trickle of clicks must not make one per loop). Pure: the worker loop feeds it
// what each round read.

/** What one round of the worker loop read. */
export interface RoundRead {
  /** Records read from the clicks topic (the source stage). */
  clicks: number;
  /** Records read from both members. */
  total: number;
  /** The most records one read may return: a read that returns this many found a backlog. */
  batchSize: number;
  /** Fetching was paused for backpressure (or outputs still wait, or every source partition waits for watermark alignment): an empty read then says nothing. */
  blocked: boolean;
}

/** Early checkpoints per catch-up: the clicks' tail, then the tail of the partials it released. */
const earlyCheckpointsPerCatchUp = 2;

export class CatchUpCheckpoints {
  /**
   * A full batch was read (or, at a catch-up's end, idle partitions released what they held)
   * since the worker last ran dry with nothing left to checkpoint.
   */
  private caughtUpPending = false;
  /** Records read since the last checkpoint. */
  private readSinceCheckpoint = 0;
  /** Early checkpoints asked for since the rule was armed. */
  private early = 0;
  /** Armed by a backlog (a full batch of clicks), not by a release: until it disarms. */
  private backlog = false;
  /** The last round of a backlog: clicks read, or fetching paused, while armed by it. */
  private backlogRoundAtMs = Number.NEGATIVE_INFINITY;

  /**
   * @param minGapMs the least time between two checkpoints this rule asks for.
   * @param settleMs how long after a checkpoint the rule waits for what it released (the
   *   partials reach the merge member within a fetch's wait) before a clean dry round disarms it.
   * @param releaseWithinMs how long after a backlog's last round a release of what idle
   *   partitions held still ends that catch-up (the idle timeout and the time to find one idle).
   */
  constructor(
    private readonly minGapMs: number,
    private readonly settleMs: number,
    private readonly releaseWithinMs: number,
  ) {}

  /**
   * Feeds one round; true when the worker should checkpoint now: a backlog was being read, this
   * round read nothing, records read since the last checkpoint are not yet in one, and the last
   * checkpoint is at least `minGapMs` old. The rule stays armed through the checkpoints it asks
   * for, so the merge stage's tail (the partials that checkpoint released) gets one too, and
   * disarms after that second one: live clicks arriving after a catch-up (each dry round would
   * find a few unsaved) must not keep it checkpointing every `minGapMs`. A dry round with nothing
   * to checkpoint, `settleMs` after the last checkpoint, disarms it too.
   */
  round(read: RoundRead, nowMs: number, lastCheckpointAtMs: number): boolean {
    this.readSinceCheckpoint += read.total;
    if (read.clicks >= read.batchSize) {
      this.caughtUpPending = true;
      this.backlog = true;
      this.early = 0;
    }
    // A backlog's tail (partial batches, or a pause for backpressure) is part of it.
    if (this.backlog && (read.clicks > 0 || read.blocked)) this.backlogRoundAtMs = nowMs;
    if (!this.caughtUpPending || read.total > 0 || read.blocked) return false;
    if (this.readSinceCheckpoint === 0) {
      if (nowMs - lastCheckpointAtMs >= this.settleMs) this.disarm();
      return false;
    }
    if (nowMs - lastCheckpointAtMs < this.minGapMs) return false;
    if (++this.early >= earlyCheckpointsPerCatchUp) this.disarm();
    return true;
  }

  private disarm(): void {
    this.caughtUpPending = false;
    this.backlog = false;
  }

  /**
   * A checkpoint (started at `checkpointAtMs`) released what idle partitions held for it: their
   * watermarks (their last panes went at once, when they went idle). At the end of a catch-up
   * the merge stage's tail of both gets early checkpoints as the catch-up's does: the panes may
   * be merged before the release and the watermarks after it, so two. Without them the partitions that run out first, going idle
   * one after another around the end, left each tail to the next periodic checkpoint: up to 8 s
   * between the last click read and every offset committed, instead of ~0.4 s. Long after a
   * backlog's last round (live traffic, where partitions may go idle and wake up again and again)
   * a release changes nothing: the periodic schedule commits it.
   */
  heldReleased(checkpointAtMs: number): void {
    // A re-arm does not move backlogRoundAtMs: releases in live traffic must not chain.
    if (checkpointAtMs - this.backlogRoundAtMs > this.releaseWithinMs) return;
    this.caughtUpPending = true;
    this.early = 0;
  }

  /** A checkpoint (of any kind) was taken: what was read is in it. */
  checkpointed(): void {
    this.readSinceCheckpoint = 0;
  }
}
