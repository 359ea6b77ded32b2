import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newInstanceId, parseHolder, parseInstanceId, slotFree, transactionalIdOf } from '../../../src/state/worker-slot.js';

test('a slot is taken only from a holder that is gone (or from this very process)', () => {
  const alive = new Set([100, 200]);
  const isAlive = (pid: number) => alive.has(pid);
  const self = { pid: 300, host: 'a' };
  assert.equal(slotFree(undefined, self, isAlive), true, 'never used');
  assert.equal(slotFree({ pid: 100, host: 'a' }, self, isAlive), false, 'a live worker of this host holds it');
  assert.equal(slotFree({ pid: 150, host: 'a' }, self, isAlive), true, 'its holder was killed: a restart takes its id over');
  assert.equal(slotFree({ pid: 300, host: 'a' }, self, isAlive), true, 'this process');
  assert.equal(slotFree({ pid: 150, host: undefined }, self, isAlive), true, 'a file from before host names counts as this host');
});

test('a holder on another host sharing the state dir keeps its slot, even with the same pid', () => {
  // Two containers on one volume: both run the worker as pid 1.
  assert.equal(slotFree({ pid: 1, host: 'container-a' }, { pid: 1, host: 'container-b' }, () => false), false);
  assert.equal(slotFree({ pid: 1, host: 'container-b' }, { pid: 1, host: 'container-b' }, () => true), true, 'a restart of the same container takes it back');
});

test('a pid file reads as pid and host; anything else is no holder', () => {
  assert.deepEqual(parseHolder('4242 vm-1\n'), { pid: 4242, host: 'vm-1' });
  assert.deepEqual(parseHolder('4242\n'), { pid: 4242, host: undefined });
  assert.equal(parseHolder(undefined), undefined);
  assert.equal(parseHolder('garbage'), undefined);
  assert.equal(parseHolder('-1 vm'), undefined);
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
