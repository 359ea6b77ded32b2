import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangelogFold, MARKER_KEY, checkpointRecords, chooseSource, markerMatches, resumePoint, type CheckpointStamp } from '../../../src/state/changelog.js';

const stamp = (seq: number, writer = 'w1', nextOffset: number | null = seq * 100): CheckpointStamp => ({ seq, writer, nextOffset });

test('which copy of a task state wins: the changelog, unless the store is exactly at its last checkpoint', () => {
  assert.deepEqual(chooseSource(undefined, false, undefined), { use: 'fresh' });
  assert.deepEqual(chooseSource(undefined, true, undefined), { use: 'seed' }, 'a job started without a changelog seeds it');
  assert.deepEqual(chooseSource(stamp(3), true, undefined), { use: 'seed' });
  assert.deepEqual(chooseSource(undefined, false, stamp(3)), { use: 'changelog', reason: 'missing' });
  assert.deepEqual(chooseSource(undefined, true, stamp(3)), { use: 'changelog', reason: 'missing' }, 'state without a stamp is not trusted');
  assert.deepEqual(chooseSource(stamp(2), true, stamp(3)), { use: 'changelog', reason: 'behind' });
  assert.deepEqual(chooseSource(stamp(4), true, stamp(3)), { use: 'changelog', reason: 'ahead' });
  assert.deepEqual(chooseSource(stamp(3, 'w2'), true, stamp(3, 'w1')), { use: 'changelog', reason: 'diverged' });
  assert.deepEqual(chooseSource(stamp(3, 'w1', 250), true, stamp(3, 'w1', 300)), { use: 'changelog', reason: 'diverged' });
  assert.deepEqual(chooseSource(stamp(3), true, stamp(3)), { use: 'local' });
});

test('a checkpoint is its changes then a marker that holds the stamp', () => {
  const records = checkpointRecords(new Map([['pane!1', '{"a":1}'], ['pane!0', null]]), stamp(7));
  assert.deepEqual(records.map((r) => r.key), ['pane!1', 'pane!0', MARKER_KEY]);
  assert.equal(records[0]!.value!.toString(), '{"a":1}');
  assert.equal(records[1]!.value, null, 'a deletion is a tombstone');
  assert.deepEqual(JSON.parse(records[2]!.value!.toString()), stamp(7));
});

test('folding a changelog gives the state at its last marker; changes after it are left out', () => {
  const fold = new ChangelogFold();
  const feed = (changes: Map<string, string | null>, s?: CheckpointStamp) => {
    const records = s === undefined ? [...changes].map(([key, value]) => ({ key, value: value === null ? null : Buffer.from(value) })) : checkpointRecords(changes, s);
    for (const r of records) fold.apply(r.key, r.value);
  };
  feed(new Map([['a', '1'], ['b', '2']]), stamp(1));
  feed(new Map([['a', '3'], ['b', null], ['c', '4']]), stamp(2));
  feed(new Map([['c', '5'], ['d', '6']])); // a checkpoint that never got its marker
  assert.deepEqual([...fold.entries()].sort(), [['a', '3'], ['c', '4']]);
  assert.deepEqual(fold.marker, stamp(2));
  assert.equal(fold.records, 2 + 1 + 3 + 1 + 2);
});

test('an empty changelog folds to no state and no marker', () => {
  const fold = new ChangelogFold();
  assert.equal(fold.marker, undefined);
  assert.equal(fold.entries().size, 0);
});

test('a task resumes at the offset of the checkpoint its state came from, whatever the group says', () => {
  assert.deepEqual(resumePoint(500, 800), { from: 'checkpoint', offset: 500 }, 'a group offset ahead of the state is not trusted');
  assert.deepEqual(resumePoint(500, 300), { from: 'checkpoint', offset: 500 }, 'nor one behind it');
  assert.deepEqual(resumePoint(0, undefined), { from: 'checkpoint', offset: 0 });
  assert.deepEqual(resumePoint(undefined, 300), { from: 'group', offset: 300 }, 'no checkpoint anywhere: the group\'s offset');
  assert.deepEqual(resumePoint(undefined, undefined), { from: 'earliest' });
});

test('an opener waits until the changelog shows the checkpoint the group committed with it', () => {
  assert.equal(markerMatches(stamp(3, 'w1', 700), 700), true);
  assert.equal(markerMatches(stamp(3, 'w1', 500), 700), false, 'the transaction that committed 700 has not shown its marker yet');
  assert.equal(markerMatches(undefined, 700), false, 'a first checkpoint whose marker is not visible yet: starting empty at 700 would lose clicks');
  assert.equal(markerMatches(undefined, undefined), true, 'nothing committed anywhere');
  assert.equal(markerMatches(stamp(1, 'w1', 200), undefined), true, 'a changelog reset by a restore before the group\'s offsets');
});

test('a marker record that is not one the job writes closes no checkpoint', () => {
  const fold = new ChangelogFold();
  for (const r of checkpointRecords(new Map([['a', '1']]), stamp(1))) fold.apply(r.key, r.value);
  fold.apply('b', Buffer.from('2'));
  fold.apply(MARKER_KEY, Buffer.from('{"seq":"x"}'));
  fold.apply(MARKER_KEY, Buffer.from([0xff, 0x00]));
  assert.deepEqual(fold.marker, stamp(1));
  assert.deepEqual([...fold.entries()], [['a', '1']], 'changes after the last real marker are left out');
  assert.equal(fold.skipped, 2);
});
