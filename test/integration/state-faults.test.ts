// Disk and state faults of a task store: a store that cannot be opened (locked, corrupt, not
// permitted) is refused with one line naming its path, and a checkpoint that fails because the
// disk is full leaves the previous checkpoint exactly as it was.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isUserError, type UserErrorCode } from '../../src/errors.js';
import { TaskStore } from '../../src/state/task-store.js';
import { taskDir } from '../../src/state/state-dir.js';
import { runCli } from '../support/cli.js';
import { brokers } from '../support/kafka.js';
import { createJob } from '../support/job.js';
import { smallCheckpoint, type ChildReport } from '../support/store-child.js';

const childScript = fileURLToPath(new URL('../support/store-child.js', import.meta.url));

function tempDir(name: string): string {
  return mkdtempSync(path.join(tmpdir(), `cs-${name}-`));
}

/** A store with `checkpoints` checkpoints (3 KB each), reopened once so its state sits in a table. */
async function storeWithState(location: string, checkpoints = 5): Promise<void> {
  let store = await TaskStore.open(location);
  for (let id = 1; id <= checkpoints; id++) {
    await store.checkpoint(new Map([[`pane!${id}`, String(id).padStart(3_000, 'x')]]), id * 100);
  }
  await store.close();
  store = await TaskStore.open(location);
  await store.close();
}

function storeFiles(location: string, pattern: RegExp): string[] {
  return readdirSync(location).filter((file) => pattern.test(file)).map((file) => path.join(location, file));
}

async function assertRefused(location: string, code: UserErrorCode, pattern: RegExp): Promise<string> {
  let message = '';
  // As a task uses a store: open it, then read its state back.
  const openAndLoad = async (): Promise<void> => {
    const store = await TaskStore.open(location);
    try {
      await store.load();
    } finally {
      await store.close();
    }
  };
  await assert.rejects(openAndLoad(), (err: unknown) => {
    assert.ok(isUserError(err), `a UserError, not ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.includes(location), `names the store: ${err.message}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    assert.match(err.message, pattern);
    if (code === 'STATE_CORRUPT') assert.ok(err.message.endsWith(recovery(location)), `says how to recover: ${err.message}`);
    message = err.message;
    return true;
  });
  return message;
}

/** How a corrupt store message ends: the two ways back. */
const recovery = (location: string): string =>
  `. Restore a savepoint (clickstream restore --from DIR) or delete ${location} so the task restarts from the group's committed offsets with empty window state`;

function runChild(args: string[], command = process.execPath, prefix: string[] = []): Promise<ChildReport> {
  const child = spawn(command, [...prefix, childScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`store child exited with ${code}: ${stderr}`));
      else resolve(JSON.parse(stdout) as ChildReport);
    });
  });
}

function holdInChild(location: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [childScript, 'hold', location], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`holder exited early with ${code}`)));
    child.stdout!.once('data', () => resolve(child));
  });
}

test('a store locked by another process is refused, naming the path and the holding process', async () => {
  const location = path.join(tempDir('locked'), 'source-0');
  await storeWithState(location, 1);
  const holder = await holdInChild(location);
  try {
    const message = await assertRefused(location, 'STATE_LOCKED', /is locked by another process/);
    assert.match(message, new RegExp(`\\(pid ${holder.pid}: \\S*node\\S* \\S*store-child\\.js hold `), message);
    assert.match(message, /stop it or give this worker another --state-dir$/);
  } finally {
    holder.removeAllListeners('exit');
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    holder.stdin!.end();
    await exited;
  }
  const store = await TaskStore.open(location); // free again once the holder is gone
  assert.equal((await store.load()).nextOffset, 100);
  await store.close();
});

test('a store opened twice in one process is refused, naming the path', async () => {
  const location = path.join(tempDir('twice'), 'merge-1');
  const store = await TaskStore.open(location);
  try {
    await assertRefused(location, 'STATE_LOCKED', new RegExp(`is already open in this process \\(pid ${process.pid}\\)$`));
    // The refusal must not cost the first handle its lock (LevelDB's own check would).
    const other = await runChild(['open', location]);
    assert.equal(other.code, 'STATE_LOCKED', `another process is still locked out: ${other.message}`);
  } finally {
    await store.close();
  }
});

