#!/usr/bin/env bash
# `npm run demo`: the whole job on one machine: a local Kafka broker, the topics, a producer of
# live clicks, two workers and a reader of the results. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[ -f dist/src/cli/main.js ] || { echo "demo: not set up yet; run: bash scripts/setup.sh" >&2; exit 1; }
cs() { node bin/clickstream "$@"; }

pids=()
started_broker=0
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$started_broker" = 1 ]; then bash scripts/kafka.sh stop; fi
}
trap cleanup EXIT INT TERM

if [ -z "${KAFKA_BROKERS:-}" ]; then
  if ! bash scripts/kafka.sh status >/dev/null 2>&1; then
    bash scripts/kafka.sh start
    started_broker=1
  fi
  export KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT:-9092}
fi

cs topics create --partitions 4
cs produce --rate "${DEMO_RATE:-500}" --key url 2>/dev/null &
pids+=($!)
# Two workers of one job share the partitions and the default state dir (state/).
cs run &
pids+=($!)
cs run &
pids+=($!)
echo "demo: producing clicks; the reader prints counts and totals, the workers print 1 minute tables (Ctrl-C stops all)"
cs consume counts total &
pids+=($!)
wait
