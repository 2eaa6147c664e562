#!/usr/bin/env bash
# Side-by-side benchmark: sluice vs nginx vs HAProxy as HTTP/1.1 reverse proxies.
#
# Each proxy runs with one worker, pinned to the same core (PROXY_CPU), in front of the same
# backend (one nginx process answering `200 "ok\n"`, pinned to BACKEND_CPU), under the same wrk
# load (pinned to LOAD_CPUS). For each proxy it reports requests/s, p50/p99 latency, and CPU time
# per request of all the proxy's processes (from /proc/PID/stat) relative to HAProxy's.
# See bench/README.md for the method and how to read the numbers.
#
# Usage: bench/compare.sh [--sluice-config FILE]... [-h|--help]
#
# Environment (defaults in brackets):
#   DURATION      measured wrk run, any wrk -d value                      [10s]
#   WARMUP        warm-up wrk run before it                               [2s]
#   CONNECTIONS   wrk connections (keep-alive)                            [64]
#   THREADS       wrk threads                                             [1]
#   PROXY_CPU     core for the proxy under test                           [first allowed CPU]
#   BACKEND_CPU   core for the backend nginx                              [last allowed CPU]
#   LOAD_CPUS     cpu list for wrk (taskset -c syntax)   [the others; the backend's with 2 CPUs]
#   ROUTES        routes in sluice's config: ROUTES-1 non-matching "/api/v1/svcN/items/{id}"
#                 routes plus the catch-all                               [1]
#   ONLY          which of the built-in setups to run                     ["sluice nginx haproxy"]
#   BENCH_PATH    request path                                            [/bench]
#   SLUICE_BIN    sluice binary                               [build/release/sluice]
#   BASELINE_BIN  another sluice binary (the build before a change): its default-config run
#                 goes right after sluice's in every round, so the two share the machine's state
#                 and their ratio shows a regression through the noise                 [none]
#   REPEAT        rounds over all proxies (interleaved); the table shows each proxy's
#                 median run by CPU/request                               [1]
#   KEEP_TMP=1    keep the temp dir (configs, logs, raw wrk output); it is always kept on failure
#   BENCH_HEADERS request header lines sent by wrk and the check, one per line (an API key or a
#                 bearer token for the auth configs)                     [none]
#   WRK_SCRIPT    wrk Lua script (it must define done() like wrk-report.lua, e.g. by dofile)
#                                                                        [configs/wrk-report.lua]
#   CHECK         0 skips the check request through each proxy (for requests only the script
#                 can make, such as signed ones); wrk's non-2xx count still shows failures  [1]
#
# --sluice-config FILE benchmarks an extra sluice config (repeatable). In FILE, @LISTEN_PORT@,
# @ADMIN_PORT@ and @BACKEND_PORT@ are replaced by the ports of this run; its first listener is
# the address under test, and its routes must send BENCH_PATH to @BACKEND_PORT@. When a config
# names @REDIS_PORT@, a redis-server (pinned with the backend) is started for the run on that
# port (cluster rate limits).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CONF=$HERE/configs

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
ROUTES=${ROUTES:-1}
ONLY=${ONLY:-sluice nginx haproxy}
BENCH_PATH=${BENCH_PATH:-/bench}
SLUICE_BIN=${SLUICE_BIN:-$ROOT/build/release/sluice}
KEEP_TMP=${KEEP_TMP:-0}
REPEAT=${REPEAT:-1}

EXTRA_CONFIGS=()
while (($#)); do
  case $1 in
    --sluice-config)
      [[ $# -ge 2 ]] || { echo "compare.sh: --sluice-config needs a file" >&2; exit 2; }
      [[ -r $2 ]] || { echo "compare.sh: cannot read $2" >&2; exit 2; }
      EXTRA_CONFIGS+=("$(cd "$(dirname "$2")" && pwd)/$(basename "$2")")
      shift 2 ;;
    --sluice-config=*)
      f=${1#*=}
      [[ -r $f ]] || { echo "compare.sh: cannot read $f" >&2; exit 2; }
      EXTRA_CONFIGS+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")")
      shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "compare.sh: $*" >&2; exit 1; }
note() { echo "# $*"; }

for tool in nginx haproxy wrk curl taskset pgrep ss; do
  command -v "$tool" >/dev/null || die "'$tool' is not installed"
done
[[ $ROUTES =~ ^[1-9][0-9]*$ ]] || die "ROUTES must be a positive integer"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "REPEAT must be a positive integer"
for p in $ONLY; do
  case $p in sluice|nginx|haproxy) ;; *) die "ONLY: unknown proxy '$p'";; esac
