#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each (one after the other), starting from
# its committed seed corpus fuzz/corpus/<target>/, and fails if any target crashes, leaks, times
# out or breaks an invariant. The reproducer goes to FUZZ_ARTIFACTS (build/fuzz-artifacts/).
#
# By default (`make fuzz`, CI) each run works on a temporary copy: the committed corpus is never
# modified. With FUZZ_KEEP=1 (`make fuzz-long`) what a run finds is kept: merged (minimised,
# `-merge=1`) into FUZZ_CORPUS_CACHE/<target>/ when FUZZ_CORPUS_CACHE is set (a CI cache; the run
# also starts from it), else into the committed fuzz/corpus/<target>/.
# Options: FUZZ_TARGETS="a_fuzz b_fuzz" (a subset), FUZZ_FLAGS (more libFuzzer flags),
# FUZZ_STATS_FILE (appends one tab-separated line per target: see docs/fuzzing.md).
# Usage: scripts/fuzz.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=${1:?build dir}
seconds=${2:-15}
# shellcheck source=scripts/fuzz-common.sh
source "$(dirname "$0")/fuzz-common.sh"
root=$FUZZ_ROOT
keep=${FUZZ_KEEP:-0}
cache=${FUZZ_CORPUS_CACHE:-}
artifacts=${FUZZ_ARTIFACTS:-$root/build/fuzz-artifacts}
mkdir -p "$artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ "$keep" = 1 ] && fuzz_schema_check
status=0
start=$SECONDS
for bin in $(fuzz_targets "$build"); do
  name=$(basename "$bin")
  seeds="$root/fuzz/corpus/$name"
  mkdir -p "$work/$name"
  [ -d "$seeds" ] && cp -r "$seeds/." "$work/$name/"
  [ -n "$cache" ] && [ -d "$cache/$name" ] && cp -r "$cache/$name/." "$work/$name/"
  read -r files0 bytes0 < <(fuzz_corpus_size "$work/$name")
  echo "fuzz: $name for ${seconds}s (corpus: $files0 files, $bytes0 bytes)"
  t0=$SECONDS
  # shellcheck disable=SC2046
  if ! "$bin" "$work/$name" $(fuzz_flags "$name") -max_total_time="$seconds" \
      -print_final_stats=1 -artifact_prefix="$artifacts/$name-" >"$work/$name.log" 2>&1; then
    echo "fuzz: $name FAILED"
    tail -n 40 "$work/$name.log"
    crash=$(grep -aoE "Test unit written to [^ ]+" "$work/$name.log" | tail -n 1 | cut -d' ' -f5-)
    if [ -n "$crash" ]; then
      echo "fuzz: reproduce with: $bin $(fuzz_flags "$name" | tr '\n' ' ')$crash"
    fi
    status=1
  fi
  read -r execs cov ft < <(fuzz_log_stats "$work/$name.log")
  dest=""
  if [ "$keep" = 1 ]; then
    if [ -n "$cache" ]; then
      dest="$cache/$name"
      fuzz_merge "$bin" "$name" "$dest" "$seeds" "$work/$name" || status=1
    else
      dest="$seeds"
      fuzz_merge "$bin" "$name" "$dest" "" "$work/$name" || status=1
    fi
    read -r files1 bytes1 < <(fuzz_corpus_size "$dest")
  else
    read -r files1 bytes1 < <(fuzz_corpus_size "$work/$name")
  fi
  echo "fuzz: $name: $execs execs in $((SECONDS - t0))s, cov $cov, ft $ft," \
    "corpus $files1 files, $bytes1 bytes${dest:+ (merged into ${dest#"$root"/})}"
  if [ -n "${FUZZ_STATS_FILE:-}" ]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$seconds" "$execs" "$cov" "$ft" \
      "$files0" "$bytes0" "$files1" "$bytes1" >>"$FUZZ_STATS_FILE"
  fi
done
echo "fuzz: all targets in $((SECONDS - start))s"
exit $status
