import { test } from 'node:test';
import { jobWindows } from '../../../src/config.js';
import assert from 'node:assert/strict';
import { MergeStage, partialProblem } from '../../../src/topology/merge-stage.js';
import { MergeWindows } from '../../../src/topology/merge-windows.js';

test('a partial that does not fit the job is named, not applied', () => {
  const ok = (p: object) => partialProblem(p as never, 4, jobWindows, 2_048);
  assert.equal(ok({ paneCount: { sourcePartition: 3, paneStart: 1_800_000_010_000, url: '/a', count: 2 } }), undefined);
  assert.equal(ok({ watermark: { sourcePartition: 0, watermarkMs: Number.MIN_SAFE_INTEGER, idle: true } }), undefined);
  assert.match(ok({})!, /no pane count/);
  assert.match(ok({ paneTotal: { sourcePartition: 99, paneStart: 1_800_000_000_000, count: 1 } })!, /source partition 99/);
  assert.match(ok({ paneTotal: { sourcePartition: 1, paneStart: 1_800_000_001_234, count: 1 } })!, /5000 ms boundary/);
  assert.match(ok({ paneCount: { sourcePartition: 0, paneStart: 8_700_000_000_000_000, url: '/x', count: 1 } })!, /not a time of 2000-2100/, 'a pane in year 275,000');
  assert.match(ok({ watermark: { sourcePartition: 0, watermarkMs: 8_700_000_000_000_000, idle: false } })!, /not a time/);
  assert.match(ok({ paneTotal: { sourcePartition: 1, paneStart: 1_800_000_000_000, count: -3 } })!, /count -3/);
  assert.match(ok({ paneCount: { sourcePartition: 1, paneStart: 1_800_000_000_000, url: '', count: 1 } })!, /url/);
  assert.match(ok({ paneCount: { sourcePartition: 1, paneStart: 1_800_000_000_000, url: 'x'.repeat(3_000), count: 1 } })!, /url/);
  assert.match(ok({ watermark: { sourcePartition: 1, watermarkMs: 1.5, idle: false } })!, /not a time/);
});

test('partials as the codec decodes them (kinds not set are null) pass when they fit', async () => {
  const { partialCodec } = await import('../../../src/codec/messages.js');
  const check = (p: object) => partialProblem(partialCodec.decode(Buffer.from(partialCodec.encode(p as never))), 4, jobWindows, 2_048);
  assert.equal(check({ paneTotal: { sourcePartition: 1, paneStart: 1_800_000_005_000, count: 3 } }), undefined);
  assert.equal(check({ watermark: { sourcePartition: 2, watermarkMs: 1_800_000_010_000, idle: false } }), undefined);
  assert.equal(check({ paneCount: { sourcePartition: 3, paneStart: 1_800_000_000_000, url: '/a', count: 1 } }), undefined);
  assert.match(check({ paneTotal: { sourcePartition: 7, paneStart: 1_800_000_005_000, count: 3 } })!, /source partition 7/);
});

test('packed pane counts are refused whole when one entry does not fit', async () => {
  const { partialCodec } = await import('../../../src/codec/messages.js');
  const check = (p: object) => partialProblem(partialCodec.decode(Buffer.from(partialCodec.encode(p as never))), 4, jobWindows, 2_048);
  const pane = { sourcePartition: 2, paneStart: 1_800_000_000_000 };
  assert.equal(check({ paneCounts: { ...pane, counts: [{ url: '/a', count: 3 }, { url: '/b', count: 1 }] } }), undefined);
  assert.match(check({ paneCounts: { ...pane, counts: [] } })!, /without a url/);
  assert.match(check({ paneCounts: { ...pane, counts: [{ url: '/a', count: 3 }, { url: '', count: 1 }] } })!, /url/);
  assert.match(check({ paneCounts: { ...pane, counts: [{ url: '/a', count: 3 }, { url: '/b', count: -1 }] } })!, /count -1/);
  assert.match(check({ paneCounts: { ...pane, counts: [{ url: 'x'.repeat(3_000), count: 1 }] } })!, /url/);
  assert.match(check({ paneCounts: { ...pane, sourcePartition: 9, counts: [{ url: '/a', count: 1 }] } })!, /source partition 9/);
  assert.match(check({ paneCounts: { ...pane, paneStart: 1_800_000_000_001, counts: [{ url: '/a', count: 1 }] } })!, /5000 ms boundary/);
});

