// Savepoints against the real broker: taken from running workers over Kafka, restored into a
// fresh state dir and consumer group; the union of outputs before and after equals the oracle.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expectedWindows } from '../support/oracle.js';
import { runCli } from '../support/cli.js';
import { brokers, readTopic, waitForCommittedEnd } from '../support/kafka.js';
import { settledShares } from '../support/group.js';
import { assertOutputEqualsOracle, createJob, produce, readClickLog, readOutput, startWorker, stopAll, type TestJob } from '../support/job.js';

const t0 = Date.now() - 10 * 60_000;
const batch = (seed: number, startMs: number): string[] => [
  '--rate', '20000', '--count', '40000', '--event-rate', '1000', '--seed', String(seed), '--start-time', String(startMs), '--key', 'user', '--late-share', '0.01',
];

function waitExit(job: TestJob): Promise<void> {
  return Promise.all(job.workers.map((w) => (w.exitCode !== null ? Promise.resolve() : new Promise<void>((resolve) => w.once('exit', () => resolve()))))).then(() => undefined);
}

/** A second job over the same topics, restored from `dir` into its own state dir and group. */
async function restoreInto(job: TestJob, dir: string, name: string): Promise<TestJob> {
  const restored: TestJob = { ...job, jobId: `${job.jobId}-${name}`, stateDir: path.join(job.dir, `state-${name}`), workers: [] };
  const result = await runCli(['restore', '--from', dir, '--no-run', '--topic-prefix', job.prefix, '--job-id', restored.jobId, '--state-dir', restored.stateDir, '--brokers', brokers]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /restored savepoint sp-\S+: 8 tasks/);
  return restored;
}

function savepointArgs(job: TestJob, dir: string, extra: string[] = []): string[] {
  return ['savepoint', '--path', dir, '--topic-prefix', job.prefix, '--job-id', job.jobId, '--brokers', brokers, ...extra];
}

test('stop-with-savepoint, then restore into a fresh job: the union of outputs equals the oracle', async () => {
  const job = await createJob('sp-stop');
  let restored: TestJob | undefined;
  try {
    startWorker(job, ['--idle-timeout', '60s']);
    startWorker(job, ['--idle-timeout', '60s']);
    await sleep(3_000);
    const log1 = await produce(job, batch(41, t0), 'batch1.jsonl');
    const dir = path.join(job.dir, 'sp-stop');
    const result = await runCli(savepointArgs(job, dir, ['--stop']));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /wrote savepoint sp-\S+ to .* in [\d.]+ s/);
    assert.match(result.stdout, /job .* stopped/);
    await waitExit(job);
    assert.ok(job.workers.every((w) => w.exitCode === 0), 'workers stop cleanly after the savepoint');
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { aligned?: boolean; tasks: Array<{ stage: string; partition: number; nextOffset: number | null }> };
    assert.equal(manifest.tasks.length, 8, 'every partition of both stages is in the savepoint');
    const sourceOffsets = manifest.tasks.filter((t) => t.stage === 'source').reduce((sum, t) => sum + (t.nextOffset ?? 0), 0);
    assert.equal(sourceOffsets, 40_000, 'the stopped job had read the whole first batch');
    // Aligned: each merge task read its partition of the partials topic to the end (the sources'
    // barriers are the last records), so no partial waits unread in the topic.
    assert.equal(manifest.aligned, true);
    const partialsEnd = await waitForCommittedEnd(job.jobId, job.topics.partials, 4, 0);
    const mergeOffsets = manifest.tasks.filter((t) => t.stage === 'merge').sort((a, b) => a.partition - b.partition).map((t) => t.nextOffset);
    assert.deepEqual(mergeOffsets, partialsEnd.end, 'merge tasks stopped at the end of the partials topic');

    restored = await restoreInto(job, dir, 'restored');
    // An idle timeout longer than the pause before the next batch: idleness would close windows early.
    startWorker(restored, ['--idle-timeout', '10s']);
    startWorker(restored, ['--idle-timeout', '10s']);
    await sleep(2_000);
    const log2 = await produce(job, batch(42, t0 + 40_000), 'batch2.jsonl');
    const expected = expectedWindows([...readClickLog(log1), ...readClickLog(log2)]);
    assertOutputEqualsOracle(await readOutput(job, expected), expected);
  } finally {
    await stopAll(job);
    if (restored) await stopAll(restored);
  }
});

