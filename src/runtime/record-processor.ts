// The hot path: a batch of records in, through the tasks, records out. Clicks go to their
// partition's source task (malformed ones to the dead-letter topic, late ones to clicks-late),
// partials to their partition's merge task; each touched source task then forwards what it
// closed, and each touched merge task emits the windows that closed. No per-record promise or
// closure: one reused click object, arrays indexed by partition.

import type { Message } from '@confluentinc/kafka-javascript';
import type { TopicNames } from '../config.js';
import type { WindowSpec } from '../topology/windows.js';
import { partialCodec, urlStatsCodec, windowCountCodec, windowTotalCodec, type PartialMessage, type UrlStats } from '../codec/messages.js';
import type { ClickFields } from '../codec/click-fields.js';
import { admitClick, type ClickLimits } from '../codec/click-admission.js';
import { deadLetter } from '../codec/dead-letter.js';
import { logger, rateLimited } from '../log.js';
import type { UrlTable } from '../table/urls.js';
import { joinUrlStats, partialProblem } from '../topology/merge-stage.js';
import { emptyOutput, type MergeOutput } from '../topology/merge-windows.js';
import { missedKinds } from '../topology/source-panes.js';
import { UrlOwners } from '../topology/url-owners.js';
import { formatMinuteTable } from './minute-table.js';
import type { ClickBatch, EncodedPartials, SourceResponse } from '../job/protocol.js';
import type { SourceJob } from '../job/source-job.js';
import { UrlIds } from '../job/url-ids.js';
import type { OutputSink } from './output-sink.js';
import type { WorkerMetrics } from './status.js';
import type { TaskManager } from './task-manager.js';
import type { MergeTask, SourceTask } from './tasks.js';

const log = logger('worker');

/** What the processor needs to know of the job. */
export interface ProcessorSettings {
  topics: TopicNames;
  limits: ClickLimits;
  /** Source partitions (partitions of `clicks`) and the pane size: what a valid partial refers to. */
  sourcePartitions: number;
  mergePartitions: number;
  windows: WindowSpec;
  urlTable: UrlTable;
  /** Print each closed minute as a table on stdout. */
  printMinuteTables: boolean;
}

/**
 * A batch's click columns (task, event time, url id), kept from batch to batch: the job in this
 * thread is done with them when dispatch returns. The job thread takes them instead (a
 * transferred buffer is detached, its length 0): then the next batch gets new ones.
 */
class ClickColumns {
  task = new Uint32Array(0);
  time = new Float64Array(0);
  url = new Uint32Array(0);

  ready(count: number): this {
    if (this.task.length < count || this.time.length < count || this.url.length < count) {
      this.task = new Uint32Array(count);
      this.time = new Float64Array(count);
      this.url = new Uint32Array(count);
    }
    return this;
  }
}

export class RecordProcessor {
  private readonly click: ClickFields = { url: '', timestampMs: 0 };
  private readonly topics: TopicNames;
  private readonly skippedLog = rateLimited((msg, fields) => log.warn(msg, fields));
  private readonly refusedLog = rateLimited((msg, fields) => log.error(msg, fields));
  private readonly readAgainLog = rateLimited((msg, fields) => log.info(msg, fields));
  /** Which merge partition owns a url: a partial read elsewhere is not this job's. */
  private readonly urlOwners: UrlOwners;
  private readonly urlIds = new UrlIds();
  private readonly columns = new ClickColumns();
  /** A merge task applied a marker flagged as caught up since the last `takeSourcesCaughtUp`. */
  private sourcesCaughtUp = false;

  constructor(
    private readonly settings: ProcessorSettings,
    private readonly tasks: TaskManager,
    private readonly sink: OutputSink,
    private readonly metrics: WorkerMetrics,
    private readonly job: SourceJob,
  ) {
    this.topics = settings.topics;
    this.urlOwners = new UrlOwners(settings.mergePartitions);
  }