test('late additions are refused when their window start, counts or urls do not fit', async () => {
  const { partialCodec } = await import('../../../src/codec/messages.js');
  const check = (p: object) => partialProblem(partialCodec.decode(Buffer.from(partialCodec.encode(p as never))), 4, jobWindows, 2_048);
  const minute = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
  assert.equal(check({ lateTotal: { sourcePartition: 1, windowStart: 1_800_000_005_000, count: 2 } }), undefined);
  assert.equal(check({ lateStats: { sourcePartition: 1, windowStart: minute, counts: [{ url: '/a', count: 2 }] } }), undefined);
  assert.match(check({ lateTotal: { sourcePartition: 1, windowStart: 1_800_000_001_000, count: 2 } })!, /5000 ms boundary/);
  assert.match(check({ lateStats: { sourcePartition: 1, windowStart: minute + 5_000, counts: [{ url: '/a', count: 2 }] } })!, /60000 ms boundary/, 'a minute starts on the minute');
  assert.match(check({ lateTotal: { sourcePartition: 1, windowStart: 1_800_000_005_000, count: -2 } })!, /count -2/);
  assert.match(check({ lateStats: { sourcePartition: 5, windowStart: minute, counts: [{ url: '/a', count: 2 }] } })!, /source partition 5/);
  assert.match(check({ lateStats: { sourcePartition: 1, windowStart: minute, counts: [] } })!, /without a url/);
  assert.match(check({ lateStats: { sourcePartition: 1, windowStart: minute, counts: [{ url: 'x'.repeat(3_000), count: 1 }] } })!, /url/);
});

test('a running total of late additions of zero is refused (one is sent once it counts a click)', async () => {
  const { partialCodec } = await import('../../../src/codec/messages.js');
  const check = (p: object) => partialProblem(partialCodec.decode(Buffer.from(partialCodec.encode(p as never))), 4, jobWindows, 2_048);
  assert.match(check({ lateTotal: { sourcePartition: 1, windowStart: 1_800_000_005_000, count: 0 } })!, /count 0 is not a positive/);
  assert.match(check({ lateStats: { sourcePartition: 1, windowStart: 1_799_999_940_000, counts: [{ url: '/a', count: 0 }] } })!, /count 0 is not a positive/);
});

test('a well-formed partial on a merge partition that does not own it is refused', async () => {
  const { UrlOwners } = await import('../../../src/topology/url-owners.js');
  const owners = new UrlOwners(4);
  const at = (partition: number, p: object) => partialProblem(p as never, 4, jobWindows, 2_048, { partition, owners });
  const minute = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
  const total = { paneTotal: { sourcePartition: 1, paneStart: 1_800_000_005_000, count: 3 } };
  assert.equal(at(0, total), undefined);
  assert.match(at(2, total)!, /a total on merge partition 2/);
  assert.match(at(1, { lateTotal: { sourcePartition: 1, windowStart: 1_800_000_005_000, count: 3 } })!, /a total on merge partition 1/);
  const owner = owners.of('/a');
  const other = (owner + 1) % 4;
  const counts = { paneCounts: { sourcePartition: 0, paneStart: 1_800_000_000_000, counts: [{ url: '/a', count: 1 }] } };
  assert.equal(at(owner, counts), undefined);
  assert.match(at(other, counts)!, new RegExp(`a url of merge partition ${owner} on merge partition ${other}`));
  assert.match(at(other, { paneCount: { sourcePartition: 0, paneStart: 1_800_000_000_000, url: '/a', count: 1 } })!, /a url of merge partition/);
  assert.match(at(other, { lateStats: { sourcePartition: 0, windowStart: minute, counts: [{ url: '/a', count: 1 }] } })!, /a url of merge partition/);
  assert.equal(at(other, { watermark: { sourcePartition: 0, watermarkMs: 1_800_000_000_000, idle: false } }), undefined, 'watermarks go to every partition');
});

test('a watermark of a source with another allowed lateness is refused; a longer one only after a shortening restore', () => {
  const withLateness = (allowedLatenessMs: number) => ({ ...jobWindows, allowedLatenessMs });
  const watermark = (allowedLatenessMs?: number) => ({ watermark: { sourcePartition: 0, watermarkMs: 1_800_000_000_000, idle: false, ...(allowedLatenessMs === undefined ? {} : { allowedLatenessMs }) } });
  const plain = new MergeStage(0, new MergeWindows(withLateness(0), 1));
  assert.equal(plain.refusal(watermark()), undefined, 'a source without one says nothing');
  assert.match(plain.refusal(watermark(10_000)) ?? '', /a source running with an allowed lateness of 10000 ms/);
  const late = new MergeStage(0, new MergeWindows(withLateness(10_000), 1));
  assert.equal(late.refusal(watermark(10_000)), undefined);
  assert.match(late.refusal(watermark(20_000)) ?? '', /20000 ms/);
  const shortened = new MergeStage(0, MergeWindows.restore(withLateness(0), 1, [['meta!latePanesUntil', '1800000000000']]));
  assert.equal(shortened.refusal(watermark(10_000)), undefined, 'in flight from before a restore that shortened it');
});
