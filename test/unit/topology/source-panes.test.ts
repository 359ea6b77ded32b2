import { test } from 'node:test';
import { jobWindows } from '../../../src/config.js';
import assert from 'node:assert/strict';
import { MISSED_COUNTS, MISSED_STATS, MISSED_TOTAL, SourcePanes, missedKinds } from '../../../src/topology/source-panes.js';

const t0 = 1_700_000_000_000; // a multiple of 5 s

// t0 is 20 s into its minute: the minute [t0 - 20 s, t0 + 40 s) holds every click below up to t0 + 40 s.
test('a click whose pane ended at or before the watermark misses its 5 s count but counts in the longer windows still open', () => {
  const panes = new SourcePanes(jobWindows, 20_000);
  assert.equal(panes.add('/a', t0 + 30_000), 0); // watermark now t0 + 10 s
  assert.equal(panes.add('/a', t0 + 9_999), MISSED_COUNTS | MISSED_TOTAL, 'pane [t0+5 s, t0+10 s) and total [t0, t0+10 s) end exactly at the watermark');
  assert.equal(panes.add('/a', t0 + 10_000), 0, 'pane [t0+10 s, t0+15 s) is still open');
  assert.equal(panes.add('/b', t0 + 14_999), 0);
  assert.equal(panes.add('/a', t0 + 35_000), 0); // watermark t0 + 15 s closes that pane
  assert.deepEqual(panes.takeClosed(), [{ paneStart: t0 + 10_000, counts: [['/a', 1], ['/b', 1]], total: 2 }]);
  assert.equal(panes.add('/c', t0 + 12_000), MISSED_COUNTS | MISSED_TOTAL, 'a closed pane never changes');
  assert.deepEqual(panes.takeClosed(), []);
  assert.deepEqual(panes.takeLateAdds(), {
    panes: [],
    // /a at t0+9_999 counts in total [t0+5 s, t0+15 s) (closed by now, but open then), /c in [t0+10 s, t0+20 s).
    totals: [{ windowStart: t0 + 5_000, count: 1 }, { windowStart: t0 + 10_000, count: 1 }],
    stats: [{ windowStart: t0 - 20_000, counts: [['/a', 1], ['/c', 1]] }],
  });
});

test('a click late for every window holding it counts nowhere and adds nothing', () => {
  const panes = new SourcePanes(jobWindows, 20_000);
  panes.add('/a', t0 + 100_000); // watermark t0 + 80 s: the minute ending t0 + 40 s has closed
  assert.equal(panes.add('/a', t0 + 39_000), MISSED_COUNTS | MISSED_TOTAL | MISSED_STATS);
  assert.equal(panes.add('/a', t0 + 71_000), MISSED_COUNTS | MISSED_TOTAL, 'total [t0+70 s, t0+80 s) has closed, [t0+75 s...) was never its');
  assert.equal(missedKinds(MISSED_COUNTS | MISSED_TOTAL | MISSED_STATS), 'counts,total,url-stats');
  assert.deepEqual(panes.takeLateAdds(), { panes: [], totals: [], stats: [{ windowStart: t0 + 40_000, counts: [['/a', 1]] }] });
});

test('late additions go out as running totals when they change, until the watermark passes their window, and survive a restore', () => {
  const panes = new SourcePanes(jobWindows, 20_000);
  const store = new Map<string, string>();
  const apply = (changes: Map<string, string | null>): void => {
    for (const [k, v] of changes) (v === null ? store.delete(k) : store.set(k, v));
  };
  panes.add('/a', t0 + 30_000); // watermark t0 + 10 s
  panes.add('/a', t0 + 6_000);
  panes.add('/b', t0 + 7_000);
  assert.deepEqual(panes.takeLateAdds(), { panes: [], totals: [{ windowStart: t0 + 5_000, count: 2 }], stats: [{ windowStart: t0 - 20_000, counts: [['/a', 1], ['/b', 1]] }] });
  assert.deepEqual(panes.takeLateAdds(), { panes: [], totals: [], stats: [] }, 'nothing changed since');
  panes.add('/b', t0 + 8_000);
  assert.deepEqual(panes.takeLateAdds(), { panes: [], totals: [{ windowStart: t0 + 5_000, count: 3 }], stats: [{ windowStart: t0 - 20_000, counts: [['/b', 2]] }] });
  apply(panes.takeChanges());
  assert.equal(panes.openKeyCount, 1 + 2 + 1, 'one late total, two late urls, one open pane');

  // A restored task hands its running totals over again (the merge replaces what it holds).
  const restored = SourcePanes.restore(jobWindows, 20_000, store);
  assert.deepEqual(restored.takeLateAdds(), { panes: [], totals: [{ windowStart: t0 + 5_000, count: 3 }], stats: [{ windowStart: t0 - 20_000, counts: [['/a', 1], ['/b', 2]] }] });

  // The watermark passes the total (t0 + 15 s), then the minute (t0 + 40 s): both are forgotten.
  panes.add('/z', t0 + 36_000);
  assert.deepEqual(panes.takeLateAdds(), { panes: [], totals: [], stats: [] });
  apply(panes.takeChanges());
  assert.ok(![...store.keys()].some((k) => k.startsWith('ltotal')), 'late total deleted');
  panes.add('/z', t0 + 61_000);
  panes.takeLateAdds();
  apply(panes.takeChanges());
  assert.ok(![...store.keys()].some((k) => k.startsWith('lstats')), 'late minute deleted');
  assert.equal(panes.add('/a', t0 + 12_000), MISSED_COUNTS | MISSED_TOTAL | MISSED_STATS);
});

