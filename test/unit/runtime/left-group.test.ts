// A read that reports this member left the group (it missed max.poll.interval.ms) is a round
// without records, not a failure: the next read rejoins. Every other read error still fails.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CODES } from '../../../src/kafka/clients.js';
import { leftGroupAsEmpty } from '../../../src/runtime/worker.js';

const readError = (code: number, message: string) => Object.assign(new Error(message), { code });

test('a read that reports max.poll.interval.ms exceeded becomes an empty batch', () => {
  const left = leftGroupAsEmpty({ status: 'rejected', reason: readError(CODES.ERRORS.ERR__MAX_POLL_EXCEEDED, 'Local: Maximum application poll interval (max.poll.interval.ms) exceeded') });
  assert.deepEqual(left, { status: 'fulfilled', value: [] });
});

test('every other read error, and every batch read, passes through unchanged', () => {
  const failed: PromiseSettledResult<never> = { status: 'rejected', reason: readError(CODES.ERRORS.ERR__TRANSPORT, 'Local: Broker transport failure') };
  assert.equal(leftGroupAsEmpty(failed), failed);
  const untyped: PromiseSettledResult<never> = { status: 'rejected', reason: 'not an error object' };
  assert.equal(leftGroupAsEmpty(untyped), untyped);
  const read: PromiseSettledResult<never[]> = { status: 'fulfilled', value: [] };
  assert.equal(leftGroupAsEmpty(read), read);
});
