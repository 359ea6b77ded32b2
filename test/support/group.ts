// A consumer group's members and their assignments, described by a child process: librdkafka's
// admin client has crashed the process that held it (a fresh broker, a broker restart), and a
// test must see that as a failed attempt, not as its own crash.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../../src/config.js';
import type { GroupState } from '../../src/kafka/groups.js';
import { brokers } from './kafka.js';

export function describeGroup(groupId: string, at = brokers): Promise<GroupState> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(packageRoot, 'dist', 'chaos', 'describe-group.js'), at, groupId], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('close', (code, signal) => (code === 0 ? resolve(JSON.parse(out) as GroupState) : reject(new Error(`describing group ${groupId} failed (exit ${code ?? signal})`))));
  });
}
