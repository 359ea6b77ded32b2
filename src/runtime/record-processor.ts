// The hot path: a batch of records in, through the tasks, records out. Clicks go to their
// partition's source task (malformed ones to the dead-letter topic, late ones to clicks-late),
// partials to their partition's merge task; each touched source task then forwards what it
// closed, and each touched merge task emits the windows that closed. No per-record promise or
// closure: one reused click object, arrays indexed by partition.

import type { Message } from '@confluentinc/kafka-javascript';
import type { TopicNames } from '../config.js';
import { partialCodec, urlStatsCodec, windowCountCodec, windowTotalCodec, type PartialMessage, type UrlStats } from '../codec/messages.js';
import { readClickFields, type ClickFields } from '../codec/click-fields.js';
import type { UrlTable } from '../table/urls.js';
import { joinUrlStats } from '../topology/merge-stage.js';
import { emptyOutput, type MergeOutput } from '../topology/merge-windows.js';
import type { RoutedPartial } from '../topology/source-stage.js';
import { formatMinuteTable } from './minute-table.js';
import type { OutputSink } from './output-sink.js';
import type { WorkerMetrics } from './status.js';
import type { TaskManager } from './task-manager.js';
import type { MergeTask, SourceTask } from './tasks.js';

export class RecordProcessor {
  private readonly click: ClickFields = { url: '', timestampMs: 0 };

  constructor(
    private readonly topics: TopicNames,
    private readonly tasks: TaskManager,
    private readonly sink: OutputSink,
    private readonly metrics: WorkerMetrics,
    private readonly urlTable: UrlTable,
    /** Print each closed minute as a table on stdout. */
    private readonly printMinuteTables: boolean,
  ) {}

  process(messages: Message[], nowMs: number): void {
    const touchedSources = new Set<SourceTask>();
    const touchedMerges = new Map<MergeTask, MergeOutput>();
    for (const message of messages) {
      if (message.topic === this.topics.clicks) {
        const task = this.tasks.source(message.partition);
        if (task === undefined) continue; // revoked meanwhile: its new owner reads it from the checkpoint
        this.processClick(task, message);
        touchedSources.add(task);
      } else {
        const task = this.tasks.merge(message.partition);
        if (task === undefined) continue;
        let out = touchedMerges.get(task);
        if (out === undefined) touchedMerges.set(task, (out = emptyOutput()));
        task.topology.apply(partialCodec.decode(message.value!), out);
        task.nextOffset = message.offset + 1;
        task.recordsIn++;
        this.metrics.partialsIn++;
      }
    }
    const routed: RoutedPartial[] = [];
    for (const task of touchedSources) {
      if (task.idleness.recordSeen(nowMs)) task.topology.setIdle(false, routed);
      task.topology.flush(routed);
    }
    this.sendPartials(routed);
    for (const [task, out] of touchedMerges) this.emitResults(task, out);
  }

  private processClick(task: SourceTask, message: Message): void {
    task.nextOffset = message.offset + 1;
    task.recordsIn++;
    this.metrics.clicksIn++;
    const value = message.value;
    const error = value ? readClickFields(value, this.click) : 'empty record';
    if (error !== undefined) {
      task.deadLettered++;
      this.metrics.deadLettered++;
      this.sink.produce(this.topics.deadLetter, null, value ?? null, message.key ?? null, [
        { error },
        { 'source-topic': message.topic },
        { 'source-partition': String(message.partition) },
        { 'source-offset': String(message.offset) },
      ]);
      return;
    }
    if (!task.topology.add(this.click.url, this.click.timestampMs)) {
      task.late++;
      this.metrics.late++;
      this.sink.produce(this.topics.late, null, value!, message.key ?? null, [
        { reason: `event time ${this.click.timestampMs} is in a 5 s pane that closed at watermark ${task.topology.panes.watermarkMs} of partition ${task.partition}` },
        { 'source-partition': String(message.partition) },
        { 'source-offset': String(message.offset) },
      ]);
    }
  }

  /** Forwards closed panes and watermarks to the merge partitions they are routed to. */
  sendPartials(routed: RoutedPartial[]): void {
    for (const r of routed) {
      this.sink.produce(this.topics.partials, r.mergePartition, partialCodec.encode(r.partial) as Buffer, r.key);
    }
    this.metrics.partialsOut += routed.length;
  }

  private emitResults(task: MergeTask, out: MergeOutput): void {
    for (const count of out.counts) this.sink.produce(this.topics.counts, null, windowCountCodec.encode(count) as Buffer, count.url);
    for (const total of out.totals) this.sink.produce(this.topics.total, null, windowTotalCodec.encode(total) as Buffer, String(total.windowStart));
    const joined: UrlStats[] = out.stats.map((stats) => joinUrlStats(stats, this.urlTable));
    for (const stats of joined) this.sink.produce(this.topics.urlStats, null, urlStatsCodec.encode(stats) as Buffer, stats.url);
    for (const late of out.late) {
      const partial: PartialMessage = late.url !== null
        ? { paneCount: { sourcePartition: late.sourcePartition, paneStart: late.paneStart, url: late.url, count: late.count } }
        : { paneTotal: { sourcePartition: late.sourcePartition, paneStart: late.paneStart, count: late.count } };
      this.sink.produce(this.topics.late, null, partialCodec.encode(partial) as Buffer, late.url, [
        { reason: `${late.count} clicks of source partition ${late.sourcePartition} arrived after their window closed while that partition was idle` },
      ]);
    }
    this.metrics.countsOut += out.counts.length;
    this.metrics.totalsOut += out.totals.length;
    this.metrics.statsOut += joined.length;
    this.metrics.lateAtMerge += out.late.reduce((sum, late) => sum + late.count, 0);
    if (this.printMinuteTables && joined.length > 0) process.stdout.write(formatMinuteTable(joined, task.partition));
  }
}
