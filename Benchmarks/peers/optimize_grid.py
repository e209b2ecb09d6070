#!/usr/bin/env python3
"""numpy peer of Arrowhead's `grid` optimizer on the 37 linear matrices of all-MiniLM-L6-v2
(groups of 64, float minimum x_hat = q*s + m): the same algorithm, vectorised over groups in
float64, to compare error and time side by side with `arrowhead optimize eval`.

Per group: 5 x 5 grid of clip fractions (a, b) of the range [min + a*r, max - b*r] plus
min-max itself; each start's codes get the closed-form least-squares (s, m); the 8 best
predictions are refined by alternating re-rounding and fitting (3 passes, stop when the
error stops decreasing); then one round of 8 local moves (scale x(1 +- 0.5/top), offset
+- 1/4 step and combinations) refined twice. Prints the size-weighted relative error
sqrt(sum n_k e_k^2 / sum n_k) and seconds (best of --repeat).

Usage: python3 Benchmarks/peers/optimize_grid.py [MODEL.safetensors] [--bits 8 4 2] [--repeat 3] [--steps 5]
"""
import argparse
import json
import time

import numpy as np

from optimize_hqq import linear_matrices, measure, model_path

GROUP = 64
CLIP = {2: (-0.05, 0.35), 3: (-0.03, 0.3), 4: (-0.02, 0.25), 8: (-0.005, 0.04)}


def fit(g, q, n, sx, sxx):
    sq = q.sum(1)
    sqq = (q * q).sum(1)
    sxq = (g * q).sum(1)
    d = n * sqq - sq * sq
    ok = d > 1e-9 * n * sqq
    safe = np.where(ok, d, 1)
    s = (n * sxq - sq * sx) / safe
    m = (sqq * sx - sq * sxq) / safe
    ok &= s > 0
    return np.where(ok, s, 1), np.where(ok, m, 0), np.where(ok, np.maximum(sxx - s * sxq - m * sx, 0), np.inf)


def codes(g, s, m, top):
    return np.clip(np.rint((g - m[:, None]) / s[:, None]), 0, top)


def refine(g, s, m, e, top, n, sx, sxx, passes):
    for _ in range(passes):
        s2, m2, e2 = fit(g, codes(g, s, m, top), n, sx, sxx)
        better = e2 < e
        s, m, e = np.where(better, s2, s), np.where(better, m2, m), np.where(better, e2, e)
    return s, m, e


def grid(g, bits, steps=5, keep=8, passes=3):
    top = 2**bits - 1
    n = g.shape[1]
    sx, sxx = g.sum(1), (g * g).sum(1)
    low, high = g.min(1), g.max(1)
    span = high - low
    lo, hi = CLIP[bits]
    fractions = np.linspace(lo, hi, steps)
    starts = [(a, b) for a in fractions for b in fractions] + [(0.0, 0.0)]
    fitted = []
    for a, b in starts:
        l, h = low + a * span, high - b * span
        s = np.where(h > l, (h - l) / top, 1)
        fitted.append(fit(g, codes(g, s, l, top), n, sx, sxx))
    S, M, E = (np.array([f[i] for f in fitted]) for i in range(3))
    order = np.argsort(E, axis=0)[:keep]
    rows = np.arange(g.shape[0])
    best_s, best_m, best_e = np.ones(g.shape[0]), np.zeros(g.shape[0]), np.full(g.shape[0], np.inf)
    for k in range(min(keep, len(starts))):
        s, m, e = refine(g, S[order[k], rows], M[order[k], rows], E[order[k], rows], top, n, sx, sxx, passes)
        better = e < best_e
        best_s, best_m, best_e = np.where(better, s, best_s), np.where(better, m, best_m), np.where(better, e, best_e)
    d = 0.5 / top
    for ds, dm in [(d, 0), (-d, 0), (0, 1), (0, -1), (d, 1), (-d, -1), (d, -1), (-d, 1)]:
        s = best_s * (1 + ds)
        m = best_m + dm * best_s / 4 - (s - best_s) * top / 2
        s, m, e = fit(g, codes(g, s, m, top), n, sx, sxx)
        s, m, e = refine(g, s, m, e, top, n, sx, sxx, 2)
        better = e < best_e
        best_s, best_m, best_e = np.where(better, s, best_s), np.where(better, m, best_m), np.where(better, e, best_e)
    return best_s, best_m


def relative_error(w, bits, steps):
    g = w.reshape(-1, GROUP).astype(np.float64)
    s, m = grid(g, bits, steps)
    s32, m32 = s.astype(np.float32), m.astype(np.float32)
    q = np.clip(np.rint((w.reshape(-1, GROUP) - m32[:, None]) / s32[:, None]), 0, 2**bits - 1).astype(np.float32)
    approx = q * s32[:, None] + m32[:, None]
    difference = (w.reshape(-1, GROUP) - approx).astype(np.float64)
    return float(np.sqrt((difference**2).sum() / (w.astype(np.float64) ** 2).sum()))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 4, 2])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", help="also write the results as JSON to this file")
    arguments = parser.parse_args()
    matrices = linear_matrices(arguments.model or model_path())
    results = measure(matrices, arguments.bits, arguments.repeat,
                      lambda w, bits: relative_error(w, bits, arguments.steps), "grid-numpy")
    if arguments.json:
        with open(arguments.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
