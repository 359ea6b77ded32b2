import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Random, ZipfSampler } from '../../../src/producer/random.js';

test('the same seed gives the same sequence, another seed another one', () => {
  const a = new Random(42);
  const b = new Random(42);
  const c = new Random(43);
  const seqA = Array.from({ length: 100 }, () => a.uint32());
  const seqB = Array.from({ length: 100 }, () => b.uint32());
  const seqC = Array.from({ length: 100 }, () => c.uint32());
  assert.deepEqual(seqA, seqB);
  assert.notDeepEqual(seqA, seqC);
});

test('floats are uniform in [0, 1)', () => {
  const random = new Random(7);
  const buckets = new Array<number>(10).fill(0);
  const n = 100_000;
  for (let i = 0; i < n; i++) {
    const x = random.float();
    assert.ok(x >= 0 && x < 1);
    buckets[Math.floor(x * 10)]!++;
  }
  for (const count of buckets) assert.ok(Math.abs(count - n / 10) < n / 100, `bucket ${count}`);
});

test('Zipf ranks follow 1/k^s: rank 1 about twice as often as rank 2 for s = 1', () => {
  const random = new Random(1);
  const zipf = new ZipfSampler(100, 1);
  const counts = new Array<number>(100).fill(0);
  const n = 200_000;
  for (let i = 0; i < n; i++) counts[zipf.sample(random)]!++;
  const harmonic = Array.from({ length: 100 }, (_, k) => 1 / (k + 1)).reduce((x, y) => x + y, 0);
  for (const k of [0, 1, 4, 49]) {
    const expected = n / (k + 1) / harmonic;
    assert.ok(Math.abs(counts[k]! - expected) < expected * 0.1 + 30, `rank ${k + 1}: ${counts[k]} vs ${expected.toFixed(0)}`);
  }
  assert.ok(counts[0]! > counts[1]! && counts[1]! > counts[9]!);
});
