// The job's configuration in one typed place: topic names, window sizes, watermark bound,
// intervals and the worker's tunables. Everything that must agree between workers (and with a
// savepoint) lives here.

import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { WindowSpec } from './topology/windows.js';
import type { ClickLimits } from './codec/click-admission.js';

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

/**
 * The job's windows, all unions of 5 s panes: `counts` is one pane, `total` (10 s sliding by 5 s)
 * two, the minute of `url-stats` twelve. Recorded in job.json and in savepoints: state built with
 * other sizes is refused.
 */
export const jobWindows: WindowSpec = { paneMs: 5_000, totalWindowMs: 10_000, totalSlideMs: 5_000, statsWindowMs: 60_000, allowedLatenessMs: 0 };

/** What a click may be (see codec/click-admission.ts); flags of `clickstream run` change them. */
export const defaultClickLimits: ClickLimits = {
  /** A click is ~100 bytes; a record 64 KB long is not one. */
  maxRecordBytes: 65_536,
  /** Longer urls are refused (browsers and servers cap urls around 2-8 KB). */
  maxUrlBytes: 2_048,
  /** How far an event time may be ahead of its record's Kafka timestamp. */
  maxFutureMs: 600_000,
};

export const defaults = {
  brokers: '127.0.0.1:9092',
  clicksPartitions: 4,
  jobId: 'clickstream',
  maxOutOfOrdernessMs: 20_000,
  idleTimeoutMs: 10_000,
  checkpointIntervalMs: 2_000,
  /**
   * Watermark alignment's drift (runtime/source-alignment.ts): in a catch-up the merge stage holds
   * about this much event time of rows beyond the slowest partition. Above the default --max-future
   * plus --idle-timeout plus a minute (topology/watermark-alignment.ts, effectiveDrift), so that in
   * live traffic no accepted click pauses its partition.
   */
  maxWatermarkDriftMs: 900_000,
  httpPort: 8081,
} as const;

/**
 * The broker's default `max.transaction.timeout.ms` (15 min). A producer that asks for a longer
 * transaction timeout is refused fatally when it registers, so the job never asks for more.
 */
export const brokerMaxTransactionTimeoutMs = 900_000;

/**
 * How long a worker's transactions may stay open (the outputs' with exactly-once, the changelog's
 * otherwise): one spans a checkpoint interval plus its flush, so three intervals leave room for a
 * slow commit. Capped at the broker's default maximum, which still exceeds the longest interval
 * (10 min) plus a flush.
 */
export function transactionTimeoutFor(checkpointIntervalMs: number, flushTimeoutMs: number): number {
  return Math.min(brokerMaxTransactionTimeoutMs, Math.max(20_000, checkpointIntervalMs * 3 + flushTimeoutMs));
}

/** How the worker loop bounds its waits (runtime/). */
export const tunables = {
  /** Records per consume() call. Measured on a 2 M backlog with one worker: 10 000 gave 234k/s at 384 MB peak RSS, 1 000 gave 230k/s at 296 MB. */
  consumeBatchSize: 1_000,
  /** The least time between two checkpoints taken because a catch-up ended (runtime/catch-up.ts). */
  caughtUpCheckpointGapMs: 200,
  /** ...and how long after one it still waits for the partials it released (catch-up.ts). */
  caughtUpSettleMs: 1_000,
  /** A periodic checkpoint gives up (and retries at the next) rather than stall the loop. */
  flushTimeoutMs: 10_000,
  /** A final checkpoint (the worker stops) waits longer: otherwise the next owner replays. */
  finalFlushTimeoutMs: 20_000,
  /**
   * A revocation checkpoint waits less: the whole group waits for it, and when it fails the next
   * owner just replays from the previous one. Measured in the chaos run: 20 s flushes after a
   * broker restart held the group's rebalance for a minute.
   */
  revocationFlushTimeoutMs: 5_000,
  /** How long the loop hands queued outputs to a full producer queue before it polls again. */
  drainBudgetMs: 100,
  /**
   * A committed offset unreadable this long is suspected to be held by a hanging transaction: well
   * past any transaction's timeout (the coordinator aborts those) and a broker restart's outage.
   */
  hangingTransactionSuspectMs: 90_000,
  /** A quiet source partition asks the broker whether it is caught up at most this often. */
  idleProbeIntervalMs: 1_000,
  /** How long a new owner waits for the previous owner (another worker here) to close a store. */
  storeReleaseWaitMs: 60_000,
  /**
   * How long a new owner waits for the changelog to show the checkpoint the group's offset names.
   * They commit in one transaction, so only its markers can be late; past this, the group's offset
   * was committed without the changelog (a job that ran with --no-changelog).
   */
  changelogInDoubtWaitMs: 30_000,
  /** A changelog read that gets no record for this long (and is not at the end) fails. */
  changelogStallTimeoutMs: 60_000,
} as const;

/** Brokers from a flag, else KAFKA_BROKERS, else the local broker the project's scripts start. */
export function resolveBrokers(flag: string | undefined): string {
  return flag ?? process.env.KAFKA_BROKERS ?? defaults.brokers;
}

export const urlsCsvPath = path.join(packageRoot, 'urls.csv');
export const protoPath = path.join(packageRoot, 'proto', 'clickstream.proto');
