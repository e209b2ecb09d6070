#!/usr/bin/env bash
# Small products (issue 11): the dispatched gemm/gemv against OpenBLAS in the same run, at
# every shape of the issue's table, for each OpenBLAS kernel family named in CORETYPES.
#
#   Benchmarks/small_products.sh                      # 3 runs, default OpenBLAS core and SkylakeX
#   RUNS=5 CORETYPES="default Cooperlake" Benchmarks/small_products.sh
#
# Needs the release CLI (swift build -c release --product arrowhead). Each run of each
# shape is one `arrowhead bench` call (every backend and the dispatched path side by side,
# 5 repeats each, best sample); the table gives per shape the median over the runs of
# dispatched ÷ openblas and of dispatched ÷ the fastest backend row, plus the best
# dispatched ÷ openblas. Single-thread CPU-time clock (`--clock thread`), so that a busy
# neighbour does not count against either side. Each core type gets its own dispatch cache
# (ARROWHEAD_CACHE_DIR) so that one run's calibration does not decide the other's.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release/arrowhead}
RUNS=${RUNS:-3}
CORETYPES=${CORETYPES:-"default SkylakeX"}
SHAPES=${SHAPES:-"4,4,4 8,8,8 16,16,16 32,32,32 64,64,64 1,64,64 64,8,64 17,33,45 1,256,256 256,1,256"}
GEMV_SIZES=${GEMV_SIZES:-256}
[ -x "$BIN" ] || { echo "small_products: $BIN missing (swift build -c release --product arrowhead)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for core in $CORETYPES; do
  cache="$work/cache-$core"
  mkdir -p "$cache"
  for run in $(seq "$RUNS"); do
    for shape in $SHAPES; do
      if [ "$core" = default ]; then unset OPENBLAS_CORETYPE; else export OPENBLAS_CORETYPE=$core; fi
      ARROWHEAD_CACHE_DIR=$cache "$BIN" bench gemm --shape "$shape" --threads 1 --clock thread --json \
        >"$work/$core-gemm-$shape-$run.json"
    done
    for size in $GEMV_SIZES; do
      for t in "" "--transposed"; do
        ARROWHEAD_CACHE_DIR=$cache "$BIN" bench gemv --sizes "$size" --threads 1 --clock thread --json $t \
          >"$work/$core-gemv$t-$size-$run.json"
      done
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$work" "$CORETYPES" <<'EOF'
import glob, json, os, re, statistics, sys
work, cores = sys.argv[1], sys.argv[2].split()
print("| OpenBLAS core | operation | shape | dispatched | dispatched ÷ openblas (median) | (best run) | dispatched ÷ fastest row (median) | fastest row |")
print("|---|---|---|---|---|---|---|---|")
for core in cores:
    groups = {}
    for path in sorted(glob.glob(os.path.join(work, f"{core}-*.json"))):
        key = re.sub(r"-\d+\.json$", "", os.path.basename(path))[len(core) + 1:]
        groups.setdefault(key, []).append(json.load(open(path)))
    def order(key):
        op, shape = key.split("-", 1) if not key.startswith("gemv--") else ("gemv-T", key[len("gemv--transposed-"):])
        return (op, [int(x) for x in shape.split(",")])
    for key in sorted(groups, key=order):
        versus, fastest, names, winners = [], [], set(), []
        for report in groups[key]:
            rows = report["rows"]
            d = next(r for r in rows if r["dispatched"])
            o = next(r for r in rows if r["backend"] == "openblas" and not r["dispatched"])
            best = max((r for r in rows if not r["dispatched"]), key=lambda r: r["throughput"])
            versus.append(d["throughput"] / o["throughput"])
            fastest.append(d["throughput"] / best["throughput"])
            names.add(d["backend"]); winners.append(best["backend"])
            operation, shape = d["operation"], d["shape"]
        print(f"| {core} | {operation} | {shape} | {'/'.join(sorted(names))} | {statistics.median(versus):.2f}× | "
              f"{max(versus):.2f}× | {statistics.median(fastest):.2f}× | {max(set(winners), key=winners.count)} |")
EOF
