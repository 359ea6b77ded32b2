// Why a task's LevelDB store cannot be used, told as one line that names the store and what to do:
// locked (and by which process), corrupt (and how to recover), permission denied, or out of space.
// LevelDB itself misses two kinds of damage, so they are checked here around `open`: a store whose
// CURRENT file is gone opens as a new, empty store (and deletes the old tables), and a damaged
// write-ahead log is replayed with the damaged checkpoints silently dropped and later ones applied.

import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';

/** Left in a store found damaged, so that a second open refuses it too (LevelDB ignores the name). */
export const CORRUPT_MARKER = 'CORRUPT';

const DATA_FILE = /^\d+\.(ldb|sst|log)$/;

function corrupt(location: string, detail: string): UserError {
  return new UserError(
    'STATE_CORRUPT',
    `state store ${location} is corrupt: ${detail}. Restore a savepoint (clickstream restore --from DIR) or delete ${location} so the task restarts from the group's committed offsets with empty window state`,
  );
}

function listStore(location: string): string[] {
  try {
    return readdirSync(location);
  } catch {
    return []; // missing or unreadable: LevelDB's own open reports it
  }
}

/**
 * Refuses, before LevelDB touches it, a store this process has open already, one an earlier open
 * found damaged, or one whose CURRENT is gone.
 */
export function checkBeforeOpen(location: string): void {
  // LevelDB refuses a second open in one process, but closing the file descriptor it opened to
  // try releases the first handle's fcntl lock: another process could then open the store too.
  if (lockHolder(path.join(location, 'LOCK')) === process.pid) throw alreadyOpen(location);
  const files = listStore(location);
  if (files.includes(CORRUPT_MARKER)) {
    let reason = 'found damaged earlier';
    try {
      reason = readFileSync(path.join(location, CORRUPT_MARKER), 'utf8').trim() || reason;
    } catch {
      // keep the generic reason
    }
    throw corrupt(location, reason);
  }
  // LevelDB would create a fresh store here and delete the old tables: the task would silently
  // restart from the group's offsets with no state.
  if (!files.includes('CURRENT') && files.some((file) => DATA_FILE.test(file))) {
    throw corrupt(location, 'its CURRENT file is missing but it holds data files');
  }
}

/**
 * Checks an opened store for damage LevelDB opens anyway: log records it dropped while replaying
 * the write-ahead log (it only says so in its LOG file).
 */
export function checkAfterOpen(location: string): void {
  let infoLog = '';
  try {
    infoLog = readFileSync(path.join(location, 'LOG'), 'utf8');
  } catch {
    // no info log: nothing to learn from it
  }
  // e.g. "(ignoring error) dir/000003.log: dropping 14444 bytes; Corruption: checksum mismatch"
  const dropped = /\(ignoring error\) (\S+): dropping (\d+) bytes; (.*)/.exec(infoLog);
  if (dropped !== null) {
    const reason = `its write-ahead log ${path.basename(dropped[1]!)} is damaged (${dropped[3]!.trim()}); LevelDB dropped ${dropped[2]} bytes of checkpoints from it and kept later ones`;
    // LevelDB has already rewritten the store without them; the marker keeps refusing it.
    try {
      writeFileSync(path.join(location, CORRUPT_MARKER), reason + '\n');
    } catch {
      // refusing now is what matters
    }
    throw corrupt(location, reason);
  }
}

/**
 * A store whose state cannot be read back is corrupt (a damaged or truncated table). Tables are
 * not checked at open: right after a crash, or while LevelDB compacts after opening, the
 * directory legitimately holds partly written table files that no version refers to.
 */
export function readFailure(location: string, err: unknown): UserError {
  const cause = (err as { cause?: Error }).cause ?? (err as Error);
  return corrupt(location, `reading its state failed (${String(cause.message ?? cause).split('\n')[0]})`);
}

