import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMinuteTable } from '../../../src/runtime/minute-table.js';

const row = (url: string, count: number, known = true) => ({
  url, windowStart: 1_764_000_000_000, windowEnd: 1_764_000_060_000, count, title: known ? `Title ${url}` : 'unknown', category: known ? 'blog' : 'unknown', known,
});

test('the minute table lists the top urls by count, with totals and unknown urls marked', () => {
  const rows = [row('/a', 5), row('/b', 9), row('/zz', 2, false), ...Array.from({ length: 12 }, (_, i) => row(`/p${i}`, 1))];
  const text = formatMinuteTable(rows, 2, 3);
  const lines = text.trimEnd().split('\n');
  assert.match(lines[0]!, /minute 16:00:00–16:01:00 UTC · urls of merge partition 2: 15 urls, 28 clicks/);
  assert.match(lines[2]!, /^\s+9\s+\/b\s+Title \/b \(blog\)$/);
  assert.match(lines[3]!, /^\s+5\s+\/a/);
  assert.match(lines[4]!, /^\s+2\s+\/zz\s+\(not in urls.csv\)$/);
  assert.match(lines[5]!, /… 12 more urls on topic url-stats/);
  assert.equal(formatMinuteTable([], 0), '');
});
