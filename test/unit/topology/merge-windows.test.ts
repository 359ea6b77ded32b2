import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MergeWindows, emptyOutput } from '../../../src/topology/merge-windows.js';
import { joinUrlStats } from '../../../src/topology/merge-stage.js';
import { jobWindows } from '../../../src/config.js';
import { alignDown } from '../../../src/topology/windows.js';

const t0 = 1_700_000_040_000; // a multiple of 60 s

test('a window spanning partitions closes on the minimum watermark', () => {
  const merge = new MergeWindows(jobWindows, 2);
  const out = emptyOutput();
  merge.addPaneCount(0, t0, '/a', 3, out);
  merge.addPaneCount(1, t0, '/a', 4, out);
  merge.updateSource(0, t0 + 5_000, false, out);
  assert.deepEqual(out.counts, [], 'source 1 has not passed the window end');
  merge.updateSource(1, t0 + 5_000, false, out);
  assert.deepEqual(out.counts, [{ url: '/a', windowStart: t0, windowEnd: t0 + 5_000, count: 7, revision: 0, final: true }]);
});

test('a source never heard from holds every window open', () => {
  const merge = new MergeWindows(jobWindows, 3);
  const out = emptyOutput();
  merge.addPaneCount(0, t0, '/a', 1, out);
  merge.updateSource(0, t0 + 100_000, false, out);
  merge.updateSource(1, t0 + 100_000, false, out);
  assert.deepEqual(out.counts, []);
});

test('idle sources do not hold windows open; all idle closes everything', () => {
  const merge = new MergeWindows(jobWindows, 2);
  const out = emptyOutput();
  merge.addPaneCount(0, t0, '/a', 2, out);
  merge.addPaneTotal(0, t0, 2, out);
  merge.updateSource(1, t0, true, out);
  merge.updateSource(0, t0 + 5_000, false, out);
  assert.deepEqual(out.counts.map((c) => c.count), [2]);
  assert.deepEqual(out.stats, [], 'the minute is still open');
  merge.updateSource(0, t0 + 5_000, true, out);
  assert.deepEqual(out.stats, [{ url: '/a', windowStart: t0, windowEnd: t0 + 60_000, count: 2, revision: 0, final: true }]);
  assert.deepEqual(out.totals, [
    { windowStart: t0 - 5_000, windowEnd: t0 + 5_000, count: 2, revision: 0, final: true },
    { windowStart: t0, windowEnd: t0 + 10_000, count: 2, revision: 0, final: true },
  ]);
});

test('a replayed partial replaces, never adds, and a repeated pane after emission is ignored', () => {
  const merge = new MergeWindows(jobWindows, 1);
  const out = emptyOutput();
  merge.addPaneCount(0, t0, '/a', 5, out);
  merge.addPaneCount(0, t0, '/a', 5, out);
  merge.updateSource(0, t0 + 5_000, false, out);
  assert.deepEqual(out.counts.map((c) => c.count), [5]);
  merge.addPaneCount(0, t0, '/a', 5, out); // the source replays from an older checkpoint
  merge.updateSource(0, t0 + 5_000, false, out);
  assert.equal(out.counts.length, 1);
  assert.deepEqual(out.late, []);
});

test('a partial for a window already closed while its source was idle is reported late', () => {
  const merge = new MergeWindows(jobWindows, 2);
  const out = emptyOutput();
  merge.updateSource(1, t0 - 5_000, true, out);
  merge.updateSource(0, t0 + 10_000, false, out);
  merge.addPaneCount(1, t0, '/late', 3, out);
  merge.addLateStats(1, alignDown(t0, 60_000) - 60_000, '/late', 2, out);
  assert.deepEqual(out.late, [
    { sourcePartition: 1, kind: 'pane', start: t0, url: '/late', count: 3 },
    { sourcePartition: 1, kind: 'stats', start: alignDown(t0, 60_000) - 60_000, url: '/late', count: 2 },
  ]);
});

