#!/usr/bin/env bash
# Local single-node Apache Kafka broker (KRaft, broker+controller, 127.0.0.1 only) without Docker.
#
#   bash scripts/kafka.sh install   # java + mvn present, broker jars in $KAFKA_HOME/libs (idempotent)
#   bash scripts/kafka.sh start     # install if needed, format storage once, start, wait until serving
#   bash scripts/kafka.sh stop      # stop the broker from the pid file (TERM, then KILL after 20 s)
#   bash scripts/kafka.sh status    # exit 0 if running, 3 if not
#   bash scripts/kafka.sh reset     # stop + delete the data dir (keeps the jars)
#   bash scripts/kafka.sh logs [-f] # tail of the broker log
#   bash scripts/kafka.sh hanging [--abort]  # transactions left open by the broker; abort them
#
# Environment: KAFKA_HOME (default <repo>/.kafka), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
# KAFKA_HEAP (512m), KAFKA_START_TIMEOUT (60 seconds), KAFKA_JVM_EXTRA (more JVM flags, split on
# spaces: e.g. the com.sun.management.jmxremote ones, to read the broker's per-request metrics).
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_DIR="$(cd -- "$SCRIPT_DIR/.." && pwd -P)"
KAFKA_CONF_DIR="$SCRIPT_DIR/kafka"
POM="$KAFKA_CONF_DIR/pom.xml"
LOG4J_CONF="$KAFKA_CONF_DIR/log4j2.properties"

KAFKA_HOME="${KAFKA_HOME:-$REPO_DIR/.kafka}"
case "$KAFKA_HOME" in /*) ;; *) KAFKA_HOME="$PWD/$KAFKA_HOME" ;; esac
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP="${KAFKA_HEAP:-512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
HOST=127.0.0.1

LIBS_DIR="$KAFKA_HOME/libs"
LIBS_STAMP="$LIBS_DIR/.complete"
DATA_DIR="$KAFKA_HOME/data"
LOG_DIRS="$DATA_DIR/kraft-combined-logs"
SERVER_PROPS="$KAFKA_HOME/server.properties"
PID_FILE="$KAFKA_HOME/kafka.pid"
LOG_FILE="$KAFKA_HOME/kafka.log"
READY_LINE="Kafka Server started"

say() { printf 'kafka: %s\n' "$*"; }
now_ds() { local t="${EPOCHREALTIME:-$(date +%s.%N)}"; t="${t/,/.}"; printf '%s%s\n' "${t%%.*}" "${t#*.}" | cut -c1-11; } # tenths of a second
since() { local d=$(($(now_ds) - $1)); printf '%d.%d' $((d / 10)) $((d % 10)); }
die() { printf 'kafka: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- helpers

port_open() { # port -> 0 if something accepts TCP connections on 127.0.0.1:port
  timeout 1 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# Pid from the pid file if that process is alive and really is our broker (guards against pid reuse).
broker_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$SERVER_PROPS" || return 1
  fi
  printf '%s\n' "$pid"
}

# Port the running broker was started with (from the server.properties it uses), else $KAFKA_PORT.
running_port() {
  local p=""
  [[ -f "$SERVER_PROPS" ]] && p="$(sed -n 's|^advertised.listeners=PLAINTEXT://[^:]*:\([0-9]*\).*|\1|p' "$SERVER_PROPS")"
  printf '%s\n' "${p:-$KAFKA_PORT}"
}

java_major() { # prints the major version of `java`, e.g. 17
  java -version 2>&1 | sed -n '1s/.*version "\([0-9]*\)\(\.\([0-9]*\)\)\{0,1\}.*/\1 \3/p' |
    awk '{ print ($1 == 1 ? $2 : $1) }'
}

with_lock() { # serialise start/stop/reset/install on this KAFKA_HOME
  mkdir -p "$KAFKA_HOME"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$KAFKA_HOME/.lock"
    flock -w 120 9 || die "another kafka.sh is busy with $KAFKA_HOME (lock $KAFKA_HOME/.lock)"
  fi
}

