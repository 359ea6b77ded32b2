#!/usr/bin/env bash
# `npm run chaos -- [--duration 2m] [--seed N] [--rate N]`: the fault-injection run against the
# local broker (which it may restart) or $KAFKA_BROKERS (no broker restarts then).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
npm run --silent build
if [ -z "${KAFKA_BROKERS:-}" ]; then export CHAOS_LOCAL_BROKER=1; fi
bash scripts/with-broker.sh node dist/chaos/chaos.js "$@"
