#!/usr/bin/env bash
# Kills writing processes (quantize, dequantize, index build) with SIGKILL at random moments
# and checks that each destination is the old file or the complete new one, and that no
# temporary file survives the next run (CrashSafetyTests; CI runs 2 kills per command).
#
#   scripts/crash-test.sh                 # 34 kills per command (102 in all), seed 15
#   scripts/crash-test.sh 100 7           # 100 per command, seed 7
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build --build-tests
ARROWHEAD_CRASH_KILLS="${1:-34}" ARROWHEAD_CRASH_SEED="${2:-15}" \
  swift test --skip-build --filter CrashSafetyTests 2>&1 | grep -E "crash-safety|✘|Test run"
