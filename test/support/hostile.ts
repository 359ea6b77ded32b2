// Records an attacker or a broken client writes: the corpus of the hostile-input test and of the
// chaos harness's "hostile record" fault. Each click record names the reason the job must
// dead-letter it with; the records for internal topics must be skipped. None may be counted.

import { clickCodec, partialCodec } from '../../src/codec/messages.js';

export interface HostileClick {
  name: string;
  value: Buffer | null;
  key: Buffer | string | null;
  /** The dead-letter reason the job gives it. */
  reason: 'malformed' | 'too-large' | 'url-too-long' | 'future';
}

export interface HostileInternal {
  name: string;
  topic: 'partials' | 'status' | 'control' | 'savepoints';
  value: Buffer;
  /** The partition to write to, when it matters (else any). */
  partition?: number;
}

const click = (url: string, timestampMs: number): Buffer => Buffer.from(clickCodec.encode({ url, timestampMs, userId: 'u', sessionId: 's', region: 'eu', referrer: '' }));

export function hostileClicks(nowMs: number): HostileClick[] {
  return [
    { name: 'a 900 KB url', value: click(`/${'a'.repeat(900 * 1024)}`, nowMs), key: 'poison', reason: 'too-large' },
    { name: 'a 1,040,000-byte garbage record', value: Buffer.alloc(1_040_000, 0xab), key: 'big-garbage', reason: 'too-large' },
    { name: 'a 3 KB url', value: click(`/${'b'.repeat(3 * 1024)}`, nowMs), key: 'long-url', reason: 'url-too-long' },
    { name: 'a click dated 2099-12-31', value: click('/from-the-future', Date.UTC(2099, 11, 31)), key: 'future', reason: 'future' },
    { name: 'a click a day ahead', value: click('/tomorrow', nowMs + 86_400_000), key: 'tomorrow', reason: 'future' },
    { name: 'garbage bytes', value: Buffer.from([0xff, 0xff, 0xff, 0xff]), key: 'garbage', reason: 'malformed' },
    { name: 'an empty record', value: Buffer.alloc(0), key: 'empty', reason: 'malformed' },
    { name: 'no value at all', value: null, key: 'null', reason: 'malformed' },
    { name: 'a click without url', value: click('', nowMs), key: 'no-url', reason: 'malformed' },
    { name: 'a click dated 1970', value: click('/epoch', 5), key: 'epoch', reason: 'malformed' },
    { name: 'a huge key on a garbage value', value: Buffer.from('x'), key: Buffer.alloc(100_000, 0x41), reason: 'too-large' }, // the key counts towards the size,
  ];
}

export function hostileInternalRecords(): HostileInternal[] {
  return [
    { name: 'four garbage bytes on the partials topic', topic: 'partials', value: Buffer.from([0x0a, 0xff, 0xff, 0x01]) },
    { name: 'a partial from source partition 99', topic: 'partials', value: Buffer.from(partialCodec.encode({ paneTotal: { sourcePartition: 99, paneStart: 0, count: 5 } })) },
    { name: 'a partial with a negative count', topic: 'partials', value: Buffer.from(partialCodec.encode({ paneTotal: { sourcePartition: 0, paneStart: 0, count: -5 } })) },
    // A pane of 2027 on a pane boundary: only the one bad entry makes these unfit.
    { name: 'packed pane counts with one negative count', topic: 'partials', value: Buffer.from(partialCodec.encode({ paneCounts: { sourcePartition: 0, paneStart: 1_800_000_000_000, counts: [{ url: '/hostile/a', count: 7 }, { url: '/hostile/b', count: -1 }] } })) },
    { name: 'packed pane counts without urls', topic: 'partials', value: Buffer.from(partialCodec.encode({ paneCounts: { sourcePartition: 1, paneStart: 1_800_000_000_000, counts: [] } })) },
    { name: 'late additions to a minute that does not start on the minute', topic: 'partials', value: Buffer.from(partialCodec.encode({ lateStats: { sourcePartition: 0, windowStart: 1_800_000_005_000, counts: [{ url: '/hostile/late', count: 1_000_000 }] } })) },
    { name: 'late additions with a negative count', topic: 'partials', value: Buffer.from(partialCodec.encode({ lateTotal: { sourcePartition: 2, windowStart: 1_800_000_005_000, count: -1_000 } })) },
    // Well-formed, but the job runs without allowed lateness: no source sends late panes.
    { name: 'late additions to a pane while the job has no allowed lateness', topic: 'partials', value: Buffer.from(partialCodec.encode({ latePane: { sourcePartition: 0, paneStart: 1_800_000_000_000, counts: [{ url: '/', count: 1_000_000 }] } })) },
    // Well-formed, but only merge partition 0 owns totals: elsewhere it would add a second total.
    { name: 'a pane total on a merge partition that does not own totals', topic: 'partials', partition: 3, value: Buffer.from(partialCodec.encode({ paneTotal: { sourcePartition: 1, paneStart: 1_800_000_000_000, count: 1_000_000 } })) },
    { name: 'JSON that is not a status', topic: 'status', value: Buffer.from('{"worker":"x","hello":1}') },
    { name: 'not JSON on the status topic', topic: 'status', value: Buffer.from('\u001b[2J') },
    { name: 'a control record that is not a request', topic: 'control', value: Buffer.from('{"type":"savepoint-request","jobId":"*","savepointId":"../../x","stop":true}') },
    { name: 'garbage on the savepoints topic', topic: 'savepoints', value: Buffer.from('{"type":"chunk","seq":1e12}') },
  ];
}
