#!/usr/bin/env bash
# Coverage-guided fuzzing of every Arrowhead parser with libFuzzer (`swiftc
# -sanitize=fuzzer`, with AddressSanitizer), starting from the seed corpus in
# Fuzz/Corpus/<target>/.
#
#   scripts/fuzz.sh                          # every target, 20 s each
#   scripts/fuzz.sh --seconds 3600 npy vecs  # chosen targets, one hour each
#   scripts/fuzz.sh --smoke                  # every target for 8 s (CI smoke run)
#   scripts/fuzz.sh --list                   # the target names
#
# New interesting inputs go to Fuzz/.build/corpus/<target>/ (kept between runs, not
# committed); a crash, leak-free out-of-memory or timeout is written to
# Fuzz/.build/crashes/<target>-* and makes the script exit 1. To keep a crash as a
# regression test, copy the file into Fuzz/Regressions/<target>/ (the test suite replays
# that directory and the seed corpus through the same harness: FuzzReplayTests).
# Runs under `nice -n 10`. Prints executions per target and in total.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

seconds=20
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --smoke) seconds=8; shift ;;
    --list) list=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done

echo "fuzz: building Fuzz/ (release, -sanitize=fuzzer,address)" >&2
(cd Fuzz && nice -n 10 swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library 2>&1 | grep -E "error|warning: |Compiling ArrowheadFuzz|Build" >&2 || true)
binary="Fuzz/.build/release/ArrowheadFuzz"
[ -x "$binary" ] || { echo "fuzz: build failed" >&2; exit 1; }
if [ "${list:-0}" = 1 ]; then ARROWHEAD_FUZZ_TARGET=list "$binary"; exit 0; fi
if [ ${#targets[@]} -eq 0 ]; then mapfile -t targets < <(ARROWHEAD_FUZZ_TARGET=list "$binary"); fi

export ARROWHEAD_DISPATCH=static          # no dispatch measurement inside the fuzzer
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
mkdir -p Fuzz/.build/crashes
total=0
failed=0
printf "%-18s %8s %12s %10s %s\n" target seconds executions "exec/s" result
for target in "${targets[@]}"; do
  work="Fuzz/.build/corpus/$target"
  seeds="Fuzz/Corpus/$target"
  mkdir -p "$work" "$seeds"
  log="Fuzz/.build/$target.log"
  status=0
  ARROWHEAD_FUZZ_TARGET="$target" nice -n 10 "$binary" "$work" "$seeds" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="Fuzz/.build/crashes/$target-" >"$log" 2>&1 || status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  runs=${runs:-0}
  total=$((total + runs))
  result=ok
  if [ "$status" != 0 ]; then result="FAILED (exit $status; see $log and Fuzz/.build/crashes/)"; failed=1; fi
  printf "%-18s %8s %12s %10s %s\n" "$target" "$seconds" "$runs" "$((runs / (seconds > 0 ? seconds : 1)))" "$result"
done
echo "fuzz: $total executions in all"
exit $failed
