import { test } from 'node:test';
import { jobWindows } from '../../../src/config.js';
import assert from 'node:assert/strict';
import { partitionForKey } from '../../../src/topology/murmur2.js';
import { SourcePanes } from '../../../src/topology/source-panes.js';
import { MergeStage } from '../../../src/topology/merge-stage.js';
import { MergeWindows, emptyOutput } from '../../../src/topology/merge-windows.js';
import { expectedWindows } from '../../support/oracle.js';
import { PANE_COUNTS_PART_BYTES, SourceStage, TOTAL_OWNER, type RoutedPartial } from '../../../src/topology/source-stage.js';

const paneMs = 5_000;
const t0 = 1_800_000_000_000;

/** Counts clicks into one pane, then moves the watermark past it and flushes. */
function closedPane(urls: Map<string, number>, mergePartitions: number): RoutedPartial[] {
  const stage = new SourceStage(1, mergePartitions, paneMs, new SourcePanes(jobWindows, 0));
  for (const [url, count] of urls) for (let i = 0; i < count; i++) stage.add(url, t0 + 1_000);
  stage.add('/later', t0 + 2 * paneMs); // the watermark (no out-of-orderness) closes the first pane
  const out: RoutedPartial[] = [];
  stage.flush(out);
  return out;
}

test('a closed pane goes out as one record of pane counts per merge partition, each with the urls it owns, then its total', () => {
  const urls = new Map(Array.from({ length: 40 }, (_, i) => [`/page/${i}`, 1 + (i % 3)] as const));
  const out = closedPane(urls, 4);
  const packed = out.filter((r) => r.partial.paneCounts !== undefined);
  assert.ok(packed.length <= 4, `at most one record per merge partition (${packed.length})`);
  assert.equal(new Set(packed.map((r) => r.mergePartition)).size, packed.length);
  const seen = new Map<string, number>();
  for (const { mergePartition, partial } of packed) {
    assert.equal(partial.paneCounts!.sourcePartition, 1);
    assert.equal(partial.paneCounts!.paneStart, t0);
    for (const { url, count } of partial.paneCounts!.counts) {
      assert.equal(mergePartition, partitionForKey(new TextEncoder().encode(url), 4), `${url} goes to the merge partition that owns it`);
      seen.set(url, count);
    }
  }
  assert.deepEqual(seen, urls);
  const totals = out.filter((r) => r.partial.paneTotal !== undefined);
  const clicks = [...urls.values()].reduce((a, b) => a + b, 0);
  assert.deepEqual(totals.map((r) => [r.mergePartition, r.partial.paneTotal!.count]), [[TOTAL_OWNER, clicks]]);
  assert.ok(out.indexOf(totals[0]!) > out.indexOf(packed[packed.length - 1]!), 'the total after the counts');
});

test('a pane of many long urls is split into parts within the size limit, together holding every url once', () => {
  const urls = new Map(Array.from({ length: 600 }, (_, i) => [`/${i}/${'x'.repeat(1_500)}`, 1] as const));
  const out = closedPane(urls, 1);
  const packed = out.filter((r) => r.partial.paneCounts !== undefined);
  assert.ok(packed.length > 1, 'split');
  const seen: string[] = [];
  for (const { partial } of packed) {
    const bytes = partial.paneCounts!.counts.reduce((sum, { url }) => sum + Buffer.byteLength(url), 0);
    assert.ok(bytes <= PANE_COUNTS_PART_BYTES, `a part holds ${bytes} bytes of urls`);
    seen.push(...partial.paneCounts!.counts.map(({ url }) => url));
  }
  assert.deepEqual(seen.sort(), [...urls.keys()].sort());
});

