// Worker slots on a real file system (no broker needed): which transactional identity a worker
// gets for its state dir, as workers start, die and restart.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { claimWorkerSlot } from '../../src/state/worker-slot.js';

const stateDir = () => path.join(mkdtempSync(path.join(tmpdir(), 'clickstream-slots-')), 'state');
/** The pid of a process that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid;

test('workers with state dirs of their own on one host get different ids', () => {
  const a = claimWorkerSlot(stateDir(), 'job', process.pid, 'vm');
  const b = claimWorkerSlot(stateDir(), 'job', process.pid, 'vm');
  assert.equal(a.slot, 0);
  assert.equal(b.slot, 0, 'each has slot 0 of its own dir');
  assert.notEqual(a.instanceId, b.instanceId);
});

test('two live workers sharing a state dir hold different slots and ids', () => {
  const dir = stateDir();
  const first = claimWorkerSlot(dir, 'job', process.pid, 'vm');
  const second = claimWorkerSlot(dir, 'job', process.ppid, 'vm'); // another live process
  assert.deepEqual([first.slot, second.slot], [0, 1]);
  assert.notEqual(first.instanceId, second.instanceId);
});

test('a worker restarted after kill -9 takes its dead predecessor\'s slot and id', () => {
  const dir = stateDir();
  const killed = claimWorkerSlot(dir, 'job', deadPid(), 'vm'); // never released: killed
  const restarted = claimWorkerSlot(dir, 'job', process.pid, 'vm');
  assert.equal(restarted.slot, killed.slot);
  assert.equal(restarted.instanceId, killed.instanceId);
});

test('containers on a shared volume, both pid 1, do not take each other\'s slot', () => {
  const dir = stateDir();
  const a = claimWorkerSlot(dir, 'job', 1, 'container-a');
  const b = claimWorkerSlot(dir, 'job', 1, 'container-b');
  assert.notEqual(a.slot, b.slot);
  assert.notEqual(a.instanceId, b.instanceId);
});

test('a renewed id is kept for the next worker of the slot; a released slot is free again', () => {
  const dir = stateDir();
  const worker = claimWorkerSlot(dir, 'job', process.pid, 'vm');
  const before = worker.instanceId;
  const renewed = worker.renew();
  assert.notEqual(renewed, before);
  assert.equal(worker.instanceId, renewed);
  worker.release();
  const next = claimWorkerSlot(dir, 'job', process.ppid, 'vm');
  assert.deepEqual([next.slot, next.instanceId], [0, renewed]);
});
