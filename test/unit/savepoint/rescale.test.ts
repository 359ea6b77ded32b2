// Rescale, pure: a job of 4 partitions runs over random out-of-order clicks, stops aligned (every
// source sends its barrier, every merge task reads to it), its state is laid out for more
// partitions, and a job of that many continues over more clicks on every partition. The final
// windows equal the oracle over all clicks, with the added partitions starting at the lowest
// watermark the old ones had. Refusals: shrinking, and a savepoint that is not aligned.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PartialMessage } from '../../../src/codec/messages.js';
import { jobWindows } from '../../../src/config.js';
import { Random } from '../../../src/producer/random.js';
import { rescaledSavepoint } from '../../../src/savepoint/rescale.js';
import type { SavepointManifest, SavepointTaskEntry, TaskSnapshot } from '../../../src/savepoint/manifest.js';
import { MergeStage } from '../../../src/topology/merge-stage.js';
import { MergeWindows, emptyOutput, type CountResult, type TotalResult } from '../../../src/topology/merge-windows.js';
import { SourcePanes } from '../../../src/topology/source-panes.js';
import { SourceStage, type RoutedPartial } from '../../../src/topology/source-stage.js';
import { NO_WATERMARK } from '../../../src/topology/watermark.js';
import { expectedWindows, type OracleClick } from '../../support/oracle.js';

const paneMs = 5_000;
const boundMs = 20_000;

/** A job of `partitions` sources and as many merge tasks, from saved state (key -> value per task). */
class Job {
  readonly sources: SourceStage[];
  readonly merges: MergeStage[];
  private readonly logs: PartialMessage[][];
  private readonly read: number[];
  readonly counts = new Map<string, number>();
  readonly totals = new Map<number, number>();
  readonly stats = new Map<string, number>();

  constructor(
    readonly partitions: number,
    private readonly windows: typeof jobWindows,
    saved?: { sources: Array<Array<[string, string]>>; merges: Array<Array<[string, string]>> },
  ) {
    this.sources = Array.from({ length: partitions }, (_, p) => new SourceStage(p, partitions, paneMs, SourcePanes.restore(windows, boundMs, saved?.sources[p] ?? [])));
    this.merges = Array.from({ length: partitions }, (_, m) => new MergeStage(m, MergeWindows.restore(windows, partitions, saved?.merges[m] ?? [])));
    this.logs = this.merges.map(() => []);
    this.read = this.merges.map(() => 0);
    const opened: RoutedPartial[] = [];
    for (const source of this.sources) source.announce(opened); // as a worker does when it opens a task
    this.route(opened);
  }

  route(routed: RoutedPartial[]): void {
    for (const r of routed) this.logs[r.mergePartition]!.push(r.partial);
  }

  click(c: OracleClick): void {
    this.sources[c.partition]!.add(c.url, c.ts);
    const out: RoutedPartial[] = [];
    this.sources[c.partition]!.flush(out);
    this.route(out);
  }

  /** Every merge task reads its partials to the end. */
  drain(): void {
    for (const [m, merge] of this.merges.entries()) {
      const out = emptyOutput();
      for (; this.read[m]! < this.logs[m]!.length; this.read[m]!++) merge.apply(this.logs[m]![this.read[m]!]!, out);
      assert.deepEqual(out.late, [], 'no partial comes after its window');
      const keep = <K>(map: Map<K, number>, key: K, r: CountResult | TotalResult) => {
        assert.ok(!map.has(key) || this.windows.allowedLatenessMs > 0, `window ${String(key)} emitted twice`);
        if (r.final) map.set(key, r.count);
      };
      for (const c of out.counts) keep(this.counts, `${c.windowStart}|${c.url}`, c);
      for (const t of out.totals) keep(this.totals, t.windowStart, t);
      for (const s of out.stats) keep(this.stats, `${s.windowStart}|${s.url}`, s);
    }
  }

