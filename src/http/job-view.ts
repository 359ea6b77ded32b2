// The dashboard's model of the whole job, built from what Kafka carries: worker statuses (the
// compacted status topic), and the `total` and `counts` output topics. Pure: time comes in as data.

import type { WindowCount, WindowTotal } from '../codec/messages.js';
import type { WorkerStatus } from '../runtime/status.js';

export interface CheckpointRow {
  worker: string;
  id: number;
  startedAtMs: number;
  durationMs: number;
  kafkaWaitMs: number;
  bytes: number;
  status: 'completed' | 'skipped' | 'aborted';
  reason?: string;
  tasks: Array<{ stage: string; partition: number; bytes: number; keys: number; nextOffset: number | undefined }>;
}

export interface WorkerRow {
  worker: string;
  jobId: string;
  /** running: heartbeat fresh; dead: no heartbeat for 3 checkpoint intervals (min 10 s); stopped: said goodbye. */
  state: 'running' | 'dead' | 'stopped';
  lastSeenMsAgo: number;
  startedAt: number;
  metricsUrl: string | null;
  metrics: WorkerStatus['metrics'];
  tasks: WorkerStatus['tasks'];
  restoring: NonNullable<WorkerStatus['restoring']>;
  /** Tasks assigned to the worker that cannot open yet. */
  waiting: NonNullable<WorkerStatus['waiting']>;
  /** Absent in statuses of older versions. */
  allowedLatenessMs: number | undefined;
  correctionsPerMinute: number;
}

export interface JobSnapshot {
  nowMs: number;
  jobIds: string[];
  workers: WorkerRow[];
  partitions: Array<WorkerStatus['tasks'][number] & { worker: string; eventTimeSkewMs: number | null }>;
  topology: { sources: string[]; stages: string[]; sinks: string[] };
  checkpoints: CheckpointRow[];
  checkpointStats: { completed: number; skipped: number; lastDurationMs: number | null; p50DurationMs: number | null; p99DurationMs: number | null };
  savepoints: Array<{ savepointId: string; atMs: number; workers: string[]; stop: boolean }>;
  records: { clicksIn: number; late: number; lateAtMerge: number; deadLettered: number; countsOut: number; totalsOut: number; statsOut: number; corrections: number };
  /** Allowed lateness: what the running workers run with (null before any reports it), and the corrections they emit per minute lately. */
  lateness: { allowedLatenessMs: number | null; correctionsPerMinute: number };
  totals: WindowTotal[];
  topUrls: { windowStart: number | null; windowEnd: number | null; rows: Array<{ url: string; count: number }> };
}

const historyLimit = 500;
/** Urls kept per 5 s window for the top list: each (window, url) count arrives final, so the largest 100 are exact. */
const keptPerWindow = 100;
/** A stopped or dead worker leaves the list this long after its last status. */
const goneWorkerMs = 600_000;
/** At most this many workers listed (the newest statuses kept). */
const workerLimit = 1_000;
const savepointLimit = 100;

export class JobView {
  /** Per worker: its last status, when it came, and its corrections per minute between its last two statuses. */
  private readonly workers = new Map<string, { status: WorkerStatus; seenAtMs: number; correctionsPerMinute: number }>();
  private readonly checkpoints: CheckpointRow[] = [];
  private readonly savepoints = new Map<string, { savepointId: string; atMs: number; workers: Set<string>; stop: boolean }>();
  private readonly totals = new Map<number, WindowTotal>();
  private readonly counts = new Map<number, Map<string, number>>();

  applyStatus(status: WorkerStatus, nowMs: number): void {
    const previous = this.workers.get(status.worker)?.status;
    const elapsedMs = previous === undefined ? 0 : status.updatedAt - previous.updatedAt;
    const added = (status.metrics.corrections ?? 0) - (previous?.metrics.corrections ?? 0);
    const correctionsPerMinute = elapsedMs > 0 && added >= 0 ? (added * 60_000) / elapsedMs : 0;
    this.workers.delete(status.worker); // re-inserted last: the map stays in order of last status
    this.workers.set(status.worker, { status, seenAtMs: nowMs, correctionsPerMinute });
    if (this.workers.size > workerLimit) this.workers.delete(this.workers.keys().next().value!);
    for (const c of status.checkpoints) {
      this.checkpoints.push({
        worker: status.worker, id: c.id, startedAtMs: c.startedAtMs, durationMs: c.durationMs, kafkaWaitMs: c.kafkaWaitMs, bytes: c.bytes, status: c.status,
        ...(c.reason !== undefined ? { reason: c.reason } : {}),
        tasks: c.tasks.map((t) => ({ stage: t.stage, partition: t.partition, bytes: t.bytes, keys: t.keys, nextOffset: t.nextOffset })),
      });
    }
    this.checkpoints.sort((a, b) => a.startedAtMs - b.startedAtMs);
    if (this.checkpoints.length > historyLimit) this.checkpoints.splice(0, this.checkpoints.length - historyLimit);
    for (const s of status.savepoints) {
      const entry = this.savepoints.get(s.savepointId) ?? { savepointId: s.savepointId, atMs: s.atMs, workers: new Set<string>(), stop: s.stop };
      if (entry.workers.size < workerLimit) entry.workers.add(status.worker);
      this.savepoints.set(s.savepointId, entry);
      if (this.savepoints.size > savepointLimit) this.savepoints.delete(this.savepoints.keys().next().value!);
    }
  }

