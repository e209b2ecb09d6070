#!/usr/bin/env python3
"""numpy peer of `arrowhead quantize`: plain min-max, float minimum, INT4, groups of 64.

Modes
  throughput            quantize + pack a 16384x1024 float32 matrix already in memory
                        (same shape and value distribution as `arrowhead quantize throughput`);
                        prints GB/s of input, best and median.
  model IN OUT          what `arrowhead quantize IN -o OUT --bits 4 --group 64` does: keep
                        embeddings, norms and 1-D tensors, quantize the other 2-D float
                        tensors (codes packed two per byte, float32 scales and minima),
                        measure each tensor's relative error, write a safetensors file
                        (temporary file, fsync, rename, directory fsync: Arrowhead's
                        AtomicFile does the same).
  compare IN            runs both side by side (alternating, --repeat rounds): the in-memory
                        throughput, then the whole-model run (wall time and peak RSS of each
                        process), checks that both wrote identical codes and scales, and
                        prints the ratios. Needs --arrowhead PATH (a release build).

Only numpy is needed. The codes are bit-identical to Arrowhead's: float32 true division,
np.rint (round half to even), clip, 4-bit little-endian packing (low nibble first).
"""
import argparse
import json
import os
import resource
import statistics
import struct
import subprocess
import sys
import time

import numpy as np

BITS, GROUP = 4, 64
KEEP = ("embed", "norm", "lm_head")


def quantize_minmax(w, bits=BITS, group=GROUP):
    """w: float32 [rows, columns], columns % group == 0 and columns*bits % 8 == 0.
    Returns packed codes uint8 [rows, columns*bits/8], scales and minima float32 [rows, groups]."""
    rows, columns = w.shape
    g = w.reshape(rows, columns // group, group)
    mn = g.min(axis=2)
    mx = g.max(axis=2)
    top = np.float32(2**bits - 1)
    s = (mx - mn) / top
    safe = np.where(s == 0, np.float32(1), s)
    q = np.rint((g - mn[..., None]) / safe[..., None])
    np.clip(q, 0, top, out=q)
    q = q.astype(np.uint8).reshape(rows, columns)
    q[s.repeat(group, axis=1) == 0] = 0
    if bits == 4:
        packed = q[:, 0::2] | (q[:, 1::2] << 4)
    elif bits == 8:
        packed = q
    else:
        raise ValueError("this peer packs 4 and 8 bits only")
    return packed, s, mn


def relative_error(w, packed, s, mn, group=GROUP):
    rows, columns = w.shape
    q = np.empty((rows, columns), np.uint8)
    q[:, 0::2] = packed & 0x0F
    q[:, 1::2] = packed >> 4
    approx = q.reshape(rows, columns // group, group).astype(np.float32) * s[..., None] + mn[..., None]
    d = (w.reshape(approx.shape) - approx).astype(np.float64)
    return float(np.sqrt((d * d).sum() / (w.astype(np.float64) ** 2).sum()))


def weight_like(rows, columns, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, size=(4, rows, columns)).astype(np.float32).sum(axis=0) * np.float32(0.02))


def throughput(rows=16384, columns=1024, repeats=9):
    w = weight_like(rows, columns)
    quantize_minmax(w)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        quantize_minmax(w)
        times.append(time.perf_counter() - t)
    gb = w.nbytes / 1e9
    return {"best_gb_per_s": gb / min(times), "median_gb_per_s": gb / statistics.median(times), "seconds": times}


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return header, 8 + n


def quantize_model(src, dst):
    header, data_start = read_header(src)
    raw = np.memmap(src, dtype=np.uint8, mode="r")
    meta = header.pop("__metadata__", {})
    out_tensors, blobs, errors = {}, [], []
    offset = 0

    def put(name, dtype, shape, array):
        nonlocal offset
        b = np.ascontiguousarray(array).view(np.uint8).reshape(-1)
        out_tensors[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + b.size]}
        blobs.append(b)
        offset += b.size

    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        a, b = info["data_offsets"]
        data = raw[data_start + a:data_start + b]
        quantize = (info["dtype"] == "F32" and len(info["shape"]) == 2
                    and not any(k in name.lower() for k in KEEP) and info["shape"][1] % GROUP == 0)
        if not quantize:
            put(name, info["dtype"], info["shape"], data)
            continue
        w = data.view(np.float32).reshape(info["shape"])
        packed, s, mn = quantize_minmax(w)
        errors.append((w.size, relative_error(w, packed, s, mn)))
        put(name + ".__scales", "F32", s.shape, s)
        put(name + ".__minimums", "F32", mn.shape, mn)
        put(name + ".__codes", "U8", packed.shape, packed)
    out_tensors["__metadata__"] = meta
    head = json.dumps(out_tensors, separators=(",", ":")).encode()
    head += b" " * ((8 - (8 + len(head)) % 8) % 8)
    tmp = dst + ".tmp-numpy"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for blob in blobs:
            f.write(memoryview(blob))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dst)
    directory = os.open(os.path.dirname(os.path.abspath(dst)), os.O_RDONLY)
    os.fsync(directory)
    os.close(directory)
    n = sum(k for k, _ in errors)
    return {"tensors": len(errors), "weights": n,
            "size_weighted_relative_error": float(np.sqrt(sum(k * e * e for k, e in errors) / n))}


