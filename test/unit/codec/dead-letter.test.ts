import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEAD_LETTER_KEY_BYTES, DEAD_LETTER_VALUE_BYTES, deadLetter } from '../../../src/codec/dead-letter.js';

const header = (headers: Array<Record<string, string>>, name: string) => headers.find((h) => name in h)?.[name];

test('a refused record keeps its bytes, its reason and where it came from', () => {
  const letter = deadLetter(Buffer.from('abc'), 'k', 'malformed', 'missing url', { topic: 'clicks', partition: 3, offset: 42 });
  assert.deepEqual(letter.value, Buffer.from('abc'));
  assert.deepEqual(letter.key, Buffer.from('k'));
  assert.equal(header(letter.headers, 'reason'), 'malformed');
  assert.equal(header(letter.headers, 'error'), 'missing url');
  assert.equal(header(letter.headers, 'source-topic'), 'clicks');
  assert.equal(header(letter.headers, 'source-partition'), '3');
  assert.equal(header(letter.headers, 'source-offset'), '42');
  assert.equal(header(letter.headers, 'truncated'), undefined);
});

test('a record too large for the dead-letter topic keeps its first bytes and says how large it was', () => {
  const big = Buffer.alloc(1_040_000, 7);
  const letter = deadLetter(big, Buffer.alloc(5_000, 1), 'too-large', 'record of 1040000 bytes', { topic: 'clicks', partition: 0, offset: 1 });
  assert.equal(letter.value!.length, DEAD_LETTER_VALUE_BYTES);
  assert.equal(letter.key!.length, DEAD_LETTER_KEY_BYTES);
  assert.equal(header(letter.headers, 'original-size'), '1040000');
  assert.equal(header(letter.headers, 'original-key-size'), '5000');
});

test('an output the producer refused has no offset header', () => {
  const letter = deadLetter(null, null, 'too-large', 'Broker: Message size too large', { topic: 'counts', partition: 1 });
  assert.equal(header(letter.headers, 'source-offset'), undefined);
  assert.equal(letter.value, null);
});