/** The process holding LevelDB's fcntl lock on `lockFile`, from /proc/locks (Linux), if visible. */
function lockHolder(lockFile: string): number | undefined {
  try {
    const stat = statSync(lockFile, { bigint: true });
    const major = ((stat.dev >> 8n) & 0xfffn) | ((stat.dev >> 32n) & ~0xfffn);
    const minor = (stat.dev & 0xffn) | ((stat.dev >> 12n) & ~0xffn);
    for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
      // "1: POSIX  ADVISORY  WRITE 28641 fe:00:5317096 0 EOF"; waiters ("1: -> POSIX ...") hold nothing
      const fields = line.trim().split(/\s+/);
      if (fields[1] === '->' || fields.length < 6) continue;
      const [devMajor, devMinor, inode] = fields[5]!.split(':');
      if (BigInt(`0x${devMajor}`) === major && BigInt(`0x${devMinor}`) === minor && BigInt(inode!) === stat.ino) {
        const pid = Number(fields[4]);
        return pid > 0 ? pid : undefined; // 0: a process outside our pid namespace
      }
    }
  } catch {
    // no /proc/locks (not Linux) or the lock file went away: holder unknown
  }
  return undefined;
}

function describeProcess(pid: number): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((arg) => arg !== '');
    const command = argv.join(' ');
    return command === '' ? `pid ${pid}` : `pid ${pid}: ${command.length > 100 ? command.slice(0, 99) + '…' : command}`;
  } catch {
    return `pid ${pid}`;
  }
}

function alreadyOpen(location: string): UserError {
  return new UserError('STATE_LOCKED', `state store ${location} is already open in this process (pid ${process.pid})`);
}

function locked(location: string, message: string): UserError {
  const holder = lockHolder(path.join(location, 'LOCK'));
  if (holder === process.pid || message.endsWith('already held by process')) return alreadyOpen(location);
  const who = holder === undefined ? 'another process' : `another process (${describeProcess(holder)})`;
  return new UserError('STATE_LOCKED', `state store ${location} is locked by ${who}; stop it or give this worker another --state-dir`);
}

/** The UserError for a failed LevelDB open of the store at `location`. */
export function openFailure(location: string, err: unknown): UserError {
  const cause = (err as { cause?: NodeJS.ErrnoException }).cause ?? (err as NodeJS.ErrnoException);
  const code = cause.code ?? '';
  const message = cause.message ?? String(err);
  if (code === 'LEVEL_LOCKED') return locked(location, message);
  if (code === 'LEVEL_CORRUPTION') return corrupt(location, `LevelDB reports "${message.replace(/^Corruption: /, '')}"`);
  // The store directory itself (classic-level creates it with mkdir before LevelDB opens it).
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    const what = code === 'EROFS' ? 'read-only file system' : 'permission denied';
    return new UserError('STATE_PERMISSION', `cannot open state store ${location}: ${what} on ${cause.path ?? location}`);
  }
  if (code === 'EEXIST') return new UserError('BAD_STATE', `cannot open state store ${location}: it is a file, not a directory`);
  if (code === 'ENOTDIR') return new UserError('BAD_STATE', `cannot open state store ${location}: a directory on its path is a file`);
  // LevelDB's IO errors read "IO error: <file>: <strerror>".
  const io = /^IO error: (.*): ([^:]+)$/.exec(message);
  if (code === 'LEVEL_IO_ERROR' && io !== null) {
    const [, file, reason] = io as unknown as [string, string, string];
    if (reason === 'Permission denied' || reason === 'Operation not permitted') {
      return new UserError('STATE_PERMISSION', `cannot open state store ${location}: permission denied on ${file}`);
    }
    if (reason === 'Read-only file system') {
      return new UserError('STATE_PERMISSION', `cannot open state store ${location}: ${file} is on a read-only file system`);
    }
    if (reason === 'No such file or directory') return corrupt(location, `file ${path.basename(file)} that it refers to is missing`);
    if (reason === 'No space left on device' || reason === 'File too large') {
      return new UserError('BAD_STATE', `cannot open state store ${location}: ${reason.toLowerCase()} writing ${file}`);
    }
  }
  return new UserError('BAD_STATE', `cannot open state store ${location}: ${message}`);
}
