import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brokerMaxTransactionTimeoutMs, transactionTimeoutFor } from '../../src/config.js';

const flushMs = 10_000;

test('a transaction may last three checkpoint intervals plus a flush, at least 20 s', () => {
  assert.equal(transactionTimeoutFor(100, flushMs), 20_000);
  assert.equal(transactionTimeoutFor(2_000, flushMs), 20_000);
  assert.equal(transactionTimeoutFor(60_000, flushMs), 190_000);
});

test('the transaction timeout never exceeds what a default broker allows, yet outlasts the longest interval', () => {
  for (const intervalMs of [4 * 60_000, 5 * 60_000, 10 * 60_000]) {
    const timeoutMs = transactionTimeoutFor(intervalMs, flushMs);
    assert.ok(timeoutMs <= brokerMaxTransactionTimeoutMs, `${intervalMs} ms interval: ${timeoutMs} ms`);
    assert.ok(timeoutMs > intervalMs + flushMs, `${intervalMs} ms interval: a transaction outlives its interval`);
  }
});
