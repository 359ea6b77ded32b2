// Prometheus metrics of one worker, in the exposition format of prom-client. Values are read
// from the worker when scraped, so the hot path pays nothing for them.

import { createServer, type Server, type ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Worker } from '../runtime/worker.js';
import type { TaskStatus } from '../runtime/status.js';
import { logger } from '../log.js';
import { listen } from './listen.js';
import { refusal, securityHeaders } from './request-guard.js';

const log = logger('metrics');

export function workerRegistry(worker: Worker): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ job_id: worker.jobId, worker: worker.workerId });
  collectDefaultMetrics({ register: registry, prefix: 'clickstream_process_' });

  const counter = (name: string, help: string, read: () => number): void => {
    new Counter({
      name, help, registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  };
  counter('clickstream_clicks_in_total', 'Records read from the clicks topic', () => worker.metrics.clicksIn);
  counter('clickstream_partials_in_total', 'Records read from the internal partials topic', () => worker.metrics.partialsIn);
  counter('clickstream_late_total', 'Clicks late for at least one of their windows (source partition watermark); they count in the others and go to clicks-late', () => worker.metrics.late);
  counter('clickstream_late_at_merge_total', 'Clicks of partials that came after their window closed while their partition was idle', () => worker.metrics.lateAtMerge);
  counter('clickstream_dead_lettered_total', 'Records sent to the dead-letter topic (malformed, too large, url too long, future)', () => worker.metrics.deadLettered);
  counter('clickstream_internal_records_skipped_total', 'Records of internal topics skipped because they do not decode or fit the job', () => worker.metrics.internalSkipped);
  counter('clickstream_watermark_alignment_pauses_total', 'Times a source partition stopped being read because its watermark ran more than the maximum drift ahead of the slowest', () => worker.metrics.alignmentPauses);
  counter('clickstream_records_read_again_total', 'Records the Kafka client handed out again at an offset their task had already read: skipped, not counted twice', () => worker.metrics.readAgain);
  counter('clickstream_corrections_total', 'Window results revised after their first, not final (late clicks within the allowed lateness)', () => worker.metrics.corrections);
  counter('clickstream_window_results_total', 'Window results written (counts, total, url-stats)', () => worker.metrics.countsOut + worker.metrics.totalsOut + worker.metrics.statsOut);

  const perTask = (name: string, help: string, pick: (task: TaskStatus) => number | null): void => {
    new Gauge({
      name, help, labelNames: ['stage', 'partition'], registers: [registry],
      collect() {
        this.reset();
        for (const task of worker.peekStatus().tasks) {
          const value = pick(task);
          if (value !== null) this.set({ stage: task.stage, partition: String(task.partition) }, value);
        }
      },
    });
  };
  perTask('clickstream_consumer_lag', 'Records between the task\'s next offset and the end of its partition', (t) => t.lag);
  perTask('clickstream_watermark_ms', 'Watermark of the task (ms since the epoch)', (t) => t.watermarkMs);
  perTask('clickstream_state_keys', 'Open window keys the task holds', (t) => t.openKeys);
  perTask('clickstream_next_offset', 'Next input offset of the task', (t) => t.nextOffset);

  new Gauge({
    name: 'clickstream_tasks_waiting_to_open', help: 'Tasks assigned to the worker that cannot open yet (committed offset unreadable, changelog behind, store held); one that stays is worth an alert', registers: [registry],
    collect() {
      this.set(worker.peekStatus().waiting?.length ?? 0);
    },
  });

  const durations = new Histogram({ name: 'clickstream_checkpoint_duration_seconds', help: 'Checkpoint duration, flush included', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] });
  const sizes = new Histogram({ name: 'clickstream_checkpoint_bytes', help: 'Bytes written per checkpoint', buckets: [1e3, 1e4, 1e5, 1e6, 1e7, 1e8], registers: [registry] });
  worker.onCheckpoint((record) => {
    if (record.status !== 'completed') return;
    durations.observe(record.durationMs / 1000);
    sizes.observe(record.bytes);
  });
  return registry;
}

export async function serveMetrics(registry: Registry, res: ServerResponse): Promise<void> {
  res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
}

/** A small server for /metrics alone (a worker without the dashboard). */
export async function startMetricsServer(registry: Registry, port: number, host: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    for (const [name, value] of Object.entries(securityHeaders)) res.setHeader(name, value);
    // Prometheus scrapes a worker under whatever address it has: methods are checked, host names not.
    const refused = refusal(req.method, req.headers.host, new Set(), false);
    if (refused !== undefined) res.writeHead(refused.status, { allow: 'GET, HEAD' }).end(refused.text);
    else if (req.url === '/metrics') serveMetrics(registry, res).catch(() => res.writeHead(500).end('internal error\n'));
    else res.writeHead(404).end('not found\n');
  });
  await listen(server, port, host, '--metrics-port');
  const address = server.address();
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${typeof address === 'object' && address !== null ? address.port : port}/metrics`;
  log.info('metrics listening', { url });
  return { server, url };
}