// Idleness depends on wall-clock time, so a replay does not repeat it. Had the merge seen the
// watermark an idle close made (or a late addition it caused) before a checkpoint recorded it,
// a replay from the older checkpoint would send smaller running totals for the same window, and
// the merge, keeping the largest, would lose a click. So both wait for the checkpoint.
test('an idle close is seen by the merge only after a checkpoint made it durable: a crash before that replays exactly', () => {
  const minute = t0 - (t0 % 60_000);
  const store = new Map<string, string>();
  const persist = (panes: SourcePanes): void => {
    for (const [k, v] of panes.takeChanges()) (v === null ? store.delete(k) : store.set(k, v));
  };
  const merge = new MergeStage(0, new MergeWindows(jobWindows, 1));
  const results = emptyOutput();
  const route = (out: RoutedPartial[]): void => {
    for (const { partial } of out) merge.apply(partial, results);
  };
  const log = [minute + 100_000, minute + 102_000, minute + 126_000, minute + 103_000].map((ts) => ({ partition: 0, url: '/a', ts }));

  let stage = new SourceStage(0, 1, paneMs, new SourcePanes(jobWindows, 20_000));
  let out: RoutedPartial[] = [];
  stage.add('/a', log[0]!.ts);
  stage.flush(out);
  route(out);
  persist(stage.panes); // checkpoint after the first click

  out = [];
  stage.setIdle(true, out); // closes pane [100 s, 105 s): sent, but its watermark is held
  assert.ok(stage.awaitingCheckpoint);
  stage.setIdle(false, out);
  assert.notEqual(stage.add('/a', log[1]!.ts), 0, 'late for its pane, closed by idleness');
  stage.flush(out);
  route(out);
  assert.ok(out.every(({ partial }) => partial.watermark === undefined && partial.lateTotal === undefined && partial.lateStats === undefined), 'no watermark or late addition before the checkpoint');

  // Crash before the checkpoint: restore the first one and replay the clicks after it.
  stage = new SourceStage(0, 1, paneMs, SourcePanes.restore(jobWindows, 20_000, store));
  out = [];
  for (const click of log.slice(1)) {
    stage.add(click.url, click.ts);
    stage.flush(out);
  }
  stage.setIdle(true, out);
  persist(stage.panes);
  stage.checkpointed(out);
  route(out);

  const expected = expectedWindows(log);
  assert.deepEqual(new Map(results.totals.map((t) => [t.windowStart, t.count])), expected.totals);
  assert.deepEqual(new Map(results.stats.map((s) => [`${s.windowStart}|${s.url}`, s.count])), expected.stats);
  assert.deepEqual(new Map(results.counts.map((c) => [`${c.windowStart}|${c.url}`, c.count])), expected.counts);
});

test('what an idle close held goes out after the checkpoint, late additions before the watermark', () => {
  const stage = new SourceStage(0, 2, paneMs, new SourcePanes(jobWindows, 20_000));
  const out: RoutedPartial[] = [];
  stage.add('/a', t0 + 100_000);
  stage.setIdle(true, out);
  stage.setIdle(false, out);
  stage.add('/a', t0 + 101_000); // late for the pane the idle close closed: a late addition
  stage.flush(out);
  assert.deepEqual(out.map(({ partial }) => Object.keys(partial).find((k) => partial[k as keyof typeof partial] != null)), ['paneCounts', 'paneTotal']);
  const released: RoutedPartial[] = [];
  stage.checkpointed(released);
  const kinds = released.map(({ partial }) => Object.keys(partial).find((k) => partial[k as keyof typeof partial] != null));
  assert.deepEqual(kinds, ['lateTotal', 'lateStats', 'watermark', 'watermark']);
  assert.equal(released[2]!.partial.watermark!.watermarkMs, t0 + 105_000);
  assert.equal(released[2]!.partial.watermark!.idle, false);
  assert.equal(stage.awaitingCheckpoint, false);
});

