import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BarrierAlignment } from '../../../src/topology/barrier-alignment.js';
import { MergeStage, partialProblem } from '../../../src/topology/merge-stage.js';
import { MergeWindows, emptyOutput } from '../../../src/topology/merge-windows.js';
import { SourcePanes } from '../../../src/topology/source-panes.js';
import { SourceStage, type RoutedPartial } from '../../../src/topology/source-stage.js';
import { UrlOwners } from '../../../src/topology/url-owners.js';
import type { WindowSpec } from '../../../src/topology/windows.js';

const windows: WindowSpec = { paneMs: 5_000, totalWindowMs: 10_000, totalSlideMs: 5_000, statsWindowMs: 60_000, allowedLatenessMs: 0 };

test('a merge task is aligned once every source partition sent its barrier, and only then', () => {
  const alignment = new BarrierAlignment(3);
  assert.equal(alignment.state('sp-1'), 'waiting');
  alignment.barrier('sp-1', 0);
  alignment.partialFrom(1); // before its barrier: part of the savepoint
  alignment.barrier('sp-1', 1);
  alignment.barrier('sp-1', 1); // repeated after a retry
  assert.equal(alignment.state('sp-1'), 'waiting');
  alignment.barrier('sp-1', 2);
  assert.equal(alignment.state('sp-1'), 'aligned');
  alignment.forget('sp-1');
  assert.equal(alignment.state('sp-1'), 'waiting');
});

test('data from a source after its barrier breaks the alignment, for good', () => {
  const alignment = new BarrierAlignment(2);
  alignment.barrier('sp-1', 0);
  alignment.partialFrom(1);
  assert.equal(alignment.state('sp-1'), 'waiting');
  alignment.partialFrom(0);
  assert.equal(alignment.state('sp-1'), 'broken');
  assert.match(alignment.brokenBecause('sp-1')!, /source partition 0/);
  alignment.barrier('sp-1', 1);
  assert.equal(alignment.state('sp-1'), 'broken', 'all barriers in, but the state holds data from after one');
});

test('barriers of many savepoint ids (anyone can write them) keep a bounded number followed', () => {
  const alignment = new BarrierAlignment(1);
  for (let i = 0; i < 1_000; i++) alignment.barrier(`x-${i}`, 0);
  assert.equal(alignment.state('x-999'), 'aligned');
  assert.equal(alignment.state('x-0'), 'waiting', 'the oldest were dropped');
});

test('a source task sends its barrier to every merge partition, after what it sent; the merge stage aligns on them', () => {
  const merges = 3;
  const sources = [0, 1].map((p) => new SourceStage(p, merges, windows.paneMs, new SourcePanes(windows, 20_000)));
  const stages = Array.from({ length: merges }, (_, m) => new MergeStage(m, new MergeWindows(windows, 2)));
  const deliver = (routed: RoutedPartial[]): void => {
    for (const r of routed) {
      const problem = partialProblem(r.partial, 2, windows, 65_536, { partition: r.mergePartition, owners: new UrlOwners(merges) });
      assert.equal(problem, undefined);
      stages[r.mergePartition]!.apply(r.partial, emptyOutput());
    }
  };
  const t0 = 1_800_000_000_000;
  for (const [i, source] of sources.entries()) {
    const routed: RoutedPartial[] = [];
    for (let k = 0; k < 50; k++) source.add(`/page/${k % 7}`, t0 + k * 1_000 + i);
    source.flush(routed);
    source.barrier('sp-20261205-abc', routed);
    const barriers = routed.filter((r) => r.partial.barrier != null);
    assert.deepEqual(barriers.map((r) => r.mergePartition), [0, 1, 2]);
    assert.ok(routed.indexOf(barriers[0]!) > 0 && routed.slice(routed.indexOf(barriers[0]!)).every((r) => r.partial.barrier != null), 'barriers come last');
    deliver(routed);
    const expected = i === sources.length - 1 ? 'aligned' : 'waiting';
    for (const stage of stages) assert.equal(stage.alignment.state('sp-20261205-abc'), expected);
  }
  // A click read after the barrier (the partition moved to a worker that had not heard of the savepoint):
  const late: RoutedPartial[] = [];
  sources[0]!.add('/page/1', t0 + 200_000);
  sources[0]!.flush(late);
  deliver(late);
  assert.ok(stages.some((stage) => stage.alignment.state('sp-20261205-abc') === 'broken'));
});

test('a barrier needs a savepoint id and a source partition of the job', () => {
  const check = (barrier: { sourcePartition: number; savepointId: string }) => partialProblem({ barrier }, 4, windows, 65_536);
  assert.equal(check({ sourcePartition: 3, savepointId: 'sp-1' }), undefined);
  assert.match(check({ sourcePartition: 4, savepointId: 'sp-1' })!, /source partition 4/);
  assert.match(check({ sourcePartition: 0, savepointId: '' })!, /savepoint id/);
  assert.match(check({ sourcePartition: 0, savepointId: '../x y' })!, /savepoint id/);
});
