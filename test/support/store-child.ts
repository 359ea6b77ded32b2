// A TaskStore used from a separate process, for tests of state faults: `hold` keeps a store open
// (locked) until stdin closes, `open` reports how opening fails as JSON (run as another user for
// permission tests), `fill` writes checkpoints under a file-size limit (a disk that fills up).

import { pathToFileURL } from 'node:url';
import { isUserError } from '../../src/errors.js';
import { TaskStore } from '../../src/state/task-store.js';

/** What `fill` writes first: it must fit under the limit. */
export const smallCheckpoint = {
  changes: new Map<string, string | null>([['pane!1000!/a', '7'], ['pane!1000!/b', null], ['pane!2000!/c', '1']]),
  nextOffset: 200,
};

/** What `fill` writes second: about 2 MB, far beyond the limit the test sets. */
export function largeCheckpoint(): { changes: Map<string, string | null>; nextOffset: number } {
  const changes = new Map<string, string | null>([['pane!1000!/a', '999'], ['pane!2000!/c', null]]);
  for (let i = 0; i < 1_000; i++) changes.set(`pane!3000!/big/${i}`, String(i).padStart(2_000, 'x'));
  return { changes, nextOffset: 300 };
}

export interface ChildReport {
  ok: boolean;
  code?: string;
  message?: string;
  /** `fill` only: how the write after the failed one went. */
  after?: { ok: boolean; code?: string; message?: string };
}

function failure(err: unknown): ChildReport {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const e = err as { code?: string; message?: string };
  return { ok: false, code: isUserError(err) ? err.code : (e.code ?? cause?.code), message: cause?.message ? `${e.message}: ${cause.message}` : e.message };
}

async function hold(location: string): Promise<void> {
  const store = await TaskStore.open(location);
  process.stdout.write('ready\n');
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.once('end', resolve));
  await store.close();
}

async function open(location: string): Promise<ChildReport> {
  try {
    const store = await TaskStore.open(location);
    await store.close();
    return { ok: true };
  } catch (err) {
    return failure(err);
  }
}

async function fill(location: string): Promise<ChildReport> {
  const store = await TaskStore.open(location);
  await store.checkpoint(smallCheckpoint.changes, smallCheckpoint.nextOffset);
  const large = largeCheckpoint();
  let report: ChildReport = { ok: true };
  try {
    await store.checkpoint(large.changes, large.nextOffset);
  } catch (err) {
    report = failure(err);
  }
  try {
    await store.checkpoint(new Map([['pane!4000!/d', '1']]), 400);
    report.after = { ok: true };
  } catch (err) {
    report.after = failure(err);
  }
  await store.close().catch(() => undefined);
  return report;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [mode, location] = process.argv.slice(2);
  if (mode === 'hold') await hold(location!);
  else if (mode === 'open') process.stdout.write(JSON.stringify(await open(location!)) + '\n');
  else if (mode === 'fill') process.stdout.write(JSON.stringify(await fill(location!)) + '\n');
  else throw new Error(`unknown mode ${mode}`);
}
