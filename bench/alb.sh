#!/usr/bin/env bash
# The load balancer benchmark: wrk against
#   (a) the backend directly, (b) nginx, (c) HAProxy — both as keep-alive reverse proxies —
#   and (d) updraft (release build), each proxy alone on CPU 1 with one worker,
#   wrk and the backend on CPU 0; REPS repetitions, medians, printed as ratios to (a).
# With each run, the serving process's CPU time per request (user and system, /proc/PID/stat):
# it shows where a request's cost is — most of it is the kernel's loopback TCP work, the same
# for every proxy. Then the memory per idle client connection: RSS growth of each proxy with
# IDLE connections that each sent one request and stay open.
#
# Needs (Debian packages; this script installs nothing): nginx haproxy wrk util-linux (taskset)
# python3, and a release build: `cargo build --release -p cli`.
# Run:  bash bench/alb.sh            (REPS=3 DURATION=10 CONNS=64 IDLE=10000 by default)
# Loopback only; every process it starts is stopped at exit (by pid).
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
IDLE=${IDLE:-10000}
UPDRAFT=${UPDRAFT:-$PWD/target/release/updraft}
CPU_LB=${CPU_LB:-1}
CPU_LOAD=${CPU_LOAD:-0}

for tool in nginx haproxy wrk taskset python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y nginx haproxy wrk util-linux python3" >&2; exit 2; }
done
[ -x "$UPDRAFT" ] || { echo "missing $UPDRAFT: cargo build --release -p cli" >&2; exit 2; }

WORK=$(mktemp -d /tmp/updraft-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
BACKEND=$(free_port); NGINX=$(free_port); HAPROXY=$(free_port); UD=$(free_port)

wait_port() {
  for _ in $(seq 1 200); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on $1" >&2; return 1
}

# --- backend: nginx answering "ok\n", one worker, on the load core ---
mkdir -p "$WORK/backend"
cat > "$WORK/backend/nginx.conf" <<EOF
worker_processes 1; daemon off; pid $WORK/backend/nginx.pid; error_log $WORK/backend/error.log;
events { worker_connections 20000; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$BACKEND; location / { return 200 "ok\n"; } } }
EOF
taskset -c "$CPU_LOAD" nginx -c "$WORK/backend/nginx.conf" -p "$WORK/backend" & PIDS+=($!)

# --- nginx as a keep-alive reverse proxy ---
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes 1; daemon off; pid $WORK/nginx/nginx.pid; error_log $WORK/nginx/error.log;
events { worker_connections 20000; }
http { access_log off; keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:$BACKEND; keepalive 128; }
  server { listen 127.0.0.1:$NGINX;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
EOF
taskset -c "$CPU_LB" nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & PIDS+=($!)

# --- HAProxy, same role ---
HAPROXY_MAXCONN=$(( ($(ulimit -n) - 100) / 2 ))
[ "$HAPROXY_MAXCONN" -gt 30000 ] && HAPROXY_MAXCONN=30000
cat > "$WORK/haproxy.cfg" <<EOF
global
  nbthread 1
  # HAProxy refuses to start when 2 × maxconn does not fit the fd limit (20000 on some hosts).
  maxconn $HAPROXY_MAXCONN
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:$HAPROXY
  default_backend be
backend be
  server s1 127.0.0.1:$BACKEND
EOF
taskset -c "$CPU_LB" haproxy -f "$WORK/haproxy.cfg" -db & PIDS+=($!)

# --- updraft: an ALB with one static ip target (the backend), no auto scaling group ---
mkdir -p "$WORK/updraft"
cat > "$WORK/updraft/main.tf" <<EOF
resource "aws_subnet" "a" {
  availability_zone = "us-east-1a"
  cidr_block        = "127.0.1.0/24"
}
resource "aws_subnet" "b" {
  availability_zone = "us-east-1b"
  cidr_block        = "127.0.2.0/24"
}
resource "aws_lb" "bench" {
  subnets = [aws_subnet.a.id, aws_subnet.b.id]
}
resource "aws_lb_target_group" "backend" {
  port        = $BACKEND
  target_type = "ip"
  health_check {
    interval = 30
  }
}
resource "aws_lb_target_group_attachment" "nginx" {
  target_group_arn = aws_lb_target_group.backend.arn
  target_id        = "127.0.0.1"
}
resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.bench.arn
  port              = $UD
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.backend.arn
  }
}
EOF
TOKIO_WORKER_THREADS=1 RUST_LOG=warn taskset -c "$CPU_LB" "$UPDRAFT" --state-dir "$WORK/updraft/state" up "$WORK/updraft/main.tf" \
  > "$WORK/updraft/up.log" 2>&1 & PIDS+=($!)
UPDRAFT_PID=$!

for p in $BACKEND $NGINX $HAPROXY $UD; do wait_port "$p"; done
# updraft's target must have passed its first health check.
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$UD/" >/dev/null 2>&1 && break
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$UD/',timeout=1)" 2>/dev/null && break
  sleep 0.1
done

echo "loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)   ($(nproc) cores; the machine may be shared)"
echo "wrk -t2 -c$CONNS -d${DURATION}s --latency, $REPS runs each; proxies pinned to CPU $CPU_LB, wrk + backend to CPU $CPU_LOAD"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
proxy_pid() { # the process that listens on port $1
  python3 - "$1" <<'PY'
import os, sys
port = int(sys.argv[1])
inodes = set()
for f in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(f).read().splitlines()[1:]:
        p = line.split()
        if int(p[1].split(":")[1], 16) == port and p[3] == "0A":
            inodes.add(p[9])
for pid in os.listdir("/proc"):
    if not pid.isdigit(): continue
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:[") and link[8:-1] in inodes:
                print(pid); sys.exit(0)
    except OSError:
        pass
PY
}
# The process that serves a port (nginx: its worker, the master's child that holds the socket).
serving_pid() {
  local pid child
  pid=$(proxy_pid "$2")
  if [ "$1" = nginx ] || [ "$1" = direct ]; then child=$(pgrep -P "$pid" | head -1); pid=${child:-$pid}; fi
  echo "$pid"
}
# utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15).
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)

