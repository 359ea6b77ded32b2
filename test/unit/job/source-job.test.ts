// The source job answers exactly as the source stages would if the worker called them itself:
// the same partials, late clicks and state changes, whether it runs in this thread or in a worker
// thread; and a job that failed refuses everything after.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jobWindows } from '../../../src/config.js';
import { partialCodec } from '../../../src/codec/messages.js';
import { Random } from '../../../src/producer/random.js';
import { SourcePanes } from '../../../src/topology/source-panes.js';
import { SourceStage, type RoutedPartial } from '../../../src/topology/source-stage.js';
import type { ClickBatch, EncodedPartials, SourceJobSettings, SourceResponse } from '../../../src/job/protocol.js';
import { InlineSourceJob, SourceJobError, ThreadSourceJob, type SourceJob } from '../../../src/job/source-job.js';
import { UrlIds, UrlList } from '../../../src/job/url-ids.js';

const settings: SourceJobSettings = { windows: { ...jobWindows, allowedLatenessMs: 0 }, maxOutOfOrdernessMs: 20_000, mergePartitions: 3 };
const urls = ['/a', '/b', '/c', '/ünïcode', '/with\ttab', '/x'.repeat(200), '/d', '/e', '/f', '/g', '/h', '/i'];

/** One step of a worker's life, as the job sees it. */
type Step =
  | { kind: 'batch'; clicks: Array<{ partition: number; url: string; timeMs: number }>; wake: number[] }
  | { kind: 'take' | 'idle' | 'checkpointed' | 'announce' | 'caughtUp' | 'reopen'; partition: number };

/** A seeded run: two partitions, out-of-order clicks with some far behind, idleness, checkpoints and reopenings. */
function script(seed: number, steps: number, { maxBatch = 40, farBehindShare = 0.05 } = {}): Step[] {
  const random = new Random(seed);
  const clock = [1_700_000_000_000, 1_700_000_000_000];
  const out: Step[] = [{ kind: 'announce', partition: 0 }, { kind: 'announce', partition: 1 }];
  for (let i = 0; i < steps; i++) {
    const roll = random.float();
    const partition = random.below(2);
    if (roll < 0.7) {
      const clicks = Array.from({ length: 1 + random.below(maxBatch) }, () => {
        const p = random.below(2);
        clock[p]! += random.below(400);
        const behind = random.float() < farBehindShare ? 25_000 + random.below(60_000) : random.below(15_000);
        return { partition: p, url: urls[random.below(urls.length)]!, timeMs: clock[p]! - behind };
      });
      // A partition back from idle with these clicks (one the batch touches).
      out.push({ kind: 'batch', clicks, wake: random.float() < 0.1 ? [clicks[0]!.partition] : [] });
    } else if (roll < 0.8) out.push({ kind: 'take', partition });
    else if (roll < 0.87) out.push({ kind: 'idle', partition });
    else if (roll < 0.93) out.push({ kind: 'checkpointed', partition });
    else if (roll < 0.95) out.push({ kind: 'caughtUp', partition });
    else out.push({ kind: 'reopen', partition });
  }
  return out;
}

/** What a step produced, in a form both sides can be compared in. */
type Observed = unknown[];

function decoded(partials: EncodedPartials): Array<[number, unknown]> {
  const out: Array<[number, unknown]> = [];
  let start = 0;
  for (let i = 0; i < partials.count; i++) {
    out.push([partials.mergePartition[i]!, partialCodec.decode(partials.bytes.subarray(start, partials.ends[i]!))]);
    start = partials.ends[i]!;
  }
  return out;
}

function routedOf(routed: RoutedPartial[]): Array<[number, unknown]> {
  return routed.map((r) => [r.mergePartition, partialCodec.decode(partialCodec.encode(r.partial))]);
}

