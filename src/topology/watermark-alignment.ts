// Watermark alignment (as Flink's): a source partition whose watermark runs more than a maximum
// drift ahead of the slowest source partition's stops being read until the slowest has caught up
// to half that drift. Why: the merge stage keeps a window open until every source partition has
// passed it, so in a catch-up where one partition trails (librdkafka fetches partitions by bytes,
// not by event time, and a hot partition holds more clicks per second of event time) it would
// hold every row the others sent meanwhile: memory that grows with the backlog's length. With
// alignment it holds at most the drift's worth. In live traffic partitions run side by side and
// nothing pauses (a drift at least --max-future keeps a click dated ahead from pausing one). Pure.

import { NO_WATERMARK } from './watermark.js';

export interface AlignedSource {
  partition: number;
  watermarkMs: number;
  /** Idle partitions hold no window open: they neither set the slowest nor pause. */
  idle: boolean;
}

export interface AlignmentChanges {
  pause: number[];
  resume: number[];
}

/**
 * The drift alignment runs with: at least `maxFutureMs` (a click dated that far ahead is accepted
 * and moves its partition's watermark as far) plus the idle timeout (how long the slowest
 * partition may be quiet and still hold the others back) plus a minute, so that in live traffic
 * no accepted click pauses its partition. 0 stays off.
 */
export function effectiveDrift(driftMs: number, maxFutureMs: number, idleTimeoutMs: number): number {
  return driftMs === 0 ? 0 : Math.max(driftMs, maxFutureMs + idleTimeoutMs + 60_000);
}

/** A watermark that says something: a source not heard from yet, or none left, does not. */
const known = (watermarkMs: number): boolean => watermarkMs !== NO_WATERMARK && Number.isFinite(watermarkMs);

/**
 * Which of this worker's source partitions (`sources`, their own watermarks) to pause and resume
 * now. `others`: the other source partitions of the job as this worker's merge tasks last heard of
 * them (a merge task's view of this worker's own partitions lags by the partials in flight, up to
 * a checkpoint: the slowest partition would pause itself on its own past). `held`: those paused
 * for alignment; held partitions not in `sources` are left out (their tasks are gone).
 * `maxDriftMs` 0: alignment off, every held one resumes.
 */
export function alignmentChanges(sources: readonly AlignedSource[], others: readonly AlignedSource[], held: ReadonlySet<number>, maxDriftMs: number): AlignmentChanges {
  let slowest = Number.POSITIVE_INFINITY;
  for (const list of [sources, others]) for (const source of list) if (!source.idle && known(source.watermarkMs) && source.watermarkMs < slowest) slowest = source.watermarkMs;
  const changes: AlignmentChanges = { pause: [], resume: [] };
  for (const { partition, watermarkMs, idle } of sources) {
    const drift = maxDriftMs > 0 && !idle && known(watermarkMs) && Number.isFinite(slowest) ? watermarkMs - slowest : 0;
    if (held.has(partition)) {
      // Resumed at half the drift, not at the drift: a partition paused and resumed at every
      // batch would lose its prefetched records each time (librdkafka drops them on pause).
      if (drift <= maxDriftMs / 2) changes.resume.push(partition);
    } else if (drift > maxDriftMs) changes.pause.push(partition);
  }
  return changes;
}
