#!/usr/bin/env bash
# Runs the Python package's tests (python/tests) against the debug build's libArrowheadC, so
# that CI pays for one Swift build, not a second (release) one: run after `swift build
# --build-tests` (scripts/test.sh does). Extra arguments go to pytest.
#
# Python: python3 with numpy and pytest (a new machine has both). pyarrow, needed only by
# the zero-copy Arrow test, is installed into a virtual environment under .build/ that sees
# the system's packages; if that fails (no network), that one test is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null 2>&1 || source scripts/setup.sh
bin="$(swift build --show-bin-path)"
library="$bin/libArrowheadC.so"
if [ "$(uname -s)" = Darwin ]; then library="$bin/libArrowheadC.dylib"; fi
if [ ! -f "$library" ]; then
  echo "test_python: $library is missing: run swift build first" >&2
  exit 1
fi

venv=".build/python-test-venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv --system-site-packages "$venv"
fi
py="$venv/bin/python"
if ! "$py" -c "import numpy, pytest" 2>/dev/null; then
  echo "test_python: installing numpy and pytest into $venv" >&2
  "$py" -m pip install --quiet --disable-pip-version-check numpy pytest
fi
if ! "$py" -c "import pyarrow" 2>/dev/null && [ ! -f "$venv/.pyarrow-tried" ]; then
  touch "$venv/.pyarrow-tried"  # try once per environment: offline, do not wait on every run
  echo "test_python: installing pyarrow into $venv (for the zero-copy Arrow test)" >&2
  "$py" -m pip install --quiet --disable-pip-version-check --retries 1 --timeout 20 pyarrow \
    || echo "test_python: pyarrow could not be installed; its test will be skipped" >&2
fi

ARROWHEAD_LIBRARY="$library" ARROWHEAD_CLI="$bin/arrowhead" PYTHONPATH="$PWD/python" \
  "$py" -m pytest -q -p no:cacheprovider python/tests "$@"
