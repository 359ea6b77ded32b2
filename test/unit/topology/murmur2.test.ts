import { test } from 'node:test';
import assert from 'node:assert/strict';
import { murmur2, partitionForKey } from '../../../src/topology/murmur2.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

test('murmur2 matches the Java client on its published test vectors', () => {
  // Expected values from Kafka's own UtilsTest.testMurmur2 (org.apache.kafka.common.utils).
  const vectors: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [key, expected] of vectors) assert.equal(murmur2(utf8(key)), expected, key);
});

test('partitionForKey is a non-negative partition below the count and stable per key', () => {
  for (const key of ['/', '/products', 'u123', '', 'ä-unicode-ключ']) {
    const partition = partitionForKey(utf8(key), 7);
    assert.ok(partition >= 0 && partition < 7);
    assert.equal(partitionForKey(utf8(key), 7), partition);
  }
});
