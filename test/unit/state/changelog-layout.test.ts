// The packed changelog layout against a plain oracle: the state a reader folds from the records
// (as written, and as log compaction leaves them: the last record per key) equals the state the
// changes make when applied one by one to a map, through failed checkpoints, big buckets and a
// changelog an older version wrote one record per key.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangelogFold, MARKER_KEY, checkpointHeaders, checkpointRecords, markerRecord, parseStamp, type ChangelogRecord, type CheckpointStamp } from '../../../src/state/changelog.js';
import { BUCKET_PREFIX, ChangelogLayout, PACKED_LAYOUT, bucketParts, stagePacking, unpackBucket } from '../../../src/state/changelog-layout.js';

type Changes = Map<string, string | null>;

/** A changelog partition: every record in order, and what compaction would keep of them. */
class Log {
  readonly records: ChangelogRecord[] = [];
  append(records: ChangelogRecord[]): void {
    this.records.push(...records);
  }
  compacted(): ChangelogRecord[] {
    const last = new Map<string, ChangelogRecord>();
    for (const record of this.records) {
      last.delete(record.key);
      last.set(record.key, record);
    }
    // Tombstones are eventually removed too.
    return [...last.values()].filter((record) => record.value !== null || record.key === MARKER_KEY);
  }
}

function fold(records: ChangelogRecord[]): ChangelogFold {
  const f = new ChangelogFold();
  for (const r of records) f.apply(r.key, r.value);
  return f;
}

function apply(state: Map<string, string>, changes: Changes): void {
  for (const [key, value] of changes) {
    if (value === null) state.delete(key);
    else state.set(key, value);
  }
}

const sorted = (m: Map<string, string>) => [...m].sort((a, b) => (a[0] < b[0] ? -1 : 1));

/** A deterministic pseudo-random sequence (xorshift32). */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const stampOf = (seq: number): CheckpointStamp => ({ seq, writer: 'w', nextOffset: seq * 10, layout: PACKED_LAYOUT });

function checkpoint(layout: ChangelogLayout, log: Log, changes: Changes, seq: number, commit = true): void {
  const laid = layout.layOut(changes, checkpointHeaders(stampOf(seq)));
  if (!commit) return; // the transaction did not commit: nothing reaches the log
  log.append([...laid.records, markerRecord(stampOf(seq))]);
  laid.committed();
}

test('merge rows are packed: a few records per group, and the fold reads back every row', () => {
  const layout = new ChangelogLayout(stagePacking('merge'), [], undefined);
  const changes: Changes = new Map();
  for (let u = 0; u < 200; u++) {
    changes.set(`count!00001700000000000!/page/${u}`, `${u},0,1,2`);
    changes.set(`minute!00001699999980000!/page/${u}`, String(u));
  }
  changes.set('source!0', '1700000000000,0');
  changes.set('meta!frontier', '1700000000000');
  const laid = layout.layOut(changes, checkpointHeaders(stampOf(1)));
  const buckets = laid.records.filter((r) => r.key.startsWith(BUCKET_PREFIX));
  assert.ok(buckets.length <= 2 * 16, `${buckets.length} bucket records for 400 rows`);
  assert.deepEqual(laid.records.filter((r) => !r.key.startsWith(BUCKET_PREFIX)).map((r) => r.key).sort(), ['meta!frontier', 'source!0'], 'keys that are not rows stay one record each');
  const read = fold([...laid.records, markerRecord(stampOf(1))]).entries();
  const expected = new Map<string, string>();
  apply(expected, changes);
  assert.deepEqual(sorted(read), sorted(expected));
});

test('a source task\'s changes stay one record per key', () => {
  const layout = new ChangelogLayout(stagePacking('source'), [], undefined);
  const changes: Changes = new Map([['pane!00001700000000000!03', '[["/a",1]]'], ['pane!00001699999995000!01', null]]);
  const laid = layout.layOut(changes, checkpointHeaders(stampOf(1)));
  assert.deepEqual(laid.records.map((r) => [r.key, r.value?.toString() ?? null]), [...changes]);
});

test('random checkpoints, some failing and retried with the next changes: the fold, compacted or not, equals the oracle', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const next = random(seed * 7919);
    const layout = new ChangelogLayout(stagePacking('merge'), [], undefined);
    const log = new Log();
    const committed = new Map<string, string>();
    let unsaved: Changes = new Map();
    const urls = Array.from({ length: 1 + Math.floor(next() * 60) }, (_, i) => `/u/${i}${next() < 0.1 ? '!with!seps' : ''}${next() < 0.05 ? '\n"quoted"' : ''}`);
    const kinds = ['count', 'minute', 'lpane', 'rcount', 'total', 'source'];
    for (let seq = 1; seq <= 30; seq++) {
      const changes: Changes = new Map(unsaved);
      for (let n = Math.floor(next() * 80); n > 0; n--) {
        const kind = kinds[Math.floor(next() * kinds.length)]!;
        const time = String(1_700_000_000_000 + 5_000 * Math.floor(next() * 4)).padStart(14, '0');
        const key = kind === 'total' || kind === 'source' ? `${kind}!${time}` : `${kind}!${time}!${urls[Math.floor(next() * urls.length)]}`;
        changes.set(key, next() < 0.3 ? null : String(Math.floor(next() * 1000)));
      }
      const commit = next() > 0.2;
      checkpoint(layout, log, changes, seq, commit);
      if (commit) {
        apply(committed, changes);
        unsaved = new Map();
      } else unsaved = changes;
      assert.deepEqual(sorted(fold(log.records).entries()), sorted(committed), `seed ${seed}, checkpoint ${seq}: the log as written`);
      assert.deepEqual(sorted(fold(log.compacted()).entries()), sorted(committed), `seed ${seed}, checkpoint ${seq}: the log compacted`);
    }
    // A new owner opens the task from the changelog and carries on writing: still exact.
    const opened = fold(log.compacted());
    const reopened = new ChangelogLayout(stagePacking('merge'), opened.entries(), opened.marker?.layout);
    const changes: Changes = new Map([...committed.keys()].filter((_, i) => i % 2 === 0).map((key) => [key, null]));
    changes.set(`count!00001700000020000!${urls[0]}`, '9');
    checkpoint(reopened, log, changes, 31);
    apply(committed, changes);
    assert.deepEqual(sorted(fold(log.compacted()).entries()), sorted(committed), `seed ${seed}: after a new owner's checkpoint`);
  }
});

