import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MergeWindows, emptyOutput } from '../../../src/topology/merge-windows.js';
import { joinUrlStats } from '../../../src/topology/merge-stage.js';
import { jobWindows } from '../../../src/config.js';

const t0 = 1_700_000_040_000; // a multiple of 60 s

test('a window spanning partitions closes on the minimum watermark', () => {
  const merge = new MergeWindows(jobWindows, 2);
  const out = emptyOutput();
  merge.addPaneCount(0, t0, '/a', 3, out);
  merge.addPaneCount(1, t0, '/a', 4, out);
  merge.updateSource(0, t0 + 5_000, false, out);
  assert.deepEqual(out.counts, [], 'source 1 has not passed the window end');
  merge.updateSource(1, t0 + 5_000, false, out);
  assert.deepEqual(out.counts, [{ url: '/a', windowStart: t0, windowEnd: t0 + 5_000, count: 7 }]);
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
  assert.deepEqual(out.stats, [{ url: '/a', windowStart: t0, windowEnd: t0 + 60_000, count: 2 }]);
  assert.deepEqual(out.totals, [
    { windowStart: t0 - 5_000, windowEnd: t0 + 5_000, count: 2 },
    { windowStart: t0, windowEnd: t0 + 10_000, count: 2 },
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
  assert.deepEqual(out.late, [{ sourcePartition: 1, paneStart: t0, url: '/late', count: 3 }]);
});

test('the minute joins urls.csv; a url missing from it is kept as unknown', () => {
  const table = new Map([['/a', { url: '/a', title: 'Page A', category: 'blog' }]]);
  const window = { windowStart: t0, windowEnd: t0 + 60_000, count: 4 };
  assert.deepEqual(joinUrlStats({ url: '/a', ...window }, table), { url: '/a', ...window, title: 'Page A', category: 'blog', known: true });
  assert.deepEqual(joinUrlStats({ url: '/zz', ...window }, table), { url: '/zz', ...window, title: 'unknown', category: 'unknown', known: false });
});
