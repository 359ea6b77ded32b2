// `clickstream run`: one worker of the job. Start as many as there are partitions; they share
// the work through the consumer group. SIGINT/SIGTERM take a final checkpoint and leave cleanly.

import path from 'node:path';
import { Command } from 'commander';
import { defaultClickLimits, defaults, jobWindows, packageRoot, resolveBrokers, topicNames, urlsCsvPath } from '../config.js';
import { UserError } from '../errors.js';
import { readUrlRows, toUrlTable } from '../table/urls.js';
import { validateWindowSpec, type WindowSpec } from '../topology/windows.js';
import { Worker } from '../runtime/worker.js';
import { brokersOption, durationIn, intIn, offOrDurationIn, jobId, listenHost, port, publicHostOption, topicPrefix } from './options.js';
import { Dashboard } from '../http/dashboard.js';
import { serveMetrics, startMetricsServer, workerRegistry } from '../http/metrics.js';

export interface JobFlags {
  jobId: string;
  stateDir: string;
  maxOutOfOrderness: number;
  topicPrefix: string;
  brokers?: string;
}

export interface RunFlags extends JobFlags {
  idleTimeout: number;
  allowedLateness: number;
  checkpointInterval: number;
  urls: string;
  minuteTables: boolean;
  dashboard: boolean;
  httpPort: number;
  host: string;
  publicHost: string[];
  metricsPort: number;
  exactlyOnce: boolean;
  changelog: boolean;
  jobThread: boolean;
  maxUrlLength: number;
  maxRecordSize: number;
  maxFuture: number;
  maxWatermarkDrift: number;
}

/** Flags that name a job and its state: shared by run, restore and savepoint. */
export function addJobOptions(command: Command): Command {
  return command
    .option('--job-id <id>', 'job name: the consumer group and the state sub-directory', jobId, defaults.jobId)
    .option('--state-dir <dir>', 'where task state lives (LevelDB stores)', path.join(packageRoot, 'state'))
    .option('--max-out-of-orderness <time>', 'watermark bound: how late an event may be (0 to 1h)', durationIn(0, 3_600_000), defaults.maxOutOfOrdernessMs)
    .option('--topic-prefix <prefix>', 'prefix of every topic name (several jobs on one cluster)', topicPrefix, '')
    .addOption(brokersOption());
}

/** Flags of a running worker: run and restore. */
export function addWorkerOptions(command: Command): Command {
  return addJobOptions(command)
    .option('--idle-timeout <time>', 'a caught-up partition with no records this long stops holding windows open (1s to 1h)', durationIn(1_000, 3_600_000), defaults.idleTimeoutMs)
    .option('--allowed-lateness <time>', 'how long after its end a window still takes late clicks, as corrected results (revisions); 0: each window is emitted once (0 to 1h)', durationIn(0, 3_600_000), 0)
    .option('--checkpoint-interval <time>', 'how often state and offsets are written together (100ms to 10m)', durationIn(100, 600_000), defaults.checkpointIntervalMs)
    .option('--max-url-length <bytes>', 'a click whose url is longer goes to the dead-letter topic (url-too-long)', intIn(1, 65_536), defaultClickLimits.maxUrlBytes)
    .option('--max-record-size <bytes>', 'a record of clicks larger than this goes to the dead-letter topic (too-large)', intIn(64, 1_000_000), defaultClickLimits.maxRecordBytes)
    .option('--max-future <time>', 'a click dated further ahead of its record\'s timestamp goes to the dead-letter topic (future; 0 to 7 days)', durationIn(0, 7 * 86_400_000), defaultClickLimits.maxFutureMs)
    .option('--max-watermark-drift <time>', 'watermark alignment: a clicks partition whose watermark runs this far ahead of the slowest one is not fetched until that one is half as far behind (bounds the state a catch-up of skewed partitions holds); at least --max-future plus --idle-timeout plus 1 minute is used; 0: off (0, or 1m to 1 day)', offOrDurationIn(60_000, 86_400_000), defaults.maxWatermarkDriftMs)
    .option('--urls <file>', 'url table joined with the 1 minute window', urlsCsvPath)
    .option('--no-minute-tables', 'do not print the closed 1 minute windows on stdout')
    .option('--no-changelog', 'do not write state changes to the changelog topics (tasks can then only resume on the machine holding their store)')
    .option('--job-thread', 'count clicks on a thread of their own, beside the Kafka clients\' (faster on a catch-up, ~30 MB more memory)', false)
    .option('--exactly-once', 'commit outputs and input offsets in one Kafka transaction per checkpoint (read outputs with isolation.level=read_committed)', false)
    .option('--dashboard', 'also serve the job dashboard (and this worker\'s /metrics) on --http-port', false)
    .option('--http-port <port>', 'dashboard port', port, defaults.httpPort)
    .option('--host <address>', 'address the HTTP servers listen on (0.0.0.0 in containers)', listenHost, '127.0.0.1')
    .addOption(publicHostOption())
    .option('--metrics-port <port>', 'port of this worker\'s Prometheus /metrics (0: any free port, shown on the dashboard)', port, 0);
}

