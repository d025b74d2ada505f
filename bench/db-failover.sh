#!/usr/bin/env bash
# The database failover proof as one command: brings up examples/mylearning (a Multi-AZ
# PostgreSQL primary, its synchronous standby and a read replica, plus the web tier) in a
# scratch state directory, runs `updraft db drill` (a client writing numbered rows through the
# writer endpoint while the primary is SIGKILLed, or its AZ stopped, again and again), prints
# the report, and stops everything.
#
#   bench/db-failover.sh                 # 20 SIGKILL failovers
#   bench/db-failover.sh 20 stop-az      # 20 AZ outages of the primary's zone
#
# Needs Debian's postgresql package. Builds the release binaries first. Bounded: the drill
# gives up after 60 s without writes in any round.
set -euo pipefail
cd "$(dirname "$0")/.."
FAILOVERS="${1:-20}"
MODE="${2:-kill}"
cargo build --release -p cli -p mylearning >&2
BIN=./target/release/updraft
STATE="$(mktemp -d /tmp/updraft-db-bench.XXXXXX)"
chmod 755 "$STATE"
cleanup() {
  "$BIN" --state-dir "$STATE" down >/dev/null 2>&1 || true
  for _ in $(seq 1 100); do
    [ -e "$STATE/daemon.json" ] || break
    sleep 0.2
  done
  rm -rf "$STATE"
}
trap cleanup EXIT
"$BIN" --state-dir "$STATE" up examples/mylearning >"$STATE/up.log" 2>&1 &
for _ in $(seq 1 300); do
  "$BIN" --state-dir "$STATE" db endpoints >/dev/null 2>&1 && break
  sleep 0.2
done
"$BIN" --state-dir "$STATE" db drill --failovers "$FAILOVERS" --mode "$MODE" --json "${DRILL_JSON:-/dev/null}"
