import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createdByTests } from '../../support/test-topics.js';
import { uniqueName } from '../../support/kafka.js';

test('after the integration tests, only the topics they created under a unique name are chosen for deletion', () => {
  const job = `${uniqueName('idle-tail')}.`;
  const single = uniqueName('produce');
  const before = ['clicks', 'counts', 'bench-mxc85atp-realistic.clicks', `${uniqueName('earlier')}.clicks`];
  const after = [...before, `${job}clicks`, `${job}clickstream-partials`, single, 'someone-elses-topic', 'bench-mxc85atp-realistic.job-1-mxcze420.counts'];
  assert.deepEqual(createdByTests(before, after).sort(), [`${job}clicks`, `${job}clickstream-partials`, single].sort());
});
