import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clickCodec } from '../../../src/codec/messages.js';
import { admitClick, type ClickLimits } from '../../../src/codec/click-admission.js';
import type { ClickFields } from '../../../src/codec/click-fields.js';

const limits: ClickLimits = { maxRecordBytes: 4_096, maxUrlBytes: 2_048, maxFutureMs: 600_000 };
const now = 1_800_000_000_000;
const click = (url: string, timestampMs: number) => Buffer.from(clickCodec.encode({ url, timestampMs, userId: 'u', sessionId: 's', region: 'eu', referrer: '' }));
const admit = (bytes: Buffer | null, recordTs: number | undefined = now - 1_000) => admitClick(bytes, recordTs, now, limits, { url: '', timestampMs: 0 } as ClickFields);

test('a well-formed click within every limit is counted', () => {
  const out: ClickFields = { url: '', timestampMs: 0 };
  assert.equal(admitClick(click('/a', now - 5_000), now - 4_000, now, limits, out), undefined);
  assert.deepEqual(out, { url: '/a', timestampMs: now - 5_000 });
  assert.equal(admit(click('/'.repeat(2_048), now)), undefined, 'a url of exactly the limit');
});

test('each limit has its reason', () => {
  assert.equal(admit(null)?.reason, 'malformed');
  assert.equal(admit(Buffer.from('garbage'))?.reason, 'malformed');
  assert.equal(admit(Buffer.alloc(4_097, 1))?.reason, 'too-large');
  assert.equal(admit(click('/'.repeat(2_049), now))?.reason, 'url-too-long');
  assert.match(admit(click('/'.repeat(2_049), now))!.detail, /2049 bytes is over the limit of 2048/);
  assert.equal(admit(click('/a', Date.UTC(2099, 11, 31)))?.reason, 'future', 'a click dated 2099');
});

test('the future is judged against the record\'s own timestamp, so a replay decides the same', () => {
  const eventTime = now + 60_000;
  assert.equal(admit(click('/a', eventTime), now - 3_600_000)?.reason, 'future', 'an hour-old record claiming a time an hour and a minute later');
  // A backlog replayed long after: the record's timestamp, not the worker's clock, is the reference.
  const old = now - 86_400_000;
  assert.equal(admitClick(click('/a', old + 1_000), old, now, limits, { url: '', timestampMs: 0 }), undefined);
  assert.equal(admitClick(click('/a', old + 700_000), old, now, limits, { url: '', timestampMs: 0 })?.reason, 'future');
  // No timestamp, or one ahead of the worker's clock: the worker's clock.
  assert.equal(admit(click('/a', now + 500_000), undefined), undefined);
  assert.equal(admit(click('/a', now + 700_000), now + 10_000_000)?.reason, 'future');
});

test('the key counts towards the record size, and a url is measured as decoded too', () => {
  const out = { url: '', timestampMs: 0 };
  assert.equal(admitClick(click('/a', now), now - 1, now, limits, out, 5_000)?.reason, 'too-large', 'a small click under a 5 KB key');
  const invalidUtf8 = Buffer.concat([Buffer.from([0x0a, ...varint(2_000)]), Buffer.from('/'), Buffer.alloc(2_000 - 1, 0xff), Buffer.from([0x10]), Buffer.from(varint(now))]);
  assert.equal(admitClick(invalidUtf8, now - 1, now, limits, out)?.reason, 'url-too-long', '2000 raw bytes that decode to ~6000');
});

function varint(n: number): number[] {
  const bytes: number[] = [];
  while (n >= 128) {
    bytes.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  bytes.push(n);
  return bytes;
}
