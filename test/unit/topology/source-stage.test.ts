import { test } from 'node:test';
import { jobWindows } from '../../../src/config.js';
import assert from 'node:assert/strict';
import { partitionForKey } from '../../../src/topology/murmur2.js';
import { SourcePanes } from '../../../src/topology/source-panes.js';
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