# run NAME PORT -> appends "rps p99_ms" lines to $WORK/NAME.txt
run() {
  local name=$1 port=$2 out pid u0 s0 u1 s1
  pid=$(serving_pid "$name" "$port")
  taskset -c "$CPU_LOAD" wrk -t2 -c"$CONNS" -d2s "http://127.0.0.1:$port/" >/dev/null 2>&1 || true  # warm-up
  read -r u0 s0 < <(cpu_ticks "$pid")
  out=$(taskset -c "$CPU_LOAD" wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/")
  read -r u1 s1 < <(cpu_ticks "$pid")
  local rps p99 errors n cpu
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  # CPU time of the serving process per request, in µs: user, system.
  cpu=$(awk -v n="$n" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v t="$TCK" 'BEGIN {printf "%.2f %.2f", u/t/n*1e6, s/t/n*1e6}')
  echo "$rps $p99 $cpu" >> "$WORK/$name.txt"
  printf '  %-8s run: %10s req/s  p99 %8s ms  CPU/req user %s µs sys %s µs  %s\n' "$name" "$rps" "$p99" ${cpu} "$errors"
}

for rep in $(seq 1 "$REPS"); do
  echo "repetition $rep (loadavg $(cut -d' ' -f1 /proc/loadavg))"
  run direct "$BACKEND"
  run nginx "$NGINX"
  run haproxy "$HAPROXY"
  run updraft "$UD"
done

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
printf '%-9s %12s %10s %12s %22s   %s\n' "path" "median req/s" "÷ direct" "median p99" "CPU µs/req user+sys" "all runs (req/s)"
DIRECT=$(cut -d' ' -f1 "$WORK/direct.txt" | median)
for name in direct nginx haproxy updraft; do
  rps=$(cut -d' ' -f1 "$WORK/$name.txt" | median)
  p99=$(cut -d' ' -f2 "$WORK/$name.txt" | median)
  user=$(cut -d' ' -f3 "$WORK/$name.txt" | median)
  sys=$(cut -d' ' -f4 "$WORK/$name.txt" | median)
  all=$(cut -d' ' -f1 "$WORK/$name.txt" | tr '\n' ' ')
  printf '%-9s %12s %10s %10s ms %12s %9s   %s\n' "$name" "$rps" "$(awk -v a="$rps" -v b="$DIRECT" 'BEGIN {printf "%.2f", a/b}')" "$p99" \
    "$user+$sys" "$(awk -v a="$user" -v b="$sys" 'BEGIN {printf "= %.2f", a+b}')" "$all"
done
echo "(direct: the CPU of the backend nginx, which shares its core with wrk; for a proxy, its own core's time per request:"
echo " the kernel's loopback TCP work is in 'sys', the same for every proxy, and what a proxy adds is mostly 'user')"
BEST=$(for n in nginx haproxy; do cut -d' ' -f1 "$WORK/$n.txt" | median; done | sort -g | tail -1)
UDR=$(cut -d' ' -f1 "$WORK/updraft.txt" | median)
echo "updraft ÷ better of nginx and HAProxy: $(awk -v a="$UDR" -v b="$BEST" 'BEGIN {printf "%.2f", a/b}') (goal ≥ 1.15)"

# --- memory per idle client connection ---
cat > "$WORK/idle.py" <<'PY'
# Opens N keep-alive connections to 127.0.0.1:PORT one after the other, sends one request on
# each and reads its answer (so the proxy needs only a few upstream connections, and what grows
# is the cost of idle client connections), then holds them all open until stdin closes.
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
socks, failed = [], 0
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"ok\n"):
        chunk = s.recv(4096)
        if not chunk:
            failed += 1
            break
        data += chunk
    socks.append(s)
print(f"ready {n - failed} answered, {failed} closed", flush=True)
sys.stdin.read()
PY
echo
echo "memory per idle client connection ($IDLE connections, one request each, held open)"
for name in nginx haproxy updraft; do
  case $name in nginx) port=$NGINX;; haproxy) port=$HAPROXY;; updraft) port=$UD;; esac
  pid=$(serving_pid "$name" "$port")
  n=$IDLE
  # HAProxy accepts at most maxconn connections (bounded by the fd limit, see above).
  if [ "$name" = haproxy ] && [ "$n" -gt $((HAPROXY_MAXCONN - 10)) ]; then n=$((HAPROXY_MAXCONN - 10)); fi
  before=$(rss_kb "$pid")
  exec 3> >(taskset -c "$CPU_LOAD" python3 "$WORK/idle.py" "$port" "$n" > "$WORK/idle-$name.out")
  for _ in $(seq 1 600); do grep -q ready "$WORK/idle-$name.out" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  after=$(rss_kb "$pid")
  exec 3>&-
  sleep 1
  printf '  %-8s RSS %8s KB → %8s KB with %s: %6s bytes per idle connection\n' "$name" "$before" "$after" \
    "$(cat "$WORK/idle-$name.out")" "$(awk -v a="$after" -v b="$before" -v n="$n" 'BEGIN {printf "%.0f", (a-b)*1024/n}')"
done
echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)"
