// Structured logging: one JSON object per line on stderr, quiet by default (warn and above).
// CLICKSTREAM_LOG=debug|info|warn|error sets the level; stdout stays free for command output.
// Lines escape every control character of what they carry (printable.ts).

import { printableJson } from './printable.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const threshold = rank[parseLevel(process.env.CLICKSTREAM_LOG) ?? 'warn'];

function parseLevel(value: string | undefined): LogLevel | undefined {
  return value !== undefined && value in rank ? (value as LogLevel) : undefined;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function logger(component: string): Logger {
  const write = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (rank[level] < threshold) return;
    const line = { ts: new Date().toISOString(), level, component, msg, ...fields };
    process.stderr.write(printableJson(JSON.stringify(line)) + '\n');
  };
  return {
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
  };
}

/**
 * A log call for events that can repeat at the rate of the input (bad records): the first one is
 * written, then at most one per `intervalMs`, saying how many were left out meanwhile. Memory
 * stays one counter whatever the input.
 */
export function rateLimited(write: (msg: string, fields?: Record<string, unknown>) => void, intervalMs = 10_000): (msg: string, fields?: Record<string, unknown>) => void {
  let lastAt = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  return (msg, fields) => {
    const now = Date.now();
    if (now - lastAt < intervalMs) {
      suppressed++;
      return;
    }
    lastAt = now;
    write(msg, suppressed > 0 ? { ...fields, alsoSinceLast: suppressed } : fields);
    suppressed = 0;
  };
}
