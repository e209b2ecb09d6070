#!/usr/bin/env python3
"""Quantization error and time, Arrowhead vs its peers, on the 37 encoder + pooler matrices
of all-MiniLM-L6-v2 (10.76 M weights), in one run:

- numpy min-max (groups of 64, float minimum): error at INT8/INT4/INT2 (same formula in
  numpy, here) and `quantize_minmax.py compare` (INT4: in-memory quantize+pack GB/s, the
  whole-model run, and a byte-for-byte check that both wrote identical codes/scales/minima);
- gguf (llama.cpp's numpy reference `gguf.quants`, blocks of 32): Q8_0, Q4_0, Q4_1 against
  Arrowhead's closest schemes at groups of 32: symmetric 8-bit, symmetric 4-bit, asymmetric
  float-minimum 4-bit (min-max, the grid optimizer and, symmetric, `signed-max`: Q4_0's own
  rule, every code in use);
- the HQQ optimizer (numpy port `optimize_hqq.py`: HQQ itself needs torch) vs `hqq`;
- the numpy grid optimizer (`optimize_grid.py`) vs `grid`.
Arrowhead runs through `arrowhead optimize eval` on 1 thread (the peers are single-threaded
numpy); its time covers optimizer + quantize + pack + error measurement, the peers' only
their quantization (gguf: `quantize`; min-max: codes, scales and minima).

Metric: size-weighted relative error sqrt(Σ nₖ eₖ² / Σ nₖ), eₖ = ‖Wₖ − Ŵₖ‖/‖Wₖ‖.
Writes everything as JSON (--json-out). Exit status 3 when the arrowhead binary fails; a
failing peer is recorded under "errors" and reads n/a in the report.

Usage: quant_compare.py --arrowhead .build/release/arrowhead --json-out out/quant.json [--quick]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from optimize_hqq import linear_matrices, model_path  # noqa: E402

OURS_FAILED = 3


class Runner:
    def __init__(self, args):
        self.args = args
        self.errors = []
        self.commands = []

    def show(self, command):
        """The command as the report prints it: $MODEL, repository-relative paths."""
        root = os.path.dirname(os.path.dirname(HERE))
        shown = []
        for part in command:
            if part == self.args.model:
                part = "$MODEL"
            elif part == self.args.arrowhead:
                part = "arrowhead"
            elif part == sys.executable:
                part = "python"
            elif os.path.isabs(part) and part.startswith(root + os.sep):
                part = os.path.relpath(part, root)
            shown.append(part)
        return " ".join(shown)

    def ours(self, *arguments):
        command = [self.args.arrowhead, *arguments]
        self.commands.append(self.show(command))
        started = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True)
        if completed.returncode != 0:
            print(f"FAILED (ours): {' '.join(command)}\n{completed.stderr}", file=sys.stderr)
            sys.exit(OURS_FAILED)
        print(f"  arrowhead {' '.join(arguments[:2])} … [{time.perf_counter() - started:.1f} s]", file=sys.stderr, flush=True)
        return completed.stdout

    def peer(self, name, command, json_path):
        """Runs a peer script that writes JSON; None (and an error entry) when it fails."""
        self.commands.append(self.show(command))
        started = time.perf_counter()
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        completed = subprocess.run(command, capture_output=True, text=True, env=env)
        if completed.returncode == OURS_FAILED:
            print(f"FAILED (ours, inside {name}):\n{completed.stderr}", file=sys.stderr)
            sys.exit(OURS_FAILED)
        if completed.returncode != 0 or not os.path.exists(json_path):
            reason = (completed.stderr.strip().splitlines() or [f"exit status {completed.returncode}"])[-1]
            self.errors.append({"peer": name, "reason": reason})
            print(f"  {name} failed: {reason}", file=sys.stderr)
            return None
        print(f"  {name} [{time.perf_counter() - started:.1f} s]", file=sys.stderr, flush=True)
        with open(json_path) as handle:
            return json.load(handle)

    def inline_peer(self, name, function):
        try:
            started = time.perf_counter()
            result = function()
            print(f"  {name} [{time.perf_counter() - started:.1f} s]", file=sys.stderr, flush=True)
            return result
        except Exception as error:  # a peer's failure must not stop the run
            self.errors.append({"peer": name, "reason": f"{type(error).__name__}: {error}"})
            print(f"  {name} failed: {error}", file=sys.stderr)
            return None


def weighted(errors):
    total = sum(n for n, _ in errors)
    return float(np.sqrt(sum(n * e * e for n, e in errors) / total))


def relative(w, approx):
    d = (w - approx.reshape(w.shape)).astype(np.float64)
    return float(np.sqrt((d * d).sum() / (w.astype(np.float64) ** 2).sum()))


def numpy_minmax(matrices, bits_list, repeat, group=64):
    """Plain min-max, float minimum, groups of 64 (DATA.md's reference figures)."""
    out = []
    for bits in bits_list:
        top = np.float32(2 ** bits - 1)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            params = []
            for _, w in matrices:
                g = w.reshape(-1, group)
                mn, mx = g.min(1, keepdims=True), g.max(1, keepdims=True)
                s = (mx - mn) / top
                safe = np.where(s == 0, np.float32(1), s)
                q = np.clip(np.rint((g - mn) / safe), 0, top).astype(np.uint8)
                params.append((q, s, mn))
            times.append(time.perf_counter() - started)
        errors = [(w.size, relative(w, q.astype(np.float32) * s + mn)) for (_, w), (q, s, mn) in zip(matrices, params)]
        out.append({"bits": bits, "error": weighted(errors), "seconds": min(times), "samples": times})
    return out


def gguf_quants(matrices, repeat):
    import gguf
    import gguf.quants as quants
    out = []
    for name in ("Q8_0", "Q4_0", "Q4_1"):
        qtype = getattr(gguf.GGMLQuantizationType, name)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            blobs = [quants.quantize(w, qtype) for _, w in matrices]
            times.append(time.perf_counter() - started)
        errors = [(w.size, relative(w, quants.dequantize(b, qtype))) for (_, w), b in zip(matrices, blobs)]
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        out.append({"type": name, "error": weighted(errors), "seconds": min(times), "samples": times,
                    "bits_per_weight": 8 * size / block})
    try:
        from importlib.metadata import version
        package = version("gguf")
    except Exception:
        package = "unknown"
    return {"version": package, "rows": out}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arrowhead", required=True)
    parser.add_argument("--model", default=None, help="all-MiniLM-L6-v2 model.safetensors (default: the pip package's)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds of Arrowhead, gguf and numpy min-max")
    parser.add_argument("--port-repeat", type=int, default=1, help="timed rounds of the numpy HQQ and grid ports (slow)")
    parser.add_argument("--port-bits", default="8,4,2", help="bit widths for the numpy HQQ / grid ports")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json-out", required=True)
    parser.add_argument("--work", default=None, help="scratch directory (default: next to --json-out)")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.port_repeat, args.port_bits = 1, 1, "4"
    args.model = os.path.abspath(args.model or model_path())
    args.arrowhead = os.path.abspath(args.arrowhead)
    work = args.work or os.path.join(os.path.dirname(os.path.abspath(args.json_out)), "quant-work")
    os.makedirs(work, exist_ok=True)
    runner = Runner(args)
    repeat = str(args.repeat)
    port_bits = [int(b) for b in args.port_bits.split(",")]

    print("quant: Arrowhead optimize eval (groups of 64 and 32, 1 thread)", file=sys.stderr, flush=True)
    ours64 = json.loads(runner.ours("optimize", "eval", args.model, "--bits", "8", "4", "2", "--group", "64",
                                    "--optimizers", "minmax", "grid", "hqq", "--repeat", repeat, "--threads", "1", "--json"))
    ours32s = json.loads(runner.ours("optimize", "eval", args.model, "--bits", "8", "4", "--group", "32", "--symmetric",
                                     "--optimizers", "minmax", "signed-max", "grid", "--repeat", repeat, "--threads", "1",
                                     "--json"))
    ours32a = json.loads(runner.ours("optimize", "eval", args.model, "--bits", "4", "--group", "32",
                                     "--optimizers", "minmax", "grid", "--repeat", repeat, "--threads", "1", "--json"))

    print("quant: peers", file=sys.stderr, flush=True)
    matrices = linear_matrices(args.model)
    numpy_rows = runner.inline_peer("numpy min-max", lambda: numpy_minmax(matrices, [8, 4, 2], args.repeat))
    gguf_rows = runner.inline_peer("gguf", lambda: gguf_quants(matrices, args.repeat))
    minmax_compare = runner.peer("quantize_minmax.py compare", [
        sys.executable, os.path.join(HERE, "quantize_minmax.py"), "compare", args.model, "--arrowhead", args.arrowhead,
        "--repeat", repeat, "--out-dir", work, "--json", os.path.join(work, "minmax.json")], os.path.join(work, "minmax.json"))
    hqq = runner.peer("HQQ numpy port", [
        sys.executable, os.path.join(HERE, "optimize_hqq.py"), args.model, "--bits", *map(str, port_bits), "--stop", "tensor",
        "--repeat", str(args.port_repeat), "--json", os.path.join(work, "hqq.json")], os.path.join(work, "hqq.json"))
    grid = runner.peer("grid numpy port", [
        sys.executable, os.path.join(HERE, "optimize_grid.py"), args.model, "--bits", *map(str, port_bits),
        "--repeat", str(args.port_repeat), "--json", os.path.join(work, "grid.json")], os.path.join(work, "grid.json"))
    try:
        import importlib.util
        hqq_installed = importlib.util.find_spec("hqq") is not None
    except Exception:
        hqq_installed = False

    result = {
        "model": "all-MiniLM-L6-v2 (37 encoder + pooler matrices)", "weights": sum(w.size for _, w in matrices),
        "matrices": len(matrices), "repeat": args.repeat, "port_repeat": args.port_repeat, "quick": args.quick,
        "ours": {"g64": ours64, "g32_symmetric": ours32s, "g32_float_minimum": ours32a},
        "numpy_minmax": numpy_rows, "gguf": gguf_rows, "minmax_compare": minmax_compare,
        "hqq_port": hqq, "grid_port": grid, "hqq_installed": hqq_installed,
        "numpy": np.__version__, "commands": runner.commands, "errors": runner.errors,
    }
    with open(args.json_out, "w") as handle:
        json.dump(result, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
