// Property-style tests of the whole topology (source stages -> partials -> merge stages) over
// random out-of-order streams, random batching, and random crashes that restore a task from its
// last checkpoint and replay its input. Results must equal the oracle exactly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PartialMessage } from '../../../src/codec/messages.js';
import { Random } from '../../../src/producer/random.js';
import { MergeStage } from '../../../src/topology/merge-stage.js';
import { MergeWindows, emptyOutput } from '../../../src/topology/merge-windows.js';
import { SourcePanes } from '../../../src/topology/source-panes.js';
import { SourceStage, type RoutedPartial } from '../../../src/topology/source-stage.js';
import { jobWindows } from '../../../src/config.js';
import { expectedWindows, type OracleClick } from '../../support/oracle.js';

const paneMs = 5_000;
const boundMs = 20_000;

interface Store {
  entries: Map<string, string>;
  offset: number;
}

function persist(store: Store, changes: Map<string, string | null>, offset: number): void {
  for (const [key, value] of changes) {
    if (value === null) store.entries.delete(key);
    else store.entries.set(key, value);
  }
  store.offset = offset;
}

/** What readers keep of a window: its highest revision. */
interface Latest {
  revision: number;
  count: number;
  final: boolean;
}

interface Results {
  counts: Map<string, Latest>;
  totals: Map<number, Latest>;
  stats: Map<string, Latest>;
  /** Every (window, key, revision) emitted: a replay must repeat it exactly. */
  revisions: Map<string, string>;
  duplicates: number;
  corrections: number;
}

function record<K>(map: Map<K, Latest>, key: K, result: { count: number; revision: number; final: boolean }, results: Results): void {
  const { count, revision, final } = result;
  const id = `${String(key)}#${revision}`;
  const seen = results.revisions.get(id);
  if (seen !== undefined) {
    assert.equal(`${count},${final}`, seen, `duplicate of ${id} differs`);
    results.duplicates++;
  }
  results.revisions.set(id, `${count},${final}`);
  const latest = map.get(key);
  if (latest !== undefined) assert.ok(!latest.final || revision <= latest.revision, `${String(key)}: revision ${revision} after the final one`);
  if (revision > 0 && !final) results.corrections++;
  if (latest === undefined || revision > latest.revision) map.set(key, { revision, count, final });
}

/** The highest revision of every window, which must be final. */
function finalCounts<K>(map: Map<K, Latest>): Map<K, number> {
  for (const [key, latest] of map) assert.ok(latest.final, `${String(key)}: the highest revision is final`);
  return new Map([...map].map(([key, latest]) => [key, latest.count]));
}

/** Random clicks over `partitions` partitions with disorder up to `disorderMs` and some late ones. */
function randomStream(random: Random, partitions: number, n: number, disorderMs: number, lateShare: number): OracleClick[][] {
  const logs: OracleClick[][] = Array.from({ length: partitions }, () => []);
  const urls = Array.from({ length: 12 }, (_, i) => `/u${i}`);
  let clock = 1_700_000_000_000 + random.below(100_000);
  for (let i = 0; i < n; i++) {
    clock += random.below(400);
    let ts = clock - random.below(disorderMs + 1);
    // Late ones: behind the watermark by up to 70 s, so late for their 5 s pane only, for their
    // pane and total, or for every window (the minute too).
    if (random.float() < lateShare) ts = clock - boundMs - random.below(70_000);
    const partition = random.below(partitions);
    logs[partition]!.push({ partition, url: urls[Math.floor(random.float() ** 2 * urls.length)]!, ts });
  }
  return logs;
}