// A worker dies just before a stop-with-savepoint (the group has not evicted it yet): its
// partitions contribute nothing, the savepoint times out, and the live worker, which held its
// clicks meanwhile, reads them again: the job is not left stopped, and its output stays exact.
// The job's last windows close by idleness, so the idle timeout must outlast the pause between
// the batches (~15 s) and end well inside readOutput's quiet window (60 s): at 60 s it raced it.
test('a stop-with-savepoint that cannot complete is abandoned: the job goes on, exact', async () => {
  const job = await createJob('sp-abandon');
  try {
    const survivor = startWorker(job, ['--idle-timeout', '30s']);
    const doomed = startWorker(job, ['--idle-timeout', '30s']);
    await settledShares(job, [survivor, doomed]);
    const log1 = await produce(job, batch(47, t0), 'batch1.jsonl');
    await waitForCommittedEnd(job.jobId, job.topics.clicks, 4, 30_000);
    doomed.kill('SIGKILL');
    const dir = path.join(job.dir, 'sp-abandoned');
    const result = await runCli(savepointArgs(job, dir, ['--stop', '--timeout', '4s']));
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /incomplete after 4 s: no state from .*nothing was written/);
    assert.equal(existsSync(dir), false);
    await sleep(3_000);
    assert.equal(survivor.exitCode, null, 'the live worker did not stop on an incomplete savepoint');
    const log2 = await produce(job, batch(48, t0 + 40_000), 'batch2.jsonl');
    const expected = expectedWindows([...readClickLog(log1), ...readClickLog(log2)]);
    assertOutputEqualsOracle(await readOutput(job, expected), expected);
  } finally {
    await stopAll(job);
  }
});

test('restore resets the changelog: workers on another machine (no local state) resume from the savepoint', async () => {
  const job = await createJob('sp-changelog');
  let restored: TestJob | undefined;
  try {
    startWorker(job, ['--idle-timeout', '60s']);
    await sleep(3_000);
    const log1 = await produce(job, batch(45, t0), 'batch1.jsonl');
    const dir = path.join(job.dir, 'sp-changelog');
    const taken = await runCli(savepointArgs(job, dir, ['--stop']));
    assert.equal(taken.code, 0, taken.stderr);
    await waitExit(job);
    restored = await restoreInto(job, dir, 'elsewhere');
    // The restore installed stores in restored.stateDir; this worker runs with an empty one.
    const elsewhere = startWorker(restored, ['--idle-timeout', '10s', '--state-dir', path.join(job.dir, 'state-other-machine')]);
    let log = '';
    elsewhere.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    await sleep(2_000);
    const log2 = await produce(job, batch(46, t0 + 40_000), 'batch2.jsonl');
    const expected = expectedWindows([...readClickLog(log1), ...readClickLog(log2)]);
    assertOutputEqualsOracle(await readOutput(job, expected), expected);
    const rebuilt = log.split('\n').filter((line) => line.includes('task state rebuilt from the changelog'));
    assert.equal(rebuilt.length, 8, `every task was rebuilt from the reset changelog:\n${log}`);
  } finally {
    await stopAll(job);
    if (restored) await stopAll(restored);
  }
});

