#!/usr/bin/env bash
# `npm run bench`: builds, makes sure a broker runs (the local one unless $KAFKA_BROKERS), runs
# the benchmarks and prints their figures. Stops the local broker only if it started it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
npm run --silent build
started_broker=0
cleanup() { if [ "$started_broker" = 1 ]; then bash scripts/kafka.sh stop; fi; }
trap cleanup EXIT
if [ -z "${KAFKA_BROKERS:-}" ]; then
  if ! bash scripts/kafka.sh status >/dev/null 2>&1; then
    KAFKA_HEAP="${KAFKA_HEAP:-1g}" bash scripts/kafka.sh start
    started_broker=1
  fi
  export KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT:-9092}
fi
node dist/bench/bench.js
