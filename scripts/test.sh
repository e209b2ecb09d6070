#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (debug build), as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build --build-tests
swift test --skip-build "$@"
# The Python package (python/) and the C example, against the debug build's libArrowheadC.
./scripts/test_python.sh