test('a store whose MANIFEST is garbage is refused as corrupt, with the way to recover', async () => {
  const location = path.join(tempDir('manifest'), 'source-1');
  await storeWithState(location);
  for (const manifest of storeFiles(location, /^MANIFEST-/)) writeFileSync(manifest, 'not a manifest at all');
  await assertRefused(location, 'STATE_CORRUPT', / is corrupt: LevelDB reports "[^"]+"\. /);
});

test('a store whose CURRENT names a missing manifest is refused as corrupt', async () => {
  const location = path.join(tempDir('current'), 'source-2');
  await storeWithState(location);
  writeFileSync(path.join(location, 'CURRENT'), 'MANIFEST-999999\n');
  await assertRefused(location, 'STATE_CORRUPT', / is corrupt: file MANIFEST-999999 that it refers to is missing\. Restore a savepoint/);
});

test('a store whose CURRENT is missing is refused rather than opened empty, and its tables are kept', async () => {
  const location = path.join(tempDir('no-current'), 'source-3');
  await storeWithState(location);
  const tables = storeFiles(location, /\.ldb$/);
  assert.ok(tables.length > 0, 'the state sits in a table');
  unlinkSync(path.join(location, 'CURRENT'));
  await assertRefused(location, 'STATE_CORRUPT', / is corrupt: its CURRENT file is missing but it holds data files\. /);
  for (const table of tables) assert.ok(existsSync(table), `${table} is still there`);
});

test('a store with a truncated table is refused as corrupt when its state is read back', async () => {
  const location = path.join(tempDir('table'), 'merge-0');
  await storeWithState(location);
  const [table] = storeFiles(location, /\.ldb$/);
  assert.ok(table !== undefined, 'the state sits in a table');
  truncateSync(table, Math.floor(statSync(table).size / 2));
  await assertRefused(location, 'STATE_CORRUPT', / is corrupt: reading its state failed \(.+\)\. /);
});

test('a damaged write-ahead log is refused as corrupt, and still refused on the next open', async () => {
  const location = path.join(tempDir('wal'), 'source-0');
  const store = await TaskStore.open(location);
  for (let id = 1; id <= 40; id++) await store.checkpoint(new Map([[`pane!${id}`, String(id).padStart(3_000, 'x')]]), id * 100);
  await store.close();
  const [log] = storeFiles(location, /\.log$/);
  const bytes = readFileSync(log!);
  assert.ok(bytes.length > 60_000, 'the checkpoints are in the log');
  bytes.write('DAMAGED!', 20_000); // inside checkpoint 7 of 40
  writeFileSync(log!, bytes);
  // LevelDB alone would open this with checkpoints 7..11 dropped and 12..40 applied.
  const first = await assertRefused(location, 'STATE_CORRUPT', / is corrupt: its write-ahead log \d+\.log is damaged \(Corruption: checksum mismatch\); LevelDB dropped \d+ bytes of checkpoints from it and kept later ones\. Restore a savepoint/);
  const second = await assertRefused(location, 'STATE_CORRUPT', /write-ahead log/);
  assert.equal(second, first, 'the second open tells the same');
});

test('a write-ahead log cut short (a crash mid-write) opens at the last complete checkpoint', async () => {
  const location = path.join(tempDir('torn'), 'source-0');
  const store = await TaskStore.open(location);
  for (let id = 1; id <= 10; id++) await store.checkpoint(new Map([[`pane!${id}`, String(id).padStart(3_000, 'x')]]), id * 100);
  await store.close();
  const [log] = storeFiles(location, /\.log$/);
  truncateSync(log!, statSync(log!).size - 1_500); // the middle of checkpoint 10
  const reopened = await TaskStore.open(location);
  const loaded = await reopened.load();
  await reopened.close();
  assert.equal(loaded.nextOffset, 900);
  assert.deepEqual(loaded.entries.map(([key]) => key), Array.from({ length: 9 }, (_, i) => `pane!${i + 1}`).sort());
});