test('a savepoint taken while producing, the job kept running then stopped; restore: union equals the oracle', async () => {
  const job = await createJob('sp-live');
  let restored: TestJob | undefined;
  try {
    startWorker(job, ['--idle-timeout', '60s']);
    startWorker(job, ['--idle-timeout', '60s']);
    await sleep(3_000);
    const producing = produce(job, ['--rate', '15000', '--count', '60000', '--event-rate', '1000', '--seed', '43', '--start-time', String(t0), '--key', 'url', '--late-share', '0.01'], 'batch1.jsonl');
    await sleep(1_500);
    const dir = path.join(job.dir, 'sp-live');
    const result = await runCli(savepointArgs(job, dir));
    assert.equal(result.code, 0, result.stderr);
    const log1 = await producing;
    await sleep(3_000);
    await stopAll(job);

    const inspect = await runCli(['savepoint', 'inspect', dir]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.match(inspect.stdout, /8 tasks/);
    assert.match(inspect.stdout, /source-3\s+\d+\s+20\d\d-/);

    restored = await restoreInto(job, dir, 'restored');
    startWorker(restored, ['--idle-timeout', '10s']);
    await sleep(2_000);
    const log2 = await produce(job, batch(44, t0 + 60_000), 'batch2.jsonl');
    const expected = expectedWindows([...readClickLog(log1), ...readClickLog(log2)]);
    assertOutputEqualsOracle(await readOutput(job, expected), expected);
  } finally {
    await stopAll(job);
    if (restored) await stopAll(restored);
  }
});

/** Starts a worker of `job` with `extra` flags and resolves with its exit code and stderr once it exits. */
function runRefusedWorker(job: TestJob, extra: string[], timeoutMs = 90_000): Promise<{ code: number | null; stderr: string }> {
  const child = startWorker(job, extra);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker with ${extra.join(' ')} still running after ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

// The allowed lateness belongs to a job's state: a restart, or a worker taking tasks over through
// the changelog, with another one is refused; a stop-with-savepoint may be restored with a shorter
// one (the windows held for corrections then finish at once, under new revision numbers); the
// union of outputs equals the oracle, every window final.
test('allowed lateness: other ones refused on restart and handover; a stop-with-savepoint restores with a shorter one, exact', async () => {
  const job = await createJob('sp-lateness');
  let restored: TestJob | undefined;
  try {
    const flags = ['--idle-timeout', '60s', '--allowed-lateness', '10s'];
    startWorker(job, flags);
    await sleep(3_000);
    const log1 = await produce(job, [...batch(47, t0), '--late-share', '0.03'], 'batch1.jsonl');
    const running = path.join(job.dir, 'sp-running');
    const takenRunning = await runCli(savepointArgs(job, running));
    assert.equal(takenRunning.code, 0, takenRunning.stderr);

    const sameDir = await runRefusedWorker(job, ['--allowed-lateness', '5s', '--idle-timeout', '60s']);
    assert.equal(sameDir.code, 2, sameDir.stderr);
    assert.match(sameDir.stderr, /task (source|merge)-\d holds state built with an allowed lateness of 10000 ms, this worker runs with 5000 ms/);
    const otherDir = await runRefusedWorker(job, ['--allowed-lateness', '0s', '--idle-timeout', '60s', '--state-dir', path.join(job.dir, 'state-other-machine')]);
    assert.equal(otherDir.code, 2, otherDir.stderr);
    assert.match(otherDir.stderr, /task (source|merge)-\d holds state built with an allowed lateness of 10000 ms, this worker runs with 0 ms/);

    // The refused workers died holding partitions: a stop-with-savepoint taken before the group
    // evicts them would find the live worker settled on its own share, stop it, and miss theirs.
    await settledShares(job, job.workers.filter((w) => w.exitCode === null && w.signalCode === null));

    const restoreArgs = (from: string, jobId: string, lateness: string): string[] =>
      ['restore', '--from', from, '--no-run', '--topic-prefix', job.prefix, '--job-id', jobId, '--state-dir', path.join(job.dir, `state-${jobId}`), '--brokers', brokers, '--allowed-lateness', lateness];
    const refused = await runCli(restoreArgs(running, `${job.jobId}-from-running`, '0s'));
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /allowedLatenessMs: 10000 in the savepoint, 0 now; only a savepoint taken with --stop may be restored with a shorter one/);

    const stopped = path.join(job.dir, 'sp-stopped');
    const takenStopped = await runCli(savepointArgs(job, stopped, ['--stop']));
    assert.equal(takenStopped.code, 0, takenStopped.stderr);
    await waitExit(job);
    const inspect = await runCli(['savepoint', 'inspect', stopped]);
    assert.match(inspect.stdout, /from the running job, which stopped with it/);
    assert.match(inspect.stdout, /allowed lateness 10000 ms/);
    const longer = await runCli(restoreArgs(stopped, `${job.jobId}-longer`, '20s'));
    assert.equal(longer.code, 2, longer.stderr);
    assert.match(longer.stderr, /allowedLatenessMs: 10000 in the savepoint, 20000 now; it may shorten, never grow/);

    restored = { ...job, jobId: `${job.jobId}-shorter`, stateDir: path.join(job.dir, `state-${job.jobId}-shorter`), workers: [] };
    const result = await runCli(restoreArgs(stopped, restored.jobId, '0s'));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(readFileSync(path.join(restored.stateDir, restored.jobId, 'job.json'), 'utf8')).allowedLatenessMs, 0);
    // Another machine that ran this job id before the restore: its job.json still says 10 s, the
    // reset changelog says 0; the changelog decides.
    const machineB = path.join(job.dir, 'state-machine-b');
    mkdirSync(path.join(machineB, restored.jobId), { recursive: true });
    const before = JSON.parse(readFileSync(path.join(restored.stateDir, restored.jobId, 'job.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(path.join(machineB, restored.jobId, 'job.json'), JSON.stringify({ ...before, allowedLatenessMs: 10_000 }));
    startWorker(restored, ['--idle-timeout', '10s', '--allowed-lateness', '0s']);
    startWorker(restored, ['--idle-timeout', '10s', '--allowed-lateness', '0s', '--state-dir', machineB]);
    await sleep(2_000);
    // Far enough ahead that no window holds clicks of both batches, and none late: the second
    // batch is counted alike with either lateness.
    const log2 = await produce(job, [...batch(48, t0 + 200_000), '--late-share', '0'], 'batch2.jsonl');
    const expected = expectedWindows([...readClickLog(log1), ...readClickLog(log2)], { allowedLatenessMs: 10_000 });
    assert.ok(expected.late < expectedWindows([...readClickLog(log1), ...readClickLog(log2)]).late, 'the first batch has clicks only the allowed lateness counts');
    const output = await readOutput(job, expected);
    assertOutputEqualsOracle(output, expected);
    assert.ok(output.revisions > 0, 'windows were revised or finished after their first emission');
    assert.ok(restored.workers.every((w) => w.exitCode === null), 'both workers of the restored job ran to the end');
  } finally {
    await stopAll(job);
    if (restored) await stopAll(restored);
  }
});

/** Every output record of the job's topics, keyed by topic/window/key, with its partition offset. */
async function outputRecords(job: TestJob): Promise<Array<{ id: string; partition: string; offset: number; value: Buffer }>> {
  const records: Array<{ id: string; partition: string; offset: number; value: Buffer }> = [];
  for (const [topic, partitions] of [[job.topics.counts, 4], [job.topics.total, 1], [job.topics.urlStats, 4]] as const) {
    for (const m of await readTopic(topic, partitions, Number.MAX_SAFE_INTEGER, 3_000)) {
      records.push({ id: `${topic}|${String(m.key)}|${m.value!.subarray(0, 40).toString('hex')}`, partition: `${topic}-${m.partition}`, offset: m.offset, value: Buffer.from(m.value!) });
    }
  }
  return records;
}

function endOffsets(records: Array<{ partition: string; offset: number }>): Map<string, number> {
  const ends = new Map<string, number>();
  for (const r of records) ends.set(r.partition, Math.max(ends.get(r.partition) ?? 0, r.offset + 1));
  return ends;
}

/** Records written after `ends`, as a map of record identity -> bytes. */
function writtenAfter(records: Array<{ id: string; partition: string; offset: number; value: Buffer }>, ends: Map<string, number>): Map<string, string> {
  return new Map(records.filter((r) => r.offset >= (ends.get(r.partition) ?? 0)).map((r) => [r.id, r.value.toString('hex')]));
}

/** Waits until the job's group has committed every click and every partial: all its output is out. */
async function finished(job: TestJob): Promise<void> {
  for (const topic of [job.topics.clicks, job.topics.partials]) {
    const { committed, end } = await waitForCommittedEnd(job.jobId, topic, 4, 90_000);
    assert.deepEqual(committed, end, `${job.jobId} committed every offset of ${topic}`);
  }
}

test('restoring the same savepoint twice gives byte-identical outputs', async () => {
  const job = await createJob('sp-twice');
  const restoredJobs: TestJob[] = [];
  try {
    startWorker(job, ['--idle-timeout', '60s']);
    await sleep(3_000);
    const log1 = await produce(job, batch(46, t0), 'batch1.jsonl');
    const dir = path.join(job.dir, 'sp');
    assert.equal((await runCli(savepointArgs(job, dir, ['--stop']))).code, 0);
    await waitExit(job);
    const log2 = await produce(job, batch(47, t0 + 40_000), 'batch2.jsonl');
    const expected = expectedWindows([...readClickLog(log1), ...readClickLog(log2)]);

    const before = endOffsets(await outputRecords(job));
    const first = await restoreInto(job, dir, 'first');
    restoredJobs.push(first);
    startWorker(first);
    assertOutputEqualsOracle(await readOutput(job, expected), expected);
    await finished(first);
    await stopAll(first);
    const afterFirst = await outputRecords(job);
    const emittedByFirst = writtenAfter(afterFirst, before);

    const second = await restoreInto(job, dir, 'second');
    restoredJobs.push(second);
    startWorker(second);
    // Every window is in the topics already (the first run wrote them): reading them proves
    // nothing about the second run until it has read all its input.
    await finished(second);
    assertOutputEqualsOracle(await readOutput(job, expected), expected);
    await stopAll(second);
    const emittedBySecond = writtenAfter(await outputRecords(job), endOffsets(afterFirst));
    assert.ok(emittedByFirst.size > 100, `the restored job emitted windows (${emittedByFirst.size})`);
    assert.deepEqual(emittedBySecond, emittedByFirst);
  } finally {
    await stopAll(job);
    for (const restored of restoredJobs) await stopAll(restored);
  }
});

test('refusals: corrupt copy, other configuration, running workers, incomplete savepoint; state untouched', async () => {
  const job = await createJob('sp-refuse');
  try {
    startWorker(job, ['--idle-timeout', '60s']);
    await sleep(3_000);
    await produce(job, batch(45, t0), 'batch1.jsonl');
    const good = path.join(job.dir, 'good');
    assert.equal((await runCli(savepointArgs(job, good))).code, 0);

    const snapshotState = (dir: string): string => (existsSync(dir) ? JSON.stringify(readdirSync(dir, { recursive: true }).sort()) : 'absent');
    const restoreArgs = (from: string, extra: string[] = []): string[] => ['restore', '--from', from, '--no-run', '--topic-prefix', job.prefix, '--job-id', job.jobId, '--state-dir', job.stateDir, '--brokers', brokers, ...extra];
    const before = snapshotState(job.stateDir);
    const oneLine = (r: { code: number | null; stderr: string }, message: RegExp): void => {
      assert.ok(r.code === 1 || r.code === 2, `exits with a user-error code, not ${r.code}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, message);
    };

    // running workers of the job
    oneLine(await runCli(restoreArgs(good)), /job .* has 1 running worker\(s\); stop them first or pass --force/);
    // another configuration
    oneLine(await runCli(restoreArgs(good, ['--max-out-of-orderness', '30s'])), /another configuration \(maxOutOfOrdernessMs: 20000 in the savepoint, 30000 now\)/);
    // a corrupt copy
    const corrupt = path.join(job.dir, 'corrupt');
    await runCli(savepointArgs(job, corrupt));
    const taskFile = path.join(corrupt, 'tasks', 'source-0.json');
    writeFileSync(taskFile, readFileSync(taskFile, 'utf8').replace(/\d(?=\D*$)/, (d) => String((Number(d) + 1) % 10)));
    oneLine(await runCli(restoreArgs(corrupt, ['--force'])), /tasks\/source-0.json does not match its checksum/);
    const manifestFile = path.join(corrupt, 'manifest.json');
    writeFileSync(manifestFile, readFileSync(manifestFile, 'utf8').slice(0, 100));
    oneLine(await runCli(restoreArgs(corrupt, ['--force'])), /manifest.json does not match its checksum/);
    assert.equal(snapshotState(job.stateDir), before, 'no refusal touched the state dir');

    // no workers: the savepoint times out and leaves nothing that looks complete
    await stopAll(job);
    const late = path.join(job.dir, 'late');
    oneLine(await runCli(savepointArgs(job, late, ['--timeout', '3s'])), /incomplete after 3 s: no state from .*nothing was written/);
    assert.equal(existsSync(late), false);
    assert.deepEqual(readdirSync(job.dir).filter((name) => name.startsWith('late')), []);

    // the stopped job's state dir makes a savepoint too
    const offline = path.join(job.dir, 'offline');
    const fromDisk = await runCli(['savepoint', '--from-state-dir', '--path', offline, '--job-id', job.jobId, '--state-dir', job.stateDir, '--topic-prefix', job.prefix]);
    assert.equal(fromDisk.code, 0, fromDisk.stderr);
    assert.match(fromDisk.stdout, /from the state dir of a stopped job/);
  } finally {
    await stopAll(job);
  }
});
