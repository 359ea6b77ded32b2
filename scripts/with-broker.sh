#!/usr/bin/env bash
# Runs a command with a Kafka broker at $KAFKA_BROKERS: the given one if set, else the local
# broker (scripts/kafka.sh), started here if it is not running and then stopped when the command ends.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
started_broker=0
stop_started_broker() { if [ "$started_broker" = 1 ]; then bash scripts/kafka.sh stop; fi; }
trap stop_started_broker EXIT
if [ -z "${KAFKA_BROKERS:-}" ]; then
  if ! bash scripts/kafka.sh status >/dev/null 2>&1; then
    bash scripts/kafka.sh start
    started_broker=1
  fi
  export KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT:-9092}
fi
"$@"