function runPipeline(seed: number, options: { partitions: number; mergePartitions: number; clicks: number; crashShare: number; disorderMs: number; allowedLatenessMs?: number }): Results {
  const random = new Random(seed);
  const allowedLatenessMs = options.allowedLatenessMs ?? 0;
  const windows = { ...jobWindows, allowedLatenessMs };
  const { partitions, mergePartitions } = options;
  const inputs = randomStream(random, partitions, options.clicks, options.disorderMs, 0.05);

  const sourceStores: Store[] = inputs.map(() => ({ entries: new Map(), offset: 0 }));
  const mergeStores: Store[] = Array.from({ length: mergePartitions }, () => ({ entries: new Map(), offset: 0 }));
  const newSource = (p: number): { stage: SourceStage; offset: number } => ({
    stage: new SourceStage(p, mergePartitions, paneMs, SourcePanes.restore(windows, boundMs, sourceStores[p]!.entries)),
    offset: sourceStores[p]!.offset,
  });
  const newMerge = (m: number): { stage: MergeStage; offset: number } => ({
    stage: new MergeStage(m, MergeWindows.restore(windows, partitions, mergeStores[m]!.entries)),
    offset: mergeStores[m]!.offset,
  });
  const sources = inputs.map((_, p) => newSource(p));
  const merges = mergeStores.map((_, m) => newMerge(m));
  const partialLogs: PartialMessage[][] = mergeStores.map(() => []);
  const results: Results = { counts: new Map(), totals: new Map(), stats: new Map(), revisions: new Map(), duplicates: 0, corrections: 0 };

  const route = (routed: RoutedPartial[]): void => {
    for (const r of routed) partialLogs[r.mergePartition]!.push(r.partial);
  };
  const runSource = (p: number, batch: number): void => {
    const source = sources[p]!;
    const end = Math.min(source.offset + batch, inputs[p]!.length);
    for (; source.offset < end; source.offset++) {
      const click = inputs[p]![source.offset]!;
      source.stage.add(click.url, click.ts);
    }
    const out: RoutedPartial[] = [];
    source.stage.flush(out);
    // Now and then the end of a catch-up: the marker again, flagged (it must change no result).
    if (batch % 7 === 0) {
      source.stage.announce(out);
      source.stage.caughtUp(out);
    }
    route(out);
  };
  const runMerge = (m: number, batch: number): void => {
    const merge = merges[m]!;
    const out = emptyOutput();
    const end = Math.min(merge.offset + batch, partialLogs[m]!.length);
    for (; merge.offset < end; merge.offset++) merge.stage.apply(partialLogs[m]![merge.offset]!, out);
    assert.deepEqual(out.late, [], 'no partial is late without idleness');
    for (const c of out.counts) record(results.counts, `${c.windowStart}|${c.url}`, c, results);
    for (const t of out.totals) record(results.totals, t.windowStart, t, results);
    for (const s of out.stats) record(results.stats, `stats ${s.windowStart}|${s.url}`, s, results);
  };

  let crashes = 0;
  const done = (): boolean => sources.every((s, p) => s.offset >= inputs[p]!.length) && merges.every((m, i) => m.offset >= partialLogs[i]!.length);
  while (!done()) {
    const action = random.float();
    if (action < 0.5) runSource(random.below(partitions), 1 + random.below(60));
    else if (action < 0.85) runMerge(random.below(mergePartitions), 1 + random.below(80));
    else if (action < 1 - options.crashShare) {
      // checkpoint one task: its state changes and its next offset, together
      if (random.float() < 0.5) {
        const p = random.below(partitions);
        persist(sourceStores[p]!, sources[p]!.stage.panes.takeChanges(), sources[p]!.offset);
      } else {
        const m = random.below(mergePartitions);
        persist(mergeStores[m]!, merges[m]!.stage.windows.takeChanges(), merges[m]!.offset);
      }
    } else {
      // crash: lose the task's memory, restart from its last checkpoint and replay
      crashes++;
      if (random.float() < 0.5) {
        const p = random.below(partitions);
        sources[p] = newSource(p);
      } else {
        const m = random.below(mergePartitions);
        merges[m] = newMerge(m);
      }
    }
  }
  // The stream ends: every source is caught up and goes idle, which closes every window.
  // Going idle holds the watermark back until a checkpoint makes it durable.
  const out: RoutedPartial[] = [];
  sources.forEach((source, p) => {
    source.stage.setIdle(true, out);
    persist(sourceStores[p]!, source.stage.panes.takeChanges(), source.offset);
    source.stage.checkpointed(out);
  });
  route(out);
  for (let m = 0; m < mergePartitions; m++) runMerge(m, Number.MAX_SAFE_INTEGER);

  const expected = expectedWindows(inputs.flat(), { paneMs, boundMs, allowedLatenessMs });
  assert.ok(expected.late > 0 && expected.counted > 0);
  assert.ok((expected.missed.get('counts,total') ?? 0) > 0, 'some clicks missed their pane (and a total window) but counted in the minute');
  assert.deepEqual(finalCounts(results.counts), expected.counts);
  assert.deepEqual(finalCounts(results.totals), expected.totals);
  assert.deepEqual(new Map([...finalCounts(results.stats)].map(([key, count]) => [key.slice('stats '.length), count])), expected.stats);
  if (options.crashShare > 0) assert.ok(crashes > 0, 'the run crashed at least once');
  if (allowedLatenessMs === 0) assert.equal(results.corrections, 0, 'no allowed lateness, no corrections');
  else assert.ok(expected.late < expectedWindows(inputs.flat(), { paneMs, boundMs }).late, 'the allowed lateness takes clicks that would be late without it');
  return results;
}

test('random out-of-order streams: results equal the oracle (no crashes)', () => {
  for (let seed = 1; seed <= 25; seed++) runPipeline(seed, { partitions: 4, mergePartitions: 4, clicks: 3000, crashShare: 0, disorderMs: 15_000 });
});

test('random crashes and replays: deduplicated results equal the oracle, duplicates identical', () => {
  for (let seed = 100; seed <= 125; seed++) runPipeline(seed, { partitions: 4, mergePartitions: 3, clicks: 3000, crashShare: 0.05, disorderMs: 15_000 });
});

test('a single partition and a single merge task give the same results as many', () => {
  for (let seed = 200; seed <= 205; seed++) runPipeline(seed, { partitions: 1, mergePartitions: 1, clicks: 2000, crashShare: 0.03, disorderMs: 25_000 });
});

// Allowed lateness: clicks up to 90 s behind, so some are late for a window by less than 30 s
// (a correction), some by more (missed, on clicks-late). The highest revision of every window
// equals the oracle's count and is final; a replay repeats a revision exactly.
test('allowed lateness 30 s: the final revision of every window equals the oracle, corrections on the way', () => {
  let corrections = 0;
  for (let seed = 300; seed <= 315; seed++) corrections += runPipeline(seed, { partitions: 4, mergePartitions: 3, clicks: 3000, crashShare: 0, disorderMs: 15_000, allowedLatenessMs: 30_000 }).corrections;
  assert.ok(corrections > 0, 'late clicks corrected emitted windows');
});

test('allowed lateness 30 s with random crashes and replays: final revisions equal the oracle, replayed revisions identical', () => {
  for (let seed = 400; seed <= 420; seed++) runPipeline(seed, { partitions: 4, mergePartitions: 3, clicks: 3000, crashShare: 0.05, disorderMs: 15_000, allowedLatenessMs: 30_000 });
});

test('allowed lateness of 7 s (not a whole number of panes) on one partition', () => {
  for (let seed = 500; seed <= 505; seed++) runPipeline(seed, { partitions: 1, mergePartitions: 1, clicks: 2000, crashShare: 0.03, disorderMs: 25_000, allowedLatenessMs: 7_000 });
});