test('a reopened source task announces itself once, not idle, at its restored watermark: the merge holds windows for it again', () => {
  const store = new Map<string, string>();
  const merge = new MergeStage(0, new MergeWindows(jobWindows, 2));
  const results = emptyOutput();
  const route = (out: RoutedPartial[]): void => {
    for (const { partial } of out) merge.apply(partial, results);
  };
  // Partition 1 reads a click, goes idle at its first owner (the checkpoint records it), which dies.
  const first = new SourceStage(1, 1, paneMs, new SourcePanes(jobWindows, 20_000));
  const out: RoutedPartial[] = [];
  first.add('/b', t0);
  first.setIdle(true, out);
  for (const [k, v] of first.panes.takeChanges()) if (v !== null) store.set(k, v);
  first.checkpointed(out);
  route(out);
  // Partition 0 alone moves the merged watermark while partition 1 is idle.
  const other = new SourceStage(0, 1, paneMs, new SourcePanes(jobWindows, 20_000));
  const advance = (...times: number[]): void => {
    const sent: RoutedPartial[] = [];
    for (const ts of times) other.add('/a', ts);
    other.flush(sent);
    route(sent);
  };
  advance(t0 + 11_000, t0 + 40_000);
  const emittedWhileIdle = results.counts.length;
  assert.ok(results.counts.some((c) => c.windowStart === t0 + 10_000 && c.url === '/a'), 'partition 0 alone closed windows (partition 1 idle)');

  const reopened = new SourceStage(1, 1, paneMs, SourcePanes.restore(jobWindows, 20_000, store));
  const announced: RoutedPartial[] = [];
  reopened.announce(announced);
  reopened.announce(announced);
  assert.equal(announced.length, 1, 'once, to the one merge partition');
  assert.deepEqual(announced[0]!.partial.watermark, { sourcePartition: 1, watermarkMs: t0 + paneMs, idle: false });
  route(announced);
  advance(t0 + 45_000, t0 + 80_000);
  assert.equal(results.counts.length, emittedWhileIdle, 'no window past partition 1\'s watermark closes until it moves or is found idle again');
  const late: RoutedPartial[] = [];
  assert.equal(reopened.add('/b', t0 + 30_000), 0, 'on time for partition 1');
  reopened.add('/b', t0 + 70_000);
  reopened.flush(late);
  route(late);
  assert.ok(results.counts.some((c) => c.windowStart === t0 + 30_000 && c.url === '/b' && c.count === 1), 'its click counts');
});

// Found by review: an idle close held late additions; the state was checkpointed with them
// unsent, and the task moved before they went out.
const lateSpec = { ...jobWindows, allowedLatenessMs: 10_000 };
const m = 1_800_000_000_000; // minute aligned
test('a reopened task sends the late additions it restored unsent before announcing its watermark (else the merge takes them for replays)', () => {
  const store = new Map<string, string>();
  const persist = (panes: SourcePanes): void => { for (const [k, v] of panes.takeChanges()) (v === null ? store.delete(k) : store.set(k, v)); };
  const merge = new MergeStage(0, new MergeWindows(lateSpec, 1));
  const res = emptyOutput();
  const route = (out: RoutedPartial[]): void => { for (const { partial } of out) merge.apply(partial, res); };
  let stage = new SourceStage(0, 1, paneMs, new SourcePanes(lateSpec, 20_000));
  let out: RoutedPartial[] = [];
  stage.announce(out);
  stage.add('/a', m + 27_000);
  stage.add('/a', m + 31_000); // wm 11 s
  stage.flush(out); route(out); persist(stage.panes);
  out = [];
  stage.setIdle(true, out); // closedUntil 35 s, holding
  assert.ok(stage.awaitingCheckpoint);
  stage.setIdle(false, out);
  assert.equal(stage.add('/a', m + 28_000), 0); // late for pane [25,30): 30+10 > 35
  stage.add('/a', m + 61_000); // wm 41 s >= 30+10
  stage.flush(out); route(out);
  persist(stage.panes); // checkpoint completes; crash before the released partials are durable
  // new owner
  stage = new SourceStage(0, 1, paneMs, SourcePanes.restore(lateSpec, 20_000, store));
  out = [];
  stage.announce(out);
  stage.flush(out);
  stage.setIdle(true, out); persist(stage.panes); stage.checkpointed(out);
  route(out);
  const finalPane = res.counts.filter((c) => c.windowStart === m + 25_000 && c.final);
  assert.equal(finalPane[0]?.count, 2, 'oracle: 2 clicks in [25,30)');
});

