#!/usr/bin/env bash
# End-to-end scaling figures on examples/mylearning with its target-tracking policy
# (ASGAverageCPUUtilization = 50, updraft's fast alarms): time from a load step to the
# scale-out decision, to the new capacity serving (healthy behind the ALB), and the scale-in
# after the load stops, with a light client running throughout that must see no failed request.
#
#   bash bench/scale-out.sh                      # RATE=30 WORK=20 HOLD=30 by default
#   RATE=60 WORK=20 HOLD=60 bash bench/scale-out.sh
#   UPDRAFT=target/debug/updraft bash bench/scale-out.sh   # without a release build
#
# It runs `updraft up examples/mylearning/main.tf` in a temporary state directory (the
# listener and database ports are chosen free; the database is real PostgreSQL, so Debian's
# postgresql package must be installed), waits for the group's 3 instances to be healthy,
# then runs two `updraft load`s: a light one (GET /api/courses at 10 req/s) for the whole run,
# and the step (POST /api/quiz/grade, `work` units of CPU each, at RATE req/s for HOLD s).
# `updraft status --json` is polled every 0.25 s for the capacity; `updraft activities web`
# gives the decisions. Everything stops (`updraft down`) and the directory is removed at the
# end. Needs python3. Each instance is held to its t3.micro allowance by a cgroup quota; on a
# host where updraft logs "instances run without limits" (no writable cgroups), set
# ALLOWANCE=1 to have MyLearning pace itself to the same allowance (MYLEARNING_CPU_MILLICORES),
# so that new instances add capacity.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-30}
WORK=${WORK:-20}
HOLD=${HOLD:-30}
LIGHT_RATE=${LIGHT_RATE:-10}
SCALE_IN_LIMIT=${SCALE_IN_LIMIT:-120}
ALLOWANCE=${ALLOWANCE:-0}

command -v python3 >/dev/null || { echo "error: python3 is missing" >&2; exit 1; }
if [ -z "${UPDRAFT:-}" ]; then
  cargo build --release -p cli -p mylearning --quiet
  UPDRAFT=$PWD/target/release/updraft
fi
[ -x "$UPDRAFT" ] || { echo "error: $UPDRAFT is not an executable (build it, or set UPDRAFT)" >&2; exit 1; }
[ -x "$(dirname "$UPDRAFT")/mylearning" ] || { echo "error: mylearning is not next to $UPDRAFT (cargo build -p mylearning with the same profile)" >&2; exit 1; }