test('late additions count in their total and minute only, as running totals of which the largest counts', () => {
  const merge = new MergeWindows(jobWindows, 2);
  const out = emptyOutput();
  const minute = alignDown(t0, 60_000);
  merge.addPaneCount(0, t0, '/a', 4, out);
  merge.addPaneTotal(0, t0, 4, out);
  // Source 1 had closed pane t0 when 2, then 3 more of its clicks came: they count in the
  // 10 s window starting at t0 and in the minute, not in the 5 s count.
  merge.addLateTotal(1, t0, 2, out);
  merge.addLateStats(1, minute, '/a', 2, out);
  merge.addLateTotal(1, t0, 3, out);
  merge.addLateStats(1, minute, '/a', 3, out);
  // ...and a source replaying before its watermark passes them: smaller totals, then the same again.
  merge.addLateTotal(1, t0, 1, out);
  merge.addLateStats(1, minute, '/a', 1, out);
  merge.addLateStats(1, minute, '/only-late', 1, out); // a url with no on-time click in the minute
  merge.updateSource(0, minute + 60_000, false, out);
  merge.updateSource(1, minute + 60_000, false, out);
  assert.deepEqual(out.counts.map((c) => [c.url, c.count]), [['/a', 4]]);
  assert.deepEqual(out.totals.map((t) => [t.windowStart - t0, t.count]), [[-5_000, 4], [0, 7]]);
  assert.deepEqual(out.stats.map((s) => [s.url, s.count]), [['/a', 7], ['/only-late', 1]]);
  // A source replaying from an older checkpoint repeats running totals its watermark has passed.
  merge.addLateTotal(1, t0, 2, out);
  merge.addLateStats(1, minute, '/a', 3, out);
  assert.deepEqual(out.late, []);
  assert.equal(merge.openKeyCount, 0, 'emitted windows leave no state');
});

test('late additions persist and restore with the rest of the merge state', () => {
  const merge = new MergeWindows(jobWindows, 2);
  const out = emptyOutput();
  const minute = alignDown(t0, 60_000);
  merge.updateSource(0, t0 - 5_000, false, out);
  merge.updateSource(1, t0 - 5_000, false, out);
  merge.addLateTotal(1, t0 - 5_000, 2, out);
  merge.addLateStats(0, minute, '/a!b', 5, out);
  const restored = MergeWindows.restore(jobWindows, 2, [...merge.takeChanges()] as Array<[string, string]>);
  for (const windows of [merge, restored]) {
    const closed = emptyOutput();
    windows.updateSource(0, minute + 60_000, false, closed);
    windows.updateSource(1, minute + 60_000, false, closed);
    assert.deepEqual(closed.totals.map((t) => [t.windowStart - t0, t.count]), [[-5_000, 2]]);
    assert.deepEqual(closed.stats.map((s) => [s.url, s.count]), [['/a!b', 5]]);
  }
});

test('the minute joins urls.csv; a url missing from it is kept as unknown', () => {
  const table = new Map([['/a', { url: '/a', title: 'Page A', category: 'blog' }]]);
  const window = { windowStart: t0, windowEnd: t0 + 60_000, count: 4, revision: 0, final: true };
  assert.deepEqual(joinUrlStats({ url: '/a', ...window }, table), { url: '/a', ...window, title: 'Page A', category: 'blog', known: true });
  assert.deepEqual(joinUrlStats({ url: '/zz', ...window }, table), { url: '/zz', ...window, title: 'unknown', category: 'unknown', known: false });
});

test('running totals for a window emitted while their source was idle are reported late once per click', () => {
  const merge = new MergeWindows(jobWindows, 2);
  const out = emptyOutput();
  const minute = alignDown(t0, 60_000);
  merge.updateSource(0, t0 - 5_000, false, out);
  merge.updateSource(1, t0 - 5_000, false, out);
  merge.addLateStats(1, minute, '/a', 2, out); // before the minute is emitted: counted in it
  merge.updateSource(1, t0 - 5_000, true, out); // source 1 goes idle: source 0 alone closes windows
  merge.updateSource(0, minute + 60_000, false, out);
  assert.deepEqual(out.stats.map((s) => [s.url, s.count]), [['/a', 2]]);
  for (const total of [3, 3, 4, 6]) merge.addLateStats(1, minute, '/a', total, out);
  assert.deepEqual(out.late.map((l) => [l.kind, l.count]), [['stats', 1], ['stats', 1], ['stats', 2]], 'each click once: 3, 4, 6 after 2');
  merge.updateSource(1, minute + 60_000, false, out); // source 1 passes the minute: forgotten
  merge.addLateStats(1, minute, '/a', 7, out);
  assert.equal(out.late.length, 3, 'a replay after the source passed the window is not late');
});

