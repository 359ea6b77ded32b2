import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clickCodec, partialCodec, urlStatsCodec, windowCountCodec, windowTotalCodec } from '../../../src/codec/messages.js';

test('a Click survives encode and decode, with the timestamp as a plain number', () => {
  const click = { url: '/products/x', timestampMs: 1_764_000_000_123, userId: 'u1', sessionId: 'u1-9', region: 'eu-west', referrer: 'https://t.co/' };
  const decoded = clickCodec.decode(clickCodec.encode(click));
  assert.equal(typeof decoded.timestampMs, 'number');
  assert.deepEqual(clickCodec.toPlain(decoded), click);
});

test('output messages round-trip field by field', () => {
  const count = { url: '/', windowStart: 1000, windowEnd: 6000, count: 42, revision: 3, final: false };
  assert.deepEqual(windowCountCodec.toPlain(windowCountCodec.decode(windowCountCodec.encode(count))), count);
  const total = { windowStart: 0, windowEnd: 10_000, count: 9_000_000_000, revision: 0, final: true };
  assert.deepEqual(windowTotalCodec.toPlain(windowTotalCodec.decode(windowTotalCodec.encode(total))), total);
  const stats = { url: '/x', windowStart: 0, windowEnd: 60_000, count: 3, title: '', category: '', known: false, revision: 1, final: true };
  assert.deepEqual(urlStatsCodec.toPlain(urlStatsCodec.decode(urlStatsCodec.encode(stats))), stats);
});

test('a Partial carries exactly one of its kinds', () => {
  const decoded = partialCodec.decode(partialCodec.encode({ paneTotal: { sourcePartition: 3, paneStart: 5000, count: 7 } }));
  assert.equal(decoded.paneTotal?.count, 7);
  assert.equal(decoded.paneCount, null);
  assert.equal(partialCodec.toPlain(decoded).kind, 'paneTotal');
});

test('bytes that are not a Click fail to decode', () => {
  assert.throws(() => clickCodec.decode(Buffer.from([0x0a, 0xff, 0xff, 0xff])));
});

test('encoding is deterministic: equal messages give equal bytes', () => {
  const a = windowCountCodec.encode({ url: '/a', windowStart: 5, windowEnd: 10, count: 1 });
  const b = windowCountCodec.encode({ url: '/a', windowStart: 5, windowEnd: 10, count: 1 });
  assert.deepEqual(Buffer.from(a), Buffer.from(b));
});
