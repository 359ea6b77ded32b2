// Entry point of the source job's worker thread (job/source-job.ts): answers each request in
// order, then counts the answer as posted and wakes the client thread, which may be waiting.

import { workerData, type MessagePort } from 'node:worker_threads';
import { SourceHost } from './source-host.js';
import { transferables, type SourceJobSettings, type SourceRequest } from './protocol.js';

const { port, posted, settings } = workerData as { port: MessagePort; posted: Int32Array; settings: SourceJobSettings };
const host = new SourceHost(settings);

port.on('message', (request: SourceRequest) => {
  const response = host.handle(request);
  try {
    port.postMessage(response, transferables(response));
  } catch (err) {
    // Every request gets exactly one answer, or the client thread waits for it in vain.
    port.postMessage({ op: 'fail', message: `answer not sent: ${(err as Error).message}`, stack: undefined });
  }
  Atomics.add(posted, 0, 1);
  Atomics.notify(posted, 0);
});