test('with an allowed lateness, the watermarks of a source say it (a merge with another skips them); without, they are as before', () => {
  const sent = (spec: typeof jobWindows) => {
    const stage = new SourceStage(0, 1, paneMs, new SourcePanes(spec, 20_000));
    const out: RoutedPartial[] = [];
    stage.announce(out);
    return out.map((r) => r.partial.watermark);
  };
  assert.deepEqual(sent(lateSpec).map((w) => w?.allowedLatenessMs), [10_000]);
  assert.deepEqual(sent(jobWindows).map((w) => w != null && 'allowedLatenessMs' in w), [false]);
});

test('the end of a catch-up sends the marker again, flagged, to every merge partition; other markers are unflagged', () => {
  const stage = new SourceStage(2, 3, paneMs, new SourcePanes(jobWindows, 0));
  const before: RoutedPartial[] = [];
  stage.caughtUp(before);
  assert.deepEqual(before, [], 'nothing before the task announced itself (its restored late additions go first)');
  stage.announce(before);
  const out: RoutedPartial[] = [];
  stage.add('/a', t0 + 1_000);
  stage.add('/b', t0 + 12_000); // closes two panes: the watermark moves to t0 + 10 s
  stage.flush(out);
  const plain = [...before, ...out].filter((r) => r.partial.watermark != null);
  assert.deepEqual(plain.map((r) => r.partial.watermark!.caughtUp ?? false), [false, false, false, false, false, false]);
  const flagged: RoutedPartial[] = [];
  stage.caughtUp(flagged);
  assert.deepEqual(
    flagged.map((r) => [r.mergePartition, r.partial.watermark]),
    [0, 1, 2].map((mergePartition) => [mergePartition, { sourcePartition: 2, watermarkMs: t0 + 10_000, idle: false, caughtUp: true }]),
  );
  // The same watermark again: a merge task emits nothing more and its state is as it was.
  const merge = new MergeStage(0, new MergeWindows(jobWindows, 3));
  const first = emptyOutput();
  for (const other of [0, 1]) merge.apply({ watermark: { sourcePartition: other, watermarkMs: t0 + 60_000, idle: true } }, first);
  for (const r of [...before, ...out]) if (r.mergePartition === 0) merge.apply(r.partial, first);
  assert.ok(first.totals.length > 0, 'the marker closed windows');
  merge.windows.takeChanges();
  const again = emptyOutput();
  merge.apply(flagged[0]!.partial, again);
  assert.deepEqual(again, emptyOutput());
  assert.equal(merge.windows.takeChanges().size, 0);
});

test('a catch-up that ends while an idle close is held sends nothing ahead of the held watermark', () => {
  const stage = new SourceStage(0, 2, paneMs, new SourcePanes(jobWindows, 20_000));
  const out: RoutedPartial[] = [];
  stage.announce(out);
  stage.add('/a', t0 + 100_000);
  stage.setIdle(true, out); // holds the watermark until a checkpoint
  const flagged: RoutedPartial[] = [];
  stage.caughtUp(flagged);
  assert.deepEqual(flagged, []);
  const released: RoutedPartial[] = [];
  stage.checkpointed(released);
  const markers = released.filter((r) => r.partial.watermark != null).map((r) => r.partial.watermark!);
  assert.deepEqual(markers.map((w) => [w.watermarkMs, w.idle, w.caughtUp]), [[t0 + 105_000, true, undefined], [t0 + 105_000, true, undefined]]);
  // Released: the worker's next early checkpoint announces it (CatchUpCheckpoints.heldReleased).
  const announced: RoutedPartial[] = [];
  stage.caughtUp(announced);
  assert.deepEqual(announced.map((r) => [r.partial.watermark!.watermarkMs, r.partial.watermark!.idle, r.partial.watermark!.caughtUp]), [[t0 + 105_000, true, true], [t0 + 105_000, true, true]]);
});
