"""The quantized-matmul section of RESULTS.md (out/qgemm.json from qgemm_compare.py), kept in its
own file: report.py calls `qgemm_section(report)` and prints the headline lines it returns."""


def _ms(value):
    return "n/a" if value is None else (f"{value:.3f}" if value < 10 else f"{value:.1f}")


def _err(value):
    return "n/a" if value is None else f"{value:.5f}"


def qgemm_section(r):
    """Adds the section to report `r` (report.Report); returns the summary lines."""
    q = r.qgemm
    r.add("## Quantized matmul vs PyTorch dynamic int8 and onnxruntime", "")
    if not q:
        r.add("n/a: the qgemm step did not produce out/qgemm.json (see Failures).", "")
        return []
    for error in q.get("errors", []):
        r.errors.append((f"{error['peer']} ({error['what']})", error["reason"]))
    meta = q["meta"]
    versions = meta.get("versions", {})
    threads = meta["threads"]
    T = threads[-1]
    rows = q["rows"]
    r.add(f"y = x·Wᵀ on all-MiniLM-L6-v2 layer {meta['layer']} weights with the activations those layers receive while "
          f"the model encodes {meta['corpus']} (token rows: "
          + ", ".join(f"{k.split('.')[-2] if k.endswith('dense') else k.split('.')[-1]} {v}" for k, v in meta["token_rows"].items())
          + "), M rows drawn from them; plus a random 1×4096×4096 product. torch "
          f"{versions.get('torch', '?')} (`quantize_dynamic`, fbgemm), onnxruntime {versions.get('onnxruntime', '?')} "
          "(MatMulNBits built with the `onnx` package: 4-bit, asymmetric, zero-points; accuracy_level 0 = Float32 "
          "compute, 4 = int8 compute; `quantize_dynamic` int8). Arrowhead: `arrowhead bench qgemm` (dispatched rows), "
          "INT8 groups of 64 (float minimum) and INT4 zero-point groups of 32 / 64 (onnxruntime's recipe). Error = "
          "‖y − x·Wᵀ‖/‖x·Wᵀ‖ against the float64 product of the unquantized weights. Best of "
          f"{meta['repeats']} samples" + (f" × {meta['rounds']} rounds (ours, then the peers, per shape and "
          "thread count; each row's best round)" if meta.get("rounds", 1) > 1 else "")
          + f", threads 1 and {T}, side by side in one run.", "")

    def ours(matrix, m, t, scheme, operation):
        for row in rows:
            if (row["library"] == "arrowhead" and row["matrix"] == matrix and row["m"] == m and row["threads"] == t
                    and row["scheme"] == scheme and row["operation"] == operation and row["dispatched"]):
                return row
        return None

    def best_float(matrix, m, t):
        times = [row for row in rows if row["library"] == "arrowhead" and row["matrix"] == matrix and row["m"] == m
                 and row["threads"] == t and row["operation"] in ("sgemm", "sgemv")]
        return min(times, key=lambda row: row["bestMilliseconds"]) if times else None

    def peer(matrix, m, t, name):
        for row in rows:
            if row["library"] == name and row["matrix"] == matrix and row["m"] == m and row["threads"] == t:
                return row
        return None

    def dequantized_error(matrix, m, scheme):
        for problem in q.get("arrowhead", []):
            if problem["matrix"] == matrix and problem["m"] == m and problem["scheme"] == scheme:
                return problem["dequantizeSgemmError"]
        return None

    problems = []
    for row in rows:
        key = (row["matrix"], row["m"], row["n"], row["k"])
        if key not in problems:
            problems.append(key)
    headlines = []

    # W8A8 against SGEMM and PyTorch.
    r.add("### INT8 weights with int8 activations (W8A8) vs Float32 SGEMM and PyTorch dynamic int8", "",
          "Times in ms; ratios are ours / theirs in throughput (> 1: Arrowhead faster). Errors: Arrowhead W8A8, "
          "Arrowhead INT8 weight-only, dequantize-then-SGEMM of the same INT8 weights, and PyTorch (per-tensor weights).", "",
          "| shape | threads | Arrowhead W8A8 | best Float32 | vs Float32 | torch int8 | vs torch | error W8A8 | error W8A32 | "
          "error dequant+SGEMM | W8A8 / dequant | error torch |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    w8_sgemm, w8_torch, w8_error = [], [], []
    for matrix, m, n, k in problems:
        if m < 64:
            continue
        for t in threads:
            a = ours(matrix, m, t, "int8 g64", "qgemm int8")
            wo = ours(matrix, m, t, "int8 g64", "qgemm weight-only")
            f = best_float(matrix, m, t)
            p = peer(matrix, m, t, "torch int8 per-tensor")
            d = dequantized_error(matrix, m, "int8 g64")
            if not a:
                continue
            versus_float = r.ratio(a and a["bestMilliseconds"], f and f["bestMilliseconds"],
                                   f"W8A8 vs best Float32 SGEMM {m}×{n}×{k} {t}T", lower_is_better=True)
            versus_torch = r.ratio(a and a["bestMilliseconds"], p and p["bestMilliseconds"],
                                   f"W8A8 vs torch dynamic int8 {m}×{n}×{k} {t}T", lower_is_better=True)
            if f and t == 1:
                w8_sgemm.append(f["bestMilliseconds"] / a["bestMilliseconds"])
            if p and t == 1:
                w8_torch.append(p["bestMilliseconds"] / a["bestMilliseconds"])
            ratio = a["relativeError"] / d if d else None
            if ratio and t == 1:
                w8_error.append(ratio)
            r.add(f"| {matrix} {m}×{n}×{k} | {t} | {_ms(a['bestMilliseconds'])} | {_ms(f and f['bestMilliseconds'])} "
                  f"({f and f['backend']}) | {versus_float} | {_ms(p and p['bestMilliseconds'])} | {versus_torch} | "
                  f"{_err(a['relativeError'])} | {_err(wo and wo['relativeError'])} | {_err(d)} | "
                  f"{'n/a' if ratio is None else f'{ratio:.2f}×'} | {_err(p and p['relativeError'])} |")
    r.add("")
    # W8A8 with per-channel weights: PyTorch's granularity, against its per-channel Linear.
    per_channel = [(matrix, m, n, k, t) for matrix, m, n, k in problems if m >= 64 for t in threads
                   if ours(matrix, m, t, "int8 per-channel", "qgemm int8")]
    if per_channel:
        r.add("### W8A8 with per-channel weights (PyTorch's granularity) vs PyTorch per-channel", "",
              "One scale per output row (`--per-channel`): int8 activations per row, one float rescale per output "
              "instead of one per group of 64 columns. Ratios ours / theirs in throughput.", "",
              "| shape | threads | Arrowhead W8A8 per-channel | vs g64 (time) | torch per-channel | vs torch | "
              "error ours | error torch |", "|---|---:|---:|---:|---:|---:|---:|---:|")
        for matrix, m, n, k, t in per_channel:
            a = ours(matrix, m, t, "int8 per-channel", "qgemm int8")
            g = ours(matrix, m, t, "int8 g64", "qgemm int8")
            p = peer(matrix, m, t, "torch int8 per-channel")
            versus_torch = r.ratio(a["bestMilliseconds"], p and p["bestMilliseconds"],
                                   f"W8A8 per-channel vs torch per-channel {m}×{n}×{k} {t}T", lower_is_better=True)
            versus_g64 = f"{g['bestMilliseconds'] / a['bestMilliseconds']:.2f}×" if g else "n/a"
            r.add(f"| {matrix} {m}×{n}×{k} | {t} | {_ms(a['bestMilliseconds'])} | {versus_g64} | "
                  f"{_ms(p and p['bestMilliseconds'])} | {versus_torch} | {_err(a['relativeError'])} | "
                  f"{_err(p and p['relativeError'])} |")
        r.add("")
    # W8A16: the same INT8 weights with two-digit (≈ 16-bit) activations, where error matters.
    w16 = [(matrix, m, n, k, t) for matrix, m, n, k in problems if m >= 64 for t in threads
           if ours(matrix, m, t, "int8 g64", "qgemm int16")]
    if w16:
        r.add("### INT8 weights with two-digit int16 activations (W8A16, `--mode int16`)", "",
              "| shape | threads | W8A16 | vs best Float32 | vs W8A8 (time) | error W8A16 | W8A16 / dequant |",
              "|---|---:|---:|---:|---:|---:|---:|")
        for matrix, m, n, k, t in w16:
            a16, a8 = ours(matrix, m, t, "int8 g64", "qgemm int16"), ours(matrix, m, t, "int8 g64", "qgemm int8")
            f, d = best_float(matrix, m, t), dequantized_error(matrix, m, "int8 g64")
            versus_float = r.ratio(a16["bestMilliseconds"], f and f["bestMilliseconds"],
                                   f"W8A16 vs best Float32 SGEMM {m}×{n}×{k} {t}T", lower_is_better=True)
            slower = f"{a16['bestMilliseconds'] / a8['bestMilliseconds']:.2f}×" if a8 else "n/a"
            ratio = f"{a16['relativeError'] / d:.2f}×" if d else "n/a"
            r.add(f"| {matrix} {m}×{n}×{k} | {t} | {_ms(a16['bestMilliseconds'])} | {versus_float} | {slower} | "
                  f"{_err(a16['relativeError'])} | {ratio} |")
        r.add("")
    if w8_sgemm:
        headlines.append(f"- W8A8, MiniLM shapes (M ≥ 64), 1 thread: {min(w8_sgemm):.2f}–{max(w8_sgemm):.2f}× the best "
                         f"Float32 SGEMM, {min(w8_torch or [0]):.2f}–{max(w8_torch or [0]):.2f}× PyTorch dynamic int8; "
                         f"error {min(w8_error or [0]):.2f}–{max(w8_error or [0]):.2f}× that of dequantize-then-SGEMM "
                         "(int8 activations on real hidden states)")

    # W4 against MatMulNBits.
    r.add("### INT4 weights vs onnxruntime MatMulNBits (same blocks, same asymmetric recipe)", "",
          "Weight-only = Float32 activations (MatMulNBits accuracy_level 0); W4A8 = int8 activations (accuracy_level 4). "
          "Times in ms; ratios ours / theirs in throughput.", "",
          "| shape | threads | block | ours weight-only | ORT fp32 | ratio | ours W4A8 | ORT int8 | ratio | error ours wo / W4A8 "
          "| error ORT fp32 / int8 |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    w4_ratios = []
    for matrix, m, n, k in problems:
        for t in threads:
            for block in (32, 64):
                scheme = f"int4 g{block} zero-point"
                wo, a = ours(matrix, m, t, scheme, "qgemm weight-only"), ours(matrix, m, t, scheme, "qgemm int8")
                p0, p4 = peer(matrix, m, t, f"ort MatMulNBits b{block}"), peer(matrix, m, t, f"ort MatMulNBits b{block} int8")
                if not wo and not a:
                    continue
                r1 = r.ratio(wo and wo["bestMilliseconds"], p0 and p0["bestMilliseconds"],
                             f"W4 weight-only vs MatMulNBits b{block} {m}×{n}×{k} {t}T", lower_is_better=True)
                r2 = r.ratio(a and a["bestMilliseconds"], p4 and p4["bestMilliseconds"],
                             f"W4A8 vs MatMulNBits int8 b{block} {m}×{n}×{k} {t}T", lower_is_better=True)
                if t == 1 and m in (1, 128):
                    for x, y in ((wo, p0), (a, p4)):
                        if x and y:
                            w4_ratios.append(y["bestMilliseconds"] / x["bestMilliseconds"])
                r.add(f"| {matrix} {m}×{n}×{k} | {t} | {block} | {_ms(wo and wo['bestMilliseconds'])} | "
                      f"{_ms(p0 and p0['bestMilliseconds'])} | {r1} | {_ms(a and a['bestMilliseconds'])} | "
                      f"{_ms(p4 and p4['bestMilliseconds'])} | {r2} | {_err(wo and wo['relativeError'])} / "
                      f"{_err(a and a['relativeError'])} | {_err(p0 and p0['relativeError'])} / {_err(p4 and p4['relativeError'])} |")
    r.add("")
    # W4A16 (two int8 digits per activation) against MatMulNBits' Float32 compute: the same
    # error as weight-only, on integer dot products.
    w4_int16 = [(matrix, m, n, k, t, block) for matrix, m, n, k in problems for t in threads for block in (32, 64)
                if ours(matrix, m, t, f"int4 g{block} zero-point", "qgemm int16")]
    w4_int16_ratios = []
    if w4_int16:
        r.add("### INT4 weights at weight-only accuracy: two-digit int16 activations (W4A16, `--mode int16`) "
              "vs MatMulNBits Float32 compute", "",
              "Weight-only products on Float32 activations run at the Float32 FMA rate in both libraries (at M ≥ 64 "
              "they are SGEMMs after the expansion). With activations as two int8 digits (int16 precision per "
              "group) the product runs on `vpdpbusd` at the same output error. Times in ms; ratios ours / theirs "
              "in throughput.", "",
              "| shape | threads | block | ours W4A16 | ours weight-only | ORT fp32 | W4A16 / ORT fp32 "
              "| error W4A16 / weight-only / ORT fp32 |", "|---|---:|---:|---:|---:|---:|---:|---|")
        for matrix, m, n, k, t, block in w4_int16:
            scheme = f"int4 g{block} zero-point"
            a16, wo = ours(matrix, m, t, scheme, "qgemm int16"), ours(matrix, m, t, scheme, "qgemm weight-only")
            p0 = peer(matrix, m, t, f"ort MatMulNBits b{block}")
            ratio = r.ratio(a16["bestMilliseconds"], p0 and p0["bestMilliseconds"],
                            f"W4A16 vs MatMulNBits b{block} {m}×{n}×{k} {t}T", lower_is_better=True)
            if t == 1 and m in (1, 128) and p0:
                w4_int16_ratios.append(p0["bestMilliseconds"] / a16["bestMilliseconds"])
            r.add(f"| {matrix} {m}×{n}×{k} | {t} | {block} | {_ms(a16['bestMilliseconds'])} | "
                  f"{_ms(wo and wo['bestMilliseconds'])} | {_ms(p0 and p0['bestMilliseconds'])} | {ratio} | "
                  f"{_err(a16['relativeError'])} / {_err(wo and wo['relativeError'])} / {_err(p0 and p0['relativeError'])} |")
        r.add("")
    if w4_int16_ratios:
        headlines.append(f"- INT4 at weight-only error, W4A16 (`--mode int16`) vs onnxruntime MatMulNBits Float32 "
                         f"compute at M = 1 and 128, 1 thread: {min(w4_int16_ratios):.2f}–{max(w4_int16_ratios):.2f}×")
    if w4_ratios:
        headlines.append(f"- INT4 (weight-only and W4A8) vs onnxruntime MatMulNBits at M = 1 and 128, 1 thread: "
                         f"{min(w4_ratios):.2f}–{max(w4_ratios):.2f}×")

    # Batch 1: weight bytes per second.
    copy = meta.get("copy_gb_per_s")
    read = meta.get("read_gb_per_s")
    batch1 = [(matrix, m, n, k) for matrix, m, n, k in problems if m == 1]
    if batch1:
        r.add("### Batch 1 (M = 1): weights read per second", "",
              "GB/s of packed weights (codes + scales + offsets; Float32: 4·N·K) at the best time; ratio = weights/s "
              "against the best Float32 SGEMV of the same run."
              + (f" numpy copy of 512 MiB on one core (thread CPU clock): {copy:.1f} GB/s (read + write; a rough memory bandwidth — "
                 "at 4096 × 4096 the packed codes (10–18 MiB) may sit in the last-level cache between calls and the "
                 "Float32 matrix (64 MiB) only in a large one; on a machine shared with other processes either may "
                 "come partly from memory, so the 4096² rows move between runs)." if copy else "")
              + (f" Read-only (numpy max of 512 MiB): {read:.1f} GB/s." if read else ""), "",
              "| shape | threads | kernel | ms | weights GB/s | weights/s vs Float32 SGEMV |", "|---|---:|---|---:|---:|---:|")
        for matrix, m, n, k in batch1:
            for t in threads:
                f = best_float(matrix, m, t)
                for scheme in ("int8 g64", "int4 g64 zero-point"):
                    for operation in ("qgemm weight-only", "qgemm int8", "qgemm int16"):
                        a = ours(matrix, m, t, scheme, operation)
                        if not a or not f:
                            continue
                        value = f["bestMilliseconds"] / a["bestMilliseconds"]
                        label = f"{scheme} {operation.split()[-1]}"
                        r.add(f"| {matrix} {m}×{n}×{k} | {t} | {label} | {_ms(a['bestMilliseconds'])} | "
                              f"{a.get('weightGBPerSecond') or 0:.1f} | {value:.2f}× |")
                        if matrix.startswith("random") and t == 1 and operation == "qgemm weight-only":
                            headlines.append(f"- Batch 1, 4096×4096, {scheme} weight-only: {value:.2f}× the Float32 "
                                             f"SGEMV in weights/s ({a.get('weightGBPerSecond') or 0:.1f} GB/s of weights)")
                        if matrix.startswith("random") and t == 1 and operation == "qgemm int16":
                            headlines.append(f"- Batch 1, 4096×4096, {scheme} at weight-only error through two-digit "
                                             f"int16 activations (`--mode int16`): {value:.2f}× the Float32 SGEMV in "
                                             f"weights/s ({a.get('weightGBPerSecond') or 0:.1f} GB/s of weights)")
                r.add(f"| {matrix} {m}×{n}×{k} | {t} | Float32 ({f['backend']}) | {_ms(f['bestMilliseconds'])} | "
                      f"{f.get('weightGBPerSecond') or 0:.1f} | 1.00× |")
        r.add("")

    # Threads: from --scaling (1 and T threads timed interleaved in one process, wall clock)
    # where the run has it; older runs compare two separate processes.
    if len(threads) > 1:
        scaling = q.get("scaling") or []
        note = ("1 and {T} threads timed interleaved in the same process (`--scaling`), wall clock, best of each"
                if scaling else "1 thread (thread clock) and {T} threads (wall clock) from separate processes").format(T=T)
        r.add(f"### {T} threads against 1 (Arrowhead, dispatched)", "", note, "", "| shape | kernel | 1 thread ms | "
              f"{T} threads ms | speed-up |", "|---|---|---:|---:|---:|")
        speedups = []
        for matrix, m, n, k in problems:
            if m < 64:
                continue
            for scheme, operation in (("int8 g64", "qgemm int8"), ("int8 g64", "qgemm weight-only"),
                                      ("int4 g64 zero-point", "qgemm int8")):
                if scaling:
                    pair = next((p for p in scaling if p["matrix"] == matrix and p["m"] == m and p["scheme"] == scheme
                                 and p["operation"] == operation and p["threads"] == T), None)
                    if not pair:
                        continue
                    one_ms, many_ms, value = pair["oneMilliseconds"], pair["manyMilliseconds"], pair["bestSpeedup"]
                else:
                    one, many = ours(matrix, m, 1, scheme, operation), ours(matrix, m, T, scheme, operation)
                    if not (one and many):
                        continue
                    one_ms, many_ms = one["bestMilliseconds"], many["bestMilliseconds"]
                    value = one_ms / many_ms
                speedups.append(value)
                r.add(f"| {matrix} {m}×{n}×{k} | {scheme} {operation.split()[-1]} | {_ms(one_ms)} | "
                      f"{_ms(many_ms)} | {value:.2f}× |")
        r.add("")
        if speedups:
            headlines.append(f"- {T} threads vs 1 (M ≥ 64): {min(speedups):.2f}–{max(speedups):.2f}×")
    return headlines
