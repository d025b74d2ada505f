#!/usr/bin/env bash
# Re-creates the generated parts of docs/ from a live MyLearning stack on this machine:
#   docs/architecture.{svg,png,mmd}    `updraft diagram` of the running stack
#   docs/architecture-az-down.png      the same stack while us-east-1a is powered off
#   docs/drills/*.txt                  `updraft chaos` reports, each drill under `updraft load`
#
# Usage: docs/generate.sh            (release build; PROFILE=debug for a faster build, or
#        BIN_DIR=dir docs/generate.sh to use updraft and mylearning binaries already built)
# Everything runs on loopback; the stack, the load and the drills stop by themselves, and the
# stack is taken down on exit (also on Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
if [ -n "${BIN_DIR:-}" ]; then
  export PATH="$BIN_DIR:$PATH"
  profile="binaries from $BIN_DIR"
elif [ "$profile" = release ]; then
  cargo build --release -p cli -p mylearning
  export PATH="$PWD/target/release:$PATH"
else
  cargo build -p cli -p mylearning
  export PATH="$PWD/target/$profile:$PATH"
fi

# Under /var/tmp and world-searchable: the stack's PostgreSQL servers run as user postgres.
state=$(mktemp -d "${TMPDIR:-/var/tmp}/updraft-docs.XXXXXX")
chmod 755 "$state"
port=${PORT:-18080}
updraft --state-dir "$state" up examples/mylearning -var "listener_port=$port" >"$state/up.log" 2>&1 &
up=$!
cleanup() {
  updraft --state-dir "$state" down >/dev/null 2>&1 || true
  wait "$up" 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT

healthy() { updraft --state-dir "$state" status --json 2>/dev/null | grep -c '"target_health": "healthy"' || true; }
wait_healthy() { # wait_healthy N: until N targets are healthy (at most 60 s)
  for _ in $(seq 1 300); do
    [ "$(healthy)" -ge "$1" ] && return 0
    sleep 0.2
  done
  echo "timed out waiting for $1 healthy targets; see $state/up.log" >&2
  exit 1
}
wait_healthy 3

# The web tier's drills load a route served by the instances alone (a static asset), so their
# reports measure the load balancer and the auto scaling group, whatever the database is doing.
url="http://127.0.0.1:$port/static/app.css"
# Some traffic first, so the diagram's request counts mean something.
updraft --state-dir "$state" load "$url" --rate 50 --duration 3s >/dev/null
updraft --state-dir "$state" diagram -o docs/architecture.svg
updraft --state-dir "$state" diagram -o docs/architecture.png
updraft --state-dir "$state" diagram --format mermaid -o docs/architecture.mmd

drill() { # drill NAME ARGS...: the drill under 100 req/s of load, report to docs/drills/NAME.txt
  local name=$1; shift
  updraft --state-dir "$state" load "$url" --rate 100 --duration "${LOAD:-40s}" \
    --threshold 'errors<=0.1%' >"$state/load-$name.txt" 2>&1 &
  local load=$!
  sleep 2
  {
    echo "\$ updraft chaos $*   # while: updraft load $url --rate 100 --threshold 'errors<=0.1%'"
    updraft --state-dir "$state" chaos "$@"
    echo
    echo "# updraft load, over the same time:"
    wait "$load" && echo "# threshold errors<=0.1% held" || echo "# threshold errors<=0.1% FAILED"
    grep -E 'requests|errors|p99|threshold' "$state/load-$name.txt" | sed 's/^/# /' | head -8
  } >"docs/drills/$name.txt" 2>&1
  wait_healthy 3
}

LOAD=20s drill kill-instance kill-instance
# The AZ outage, with a diagram taken while the zone is down.
( sleep 6; updraft --state-dir "$state" diagram -o docs/architecture-az-down.png >/dev/null 2>&1 ) &
LOAD=45s drill stop-az stop-az us-east-1a --duration 20s
LOAD=20s drill latency latency mylearning-web --delay 200ms --percent 50 --duration 10s
LOAD=20s drill errors errors mylearning-web --percent 5 --duration 10s
if [ "$(id -u)" = 0 ] && command -v nft >/dev/null; then
  LOAD=60s drill partition-az partition-az us-east-1c --duration 20s
fi
echo "docs regenerated from a live stack ($profile build)"