const withLateness = (allowedLatenessMs: number) => ({ ...jobWindows, allowedLatenessMs });
const results = (list: Array<{ count: number; revision: number; final: boolean }>) => list.map((r) => [r.count, r.revision, r.final]);

test('allowed lateness: revision 0 at the end, a correction per change, the final revision at end + D, then forgotten', () => {
  const merge = new MergeWindows(withLateness(20_000), 1);
  let out = emptyOutput();
  merge.addPaneCount(0, t0, '/a', 3, out);
  merge.addPaneTotal(0, t0, 3, out);
  merge.updateSource(0, t0 + 5_000, false, out);
  assert.deepEqual(results(out.counts), [[3, 0, false]], 'first result, not final');
  out = emptyOutput();
  merge.addLatePane(0, t0, '/a', 1, out);
  merge.addLatePane(0, t0, '/a', 1, out); // a replayed running total: no change
  merge.addLatePane(0, t0, '/a', 2, out);
  assert.deepEqual(results(out.counts), [[4, 1, false], [5, 2, false]]);
  out = emptyOutput();
  merge.updateSource(0, t0 + 20_000, false, out);
  assert.deepEqual(results(out.counts), [], 'within end + D');
  merge.updateSource(0, t0 + 25_000, false, out);
  assert.deepEqual(results(out.counts), [[5, 3, true]], 'final at end + D, with the last count');
  assert.deepEqual(results(out.totals.filter((t) => t.windowStart === t0 - 5_000)), [[3, 1, true]], 'the total ending at t0+5 s is final too');
  out = emptyOutput();
  merge.addLatePane(0, t0, '/a', 3, out);
  assert.deepEqual(out.counts, [], 'a final window takes nothing more');
  assert.equal(merge.openKeyCount > 0, true, 'the minute and the later total are still held');
  merge.updateSource(0, t0 + 200_000, false, out);
  assert.equal(merge.openKeyCount, 0, 'state bounded: everything final is forgotten');
});

test('allowed lateness: a pane of a source that was idle corrects its 5 s window and its minute, once emitted', () => {
  const merge = new MergeWindows(withLateness(30_000), 2);
  let out = emptyOutput();
  const minute = alignDown(t0, 60_000);
  merge.updateSource(1, minute, true, out); // source 1 idle
  merge.addPaneCount(0, minute + 40_000, '/a', 2, out);
  merge.updateSource(0, minute + 60_000, false, out);
  assert.deepEqual(out.stats.map((s) => [s.url, s.count, s.revision, s.final]), [['/a', 2, 0, false]]);
  out = emptyOutput();
  merge.addPaneCount(1, minute + 40_000, '/a', 4, out); // source 1 woke up with clicks on time for it, within D
  assert.deepEqual(out.counts.map((c) => [c.count, c.revision]), [[6, 1]]);
  assert.deepEqual(out.stats.map((s) => [s.count, s.revision]), [[6, 1]]);
  out = emptyOutput();
  merge.addPaneCount(1, minute + 40_000, '/b', 1, out); // a url the window did not have: its first result
  assert.deepEqual(out.counts.map((c) => [c.url, c.count, c.revision, c.final]), [['/b', 1, 0, false]]);
  out = emptyOutput();
  merge.addPaneCount(1, minute + 25_000, '/a', 1, out); // its pane ended D before the frontier: final
  assert.deepEqual(out.counts, []);
  assert.deepEqual(out.late.map((l) => [l.kind, l.count]), [['pane', 1]]);
});