  process(messages: Message[], nowMs: number): void {
    // What the source job returned for the batch before: produced before anything of this one.
    this.job.settle();
    const columns = this.columns.ready(messages.length);
    const clickTask = columns.task;
    const clickTime = columns.time;
    const clickUrl = columns.url;
    const clickRows: Message[] = [];
    const touchedSources = new Set<SourceTask>();
    const touchedMerges = new Map<MergeTask, MergeOutput>();
    for (const message of messages) {
      if (message.topic === this.topics.clicks) {
        const task = this.tasks.source(message.partition);
        if (task === undefined) continue; // revoked meanwhile: its new owner reads it from the checkpoint
        if (this.readAlready(task, message)) continue;
        // A dead-lettered record is no activity: it must not keep a partition from going idle.
        if (!this.admit(task, message, nowMs)) continue;
        clickTask[clickRows.length] = task.topology.id;
        clickTime[clickRows.length] = this.click.timestampMs;
        clickUrl[clickRows.length] = this.urlIds.id(this.click.url);
        clickRows.push(message);
        touchedSources.add(task);
      } else {
        const task = this.tasks.merge(message.partition);
        if (task === undefined || this.readAlready(task, message)) continue;
        task.nextOffset = message.offset + 1;
        task.recordsIn++;
        this.metrics.partialsIn++;
        const partial = this.readPartial(message, task);
        if (partial === undefined) continue;
        if (partial.watermark?.caughtUp === true) this.sourcesCaughtUp = true;
        let out = touchedMerges.get(task);
        if (out === undefined) touchedMerges.set(task, (out = emptyOutput()));
        task.topology.apply(partial, out);
      }
    }
    if (touchedSources.size > 0) {
      const sources = [...touchedSources];
      const touched = sources.map((task) => task.topology.id);
      const wake = sources.filter((task) => task.idleness.recordSeen(nowMs)).map((task) => task.topology.id);
      const batch: ClickBatch = { op: 'batch', count: clickRows.length, task: clickTask, url: clickUrl, urls: this.urlIds.take(), time: clickTime, touched, wake };
      this.job.dispatch(batch, (done) => this.clicksCounted(done, clickRows, sources));
    }
    for (const [task, out] of touchedMerges) this.emitResults(task, out);
  }

  /** The source job's answer to a batch: late clicks to clicks-late, partials to the merge stage. */
  private clicksCounted(done: Extract<SourceResponse, { op: 'batch' }>, rows: Message[], sources: SourceTask[]): void {
    const { late } = done;
    for (let i = 0; i < late.count; i++) {
      const message = rows[late.index[i]!]!;
      const task = sources.find((source) => source.partition === message.partition)!;
      // Valid, but too late for some of its windows (it counts in the others): which, and why.
      const kinds = missedKinds(late.missed[i]!);
      task.late++;
      this.metrics.late++;
      this.sink.produce(this.topics.late, null, message.value!, message.key ?? null, [
        { reason: `event time ${late.timeMs[i]} is in ${kinds} windows that closed at watermark ${late.watermarkMs[i]} of partition ${task.partition}` },
        { missed: kinds },
        { 'source-partition': String(message.partition) },
        { 'source-offset': String(message.offset) },
      ]);
    }
    this.sendEncoded(done.partials);
    for (const [id, watermarkMs] of done.views) sources.find((source) => source.topology.id === id)?.topology.sawWatermark(watermarkMs);
  }

  /**
   * Whether the task has read this record already: its state holds it, so it is skipped. The
   * client can hand a record out twice: pausing a partition (watermark alignment, backpressure)
   * saves the offset to fetch from on resume on librdkafka's own thread, while a read in flight on
   * another thread may have taken the partition's next record just before the pause and record
   * its position just after the save: the resumed fetch starts at that record again. Counted
   * again, its click would be counted twice. (Reading again from a checkpoint is a new task's,
   * whose next offset is the checkpoint's.) That race repeats one record; a longer way back (a
   * log truncated by an unclean leader election, a topic deleted and created again) is not the
   * same records read again, and is said louder.
   */
  private readAlready(task: SourceTask | MergeTask, message: Message): boolean {
    if (task.nextOffset === undefined || message.offset >= task.nextOffset) return false;
    this.metrics.readAgain++;
    const fields = { topic: message.topic, partition: message.partition, offset: message.offset, nextOffset: task.nextOffset };
    if (message.offset === task.nextOffset - 1) this.readAgainLog('skipped a record its task had read already (the client fetched it again)', fields);
    else this.skippedLog('skipped a record at an offset its task had passed: the partition went back (its log truncated, or the topic created again?)', fields);
    return true;
  }

  /**
   * A record of the internal partials topic, or undefined if it does not decode or does not fit
   * (anyone who can write to Kafka can write there): skipped, counted, logged at a bounded rate.
   */
  private readPartial(message: Message, task: MergeTask): PartialMessage | undefined {
    let problem: string | undefined;
    let partial: PartialMessage | undefined;
    try {
      partial = partialCodec.decode(message.value ?? Buffer.alloc(0));
      problem = partialProblem(partial, this.settings.sourcePartitions, this.settings.windows, this.settings.limits.maxUrlBytes, { partition: message.partition, owners: this.urlOwners }) ?? task.topology.refusal(partial);
    } catch (err) {
      problem = `does not decode: ${(err as Error).message}`;
    }
    if (problem === undefined) return partial;
    this.metrics.internalSkipped++;
    this.skippedLog('skipped a record of the partials topic that is not a partial of this job', { topic: message.topic, partition: message.partition, offset: message.offset, problem });
    return undefined;
  }

