import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowedHosts, hostName, refusal } from '../../../src/http/request-guard.js';

test('only GET and HEAD, under a loopback name or one given on purpose', () => {
  const allowed = allowedHosts(['dash.example.org']);
  assert.equal(refusal('GET', 'localhost:8081', allowed), undefined);
  assert.equal(refusal('HEAD', '127.0.0.1:8081', allowed), undefined);
  assert.equal(refusal('GET', '[::1]:8081', allowed), undefined);
  assert.equal(refusal('GET', 'DASH.example.org', allowed), undefined);
  assert.equal(refusal('POST', 'localhost:8081', allowed)?.status, 405);
  assert.equal(refusal('DELETE', 'localhost', allowed)?.status, 405);
  assert.equal(refusal('GET', 'attacker.example:8081', allowed)?.status, 421, 'a DNS-rebinding page');
  assert.equal(refusal('GET', undefined, allowed)?.status, 421);
  assert.equal(refusal('GET', 'a b', allowed)?.status, 421);
  assert.equal(refusal('GET', 'anything', allowed, false), undefined, 'a server that does not check hosts still refuses methods');
});

test('host names are read from Host headers with ports and IPv6 brackets', () => {
  assert.equal(hostName('Example.org:80'), 'example.org');
  assert.equal(hostName('[::1]:8081'), '::1');
  assert.equal(hostName('x'.repeat(300)), undefined);
});