test('allowed lateness: emitted windows survive a restore; a smaller allowed lateness finishes them at the next watermark', () => {
  const merge = new MergeWindows(withLateness(60_000), 1);
  const out = emptyOutput();
  merge.addPaneCount(0, t0, '/a', 3, out);
  merge.updateSource(0, t0 + 5_000, false, out);
  merge.addLatePane(0, t0, '/a', 2, out);
  const store = new Map<string, string>();
  for (const [k, v] of merge.takeChanges()) if (v !== null) store.set(k, v);
  const same = MergeWindows.restore(withLateness(60_000), 1, store);
  const again = emptyOutput();
  same.addLatePane(0, t0, '/a', 3, again);
  assert.deepEqual(results(again.counts), [[6, 2, false]], 'the revision goes on from the stored one');
  const shorter = MergeWindows.restore(withLateness(10_000), 1, store);
  const finished = emptyOutput();
  shorter.updateSource(0, t0 + 15_000, false, finished);
  assert.deepEqual(results(finished.counts), [[5, 2, true]]);
});

test('the allowed lateness travels with the state; without one, late panes are taken only up to what a shortening restore allows', () => {
  const merge = new MergeWindows(withLateness(60_000), 1);
  const out = emptyOutput();
  merge.addPaneCount(0, t0, '/a', 3, out);
  merge.updateSource(0, t0 + 5_000, false, out);
  const store = new Map<string, string>();
  for (const [k, v] of merge.takeChanges()) if (v !== null) store.set(k, v);
  assert.equal(MergeWindows.restore(withLateness(60_000), 1, store).restoredLatenessMs, 60_000);
  assert.equal(new MergeWindows(withLateness(0), 1).takesLatePane(t0), false, 'no allowed lateness: no source sends late panes');
  assert.equal(MergeWindows.restore(withLateness(0), 1, store).restoredLatenessMs, 60_000, 'a worker compares it with its own');
  // What restore writes when it shortens the lateness: the furthest source watermark of the savepoint.
  const shorter = MergeWindows.restore(withLateness(0), 1, [...store, ['meta!latePanesUntil', String(t0 + 10_000)]]);
  assert.equal(shorter.takesLatePane(t0 + 5_000), true, 'a pane the sources had closed by the savepoint');
  assert.equal(shorter.takesLatePane(t0 + 10_000), false, 'a pane no source had closed then');
  const corrected = emptyOutput();
  shorter.addLatePane(0, t0, '/a', 1, corrected);
  assert.deepEqual(results(corrected.counts), [[4, 1, false]], 'held for corrections under the old lateness: revised');
  const unseen = emptyOutput();
  shorter.addLatePane(0, t0 + 5_000, '/b', 2, unseen); // not emitted yet: counted when it is
  assert.deepEqual(unseen.counts, []);
  const finished = emptyOutput();
  shorter.updateSource(0, t0 + 15_000, false, finished);
  assert.deepEqual(finished.counts.map((c) => [c.url, c.windowStart - t0, c.count, c.revision, c.final]), [
    ['/b', 5_000, 2, 0, true], // the pane not emitted before: emitted final (no lateness now)
    ['/a', 0, 4, 2, true], // held for corrections: finished at once, under the next revision
  ]);
  assert.equal([...shorter.takeChanges()].find(([key]) => key === 'meta!allowedLatenessMs')?.[1], '0', 'the state now says 0');
});

test('allowed lateness: a replayed running total from a source already past end + D changes nothing', () => {
  const merge = new MergeWindows(withLateness(10_000), 2);
  const out = emptyOutput();
  merge.addPaneCount(0, t0, '/a', 3, out);
  merge.addPaneTotal(0, t0, 3, out);
  merge.updateSource(1, t0 + 60_000, false, out);
  merge.updateSource(0, t0 + 10_000, false, out); // 5 s window emitted, not final (source 0 lags)
  merge.addLateStats(1, alignDown(t0, 60_000), '/a', 2, out);
  merge.addLateTotal(1, t0, 2, out);
  const before = emptyOutput();
  merge.updateSource(0, t0 + 15_000, false, before);
  const replay = emptyOutput();
  merge.addLateStats(1, alignDown(t0, 60_000), '/a', 1, replay);
  merge.addLateTotal(1, t0, 1, replay);
  merge.addLateTotal(1, t0, 2, replay);
  assert.deepEqual(replay, emptyOutput(), 'smaller or equal running totals: no revision, nothing late');
});