  /** An aligned stop-with-savepoint: barriers, then every merge task reads to them; the state of every task. */
  stopWithSavepoint(): { sources: TaskSnapshot[]; merges: TaskSnapshot[] } {
    const out: RoutedPartial[] = [];
    for (const source of this.sources) source.barrier('sp-test', out);
    this.route(out);
    this.drain();
    for (const merge of this.merges) assert.equal(merge.alignment.state('sp-test'), 'aligned');
    const state = (changes: Map<string, string | null>) => [...changes].filter((e): e is [string, string] => e[1] !== null);
    return {
      sources: this.sources.map((s, p) => ({ stage: 'source', partition: p, nextOffset: 1_000 + p, entries: state(s.panes.takeChanges()) })),
      merges: this.merges.map((m, p) => ({ stage: 'merge', partition: p, nextOffset: this.read[p]!, entries: state(m.windows.takeChanges()) })),
    };
  }

  /** The stream ends: every source goes idle (durably), which closes every window. */
  finish(): void {
    const out: RoutedPartial[] = [];
    for (const source of this.sources) {
      source.setIdle(true, out);
      source.panes.takeChanges();
      source.checkpointed(out);
    }
    this.route(out);
    this.drain();
  }
}

function manifestOf(snapshots: { sources: TaskSnapshot[]; merges: TaskSnapshot[] }, windows: typeof jobWindows, aligned: boolean): { manifest: SavepointManifest; load(task: SavepointTaskEntry): TaskSnapshot } {
  const partitions = snapshots.sources.length;
  const byFile = new Map<string, TaskSnapshot>();
  const entry = (snapshot: TaskSnapshot): SavepointTaskEntry => {
    const file = `tasks/${snapshot.stage}-${snapshot.partition}.json`;
    byFile.set(file, snapshot);
    const watermark = snapshot.stage === 'source' ? SourcePanes.restore(windows, boundMs, snapshot.entries).watermarkMs : MergeWindows.restore(windows, partitions, snapshot.entries).frontierMs;
    return { stage: snapshot.stage, partition: snapshot.partition, nextOffset: snapshot.nextOffset, watermarkMs: watermark === NO_WATERMARK ? null : watermark, openWindowKeys: 0, file, bytes: 0, sha256: '' };
  };
  const manifest: SavepointManifest = {
    formatVersion: 1,
    savepointId: 'sp-test',
    createdAt: '2026-12-05T00:00:00Z',
    jobId: 'job',
    takenFrom: 'running-job',
    stopped: true,
    aligned,
    config: { clicksPartitions: partitions, mergePartitions: partitions, paneMs, totalWindowMs: windows.totalWindowMs, totalSlideMs: windows.totalSlideMs, statsWindowMs: windows.statsWindowMs, maxOutOfOrdernessMs: boundMs, allowedLatenessMs: windows.allowedLatenessMs, topicPrefix: '' },
    tasks: [...snapshots.sources, ...snapshots.merges].map(entry),
    totalBytes: 0,
  };
  return { manifest, load: (task) => byFile.get(task.file)! };
}

/** Clicks from `clock` on, over `partitions` partitions, out of order by up to 15 s, 3 % late by up to 90 s. */
function clicksFrom(random: Random, clock: number, n: number, partitions: number): OracleClick[] {
  const urls = Array.from({ length: 40 }, (_, i) => `/page/${i}`);
  const clicks: OracleClick[] = [];
  for (let i = 0; i < n; i++) {
    clock += random.below(300);
    const ts = random.float() < 0.03 ? clock - boundMs - random.below(90_000) : clock - random.below(15_001);
    clicks.push({ partition: random.below(partitions), url: urls[Math.floor(random.float() ** 2 * urls.length)]!, ts });
  }
  return clicks;
}

