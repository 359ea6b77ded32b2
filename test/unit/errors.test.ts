import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brokerErrorOf, UserError } from '../../src/errors.js';
import { exitStatusOf, EXIT_USER } from '../../src/cli/exit-status.js';

test('an error of the Kafka client becomes one line with the user exit status; anything else keeps its stack', () => {
  const notLeader = Object.assign(new Error('Broker: Not leader for partition'), { code: 6, errno: 6, origin: 'kafka' });
  const wrapped = brokerErrorOf(notLeader, 'restore of sp (run it again)');
  assert.ok(wrapped instanceof UserError);
  assert.equal(wrapped.message, 'restore of sp (run it again) failed: the broker answered "Broker: Not leader for partition" (code 6)');
  assert.equal(exitStatusOf(wrapped), EXIT_USER);
  assert.ok(brokerErrorOf(Object.assign(new Error('Local: Timed out'), { code: -185, origin: 'local' }), 'x') instanceof UserError);
  assert.equal(brokerErrorOf(new TypeError('x is undefined'), 'x'), undefined, 'a bug');
  assert.equal(brokerErrorOf(new UserError('BAD_FILE', 'no'), 'x'), undefined, 'already one line');
  assert.equal(brokerErrorOf(Object.assign(new Error('odd'), { code: 'ENOENT' }), 'x'), undefined, 'not the Kafka client');
});
