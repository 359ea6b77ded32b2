// `clickstream savepoint --path DIR [--stop]`: a savepoint of the running job (or, with
// --from-state-dir, of a stopped job's state on disk); `clickstream savepoint inspect DIR`.

import path from 'node:path';
import { Command } from 'commander';
import { resolveBrokers, topicNames } from '../config.js';
import { UserError, brokerErrorOf } from '../errors.js';
import { formatManifest, readSavepoint, type SavepointManifest } from '../savepoint/format.js';
import { savepointFromStateDir } from '../savepoint/from-state-dir.js';
import { takeSavepoint } from '../savepoint/take.js';
import { GroupAdmin } from '../kafka/groups.js';
import { addJobOptions, type JobFlags } from './run.js';
import { duration } from './options.js';

interface SavepointFlags extends JobFlags {
  path?: string;
  stop: boolean;
  fromStateDir: boolean;
  timeout: number;
}

export function savepointCommand(): Command {
  const command = addJobOptions(new Command('savepoint').description('take a savepoint of the job: its state and offsets, consistent per task'))
    .option('--path <dir>', 'directory to write (must not exist)')
    .option('--stop', 'stop the job right after the savepoint, outputs flushed', false)
    .option('--from-state-dir', 'the job is stopped: read its state from --state-dir instead of asking its workers', false)
    .option('--timeout <time>', 'give up if not every task contributed by then', duration, 60_000)
    .action(async (flags: SavepointFlags) => {
      await savepoint(flags);
    });
  command
    .command('inspect')
    .description('print what a savepoint holds')
    .argument('<dir>', 'savepoint directory')
    .action((dir: string) => {
      process.stdout.write(formatManifest(readSavepoint(dir).manifest));
    });
  return command;
}

async function savepoint(flags: SavepointFlags): Promise<void> {
  if (flags.path === undefined) throw new UserError('BAD_FLAG', 'savepoint needs --path DIR (or: clickstream savepoint inspect DIR)');
  const brokers = resolveBrokers(flags.brokers);
  let manifest: SavepointManifest;
  let elapsedMs: number;
  if (flags.fromStateDir) {
    const startedAt = Date.now();
    manifest = await savepointFromStateDir(path.resolve(flags.stateDir), flags.jobId, flags.topicPrefix, flags.path);
    elapsedMs = Date.now() - startedAt;
  } else {
    const tty = process.stderr.isTTY === true;
    ({ manifest, elapsedMs } = await takeSavepoint({
      brokers,
      topics: topicNames(flags.topicPrefix),
      topicPrefix: flags.topicPrefix,
      jobId: flags.jobId,
      dir: flags.path,
      stop: flags.stop,
      timeoutMs: flags.timeout,
      onProgress: (collected, expected) => tty && process.stderr.write(`\rcollecting task state: ${collected}/${expected}   `),
    }).catch((err: unknown) => {
      // A broker error midway is one line (the directory is written only once complete).
      throw brokerErrorOf(err, 'savepoint (its directory was not written)') ?? err;
    }));
    if (tty) process.stderr.write('\n');
  }
  process.stdout.write(`wrote savepoint ${manifest.savepointId} to ${flags.path} in ${(elapsedMs / 1000).toFixed(2)} s\n`);
  process.stdout.write(formatManifest(manifest));
  if (flags.stop) {
    // Workers stop by themselves after contributing; report once the group is empty.
    const deadline = Date.now() + flags.timeout;
    const groups = GroupAdmin.open(brokers);
    try {
      while ((await groups.memberCount(flags.jobId)) > 0) {
        if (Date.now() > deadline) throw new UserError('JOB_RUNNING', `savepoint written, but workers of job ${flags.jobId} are still running after ${flags.timeout / 1000} s`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    } finally {
      groups.close();
    }
    process.stdout.write(`job ${flags.jobId} stopped\n`);
  }
}
