// `clickstream topics create`: the job's topics, idempotently, with a report of what exists.

import { Command } from 'commander';
import { resolveBrokers, defaults, topicNames } from '../config.js';
import { ensureTopics, formatTopicReport, jobTopics } from '../kafka/topics.js';
import { brokersOption, positiveInt, topicPrefix } from './options.js';

export function topicsCommand(): Command {
  const command = new Command('topics').description('manage the Kafka topics the job uses');
  command
    .command('create')
    .description('create clicks, counts, total, url-stats, clicks-late, clicks-dlq and internal topics if missing')
    .option('--partitions <n>', 'partitions of clicks (and of the per-partition topics)', positiveInt, defaults.clicksPartitions)
    .option('--topic-prefix <prefix>', 'prefix of every topic name (several jobs on one cluster)', topicPrefix, '')
    .addOption(brokersOption())
    .action(async (opts: { partitions: number; topicPrefix: string; brokers?: string }) => {
      const reports = await ensureTopics(resolveBrokers(opts.brokers), jobTopics(topicNames(opts.topicPrefix), opts.partitions));
      process.stdout.write(formatTopicReport(reports) + '\n');
    });
  return command;
}
