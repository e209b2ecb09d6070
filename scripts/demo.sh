#!/usr/bin/env bash
# Sets everything up, builds the release CLI, probes this machine and runs a short
# side-by-side benchmark of the backends.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build -c release --product arrowhead
bin="$(swift build -c release --show-bin-path)/arrowhead"
"$bin" probe
"$bin" bench gemm --sizes 256,1024 --threads 1 --repeats 5
"$bin" bench distances --queries 1000 --base 20000 --dimension 128 --repeats 3
