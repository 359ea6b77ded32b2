import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clickCodec } from '../../../src/codec/messages.js';
import { readClickFields, type ClickFields } from '../../../src/codec/click-fields.js';
import { Random } from '../../../src/producer/random.js';

const full = { url: '/products/ä', timestampMs: 1_764_000_000_123, userId: 'u1', sessionId: 's', region: 'eu', referrer: 'r' };

test('reads url and timestamp exactly as protobufjs decodes them', () => {
  const random = new Random(3);
  const out: ClickFields = { url: '', timestampMs: 0 };
  for (let i = 0; i < 500; i++) {
    const click = { ...full, url: `/p/${random.uint32()}`, timestampMs: 1_000_000_000_000 + random.below(3_000_000_000_000) };
    const bytes = Buffer.from(clickCodec.encode(click));
    assert.equal(readClickFields(bytes, out), undefined);
    assert.deepEqual(out, { url: click.url, timestampMs: click.timestampMs });
  }
});

test('malformed records are named, not thrown', () => {
  const out: ClickFields = { url: '', timestampMs: 0 };
  const encode = (click: object): Buffer => Buffer.from(clickCodec.encode(click as typeof full));
  assert.equal(readClickFields(encode({ ...full, url: '' }), out), 'missing url');
  assert.equal(readClickFields(encode({ url: '/a' }), out), 'missing timestamp_ms');
  assert.match(readClickFields(encode({ ...full, timestampMs: 5 }), out) ?? '', /absurd timestamp_ms 5/);
  assert.match(readClickFields(encode({ ...full, timestampMs: -1 }), out) ?? '', /absurd timestamp_ms/);
  assert.match(readClickFields(encode({ ...full, timestampMs: 9_000_000_000_000 }), out) ?? '', /absurd/);
  const valid = encode(full);
  assert.match(readClickFields(valid.subarray(0, valid.length - 1), out) ?? '', /truncated|past the end/);
  assert.match(readClickFields(Buffer.from('not a protobuf at all'), out) ?? '', /./);
  assert.match(readClickFields(Buffer.from([0x0f]), out) ?? '', /wire type/);
});
