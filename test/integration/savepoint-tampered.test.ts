// Tampered savepoints (manifest and checksums edited together, so checksums prove nothing): each
// is refused by `restore` with one line and exit 2 before anything is touched: a canary directory
// outside the state dir is left as it was, and so is the job's state dir.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli } from '../support/cli.js';
import { brokers } from '../support/kafka.js';
import { createJob, produce, startWorker, stopWorker } from '../support/job.js';

type Manifest = { savepointId: string; tasks: Array<Record<string, unknown>>; totalBytes: number };

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** Every file under `dir` with its size and mtime: what must not change. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else out.push(`${path.relative(dir, p)} ${s.size} ${s.mtimeMs}`);
    }
  };
  walk(dir);
  return out;
}

/** Writes `manifest` into `dir` with a matching checksum, as an attacker would. */
function rewrite(dir: string, manifest: Manifest): void {
  const text = JSON.stringify(manifest, null, 2) + '\n';
  writeFileSync(path.join(dir, 'manifest.json'), text);
  writeFileSync(path.join(dir, 'manifest.sha256'), `${sha256(text)}  manifest.json\n`);
}

test('tampered savepoints are refused with one line, exit 2, and nothing touched', async () => {
  const job = await createJob('sp-tamper');
  // A job with state: one worker reads a few thousand clicks, then stops.
  const worker = startWorker(job);
  await sleep(2_000);
  await produce(job, ['--rate', '0', '--count', '4000', '--event-rate', '1000', '--seed', '9', '--key', 'user']);
  await sleep(8_000);
  await stopWorker(worker);
  const original = path.join(job.dir, 'sp');
  const taken = await runCli(['savepoint', '--from-state-dir', '--path', original, '--job-id', job.jobId, '--state-dir', job.stateDir, '--topic-prefix', job.prefix]);
  assert.equal(taken.code, 0, taken.stderr);

  const canary = path.join(job.dir, 'canary');
  mkdirSync(canary);
  writeFileSync(path.join(canary, 'keep.txt'), 'precious');
  const secret = path.join(job.dir, 'secret.json');
  writeFileSync(secret, JSON.stringify({ nextOffset: null, entries: [['pane!0!00', 'SECRET-CONTENTS']] }));
  const stateBefore = tree(job.stateDir);
  const canaryBefore = tree(canary);

  const base = JSON.parse(readFileSync(path.join(original, 'manifest.json'), 'utf8')) as Manifest;
  const cases: Array<{ name: string; tamper: (dir: string, m: Manifest) => void; message: RegExp }> = [
    { name: 'a savepoint id leading outside', tamper: (_d, m) => (m.savepointId = `x/../../${path.basename(job.dir)}/canary`), message: /savepointId/ },
    { name: 'a stage that is a path', tamper: (_d, m) => (m.tasks[0]!.stage = '../../x'), message: /stage/ },
    { name: 'a task file that is a symlink out', tamper: (d, m) => {
      const file = path.join(d, String(m.tasks[0]!.file));
      unlinkSync(file);
      symlinkSync(secret, file);
      m.tasks[0]!.bytes = statSync(secret).size;
      m.tasks[0]!.sha256 = sha256(readFileSync(secret));
      m.totalBytes = m.tasks.reduce((sum, t) => sum + Number(t.bytes), 0);
    }, message: /symbolic link/ },
    { name: 'a next offset of -1', tamper: (_d, m) => (m.tasks[0]!.nextOffset = -1), message: /nextOffset/ },
    { name: 'a next offset of 1e20', tamper: (_d, m) => (m.tasks[0]!.nextOffset = 1e20), message: /nextOffset/ },
    { name: 'a missing task', tamper: (_d, m) => void m.tasks.pop(), message: /tasks listed/ },
    { name: 'a duplicated task', tamper: (_d, m) => (m.tasks[1] = { ...m.tasks[0]! }), message: /listed twice/ },
    { name: 'partition 99', tamper: (_d, m) => (m.tasks[1]!.partition = 99), message: /partition is not one of/ },
    { name: 'a non-numeric field', tamper: (_d, m) => (m.tasks[1]!.openWindowKeys = 'many'), message: /openWindowKeys/ },
  ];
  for (const [i, c] of cases.entries()) {
    const dir = path.join(job.dir, `tampered-${i}`);
    cpSync(original, dir, { recursive: true });
    const manifest = structuredClone(base);
    c.tamper(dir, manifest);
    rewrite(dir, manifest);
    const result = await runCli(['restore', '--from', dir, '--no-run', '--topic-prefix', job.prefix, '--job-id', job.jobId, '--state-dir', job.stateDir, '--brokers', brokers]);
    const lines = result.stderr.trim().split('\n');
    assert.equal(result.code, 2, `${c.name}: exit 2, not ${result.code}: ${result.stderr}`);
    assert.equal(lines.length, 1, `${c.name}: one line: ${result.stderr}`);
    assert.match(lines[0]!, c.message, c.name);
    assert.doesNotMatch(result.stderr, /SECRET-CONTENTS/, `${c.name}: no file contents in the message`);
    assert.deepEqual(tree(canary), canaryBefore, `${c.name}: the canary outside is untouched`);
    assert.deepEqual(tree(job.stateDir), stateBefore, `${c.name}: the state dir is unchanged`);
    assert.ok(!readdirSync(path.dirname(job.stateDir)).some((name) => name.includes('restoring')), `${c.name}: no staging directory was made`);
  }
  // The untampered copy still restores (the refusals above were the tampering, not the setup).
  const ok = await runCli(['restore', '--from', original, '--no-run', '--topic-prefix', job.prefix, '--job-id', job.jobId, '--state-dir', job.stateDir, '--brokers', brokers]);
  assert.equal(ok.code, 0, ok.stderr);
});