def run_measured(command, ours=False):
    """Runs a command under /usr/bin/time; returns (wall seconds, peak RSS MiB, stdout).
    (The rusage of a child forked from this large process would inherit its high-water mark.)
    A failing Arrowhead command (ours=True) exits with status 3, a failing peer with 1."""
    timer = ["/usr/bin/time", "-f", "%M"] if os.path.exists("/usr/bin/time") else []  # Debian package `time`
    t = time.perf_counter()
    result = subprocess.run(timer + command, capture_output=True)
    wall = time.perf_counter() - t
    if result.returncode != 0:
        print(f"command failed: {' '.join(command)}\n{result.stderr.decode()}", file=sys.stderr)
        sys.exit(3 if ours else 1)
    if not timer:
        return wall, float("nan"), result.stdout
    peak_kib = int(result.stderr.decode().strip().splitlines()[-1])
    return wall, peak_kib / 1024, result.stdout


def compare(args):
    here = os.path.abspath(__file__)
    model = args.input
    out_dir = args.out_dir
    os.makedirs(out_dir, exist_ok=True)
    ours_out, peer_out = os.path.join(out_dir, "arrowhead.q.safetensors"), os.path.join(out_dir, "numpy.q.safetensors")
    ours_tp, peer_tp, ours_model, peer_model = [], [], [], []
    for _ in range(args.repeat):
        _, _, out = run_measured([args.arrowhead, "quantize", "throughput", "--threads", "1", "--json"], ours=True)
        ours_tp.append(json.loads(out)["bestGBPerSecond"])
        peer_tp.append(throughput(repeats=5)["best_gb_per_s"])
        for path in (ours_out, peer_out):  # both write a new file (replacing one costs both ~50 ms more here)
            if os.path.exists(path) and not args.overwrite:
                os.remove(path)
        os.sync()
        ours_model.append(run_measured([args.arrowhead, "quantize", model, "-o", ours_out, "--bits", "4", "--group", "64", "--quiet", "--json"], ours=True))
        os.sync()
        peer_model.append(run_measured([sys.executable, here, "model", model, peer_out]))
    ours_report = json.loads(ours_model[-1][2])
    peer_report = json.loads(peer_model[-1][2])
    # Same codes, scales and minima for every quantized tensor.
    h1, s1 = read_header(ours_out)
    h2, s2 = read_header(peer_out)
    r1, r2 = np.memmap(ours_out, np.uint8, mode="r"), np.memmap(peer_out, np.uint8, mode="r")
    compared = mismatched = 0
    for name, info in h2.items():
        if not name.endswith((".__codes", ".__scales", ".__minimums")):
            continue
        other = h1[name]
        a = r1[s1 + other["data_offsets"][0]:s1 + other["data_offsets"][1]]
        b = r2[s2 + info["data_offsets"][0]:s2 + info["data_offsets"][1]]
        compared += 1
        mismatched += int(not np.array_equal(a, b))

    def row(label, values, unit, best=max):
        return f"{label:<44} best {best(values):8.3f} {unit}  median {statistics.median(values):8.3f} {unit}"

    print(f"INT4 g64 float-minimum min-max, {args.repeat} alternating rounds, this machine ({os.cpu_count()} cores)")
    print(row("in-memory quantize+pack, Arrowhead, 1 thread", ours_tp, "GB/s"))
    print(row("in-memory quantize+pack, numpy", peer_tp, "GB/s"))
    print(f"  ratio (best/best) {max(ours_tp) / max(peer_tp):.2f}x, (median/median) {statistics.median(ours_tp) / statistics.median(peer_tp):.2f}x")
    ours_wall = [w for w, _, _ in ours_model]
    peer_wall = [w for w, _, _ in peer_model]
    print(row("whole model, arrowhead quantize (wall)", ours_wall, "s", min))
    print(row("whole model, numpy script (wall)", peer_wall, "s", min))
    print(f"  ratio (best/best) {min(peer_wall) / min(ours_wall):.2f}x, (median/median) {statistics.median(peer_wall) / statistics.median(ours_wall):.2f}x")
    print(f"  peak RSS: arrowhead {max(r for _, r, _ in ours_model):.0f} MiB, numpy {max(r for _, r, _ in peer_model):.0f} MiB")
    print(f"  size-weighted relative error: arrowhead {ours_report['summary']['sizeWeightedRelativeError']:.5f}, "
          f"numpy {peer_report['size_weighted_relative_error']:.5f}")
    print(f"  codes/scales/minima compared: {compared} tensors, {mismatched} differ")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({
                "scheme": "INT4 g64 float-minimum min-max", "rounds": args.repeat,
                "throughput_gb_per_s": {"arrowhead": ours_tp, "numpy": peer_tp},
                "model_wall_s": {"arrowhead": ours_wall, "numpy": peer_wall},
                "peak_rss_mib": {"arrowhead": max(r for _, r, _ in ours_model),
                                 "numpy": max(r for _, r, _ in peer_model)},
                "error": {"arrowhead": ours_report["summary"]["sizeWeightedRelativeError"],
                          "numpy": peer_report["size_weighted_relative_error"]},
                "tensors_compared": compared, "tensors_differing": mismatched,
                "commands": {"arrowhead_throughput": "arrowhead quantize throughput --threads 1 --json",
                             "arrowhead_model": "arrowhead quantize MODEL -o OUT --bits 4 --group 64 --quiet --json",
                             "numpy_model": "quantize_minmax.py model MODEL OUT"},
            }, handle, indent=1)
    return 1 if mismatched else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("throughput")
    m = sub.add_parser("model")
    m.add_argument("input")
    m.add_argument("output")
    c = sub.add_parser("compare")
    c.add_argument("input")
    c.add_argument("--arrowhead", required=True)
    c.add_argument("--repeat", type=int, default=5)
    c.add_argument("--out-dir", default="/tmp/arrowhead-quantize-compare")
    c.add_argument("--overwrite", action="store_true", help="replace the previous outputs instead of writing new files")
    c.add_argument("--json", help="also write the measurements as JSON to this file")
    args = parser.parse_args()
    if args.mode == "throughput":
        print(json.dumps(throughput(), indent=1))
    elif args.mode == "model":
        print(json.dumps(quantize_model(args.input, args.output)))
    else:
        sys.exit(compare(args))


if __name__ == "__main__":
    main()
