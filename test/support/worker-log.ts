// A worker's structured log as a test reads it: every JSON line of its stderr, as it comes.

import type { ChildProcess } from 'node:child_process';

export type LogLine = { ts: string; level?: string; msg: string; partitions?: Array<{ topic: string; partition: number }>; waitingToOpen?: string[]; [field: string]: unknown };

/** Every JSON line the worker writes to stderr, collected as it comes. */
export function collectLog(child: ChildProcess): LogLine[] {
  const lines: LogLine[] = [];
  let rest = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    const text = rest + chunk.toString();
    const parts = text.split('\n');
    rest = parts.pop()!;
    for (const part of parts) {
      try {
        lines.push(JSON.parse(part) as LogLine);
      } catch {
        // not a log line (a crash trace): the assertions show the log if they fail
      }
    }
  });
  return lines;
}

/** The first line `matches` accepts, once logged; rejects after `timeoutMs`. */
export async function waitForLine(lines: LogLine[], matches: (line: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = lines.find(matches);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`${what}: not logged within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Several workers' lines in time order, each naming its worker: what a failed assertion shows. */
export function timeline(logs: Record<string, LogLine[]>): string {
  return Object.entries(logs)
    .flatMap(([worker, lines]) => lines.map((line) => ({ worker, ...line })))
    .sort((a, b) => a.ts.localeCompare(b.ts))
    .map((line) => JSON.stringify(line))
    .join('\n');
}
