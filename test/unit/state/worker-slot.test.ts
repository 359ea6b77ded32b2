import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newInstanceId, parseInstanceId, slotFree, transactionalIdOf } from '../../../src/state/worker-slot.js';

test('a slot is taken only from a holder that is gone (or from this very process)', () => {
  const alive = new Set([100, 200]);
  const isAlive = (pid: number) => alive.has(pid);
  assert.equal(slotFree(undefined, 300, isAlive), true, 'never used');
  assert.equal(slotFree(100, 300, isAlive), false, 'a live worker holds it');
  assert.equal(slotFree(150, 300, isAlive), true, 'its holder was killed: a restart takes its id over');
  assert.equal(slotFree(100, 100, isAlive), true, 'this process');
  assert.equal(slotFree(Number.NaN, 300, isAlive), true, 'an unreadable pid file');
  assert.equal(slotFree(-1, 300, () => true), true, 'a pid that names no process');
});

test('instance ids are 96 random bits, so state dirs of their own never share one', () => {
  const seen = new Set(Array.from({ length: 1000 }, () => newInstanceId()));
  assert.equal(seen.size, 1000);
  for (const id of seen) assert.match(id, /^[0-9a-f]{24}$/);
  assert.equal(newInstanceId((n) => Buffer.alloc(n, 0xab)), 'ab'.repeat(12), 'drawn from the random source given');
});

test('an instance id read back from a slot file is used only if it is well formed', () => {
  assert.equal(parseInstanceId('0123456789abcdef01234567\n'), '0123456789abcdef01234567');
  assert.equal(parseInstanceId(undefined), undefined);
  assert.equal(parseInstanceId('vm-0'), undefined, 'a damaged file gets a new id');
  assert.equal(parseInstanceId('0123456789ABCDEF01234567'), undefined);
});

test('the transactional id names the job and the instance, not the host', () => {
  assert.equal(transactionalIdOf('clickstream', '0123456789abcdef01234567'), 'clickstream-0123456789abcdef01234567');
  assert.notEqual(transactionalIdOf('clickstream', newInstanceId()), transactionalIdOf('clickstream', newInstanceId()));
});
