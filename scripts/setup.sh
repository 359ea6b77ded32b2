#!/usr/bin/env bash
# Sets up a fresh machine for clickstream, idempotently: the native Kafka client (prebuilt binary
# when it can be downloaded, else built from source against Debian's libraries, which are
# installed only then), npm packages, the TypeScript build and the Kafka broker's jars.
# Nothing here needs a human: a missing tool we cannot install is named in one line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

native_libs=(libssl-dev libsasl2-dev libzstd-dev liblz4-dev zlib1g-dev libcurl4-openssl-dev pkg-config)

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_updated=0
apt_install() {
  can_apt || return 1
  # apt's own chatter (debconf, needrestart) goes to a log, shown only if the install fails.
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >.setup-apt.log 2>&1 || { tail -n 20 .setup-apt.log >&2; return 1; }
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a apt-get install -y -qq --no-install-recommends "$@" >>.setup-apt.log 2>&1 \
    || { tail -n 20 .setup-apt.log >&2; return 1; }
  rm -f .setup-apt.log
}

# --- Node.js 20+ -----------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "missing: Node.js 20 or newer (https://nodejs.org) and npm"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node -v) is too old: clickstream needs Node.js 20 or newer"

# --- npm packages, with the native Kafka client ------------------------------------------------
client_loads() { node -e "require('@confluentinc/kafka-javascript')" >/dev/null 2>&1; }
stamp=node_modules/.clickstream-setup
want_stamp="$(sha256sum package-lock.json | cut -d' ' -f1) node-$(node -v)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] && client_loads; then
  say "npm packages up to date"
else
  say "installing npm packages"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  # Try the prebuilt binary alone first: if it downloads, no compiler or system library is needed.
  if (cd node_modules/@confluentinc/kafka-javascript && node ../../@mapbox/node-pre-gyp/bin/node-pre-gyp install >/dev/null 2>&1); then
    say "native Kafka client: prebuilt binary"
  else
    missing=()
    for pkg in "${native_libs[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    if [ "${#missing[@]}" -gt 0 ]; then
      if command -v dpkg >/dev/null 2>&1 && can_apt; then
        say "native Kafka client: no prebuilt binary here; installing ${missing[*]}"
        apt_install "${missing[@]}" || die "apt-get could not install ${missing[*]}"
      else
        say "native Kafka client: no prebuilt binary here; building from source (needs OpenSSL, SASL, zstd, lz4, zlib, curl headers and pkg-config)"
      fi
    fi
    say "native Kafka client: building librdkafka from source (about 70 s)"
  fi
  # Runs every package's install script; the Kafka client's skips itself if its binary is in place.
  CKJS_LINKING=dynamic npm rebuild --no-audit --no-fund --loglevel=error >/dev/null 2>.setup-npm.log \
    || { tail -n 30 .setup-npm.log >&2; die "npm rebuild failed (log above)"; }
  rm -f .setup-npm.log
  client_loads || die "the native Kafka client does not load after install; see npm's output above"
  echo "$want_stamp" > "$stamp"
fi

# --- TypeScript build --------------------------------------------------------------------------
say "building"
npm run --silent build

# --- Chromium for the dashboard's browser test (Debian's package; nothing downloads a browser) ----
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  if command -v dpkg >/dev/null 2>&1 && can_apt; then
    say "installing Debian's chromium (for the dashboard browser test)"
    apt_install chromium || die "apt-get could not install chromium"
  else
    say "note: no Chromium at ${CHROMIUM_PATH:-/usr/bin/chromium}; the dashboard browser test needs one (set CHROMIUM_PATH)"
  fi
fi

# --- Kafka broker jars (Java 17 + Maven; installed with apt where we can) ---------------------
bash scripts/kafka.sh install
say "done"
