#!/usr/bin/env bash
# Runs a command with a Kafka broker at $KAFKA_BROKERS: the given one if set, else the local
# broker (scripts/kafka.sh), started here if it is not running and then stopped when the command ends.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
started_broker=0
repo="$(pwd -P)"
# A test process that dies hard (a crash in a native client) leaves the workers it spawned
# running: stop the job processes started under this command (they inherit the tag; a demo
# running from the same checkout does not have it) before the broker goes.
tag="with-broker-$$-$RANDOM"
export CLICKSTREAM_RUN_TAG="$tag"
stop_strays() {
  local pids="" pid
  for pid in $(pgrep -f "$repo/(bin/clickstream|dist/bench/children.js) " || true); do
    { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qx "CLICKSTREAM_RUN_TAG=$tag" && pids="$pids $pid"
  done
  [ -z "$pids" ] && return 0
  echo "with-broker: stopping $(echo "$pids" | wc -w) job process(es) left running: $(echo $pids)" >&2
  kill $pids 2>/dev/null || true
  sleep 5
  kill -9 $pids 2>/dev/null || true
}
cleanup() { stop_strays; if [ "$started_broker" = 1 ]; then bash scripts/kafka.sh stop; fi; }
trap cleanup EXIT
if [ -z "${KAFKA_BROKERS:-}" ]; then
  if ! bash scripts/kafka.sh status >/dev/null 2>&1; then
    bash scripts/kafka.sh start
    started_broker=1
  fi
  export KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT:-9092}
fi
"$@"