test('a store the worker may not write is refused as permission denied, naming the path', async () => {
  const root = tempDir('denied');
  chmodSync(root, 0o755);
  const location = path.join(root, 'source-0');
  await storeWithState(location, 1);
  // Root ignores file modes, so as root the open runs as `nobody` (setpriv, util-linux).
  chmodSync(path.join(location, 'LOCK'), 0o444);
  chmodSync(location, 0o555);
  const asRoot = process.getuid?.() === 0;
  const report = asRoot
    ? await runChild(['open', location], 'setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath])
    : await runChild(['open', location]);
  assert.equal(report.ok, false, 'the open fails');
  assert.equal(report.code, 'STATE_PERMISSION', report.message);
  assert.equal(report.message, `cannot open state store ${location}: permission denied on ${path.join(location, 'LOCK')}`);
  // A store that does not exist yet, under a directory the worker may not write.
  const missing = path.join(location, 'nested');
  const created = asRoot
    ? await runChild(['open', missing], 'setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath])
    : await runChild(['open', missing]);
  assert.equal(created.code, 'STATE_PERMISSION', created.message);
  assert.equal(created.message, `cannot open state store ${missing}: permission denied on ${missing}`);
});

test('a store path that is a file is refused, naming the path', async () => {
  const location = path.join(tempDir('file'), 'source-0');
  writeFileSync(location, 'not a directory');
  await assertRefused(location, 'BAD_STATE', /: it is a file, not a directory$/);
});

test('a checkpoint that fails on a full disk leaves the previous checkpoint exactly as it was', async () => {
  const location = path.join(tempDir('full'), 'source-0');
  // Checkpoint 1 in a table, from an earlier run.
  const before = await TaskStore.open(location);
  await before.checkpoint(new Map([['pane!1000!/a', '1'], ['pane!1000!/b', '2'], ['pane!2000!/c', '3']]), 100);
  await before.close();
  // A file-size limit stands in for a full disk: with SIGXFSZ ignored (inherited across exec),
  // a write past 256 KB fails with EFBIG. The child writes checkpoint 2 (small), then 3 (2 MB).
  const report = await runChild(['fill', location], 'bash', ['-c', `trap '' XFSZ; ulimit -f 256; exec "$0" "$@"`, process.execPath]);
  assert.equal(report.ok, false, 'the 2 MB checkpoint fails');
  assert.match(report.message ?? '', /File too large/, report.message);
  // Checkpoint 1 with checkpoint 2's changes (a changed, b deleted, c added), none of checkpoint 3's.
  for (let open = 1; open <= 2; open++) {
    const store = await TaskStore.open(location);
    const loaded = await store.load();
    await store.close();
    assert.deepEqual(loaded.entries, [['pane!1000!/a', '7'], ['pane!2000!/c', '1']], `state of checkpoint 2 (open ${open})`);
    assert.equal(loaded.nextOffset, smallCheckpoint.nextOffset, `next offset of checkpoint 2 (open ${open})`);
  }
  // With space again, the store takes checkpoints.
  const after = await TaskStore.open(location);
  await after.checkpoint(new Map([['pane!5000!/e', '5']]), 500);
  assert.equal((await after.load()).nextOffset, 500);
  await after.close();
});

test('clickstream run on a corrupt store prints one line naming the store and exits non-zero', async () => {
  const job = await createJob('state-corrupt', 2);
  const location = taskDir(job.stateDir, job.jobId, 'source', 0);
  await storeWithState(location);
  for (const manifest of storeFiles(location, /^MANIFEST-/)) writeFileSync(manifest, 'not a manifest at all');
  const result = await runCli(['run', '--topic-prefix', job.prefix, '--job-id', job.jobId, '--state-dir', job.stateDir, '--no-minute-tables', '--brokers', brokers], {}, 60_000);
  assert.equal(result.code, 2, `exit code (null: killed after hanging); stderr: ${result.stderr}`);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.ok(lines[0]!.startsWith(`clickstream: state store ${location} is corrupt: LevelDB reports "`), lines[0]);
  assert.ok(lines[0]!.endsWith(recovery(location)), lines[0]);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
});