function rescaleRun(seed: number, to: number, allowedLatenessMs: number): void {
  const windows = { ...jobWindows, allowedLatenessMs };
  const random = new Random(seed);
  const before = clicksFrom(random, 1_800_000_000_000, 3_000, 4);
  const job = new Job(4, windows);
  for (const c of before) job.click(c);
  job.drain();
  const saved = manifestOf(job.stopWithSavepoint(), windows, true);

  const { manifest, load, addedWatermarkMs } = rescaledSavepoint(saved, to);
  assert.equal(manifest.config.clicksPartitions, to);
  assert.deepEqual(manifest.tasks.map((t) => `${t.stage}-${t.partition}`), [...Array.from({ length: to }, (_, p) => `merge-${p}`), ...Array.from({ length: to }, (_, p) => `source-${p}`)]);
  const state = (stage: string) => manifest.tasks.filter((t) => t.stage === stage).sort((a, b) => a.partition - b.partition).map((t) => load(t).entries);
  const next = new Job(to, windows, { sources: state('source'), merges: state('merge') });
  // The output so far carries over (the topics are the same); a window must not come again.
  for (const [key, count] of job.counts) next.counts.set(key, count);
  for (const [key, count] of job.totals) next.totals.set(key, count);
  for (const [key, count] of job.stats) next.stats.set(key, count);
  // The rule, from the clicks: the lowest of the old partitions' watermarks at the savepoint.
  const highest = [0, 1, 2, 3].map((p) => Math.max(...before.filter((c) => c.partition === p).map((c) => c.ts)));
  const start = Math.min(...highest) - boundMs;
  assert.equal(addedWatermarkMs, start);
  // Each added partition first reads a click just behind that watermark (late: the old ones had
  // closed its windows) and one just ahead of it (not late), then the stream.
  const edge = Array.from({ length: to - 4 }, (_, i) => [
    { partition: 4 + i, url: '/edge', ts: start - 1 - random.below(4_000) },
    { partition: 4 + i, url: '/edge', ts: start + 1 + random.below(4_000) },
  ]).flat();
  const after = [...edge, ...clicksFrom(random, Math.max(...before.map((c) => c.ts)), 3_000, to)];
  for (const c of after) next.click(c);
  next.finish();
  const startWatermarks = new Map(Array.from({ length: to - 4 }, (_, i) => [4 + i, start] as [number, number]));
  const expected = expectedWindows([...before, ...after], { paneMs, boundMs, allowedLatenessMs, startWatermarks });
  assert.ok(expected.late > 0);
  assert.deepEqual(next.counts, expected.counts);
  assert.deepEqual(next.totals, expected.totals);
  assert.deepEqual(next.stats, expected.stats);
}

test('rescale 4 → 8 and 4 → 5: the final windows equal the oracle over all clicks', () => {
  for (let seed = 1; seed <= 12; seed++) rescaleRun(seed, seed % 2 === 0 ? 8 : 5, 0);
});

test('rescale with an allowed lateness of 30 s: the final revisions equal the oracle', () => {
  for (let seed = 20; seed <= 28; seed++) rescaleRun(seed, 6, 30_000);
});

test('rescale refuses fewer partitions and a savepoint that is not aligned, in one line', () => {
  const windows = { ...jobWindows, allowedLatenessMs: 0 };
  const job = new Job(4, windows);
  for (const c of clicksFrom(new Random(5), 1_800_000_000_000, 500, 4)) job.click(c);
  const snapshots = job.stopWithSavepoint();
  assert.throws(() => rescaledSavepoint(manifestOf(snapshots, windows, true), 3), /--partitions 3: savepoint sp-test has 4, and a Kafka topic never loses partitions/);
  assert.throws(() => rescaledSavepoint(manifestOf(snapshots, windows, false), 8), /only an aligned one, taken with "clickstream savepoint --stop"/);
  // Merge tasks that emitted windows up to different times (not aligned, whatever the manifest says).
  const skewed = { ...snapshots, merges: snapshots.merges.map((m, i) => (i === 1 ? { ...m, entries: m.entries.map(([k, v]): [string, string] => [k, k === 'meta!frontier' ? String(Number(v) - 5_000) : v]) } : m)) };
  assert.throws(() => rescaledSavepoint(manifestOf(skewed, windows, true), 8), /merge tasks disagree on meta!frontier/);
});
