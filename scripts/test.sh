#!/usr/bin/env bash
# `npm test`: sets the machine up if needed (scripts/setup.sh: idempotent, quick once done, and
# it builds), runs the unit tests (pure logic, no I/O), then the integration tests against a real
# Kafka broker: $KAFKA_BROKERS if set, else the local one, started here and stopped after.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

node --test --test-reporter=spec dist/test/unit/
# One file at a time: the tests share the broker. Then the topics they created are deleted (some
# 750 per run, each under a unique name carrying this run's token), so a development broker does
# not pile them up.
CLICKSTREAM_TEST_RUN="t$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
export CLICKSTREAM_TEST_RUN
bash scripts/with-broker.sh bash -c '
  before="$(mktemp)"
  node dist/test/support/test-topics.js before "$before"
  status=0
  node --test --test-concurrency=1 --test-reporter=spec dist/test/integration/ || status=$?
  node dist/test/support/test-topics.js after "$before" || true
  rm -f "$before"
  exit "$status"'