# ---------------------------------------------------------------- install

ensure_tools() {
  local missing=() pkgs=() jmaj=""
  if command -v java >/dev/null 2>&1; then
    jmaj="$(java_major || true)"
    if [[ -n "$jmaj" && "$jmaj" -lt 17 ]]; then missing+=("java 17+ (found java $jmaj)"); pkgs+=(java); fi
  else
    missing+=("java 17+"); pkgs+=(java)
  fi
  command -v mvn >/dev/null 2>&1 || { missing+=("mvn (Maven)"); pkgs+=(maven); }
  ((${#missing[@]} == 0)) && return 0

  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    local apt_pkgs=() p
    for p in "${pkgs[@]}"; do
      if [[ "$p" == java ]]; then
        # Debian 12 / Ubuntu have openjdk-17; newer Debian only ships 21+ (default-jre-headless).
        if apt-cache show openjdk-17-jre-headless >/dev/null 2>&1 || ! apt-cache show default-jre-headless >/dev/null 2>&1; then
          apt_pkgs+=(openjdk-17-jre-headless)
        else
          apt_pkgs+=(default-jre-headless)
        fi
      else
        apt_pkgs+=("$p")
      fi
    done
    local apt_log="$KAFKA_HOME/apt.log"
    mkdir -p "$KAFKA_HOME"
    say "installing ${apt_pkgs[*]} with apt-get (log: $apt_log)"
    if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${apt_pkgs[@]}"; } >"$apt_log" 2>&1; then
      tail -n 20 "$apt_log" >&2
      die "apt-get install ${apt_pkgs[*]} failed (see $apt_log)"
    fi
    # apt may have put java in /usr/lib/jvm without it being first on PATH in this shell
    hash -r
    local still=""
    command -v java >/dev/null 2>&1 || still+=" java"
    command -v mvn >/dev/null 2>&1 || still+=" mvn"
    [[ -z "$still" ]] || die "still not on PATH after apt-get install ${apt_pkgs[*]}:$still"
    return 0
  fi
  local list="${missing[0]}"
  ((${#missing[@]} > 1)) && list+=" and ${missing[1]}"
  die "missing: $list (install a JRE 17+ and Maven, or run as root on Debian/Ubuntu to let this script apt-get them)"
}

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

libs_ready() { [[ -f "$LIBS_STAMP" && "$(cat "$LIBS_STAMP")" == "$(pom_hash)" ]]; }

do_install() {
  ensure_tools
  if libs_ready; then
    [[ "${1:-}" == quiet ]] || say "jars already in $LIBS_DIR"
    return 0
  fi
  mkdir -p "$KAFKA_HOME"
  local t0 tmp="$KAFKA_HOME/libs.tmp" mvn_log="$KAFKA_HOME/mvn.log"
  t0="$(now_ds)"
  rm -rf "$tmp"
  if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
    tail -n 30 "$mvn_log" >&2
    die "mvn dependency:copy-dependencies failed (full output: $mvn_log)"
  fi
  ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "mvn finished but no kafka_2.13 jar in $tmp (see $mvn_log)"
  pom_hash >"$tmp/.complete"
  rm -rf "$LIBS_DIR"
  mv "$tmp" "$LIBS_DIR"
  say "installed $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS_DIR" | cut -f1)) into $LIBS_DIR in $(since "$t0") s"
}

# ---------------------------------------------------------------- start

write_server_properties() {
  cat >"$SERVER_PROPS.tmp" <<EOF
# Generated by scripts/kafka.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$LOG_DIRS

num.partitions=4
default.replication.factor=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
# One node: a controlled shutdown has nowhere to move leadership, it only leaves every partition
# without a leader while the transaction coordinator may still be writing commit markers. Kafka
# then skips the markers of those partitions ("likely deleted") and the transaction hangs: its
# outputs stay invisible to read_committed readers and its offsets unstable until aborted.
controlled.shutdown.enable=false

offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Tests produce records with event times in the past: never delete by time.
log.retention.ms=-1
EOF
  mv "$SERVER_PROPS.tmp" "$SERVER_PROPS"
}

java_tool() { java -Dlog4j2.configurationFile="$LOG4J_CONF" -cp "$LIBS_DIR/*" "$@"; }

format_storage_once() {
  [[ -f "$LOG_DIRS/meta.properties" ]] && return 0
  local id out
  id="$(java_tool kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
  [[ "$id" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "StorageTool random-uuid gave no cluster id: '$id'"
  if ! out="$(java_tool kafka.tools.StorageTool format -t "$id" -c "$SERVER_PROPS" 2>&1)"; then
    printf '%s\n' "$out" | tail -n 30 >&2
    die "formatting storage in $LOG_DIRS failed"
  fi
  say "formatted storage in $LOG_DIRS (cluster id $id)"
}

do_start() {
  local pid port
  with_lock
  if pid="$(broker_pid)"; then
    port="$(running_port)"
    if port_open "$port"; then
      say "already running on $HOST:$port (pid $pid)"
      return 0
    fi
    # alive but not (yet) answering: maybe another start is still waiting; wait like a start would.
    wait_ready "$pid" "$port" "$(now_ds)" "already running, now answering"
    return 0
  fi
  rm -f "$PID_FILE"

  local p
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_open "$p"; then
      local who=""
      command -v ss >/dev/null 2>&1 && who="$(ss -Hltnp "sport = :$p" 2>/dev/null | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -n 1 | sed 's/users:(("\([^"]*\)",pid=\([0-9]*\)/ by \1 pid \2/')"
      die "$HOST:$p is already in use${who} (not this broker); stop it or set KAFKA_PORT/KAFKA_CONTROLLER_PORT"
    fi
  done

  if ! libs_ready || ! command -v java >/dev/null 2>&1; then do_install quiet; fi
  mkdir -p "$DATA_DIR"
  write_server_properties
  format_storage_once

  [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  local t0
  t0="$(now_ds)"
  # The pid is written by the process that then execs java, so it is java's pid whether or not setsid forks.
  (
    cd "$KAFKA_HOME"
    # shellcheck disable=SC2016,SC2086 # $$ and $1 are expanded by the inner bash; KAFKA_JVM_EXTRA is split on purpose
    setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" \
      java "-Xms$KAFKA_HEAP" "-Xmx$KAFKA_HEAP" -XX:+UseG1GC ${KAFKA_JVM_EXTRA:-} \
      -Dlog4j2.configurationFile="$LOG4J_CONF" \
      -cp "$LIBS_DIR/*" kafka.Kafka "$SERVER_PROPS" \
      </dev/null >>"$LOG_FILE" 2>&1 9>&- &
  )
  local i
  for ((i = 0; i < 50; i++)); do [[ -s "$PID_FILE" ]] && break; sleep 0.1; done
  pid="$(tr -dc '0-9' <"$PID_FILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] || die "could not start java (no pid written); see $LOG_FILE"
  wait_ready "$pid" "$KAFKA_PORT" "$t0" "started"
}

wait_ready() { # pid port t0 verb
  local pid="$1" port="$2" t0="$3" verb="$4" deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      fail_start "process $pid exited before the broker was serving"
    fi
    if grep -qF "$READY_LINE" "$LOG_FILE" 2>/dev/null && port_open "$port"; then
      say "$verb on $HOST:$port (pid $pid) in $(since "$t0") s"
      return 0
    fi
    sleep 0.25
  done
  if [[ "$verb" == started ]]; then
    # a start that failed leaves nothing running
    kill -TERM "$pid" 2>/dev/null || true
    local t=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < t)); do sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
    fail_start "not serving on $HOST:$port after ${KAFKA_START_TIMEOUT} s (process $pid stopped)"
  fi
  fail_start "pid $pid not serving on $HOST:$port after ${KAFKA_START_TIMEOUT} s ('bash scripts/kafka.sh stop' to end it)"
}

fail_start() {
  printf -- '----- last 30 lines of %s -----\n' "$LOG_FILE" >&2
  tail -n 30 "$LOG_FILE" >&2 2>/dev/null || true
  printf -- '-----\n' >&2
  die "start failed: $1"
}

# ---------------------------------------------------------------- stop / status / reset / logs

do_stop() {
  local pid
  if ! pid="$(broker_pid)"; then
    rm -f "$PID_FILE"
    say "not running"
    return 0
  fi
  local t0=$SECONDS t1
  t1="$(now_ds)"
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((SECONDS - t0 < 20)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$PID_FILE"
    say "killed pid $pid (did not stop within 20 s)"
  else
    rm -f "$PID_FILE"
    say "stopped pid $pid in $(since "$t1") s"
  fi
}

do_status() {
  local pid port
  port="$(running_port)"
  if pid="$(broker_pid)"; then
    if port_open "$port"; then
      say "running on $HOST:$port (pid $pid)"
      return 0
    fi
    say "pid $pid alive but $HOST:$port not answering (starting or unhealthy)"
    return 3
  fi
  say "not running"
  return 3
}

do_reset() {
  with_lock
  do_stop
  rm -rf "$DATA_DIR" "$SERVER_PROPS" "$LOG_FILE" "$LOG_FILE.1"
  say "deleted $DATA_DIR (jars kept)"
}

do_logs() {
  [[ -f "$LOG_FILE" ]] || die "no log yet ($LOG_FILE)"
  if [[ "${1:-}" == -f ]]; then exec tail -n 50 -F "$LOG_FILE"; fi
  tail -n "${1:-50}" "$LOG_FILE"
}

# Kafka's own tool (kafka-transactions.sh): a transaction whose markers the broker never wrote
# keeps read_committed readers at its first offset and the group's offsets unstable for good.
do_hanging() {
  local port out
  port="$(running_port)"
  broker_pid >/dev/null && port_open "$port" || die "not running (start it first)"
  out="$(java_tool org.apache.kafka.tools.TransactionsCommand --bootstrap-server "$HOST:$port" find-hanging --broker-id 1 --max-transaction-timeout 1 2>&1 | grep -v '^SLF4J')" ||
    die "find-hanging failed: $(printf '%s\n' "$out" | tail -n 1)"
  local rows
  rows="$(printf '%s\n' "$out" | awk -F'\t' 'NR > 1 && NF >= 6 { gsub(/ /, ""); print $1, $2, $6 }')"
  if [[ -z "$rows" ]]; then
    say "no hanging transactions"
    return 0
  fi
  printf '%s\n' "$out"
  if [[ "${1:-}" != --abort ]]; then
    say "$(printf '%s\n' "$rows" | wc -l) hanging; 'bash scripts/kafka.sh hanging --abort' aborts them"
    return 4
  fi
  local topic partition start
  while read -r topic partition start; do
    java_tool org.apache.kafka.tools.TransactionsCommand --bootstrap-server "$HOST:$port" abort \
      --topic "$topic" --partition "$partition" --start-offset "$start" >/dev/null 2>&1 ||
      die "abort of $topic-$partition at $start failed"
    say "aborted the transaction open on $topic-$partition since offset $start"
  done <<<"$rows"
}

usage() {
  echo "usage: bash scripts/kafka.sh {install|start|stop|status|reset|logs [-f|N]|hanging [--abort]}" >&2
  echo "  KAFKA_HOME=$KAFKA_HOME  KAFKA_PORT=$KAFKA_PORT  KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT" >&2
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  install) with_lock; do_install ;;
  start) do_start ;;
  stop) with_lock; do_stop ;;
  status) do_status ;;
  reset) do_reset ;;
  logs) do_logs "$@" ;;
  hanging) do_hanging "$@" ;;
  -h | --help | help) usage ;;
  *) usage; exit 2 ;;
esac
