import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUrlTable, readUrlRows } from '../../../src/table/urls.js';
import { UserError } from '../../../src/errors.js';
import { urlsCsvPath } from '../../../src/config.js';

test('the shipped urls.csv parses into 100+ unique rows', () => {
  const rows = readUrlRows(urlsCsvPath);
  assert.ok(rows.length >= 100, `${rows.length} rows`);
  assert.equal(new Set(rows.map((r) => r.url)).size, rows.length);
  assert.equal(rows[0]!.url, '/');
});

test('rows parse into url, title, category in file order', () => {
  const rows = parseUrlTable('url,title,category\n/a,Page A,blog\n\n/b,Page B,docs\n');
  assert.deepEqual(rows, [
    { url: '/a', title: 'Page A', category: 'blog' },
    { url: '/b', title: 'Page B', category: 'docs' },
  ]);
});

test('a malformed row is a user error naming the file and line', () => {
  const cases: Array<[string, RegExp]> = [
    ['url,title\n/a,A\n', /t.csv:1: expected the header/],
    ['url,title,category\n/a,A,blog\n/b,B\n', /t.csv:3: expected 3 fields/],
    ['url,title,category\na,A,blog\n', /t.csv:2: url must start with/],
    ['url,title,category\n/a,A,blog\n/a,A2,blog\n', /t.csv:3: duplicate url/],
    ['url,title,category\n/a,,blog\n', /t.csv:2: empty title/],
    ['url,title,category\n', /no rows/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseUrlTable(text, 't.csv'), (err: unknown) => err instanceof UserError && err.code === 'BAD_TABLE' && message.test(err.message));
  }
});

test('a missing file is a user error, not a crash', () => {
  assert.throws(() => readUrlRows('/nonexistent/urls.csv'), (err: unknown) => err instanceof UserError && /ENOENT/.test(err.message));
});
