// The node flags and environment of bin/clickstream's shebang, read from it, so that every
// process a benchmark measures runs as users run the job (and raw consume, the baseline, alike).

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../src/config.js';

function parseShebang(): { nodeArgs: string[]; env: Record<string, string> } {
  const first = readFileSync(path.join(packageRoot, 'bin', 'clickstream'), 'utf8').split('\n', 1)[0]!;
  const words = first.replace(/^#!\S*env -S /, '').split(/\s+/).filter(Boolean);
  const node = words.indexOf('node');
  if (node < 0) throw new Error(`bin/clickstream's first line does not run node: ${first}`);
  const env: Record<string, string> = {};
  for (const word of words.slice(0, node)) {
    const [name, value] = word.split('=', 2);
    env[name!] = value ?? '';
  }
  return { nodeArgs: words.slice(node + 1), env };
}

export const launcher = parseShebang();
