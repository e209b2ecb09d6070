#!/usr/bin/env python3
"""Engine kernels side by side with numpy (which bundles its own OpenBLAS) in one run.

SGEMM (n×n) and the queries × base squared-L2 distance matrix computed numpy's usual way,
‖x‖² + ‖y‖² − 2·X·Yᵀ clamped at 0, against `arrowhead bench … --json` (every Arrowhead
backend plus the dispatched path). Same data shapes, same thread count, best of repeats.
Prints a Markdown table of throughputs and ratios (ours / numpy, higher is better).

Usage: engine_vs_numpy.py --arrowhead .build/release/arrowhead [--threads 1] [--quick]
"""
import argparse
import json
import os
import subprocess
import sys
import time


def best_time(function, repeats, minimum=0.05):
    function()  # warm-up
    start = time.perf_counter()
    function()
    once = max(time.perf_counter() - start, 1e-9)
    loops = max(1, int(minimum / once + 0.999))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            function()
        best = min(best, (time.perf_counter() - start) / loops)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arrowhead", required=True, help="path to the arrowhead CLI (release build)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default="64,256,512,1024,2048")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--base", type=int, default=100000)
    parser.add_argument("--dimension", type=int, default=128)
    parser.add_argument("--quick", action="store_true", help="smaller problems, fewer repeats")
    parser.add_argument("--json-out", help="also write the raw results as JSON here")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.base, args.repeats = "64,512", 20000, 3

    # numpy's OpenBLAS reads its thread count when it loads.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    import numpy as np

    rng = np.random.default_rng(42)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []

    def ours(command):
        environment = dict(os.environ, ARROWHEAD_THREADS=str(args.threads))
        output = subprocess.run([args.arrowhead] + command + ["--json", "--repeats", str(args.repeats),
                                                              "--threads", str(args.threads)],
                                check=True, capture_output=True, text=True, env=environment).stdout
        return json.loads(output)["rows"]

    # SGEMM.
    our_gemm = ours(["bench", "gemm", "--sizes", args.sizes])
    for n in sizes:
        a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        seconds = best_time(lambda: a @ b, args.repeats)
        numpy_gflops = 2 * n ** 3 / seconds / 1e9
        for row in our_gemm:
            if row["size"] == n:
                rows.append(("sgemm", f"n={n}", row, numpy_gflops))

    # Distance matrix, numpy's expansion.
    q = rng.uniform(-1, 1, (args.queries, args.dimension)).astype(np.float32)
    x = rng.uniform(-1, 1, (args.base, args.dimension)).astype(np.float32)

    def numpy_l2():
        d = (q * q).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2 * (q @ x.T)
        np.maximum(d, 0, out=d)
        return d

    seconds = best_time(numpy_l2, max(2, args.repeats // 2), minimum=0)
    numpy_gflops = 2 * args.queries * args.base * args.dimension / seconds / 1e9
    shape = f"{args.queries}×{args.base}×{args.dimension}"
    for row in ours(["bench", "distances", "--queries", str(args.queries), "--base", str(args.base),
                     "--dimension", str(args.dimension)]):
        rows.append(("L2 distance matrix", shape, row, numpy_gflops))

    print(f"numpy {np.__version__} (its bundled OpenBLAS), "
          f"{args.threads} thread(s), best of {args.repeats}\n")
    print("| operation | shape | backend | ours GFLOP/s | numpy GFLOP/s | ours / numpy |")
    print("|---|---|---|---:|---:|---:|")
    for operation, shape, row, theirs in rows:
        name = row["backend"] + (" (dispatched)" if row["dispatched"] else "")
        print(f"| {operation} | {shape} | {name} | {row['throughput']:.1f} | {theirs:.1f} | "
              f"{row['throughput'] / theirs:.2f}× |")
    if args.json_out:
        with open(args.json_out, "w") as handle:
            json.dump([{"operation": o, "shape": s, "ours": r, "numpyGFLOPS": t} for o, s, r, t in rows], handle, indent=2)


if __name__ == "__main__":
    sys.exit(main())
