#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (debug build), as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build --build-tests
swift test --skip-build "$@"
