// Protobuf encode/decode for every message in proto/clickstream.proto. The schema is parsed once
// per process and the reflection types cached; protobufjs then generates specialised code per type.
// int64 fields decode to plain numbers (event times in ms are far below 2^53), not Long objects.

import protobuf from 'protobufjs';
import { protoPath } from '../config.js';

// Without Long support protobufjs reads int64 as JS numbers: no object per field on the hot path.
(protobuf.util as { Long: unknown }).Long = undefined;
protobuf.configure();

export interface Click {
  url: string;
  timestampMs: number;
  userId: string;
  sessionId: string;
  region: string;
  referrer: string;
}

/**
 * A window result's place among its corrections. Optional: records written before allowed
 * lateness existed lack them (decoded as 0 and false), and a reader's own objects may leave them out.
 */
export interface Revisioned {
  /** 0 for the first result, one more per correction. */
  revision?: number;
  /** No later revision will come. */
  final?: boolean;
}

export interface WindowCount extends Revisioned {
  url: string;
  windowStart: number;
  windowEnd: number;
  count: number;
}

export interface WindowTotal extends Revisioned {
  windowStart: number;
  windowEnd: number;
  count: number;
}

export interface UrlStats extends Revisioned {
  url: string;
  windowStart: number;
  windowEnd: number;
  count: number;
  title: string;
  category: string;
  known: boolean;
}

export interface PaneCount {
  sourcePartition: number;
  paneStart: number;
  url: string;
  count: number;
}

export interface UrlCount {
  url: string;
  count: number;
}

/** Clicks of many urls in one pane of one source partition, those of one merge partition. */
export interface PaneCounts {
  sourcePartition: number;
  paneStart: number;
  counts: UrlCount[];
}

export interface PaneTotal {
  sourcePartition: number;
  paneStart: number;
  count: number;
}

export interface SourceWatermark {
  sourcePartition: number;
  watermarkMs: number;
  idle: boolean;
  /** The source's allowed lateness; absent or 0: none (or a source from before it was sent). */
  allowedLatenessMs?: number;
  /** Sent after the last partials of a catch-up (absent or false otherwise): checkpoint now. */
  caughtUp?: boolean;
}

/** Late additions to one 10 s total window from one source partition (a running total). */
export interface LateTotal {
  sourcePartition: number;
  windowStart: number;
  count: number;
}

/** Late additions to one minute window, per url, from one source partition (running totals). */
export interface LateStats {
  sourcePartition: number;
  windowStart: number;
  counts: UrlCount[];
}

/** Late additions to one closed 5 s pane, per url, from one source partition (running totals). */
export interface LatePane {
  sourcePartition: number;
  paneStart: number;
  counts: UrlCount[];
}

/** A source partition's savepoint barrier (stop-with-savepoint; topology/barrier-alignment.ts). */
export interface SavepointBarrier {
  sourcePartition: number;
  savepointId: string;
}

interface PartialKinds {
  paneCounts: PaneCounts;
  paneCount: PaneCount;
  paneTotal: PaneTotal;
  watermark: SourceWatermark;
  lateTotal: LateTotal;
  lateStats: LateStats;
  latePane: LatePane;
  barrier: SavepointBarrier;
}

/** Exactly one kind set, the others absent (decoded messages leave them null or undefined). */
type OneKind<K extends keyof PartialKinds> = { [P in K]: PartialKinds[P] } & { [P in Exclude<keyof PartialKinds, K>]?: undefined | null };

/** A record of the internal partials topic (proto message `Partial`): one of its kinds. */
export type PartialMessage = { [K in keyof PartialKinds]: OneKind<K> }[keyof PartialKinds];

const root = protobuf.loadSync(protoPath);

export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
  /** A plain object with every field, defaults included (for printing, not the hot path). */
  toPlain(value: T): Record<string, unknown>;
}

function codecFor<T>(typeName: string): Codec<T> {
  const type = root.lookupType(`clickstream.${typeName}`);
  return {
    // fromObject is skipped on purpose: our objects already use the schema's field shapes.
    encode: (value: T) => type.encode(value as unknown as protobuf.Message).finish(),
    // Decoded messages carry defaults on their prototype; toObject would copy, so read them as is.
    decode: (bytes: Uint8Array) => type.decode(bytes) as unknown as T,
    toPlain: (value: T) => type.toObject(value as unknown as protobuf.Message, { defaults: true, longs: Number, oneofs: true }),
  };
}

export const clickCodec: Codec<Click> = codecFor<Click>('Click');
export const windowCountCodec: Codec<WindowCount> = codecFor<WindowCount>('WindowCount');
export const windowTotalCodec: Codec<WindowTotal> = codecFor<WindowTotal>('WindowTotal');
export const urlStatsCodec: Codec<UrlStats> = codecFor<UrlStats>('UrlStats');
export const partialCodec: Codec<PartialMessage> = codecFor<PartialMessage>('Partial');

/** Decoders by output topic name, for readers that print any of the job's topics. */
export const outputCodecs: Record<string, Codec<object>> = {
  counts: windowCountCodec as Codec<object>,
  total: windowTotalCodec as Codec<object>,
  'url-stats': urlStatsCodec as Codec<object>,
};
