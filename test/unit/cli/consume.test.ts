import { test } from 'node:test';
import assert from 'node:assert/strict';
import { revisionLabel } from '../../../src/cli/consume.js';

test('consume labels corrections: nothing for a lone final result, r<n> for revisions, final on the last', () => {
  assert.equal(revisionLabel(0, true), '');
  assert.equal(revisionLabel(0, false), '  r0');
  assert.equal(revisionLabel(2, false), '  r2');
  assert.equal(revisionLabel(3, true), '  r3 final');
  assert.equal(revisionLabel(undefined, undefined), '  r0', 'a record without the fields (written before them) is not claimed final');
});