test('a bucket too big for one record is split into parts; when it shrinks, the parts it no longer needs are deleted', () => {
  const layout = new ChangelogLayout(stagePacking('merge'), [], undefined);
  const log = new Log();
  const long = 'x'.repeat(2_000);
  const big: Changes = new Map();
  for (let u = 0; u < 3_000; u++) big.set(`count!00001700000000000!/${long}/${u}`, '1,2');
  checkpoint(layout, log, big, 1);
  const parts = log.records.filter((r) => r.key.startsWith(BUCKET_PREFIX) && r.value !== null);
  assert.ok(parts.some((r) => !r.key.endsWith('!0')), 'some bucket has more than one part');
  for (const part of parts) assert.ok(part.value!.length < 256 * 1024, `a part of ${part.value!.length} bytes`);
  // Delete nine rows in ten: the buckets shrink to one part each.
  const shrink: Changes = new Map([...big.keys()].filter((_, i) => i % 10 !== 0).map((key) => [key, null]));
  checkpoint(layout, log, shrink, 2);
  const state = new Map<string, string>();
  apply(state, big);
  apply(state, shrink);
  assert.deepEqual(sorted(fold(log.compacted()).entries()), sorted(state));
  assert.ok(log.compacted().filter((r) => r.key.startsWith(BUCKET_PREFIX)).every((r) => r.key.endsWith('!0')), 'no stale part is left');
  // Then the rest: only tombstones, nothing is left of the buckets.
  checkpoint(layout, log, new Map([...state.keys()].map((key) => [key, null])), 3);
  assert.equal(fold(log.compacted()).entries().size, 0);
  assert.deepEqual(log.compacted().map((r) => r.key), [MARKER_KEY]);
});

test('a changelog an older version wrote (one record per row): the first packed checkpoint deletes those records, and the state stays exact', () => {
  const log = new Log();
  const old: Changes = new Map();
  for (let u = 0; u < 50; u++) old.set(`count!00001700000000000!/p/${u}`, `${u},1`);
  old.set('meta!frontier', '1699999990000');
  log.append(checkpointRecords(old, { seq: 1, writer: 'old', nextOffset: 10 }));
  const opened = fold(log.compacted());
  assert.equal(opened.marker?.layout, undefined);
  const layout = new ChangelogLayout(stagePacking('merge'), opened.entries(), opened.marker?.layout);
  const changes: Changes = new Map([['count!00001700000000000!/p/3', null], ['count!00001700000005000!/p/1', '1,1']]);
  checkpoint(layout, log, changes, 2);
  const state = new Map<string, string>();
  apply(state, old);
  apply(state, changes);
  const compacted = log.compacted();
  assert.deepEqual(sorted(fold(compacted).entries()), sorted(state));
  assert.deepEqual(compacted.filter((r) => r.key.startsWith('count!')), [], 'no row is left as a record of its own');
  // Later checkpoints of the task delete no legacy record again.
  const later = layout.layOut(new Map([['count!00001700000005000!/p/1', '2,1']]), checkpointHeaders(stampOf(3)));
  assert.equal(later.records.filter((r) => r.value === null).length, 0);
});

test('a marker\'s layout survives a round trip; an unknown one reads as one record per key', () => {
  assert.deepEqual(parseStamp(JSON.stringify(stampOf(4))), stampOf(4));
  assert.deepEqual(parseStamp(JSON.stringify({ ...stampOf(4), layout: 7 })), { seq: 4, writer: 'w', nextOffset: 40 });
});

test('bucket records a job did not write are skipped by the fold, never state', () => {
  const good = bucketParts(new Map([['/a', '1,2']]))[0]!;
  assert.deepEqual(unpackBucket('~count!00001700000000000!03!0', good), [['count!00001700000000000!/a', '1,2']]);
  for (const [key, value] of [
    ['~count!00001700000000000!03!0', '{"not":"a list"}'],
    ['~count!00001700000000000!03!0', '[["/a",1]]'],
    ['~count!00001700000000000!03!0', 'not json'],
    ['~count!00001700000000000!3!0', good],
    ['~count!00001700000000000!03!x', good],
    ['~!03!0', good],
  ] as const) {
    assert.equal(unpackBucket(key, value), undefined, `${key} ${value}`);
  }
  const f = fold([
    { key: '~count!00001700000000000!03!0', value: Buffer.from('not json'), headers: [] },
    { key: 'meta!frontier', value: Buffer.from('5'), headers: [] },
    markerRecord(stampOf(1)),
  ]);
  assert.deepEqual([...f.entries()], [['meta!frontier', '5']]);
  assert.equal(f.skipped, 1);
});
