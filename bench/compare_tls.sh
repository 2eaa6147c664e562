#!/usr/bin/env bash
# Side-by-side TLS termination: sluice vs nginx vs HAProxy, one worker each, pinned to the same
# core (PROXY_CPU), the same ECDSA P-256 certificate (made here with openssl), the same plain
# backend (nginx answering `200 "ok\n"`, pinned to BACKEND_CPU).
#
# Two measurements per proxy:
#   keep-alive   wrk over https (one TLS session per connection, many requests): requests/s and
#                the proxy's CPU µs per request (utime+stime from /proc/PID/stat)
#   handshakes   `openssl s_time -new` (a full handshake per connection, no resumption):
#                handshakes/s of one client and the proxy's CPU µs per handshake
#
# Usage: bench/compare_tls.sh        Environment (defaults in brackets):
#   DURATION [10s] wrk run; HS_TIME [5] s_time seconds; CONNECTIONS [64]; ONLY ["sluice nginx
#   haproxy"]; SLUICE_BIN [build/release/sluice]; PROXY_CPU [0]; BACKEND_CPU / LOAD_CPUS [last
#   CPU]; KEEP_TMP=1 keeps the temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DURATION=${DURATION:-10s}
HS_TIME=${HS_TIME:-5}
CONNECTIONS=${CONNECTIONS:-64}
ONLY=${ONLY:-sluice nginx haproxy}
SLUICE_BIN=${SLUICE_BIN:-$ROOT/build/release/sluice}
NCPU=$(nproc)
PROXY_CPU=${PROXY_CPU:-0}
BACKEND_CPU=${BACKEND_CPU:-$((NCPU - 1))}
LOAD_CPUS=${LOAD_CPUS:-$BACKEND_CPU}
KEEP_TMP=${KEEP_TMP:-0}
TICK_US=$((1000000 / $(getconf CLK_TCK)))

for t in wrk openssl nginx haproxy; do
  command -v "$t" >/dev/null || { echo "compare_tls.sh: $t not found" >&2; exit 2; }
done
T=$(mktemp -d /tmp/sluice-tls-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ $KEEP_TMP == 1 ]] || rm -rf "$T"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "port $1 did not open" >&2
  return 1
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -keyout "$T/key.pem" -out "$T/cert.pem" -subj /CN=bench.test \
  -addext subjectAltName=DNS:bench.test 2>/dev/null
cat "$T/cert.pem" "$T/key.pem" >"$T/combined.pem"

# Backend: plain HTTP.
BP=$(free_port)
mkdir -p "$T/backend"
cat >"$T/backend.conf" <<EOF
worker_processes 1; daemon off; pid $T/backend/nginx.pid; error_log $T/backend/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $T/backend; proxy_temp_path $T/backend;
  fastcgi_temp_path $T/backend; uwsgi_temp_path $T/backend; scgi_temp_path $T/backend;
  server { listen 127.0.0.1:$BP; keepalive_requests 1000000; location / { return 200 "ok\n"; } } }
EOF
taskset -c "$BACKEND_CPU" nginx -c "$T/backend.conf" -e "$T/backend/error.log" &
PIDS+=($!)
wait_port "$BP"

start_proxy() {  # name port → sets PROXY_PID
  local name=$1 port=$2
  case $name in
    sluice)
      cat >"$T/sluice.yaml" <<EOF
workers: 1
listeners:
  - address: 127.0.0.1:$port
    tls:
      certificates: [{cert: $T/cert.pem, key: $T/key.pem}]
upstreams:
  - name: b
    targets: [{address: 127.0.0.1:$BP}]
routes:
  - name: all
    match: {path: "/{*rest}"}
    upstream: b
EOF
      taskset -c "$PROXY_CPU" "$SLUICE_BIN" run --config "$T/sluice.yaml" >"$T/sluice.log" 2>&1 &
      PROXY_PID=$! ;;
    nginx)
      mkdir -p "$T/nginx"
      cat >"$T/nginx.conf" <<EOF
worker_processes 1; daemon off; master_process off; pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $T/nginx; proxy_temp_path $T/nginx;
  fastcgi_temp_path $T/nginx; uwsgi_temp_path $T/nginx; scgi_temp_path $T/nginx;
  upstream b { server 127.0.0.1:$BP; keepalive 64; }
  server { listen 127.0.0.1:$port ssl; keepalive_requests 1000000;
    ssl_certificate $T/cert.pem; ssl_certificate_key $T/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
EOF
      taskset -c "$PROXY_CPU" nginx -c "$T/nginx.conf" -e "$T/nginx/error.log" &
      PROXY_PID=$! ;;
    haproxy)
      cat >"$T/haproxy.cfg" <<EOF
global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend f
  bind 127.0.0.1:$port ssl crt $T/combined.pem
  default_backend b
backend b
  server s1 127.0.0.1:$BP
EOF
      taskset -c "$PROXY_CPU" haproxy -db -f "$T/haproxy.cfg" >"$T/haproxy.log" 2>&1 &
      PROXY_PID=$! ;;
  esac
  PIDS+=("$PROXY_PID")
  wait_port "$port"
}

printf '%-8s %12s %16s %14s %18s\n' proxy "ka req/s" "ka CPU µs/req" "handshakes/s" "CPU µs/handshake"
for name in $ONLY; do
  port=$(free_port)
  start_proxy "$name" "$port"
  url="https://127.0.0.1:$port/bench"
  taskset -c "$LOAD_CPUS" wrk -t1 -c "$CONNECTIONS" -d 2s "$url" >/dev/null  # warm-up
  c0=$(cpu_ticks "$PROXY_PID")
  taskset -c "$LOAD_CPUS" wrk -t1 -c "$CONNECTIONS" -d "$DURATION" "$url" >"$T/$name-wrk.txt"
  c1=$(cpu_ticks "$PROXY_PID")
  reqs=$(awk '/requests in/ {print $1}' "$T/$name-wrk.txt")
  rps=$(awk '/Requests\/sec/ {print $2}' "$T/$name-wrk.txt")
  ka_us=$(awk -v c=$((c1 - c0)) -v n="$reqs" -v t="$TICK_US" 'BEGIN { printf "%.1f", c * t / n }')
  c0=$(cpu_ticks "$PROXY_PID")
  taskset -c "$LOAD_CPUS" openssl s_time -connect "127.0.0.1:$port" -new -time "$HS_TIME" \
    >"$T/$name-stime.txt" 2>&1 || true
  c1=$(cpu_ticks "$PROXY_PID")
  conns=$(awk '/connections in/ && !done {print $1; done=1}' "$T/$name-stime.txt")
  hs=$(awk -v n="${conns:-0}" -v t="$HS_TIME" 'BEGIN { printf "%.0f", n / t }')
  hs_us=$(awk -v c=$((c1 - c0)) -v n="${conns:-0}" -v t="$TICK_US" \
    'BEGIN { if (n > 0) printf "%.0f", c * t / n; else print "n/a" }')
  printf '%-8s %12s %16s %14s %18s\n' "$name" "$rps" "$ka_us" "$hs" "$hs_us"
  kill "$PROXY_PID" 2>/dev/null || true
  wait "$PROXY_PID" 2>/dev/null || true
done