test('closed panes come out oldest first, once', () => {
  const panes = new SourcePanes(jobWindows, 20_000);
  for (const offset of [12_000, 1_000, 7_000, 2_000]) panes.add('/x', t0 + offset);
  panes.add('/x', t0 + 40_000);
  assert.deepEqual(panes.takeClosed().map((p) => [p.paneStart - t0, p.total]), [[0, 2], [5_000, 1], [10_000, 1]]);
  assert.deepEqual(panes.takeClosed(), []);
});

test('going idle closes every open pane; clicks for them are late afterwards', () => {
  const panes = new SourcePanes(jobWindows, 20_000);
  panes.add('/a', t0 + 1_000);
  panes.add('/a', t0 + 12_000);
  panes.closeAllOpen();
  assert.equal(panes.watermarkMs, t0 + 15_000);
  assert.deepEqual(panes.takeClosed().map((p) => p.paneStart - t0), [0, 10_000]);
  assert.equal(panes.add('/a', t0 + 14_000), MISSED_COUNTS | MISSED_TOTAL);
  assert.equal(panes.add('/a', t0 + 15_000), 0);
});

test('state written by takeChanges restores the same panes and watermark', () => {
  const panes = new SourcePanes(jobWindows, 20_000);
  const store = new Map<string, string>();
  const apply = (changes: Map<string, string | null>): void => {
    for (const [k, v] of changes) (v === null ? store.delete(k) : store.set(k, v));
  };
  for (let i = 0; i < 200; i++) panes.add(`/u${i % 7}`, t0 + i * 300);
  apply(panes.takeChanges());
  panes.takeClosed();
  for (let i = 200; i < 260; i++) panes.add(`/u${i % 5}`, t0 + i * 300);
  apply(panes.takeChanges());
  const restored = SourcePanes.restore(jobWindows, 20_000, store);
  assert.equal(restored.watermarkMs, panes.watermarkMs);
  assert.deepEqual(restored.takeClosed(), panes.takeClosed());
  restored.closeAllOpen();
  panes.closeAllOpen();
  assert.deepEqual(restored.takeClosed(), panes.takeClosed());
});

test('urls with separators, tabs, newlines and quotes survive the store', () => {
  const panes = new SourcePanes(jobWindows, 20_000);
  const urls = ['/a!b', '/tab\there', '/line\nbreak', '/"quoted"', '/ünïcødé', '/a!b!c'];
  urls.forEach((url, i) => {
    for (let n = 0; n <= i; n++) panes.add(url, t0 + 100 * n);
  });
  const restored = SourcePanes.restore(jobWindows, 20_000, panes.takeChanges() as Map<string, string>);
  restored.closeAllOpen();
  panes.closeAllOpen();
  assert.deepEqual(restored.takeClosed(), panes.takeClosed());
});

test('restoring skips (or, by default, refuses) entries that are not source state', () => {
  const bad: Array<[string, string]> = [['pane!00000000005000!07', '[["/a",2]]'], ['junk', 'x'], ['pane!00000000005000!99', '[]'], ['pane!00000000005000!01', '[["/b",-1]]'], ['meta!maxEventTime', 'NaN']];
  assert.throws(() => SourcePanes.restore(jobWindows, 20_000, bad));
  const skipped: string[] = [];
  const panes = SourcePanes.restore(jobWindows, 20_000, bad, (key) => void skipped.push(key));
  assert.equal(skipped.length, 4);
  assert.equal(panes.openKeyCount, 1, 'the good entry is kept');
});

