// The dashboard process: reads the job's status and output topics into a JobView and serves the
// page (web/) and its JSON API on one HTTP port. Everything it knows comes through Kafka, so it
// shows workers on any machine. GET /api/job is the whole view; the other endpoints slice it.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Message } from '@confluentinc/kafka-javascript';
import { packageRoot, type TopicNames } from '../config.js';
import { windowCountCodec, windowTotalCodec } from '../codec/messages.js';
import { KafkaConsumer, commonConfig, connectClient, disconnect, partitionCounts, type ConsumerClient } from '../kafka/clients.js';
import { UserError } from '../errors.js';
import { listen } from './listen.js';
import { allowedHosts, refusal, securityHeaders } from './request-guard.js';
import { logger, rateLimited } from '../log.js';
import { parseWorkerStatus } from '../runtime/status-parse.js';
import { JobView } from './job-view.js';

const log = logger('dashboard');
const webDir = path.join(packageRoot, 'web');
const staticFiles: Record<string, string> = { '/': 'index.html', '/index.html': 'index.html', '/app.js': 'app.js', '/style.css': 'style.css', '/favicon.svg': 'favicon.svg' };
const contentTypes: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };

export interface DashboardOptions {
  brokers: string;
  topics: TopicNames;
  port: number;
  host: string;
  /** Host names the page may be reached under besides loopback (--public-host). */
  publicHosts?: string[];
  /** Extra routes (a worker running the dashboard adds its /metrics). */
  extraRoutes?: Record<string, (res: ServerResponse) => Promise<void> | void>;
}

export class Dashboard {
  readonly view = new JobView();
  private consumer!: ConsumerClient;
  private server!: Server;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly skipped = rateLimited((msg, fields) => log.warn(msg, fields));

  constructor(private readonly options: DashboardOptions) {}

  async start(): Promise<void> {
    const { brokers, topics } = this.options;
    this.consumer = new KafkaConsumer({ ...commonConfig(brokers, 'clickstream-dashboard'), 'group.id': `clickstream-dashboard-${process.pid}-${Date.now()}`, 'enable.auto.commit': false }, {});
    const metadata = await connectClient(this.consumer, brokers);
    const partitions = partitionCounts(metadata);
    const missing = [topics.status, topics.total, topics.counts].filter((t) => !partitions.has(t));
    if (missing.length > 0) {
      await disconnect(this.consumer);
      throw new UserError('TOPIC_MISMATCH', `topics missing at ${brokers}: ${missing.join(', ')}; run "clickstream topics create" first`);
    }
    // Status from the start (compacted: every worker's latest); outputs from a little history back.
    const assignment = [{ topic: topics.status, partition: 0, offset: 0 }];
    assignment.push({ topic: topics.total, partition: 0, offset: Math.max(0, (await this.highOffset(topics.total, 0)) - 120) });
    for (let p = 0; p < partitions.get(topics.counts)!; p++) {
      assignment.push({ topic: topics.counts, partition: p, offset: Math.max(0, (await this.highOffset(topics.counts, p)) - 2_000) });
    }
    this.consumer.assign(assignment);
    this.consumer.setDefaultConsumeTimeout(200);
    this.running = true;
    this.loop = this.readLoop();

    const allowed = allowedHosts(this.options.publicHosts ?? []);
    this.server = createServer((req, res) => {
      for (const [name, value] of Object.entries(securityHeaders)) res.setHeader(name, value);
      const refused = refusal(req.method, req.headers.host, allowed);
      if (refused !== undefined) {
        res.writeHead(refused.status, { 'content-type': 'text/plain', ...(refused.status === 405 ? { allow: 'GET, HEAD' } : {}) }).end(refused.text);
        return;
      }
      this.route(req, res).catch((err: unknown) => {
        // The details stay in the log: an answer names no internals.
        this.skipped('a request failed', { path: req.url?.slice(0, 200), error: (err as Error).message });
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
    await listen(this.server, this.options.port, this.options.host, '--http-port');
    log.info('dashboard listening', { url: this.url });
  }

  get url(): string {
    const address = this.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : this.options.port;
    return `http://${this.options.host === '0.0.0.0' ? '127.0.0.1' : this.options.host}:${port}/`;
  }

  private highOffset(topic: string, partition: number): Promise<number> {
    return new Promise((resolve, reject) => this.consumer.queryWatermarkOffsets(topic, partition, 5_000, (err, offsets) => (err ? reject(err) : resolve(offsets.highOffset))));
  }

  private async readLoop(): Promise<void> {
    const { topics } = this.options;
    while (this.running) {
      let messages: Message[];
      try {
        messages = await new Promise<Message[]>((resolve, reject) => this.consumer.consume(1_000, (err, got) => (err ? reject(err) : resolve(got))));
      } catch (err) {
        log.warn('read failed', { error: (err as Error).message });
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        continue;
      }
      const now = Date.now();
      for (const message of messages) {
        if (!message.value) continue;
        try {
          if (message.topic === topics.status) {
            const parsed = parseWorkerStatus(JSON.parse(String(message.value)));
            if ('problem' in parsed) throw new Error(`not a worker status: ${parsed.problem}`);
            this.view.applyStatus(parsed.status, now);
          }
          else if (message.topic === topics.total) this.view.applyTotal(windowTotalCodec.decode(message.value));
          else this.view.applyCount(windowCountCodec.decode(message.value));
        } catch (err) {
          this.skipped('skipped a record it cannot read', { topic: message.topic, offset: message.offset, error: (err as Error).message });
        }
      }
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const json = (body: unknown): void => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    };
    const snapshot = (): ReturnType<JobView['snapshot']> => this.view.snapshot(Date.now());
    switch (url.pathname) {
      case '/api/job':
        return json(snapshot());
      case '/api/workers':
        return json(snapshot().workers);
      case '/api/partitions':
        return json(snapshot().partitions);
      case '/api/checkpoints': {
        const s = snapshot();
        return json({ stats: s.checkpointStats, history: s.checkpoints });
      }
      case '/api/savepoints':
        return json(snapshot().savepoints);
      case '/api/windows': {
        const s = snapshot();
        return json({ totals: s.totals, topUrls: s.topUrls });
      }
    }
    const extra = this.options.extraRoutes?.[url.pathname];
    if (extra) return extra(res);
    const file = staticFiles[url.pathname];
    if (file === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const body = await readFile(path.join(webDir, file));
    res.writeHead(200, { 'content-type': contentTypes[path.extname(file)] ?? 'application/octet-stream' }).end(body);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await disconnect(this.consumer);
  }
}
