// `clickstream dashboard`: the web page of the whole job (workers, partitions, watermarks,
// checkpoint history, savepoints, window results) on --http-port, built from Kafka alone.

import { Command } from 'commander';
import { defaults, resolveBrokers, topicNames } from '../config.js';
import { Dashboard } from '../http/dashboard.js';
import { brokersOption, listenHost, port, publicHostOption, topicPrefix } from './options.js';

export function dashboardCommand(): Command {
  return new Command('dashboard')
    .description('serve the job dashboard and its JSON API (/api/job, /api/workers, ...)')
    .option('--http-port <port>', 'port to listen on', port, defaults.httpPort)
    .option('--host <address>', 'address to listen on (0.0.0.0 in containers)', listenHost, '127.0.0.1')
    .addOption(publicHostOption())
    .option('--topic-prefix <prefix>', 'prefix of the topic names (several jobs on one cluster)', topicPrefix, '')
    .addOption(brokersOption())
    .action(async (flags: { httpPort: number; host: string; publicHost: string[]; topicPrefix: string; brokers?: string }) => {
      const dashboard = new Dashboard({ brokers: resolveBrokers(flags.brokers), topics: topicNames(flags.topicPrefix), port: flags.httpPort, host: flags.host, publicHosts: flags.publicHost });
      await dashboard.start();
      process.stdout.write(`dashboard: ${dashboard.url}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await dashboard.stop();
    });
}
