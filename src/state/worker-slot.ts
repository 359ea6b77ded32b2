// A worker's stable identity on this machine: the lowest slot number of the job whose previous
// holder is gone. Exactly-once mode names its transactional id after the slot, so a worker
// restarted after kill -9 takes over its predecessor's id and, by registering it, makes Kafka
// abort the transaction the dead process left open at once (instead of after its timeout, during
// which read_committed readers of the affected partitions are held back).
//   <state-dir>/<job-id>/workers/slot-<n>.pid   pid of the live holder

import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { jobDir } from './state-dir.js';

export interface WorkerSlot {
  slot: number;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function claimWorkerSlot(stateDir: string, jobId: string, pid = process.pid): WorkerSlot {
  const dir = path.join(jobDir(stateDir, jobId), 'workers');
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new UserError('BAD_STATE', `cannot write state dir ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  for (let slot = 0; slot < 10_000; slot++) {
    const file = path.join(dir, `slot-${slot}.pid`);
    let holder: number | undefined;
    try {
      holder = Number(readFileSync(file, 'utf8').trim());
    } catch {
      holder = undefined;
    }
    if (holder !== undefined && Number.isInteger(holder) && holder !== pid && alive(holder)) continue;
    if (holder !== undefined) rmSync(file, { force: true });
    let fd: number;
    try {
      fd = openSync(file, 'wx'); // exclusive: of two workers starting together, one gets the slot
    } catch {
      continue;
    }
    writeSync(fd, `${pid}\n`);
    closeSync(fd);
    return {
      slot,
      release: () => {
        try {
          if (Number(readFileSync(file, 'utf8').trim()) === pid) rmSync(file, { force: true });
        } catch {
          // already gone
        }
      },
    };
  }
  throw new UserError('BAD_STATE', `no free worker slot in ${dir}`);
}
