#!/usr/bin/env bash
# Instructions per request of sluice (user space, all threads, counted by valgrind's callgrind):
# a deterministic figure where CPU time on this noisy machine moves ±20% between runs. sluice
# runs under callgrind in front of the bench's nginx backend; after 500 warm-up requests the
# count is switched on for N requests sent one after another on one keep-alive connection
# (bench/icount-client.py), then off. One connection means no batching of events, so the
# figure is an upper bound of the per-request work under load; compare builds and configs with
# it, and quote CPU time from compare.sh.
#
# Usage: bench/icount.sh [CONFIG...]   (default: configs/sluice.yaml.in, the default config)
# Environment: SLUICE_BIN [build/release/sluice], BASELINE_BIN (also count this binary),
#   N [5000], CLIENT_ARGS (extra icount-client.py arguments: --method, --path, --body),
#   ICOUNT_HEADERS (request header lines to send, one per line: an API key, a bearer token),
#   ICOUNT_KEEP (a folder: the callgrind files of each run are kept there as
#   NUMBER-CONFIG.cg.out*, for callgrind_annotate).
# A CONFIG uses compare.sh's @LISTEN_PORT@ @ADMIN_PORT@ @BACKEND_PORT@ placeholders.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SLUICE_BIN=${SLUICE_BIN:-$HERE/../build/release/sluice}
N=${N:-5000}
command -v valgrind >/dev/null || { echo "icount.sh: valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
command -v nginx >/dev/null || { echo "icount.sh: nginx is needed" >&2; exit 2; }
CONFIGS=("$@")
((${#CONFIGS[@]})) || CONFIGS=("$HERE/configs/sluice.yaml.in")
BINS=("$SLUICE_BIN")
[[ -z ${BASELINE_BIN:-} ]] || BINS+=("$BASELINE_BIN")

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

count() {  # binary config
  local bin=$1 tpl=$2 d bp lp ap ng vg total
  d=$(mktemp -d /tmp/sluice-icount.XXXXXX)
  bp=$(free_port); lp=$(free_port); ap=$(free_port)
  mkdir -p "$d/backend"
  sed -e "s|@DIR@|$d/backend|g" -e "s|@BACKEND_PORT@|$bp|g" "$HERE/configs/nginx-backend.conf.in" >"$d/nginx.conf"
  nginx -p "$d/backend" -e "$d/backend/error.log" -c "$d/nginx.conf" -g 'daemon off; master_process off;' &
  ng=$!
  sed -e "s|@LISTEN_PORT@|$lp|g" -e "s|@ADMIN_PORT@|$ap|g" -e "s|@BACKEND_PORT@|$bp|g" \
    -e '/^@EXTRA_ROUTES@$/d' "$tpl" >"$d/sluice.yaml"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$d/cg.out" \
    "$bin" run --config "$d/sluice.yaml" >"$d/sluice.log" 2>&1 &
  vg=$!
  for _ in $(seq 1 150); do
    curl -s -o /dev/null "http://127.0.0.1:$lp/" && break
    sleep 0.2
  done
  # shellcheck disable=SC2086
  /usr/bin/python3 "$HERE/icount-client.py" "$lp" 500 ${CLIENT_ARGS:-}
  callgrind_control -i on "$vg" >/dev/null
  # shellcheck disable=SC2086
  /usr/bin/python3 "$HERE/icount-client.py" "$lp" "$N" ${CLIENT_ARGS:-}
  callgrind_control -i off "$vg" >/dev/null
  callgrind_control -d "$vg" >/dev/null
  sleep 0.5
  kill "$vg" "$ng" 2>/dev/null || true
  wait "$vg" "$ng" 2>/dev/null || true
  total=$(cat "$d"/cg.out* | awk '/^totals:/ {s += $2} END {print s + 0}')
  printf '| %s | %s | %d |\n' "$(basename "$tpl")" "$bin" $((total / N))
  if [ -n "${ICOUNT_KEEP:-}" ]; then
    RUN=$((RUN + 1))
    mkdir -p "$ICOUNT_KEEP"
    for f in "$d"/cg.out*; do cp "$f" "$ICOUNT_KEEP/$RUN-$(basename "$tpl").$(basename "$f")"; done
  fi
  rm -rf "$d"
}

RUN=0
echo "| config | binary | instructions per request (N=$N) |"
echo "|---|---|---:|"
for c in "${CONFIGS[@]}"; do
  for b in "${BINS[@]}"; do count "$b" "$c"; done
done
