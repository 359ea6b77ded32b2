import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createdByTests } from '../../support/test-topics.js';

test('after the integration tests, only the topics this run created under its token are chosen for deletion', () => {
  const run = 't0a1b2c';
  const job = `idle-tail-${run}-mxd1i6lw-6b57d1.`;
  const single = `produce-${run}-mxd1i6lx-00ff00`;
  const before = ['clicks', 'counts', 'bench-mxc85atp-realistic.clicks', `earlier-${run}-mxd1a000-123456.clicks`];
  const after = [
    ...before,
    `${job}clicks`,
    `${job}clickstream-partials`,
    single,
    // Created meanwhile by another test run on the same broker, and by someone else.
    `idle-tail-t999999-mxd1i6lw-6b57d1.clicks`,
    `idle-tail-mxd1i6lw-6b57d1.clicks`,
    'orders-v2-abc123',
    `${run}-mxd1i6lw-6b57d1`,
    'bench-mxc85atp-realistic.job-1-mxcze420.counts',
  ];
  assert.deepEqual(createdByTests(before, after, run).sort(), [`${job}clicks`, `${job}clickstream-partials`, single].sort());
});

test('without a well-formed run token nothing is chosen', () => {
  const after = ['idle-tail-t0a1b2c-mxd1i6lw-6b57d1.clicks', 'a-.*-mxd1i6lw-6b57d1'];
  assert.deepEqual(createdByTests([], after, ''), []);
  assert.deepEqual(createdByTests([], after, '.*'), []);
});
