#!/usr/bin/env bash
# `npm test`: sets the machine up if needed (scripts/setup.sh: idempotent, quick once done, and
# it builds), runs the unit tests (pure logic, no I/O), then the integration tests against a real
# Kafka broker: $KAFKA_BROKERS if set, else the local one, started here and stopped after.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

node --test --test-reporter=spec dist/test/unit/
# One file at a time: the tests share the broker.
bash scripts/with-broker.sh node --test --test-concurrency=1 --test-reporter=spec dist/test/integration/