/** The stages called directly, as the worker did before the job. */
function reference(steps: Step[]): Observed {
  const observed: Observed = [];
  const stores = [new Map<string, string>(), new Map<string, string>()];
  const open = (p: number) => new SourceStage(p, settings.mergePartitions, settings.windows.paneMs, SourcePanes.restore(settings.windows, settings.maxOutOfOrdernessMs, stores[p]!));
  const stages = [open(0), open(1)];
  const persist = (p: number, changes: Map<string, string | null>) => {
    for (const [key, value] of changes) value === null ? stores[p]!.delete(key) : stores[p]!.set(key, value);
  };
  for (const step of steps) {
    if (step.kind === 'batch') {
      const late: unknown[] = [];
      const touched: number[] = [];
      step.clicks.forEach((click, i) => {
        const missed = stages[click.partition]!.add(click.url, click.timeMs);
        if (missed !== 0) late.push([i, click.timeMs, missed, stages[click.partition]!.panes.watermarkMs]);
        if (!touched.includes(click.partition)) touched.push(click.partition);
      });
      const routed: RoutedPartial[] = [];
      for (const p of touched) {
        if (step.wake.includes(p)) stages[p]!.setIdle(false, routed);
        stages[p]!.flush(routed);
      }
      observed.push(['batch', late, routedOf(routed)]);
      continue;
    }
    const stage = stages[step.partition]!;
    if (step.kind === 'take' || step.kind === 'reopen') {
      const changes = stage.panes.takeChanges();
      persist(step.partition, changes);
      observed.push(['take', [...changes]]);
      if (step.kind === 'reopen') stages[step.partition] = open(step.partition);
      if (step.kind === 'reopen') {
        const routed: RoutedPartial[] = [];
        stages[step.partition]!.announce(routed);
        observed.push(['announce', routedOf(routed)]);
      }
      continue;
    }
    const routed: RoutedPartial[] = [];
    if (step.kind === 'idle') stage.setIdle(true, routed);
    else if (step.kind === 'checkpointed') stage.checkpointed(routed);
    else if (step.kind === 'caughtUp') stage.caughtUp(routed);
    else stage.announce(routed);
    observed.push([step.kind, routedOf(routed)]);
  }
  return observed;
}

/** The same steps as requests to a job. */
function throughJob(job: SourceJob, steps: Step[]): Observed {
  const observed: Observed = [];
  const stores = [new Map<string, string>(), new Map<string, string>()];
  let nextId = 0;
  const ids = [0, 0];
  const open = (p: number) => {
    ids[p] = ++nextId;
    assert.equal(job.call({ op: 'open', task: ids[p]!, partition: p, entries: [...stores[p]!] }).op, 'opened');
  };
  open(0);
  open(1);
  const urlIds = new UrlIds(5); // small: the numbering starts over many times
  const routedCall = (op: 'idle' | 'checkpointed' | 'announce' | 'caughtUp', p: number) => {
    const response = job.call({ op, task: ids[p]! }) as Extract<SourceResponse, { op: 'routed' }>;
    return decoded(response.partials);
  };
  for (const step of steps) {
    if (step.kind === 'batch') {
      const n = step.clicks.length;
      const touched: number[] = [];
      for (const click of step.clicks) if (!touched.includes(ids[click.partition]!)) touched.push(ids[click.partition]!);
      const batch: ClickBatch = {
        op: 'batch',
        count: n,
        task: Uint32Array.from(step.clicks, (click) => ids[click.partition]!),
        url: Uint32Array.from(step.clicks, (click) => urlIds.id(click.url)),
        urls: { reset: false, added: [] },
        time: Float64Array.from(step.clicks, (click) => click.timeMs),
        touched,
        wake: step.wake.map((p) => ids[p]!),
      };
      batch.urls = urlIds.take();
      job.dispatch(batch, (done) => {
        const late: unknown[] = [];
        for (let i = 0; i < done.late.count; i++) late.push([done.late.index[i], done.late.timeMs[i], done.late.missed[i], done.late.watermarkMs[i]]);
        observed.push(['batch', late, decoded(done.partials)]);
      });
      continue;
    }
    if (step.kind === 'take' || step.kind === 'reopen') {
      const taken = job.call({ op: 'take', task: ids[step.partition]! }) as Extract<SourceResponse, { op: 'taken' }>;
      for (const [key, value] of taken.changes) value === null ? stores[step.partition]!.delete(key) : stores[step.partition]!.set(key, value);
      observed.push(['take', [...taken.changes]]);
      if (step.kind === 'reopen') {
        assert.equal(job.call({ op: 'close', task: ids[step.partition]! }).op, 'closed');
        open(step.partition);
        observed.push(['announce', routedCall('announce', step.partition)]);
      }
      continue;
    }
    observed.push([step.kind, routedCall(step.kind, step.partition)]);
  }
  job.settle();
  return observed;
}

