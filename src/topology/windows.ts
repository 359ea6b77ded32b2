// Window assignment in event time. Every window of the job is a union of 5 s panes: the 5 s
// count window is one pane, the 10 s total sliding by 5 s is two, the minute is twelve. So the
// job aggregates panes once and derives every window from them. Pure arithmetic, no clocks.

export interface WindowSpec {
  paneMs: number;
  /** 10 s total window, sliding by one pane. */
  totalWindowMs: number;
  totalSlideMs: number;
  /** 1 minute tumbling window of the url stats. */
  statsWindowMs: number;
  /**
   * How long after its end a window still takes late clicks, as corrections (revisions of its
   * result); 0: emitted once, final at its end.
   */
  allowedLatenessMs: number;
}

/** Start of the window of `sizeMs` (aligned to the epoch) holding event time `ms`; floors negatives too. */
export function alignDown(ms: number, sizeMs: number): number {
  return ms - (((ms % sizeMs) + sizeMs) % sizeMs);
}

/** Checks the spec is one the pane design can serve: every window a whole number of panes. */
export function validateWindowSpec(spec: WindowSpec): string | undefined {
  const { paneMs, totalWindowMs, totalSlideMs, statsWindowMs } = spec;
  if (!(paneMs > 0)) return 'pane size must be positive';
  for (const [name, size] of [['total window', totalWindowMs], ['total slide', totalSlideMs], ['stats window', statsWindowMs]] as const) {
    if (!(size > 0) || size % paneMs !== 0) return `${name} (${size} ms) must be a positive multiple of the pane (${paneMs} ms)`;
  }
  if (totalWindowMs % totalSlideMs !== 0) return 'total window must be a multiple of its slide';
  if (!(Number.isSafeInteger(spec.allowedLatenessMs) && spec.allowedLatenessMs >= 0)) return 'allowed lateness must be a whole number of ms, 0 or more';
  return undefined;
}

/** Starts of the sliding total windows that contain the pane starting at `paneStart`. */
export function totalWindowStartsOfPane(paneStart: number, spec: WindowSpec): number[] {
  const starts: number[] = [];
  const last = alignDown(paneStart, spec.totalSlideMs);
  for (let start = last; start > paneStart - spec.totalWindowMs; start -= spec.totalSlideMs) starts.push(start);
  return starts.reverse();
}
