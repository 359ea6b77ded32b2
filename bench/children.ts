// Child processes of the benchmark, one per measured process so each has its own RSS:
//   node dist/bench/children.js raw <brokers> <topic> <partitions> <expected>
//   node dist/bench/children.js worker <brokers> <prefix> <jobId> <stateDir> <at-least-once|exactly-once> <changelog|no-changelog> <clicks topic> [allowed lateness ms] [job-thread|inline] [aligned|no-alignment]
// A worker's topics are its case's own (<prefix>), but for the clicks it reads (the shared backlog).
// Each prints JSON lines on stdout: progress every 250 ms, and a final report.

import { KafkaConsumer, connectClient, disconnect } from '../src/kafka/clients.js';
import { jobConsumerConfig, jobConsumerTopicConfig } from '../src/kafka/consumer-config.js';
import type { Message } from '@confluentinc/kafka-javascript';
import { defaultClickLimits, jobWindows, topicNames, tunables, urlsCsvPath } from '../src/config.js';
import { Worker } from '../src/runtime/worker.js';
import { readUrlRows, toUrlTable } from '../src/table/urls.js';
import { readClickFields, type ClickFields } from '../src/codec/click-fields.js';

let peakRss = 0;
/** process.memoryUsage() when the RSS peaked: what the peak was made of (JS heap, buffers, native). */
let atPeak: NodeJS.MemoryUsage | undefined;
const sampleRss = (): number => {
  const usage = process.memoryUsage();
  if (usage.rss > peakRss) {
    peakRss = usage.rss;
    atPeak = usage;
  }
  return usage.rss;
};
setInterval(sampleRss, 100).unref();
/** CPU time of this process so far, user and system, in ms. */
const cpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
/** Share of the time since start that the event loop (the JS thread) was busy, not waiting. */
const loopBusy = (): number => performance.eventLoopUtilization().utilization;
type Utilisation = ReturnType<typeof performance.eventLoopUtilization>;
/**
 * How busy the JS thread was during the catch-up only, from the first click read to the last:
 * start-up, the group join and the idle wait for the bench to stop the process are not work the
 * thread could have done.
 */
class CatchUpBusy {
  private first?: Utilisation;
  private last?: Utilisation;
  /** Call whenever the count of clicks read is known; marks the span in which it grew. */
  observe(clicks: number, previous: number): void {
    if (clicks > 0 && this.first === undefined) this.first = performance.eventLoopUtilization();
    else if (clicks > previous) this.last = performance.eventLoopUtilization();
  }
  share(): number | undefined {
    return this.first && this.last ? performance.eventLoopUtilization(this.last, this.first).utilization : undefined;
  }
}
const emit = (line: object): void => {
  process.stdout.write(JSON.stringify(line) + '\n');
};

async function raw(brokers: string, topic: string, partitions: number, expected: number): Promise<void> {
  const consumer = new KafkaConsumer(
    jobConsumerConfig(brokers, `bench-raw-${process.pid}-${Date.now()}`, 'bench-raw') as unknown as ConstructorParameters<typeof KafkaConsumer>[0],
    jobConsumerTopicConfig,
  );
  await connectClient(consumer, brokers);
  consumer.setDefaultConsumeTimeout(100);
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 0 })));
  const startedAt = performance.now();
  let firstAt = 0;
  let count = 0;
  let bytes = 0;
  const click: ClickFields = { url: '', timestampMs: 0 };
  const catchUp = new CatchUpBusy();
  while (count < expected) {
    const batch = await new Promise<Message[]>((resolve, reject) => consumer.consume(tunables.consumeBatchSize, (err, got) => (err ? reject(err) : resolve(got))));
    if (batch.length > 0 && firstAt === 0) firstAt = performance.now();
    catchUp.observe(count + batch.length, count);
    count += batch.length;
    // Decode each click's url and event time with the job's hand decoder, then discard it: the
    // least any consumer of these clicks does (the baseline issue 15 defines).
    for (const message of batch) {
      const value = message.value ?? Buffer.alloc(0);
      bytes += value.length;
      readClickFields(value, click);
    }
  }
  const endAt = performance.now();
  sampleRss();
  await disconnect(consumer);
  emit({ kind: 'final', clicks: count, bytes, wallMs: endAt - startedAt, activeMs: endAt - firstAt, peakRss, cpuMs: cpuMs(), loopBusy: loopBusy(), catchUpBusy: catchUp.share(), memory: process.memoryUsage(), atPeak });
  process.exit(0);
}

async function worker(brokers: string, prefix: string, jobId: string, stateDir: string, exactlyOnce: boolean, changelog: boolean, clicksTopic: string | undefined, allowedLatenessMs: number, jobThread: boolean, aligned: boolean): Promise<void> {
  const instance = new Worker({
    brokers,
    // The main bench reads a shared backlog topic; the savepoint and changelog benches their job's own.
    topics: { ...topicNames(prefix), clicks: clicksTopic ?? topicNames(prefix).clicks },
    topicPrefix: prefix,
    jobId,
    stateDir,
    windows: { ...jobWindows, allowedLatenessMs },
    maxOutOfOrdernessMs: 20_000,
    idleTimeoutMs: 10_000,
    checkpointIntervalMs: 2_000,
    urlTable: toUrlTable(readUrlRows(urlsCsvPath)),
    limits: defaultClickLimits,
    printMinuteTables: false,
    exactlyOnce,
    changelog,
    jobThread,
    ...(aligned ? {} : { maxWatermarkDriftMs: 0 }),
  });
  await instance.start();
  const catchUp = new CatchUpBusy();
  let clicksSeen = 0;
  const progress = setInterval(() => {
    const clicks = instance.metrics.clicksIn;
    catchUp.observe(clicks, clicksSeen);
    clicksSeen = clicks;
    emit({ kind: 'progress', clicks, rss: sampleRss(), at: Date.now() });
  }, 250);
  process.once('SIGTERM', () => instance.requestStop());
  await instance.run();
  clearInterval(progress);
  const checkpoints = instance.checkpoints.filter((c) => c.status === 'completed').map((c) => ({ durationMs: c.durationMs, kafkaWaitMs: c.kafkaWaitMs, bytes: c.bytes }));
  emit({ kind: 'final', clicks: instance.metrics.clicksIn, peakRss, cpuMs: cpuMs(), loopBusy: loopBusy(), catchUpBusy: catchUp.share(), checkpoints, metrics: instance.metrics, memory: process.memoryUsage(), atPeak });
  process.exit(0);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'raw') await raw(args[0]!, args[1]!, Number(args[2]), Number(args[3]));
else if (mode === 'worker') await worker(args[0]!, args[1]!, args[2]!, args[3]!, args[4] === 'exactly-once', args[5] !== 'no-changelog', args[6], Number(args[7] ?? 0), args[8] === 'job-thread', args[9] !== 'no-alignment');
else throw new Error(`unknown mode ${mode}`);