test('a pane of many long urls is persisted in parts that each fit a Kafka record, and restores exactly', () => {
  const panes = new SourcePanes(jobWindows, 20_000);
  const store = new Map<string, string>();
  const apply = () => {
    for (const [key, value] of panes.takeChanges()) {
      if (value === null) store.delete(key);
      else store.set(key, value);
    }
  };
  const longUrl = (i: number) => `/${String(i).padStart(6, '0')}/${'\u00e9\u0001'.repeat(1_000)}`; // multi-byte and escaped in JSON
  // 6,000 distinct urls of ~2 KB (about 11 MB of JSON): each of the 32 buckets far over 1 MB.
  for (let i = 0; i < 3_000; i++) panes.add(longUrl(i), t0 + 1_000);
  apply();
  for (let i = 3_000; i < 6_000; i++) panes.add(longUrl(i), t0 + 1_000); // the buckets grow: more parts
  panes.add(longUrl(0), t0 + 2_000);
  apply();
  const biggest = Math.max(...[...store.values()].map((value) => Buffer.byteLength(value)));
  assert.ok(biggest <= 256 * 1024, `every persisted value fits a record (largest ${biggest} bytes)`);
  assert.ok(store.size > 64, `buckets were split (${store.size} entries)`);

  const restored = SourcePanes.restore(jobWindows, 20_000, store);
  panes.add('/late-opener', t0 + 60_000);
  restored.add('/late-opener', t0 + 60_000);
  const [original] = panes.takeClosed();
  const [fromStore] = restored.takeClosed();
  assert.equal(fromStore!.total, 6_001);
  assert.deepEqual(fromStore, original);

  apply(); // every part of the closed pane is deleted; the new pane is one entry
  assert.equal([...store.keys()].filter((key) => key.startsWith('pane')).length, 1);
});

test('allowed lateness: a click behind its closed pane by less than D counts everywhere, as late additions kept until end + D', () => {
  const panes = new SourcePanes({ ...jobWindows, allowedLatenessMs: 30_000 }, 20_000);
  panes.add('/a', t0 + 50_000); // watermark t0 + 30 s
  assert.equal(panes.add('/a', t0 + 1_000), 0, 'pane [t0, t0+5 s) closed, but 25 s < D ago');
  assert.equal(panes.add('/b', t0 - 5_000), MISSED_COUNTS | MISSED_TOTAL, 'pane and first total ended 35 s and 30 s ago: beyond D');
  assert.deepEqual(panes.takeLateAdds().panes, [{ windowStart: t0, counts: [['/a', 1]] }]);
  const store = new Map<string, string>();
  for (const [k, v] of panes.takeChanges()) if (v !== null) store.set(k, v);
  const restored = SourcePanes.restore({ ...jobWindows, allowedLatenessMs: 30_000 }, 20_000, store);
  restored.add('/a', t0 + 2_000);
  assert.deepEqual(restored.takeLateAdds().panes, [{ windowStart: t0, counts: [['/a', 2]] }], 'the running total goes on after a restore');
  restored.add('/a', t0 + 56_000); // watermark t0 + 36 s: end + D of the pane passed
  restored.takeLateAdds();
  assert.equal(restored.add('/a', t0 + 3_000) & MISSED_COUNTS, MISSED_COUNTS);
  const deleted = [...restored.takeChanges()].filter(([key, value]) => key.startsWith('lpane!') && value === null);
  assert.ok(deleted.length > 0, 'the forgotten late pane leaves the store');
});

test('the allowed lateness travels with the state: written once, read back on restore', () => {
  const panes = new SourcePanes({ ...jobWindows, allowedLatenessMs: 30_000 }, 20_000);
  panes.add('/a', t0);
  const first = panes.takeChanges();
  assert.equal(first.get('meta!allowedLatenessMs'), '30000');
  panes.add('/a', t0 + 1);
  assert.equal(panes.takeChanges().has('meta!allowedLatenessMs'), false, 'not rewritten every checkpoint');
  const store = new Map([...first].filter((e): e is [string, string] => e[1] !== null));
  assert.equal(SourcePanes.restore({ ...jobWindows, allowedLatenessMs: 30_000 }, 20_000, store).restoredLatenessMs, 30_000);
  assert.equal(SourcePanes.restore(jobWindows, 20_000, new Map()).restoredLatenessMs, undefined, 'no state: nothing to compare');
  const bad: string[] = [];
  SourcePanes.restore(jobWindows, 20_000, new Map([['meta!allowedLatenessMs', '-1']]), (key) => bad.push(key));
  assert.deepEqual(bad, ['meta!allowedLatenessMs']);
});
