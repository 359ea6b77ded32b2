// When a job's output differs from the oracle, which source partition's pane was wrong? Reads the
// committed partials (read_committed, as the merge tasks do) and compares the last pane count
// each source partition forwarded per (pane, url) with the oracle's count of that partition's
// clicks. For a failure report, not an assertion.

import { partialCodec } from '../../src/codec/messages.js';
import type { TestJob } from './job.js';
import { readClickLog } from './job.js';
import { readTopic } from './kafka.js';

export async function explainPaneMismatches(job: TestJob, clickLog: string, partitions = 4, limit = 20): Promise<string> {
  const paneMs = 5_000;
  const boundMs = 20_000;
  // The oracle per source partition: the same rule as test/support/oracle.ts, kept per partition.
  const expected = new Map<string, number>();
  const maxSeen = new Map<number, number>();
  for (const c of readClickLog(clickLog)) {
    const pane = Math.floor(c.ts / paneMs) * paneMs;
    const max = maxSeen.get(c.partition);
    if (max !== undefined && pane + paneMs <= max - boundMs) continue;
    if (max === undefined || c.ts > max) maxSeen.set(c.partition, c.ts);
    const key = `${c.partition}|${pane}|${c.url}`;
    expected.set(key, (expected.get(key) ?? 0) + 1);
  }
  const forwarded = new Map<string, { count: number; offsets: string[] }>();
  for (const m of await readTopic(job.topics.partials, partitions, () => false, 5_000)) {
    const partial = partialCodec.decode(m.value!);
    // Packed (one record per pane and merge partition) or, from older workers, one per url.
    const counts = partial.paneCounts != null ? partial.paneCounts.counts.map(({ url, count }) => ({ ...partial.paneCounts!, url, count })) : partial.paneCount != null ? [partial.paneCount] : [];
    for (const { sourcePartition, paneStart, url, count } of counts) {
      const key = `${sourcePartition}|${paneStart}|${url}`;
      const seen = forwarded.get(key);
      forwarded.set(key, { count, offsets: [...(seen?.offsets ?? []), `${m.partition}@${m.offset}=${count}`] });
    }
  }
  const lines: string[] = [];
  for (const [key, want] of expected) {
    const got = forwarded.get(key);
    if (got?.count !== want) lines.push(`source ${key.replace(/\|/g, ' pane ').replace(/ pane ([^ ]*)$/, ' url $1')}: oracle ${want}, forwarded ${got?.count ?? 'nothing'} (${got?.offsets.join(', ') ?? '-'})`);
  }
  for (const [key, got] of forwarded) if (!expected.has(key)) lines.push(`source ${key}: oracle nothing, forwarded ${got.count} (${got.offsets.join(', ')})`);
  return lines.length === 0 ? 'every pane count forwarded equals the oracle' : `${lines.length} pane counts differ:\n${lines.slice(0, limit).join('\n')}`;
}
