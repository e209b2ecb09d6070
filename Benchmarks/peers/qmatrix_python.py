#!/usr/bin/env python3
"""Products on quantized weights from Python: `arrowhead.QuantizedMatrix.matmul` against
PyTorch's dynamic-quantized int8 Linear (fbgemm) and numpy's float32 `x @ W.T`, all called
from the same Python process on the same arrays, and against `arrowhead bench qgemm` (the
CLI, no Python) on the same weights and activations — which shows what the binding costs.

Data: all-MiniLM-L6-v2 layer 3 (query 384×384, intermediate 1536×384, output 384×1536) with
the activations those layers receive while the model encodes standard-library docstrings
(`qgemm_compare.capture_activations`), M rows drawn from them. Rows (1 thread):

- Arrowhead W8A8 per-channel (`quantize(w, bits=8, group="channel")`, `matmul(x,
  mode="int8")`): PyTorch's granularity, next to torch per-channel;
- Arrowhead W8A8 groups of 64 and W4 groups of 64 weight-only (`mode="weight-only"`);
- torch `quantize_dynamic` per-channel int8 Linear; numpy float32 `x @ W.T` (its OpenBLAS).

Times: best of --repeats samples, each ≥ 20 ms of calls, on the calling thread's CPU clock
(the CLI: `--clock thread`)
(`time.thread_time`: robust when other processes share the cores); error = ‖y − x·Wᵀ‖_F /
‖x·Wᵀ‖_F against the float64 product of the unquantized weights.

Setup:  Benchmarks/peers/setup_venv.sh; swift build -c release --product arrowhead;
        swift build -c release --product ArrowheadC
Run:    Benchmarks/peers/.venv/bin/python Benchmarks/peers/qmatrix_python.py \\
          --arrowhead .build/release/arrowhead --library .build/release/libArrowheadC.so --json-out out.json
        (repeat into out2.json, …; `--combine out.json out2.json …` prints the best of each cell)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

# One thread for numpy's BLAS too (set before numpy loads it): the times are the calling
# thread's CPU clock, which would not count a BLAS worker thread's share.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from qgemm_compare import (  # noqa: E402
    MATRICES, arrowhead_bench, best_time, capture_activations, corpus, model_paths, relative_error, torch_dynamic)


def load_arrowhead(library):
    """Imports the package from python/ against `library` (the release libArrowheadC)."""
    os.environ["ARROWHEAD_LIBRARY"] = library
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import arrowhead

    return arrowhead


def cli_seconds(report, mode):
    """The dispatched row's best seconds for `mode` in an `arrowhead bench qgemm --json` report."""
    for row in report["rows"]:
        if row.get("dispatched") and row.get("operation") == f"qgemm {mode}":
            return row["bestMilliseconds"] / 1e3
    raise KeyError(f"no dispatched {mode} row in the CLI report")


