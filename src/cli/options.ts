// Flag parsers shared by the commands. A bad value becomes commander's one-line usage error.

import { isIP } from 'node:net';
import { InvalidArgumentError, Option } from 'commander';

export function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number >= 0');
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('number too large');
  return n;
}

export function positiveInt(value: string): number {
  const n = nonNegativeInt(value);
  if (n === 0) throw new InvalidArgumentError('expected a whole number > 0');
  return n;
}

export function share(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a share between 0 and 1');
  return n;
}

/** Durations: "500ms", "10s", "2m", or a plain number of seconds. */
export function duration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('expected a duration like 500ms, 10s, 2m');
  const amount = Number(match[1]);
  const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(amount * unitMs);
}

/** A whole number in [min, max]; the message names the range. */
export function intIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

/** A number in [min, max]; the message names the range. */
export function numberIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`expected a number from ${min} to ${max}`);
    return n;
  };
}

/** A TCP port: 0 (any free one) to 65535. */
export const port = intIn(0, 65_535);

const formatMs = (ms: number): string => (ms % 3_600_000 === 0 && ms > 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 && ms > 0 ? `${ms / 60_000}m` : ms % 1_000 === 0 ? `${ms / 1_000}s` : `${ms}ms`);

/** A duration (as `duration` reads it) in [minMs, maxMs]; the message names the range. */
export function durationIn(minMs: number, maxMs: number): (value: string) => number {
  return (value) => {
    const ms = duration(value);
    if (ms < minMs || ms > maxMs) throw new InvalidArgumentError(`expected a duration from ${formatMs(minMs)} to ${formatMs(maxMs)}`);
    return ms;
  };
}

/** 0 (off), or a duration in [minMs, maxMs]. */
export function offOrDurationIn(minMs: number, maxMs: number): (value: string) => number {
  const within = durationIn(minMs, maxMs);
  return (value) => {
    if (duration(value) === 0) return 0;
    try {
      return within(value);
    } catch {
      throw new InvalidArgumentError(`expected 0 (off) or a duration from ${formatMs(minMs)} to ${formatMs(maxMs)}`);
    }
  };
}

/** An address to listen on: an IPv4 or IPv6 address, or a host name. */
export function listenHost(value: string): string {
  if (isIP(value) !== 0) return value;
  if (/^\d+(\.\d+){3}$/.test(value) || !/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(value)) {
    throw new InvalidArgumentError('expected an IP address (127.0.0.1, 0.0.0.0, ::1) or a host name');
  }
  return value;
}

/** A job id: it names a directory and topics, so letters, digits, ".", "_" and "-" only. */
export function jobId(value: string): string {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(value) || value === '.' || value === '..') throw new InvalidArgumentError('expected 1-200 letters, digits, ".", "_" or "-"');
  return value;
}

/** A topic prefix: empty, or characters Kafka allows in topic names. */
export function topicPrefix(value: string): string {
  if (!/^[A-Za-z0-9._-]{0,200}$/.test(value)) throw new InvalidArgumentError('expected letters, digits, ".", "_" or "-" (as in Kafka topic names)');
  return value;
}

/** --public-host, repeatable: host names the dashboard may be reached under besides loopback. */
export function publicHostOption(): Option {
  return new Option('--public-host <name>', 'a host name the dashboard may be reached under besides localhost (repeatable; e.g. behind a reverse proxy)')
    .argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), listenHost(value)])
    .default([]);
}

export function brokersOption(): Option {
  return new Option('--brokers <list>', 'Kafka bootstrap servers (default: $KAFKA_BROKERS or 127.0.0.1:9092)');
}
