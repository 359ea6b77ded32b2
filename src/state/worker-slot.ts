// A worker's transactional identity. Kafka lets one live producer hold a transactional id; a
// second one registering it fences the first (its open transaction is aborted, its later calls
// fail). So two live workers must never share an id, while a worker restarted after kill -9
// should take its dead predecessor's, because registering it aborts the transaction the dead
// process left open at once (instead of after its timeout, during which read_committed readers
// of the affected partitions are held back).
//
// How the id is chosen: each state dir keeps numbered slots,
//   <state-dir>/<job-id>/workers/slot-<n>.pid   pid and host name of the holder (created exclusively)
//   <state-dir>/<job-id>/workers/slot-<n>.id    the slot's instance id: 96 random bits
// and a worker takes the lowest slot whose holder is gone: a process of this host that no longer
// runs (a holder on another host, as on a volume two containers share, cannot be checked and is
// left alone). Its transactional id is
// `<job-id>-<instance id>`. Why that is unique: the instance id is drawn at random when a slot is
// first used, so workers with state dirs of their own (other machines, containers whose host
// names repeat, or separate dirs on one host) draw different ids; workers sharing a state dir
// hold different slots. The one way to share an id is a copied state dir (or containers sharing
// one volume whose pids repeat): then the worker that gets fenced draws a new instance id
// (`renew`) and carries on, so a collision costs one aborted checkpoint, never a stall. Nothing
// exact depends on ids being unique: zombies are fenced by the group generation (see
// runtime/at-least-once.ts and exactly-once.ts).

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { jobDir } from './state-dir.js';

export interface WorkerSlot {
  slot: number;
  /** The slot's instance id (see the header). */
  readonly instanceId: string;
  /** Draws a new instance id for the slot (this one was fenced by another live worker). */
  renew(): string;
  release(): void;
}

const maxSlots = 10_000;
const instanceIdPattern = /^[0-9a-f]{24}$/;

/** A fresh instance id: 96 random bits, hex. */
export function newInstanceId(random: (bytes: number) => Buffer = randomBytes): string {
  return random(12).toString('hex');
}

/** The id read back from a slot's file, if it is one (a damaged file gets a new id). */
export function parseInstanceId(text: string | undefined): string | undefined {
  const id = text?.trim();
  return id !== undefined && instanceIdPattern.test(id) ? id : undefined;
}

/** The transactional id of a worker of `jobId` holding `instanceId`. */
export function transactionalIdOf(jobId: string, instanceId: string): string {
  return `${jobId}-${instanceId}`;
}

/** A worker's transactional id, and a way to draw a new one when another live worker holds it. */
export interface TransactionalIdentity {
  transactionalId(): string;
  renew(): string;
}

/** The identity of the worker of `jobId` holding `slot`: renewing draws (and keeps) a new instance id. */
export function slotIdentity(jobId: string, slot: WorkerSlot): TransactionalIdentity {
  return {
    transactionalId: () => transactionalIdOf(jobId, slot.instanceId),
    renew: () => transactionalIdOf(jobId, slot.renew()),
  };
}

/** Who holds a slot: a process of a host. */
export interface SlotHolder {
  pid: number;
  /** Undefined in files written before host names were recorded (taken as this host). */
  host: string | undefined;
}

/** A slot's pid file: "<pid> <host>"; undefined if it says nothing usable. */
export function parseHolder(text: string | undefined): SlotHolder | undefined {
  const [pidText, host] = (text ?? '').trim().split(/\s+/, 2);
  const pid = Number(pidText);
  return Number.isInteger(pid) && pid > 0 ? { pid, host: host || undefined } : undefined;
}

/**
 * Whether a slot whose holder is `holder` may be taken by `self`: it is free, its holder is a
 * process of this host that is gone, or it is this very process. A holder on another host (a
 * state dir on a shared volume) cannot be checked: its slot stays its own. Pure given `alive`.
 */
export function slotFree(holder: SlotHolder | undefined, self: { pid: number; host: string }, alive: (pid: number) => boolean): boolean {
  if (holder === undefined) return true;
  if (holder.host !== undefined && holder.host !== self.host) return false;
  return holder.pid === self.pid || !alive(holder.pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Writes a slot's id file whole: a crash leaves the old id or the new, never half of one. */
function writeInstanceId(file: string, id: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${id}\n`);
  renameSync(temporary, file);
}

export function claimWorkerSlot(stateDir: string, jobId: string, pid = process.pid, host = hostname()): WorkerSlot {
  const dir = path.join(jobDir(stateDir, jobId), 'workers');
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new UserError('BAD_STATE', `cannot write state dir ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  for (let slot = 0; slot < maxSlots; slot++) {
    const pidFile = path.join(dir, `slot-${slot}.pid`);
    const holderText = readText(pidFile);
    if (!slotFree(parseHolder(holderText), { pid, host }, alive)) continue;
    if (holderText !== undefined) rmSync(pidFile, { force: true });
    let fd: number;
    try {
      fd = openSync(pidFile, 'wx'); // exclusive: of two workers starting together, one gets the slot
    } catch {
      continue;
    }
    writeSync(fd, `${pid} ${host}\n`);
    closeSync(fd);
    const idFile = path.join(dir, `slot-${slot}.id`);
    let instanceId = parseInstanceId(readText(idFile));
    try {
      if (instanceId === undefined) writeInstanceId(idFile, (instanceId = newInstanceId()));
    } catch (err) {
      rmSync(pidFile, { force: true });
      throw new UserError('BAD_STATE', `cannot write ${idFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    return {
      slot,
      get instanceId() {
        return instanceId!;
      },
      renew: () => {
        instanceId = newInstanceId();
        try {
          writeInstanceId(idFile, instanceId);
        } catch {
          // The new id still serves this process; a restart would draw another one.
        }
        return instanceId;
      },
      release: () => {
        const holder = parseHolder(readText(pidFile));
        if (holder?.pid === pid && holder.host === host) rmSync(pidFile, { force: true });
      },
    };
  }
  throw new UserError('BAD_STATE', `no free worker slot in ${dir}`);
}