def combine(paths):
    """Several runs' JSON as one: each time the best (smallest) over the runs."""
    runs = [json.load(open(path)) for path in paths]
    out = runs[0]
    out["meta"]["runs"] = len(runs)
    out["meta"]["call_floor_us"] = min(run["meta"]["call_floor_us"] for run in runs)
    for index, row in enumerate(out["rows"]):
        for key in ("numpy_seconds", "torch_seconds"):
            row[key] = min(run["rows"][index][key] for run in runs)
        for scheme, ours in row["ours"].items():
            for key in ("seconds", "out_seconds", "cli_seconds"):
                ours[key] = min(run["rows"][index]["ours"][scheme][key] for run in runs)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arrowhead", help="the release CLI")
    parser.add_argument("--library", help="the release libArrowheadC")
    parser.add_argument("--json-out")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batches", default="1,128,512")
    parser.add_argument("--combine", nargs="+", metavar="JSON",
                        help="print the table of several runs' JSON files (best time of each cell) and exit")
    args = parser.parse_args()
    if args.combine:
        print(table(combine(args.combine)))
        return
    if not (args.arrowhead and args.library and args.json_out):
        parser.error("--arrowhead, --library and --json-out are required (or --combine)")
    arrowhead = load_arrowhead(args.library)
    arrowhead.set_num_threads(1)
    directory, model_file = model_paths()
    activations, weights = capture_activations(directory, corpus(160), 1)
    rng = np.random.default_rng(3)
    clock = time.thread_time
    rows, out = [], {"meta": {"repeats": args.repeats, "threads": 1, "clock": "thread", "library": args.library}}
    # The fixed cost of one call from Python (argument checks, ctypes, the result array).
    tiny = arrowhead.QuantizedMatrix(arrowhead.quantize(np.ones((16, 64), np.float32), bits=8, group=64))
    one = np.ones((1, 64), np.float32)
    out["meta"]["call_floor_us"] = best_time(lambda: tiny.matmul(one), args.repeats, clock) * 1e6
    with tempfile.TemporaryDirectory() as scratch:
        for label, name in MATRICES:
            w = weights[name]
            exact_weights = w.astype(np.float64)
            schemes = {
                "W8A8 per-channel": (arrowhead.quantize(w, bits=8, group="channel"), "int8",
                                     ["--bits", "8", "--per-channel"]),
                "W8A8 g64": (arrowhead.quantize(w, bits=8, group=64), "int8", ["--bits", "8", "--group", "64"]),
                "W4 g64 weight-only": (arrowhead.quantize(w, bits=4, group=64), "weight-only",
                                       ["--bits", "4", "--group", "64"]),
            }
            matrices = {key: arrowhead.QuantizedMatrix(tensor) for key, (tensor, _, _) in schemes.items()}
            for m in [int(b) for b in args.batches.split(",")]:
                pick = np.sort(rng.choice(activations[name].shape[0], size=m, replace=False))
                x = np.ascontiguousarray(activations[name][pick])
                reference = x.astype(np.float64) @ exact_weights.T
                n, k = w.shape
                x_path = os.path.join(scratch, "x.npy")
                np.save(x_path, x)
                print(f"qmatrix_python: {label} {m}×{n}×{k}", file=sys.stderr)
                torch_run, torch_result, torch_label = torch_dynamic(w, x, 1, per_channel=True)
                row = {"shape": f"{label} {m}×{n}×{k}", "m": m, "n": n, "k": k,
                       "numpy_seconds": best_time(lambda: x @ w.T, args.repeats, clock),
                       "numpy_error": relative_error(x @ w.T, reference),
                       "torch_seconds": best_time(torch_run, args.repeats, clock),
                       "torch_error": relative_error(torch_result(), reference), "torch": torch_label, "ours": {}}
                for key, (tensor, mode, flags) in schemes.items():
                    matrix = matrices[key]
                    seconds = best_time(lambda: matrix.matmul(x, mode=mode), args.repeats, clock)
                    buffer = np.empty((m, n), np.float32)
                    into = best_time(lambda: matrix.matmul(x, mode=mode, out=buffer), args.repeats, clock)
                    report, _ = arrowhead_bench(
                        args.arrowhead, [*flags, "--mode", mode, "--weights", model_file, "--tensor", f"{name}.weight",
                                         "--activations", x_path], 1, args.repeats)
                    row["ours"][key] = {"mode": mode, "seconds": seconds, "out_seconds": into,
                                        "cli_seconds": cli_seconds(report, mode),
                                        "error": relative_error(matrix.matmul(x, mode=mode), reference)}
                rows.append(row)
    out["rows"] = rows
    with open(args.json_out, "w") as handle:
        json.dump(out, handle, indent=1)
    print(table(out))


def table(out):
    """The results as a markdown table (ratios: throughput, > 1 = Arrowhead faster)."""
    runs = out["meta"].get("runs", 1)
    lines = [f"Python call floor: {out['meta']['call_floor_us']:.1f} µs per `matmul` (1×64 on a 16×64 INT8 matrix)"
             f"{f'; best of {runs} runs per cell' if runs > 1 else ''}.", "",
             "| shape | Arrowhead | ms (Python) | ms (Python, `out=`) | ms (CLI) | Python / CLI time | "
             "vs torch int8 per-channel | vs numpy float32 | error ours | error torch |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in out["rows"]:
        for key, ours in row["ours"].items():
            lines.append(
                f"| {row['shape']} | {key} | {ours['seconds'] * 1e3:.3f} | {ours['out_seconds'] * 1e3:.3f} | "
                f"{ours['cli_seconds'] * 1e3:.3f} | "
                f"{ours['seconds'] / ours['cli_seconds']:.2f} | {row['torch_seconds'] / ours['seconds']:.2f}× | "
                f"{row['numpy_seconds'] / ours['seconds']:.2f}× | {ours['error']:.5f} | {row['torch_error']:.5f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
