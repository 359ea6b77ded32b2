#!/usr/bin/env bash
# `npm run demo`: the whole job on one machine: a local Kafka broker, the topics, a producer of
# live clicks, two workers and a reader of the results. Ctrl-C stops everything it started. On a
# fresh clone it sets the machine up first (scripts/setup.sh).
# Runs itself under scripts/with-broker.sh, which starts (and afterwards stops) the local broker.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# A fresh clone sets itself up first (idempotent, quick once done: see scripts/setup.sh).
if [ -z "${CLICKSTREAM_SET_UP:-}" ]; then bash scripts/setup.sh; export CLICKSTREAM_SET_UP=1; fi
if [ -z "${KAFKA_BROKERS:-}" ]; then exec bash scripts/with-broker.sh bash "$0" "$@"; fi
cs() { bin/clickstream "$@"; }

pids=()
stop_all() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT INT TERM

cs topics create --partitions 4
cs produce --rate "${DEMO_RATE:-500}" --key url 2>/dev/null &
pids+=($!)
# Two workers of one job share the partitions and the default state dir (state/); the first also
# serves the dashboard on http://127.0.0.1:8081/.
cs run --dashboard --http-port "${DEMO_HTTP_PORT:-8081}" &
pids+=($!)
cs run &
pids+=($!)
echo "demo: producing clicks; dashboard on http://127.0.0.1:${DEMO_HTTP_PORT:-8081}/ ; the reader prints counts and totals, the workers print 1 minute tables (Ctrl-C stops all)"
cs consume counts total &
pids+=($!)
wait
