// Sends a generated click stream to Kafka at a target rate (or as fast as the client accepts),
// optionally recording every sent click to a log file: the input of test oracles.

import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { clickCodec } from '../codec/messages.js';
import { CODES, Producer, connectClient, disconnect, flush, type ProducerClient } from '../kafka/clients.js';
import { producerConfig } from '../kafka/producer-config.js';
import { UserError } from '../errors.js';
import type { ClickGenerator, GeneratedClick } from './generator.js';

export interface SendOptions {
  brokers: string;
  topic: string;
  /** Clicks per second; 0 means as fast as possible. */
  rate: number;
  /** Stop after this many clicks, or after this many ms (whichever is given; both may be). */
  count?: number;
  durationMs?: number;
  logFile?: string;
  onProgress?: (progress: SendProgress) => void;
  /** Resolves when the caller wants the stream to stop early (SIGINT). */
  stopSignal?: Promise<void>;
}

export interface SendProgress {
  sent: number;
  elapsedMs: number;
}

export interface SendResult extends SendProgress {
  stoppedEarly: boolean;
}

const chunkSize = 2_000;
const tickMs = 5;

/** Writes the log as JSON lines, one per click, in send order. */
class ClickLog {
  private pending: string[] = [];
  private constructor(private readonly stream: WriteStream) {}

  static async open(file: string): Promise<ClickLog> {
    const stream = createWriteStream(file);
    try {
      await once(stream, 'open'); // rejects with the stream's error if it cannot open
    } catch (err) {
      throw new UserError('BAD_FILE', `cannot write log ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    return new ClickLog(stream);
  }

  add(generated: GeneratedClick): void {
    const c = generated.click;
    this.pending.push(
      JSON.stringify({ p: generated.partition, k: generated.key, url: c.url, ts: c.timestampMs, user: c.userId, session: c.sessionId, region: c.region, ref: c.referrer }),
    );
    if (this.pending.length >= 4096) this.drain();
  }

  private drain(): void {
    if (this.pending.length === 0) return;
    this.stream.write(this.pending.join('\n') + '\n');
    this.pending = [];
  }

  async close(): Promise<void> {
    this.drain();
    this.stream.end();
    await once(this.stream, 'finish');
  }
}

export async function sendClicks(generator: ClickGenerator, options: SendOptions): Promise<SendResult> {
  const producer: ProducerClient = new Producer(producerConfig(options.brokers, 'clickstream-producer'));
  await connectClient(producer, options.brokers);
  const log = options.logFile !== undefined ? await ClickLog.open(options.logFile) : undefined;

  let deliveryError: Error | undefined;
  producer.on('event.error', (err) => {
    // Transient errors (a broker restarting) are retried by librdkafka; only fatal ones stop us.
    if ((err as { isFatal?: boolean }).isFatal) deliveryError ??= new Error(`producer failed: ${err.message}`);
  });
  producer.setPollInterval(100);

  const startedAt = performance.now();
  let sent = 0;
  let stopped = false;
  options.stopSignal?.then(() => {
    stopped = true;
  });
  const limit = options.count ?? Number.POSITIVE_INFINITY;
  const deadline = options.durationMs !== undefined ? startedAt + options.durationMs : Number.POSITIVE_INFINITY;
  let lastProgressAt = startedAt;
  let carry: GeneratedClick | undefined;

  try {
    while (!stopped && sent < limit && deliveryError === undefined) {
      const now = performance.now();
      if (now >= deadline) break;
      // How many clicks this tick may send: all of a chunk when unthrottled, else what the rate allows.
      const allowed = options.rate > 0 ? Math.floor(((now - startedAt) / 1000) * options.rate) - sent : chunkSize;
      let budget = Math.min(allowed, chunkSize, limit - sent);
      while (budget > 0) {
        const generated = carry ?? generator.next();
        carry = undefined;
        try {
          producer.produce(options.topic, generated.partition, clickCodec.encode(generated.click) as Buffer, generated.key);
        } catch (err) {
          if ((err as { code?: number }).code === CODES.ERRORS.ERR__QUEUE_FULL) {
            carry = generated; // librdkafka's queue is full: let it drain, then send this click again
            break;
          }
          throw err;
        }
        log?.add(generated);
        sent++;
        budget--;
      }
      if (options.onProgress && now - lastProgressAt >= 500) {
        lastProgressAt = now;
        options.onProgress({ sent, elapsedMs: now - startedAt });
      }
      await pause(carry !== undefined || options.rate > 0 ? tickMs : 0);
    }
    await flush(producer, 60_000);
  } finally {
    await log?.close();
    await disconnect(producer);
  }
  if (deliveryError) throw deliveryError;
  return { sent, elapsedMs: performance.now() - startedAt, stoppedEarly: stopped };
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => (ms === 0 ? setImmediate(resolve) : setTimeout(resolve, ms)));
}
