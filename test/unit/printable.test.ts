import { test } from 'node:test';
import assert from 'node:assert/strict';
import { printable, printableJson } from '../../src/printable.js';

test('terminal escapes, newlines and bidi overrides in data are shown, not obeyed', () => {
  assert.equal(printable('/a\u001b[2J'), '/a\\u{1b}[2J', 'clear screen');
  assert.equal(printable('/t\u001b]0;owned\u0007'), '/t\\u{1b}]0;owned\\u{7}', 'an OSC title');
  assert.equal(printable('/x\n  999  /forged'), '/x\\u{a}  999  /forged', 'a forged table row');
  assert.equal(printable('/c1\u009b31m'), '/c1\\u{9b}31m', 'an 8-bit CSI');
  assert.equal(printable('/rtl\u202egnp.exe'), '/rtl\\u{202e}gnp.exe');
  assert.equal(printable('/ä/日本/ok?q=1&r=\\'), '/ä/日本/ok?q=1&r=\\', 'printable text is unchanged');
});

test('a JSON line keeps valid JSON while losing its raw controls', () => {
  const line = printableJson(JSON.stringify({ url: '/c1\u009b\u2028x' }));
  assert.equal(line, '{"url":"/c1\\u009b\\u2028x"}');
  assert.deepEqual(JSON.parse(line), { url: '/c1\u009b\u2028x' });
});
