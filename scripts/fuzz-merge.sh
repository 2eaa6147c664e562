#!/usr/bin/env bash
# Grows the committed corpus: runs each target for SECONDS (FUZZ_MERGE_SECONDS, default 60),
# then minimises the union of fuzz/corpus/<target>/, what the run found, FUZZ_CORPUS_CACHE/
# <target>/ (a CI cache, when set) and the directories in FUZZ_MERGE_FROM (e.g. a colleague's
# corpus) into fuzz/corpus/<target>/ with libFuzzer's -merge=1. Hand-named seeds stay; the
# hash-named files (what libFuzzer wrote) are replaced by the minimal set. SECONDS=0 only merges.
# Commit the result (`git add fuzz/corpus`). Options as for scripts/fuzz.sh.
# Usage: scripts/fuzz-merge.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=${1:?build dir}
seconds=${2:-${FUZZ_MERGE_SECONDS:-60}}
# shellcheck source=scripts/fuzz-common.sh
source "$(dirname "$0")/fuzz-common.sh"
root=$FUZZ_ROOT
cache=${FUZZ_CORPUS_CACHE:-}
status=0
if [ "$seconds" != 0 ]; then
  # The runs themselves: fuzz.sh keeping what it finds in the committed corpus.
  FUZZ_KEEP=1 FUZZ_CORPUS_CACHE="" "$(dirname "$0")/fuzz.sh" "$build" "$seconds" || status=1
fi
# Fold in the cache and the extra directories (and, with SECONDS=0, re-minimise).
for bin in $(fuzz_targets "$build"); do
  name=$(basename "$bin")
  sources=()
  [ -n "$cache" ] && [ -d "$cache/$name" ] && sources+=("$cache/$name")
  for d in ${FUZZ_MERGE_FROM:-}; do
    [ -d "$d/$name" ] && sources+=("$d/$name")
  done
  if [ "$seconds" = 0 ] || [ ${#sources[@]} -gt 0 ]; then
    read -r f0 b0 < <(fuzz_corpus_size "$root/fuzz/corpus/$name")
    fuzz_merge "$bin" "$name" "$root/fuzz/corpus/$name" "" "${sources[@]}" || status=1
    read -r f1 b1 < <(fuzz_corpus_size "$root/fuzz/corpus/$name")
    echo "fuzz-merge: $name: $f0 files, $b0 bytes -> $f1 files, $b1 bytes"
  fi
done
exit $status
