#!/usr/bin/env python3
"""Dispatch check (issue 11): is the dispatched row of every `arrowhead bench` operation and
shape at least 0.95x the fastest backend row of the same run?

    swift build -c release --product arrowhead
    python3 Benchmarks/dispatch_check.py                       # 2 rounds, default core and SkylakeX
    python3 Benchmarks/dispatch_check.py --rounds 3 --coretypes default,Cooperlake --threads 1,2

Runs `bench gemm`, `bench gemv` (A·x and Aᵀ·x), `bench dot`, `bench distances` and `bench qgemm`
(4- and 8-bit weights, every mode) with their default sizes (dot also at 64, 1 024 and 16 384)
at each thread count, once per round and
OpenBLAS core type (`OPENBLAS_CORETYPE`; "default" leaves it unset). Each `bench` call times
every backend and the dispatched path side by side (best of --repeats samples); the ratio is
dispatched throughput / the best non-dispatched row of that call. Per (core, operation,
shape, threads) it prints every round's ratio with the two backends, the median, and flags
a median below 0.95 ("<") or every round below it ("<<<"). The dispatch cache is the user's
(what an application gets); set ARROWHEAD_CACHE_DIR to isolate it. Exit status 0 whatever
the ratios (this is a measurement, not a test: the 2-core machines are noisy).
Python 3 standard library only.
"""
import argparse
import collections
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def short(name):
    return name.replace("simd-x86-64-", "").replace("simd-", "")


def throughput(row):
    """A row's throughput: `throughput` where the command reports it, else 1 / best time
    (`bench qgemm`, whose rows of one operation and shape all do the same work)."""
    return row["throughput"] if "throughput" in row else 1 / row["bestMilliseconds"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build", "release", "arrowhead"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--coretypes", default="default,SkylakeX",
                        help="OpenBLAS core types, comma-separated ('default' leaves OPENBLAS_CORETYPE unset)")
    parser.add_argument("--threshold", type=float, default=0.95)
    args = parser.parse_args()
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"dispatch_check: {args.bin} missing (swift build -c release --product arrowhead)")
    commands = [
        ["gemm"], ["gemv"], ["gemv", "--transposed"],
        ["dot", "--sizes", "64,256,1024,4096,16384"], ["distances"],
        ["qgemm", "--bits", "4", "--mode", "all"], ["qgemm", "--bits", "8", "--mode", "all"],
    ]
    ratios = collections.defaultdict(list)
    for core in args.coretypes.split(","):
        environment = dict(os.environ)
        environment.pop("OPENBLAS_CORETYPE", None)
        if core != "default":
            environment["OPENBLAS_CORETYPE"] = core
        for round_index in range(args.rounds):
            for command in commands:
                for threads in args.threads.split(","):
                    call = [args.bin, "bench", *command, "--threads", threads, "--json", "--repeats", str(args.repeats)]
                    done = subprocess.run(call, env=environment, capture_output=True, text=True)
                    if done.returncode != 0:
                        print(f"failed: {' '.join(call)}\n{done.stderr[-500:]}", file=sys.stderr)
                        continue
                    groups = collections.defaultdict(list)
                    for row in json.loads(done.stdout)["rows"]:
                        groups[(row["operation"], row["shape"], row["threads"])].append(row)
                    for (operation, shape, row_threads), rows in groups.items():
                        dispatched = [row for row in rows if row["dispatched"]]
                        others = [row for row in rows if not row["dispatched"]]
                        if not dispatched or not others:
                            continue
                        best = max(others, key=throughput)
                        label = operation + (" (transposed)" if "--transposed" in command else "")
                        if command[0] == "qgemm":
                            label += f" {command[command.index('--bits') + 1]}-bit"
                        key = (core, label, shape, row_threads)
                        ratios[key].append((throughput(dispatched[0]) / throughput(best),
                                            dispatched[0]["backend"], best["backend"]))
            print(f"{core}: round {round_index + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    print(f"dispatched / fastest backend row, per round (dispatched/fastest backends); threshold {args.threshold}")
    below = 0
    for key in sorted(ratios):
        values = ratios[key]
        ordered = sorted(value[0] for value in values)
        median = ordered[len(ordered) // 2] if len(ordered) % 2 else 0.5 * (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2])
        flag = " <<<" if max(ordered) < args.threshold else (" <" if median < args.threshold else "")
        below += bool(flag)
        rounds = " ".join(f"{ratio:.2f}({short(ours)}/{short(fastest)})" for ratio, ours, fastest in values)
        core, operation, shape, threads = key
        print(f"{core:10} {operation:24} {shape:18} {threads}T  median {median:.2f}  {rounds}{flag}")
    print(f"{below} of {len(ratios)} rows with a median below {args.threshold}")


if __name__ == "__main__":
    main()
