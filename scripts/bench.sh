#!/usr/bin/env bash
# `npm run bench`: builds, makes sure a broker runs (the local one unless $KAFKA_BROKERS), runs
# the benchmarks and prints their figures.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
npm run --silent build
KAFKA_HEAP="${KAFKA_HEAP:-1g}" bash scripts/with-broker.sh bash -c 'node dist/bench/bench.js && node dist/bench/savepoint.js && node dist/bench/changelog-restore.js'
