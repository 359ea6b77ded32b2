// The job's configuration in one typed place: topic names, window sizes, watermark bound and
// intervals. Everything that must agree between workers (and with a savepoint) lives here.

import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Root of the installed package (holds proto/, urls.csv, state/). */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface TopicNames {
  clicks: string;
  counts: string;
  total: string;
  urlStats: string;
  late: string;
  deadLetter: string;
  /** Internal: closed per-partition pane partials and watermarks, from source tasks to merge tasks. */
  partials: string;
  /** Internal: requests to the running workers (savepoints). */
  control: string;
  /** Internal: task snapshots the workers contribute to a savepoint. */
  savepoints: string;
  /** Internal, compacted: each worker's latest status (heartbeat at every checkpoint). */
  status: string;
}

/** The job's topics; a prefix namespaces them, to run several jobs (or test runs) on one cluster. */
export function topicNames(prefix = ''): TopicNames {
  return {
    clicks: `${prefix}clicks`,
    counts: `${prefix}counts`,
    total: `${prefix}total`,
    urlStats: `${prefix}url-stats`,
    late: `${prefix}clicks-late`,
    deadLetter: `${prefix}clicks-dlq`,
    partials: `${prefix}clickstream-partials`,
    control: `${prefix}clickstream-control`,
    savepoints: `${prefix}clickstream-savepoints`,
    status: `${prefix}clickstream-status`,
  };
}

export const topics: TopicNames = topicNames();

/** A job's changelog topics (compacted, one partition per task): named after the job, like its group. */
export interface ChangelogTopics {
  source: string;
  merge: string;
}

export function changelogTopicNames(prefix: string, jobId: string): ChangelogTopics {
  return { source: `${prefix}${jobId}-changelog-source`, merge: `${prefix}${jobId}-changelog-merge` };
}

export const defaults = {
  brokers: '127.0.0.1:9092',
  clicksPartitions: 4,
  jobId: 'clickstream',
  paneMs: 5_000,
  countWindowMs: 5_000,
  totalWindowMs: 10_000,
  totalSlideMs: 5_000,
  statsWindowMs: 60_000,
  maxOutOfOrdernessMs: 20_000,
  idleTimeoutMs: 10_000,
  checkpointIntervalMs: 2_000,
  httpPort: 8081,
} as const;

/** Brokers from a flag, else KAFKA_BROKERS, else the local broker the project's scripts start. */
export function resolveBrokers(flag: string | undefined): string {
  return flag ?? process.env.KAFKA_BROKERS ?? defaults.brokers;
}

export const urlsCsvPath = path.join(packageRoot, 'urls.csv');
export const protoPath = path.join(packageRoot, 'proto', 'clickstream.proto');
