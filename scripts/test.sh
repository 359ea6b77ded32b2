#!/usr/bin/env bash
# `npm test`: builds, runs the unit tests (pure logic, no I/O), then the integration tests against
# a real Kafka broker: $KAFKA_BROKERS if set, else the local one, started here and stopped after.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[ -d node_modules ] || { echo "test: npm packages missing; run: bash scripts/setup.sh" >&2; exit 1; }
npm run --silent build

node --test --test-reporter=spec dist/test/unit/

started_broker=0
cleanup() {
  if [ "$started_broker" = 1 ]; then bash scripts/kafka.sh stop; fi
}
trap cleanup EXIT
if [ -z "${KAFKA_BROKERS:-}" ]; then
  if ! bash scripts/kafka.sh status >/dev/null 2>&1; then
    bash scripts/kafka.sh start
    started_broker=1
  fi
  export KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT:-9092}
fi
# One file at a time: the tests share the broker and its topics.
node --test --test-concurrency=1 --test-reporter=spec dist/test/integration/
