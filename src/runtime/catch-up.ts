// When a worker that was reading a backlog runs dry, its last records wait in uncommitted state
// (and, in exactly-once mode, in an open transaction) until the next periodic checkpoint, and the
// merge stage only sees the source stage's last partials after that checkpoint: the end of a
// catch-up waited up to one checkpoint interval per stage hop. This rule checkpoints at once
// instead, and only after a catch-up (or a release of what idle partitions held, at its end): a
// worker fed live traffic reads partial batches and keeps the periodic schedule (checkpoints are
// transactions; a trickle of clicks must not make one per loop). Pure: the worker loop feeds it
// what each round read.
//
// With several workers, the tail of one worker's catch-up is merged on the others too: their
// merge tasks read the partials it released, but their own catch-up (if any) ended earlier, and
// they left that tail to their next periodic checkpoint (0.5-2.2 s after the last click at the end
// of a two-worker catch-up, against 0.2-0.5 s for one worker). So the first early checkpoint of
// a worker's own catch-up is announced (`takeAnnouncement`: its source tasks send their marker
// flagged as caught up, in that checkpoint), and so is its second if clicks were read in between
// (their partials follow the first flag), and a worker whose merge tasks read such a marker
// takes one early checkpoint itself (`tailArrived`). That early checkpoint announces nothing:
// two workers must not keep arming each other. A flag is only a hint (anyone who can write to
// the partials topic can send one, and replays repeat them): flags arm the rule at most once per
// settle time. A flag read sooner is not dropped but kept for the end of that time, unless a
// checkpoint takes it first: a worker whose backlog arrives in bursts announces the end of each,
// and dropping the last of two announcements less than a settle time apart left its tail to the
// periodic checkpoint. Where the end of a catch-up is taken by a periodic checkpoint instead (nothing
// left for an early one), nothing is announced, and the others keep their periodic schedule.

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
  /** Armed by this worker's own catch-up (a backlog, a release), not by another's tail. */
  private own = false;
  /** The early checkpoint just asked for is announced (the first of the worker's own catch-up, or a later one of it after more clicks). */
  private announcement = false;
  /** Clicks read since the last announced checkpoint was asked for. */
  private clicksSinceAnnouncement = 0;
  /** When a flagged marker last armed the rule. */
  private tailArmedAtMs = Number.NEGATIVE_INFINITY;
  /** A flagged marker was read within the settle time of the last arming, and no checkpoint has taken it since. */
  private tailDeferred = false;

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
    this.announcement = false; // said of the round that asked for the checkpoint only
    if (this.tailDeferred && !this.caughtUpPending && nowMs - this.tailArmedAtMs >= this.settleMs) this.armForTail(nowMs);
    this.readSinceCheckpoint += read.total;
    this.clicksSinceAnnouncement += read.clicks;
    if (read.clicks >= read.batchSize) {
      this.caughtUpPending = true;
      this.backlog = true;
      this.own = true;
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
    // Clicks read after the announcement (a partial batch between the two early checkpoints)
    // send partials after its flags: the second checkpoint announces them again. Never one
    // armed by another's tail: two workers reading live clicks would arm each other forever.
    if (this.own && (this.early === 0 || this.clicksSinceAnnouncement > 0)) {
      this.announcement = true;
      this.clicksSinceAnnouncement = 0;
    }
    if (++this.early >= earlyCheckpointsPerCatchUp) this.disarm();
    return true;
  }

  /**
   * True once after the `round` that asked for the first early checkpoint of this worker's own
   * catch-up, or its second after more clicks (until the next round): its source tasks announce
   * it (flagged markers) before that checkpoint is taken.
   */
  takeAnnouncement(): boolean {
    const announcement = this.announcement;
    this.announcement = false;
    return announcement;
  }

  /**
   * A merge task of this worker read a marker flagged as caught up: usually another worker's (or
   * this one's own) catch-up ended and what it released was read up to here; it may also be a
   * replay, or a record someone else wrote. One early checkpoint takes it, unless the rule is
   * armed already (its next checkpoint takes what was read, the flag included). Less than the
   * settle time after a flag armed the rule, it is deferred: the first round after that time
   * arms the rule for it, unless a checkpoint took it meanwhile. Announces nothing: an
   * announcement answered by one would arm the workers in turn forever.
   */
  tailArrived(nowMs: number): void {
    if (this.caughtUpPending) return;
    if (nowMs - this.tailArmedAtMs < this.settleMs) this.tailDeferred = true;
    else this.armForTail(nowMs);
  }

  private armForTail(nowMs: number): void {
    this.tailDeferred = false;
    this.tailArmedAtMs = nowMs;
    this.caughtUpPending = true;
    this.own = false;
    this.early = earlyCheckpointsPerCatchUp - 1;
  }

  private disarm(): void {
    this.caughtUpPending = false;
    this.backlog = false;
    this.own = false;
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
    this.own = true;
    this.early = 0;
  }

  /** A checkpoint (of any kind) was taken: what was read is in it. */
  checkpointed(): void {
    this.readSinceCheckpoint = 0;
    this.tailDeferred = false; // what was read, a deferred flag's tail included, is in it
  }
}
