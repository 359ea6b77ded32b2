// A broker of a test's own (scripts/kafka.sh with its own KAFKA_HOME and free ports), for tests
// that stop and start the broker without disturbing the shared one. The jars are linked from the
// shared broker's home when it has them, else installed from the local Maven cache.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../src/config.js';

/** A TCP port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export class OwnBroker {
  private constructor(
    readonly home: string,
    private readonly env: NodeJS.ProcessEnv,
    readonly brokers: string,
  ) {}

  static async create(name: string): Promise<OwnBroker> {
    const home = mkdtempSync(path.join(tmpdir(), `clickstream-${name}-kafka-`));
    const sharedLibs = path.join(process.env.KAFKA_HOME ?? path.join(packageRoot, '.kafka'), 'libs');
    if (existsSync(path.join(sharedLibs, '.complete'))) symlinkSync(sharedLibs, path.join(home, 'libs'));
    else mkdirSync(home, { recursive: true });
    const [port, controllerPort] = [await freePort(), await freePort()];
    const env = { ...process.env, KAFKA_HOME: home, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controllerPort) };
    const broker = new OwnBroker(home, env, `127.0.0.1:${port}`);
    await broker.start();
    return broker;
  }

  start(): Promise<void> {
    return this.script('start');
  }

  stop(): Promise<void> {
    return this.script('stop');
  }

  async destroy(): Promise<void> {
    await this.stop().catch(() => undefined);
    rmSync(this.home, { recursive: true, force: true });
  }

  /** `kafka.sh hanging`: its exit code (0 none, 4 some) and what it printed. */
  hanging(): Promise<{ code: number; output: string }> {
    return new Promise((resolve) => {
      execFile('bash', [path.join(packageRoot, 'scripts', 'kafka.sh'), 'hanging'], { env: this.env }, (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, output: `${stdout}${stderr}` }),
      );
    });
  }

  private script(command: string): Promise<void> {
    return new Promise((resolve, reject) => {
      execFile('bash', [path.join(packageRoot, 'scripts', 'kafka.sh'), command], { env: this.env }, (err, _stdout, stderr) =>
        err ? reject(new Error(`kafka.sh ${command} failed: ${stderr}`)) : resolve(),
      );
    });
  }
}
