#!/usr/bin/env bash
# `npm run chaos -- [--duration 2m] [--seed N] [--rate N]`: the fault-injection run against a
# local broker of its own (which it restarts) or $KAFKA_BROKERS (no broker restarts then).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
npm run --silent build
if [ -z "${KAFKA_BROKERS:-}" ]; then
  export CHAOS_LOCAL_BROKER=1
  # A fresh broker for each run, apart from the one the tests use: a broker holding thousands of
  # partitions takes 20 s to restart, and its partitions regain leaders in batches, widening the
  # window in which Kafka skips a transaction's markers (see `kafka.sh hanging`).
  export KAFKA_HOME="${CHAOS_KAFKA_HOME:-$PWD/.kafka/chaos}"
  export KAFKA_PORT="${CHAOS_KAFKA_PORT:-9096}" KAFKA_CONTROLLER_PORT="${CHAOS_KAFKA_CONTROLLER_PORT:-9097}"
  bash scripts/kafka.sh reset >/dev/null
fi
bash scripts/with-broker.sh node dist/chaos/chaos.js "$@"
