// A source task's topology: pre-aggregates one input partition (SourcePanes) and decides what to
// forward to the merge stage and where. Closed panes go per url to the merge partition that owns
// the url, pane totals to merge partition 0 (the owner of the job-wide total), and watermark
// markers to every merge partition, always after the panes they cover (same producer, same
// partition: Kafka keeps that order).
//
// Why two stages: a url's clicks may sit in any input partition (keyed by user, or not keyed at
// all), and the job-wide total needs every partition. So each source task pre-aggregates its
// partition into closed 5 s panes and forwards them, with its watermark, through the partials
// topic; merge tasks (merge-stage.ts) combine them per url (and partition 0 of it the totals) and
// emit a window once every source partition's watermark has passed its end.

import type { PartialMessage, SourceWatermark, UrlCount } from '../codec/messages.js';
import { SourcePanes } from './source-panes.js';
import { UrlOwners } from './url-owners.js';
import { NO_WATERMARK } from './watermark.js';
import { alignDown } from './windows.js';

export interface RoutedPartial {
  mergePartition: number;
  /** Record key: none (each record names its merge partition; the url decides it for pane counts). */
  key: string | null;
  partial: PartialMessage;
}

/**
 * Most bytes of urls in one PaneCounts record (urls counted at 3 bytes per UTF-16 unit, the
 * most UTF-8 needs): a pane of many long urls goes out in parts far below Kafka's 1 MB limit.
 */
export const PANE_COUNTS_PART_BYTES = 256 * 1024;

/** Merge partition that owns the job-wide totals. */
export const TOTAL_OWNER = 0;

export class SourceStage {
  private lastSentWatermark = NO_WATERMARK;
  private idle = false;
  private announced = false;
  /**
   * Late additions and markers wait (in SourcePanes, and as the watermark) until a checkpoint has
   * made an idle close durable. Idleness depends on wall-clock time, so a replay does not repeat
   * it: had the merge seen a watermark or late additions that follow from it, a replay from an
   * older checkpoint would compute different running totals for the same windows. Closed panes
   * still go at once (a replayed pane replaces the one sent).
   */
  private holding = false;
  private readonly owners: UrlOwners;

  constructor(
    readonly sourcePartition: number,
    private readonly mergePartitions: number,
    private readonly paneMs: number,
    readonly panes: SourcePanes,
  ) {
    this.owners = new UrlOwners(mergePartitions);
  }

  /** True while partials wait for a checkpoint (`checkpointed`). */
  get awaitingCheckpoint(): boolean {
    return this.holding;
  }

  /**
   * Once, when the task opens: its restored watermark, not idle. The merge stage may still hold
   * this partition as idle from its previous owner, which may have died before reading clicks
   * that came since; only this task, quiet for its own idle timeout, may find it idle again.
   */
  announce(out: RoutedPartial[]): void {
    if (this.announced) return;
    this.announced = true;
    if (this.holding) return;
    // Late additions restored unsent go first: after this watermark the merge would take them
    // for replays (their window's end + D may be behind it).
    this.sendLateAdds(out);
    this.sendMarker(this.alignedWatermark(), out);
  }

  /** Counts a click in its open windows; the kinds it missed (MISSED_* bits of source-panes.ts). */
  add(url: string, eventTimeMs: number): number {
    return this.panes.add(url, eventTimeMs);
  }

  /**
   * After a batch: closed panes, then a marker if the watermark crossed a pane boundary. A closed
   * pane goes out as one PaneCounts record per merge partition that owns some of its urls (in
   * parts if large): a record per url was the most of what the job wrote, for the broker to store
   * and the merge members to read.
   */
  flush(out: RoutedPartial[]): void {
    const source = this.sourcePartition;
    for (const pane of this.panes.takeClosed()) {
      this.routeUrlCounts(pane.counts, out, (mergePartition, part) => paneCountsRecord(mergePartition, source, pane.paneStart, part));
      out.push({ mergePartition: TOTAL_OWNER, key: null, partial: { paneTotal: { sourcePartition: source, paneStart: pane.paneStart, count: pane.total } } });
    }
    if (this.holding) return; // late additions and the marker go when the checkpoint is taken
    this.sendLateAdds(out);
    const watermark = this.alignedWatermark();
    if (watermark > this.lastSentWatermark) this.sendMarker(watermark, out);
  }

  /** Late additions, before the watermark that may close their windows (like panes). */
  private sendLateAdds(out: RoutedPartial[]): void {
    const source = this.sourcePartition;
    const late = this.panes.takeLateAdds();
    for (const { windowStart, counts } of late.panes) {
      this.routeUrlCounts(counts, out, (mergePartition, part) => ({ mergePartition, key: null, partial: { latePane: { sourcePartition: source, paneStart: windowStart, counts: part } } }));
    }
    for (const { windowStart, count } of late.totals) out.push({ mergePartition: TOTAL_OWNER, key: null, partial: { lateTotal: { sourcePartition: source, windowStart, count } } });
    for (const { windowStart, counts } of late.stats) {
      this.routeUrlCounts(counts, out, (mergePartition, part) => ({ mergePartition, key: null, partial: { lateStats: { sourcePartition: source, windowStart, counts: part } } }));
    }
  }

