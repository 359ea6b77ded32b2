// The test oracle: an independent, deliberately plain computation of every window result the job
// must emit, from the clicks as they sit in each input partition. It shares no code with src/.
//
// Semantics it encodes (the job's contract, the rule of Flink's and Kafka Streams' window
// operators applied per input partition):
// - a partition's watermark before a click is the highest event time read before it in that
//   partition, minus the 20 s bound; a click is late for a window when that watermark has reached
//   the window's end plus the allowed lateness (0 unless given), and counts in every window
//   holding it that is not late;
// - counts: clicks per (5 s window, url); total: clicks per 10 s window sliding by 5 s;
//   url-stats: clicks per (1 minute window, url); only windows with at least one click exist;
// - a click late for at least one of its windows goes to clicks-late, naming the kinds it missed.

export interface OracleClick {
  partition: number;
  url: string;
  ts: number;
}

export interface OracleOptions {
  paneMs?: number;
  boundMs?: number;
  allowedLatenessMs?: number;
  /**
   * Partitions added by a rescale: each starts with this watermark, as if it had read a click
   * `boundMs` after it (the rule: the lowest watermark among the old partitions at the savepoint).
   */
  startWatermarks?: Map<number, number>;
}

export interface Expected {
  /** `${windowStart}|${url}` -> count */
  counts: Map<string, number>;
  /** windowStart -> count */
  totals: Map<number, number>;
  /** `${windowStart}|${url}` -> count */
  stats: Map<string, number>;
  /** Clicks late for at least one of their windows (those on clicks-late). */
  late: number;
  /** How many late clicks missed each combination of kinds, e.g. "counts,total" -> 12. */
  missed: Map<string, number>;
  /** Clicks that count in at least one window. */
  counted: number;
}

const floorTo = (ms: number, size: number): number => Math.floor(ms / size) * size;

/** `clicks` must be in the order a reader of each partition sees them (log order per partition). */
export function expectedWindows(clicks: OracleClick[], options: OracleOptions = {}): Expected {
  const paneMs = options.paneMs ?? 5_000;
  const boundMs = options.boundMs ?? 20_000;
  const allowedLatenessMs = options.allowedLatenessMs ?? 0;
  const totalMs = 2 * paneMs;
  const minuteMs = 60_000;
  const maxSeen = new Map<number, number>();
  for (const [partition, watermark] of options.startWatermarks ?? []) maxSeen.set(partition, watermark + boundMs);
  const expected: Expected = { counts: new Map(), totals: new Map(), stats: new Map(), late: 0, missed: new Map(), counted: 0 };
  const bump = <K>(map: Map<K, number>, key: K): void => {
    map.set(key, (map.get(key) ?? 0) + 1);
  };
  for (const click of clicks) {
    const max = maxSeen.get(click.partition);
    const watermark = max === undefined ? -Infinity : max - boundMs;
    const open = (windowEnd: number): boolean => windowEnd + allowedLatenessMs > watermark;
    const missed: string[] = [];
    let countedSomewhere = false;

    const pane = floorTo(click.ts, paneMs);
    if (open(pane + paneMs)) {
      bump(expected.counts, `${pane}|${click.url}`);
      countedSomewhere = true;
    } else missed.push('counts');

    // The two 10 s windows holding the click: the one starting at its pane, the one a pane earlier.
    let missedTotal = false;
    for (const start of [pane - paneMs, pane]) {
      if (open(start + totalMs)) {
        bump(expected.totals, start);
        countedSomewhere = true;
      } else missedTotal = true;
    }
    if (missedTotal) missed.push('total');

    const minute = floorTo(click.ts, minuteMs);
    if (open(minute + minuteMs)) {
      bump(expected.stats, `${minute}|${click.url}`);
      countedSomewhere = true;
    } else missed.push('url-stats');

    if (missed.length > 0) {
      expected.late++;
      bump(expected.missed, missed.join(','));
    }
    if (countedSomewhere) expected.counted++;
    if (max === undefined || click.ts > max) maxSeen.set(click.partition, click.ts);
  }
  return expected;
}