export function runCommand(): Command {
  return addWorkerOptions(new Command('run').description('start one worker of the job (workers of one --job-id share the partitions)')).action(async (flags: RunFlags) => {
    await runWorker(flags);
  });
}

/** The job's windows with the allowed lateness of the flags. */
export function windowsOf(flags: RunFlags): WindowSpec {
  return { ...jobWindows, allowedLatenessMs: flags.allowedLateness };
}

export async function runWorker(flags: RunFlags): Promise<void> {
  const windows = windowsOf(flags);
  const problem = validateWindowSpec(windows);
  if (problem !== undefined) throw new UserError('BAD_FLAG', problem);
  const worker = new Worker({
    brokers: resolveBrokers(flags.brokers),
    topics: topicNames(flags.topicPrefix),
    jobId: flags.jobId,
    stateDir: path.resolve(flags.stateDir),
    windows,
    maxOutOfOrdernessMs: flags.maxOutOfOrderness,
    idleTimeoutMs: flags.idleTimeout,
    checkpointIntervalMs: flags.checkpointInterval,
    urlTable: toUrlTable(readUrlRows(flags.urls)),
    limits: { maxUrlBytes: flags.maxUrlLength, maxRecordBytes: flags.maxRecordSize, maxFutureMs: flags.maxFuture },
    printMinuteTables: flags.minuteTables,
    exactlyOnce: flags.exactlyOnce,
    changelog: flags.changelog,
    jobThread: flags.jobThread,
    topicPrefix: flags.topicPrefix,
    maxWatermarkDriftMs: flags.maxWatermarkDrift,
  });
  // HTTP first: a port that cannot be had is refused before the worker touches any state.
  const registry = workerRegistry(worker);
  const topics = topicNames(flags.topicPrefix);
  let closeHttp: () => Promise<void>;
  if (flags.dashboard) {
    const dashboard = new Dashboard({ brokers: resolveBrokers(flags.brokers), topics, port: flags.httpPort, host: flags.host, publicHosts: flags.publicHost, extraRoutes: { '/metrics': (res) => serveMetrics(registry, res) } });
    await dashboard.start();
    worker.metricsUrl = `${dashboard.url}metrics`;
    process.stderr.write(`dashboard: ${dashboard.url}\n`);
    closeHttp = () => dashboard.stop();
  } else {
    const { server, url } = await startMetricsServer(registry, flags.metricsPort, flags.host);
    worker.metricsUrl = url;
    closeHttp = () => new Promise((resolve) => server.close(() => resolve()));
  }
  const stop = (): void => worker.requestStop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await worker.start();
    await worker.run();
  } finally {
    await closeHttp();
  }
}
