#!/usr/bin/env bash
# Shared by scripts/fuzz.sh and scripts/fuzz-merge.sh (sourced): the per-target libFuzzer
# options, the corpus merge that keeps fuzz/corpus/<target>/ minimal, and the statistics that
# docs/fuzzing.md reports. See docs/fuzzing.md for the whole workflow.

FUZZ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The largest corpus file kept; libFuzzer's own -max_len bounds what a run generates.
FUZZ_MAX_FILE_BYTES=${FUZZ_MAX_FILE_BYTES:-65536}
# A UBSan report is a failure like an ASan one (the fuzz build does not set -fno-sanitize-recover).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# The target binaries of BUILD, or only those named in FUZZ_TARGETS ("jwt_fuzz cidr_fuzz").
fuzz_targets() {
  local build=$1 bin name
  for bin in "$build"/*_fuzz; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $name "* ]]; then continue; fi
    echo "$bin"
  done
}

# libFuzzer options of one target: its dictionary, the longest input it is given and makes,
# the per-input timeout and the memory limit. FUZZ_FLAGS adds more (e.g. -jobs=2 -workers=2).
fuzz_flags() {
  local name=$1 dict="" max_len=4096
  case "$name" in
    request_parser_fuzz | response_parser_fuzz | chunked_decoder_fuzz)
      dict=http.dict max_len=8192 ;;
    config_fuzz | config_schema_fuzz) dict=config.dict max_len=16384 ;;
    filter_chain_fuzz) dict=config.dict ;;
    body_transform_fuzz) max_len=8192 ;;
    access_log_fuzz) dict=access_log.dict ;;
    jwks_fuzz | jwt_fuzz) dict=jwk.dict ;;
    hmac_signature_fuzz) dict=hmac.dict ;;
  esac
  [ -n "$dict" ] && echo "-dict=$FUZZ_ROOT/fuzz/$dict"
  echo "-max_len=$max_len"
  echo "-timeout=${FUZZ_TIMEOUT:-10}"
  echo "-rss_limit_mb=${FUZZ_RSS_LIMIT_MB:-2048}"
  local f
  for f in ${FUZZ_FLAGS:-}; do echo "$f"; done
}

# "FILES BYTES" of a corpus directory (0 0 when it does not exist).
fuzz_corpus_size() {
  local dir=$1
  if [ ! -d "$dir" ]; then
    echo "0 0"
    return
  fi
  find "$dir" -maxdepth 1 -type f -printf '%s\n' | awk '{n++; b+=$1} END {printf "%d %d\n", n, b}'
}

# A file name libFuzzer gave (the SHA-1 of the content); other names are hand-written seeds.
fuzz_is_hashed() {
  [[ "$(basename "$1")" =~ ^[0-9a-f]{40}$ ]]
}

# One line of statistics from a libFuzzer log (run with -print_final_stats=1):
# "EXECS COV FT" of the last status line ("DONE", or the last "pulse"/"NEW" before a crash).
fuzz_log_stats() {
  local log=$1 execs cov ft line
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  line=$(grep -aE '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1)
  [ -n "$execs" ] || execs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$line")
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$line")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$line")
  echo "${execs:-0} ${cov:-0} ${ft:-0}"
}

# Merges the inputs in the directories SOURCES... into DEST with `-merge=1`, so that DEST keeps
# only inputs that add coverage. KEEP is a directory of inputs that count as already there and
# are not written to DEST (the committed corpus, when DEST is a cache); with KEEP empty, the
# hand-named seeds of DEST stay as they are and its hash-named files are re-minimised.
# Usage: fuzz_merge BIN NAME DEST KEEP SOURCES...
fuzz_merge() {
  local bin=$1 name=$2 dest=$3 keep=$4
  shift 4
  local tmp f rc=0
  tmp=$(mktemp -d)
  mkdir -p "$tmp/out" "$tmp/old" "$dest"
  if [ -n "$keep" ]; then
    cp -r "$keep/." "$tmp/out/" 2>/dev/null || true
    cp -r "$dest/." "$tmp/old/" 2>/dev/null || true
  else
    for f in "$dest"/*; do
      [ -f "$f" ] || continue
      if fuzz_is_hashed "$f"; then cp "$f" "$tmp/old/"; else cp "$f" "$tmp/out/"; fi
    done
  fi
  local before
  before=$(ls "$tmp/out" | sort)
  # Oversized inputs never go into the corpus.
  find "$tmp/old" "$@" -maxdepth 1 -type f -size +"${FUZZ_MAX_FILE_BYTES}"c -delete 2>/dev/null || true
  # shellcheck disable=SC2046
  if ! "$bin" -merge=1 $(fuzz_flags "$name") -artifact_prefix="$tmp/" "$tmp/out" "$tmp/old" "$@" \
      >"$tmp/merge.log" 2>&1; then
    echo "fuzz: $name: merge FAILED (corpus left as it was)"
    tail -n 20 "$tmp/merge.log"
    rc=1
  else
    # DEST's libFuzzer-named files are replaced by the merge's; hand-named seeds stay.
    for f in "$dest"/*; do
      [ -f "$f" ] || continue
      if [ -n "$keep" ] || fuzz_is_hashed "$f"; then rm -f "$f"; fi
    done
    for f in "$tmp/out"/*; do
      [ -f "$f" ] || continue
      if ! grep -qxF "$(basename "$f")" <<<"$before"; then cp "$f" "$dest/"; fi
    done
  fi
  rm -rf "$tmp"
  return $rc
}

# Warns about keys of the config sources that fuzz/config_schema.h does not know, so the
# structure-aware config target follows the schema as it grows.
fuzz_schema_check() {
  local known missing
  known=$(grep -oE '[a-z_]+=[A-Z]:' "$FUZZ_ROOT/fuzz/config_schema.h" | cut -d= -f1 | sort -u)
  missing=$(perl -0777 -ne 'while (/(?:\bmap|filter_map)\(\s*[\w*.>-]+,\s*\{([^}]*)\}/g) {
      my $l = $1; print "$1\n" while $l =~ /"([a-z_]+)"/g }' \
      "$FUZZ_ROOT"/src/config/*.cc "$FUZZ_ROOT"/src/filter/*.cc "$FUZZ_ROOT"/src/filters/*/*.cc |
    sort -u | comm -23 - <(echo "$known"))
  if [ -n "$missing" ]; then
    echo "fuzz: note: config keys not in fuzz/config_schema.h: $(echo $missing)"
  fi
}