  /**
   * The partition went idle (true) or woke up (false): tell every merge partition. Going idle
   * closes every open pane; what follows from that (the watermark, and late additions the new
   * watermark makes) is held until the next checkpoint of this task (see `held`).
   */
  setIdle(idle: boolean, out: RoutedPartial[]): void {
    if (this.idle === idle) return;
    this.idle = idle;
    if (idle) {
      const before = this.panes.watermarkMs;
      this.panes.closeAllOpen();
      if (this.panes.watermarkMs !== before) this.holding = true;
    }
    this.flush(out);
    if (!this.holding) this.sendMarker(this.alignedWatermark(), out);
  }

  /** A checkpoint of this task completed: what waited goes out, then the marker. */
  checkpointed(out: RoutedPartial[]): void {
    if (!this.holding) return;
    this.holding = false;
    this.sendLateAdds(out);
    this.sendMarker(this.alignedWatermark(), out);
  }

  /**
   * The worker read a backlog to its end and is about to checkpoint: the marker once more, now
   * flagged, so that it rides in that checkpoint after this task's last partials. A merge task on
   * another worker that applies it checkpoints at once, instead of leaving the tail of this
   * catch-up to its next periodic checkpoint. The same watermark (and idleness) again changes
   * nothing in the merge. Nothing while holding: no marker may go ahead of the held watermark,
   * and the checkpoint that releases it re-arms the worker's rule, whose next early checkpoint
   * announces again (CatchUpCheckpoints.heldReleased). Nothing before the task announced
   * itself either: its restored late additions go first.
   */
  caughtUp(out: RoutedPartial[]): void {
    if (this.holding || !this.announced) return;
    this.sendMarker(this.alignedWatermark(), out, true);
  }

  /**
   * Stop-with-savepoint: this partition's state is contributed and it reads no more clicks. The
   * barrier goes to every merge partition, after everything this task sent (barrier-alignment.ts).
   */
  barrier(savepointId: string, out: RoutedPartial[]): void {
    out.push(...barrierPartials(this.sourcePartition, this.mergePartitions, savepointId));
  }

  private alignedWatermark(): number {
    const watermark = this.panes.watermarkMs;
    return watermark === NO_WATERMARK ? NO_WATERMARK : alignDown(watermark, this.paneMs);
  }

  private sendMarker(watermarkMs: number, out: RoutedPartial[], caughtUp = false): void {
    this.lastSentWatermark = watermarkMs;
    for (let mergePartition = 0; mergePartition < this.mergePartitions; mergePartition++) {
      const watermark: SourceWatermark = { sourcePartition: this.sourcePartition, watermarkMs, idle: this.idle };
      // Each said only when there is one: a job without keeps its partials as they were.
      const lateness = this.panes.allowedLatenessMs;
      if (lateness > 0) watermark.allowedLatenessMs = lateness;
      if (caughtUp) watermark.caughtUp = true;
      out.push({ mergePartition, key: null, partial: { watermark } });
    }
  }

  /** Url counts split by the merge partition owning each url, in parts far below Kafka's record limit. */
  private routeUrlCounts(counts: Array<[string, number]>, out: RoutedPartial[], record: (mergePartition: number, part: UrlCount[]) => RoutedPartial): void {
    const parts: Array<{ counts: UrlCount[]; bytes: number } | undefined> = [];
    for (const [url, count] of counts) {
      const mergePartition = this.owners.of(url);
      const bytes = url.length * 3 + 16;
      let part = parts[mergePartition];
      if (part !== undefined && part.bytes + bytes > PANE_COUNTS_PART_BYTES) {
        out.push(record(mergePartition, part.counts));
        part = undefined;
      }
      if (part === undefined) parts[mergePartition] = part = { counts: [], bytes: 0 };
      part.counts.push({ url, count });
      part.bytes += bytes;
    }
    parts.forEach((part, mergePartition) => part !== undefined && out.push(record(mergePartition, part.counts)));
  }
}

/** A source partition's savepoint barrier, one per merge partition: it depends on no state. */
export function barrierPartials(sourcePartition: number, mergePartitions: number, savepointId: string): RoutedPartial[] {
  const out: RoutedPartial[] = [];
  for (let mergePartition = 0; mergePartition < mergePartitions; mergePartition++) {
    out.push({ mergePartition, key: null, partial: { barrier: { sourcePartition, savepointId } } });
  }
  return out;
}

function paneCountsRecord(mergePartition: number, sourcePartition: number, paneStart: number, counts: UrlCount[]): RoutedPartial {
  return { mergePartition, key: null, partial: { paneCounts: { sourcePartition, paneStart, counts } } };
}