  applyTotal(total: WindowTotal): void {
    this.totals.set(total.windowStart, { windowStart: total.windowStart, windowEnd: total.windowEnd, count: total.count });
    if (this.totals.size > 120) this.totals.delete(Math.min(...this.totals.keys()));
  }

  applyCount(count: WindowCount): void {
    let urls = this.counts.get(count.windowStart);
    if (urls === undefined) this.counts.set(count.windowStart, (urls = new Map()));
    if (urls.has(count.url) || urls.size < keptPerWindow) urls.set(count.url, count.count);
    else {
      // Full: the new count replaces the smallest kept, if it is larger.
      let smallest: string | undefined;
      for (const [url, n] of urls) if (smallest === undefined || n < urls.get(smallest)!) smallest = url;
      if (count.count > urls.get(smallest!)!) {
        urls.delete(smallest!);
        urls.set(count.url, count.count);
      }
    }
    if (this.counts.size > 4) this.counts.delete(Math.min(...this.counts.keys()));
  }

  snapshot(nowMs: number, topN = 10): JobSnapshot {
    // In order of last status, oldest first: silent this long, a worker is stopped or dead long ago.
    for (const [id, { seenAtMs }] of this.workers) {
      if (nowMs - seenAtMs <= goneWorkerMs) break;
      this.workers.delete(id);
    }
    const workers: WorkerRow[] = [...this.workers.values()]
      .map(({ status, seenAtMs, correctionsPerMinute }) => {
        const deadAfterMs = Math.max(3 * status.checkpointIntervalMs, 10_000);
        const state: WorkerRow['state'] = status.state === 'stopped' ? 'stopped' : nowMs - seenAtMs > deadAfterMs ? 'dead' : 'running';
        return { worker: status.worker, jobId: status.jobId, state, lastSeenMsAgo: nowMs - seenAtMs, startedAt: status.startedAt, metricsUrl: status.metricsUrl, metrics: status.metrics, tasks: status.tasks, restoring: state === 'running' ? (status.restoring ?? []) : [], waiting: state === 'running' ? (status.waiting ?? []) : [], allowedLatenessMs: status.allowedLatenessMs, correctionsPerMinute };
      })
      .sort((a, b) => a.worker.localeCompare(b.worker));
    const live = workers.filter((w) => w.state === 'running');
    const partitions = live
      .flatMap((w) => w.tasks.map((t) => ({ ...t, worker: w.worker, eventTimeSkewMs: t.watermarkMs === null ? null : nowMs - t.watermarkMs })))
      .sort((a, b) => a.stage.localeCompare(b.stage) || a.partition - b.partition);
    const completed = this.checkpoints.filter((c) => c.status === 'completed').map((c) => c.durationMs).sort((a, b) => a - b);
    const quantile = (q: number): number | null => (completed.length === 0 ? null : completed[Math.min(completed.length - 1, Math.floor(q * completed.length))]!);
    const sum = (pick: (m: WorkerStatus['metrics']) => number): number => workers.reduce((total, w) => total + pick(w.metrics), 0);
    const latestWindow = this.counts.size === 0 ? null : Math.max(...this.counts.keys());
    const latestCounts = latestWindow === null ? [] : [...this.counts.get(latestWindow)!].map(([url, count]) => ({ url, count }));
    return {
      nowMs,
      jobIds: [...new Set(workers.map((w) => w.jobId))],
      workers,
      partitions,
      topology: {
        sources: ['clicks'],
        stages: ['source tasks: 5 s panes per url, watermarks, late → clicks-late, malformed → clicks-dlq', 'clickstream-partials', 'merge tasks: windows closed on the minimum watermark'],
        sinks: ['counts (5 s per url)', 'total (10 s sliding by 5 s)', 'url-stats + stdout (1 min per url, joined with urls.csv)'],
      },
      checkpoints: this.checkpoints.slice(-100).reverse(),
      checkpointStats: {
        completed: completed.length,
        skipped: this.checkpoints.length - completed.length,
        lastDurationMs: this.checkpoints.at(-1)?.durationMs ?? null,
        p50DurationMs: quantile(0.5),
        p99DurationMs: quantile(0.99),
      },
      savepoints: [...this.savepoints.values()].map((s) => ({ savepointId: s.savepointId, atMs: s.atMs, workers: [...s.workers], stop: s.stop })).sort((a, b) => b.atMs - a.atMs),
      records: {
        clicksIn: sum((m) => m.clicksIn),
        late: sum((m) => m.late),
        lateAtMerge: sum((m) => m.lateAtMerge),
        deadLettered: sum((m) => m.deadLettered),
        countsOut: sum((m) => m.countsOut),
        totalsOut: sum((m) => m.totalsOut),
        statsOut: sum((m) => m.statsOut),
        corrections: sum((m) => m.corrections ?? 0),
      },
      lateness: {
        allowedLatenessMs: live.reduce<number | null>((most, w) => (w.allowedLatenessMs === undefined ? most : Math.max(most ?? 0, w.allowedLatenessMs)), null),
        correctionsPerMinute: Math.round(live.reduce((total, w) => total + w.correctionsPerMinute, 0)),
      },
      totals: [...this.totals.values()].sort((a, b) => a.windowStart - b.windowStart).slice(-60),
      topUrls: {
        windowStart: latestWindow,
        windowEnd: latestWindow === null ? null : latestWindow + 5_000,
        rows: latestCounts.sort((a, b) => b.count - a.count || (a.url < b.url ? -1 : 1)).slice(0, topN),
      },
    };
  }
}
