// `clickstream restore --from DIR [--partitions N]`: validates a savepoint, installs its state and
// offsets as the job's starting point (with --partitions, laid out for N partitions: the job's
// topics grow, savepoint/rescale.ts), then runs a worker (more join with plain `clickstream run`).

import path from 'node:path';
import { Command } from 'commander';
import { resolveBrokers, topicNames } from '../config.js';
import { restoreSavepoint } from '../savepoint/restore.js';
import { brokerErrorOf } from '../errors.js';
import { addWorkerOptions, runWorker, windowsOf, type RunFlags } from './run.js';
import { positiveInt } from './options.js';

interface RestoreFlags extends RunFlags {
  from: string;
  force: boolean;
  partitions?: number;
}

export function restoreCommand(): Command {
  return addWorkerOptions(new Command('restore').description('start the job from a savepoint: install its state and offsets, then run a worker'))
    .requiredOption('--from <dir>', 'savepoint directory')
    .option('--force', 'restore even though workers of the job are running', false)
    .option('--partitions <n>', 'rescale: grow the job to n partitions (from a savepoint taken with --stop)', positiveInt)
    .option('--no-run', 'install the savepoint, then exit instead of running a worker')
    .action(async (flags: RestoreFlags & { run: boolean }) => {
      const restoring = restoreSavepoint({
        dir: flags.from,
        brokers: resolveBrokers(flags.brokers),
        topics: topicNames(flags.topicPrefix),
        topicPrefix: flags.topicPrefix,
        jobId: flags.jobId,
        stateDir: path.resolve(flags.stateDir),
        windows: windowsOf(flags),
        maxOutOfOrdernessMs: flags.maxOutOfOrderness,
        force: flags.force,
        partitions: flags.partitions,
        onProgress: (line) => process.stderr.write(`${line}\n`),
      });
      // A broker error midway (a partition without a leader yet, a timeout) is one line: the
      // restore is safe to run again, and a stack trace would tell the user nothing more.
      const { manifest, keys, elapsedMs } = await restoring.catch((err: unknown) => {
        throw brokerErrorOf(err, `restore of ${flags.from} (run it again)`) ?? err;
      });
      process.stdout.write(`restored savepoint ${manifest.savepointId}: ${manifest.tasks.length} tasks, ${keys} keys in ${(elapsedMs / 1000).toFixed(2)} s\n`);
      if (flags.run) await runWorker(flags);
    });
}
