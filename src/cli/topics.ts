// `clickstream topics create`: the job's topics, idempotently, with a report of what exists.

import { Command } from 'commander';
import { resolveBrokers, defaults } from '../config.js';
import { ensureTopics, formatTopicReport, jobTopics } from '../kafka/topics.js';
import { brokersOption, positiveInt } from './options.js';

export function topicsCommand(): Command {
  const command = new Command('topics').description('manage the Kafka topics the job uses');
  command
    .command('create')
    .description('create clicks, counts, total, url-stats, clicks-late, clicks-dlq and internal topics if missing')
    .option('--partitions <n>', 'partitions of clicks (and of the per-partition topics)', positiveInt, defaults.clicksPartitions)
    .addOption(brokersOption())
    .action(async (opts: { partitions: number; brokers?: string }) => {
      const reports = await ensureTopics(resolveBrokers(opts.brokers), jobTopics(opts.partitions));
      process.stdout.write(formatTopicReport(reports) + '\n');
    });
  return command;
}