for (const seed of [1, 2, 3]) {
  test(`seed ${seed}: the job in this thread and in a worker thread answer as the stages called directly`, async () => {
    const steps = script(seed, 400);
    const viaInline = throughJob(new InlineSourceJob(settings), steps);
    const threaded = new ThreadSourceJob(settings);
    try {
      const viaThread = throughJob(threaded, steps);
      const expected = reference(steps);
      assert.ok(expected.some((entry) => (entry as unknown[])[0] === 'batch' && ((entry as unknown[])[1] as unknown[]).length > 0), 'the script has late clicks');
      assert.deepEqual(viaInline, expected);
      assert.deepEqual(viaThread, expected);
    } finally {
      await threaded.stop();
    }
  });
}

test('a batch with many late clicks: every one is answered, in order, in both threads', async () => {
  // Late clicks are gathered in columns grown as they come (most batches have few).
  const steps = script(4, 120, { maxBatch: 300, farBehindShare: 0.5 });
  const expected = reference(steps);
  const mostLate = Math.max(...expected.map((entry) => ((entry as unknown[])[0] === 'batch' ? ((entry as unknown[])[1] as unknown[]).length : 0)));
  assert.ok(mostLate > 64, `a batch has more late clicks than the columns start with (most: ${mostLate})`);
  assert.deepEqual(throughJob(new InlineSourceJob(settings), steps), expected);
  const threaded = new ThreadSourceJob(settings);
  try {
    assert.deepEqual(throughJob(threaded, steps), expected);
  } finally {
    await threaded.stop();
  }
});

test('url ids: the numbering starts over only between batches, and the job always resolves the urls sent', () => {
  const ids = new UrlIds(3);
  const list = new UrlList();
  const batch = (sent: string[]) => {
    const numbered = sent.map((url) => ids.id(url));
    const update = ids.take();
    list.apply(update);
    assert.deepEqual(numbered.map((id) => list.url(id)), sent);
    return update;
  };
  assert.equal(batch(['/a', '/b']).reset, false);
  // Past the capacity within a batch: still one numbering for the whole batch.
  assert.equal(batch(['/c', '/d', '/a', '/e']).reset, false);
  const after = batch(['/a', '/f']);
  assert.equal(after.reset, true);
  assert.deepEqual(after.added, ['/a', '/f']);
  // Long urls start it over by their size, long before the count.
  const bySize = new UrlIds(1_000, 100);
  const long = (i: number) => `/${String(i).padStart(60, '0')}`;
  bySize.id(long(1));
  assert.equal(bySize.id(long(2)), 1);
  assert.equal(bySize.take().reset, false, 'the batch that crossed the size keeps its numbering');
  assert.equal(bySize.id(long(3)), 0, 'the next batch numbers from 0');
  assert.equal(bySize.take().reset, true);
});

test('a job that failed refuses every later request, in this thread and in a worker thread', async () => {
  const threaded = new ThreadSourceJob(settings);
  try {
    for (const job of [new InlineSourceJob(settings), threaded]) {
      job.call({ op: 'open', task: 1, partition: 0, entries: [] });
      assert.throws(() => job.call({ op: 'take', task: 99 }), (err: Error) => err instanceof SourceJobError && /no source task 99/.test(err.message));
      assert.throws(() => job.call({ op: 'take', task: 1 }), (err: Error) => err instanceof SourceJobError && /failed earlier/.test(err.message));
    }
  } finally {
    await threaded.stop();
  }
});

test('a batch the threaded job fails is reported once; nothing waits for its answer afterwards', async () => {
  const threaded = new ThreadSourceJob(settings);
  try {
    const bad: ClickBatch = { op: 'batch', count: 1, task: Uint32Array.of(7), url: Uint32Array.of(0), urls: { reset: false, added: ['/a'] }, time: Float64Array.of(1_700_000_000_000), touched: [7], wake: [] };
    let handled = 0;
    threaded.dispatch(bad, () => handled++);
    assert.throws(() => threaded.settle(), (err: Error) => err instanceof SourceJobError && /no source task 7/.test(err.message));
    // Nothing left pending (else this would wait for an answer that never comes, and time out).
    threaded.settle();
    assert.throws(() => threaded.call({ op: 'take', task: 7 }), (err: Error) => err instanceof SourceJobError && /failed earlier/.test(err.message));
    assert.equal(handled, 0);
  } finally {
    await threaded.stop();
  }
});
