// The test oracle: an independent, deliberately plain computation of every window result the job
// must emit, from the clicks as they sit in each input partition. It shares no code with src/.
//
// Semantics it encodes (the job's contract):
// - per partition, a click is late if the 5 s pane holding it ended at or before that
//   partition's watermark (highest event time read before it, minus the 20 s bound); late
//   clicks count nowhere;
// - counts: clicks per (5 s window, url); total: clicks per 10 s window sliding by 5 s;
//   url-stats: clicks per (1 minute window, url); only windows with at least one click exist.

export interface OracleClick {
  partition: number;
  url: string;
  ts: number;
}

export interface OracleOptions {
  paneMs?: number;
  boundMs?: number;
}

export interface Expected {
  /** `${windowStart}|${url}` -> count */
  counts: Map<string, number>;
  /** windowStart -> count */
  totals: Map<number, number>;
  /** `${windowStart}|${url}` -> count */
  stats: Map<string, number>;
  late: number;
  counted: number;
}

const floorTo = (ms: number, size: number): number => Math.floor(ms / size) * size;

/** `clicks` must be in the order a reader of each partition sees them (log order per partition). */
export function expectedWindows(clicks: OracleClick[], options: OracleOptions = {}): Expected {
  const paneMs = options.paneMs ?? 5_000;
  const boundMs = options.boundMs ?? 20_000;
  const maxSeen = new Map<number, number>();
  const expected: Expected = { counts: new Map(), totals: new Map(), stats: new Map(), late: 0, counted: 0 };
  const bump = <K>(map: Map<K, number>, key: K): void => {
    map.set(key, (map.get(key) ?? 0) + 1);
  };
  for (const click of clicks) {
    const max = maxSeen.get(click.partition);
    const pane = floorTo(click.ts, paneMs);
    if (max !== undefined && pane + paneMs <= max - boundMs) {
      expected.late++;
      continue;
    }
    if (max === undefined || click.ts > max) maxSeen.set(click.partition, click.ts);
    expected.counted++;
    bump(expected.counts, `${pane}|${click.url}`);
    bump(expected.totals, pane); // the 10 s window starting at this pane...
    bump(expected.totals, pane - 5_000); // ...and the one starting a pane earlier
    bump(expected.stats, `${floorTo(click.ts, 60_000)}|${click.url}`);
  }
  return expected;
}
