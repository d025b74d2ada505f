#!/usr/bin/env bash
# CPU per request of `updraft load` against wrk, on the same fast backend on loopback.
#
#   bash bench/loadgen.sh              # REPS=5 DURATION=5 CONNS=50 RATE=15000 by default
#   REPS=9 DURATION=10 bash bench/loadgen.sh
#
# Backend: nginx (apt-get install nginx-light) with one worker pinned to CPU 1, answering a
# 12-byte 200. Clients are pinned to CPU 0 with one thread each, so they compete only with the
# rest of the machine. Client CPU (user + system, from /usr/bin/time) divided by the requests it
# completed is the figure; wall-clock throughput on a shared VM swings too much to compare.
# Runs alternate between tools, and the script prints medians and ratios against wrk measured
# in the same run. Needs: wrk, nginx, taskset, /usr/bin/time, python3; a release build.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
RATE=${RATE:-15000}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}

for tool in wrk nginx taskset /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install -y wrk nginx-light util-linux time python3)" >&2; exit 1; }
done
cargo build --release -p cli --quiet
UPDRAFT=$PWD/target/release/updraft

WORK=$(mktemp -d /tmp/updraft-bench-loadgen.XXXXXX)
NGINX_PID=""
cleanup() {
  if [ -n "$NGINX_PID" ]; then kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $WORK;
  proxy_temp_path $WORK;
  fastcgi_temp_path $WORK;
  uwsgi_temp_path $WORK;
  scgi_temp_path $WORK;
  server {
    listen 127.0.0.1:$PORT;
    location / { return 200 "hello world\n"; }
  }
}
CONF
taskset -c "$SERVER_CPU" nginx -c "$WORK/nginx.conf" -e "$WORK/error.log" &
NGINX_PID=$!
for _ in $(seq 1 50); do
  (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
  sleep 0.1
done
URL=http://127.0.0.1:$PORT/

# cpu_us_per_request NAME REQUESTS TIMEFILE → appends "NAME µs/req" to results
record() {
  local name=$1 requests=$2 timefile=$3
  python3 - "$name" "$requests" "$timefile" >>"$WORK/results" <<'PY'
import sys
name, requests, timefile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
user, system = map(float, open(timefile).read().split()[-2:])
print(f"{name} {(user + system) * 1e6 / max(requests, 1):.3f} {requests} {user + system:.2f}")
PY
}

echo "backend nginx on CPU $SERVER_CPU at $URL; clients on CPU $CLIENT_CPU; $REPS × ${DURATION}s, $CONNS connections"
for rep in $(seq 1 "$REPS"); do
  taskset -c "$CLIENT_CPU" /usr/bin/time -f '%U %S' -o "$WORK/t" \
    wrk -t1 -c"$CONNS" -d"${DURATION}s" "$URL" >"$WORK/wrk.out"
  requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
  record wrk "$requests" "$WORK/t"

  taskset -c "$CLIENT_CPU" /usr/bin/time -f '%U %S' -o "$WORK/t" \
    "$UPDRAFT" --state-dir "$WORK/state" load "$URL" --closed -c "$CONNS" --threads 1 \
    --duration "${DURATION}s" --json "$WORK/closed.json" -q >/dev/null
  requests=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"]["completed"])' "$WORK/closed.json")
  record updraft-closed "$requests" "$WORK/t"

  taskset -c "$CLIENT_CPU" /usr/bin/time -f '%U %S' -o "$WORK/t" \
    "$UPDRAFT" --state-dir "$WORK/state" load "$URL" --rate "$RATE" -c "$CONNS" --threads 1 \
    --duration "${DURATION}s" --json "$WORK/open.json" -q >/dev/null
  requests=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"]["completed"])' "$WORK/open.json")
  record "updraft-open@$RATE" "$requests" "$WORK/t"
  tail -n 3 "$WORK/results" | sed "s/^/  rep $rep: /"
done

python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, us, requests, cpu = line.split()
    rows.setdefault(name, []).append((float(us), int(requests)))
base = statistics.median(u for u, _ in rows["wrk"])
print()
print(f"{'client':<24}{'median µs/req':>14}{'× wrk':>8}{'median req/s/core':>20}{'runs':>6}")
for name, values in rows.items():
    us = statistics.median(u for u, _ in values)
    print(f"{name:<24}{us:>14.2f}{us / base:>8.2f}{1e6 / us:>20,.0f}{len(values):>6}")
PY
