#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, starting from its committed seed
# corpus (copied, so the repository's corpus is not modified). Fails on the first crash.
set -euo pipefail
build=${1:?build dir}
seconds=${2:-20}
root="$(cd "$(dirname "$0")/.." && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for bin in "$build"/*_fuzz; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  mkdir -p "$work/$name"
  if [ -d "$root/fuzz/corpus/$name" ]; then cp -r "$root/fuzz/corpus/$name/." "$work/$name/"; fi
  dict=()
  case "$name" in
    request_parser_fuzz|response_parser_fuzz|chunked_decoder_fuzz) dict=(-dict="$root/fuzz/http.dict") ;;
  esac
  echo "fuzz: $name for ${seconds}s"
  if ! "$bin" "$work/$name" "${dict[@]}" -max_total_time="$seconds" -print_final_stats=0 \
      -artifact_prefix="$work/" >"$work/$name.log" 2>&1; then
    echo "fuzz: $name FAILED"; tail -n 40 "$work/$name.log"; status=1
  else
    grep -E "^Done|#[0-9]+.*DONE" "$work/$name.log" | tail -n 1 || true
  fi
done
exit $status