  /** Whether a merge task read a marker flagged as caught up (SourceStage.caughtUp) since last asked. */
  takeSourcesCaughtUp(): boolean {
    const caughtUp = this.sourcesCaughtUp;
    this.sourcesCaughtUp = false;
    return caughtUp;
  }

  /** Reads a click into `this.click`; false if it was dead-lettered. */
  private admit(task: SourceTask, message: Message, nowMs: number): boolean {
    task.nextOffset = message.offset + 1;
    task.recordsIn++;
    this.metrics.clicksIn++;
    const value = message.value;
    const key = message.key;
    const keyBytes = key === undefined || key === null ? 0 : typeof key === 'string' ? Buffer.byteLength(key) : key.length;
    const refusal = admitClick(value, message.timestamp, nowMs, this.settings.limits, this.click, keyBytes);
    if (refusal === undefined) return true;
    task.deadLettered++;
    this.metrics.deadLettered++;
    const letter = deadLetter(value, message.key, refusal.reason, refusal.detail, { topic: message.topic, partition: message.partition, offset: message.offset });
    this.sink.produce(this.topics.deadLetter, null, letter.value, letter.key, letter.headers);
    return false;
  }

  /**
   * A record the producer refused for what it is (too large, invalid): it goes to the dead-letter
   * topic, cut to a size the topic takes, instead of stopping the worker at every restart.
   */
  deadLetterRefused(topic: string, partition: number | null, value: Buffer | null, key: string | Buffer | null, error: Error): void {
    this.metrics.deadLettered++;
    if (topic === this.topics.deadLetter) return this.refusedLog('dropped a dead-letter record the producer refused', { error: error.message });
    const letter = deadLetter(value, key, 'too-large', error.message, { topic, partition: partition ?? -1 });
    this.sink.produce(this.topics.deadLetter, null, letter.value, letter.key, letter.headers);
  }

  /** Forwards partials the source job encoded to the merge partitions they are routed to. */
  sendEncoded(partials: EncodedPartials): void {
    const bytes = Buffer.from(partials.bytes.buffer, partials.bytes.byteOffset, partials.bytes.byteLength);
    let start = 0;
    for (let i = 0; i < partials.count; i++) {
      const end = partials.ends[i]!;
      this.sink.produce(this.topics.partials, partials.mergePartition[i]!, bytes.subarray(start, end), null);
      start = end;
    }
    this.metrics.partialsOut += partials.count;
  }

  private emitResults(task: MergeTask, out: MergeOutput): void {
    for (const count of out.counts) this.sink.produce(this.topics.counts, null, windowCountCodec.encode(count) as Buffer, count.url);
    for (const total of out.totals) this.sink.produce(this.topics.total, null, windowTotalCodec.encode(total) as Buffer, String(total.windowStart));
    const joined: UrlStats[] = out.stats.map((stats) => joinUrlStats(stats, this.settings.urlTable));
    for (const stats of joined) this.sink.produce(this.topics.urlStats, null, urlStatsCodec.encode(stats) as Buffer, stats.url);
    for (const late of out.late) {
      const { sourcePartition, start, url, count } = late;
      const partial: PartialMessage =
        late.kind === 'total' ? { lateTotal: { sourcePartition, windowStart: start, count } }
        : late.kind === 'stats' ? { lateStats: { sourcePartition, windowStart: start, counts: [{ url: url!, count }] } }
        : late.kind === 'latePane' ? { latePane: { sourcePartition, paneStart: start, counts: [{ url: url!, count }] } }
        : url !== null ? { paneCount: { sourcePartition, paneStart: start, url, count } }
        : { paneTotal: { sourcePartition, paneStart: start, count } };
      this.sink.produce(this.topics.late, null, partialCodec.encode(partial) as Buffer, late.url, [
        { reason: `${late.count} clicks of source partition ${late.sourcePartition} arrived after their window closed while that partition was idle` },
      ]);
    }
    for (const list of [out.counts, out.totals, out.stats]) for (const result of list) if (result.revision > 0 && !result.final) this.metrics.corrections++;
    this.metrics.countsOut += out.counts.length;
    this.metrics.totalsOut += out.totals.length;
    this.metrics.statsOut += joined.length;
    this.metrics.lateAtMerge += out.late.reduce((sum, late) => sum + late.count, 0);
    if (this.settings.printMinuteTables && joined.length > 0) process.stdout.write(formatMinuteTable(joined, task.partition));
  }
}