done

# ---------------------------------------------------------------- CPUs
expand_cpus() {  # "0-2,5" -> "0 1 2 5"
  local part parts cpus=""
  IFS=, read -ra parts <<<"$1"
  for part in "${parts[@]}"; do
    if [[ $part == *-* ]]; then cpus+=" $(seq -s ' ' "${part%-*}" "${part#*-}")"; else cpus+=" $part"; fi
  done
  echo $cpus
}
read -ra ALLOWED <<<"$(expand_cpus "$(awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status)")"
((${#ALLOWED[@]} >= 2)) || die "needs at least 2 CPUs (has ${#ALLOWED[@]}): proxy and load must not share a core"
PROXY_CPU=${PROXY_CPU:-${ALLOWED[0]}}
if [[ -z ${BACKEND_CPU:-} ]]; then
  for c in "${ALLOWED[@]}"; do [[ $c == "$PROXY_CPU" ]] || BACKEND_CPU=$c; done
fi
if [[ -z ${LOAD_CPUS:-} ]]; then
  rest=()
  for c in "${ALLOWED[@]}"; do [[ $c == "$PROXY_CPU" || $c == "$BACKEND_CPU" ]] || rest+=("$c"); done
  if ((${#rest[@]})); then LOAD_CPUS=$(IFS=,; echo "${rest[*]}"); else LOAD_CPUS=$BACKEND_CPU; fi
fi
CPU_NOTES=()
for c in $(expand_cpus "$LOAD_CPUS"); do
  [[ $c == "$PROXY_CPU" ]] && CPU_NOTES+=("WARNING: wrk (LOAD_CPUS=$LOAD_CPUS) shares the proxy's core $PROXY_CPU; results are not meaningful")
  [[ $c == "$BACKEND_CPU" ]] && CPU_NOTES+=("wrk and the backend share core $BACKEND_CPU (only ${#ALLOWED[@]} CPUs): the proxy has its core to itself, but req/s and latency also reflect that shared core")
done
[[ $BACKEND_CPU == "$PROXY_CPU" ]] && CPU_NOTES+=("WARNING: the backend shares the proxy's core $PROXY_CPU; results are not meaningful")
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- temp dir, cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
mkdir -p "$TMP/results"
: >"$TMP/pids"
FAILED=0

descendants() {  # pid -> pid and all its descendants, one a line
  local frontier="$*" next p
  while [[ -n $frontier ]]; do
    next=""
    for p in $frontier; do
      echo "$p"
      next+=" $(pgrep -P "$p" | tr '\n' ' ' || true)"
    done
    frontier=$(echo $next)
  done
}

stop_tree() {  # pid: TERM the process and its descendants, KILL what is left after 5 s
  local pids p i
  pids=$(descendants "$1")
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 50; i++)); do
    local alive=0
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.1
  done
  for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
}

cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  if [[ -s $TMP/pids ]]; then
    for pid in $(tac "$TMP/pids"); do stop_tree "$pid"; done
  fi
  wait 2>/dev/null || true
  if ((rc != 0 || FAILED)) || [[ $KEEP_TMP == 1 ]]; then
    echo "# configs, logs and raw wrk output kept in $TMP" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers
USED_PORTS=" "
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    [[ $USED_PORTS == *" $p "* ]] && continue
    [[ -z $(ss -Htan "( sport = :$p )") ]] || continue
    USED_PORTS+="$p "
    echo "$p"
    return 0
  done
  die "no free port found"
}

render() {  # template output KEY=VALUE... : replace @KEY@ by VALUE
  local tpl=$1 out=$2 kv args=()
  shift 2
  for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${args[@]}" "$tpl" >"$out"
}

start_bg() {  # log cpu cmd... : start pinned in the background, print its pid
  local log=$1 cpu=$2
  shift 2
  taskset -c "$cpu" "$@" >"$log" 2>&1 </dev/null &
  echo $! >>"$TMP/pids"
  echo $!
}

cpu_ticks() {  # pid: utime+stime (+ reaped children's) of the process and its descendants
  local p sum=0 f
  for p in $(descendants "$1"); do
    # Fields after "comm)": 1=state ... 12=utime 13=stime 14=cutime 15=cstime (stat 14-17).
    f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    read -r -a a <<<"$f"
    sum=$((sum + a[11] + a[12] + a[13] + a[14]))
  done
  echo "$sum"
}

core_busy() {  # cpu: busy ticks of that core so far (user nice system irq softirq steal)
  awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}

http_code() { curl -s --noproxy '*' -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true; }

wait_ready() {  # url pid seconds: wait for any HTTP answer, then up to 3 s more for a 2xx
  local deadline=$((SECONDS + $3)) code
  while :; do
    kill -0 "$2" 2>/dev/null || return 1
    code=$(http_code "$1")
    [[ $code == 2* ]] && return 0
    [[ $code != 000 && $deadline -gt $((SECONDS + 3)) ]] && deadline=$((SECONDS + 3))
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

check_through() {  # url: 200 with the backend's marker header and body
  local out=$TMP/check.$$ code
  code=$(curl -sS --noproxy '*' -m 5 "${HDR_ARGS[@]}" -D "$out.h" -o "$out.b" -w '%{http_code}' \
    "$1" 2>"$out.e") ||
    { echo "curl failed: $(cat "$out.e")"; return 1; }
  [[ $code == 200 ]] || { echo "status $code (want 200)"; return 1; }
  grep -qi '^x-bench-backend: 1' "$out.h" ||
    { echo "200 but not from the bench backend (no X-Bench-Backend header)"; return 1; }
  [[ $(cat "$out.b") == ok ]] || { echo "unexpected body: $(head -c 100 "$out.b")"; return 1; }
}

HDR_ARGS=()
while IFS= read -r line; do
  [[ -n $line ]] && HDR_ARGS+=(-H "$line")
done <<<"${BENCH_HEADERS:-}"

run_wrk() {  # duration url output
  taskset -c "$LOAD_CPUS" wrk -t "$THREADS" -c "$CONNECTIONS" -d "$1" --latency \
    "${HDR_ARGS[@]}" -s "${WRK_SCRIPT:-$CONF/wrk-report.lua}" "$2" >"$3" 2>&1
}

# ---------------------------------------------------------------- one proxy
# bench_one label kind config_file url: runs in a subshell; writes $TMP/results/<n>.
RESULT_N=0
bench_one() {
  local label=$1 kind=$2 cfg=$3 url=$4 res=$5 dir=$6
  local pid log=$dir/stdout.log why
  fail() {
    printf 'label=%s\nstatus=failed\nwhy=%s\n' "$label" "$*" >"$res"
    echo "  FAILED: $*"
    [[ -z ${pid:-} ]] || stop_tree "$pid"
    exit 1
  }

  case $kind in
    nginx)   pid=$(start_bg "$log" "$PROXY_CPU" nginx -p "$dir" -e "$dir/error.log" -c "$cfg" -g 'daemon off;') ;;
    haproxy) pid=$(start_bg "$log" "$PROXY_CPU" haproxy -db -f "$cfg") ;;
    sluice)  pid=$(start_bg "$log" "$PROXY_CPU" "$SLUICE_BIN" run --config "$cfg") ;;
    sluice-baseline) pid=$(start_bg "$log" "$PROXY_CPU" "$BASELINE_BIN" run --config "$cfg") ;;
  esac
  if ! wait_ready "$url" "$pid" 30; then
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "  --- last lines of its output:"; tail -n 20 "$log" "$dir"/error.log 2>/dev/null | sed 's/^/  | /'
      fail "exited at start-up"
    fi
    [[ $(http_code "$url") != 000 ]] || fail "no HTTP answer on $url within 30 s (refused or timed out)"
  fi
  if [[ ${CHECK:-1} != 0 ]]; then
    why=$(check_through "$url") || fail "check through to the backend: $why"
    echo "  check: $url -> 200 from the backend"
  fi

  run_wrk "$WARMUP" "$url" "$dir/wrk-warmup.txt" || fail "wrk warm-up failed: $(tail -n 3 "$dir/wrk-warmup.txt")"
  local t0 b0 c0 t1 b1 c1
  t0=$(cpu_ticks "$pid"); b0=$(cpu_ticks "$BACKEND_PID"); c0=$(core_busy "$PROXY_CPU")
  run_wrk "$DURATION" "$url" "$dir/wrk.txt" || fail "wrk failed: $(tail -n 3 "$dir/wrk.txt")"
  t1=$(cpu_ticks "$pid"); b1=$(cpu_ticks "$BACKEND_PID"); c1=$(core_busy "$PROXY_CPU")
  kill -0 "$pid" 2>/dev/null || fail "the proxy died during the run"
  local procs; procs=$(descendants "$pid" | wc -l)
  stop_tree "$pid"

  local line; line=$(grep '^WRKRESULT ' "$dir/wrk.txt") || fail "no WRKRESULT line in wrk output"
  {
    echo "label=$label"
    echo "status=ok"
    echo "procs=$procs"
    echo "ticks=$((t1 - t0))"
    echo "backend_ticks=$((b1 - b0))"
    echo "core_ticks=$((c1 - c0))"
    tr ' ' '\n' <<<"${line#WRKRESULT }"
  } >"$res"
}

summarise() {  # result file -> one line for the console
  awk -F= -v tck="$CLK_TCK" '{v[$1]=$2}
    END {
      s = v["duration_us"] / 1e6; rps = v["requests"] / s
      cpu = v["ticks"] * 1e6 / tck / v["requests"]; bcpu = v["backend_ticks"] * 1e6 / tck / v["requests"]
      printf "  %d requests in %.2fs: %.0f req/s, p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms\n", v["requests"], s, rps, v["p50_us"]/1000, v["p99_us"]/1000, v["p999_us"]/1000
      printf "  proxy CPU %.2f s over %d process(es) = %.2f us/request, core busy %.0f%%; backend %.2f us/request\n", v["ticks"]/tck, v["procs"], cpu, 100*v["ticks"]/tck/s, bcpu
      other = 100 * (v["core_ticks"] - v["ticks"]) / tck / s
      printf "  proxy core %d%% busy in all, %.0f%% of it outside the proxy processes (softirq, other jobs)\n", 100 * v["core_ticks"] / tck / s, other
      if (other > 10) printf "  WARNING: other work used %.0f%% of the proxy core during the run; numbers are noisy\n", other
      printf "  errors: non-2xx/3xx %d, socket connect %d read %d write %d timeout %d\n", v["non2xx"], v["connect"], v["read"], v["write"], v["timeout"]
    }' "$1"
}

# ---------------------------------------------------------------- machine, versions
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
NGINX_V=$(nginx -v 2>&1 | sed 's|.*nginx/||')
HAPROXY_V=$(haproxy -v | awk 'NR==1 {print $3}')
WRK_V=$(wrk -v 2>&1 | awk 'NR==1 {print $2}' || true)
SLUICE_V="not run"
LOADAVG=$(cut -d' ' -f1 /proc/loadavg)

# ---------------------------------------------------------------- backend
BACKEND_PORT=$(free_port)
mkdir -p "$TMP/backend"
render "$CONF/nginx-backend.conf.in" "$TMP/backend/nginx.conf" DIR="$TMP/backend" BACKEND_PORT="$BACKEND_PORT"
BACKEND_PID=$(start_bg "$TMP/backend/stdout.log" "$BACKEND_CPU" \
  nginx -p "$TMP/backend" -e "$TMP/backend/error.log" -c "$TMP/backend/nginx.conf" -g 'daemon off; master_process off;')
wait_ready "http://127.0.0.1:$BACKEND_PORT$BENCH_PATH" "$BACKEND_PID" 10 ||
  { cat "$TMP/backend/error.log" "$TMP/backend/stdout.log" >&2 || true; die "backend nginx did not start"; }

REDIS_PORT=""
if ((${#EXTRA_CONFIGS[@]})) && grep -q '@REDIS_PORT@' "${EXTRA_CONFIGS[@]}"; then
  command -v redis-server >/dev/null || die "a config names @REDIS_PORT@ but redis-server is missing"
  REDIS_PORT=$(free_port)
  start_bg "$TMP/redis.log" "$BACKEND_CPU" \
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >/dev/null
  for _ in $(seq 50); do
    [[ -n $(ss -Htln "( sport = :$REDIS_PORT )") ]] && break
    sleep 0.1
  done
  [[ -n $(ss -Htln "( sport = :$REDIS_PORT )") ]] || die "redis-server did not start"
fi

echo "## reverse-proxy comparison: $(date -u '+%Y-%m-%d %H:%M UTC')"
note "machine: $(nproc) CPUs ($CPU_MODEL), Linux $(uname -r), load average $LOADAVG"
note "pinning: proxy on CPU $PROXY_CPU, backend nginx on CPU $BACKEND_CPU, wrk on CPU(s) $LOAD_CPUS"
for n in "${CPU_NOTES[@]}"; do note "$n"; done
awk -v l="$LOADAVG" 'BEGIN {exit !(l > 0.5)}' &&
  note "WARNING: the machine is not idle (load $LOADAVG); req/s and latency suffer first, CPU/request less"
note "load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (keep-alive) GET $BENCH_PATH, after a $WARMUP warm-up"
note "backend: nginx $NGINX_V, one process, return 200 \"ok\\n\", port $BACKEND_PORT"
echo

# ---------------------------------------------------------------- the proxies
RUNS=()  # "label|kind|template-or-file"
for p in $ONLY; do
  case $p in
    sluice)
      l=sluice; ((ROUTES > 1)) && l="sluice ($ROUTES routes)"
      RUNS+=("$l|sluice|$CONF/sluice.yaml.in")
      [[ -z ${BASELINE_BIN:-} ]] || RUNS+=("sluice (baseline)|sluice-baseline|$CONF/sluice.yaml.in") ;;
    nginx) RUNS+=("nginx|nginx|$CONF/nginx-proxy.conf.in") ;;
    haproxy) RUNS+=("HAProxy|haproxy|$CONF/haproxy.cfg.in") ;;
  esac
done
for f in "${EXTRA_CONFIGS[@]}"; do RUNS+=("sluice: $(basename "$f")|sluice-custom|$f"); done

SLUICE_FOUND=0
if [[ -x $SLUICE_BIN ]]; then
  SLUICE_FOUND=1
fi
if ((SLUICE_FOUND)) && [[ " ${RUNS[*]} " == *"|sluice"* ]]; then
  SLUICE_V=$(timeout 2 "$SLUICE_BIN" --version 2>/dev/null | head -n 1 | sed 's/^sluice[ :]*//i' || true)
  [[ -n $SLUICE_V ]] || SLUICE_V="git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
fi

for ((round = 1; round <= REPEAT; round++)); do
for run in "${RUNS[@]}"; do
  IFS='|' read -r label kind src <<<"$run"
  RESULT_N=$((RESULT_N + 1))
  res=$TMP/results/$(printf '%02d' "$RESULT_N")
  dir=$TMP/run$RESULT_N-$kind
  mkdir -p "$dir"
  if ((REPEAT > 1)); then echo "### $label (round $round of $REPEAT)"; else echo "### $label"; fi
  if [[ $kind == sluice* ]] && ((!SLUICE_FOUND)); then
    echo "  SKIPPED: no sluice binary at $SLUICE_BIN (build the release preset, or set SLUICE_BIN)"
    printf 'label=%s\nstatus=skipped\nwhy=no binary\n' "$label" >"$res"
    continue
  fi
  port=$(free_port)
  admin=$(free_port)
  url="http://127.0.0.1:$port$BENCH_PATH"
  case $kind in
    nginx)   cfg=$dir/nginx.conf ;;
    haproxy) cfg=$dir/haproxy.cfg ;;
    *)       cfg=$dir/sluice.yaml ;;
  esac
  render "$src" "$cfg" DIR="$dir" LISTEN_PORT="$port" ADMIN_PORT="$admin" BACKEND_PORT="$BACKEND_PORT" \
    REDIS_PORT="$REDIS_PORT"
  if [[ $kind == sluice || $kind == sluice-baseline ]]; then
    # Non-matching routes go before the catch-all, so the router holds ROUTES routes in all.
    seq 1 $((ROUTES - 1)) | awk '{printf "  - {name: svc%d, match: {path: \"/api/v1/svc%d/items/{id}\"}, upstream: backend}\n", $1, $1}' >"$dir/extra-routes.yaml"
    sed -i -e "/^@EXTRA_ROUTES@\$/{r $dir/extra-routes.yaml" -e 'd}' "$cfg"
  elif [[ $kind == sluice-custom ]]; then
    addr=$(awk '
      /^listeners:/ { inl = 1 }
      /^[A-Za-z_]+:/ && !/^listeners:/ { inl = 0 }
      inl && match($0, /address: *"?[^",} ]+/) {
        s = substr($0, RSTART, RLENGTH); sub(/address: *"?/, "", s); print s; exit }' "$cfg")
    [[ -n $addr ]] || { echo "  FAILED: no listener address found in $src"; FAILED=1
      printf 'label=%s\nstatus=failed\nwhy=no listener address\n' "$label" >"$res"; continue; }
    [[ $addr == :* || $addr == 0.0.0.0:* ]] && addr=127.0.0.1:${addr##*:}
    url="http://$addr$BENCH_PATH"
    grep -Eq '^workers: *1 *$' "$cfg" || echo "  note: $src does not say 'workers: 1'"
  fi
  rc=0
  (bench_one "$label" "${kind%-custom}" "$cfg" "$url" "$res" "$dir") || rc=$?
  if ((rc == 0)); then summarise "$res"; else FAILED=1; fi
done
done

# ---------------------------------------------------------------- table
echo
echo "## Results"
echo
echo "$(nproc) × $CPU_MODEL, Linux $(uname -r). Proxy pinned to CPU $PROXY_CPU with one worker;" \
  "backend nginx on CPU $BACKEND_CPU; wrk on CPU(s) $LOAD_CPUS." \
  "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, keep-alive, GET $BENCH_PATH (3-byte body), loopback."
echo "Versions: sluice $SLUICE_V, nginx $NGINX_V, HAProxy $HAPROXY_V, wrk $WRK_V."
((${#CPU_NOTES[@]})) && echo "Note: ${CPU_NOTES[*]}."
echo
cat "$TMP"/results/* | awk -F= -v tck="$CLK_TCK" '
  /^label=/ {
    n++; label[n] = $2
    if (!($2 in seen)) { seen[$2] = 1; order[++nl] = $2 }
    next
  }
  { v[n, $1] = $2 }
  END {
    # For each proxy: its ok runs sorted by CPU/request; the median one goes in the table.
    for (i = 1; i <= n; i++) {
      if (v[i, "status"] != "ok") { if (!(label[i] in first_bad)) first_bad[label[i]] = i; continue }
      cpu[i] = v[i, "ticks"] * 1e6 / tck / v[i, "requests"]
      l = label[i]; k = ++cnt[l]; runs[l, k] = i
      for (j = k; j > 1 && cpu[runs[l, j - 1]] > cpu[runs[l, j]]; j--) {
        t = runs[l, j]; runs[l, j] = runs[l, j - 1]; runs[l, j - 1] = t
      }
    }
    for (li = 1; li <= nl; li++) {
      l = order[li]
      if (cnt[l]) pick[l] = runs[l, int((cnt[l] + 1) / 2)]
    }
    if ("HAProxy" in pick) ref = cpu[pick["HAProxy"]]
    print "| proxy | req/s | p50 | p99 | CPU µs/req | CPU/req vs HAProxy | proxy core busy | errors |"
    print "|---|---:|---:|---:|---:|---:|---:|---|"
    for (li = 1; li <= nl; li++) {
      l = order[li]
      if (!cnt[l]) {
        i = first_bad[l]
        printf "| %s | %s: %s | | | | | | |\n", l, v[i, "status"], v[i, "why"]; continue
      }
      i = pick[l]
      s = v[i, "duration_us"] / 1e6
      e = v[i, "connect"] + v[i, "read"] + v[i, "write"] + v[i, "timeout"]
      err = "none"
      if (v[i, "non2xx"] + e > 0)
        err = sprintf("non-2xx/3xx %d, socket: connect %d read %d write %d timeout %d",
                      v[i, "non2xx"], v[i, "connect"], v[i, "read"], v[i, "write"], v[i, "timeout"])
      printf "| %s | %.0f | %.2f ms | %.2f ms | %.2f | %s | %.0f%% | %s |\n", l,
        v[i, "requests"] / s, v[i, "p50_us"] / 1000, v[i, "p99_us"] / 1000, cpu[i],
        ref ? sprintf("%.2f×", cpu[i] / ref) : "n/a", 100 * v[i, "ticks"] / tck / s, err
      other = 100 * (v[i, "core_ticks"] - v[i, "ticks"]) / tck / s
      if (other > 10)
        warn = warn sprintf("\nWarning: during the %s run, work outside the proxy used %.0f%% of its core; its req/s and latency are not comparable.", l, other)
      if (cnt[l] > 1 || l in first_bad) {
        all = ""
        for (k = 1; k <= cnt[l]; k++) all = all sprintf("%s%.2f", k > 1 ? ", " : "", cpu[runs[l, k]])
        runs_note = runs_note sprintf("\n%s: median of %d ok runs; CPU µs/req of each: %s.", l, cnt[l], all)
      }
    }
    if (runs_note != "") print runs_note
    if (warn != "") print warn
  }'
((FAILED == 0)) || exit 1
