// Generates a reproducible stream of clicks: Zipf url popularity over the url table plus a share
// of urls missing from it, event time on a virtual clock with bounded disorder and a share of
// clicks later than the watermark bound. Pure: the same spec yields the same stream.

import type { Click } from '../codec/messages.js';
import { partitionForKey } from '../topology/murmur2.js';
import { Random, ZipfSampler } from './random.js';

export type KeyStrategy = 'url' | 'user' | 'none';

export interface StreamSpec {
  seed: number;
  /** Known urls in popularity order (urls.csv row order). */
  tableUrls: readonly string[];
  /** Distinct urls that are not in the table, and the share of clicks that go to them. */
  unknownUrls: number;
  unknownShare: number;
  zipfExponent: number;
  users: number;
  /** Event time of the first click, and how fast event time advances (clicks per event second). */
  startMs: number;
  eventRate: number;
  /** Clicks are up to this much older than the virtual clock (in-bound disorder). */
  maxDisorderMs: number;
  /** Share of clicks older than the clock by more than `lateBoundMs` (late for the job). */
  lateShare: number;
  lateBoundMs: number;
  keyBy: KeyStrategy;
  partitions: number;
}

export interface GeneratedClick {
  partition: number;
  key: string | null;
  click: Click;
}

const regions = ['eu-west', 'eu-central', 'us-east', 'us-west', 'ap-south', 'ap-northeast', 'sa-east'];
const referrers = ['', '', '', 'https://www.google.com/', 'https://duckduckgo.com/', 'https://news.ycombinator.com/', 'https://t.co/', 'newsletter'];
const sessionLengthMs = 30 * 60 * 1000;

export class ClickGenerator {
  private readonly random: Random;
  private readonly tableZipf: ZipfSampler;
  private readonly unknownZipf: ZipfSampler | undefined;
  private readonly unknownUrlNames: string[];
  private readonly urlPartition = new Map<string, number>();
  private readonly userPartition: Int32Array;
  private readonly encoder = new TextEncoder();
  private readonly msPerClick: number;
  private sequence = 0;

  constructor(private readonly spec: StreamSpec) {
    if (spec.tableUrls.length === 0) throw new RangeError('the url table is empty');
    this.random = new Random(spec.seed);
    this.tableZipf = new ZipfSampler(spec.tableUrls.length, spec.zipfExponent);
    this.unknownUrlNames = Array.from({ length: spec.unknownUrls }, (_, i) => `/unlisted/page-${i + 1}`);
    this.unknownZipf = spec.unknownUrls > 0 ? new ZipfSampler(spec.unknownUrls, spec.zipfExponent) : undefined;
    this.userPartition = new Int32Array(spec.users).fill(-1);
    this.msPerClick = 1000 / spec.eventRate;
  }

  /** Event time the virtual clock shows now (before disorder is applied). */
  clockMs(): number {
    return this.spec.startMs + Math.floor(this.sequence * this.msPerClick);
  }

  next(): GeneratedClick {
    const spec = this.spec;
    const random = this.random;
    const clock = this.clockMs();
    this.sequence++;

    const url =
      this.unknownZipf !== undefined && random.float() < spec.unknownShare
        ? this.unknownUrlNames[this.unknownZipf.sample(random)]!
        : spec.tableUrls[this.tableZipf.sample(random)]!;

    let timestampMs = clock - Math.floor(random.float() * (spec.maxDisorderMs + 1));
    if (spec.lateShare > 0 && random.float() < spec.lateShare) {
      // Older than the bound by 5-35 s: the pane it falls in has closed on its partition.
      timestampMs = clock - spec.lateBoundMs - 5_000 - Math.floor(random.float() * 30_000);
    }
    const userIndex = random.below(spec.users);
    const userId = `u${userIndex}`;
    const click: Click = {
      url,
      timestampMs,
      userId,
      sessionId: `${userId}-${Math.floor(clock / sessionLengthMs)}`,
      region: regions[userIndex % regions.length]!,
      referrer: referrers[random.below(referrers.length)]!,
    };

    let partition: number;
    let key: string | null;
    switch (spec.keyBy) {
      case 'url':
        key = url;
        partition = this.partitionOfUrl(url);
        break;
      case 'user':
        key = userId;
        partition = this.partitionOfUser(userIndex, userId);
        break;
      case 'none':
        key = null;
        partition = random.below(spec.partitions);
        break;
    }
    return { partition, key, click };
  }

  private partitionOfUrl(url: string): number {
    let partition = this.urlPartition.get(url);
    if (partition === undefined) {
      partition = partitionForKey(this.encoder.encode(url), this.spec.partitions);
      this.urlPartition.set(url, partition);
    }
    return partition;
  }

  private partitionOfUser(userIndex: number, userId: string): number {
    let partition = this.userPartition[userIndex]!;
    if (partition < 0) {
      partition = partitionForKey(this.encoder.encode(userId), this.spec.partitions);
      this.userPartition[userIndex] = partition;
    }
    return partition;
  }
}
