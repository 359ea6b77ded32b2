import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClickGenerator, type StreamSpec } from '../../../src/producer/generator.js';
import { partitionForKey } from '../../../src/topology/murmur2.js';

const spec = (overrides: Partial<StreamSpec> = {}): StreamSpec => ({
  seed: 5,
  tableUrls: ['/', '/a', '/b', '/c', '/d'],
  unknownUrls: 3,
  unknownShare: 0.1,
  zipfExponent: 1.1,
  users: 100,
  startMs: 1_700_000_000_000,
  eventRate: 100,
  maxDisorderMs: 2_000,
  lateShare: 0,
  lateBoundMs: 20_000,
  keyBy: 'url',
  partitions: 4,
  ...overrides,
});

const take = (generator: ClickGenerator, n: number) => Array.from({ length: n }, () => generator.next());

test('a seed reproduces the stream exactly', () => {
  assert.deepEqual(take(new ClickGenerator(spec()), 500), take(new ClickGenerator(spec()), 500));
  assert.notDeepEqual(take(new ClickGenerator(spec()), 50), take(new ClickGenerator(spec({ seed: 6 })), 50));
});

test('event time follows the virtual clock within the disorder bound', () => {
  const generator = new ClickGenerator(spec());
  for (let i = 0; i < 1000; i++) {
    const clock = generator.clockMs();
    const { click } = generator.next();
    assert.ok(click.timestampMs <= clock && click.timestampMs >= clock - 2_000, `${click.timestampMs} vs clock ${clock}`);
  }
  assert.equal(generator.clockMs(), 1_700_000_000_000 + 1000 * 10); // 100 clicks per event second
});

test('late clicks are older than the clock by more than the bound, at about the asked share', () => {
  const generator = new ClickGenerator(spec({ lateShare: 0.2 }));
  let late = 0;
  const n = 5000;
  for (let i = 0; i < n; i++) {
    const clock = generator.clockMs();
    const { click } = generator.next();
    if (click.timestampMs < clock - 20_000) late++;
  }
  assert.ok(Math.abs(late / n - 0.2) < 0.03, `late share ${late / n}`);
});

test('unknown urls get about their share and the table urls the rest', () => {
  const clicks = take(new ClickGenerator(spec({ unknownShare: 0.3 })), 5000);
  const unknown = clicks.filter((g) => g.click.url.startsWith('/unlisted/')).length;
  assert.ok(Math.abs(unknown / 5000 - 0.3) < 0.03, `unknown share ${unknown / 5000}`);
});

test('keying by url or user puts a key in the partition Kafka would choose; none leaves keys empty', () => {
  const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
  for (const g of take(new ClickGenerator(spec({ keyBy: 'url' })), 300)) {
    assert.equal(g.key, g.click.url);
    assert.equal(g.partition, partitionForKey(utf8(g.click.url), 4));
  }
  for (const g of take(new ClickGenerator(spec({ keyBy: 'user' })), 300)) {
    assert.equal(g.key, g.click.userId);
    assert.equal(g.partition, partitionForKey(utf8(g.click.userId), 4));
  }
  const unkeyed = take(new ClickGenerator(spec({ keyBy: 'none' })), 2000);
  assert.ok(unkeyed.every((g) => g.key === null));
  assert.deepEqual(new Set(unkeyed.map((g) => g.partition)), new Set([0, 1, 2, 3]));
});