# PostgreSQL runs as the `postgres` user: every directory above its data must be searchable.
DIR=$(mktemp -d /var/tmp/updraft-bench-scale.XXXXXX)
chmod 755 "$DIR"
UP_PID=""; LIGHT_PID=""; POLL_PID=""
cleanup() {
  for pid in "$POLL_PID" "$LIGHT_PID"; do
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  if [ -n "$UP_PID" ]; then
    "$UPDRAFT" --state-dir "$DIR/state" down >/dev/null 2>&1 || true
    for _ in $(seq 1 300); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.1; done
    kill "$UP_PID" 2>/dev/null || true; wait "$UP_PID" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
DB_PORT=$(free_port)
up() { "$UPDRAFT" --state-dir "$DIR/state" "$@"; }
status_json() { up status --json 2>/dev/null || true; }

CONFIG=examples/mylearning/main.tf
if [ "$ALLOWANCE" = 1 ]; then
  mkdir -p "$DIR/config"
  sed 's/^\( *\)exec mylearning$/\1export MYLEARNING_CPU_MILLICORES=160\n\1exec mylearning/' \
    examples/mylearning/main.tf > "$DIR/config/main.tf"
  CONFIG=$DIR/config/main.tf
fi

echo "updraft up $CONFIG (listener 127.0.0.1:$PORT, database port $DB_PORT) ..." >&2
up up "$CONFIG" -var "listener_port=$PORT" -var "db_port=$DB_PORT" >"$DIR/up.log" 2>&1 &
UP_PID=$!

# Polls the stack: one line per sample, "ms desired healthy_targets".
poll() {
  while :; do
    status_json | python3 -c '
import json, sys, time
try:
    s = json.load(sys.stdin)
except Exception:
    sys.exit(0)
g = [g for g in s.get("auto_scaling_groups", []) if g.get("name") == "web"]
tg = s.get("target_groups", [])
healthy = sum(1 for t in (tg[0].get("targets", []) if tg else []) if t.get("state") == "healthy")
print(int(time.time() * 1000), g[0]["desired_capacity"] if g else 0, healthy, flush=True)
'
    sleep 0.25
  done
}

deadline=$((SECONDS + 300))
until [ "$(status_json | python3 -c 'import json,sys
try: s=json.load(sys.stdin)
except Exception: print(0); sys.exit()
tg=s.get("target_groups",[]); print(sum(1 for t in (tg[0].get("targets",[]) if tg else []) if t.get("state")=="healthy"))')" -ge 3 ]; do
  if [ $SECONDS -ge $deadline ] || ! kill -0 "$UP_PID" 2>/dev/null; then
    echo "error: the stack did not become healthy in 300 s; its log:" >&2; tail -40 "$DIR/up.log" >&2; exit 1
  fi
  sleep 0.5
done
# The app answers /health before its database is ready: wait until the light path answers.
python3 - "$PORT" <<'PY' || { echo "error: GET /api/courses never answered 200; the stack's log:" >&2; tail -40 "$DIR/up.log" >&2; exit 1; }
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/api/courses"
ok, deadline = 0, time.time() + 120
while ok < 10 and time.time() < deadline:
    try:
        ok = ok + 1 if urllib.request.urlopen(url, timeout=5).status == 200 else 0
    except Exception:
        ok = 0
    time.sleep(0.1)
sys.exit(0 if ok >= 10 else 1)
PY
echo "3 healthy instances; light client at $LIGHT_RATE req/s, then the step: $RATE req/s of work=$WORK for ${HOLD}s" >&2

poll >"$DIR/poll.txt" &
POLL_PID=$!
up load "http://127.0.0.1:$PORT/api/courses" --rate "$LIGHT_RATE" \
  --duration "$((HOLD + SCALE_IN_LIMIT + 20))s" --quiet --json "$DIR/light.json" >"$DIR/light.out" 2>&1 &
LIGHT_PID=$!
sleep 3
STEP_MS=$(python3 -c 'import time; print(int(time.time()*1000))')
up load "http://127.0.0.1:$PORT/api/quiz/grade" -X POST -H 'content-type: application/json' \
  --body "{\"answers\":[1,0,3,2,2,1,0,3,1,2],\"work\":$WORK}" \
  --rate "$RATE" --duration "${HOLD}s" --connections 256 --timeout 30s --quiet \
  --json "$DIR/heavy.json" >"$DIR/heavy.out" 2>&1 || true
STOP_MS=$(python3 -c 'import time; print(int(time.time()*1000))')
echo "load stopped; waiting (up to ${SCALE_IN_LIMIT}s) for the group to scale back in to 3" >&2
deadline=$((SECONDS + SCALE_IN_LIMIT))
while [ $SECONDS -lt $deadline ]; do
  last=$(tail -1 "$DIR/poll.txt" 2>/dev/null || true)
  set -- $last
  if [ "${2:-0}" = 3 ] && [ "${3:-0}" = 3 ]; then break; fi
  sleep 1
done
sleep 2
kill "$POLL_PID" 2>/dev/null || true; wait "$POLL_PID" 2>/dev/null || true; POLL_PID=""
kill -INT "$LIGHT_PID" 2>/dev/null || true
for _ in $(seq 1 100); do kill -0 "$LIGHT_PID" 2>/dev/null || break; sleep 0.1; done
wait "$LIGHT_PID" 2>/dev/null || true; LIGHT_PID=""
up activities web --limit 50 >"$DIR/activities.txt" 2>&1 || true

python3 - "$DIR" "$STEP_MS" "$STOP_MS" "$RATE" "$WORK" <<'PY'
import json, os, re, sys
from datetime import datetime, timezone
d, step, stop, rate, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = []
for line in open(os.path.join(d, "poll.txt")):
    p = line.split()
    if len(p) == 3:
        rows.append(tuple(int(x) for x in p))
def first(pred, after):
    for ms, desired, healthy in rows:
        if ms >= after and pred(desired, healthy):
            return ms
    return None
decided = first(lambda de, h: de > 3, step)
serving = first(lambda de, h: h > 3, step)
peak = max((de for ms, de, h in rows if ms >= step), default=0)
scaled_in = first(lambda de, h: de == 3 and h == 3, stop)
acts = open(os.path.join(d, "activities.txt")).read()
# The decision's own timestamp, from its AWS-style cause ("At 2026-…Z a monitor alarm …").
cause = re.findall(r"At (\S+Z) a monitor alarm (\S+AlarmHigh\S*) in state ALARM triggered policy (\S+) changing the desired capacity from (\d+) to (\d+)", acts)
def load(name):
    try:
        return json.load(open(os.path.join(d, name)))
    except Exception:
        return {}
heavy, light = load("heavy.json"), load("light.json")
light_start = int(datetime.strptime(light.get("started_at") or "1970-01-01T00:00:00Z", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp() * 1000)
def s(ms):
    return "not seen" if ms is None else f"{ms / 1000:.1f} s"
print(f"examples/mylearning, target tracking ASGAverageCPUUtilization = 50 (fast alarms); "
      f"step to {rate} req/s of work={work} on 3 instances")
print(f"  time to decision (step → desired > 3):        {s(decided - step if decided else None)}"
      + (f"  (desired 3 → {peak} at peak)" if peak else ""))
if cause:
    at = datetime.strptime(cause[-1][0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    print(f"  decision recorded by {cause[-1][2]}: alarm {cause[-1][1]} → desired {cause[-1][3]} → {cause[-1][4]} "
          f"(activity at {cause[-1][0]}, 1-second resolution)")
print(f"  time to new capacity serving (step → > 3 healthy targets): {s(serving - step if serving else None)}")
print(f"  scale-in after the load stopped (→ 3 desired, 3 healthy): {s(scaled_in - stop if scaled_in else None)}")
for name, r in (("heavy (step)", heavy), ("light (whole run)", light)):
    q = r.get("requests", {})
    lat = r.get("latency_ms") or {}
    print(f"  {name}: {q.get('completed', 0)} requests, {q.get('errors', 0)} failed, "
          f"p50 {lat.get('p50', 0):.0f} ms, p99 {lat.get('p99', 0):.0f} ms; "
          f"status {r.get('status_codes', {})}, failures {dict((k, v) for k, v in q.get('failures', {}).items() if v)}")
    if q.get("errors"):
        bad = [p["t"] for p in r.get("timeline", []) if p.get("errors")]
        print(f"    errors in seconds {bad} of the run (step at {(step - light_start) / 1000:.0f} s, stop at {(stop - light_start) / 1000:.0f} s)" if name.startswith("light") else f"    errors in seconds {bad}")
ok = decided is not None and serving is not None and scaled_in is not None and light.get("requests", {}).get("errors", 1) == 0
print("  verdict: " + ("scaled out, served, scaled back in without a failed light request" if ok else "NOT all of the above; see the figures"))
sys.exit(0 if ok else 1)
PY
