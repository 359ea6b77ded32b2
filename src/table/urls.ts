// The fixed url table (urls.csv: url,title,category) joined by the 1-minute window, and used by
// the producer as its popularity ranking (row order = rank). Parsing is pure; one function reads.

import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';

export interface UrlRow {
  url: string;
  title: string;
  category: string;
}

export type UrlTable = ReadonlyMap<string, UrlRow>;

/** Parses urls.csv text. Any malformed row is a UserError naming file, line and problem. */
export function parseUrlTable(text: string, fileName = 'urls.csv'): UrlRow[] {
  const lines = text.split(/\r?\n/);
  if (lines[0]?.trim() !== 'url,title,category') {
    // The first line is not quoted: the file may be anything (--urls /etc/passwd).
    throw new UserError('BAD_TABLE', `${fileName}:1: expected the header "url,title,category"`);
  }
  const rows: UrlRow[] = [];
  const seen = new Set<string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const fields = line.split(',');
    const where = `${fileName}:${i + 1}`;
    if (fields.length !== 3) {
      throw new UserError('BAD_TABLE', `${where}: expected 3 fields (url,title,category), got ${fields.length}`);
    }
    const [url, title, category] = fields.map((f) => f.trim()) as [string, string, string];
    if (!url.startsWith('/')) throw new UserError('BAD_TABLE', `${where}: url must start with "/", got "${url}"`);
    if (title === '' || category === '') throw new UserError('BAD_TABLE', `${where}: empty title or category`);
    if (seen.has(url)) throw new UserError('BAD_TABLE', `${where}: duplicate url "${url}"`);
    seen.add(url);
    rows.push({ url, title, category });
  }
  if (rows.length === 0) throw new UserError('BAD_TABLE', `${fileName}: no rows`);
  return rows;
}

export function readUrlRows(file: string): UrlRow[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError('BAD_TABLE', `cannot read url table ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseUrlTable(text, file);
}

export function toUrlTable(rows: readonly UrlRow[]): UrlTable {
  return new Map(rows.map((row) => [row.url, row]));
}
