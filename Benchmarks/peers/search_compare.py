#!/usr/bin/env python3
"""Side-by-side nearest-neighbour benchmark: Arrowhead vs faiss, hnswlib and usearch.

Same data, same machine, same thread counts, one run. Arrowhead runs through its release
CLI (`arrowhead index build/eval --json`); the peers through their Python bindings.
Prints Markdown tables (and optionally writes every number as JSON).

Setup (once):   Benchmarks/peers/setup_venv.sh      # venv + peers + data/*.npy
                swift build -c release
Run:            Benchmarks/peers/.venv/bin/python Benchmarks/peers/search_compare.py \
                    --dataset glove --sections flat,hnsw,int8 --threads 2

Method
- Data: unit-normalised rows; 1 000 held-out queries; exact ground truth (inner
  product = cosine order on unit vectors) from setup_venv.sh, or recomputed with numpy
  when --limit takes a prefix of the base.
- Metric: inner product for every library (= cosine on unit vectors), plus squared L2
  for the flat indexes (faiss IndexFlatL2 is the issue's reference).
- Queries/s: k = 10, the whole batch of 1 000 queries per call, best of --repeat passes
  in each of --rounds rounds that interleave all libraries (after all builds),
  at 1 and at --threads threads; for 1 thread also per CPU-second of the searching
  thread (robust when other processes share the cores). Build: wall time with --threads
  threads, and process CPU time (all threads).
- int8 section: Arrowhead's int8 flat index (with and without exact re-ranking) against
  faiss IndexScalarQuantizer(SQ8); its int8 HNSW with exact re-ranking (`--storage int8
  --rerank`: 4·k candidates re-scored on the float32 rows) against faiss IndexHNSWSQ(SQ8)
  wrapped in IndexRefineFlat (k_factor 4, the same re-ranking) and usearch's i8 HNSW.
- Memory: bytes per vector of the in-memory index where the library reports it
  (Arrowhead: MemoryUsage; hnswlib/faiss/usearch: their serialized size, which is what
  they hold in memory for these index types), and the saved file.
The machine is shared and noisy: compare ratios measured in the same run; re-run to see
the spread.

Failures: a peer that is not installed, fails to build or crashes with a Python exception
is recorded under "errors" (--json) and left out; a failing arrowhead command exits with
status 3 (run.sh stops on it).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OURS_FAILED = 3
# The few-queries section: batch sizes and timed passes (best counts) per setting.
FEW_QUERY_COUNTS = (1, 4, 8, 16)
FEW_REPEAT = 20


def log(message):
    print(message, file=sys.stderr, flush=True)


def best_time(function, repeat):
    """Best wall time and best CPU time of the calling thread over `repeat` calls."""
    best = best_cpu = float("inf")
    result = None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.thread_time()
        result = function()
        best_cpu = min(best_cpu, time.thread_time() - cpu)
        best = min(best, time.perf_counter() - start)
    return best, result, best_cpu


def timed_build(function):
    """Wall and process CPU seconds (all threads) of a build."""
    start, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - start, time.process_time() - cpu


def recall(ids, truth, k):
    ids = np.asarray(ids)[:, :k]
    truth = np.asarray(truth)[:, :k]
    hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(ids, truth))
    return hits / (len(truth) * k)


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class Runner:
    def __init__(self, args):
        self.args = args
        self.rows = []  # every measurement, for the tables and --json
        self.errors = []  # peers left out, and why
        self.commands = []  # arrowhead commands, as the report shows them
        self.datasets = {}
        self.tmp = tempfile.mkdtemp(prefix="ah-compare-")
        self.threads = sorted({1, args.threads})

    def guard(self, library, what, function):
        """Runs a peer's build or measurement; an exception records an error instead of
        stopping the comparison. Returns the function's result or None."""
        try:
            return function()
        except Exception as error:
            reason = f"{type(error).__name__}: {error}".strip()
            self.errors.append({"library": library, "what": what, "reason": reason[:300]})
            log(f"  {library} {what} FAILED: {reason}\n{traceback.format_exc()}")
            return None

    def available(self, library):
        module = {"faiss": "faiss", "hnswlib": "hnswlib", "usearch": "usearch.index"}[library]
        if library not in self.args.peers:
            return False
        try:
            __import__(module)
            return True
        except Exception as error:
            if not any(e["library"] == library and e["what"] == "import" for e in self.errors):
                self.errors.append({"library": library, "what": "import", "reason": f"{type(error).__name__}: {error}"})
                log(f"  {library} is not available: {error}")
            return False

    # -- data -------------------------------------------------------------------------
    def load(self, name):
        data = os.path.join(HERE, "data")
        base = np.load(os.path.join(data, f"{name}-base.npy"))
        queries = np.load(os.path.join(data, f"{name}-queries.npy"))
        truth = np.load(os.path.join(data, f"{name}-gt.npy"))
        if self.args.limit and self.args.limit < len(base):
            base = np.ascontiguousarray(base[: self.args.limit])
            scores = queries.astype(np.float64) @ base.astype(np.float64).T
            truth = np.argsort(-scores, axis=1, kind="stable")[:, :100].astype(np.int32)
        base_path = os.path.join(self.tmp, f"{name}-base.npy")
        queries_path = os.path.join(self.tmp, f"{name}-queries.npy")
        truth_path = os.path.join(self.tmp, f"{name}-gt.npy")
        np.save(base_path, base)
        np.save(queries_path, queries)
        np.save(truth_path, truth)
        self.datasets[name] = {"base": list(base.shape), "queries": list(queries.shape), "limit": self.args.limit or None}
        return base, queries, truth, base_path, queries_path, truth_path

    def record(self, **row):
        """Adds a measurement; a repeat of the same (dataset, library, index, efSearch) in a
        later round keeps the best queries/s of all rounds."""
        key = (row["dataset"], row["library"], row["index"], row["ef"])
        for existing in self.rows:
            if (existing["dataset"], existing["library"], existing["index"], existing["ef"]) == key:
                for field in ("qps1", "qpsT", "qps1_cpu"):
                    existing[field] = max(existing[field], row[field])
                existing["rounds"] = existing.get("rounds", 1) + 1
                row = existing
                break
        else:
            self.rows.append(row)
        shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
        print("  " + json.dumps(shown), flush=True)
        return row

    def rounds(self, measurements):
        """Runs every library's searches `--rounds` times, interleaved, so that a burst of
        load from other processes hits all libraries alike; the best round counts."""
        for round_index in range(self.args.rounds):
            started = time.perf_counter()
            for measure in measurements:
                if measure is not None:
                    measure()
            log(f"  searches, round {round_index + 1}/{self.args.rounds} [{time.perf_counter() - started:.1f} s]")

    # -- Arrowhead ----------------------------------------------------------------------
    def arrowhead(self, *arguments, binary=None):
        command = [binary or self.args.arrowhead, *arguments, "--json"]
        shown = " ".join("arrowhead" if c in (self.args.arrowhead, binary) else
                         ("$TMP/" + os.path.basename(c) if c.startswith(self.tmp) else c) for c in command)
        if shown not in self.commands:
            self.commands.append(shown)
        env = dict(os.environ)
        completed = subprocess.run(command, capture_output=True, text=True, env=env)
        if completed.returncode != 0:
            log(f"FAILED (ours): {' '.join(command)}\n{completed.stderr}")
            sys.exit(OURS_FAILED)
        return json.loads(completed.stdout)

    def ours(self, dataset, label, build_args, paths, efs=None, binary=None):
        base_path, queries_path, truth_path = paths
        index_path = os.path.join(self.tmp, f"{dataset}-{label}.ahi")
        started = time.perf_counter()
        built = self.arrowhead(
            "index", "build", "--input", base_path, "-o", index_path, "--quiet",
            "--threads", str(self.args.threads), *build_args, binary=binary)
        eval_args = ["index", "eval", "--index", index_path, "--queries", queries_path,
                     "--ground-truth", truth_path, "--repeat", str(self.args.repeat),
                     "--thread-counts", ",".join(map(str, self.threads))]
        log(f"  arrowhead {label}: built in {time.perf_counter() - started:.1f} s")
        if efs:
            eval_args += ["--ef-search", ",".join(map(str, efs))]

        def measure():
            report = self.arrowhead(*eval_args, binary=binary)
            for row in report["rows"]:
                self.record(
                    dataset=dataset, library="arrowhead", index=label, ef=row.get("efSearch"),
                    build_s=built["buildSeconds"], recall1=row["recallAt1"], recall10=row["recallAt10"],
                    build_cpu_s=built["buildCPUSeconds"],
                    qps1=row["queriesPerSecond"]["1"], qpsT=row["queriesPerSecond"][str(self.args.threads)],
                    qps1_cpu=row.get("queriesPerCPUSecond") or 0.0,
                    bytes_per_vector=report["bytesPerVector"],
                    vector_bytes_per_vector=report["vectorBytesPerVector"],
                    search_bytes_per_vector=report["searchBytesPerVector"],
                    allocated_bytes_per_vector=report["allocatedBytesPerVector"],
                    file_bytes_per_vector=file_size(index_path) / report["vectors"])
        return measure

    # -- faiss --------------------------------------------------------------------------
    def faiss_search(self, dataset, label, index, queries, truth, build, n, set_ef=None, efs=(None,), blas=False):
        import faiss
        if build is None:
            return None
        default_threshold = faiss.cvar.distance_compute_blas_threshold
        build_s, build_cpu_s = build
        log(f"  faiss {label}: built in {build_s:.1f} s")
        nbytes = faiss.serialize_index(index).nbytes

        def measure():
            if blas:
                faiss.cvar.distance_compute_blas_threshold = 20
            try:
                self.guard("faiss", f"{label} search", measure_once)
            finally:
                faiss.cvar.distance_compute_blas_threshold = default_threshold

        def measure_once():
            for ef in efs:
                if set_ef and ef:
                    set_ef(ef)
                timings = {}
                ids = None
                cpu1 = 0.0
                for threads in self.threads:
                    faiss.omp_set_num_threads(threads)
                    seconds, (_, ids), cpu = best_time(lambda: index.search(queries, 10), self.args.repeat)
                    timings[threads] = len(queries) / seconds
                    if threads == 1:
                        cpu1 = len(queries) / cpu
                self.record(
                    dataset=dataset, library="faiss", index=label, ef=ef, build_s=build_s, build_cpu_s=build_cpu_s,
                    recall1=recall(ids, truth, 1), recall10=recall(ids, truth, 10),
                    qps1=timings[1], qpsT=timings[self.args.threads], qps1_cpu=cpu1, bytes_per_vector=nbytes / n,
                    file_bytes_per_vector=nbytes / n)
        return measure

    # -- sections -----------------------------------------------------------------------
    def flat(self, dataset, data):
        base, queries, truth, *paths = data
        print(f"{dataset}: flat", flush=True)
        measurements = [
            self.ours(dataset, "flat-l2", ["--type", "flat", "--metric", "l2"], paths),
            self.ours(dataset, "flat-ip", ["--type", "flat", "--metric", "ip"], paths),
        ]
        if self.available("faiss"):
            import faiss
            for label, cls in (("IndexFlatL2", faiss.IndexFlatL2), ("IndexFlatIP", faiss.IndexFlatIP)):
                index = cls(base.shape[1])
                build = self.guard("faiss", f"{label} build", lambda: timed_build(lambda: index.add(base)))
                # faiss computes a batch through BLAS only from distance_compute_blas_threshold
                # queries on (128 000 in faiss 1.15; 20 in older releases), otherwise with its own
                # SIMD loops: both configurations are measured, the report takes the faster.
                measurements.append(self.faiss_search(dataset, label, index, queries, truth, build, len(base)))
                measurements.append(self.faiss_search(dataset, label + "+blas", index, queries, truth, build, len(base),
                                                      blas=True))
        self.rounds(measurements)

    def few(self, dataset, data):
        """Flat search with a few queries per call (an interactive query, a small batch): ours
        through `index eval` on a file of that many queries, on the Float32 path (what a fresh
        index runs) and with the int8 screen (what it runs by default once it has served 256
        queries since its vectors last changed, on AVX-512 VNNI from 24 dimensions), each forced
        with --int8-screening; faiss's IndexFlatL2 / IndexFlatIP `search` on the same rows (its
        own SIMD loops: below the BLAS threshold)."""
        base, queries, truth, base_path, queries_path, truth_path = data
        print(f"{dataset}: flat, few queries per call", flush=True)
        indexes = {}
        for label, metric in (("flat-l2", "l2"), ("flat-ip", "ip")):
            path = os.path.join(self.tmp, f"{dataset}-few-{label}.ahi")
            self.arrowhead("index", "build", "--input", base_path, "-o", path, "--quiet",
                           "--threads", str(self.args.threads), "--type", "flat", "--metric", metric)
            indexes[label] = path
        faiss_indexes = {}
        if self.available("faiss"):
            import faiss
            for label, cls in (("IndexFlatL2", faiss.IndexFlatL2), ("IndexFlatIP", faiss.IndexFlatIP)):
                index = cls(base.shape[1])
                if self.guard("faiss", f"{label} build", lambda index=index: index.add(base) or True):
                    faiss_indexes[label] = index
        measurements = []
        for n in FEW_QUERY_COUNTS:
            subset = np.ascontiguousarray(queries[:n])
            path = os.path.join(self.tmp, f"{dataset}-queries-{n}.npy")
            np.save(path, subset)
            for label in ("flat-l2", "flat-ip"):
                for screening in ("off", "on"):
                    measurements.append(self.ours_few(dataset, label, indexes[label], path, n, screening))
            for label, index in faiss_indexes.items():
                measurements.append(self.faiss_few(dataset, label, index, subset, n))
        self.rounds(measurements)

    def ours_few(self, dataset, label, index_path, queries_path, n, screening):
        def measure():
            report = self.arrowhead("index", "eval", "--index", index_path, "--queries", queries_path,
                                    "--repeat", str(FEW_REPEAT), "--thread-counts", ",".join(map(str, self.threads)),
                                    "--int8-screening", screening)
            row = report["rows"][0]
            index = f"{label}-few{n}" if screening == "off" else f"{label}-int8-few{n}"
            self.record(dataset=dataset, library="arrowhead", index=index, ef=None, build_s=0.0,
                        build_cpu_s=0.0, recall1=row["recallAt1"], recall10=row["recallAt10"],
                        qps1=row["queriesPerSecond"]["1"], qpsT=row["queriesPerSecond"][str(self.args.threads)],
                        qps1_cpu=row.get("queriesPerCPUSecond") or 0.0, queries=n)
        return measure

    def faiss_few(self, dataset, label, index, subset, n):
        import faiss

        def measure_once():
            timings = {}
            for threads in self.threads:
                faiss.omp_set_num_threads(threads)
                seconds, _, _ = best_time(lambda: index.search(subset, 10), FEW_REPEAT)
                timings[threads] = n / seconds
            self.record(dataset=dataset, library="faiss", index=f"{label}-few{n}", ef=None, build_s=0.0,
                        build_cpu_s=0.0, recall1=None, recall10=None, qps1=timings[1],
                        qpsT=timings[self.args.threads], qps1_cpu=0.0, queries=n)

        return lambda: self.guard("faiss", f"{label} search of {n} queries", measure_once)

    def hnsw(self, dataset, data):
        base, queries, truth, *paths = data
        efs = self.args.ef
        m, efc, threads = 16, 200, self.args.threads
        print(f"{dataset}: hnsw M={m} efConstruction={efc}", flush=True)
        measurements = [self.ours(dataset, "hnsw", ["--type", "hnsw", "--metric", "ip", "-M", str(m),
                                                    "--ef-construction", str(efc), "--seed", "42"], paths, efs)]
        # Extra Arrowhead builds measured in the same interleaved rounds (A/B of build options),
        # e.g. --ours-variants "hnsw-l16=--layer0-links 16".
        for variant in filter(None, (self.args.ours_variants or "").split(";")):
            label, _, extra = variant.partition("=")
            measurements.append(self.ours(dataset, label.strip(), ["--type", "hnsw", "--metric", "ip", "-M", str(m),
                                                                   "--ef-construction", str(efc), "--seed", "42",
                                                                   *extra.split()], paths, efs))
        # Another Arrowhead binary (e.g. main's, before a change) in the same rounds: "hnsw-baseline".
        if self.args.baseline_arrowhead:
            measurements.append(self.ours(dataset, "hnsw-baseline", ["--type", "hnsw", "--metric", "ip", "-M", str(m),
                                                                     "--ef-construction", str(efc), "--seed", "42"],
                                          paths, efs, binary=self.args.baseline_arrowhead))
        if self.available("hnswlib"):
            measurements.append(self.guard("hnswlib", "build", lambda: self.hnswlib(dataset, base, queries, truth, m, efc, threads, efs)))
        if self.available("faiss"):
            import faiss
            index = faiss.IndexHNSWFlat(base.shape[1], m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = efc
            faiss.omp_set_num_threads(threads)
            build = self.guard("faiss", "IndexHNSWFlat build", lambda: timed_build(lambda: index.add(base)))

            def set_ef(ef, index=index):
                index.hnsw.efSearch = ef
            measurements.append(self.faiss_search(dataset, "IndexHNSWFlat", index, queries, truth, build, len(base), set_ef, efs))
        if self.available("usearch"):
            measurements.append(self.guard("usearch", "build", lambda: self.usearch(dataset, base, queries, truth, m, efc, threads, efs, "f32")))
        self.rounds(measurements)

    def hnswlib(self, dataset, base, queries, truth, m, efc, threads, efs):
        import hnswlib
        index = hnswlib.Index(space="ip", dim=base.shape[1])
        index.init_index(max_elements=len(base), ef_construction=efc, M=m, random_seed=42)
        index.set_num_threads(threads)
        build, build_cpu = timed_build(lambda: index.add_items(base))
        log(f"  hnswlib: built in {build:.1f} s")
        path = os.path.join(self.tmp, f"{dataset}-hnswlib.bin")
        index.save_index(path)
        size = file_size(path)

        def measure():
            self.guard("hnswlib", "search", measure_once)

        def measure_once():
            for ef in efs:
                index.set_ef(ef)
                timings = {}
                ids = None
                cpu1 = 0.0
                for t in self.threads:
                    index.set_num_threads(t)
                    seconds, (ids, _), cpu = best_time(lambda: index.knn_query(queries, k=10), self.args.repeat)
                    timings[t] = len(queries) / seconds
                    if t == 1:
                        cpu1 = len(queries) / cpu
                self.record(
                    dataset=dataset, library="hnswlib", index="hnsw", ef=ef, build_s=build, build_cpu_s=build_cpu,
                    recall1=recall(ids, truth, 1), recall10=recall(ids, truth, 10),
                    qps1=timings[1], qpsT=timings[threads], qps1_cpu=cpu1, bytes_per_vector=size / len(base),
                    file_bytes_per_vector=size / len(base))
        return measure

    def usearch(self, dataset, base, queries, truth, m, efc, threads, efs, dtype):
        from usearch.index import Index
        index = Index(ndim=base.shape[1], metric="ip", dtype=dtype, connectivity=m, expansion_add=efc)
        build, build_cpu = timed_build(lambda: index.add(np.arange(len(base)), base, threads=threads))
        log(f"  usearch {dtype}: built in {build:.1f} s")
        path = os.path.join(self.tmp, f"{dataset}-usearch-{dtype}.bin")
        index.save(path)
        size = file_size(path)
        memory = getattr(index, "memory_usage", size)

        def measure():
            self.guard("usearch", f"{dtype} search", measure_once)

        def measure_once():
            for ef in efs:
                index.expansion_search = ef
                timings = {}
                ids = None
                cpu1 = 0.0
                for t in self.threads:
                    seconds, found, cpu = best_time(lambda: index.search(queries, 10, threads=t), self.args.repeat)
                    timings[t] = len(queries) / seconds
                    if t == 1:
                        cpu1 = len(queries) / cpu
                    ids = found.keys
                self.record(
                    dataset=dataset, library="usearch", index=f"hnsw-{dtype}", ef=ef, build_s=build,
                    build_cpu_s=build_cpu, recall1=recall(ids, truth, 1), recall10=recall(ids, truth, 10),
                    qps1=timings[1], qpsT=timings[threads], qps1_cpu=cpu1, bytes_per_vector=memory / len(base),
                    file_bytes_per_vector=size / len(base))
        return measure

    def int8(self, dataset, data):
        base, queries, truth, *paths = data
        print(f"{dataset}: int8 storage", flush=True)
        measurements = [
            self.ours(dataset, "flat-int8+rerank", ["--type", "flat", "--metric", "ip", "--storage", "int8", "--rerank"], paths),
            self.ours(dataset, "flat-int8", ["--type", "flat", "--metric", "ip", "--storage", "int8"], paths),
        ]
        if not self.args.int8_flat_only:
            measurements.append(self.ours(dataset, "hnsw-int8+rerank", ["--type", "hnsw", "--metric", "ip", "--storage", "int8",
                                                                        "--rerank", "-M", "16", "--ef-construction", "200"],
                                          paths, self.args.ef))
        if "flat" not in self.args.sections:
            measurements.append(self.ours(dataset, "flat-ip", ["--type", "flat", "--metric", "ip"], paths))
        if self.available("faiss"):
            import faiss
            index = faiss.IndexScalarQuantizer(base.shape[1], faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
            faiss.omp_set_num_threads(self.args.threads)
            build = self.guard("faiss", "SQ8 build", lambda: timed_build(lambda: (index.train(base), index.add(base))))
            measurements.append(self.faiss_search(dataset, "IndexScalarQuantizer(SQ8)", index, queries, truth, build, len(base)))
            if not self.args.int8_flat_only:
                # The like-for-like peer of hnsw-int8+rerank: faiss's HNSW over SQ8 codes, its 4·k best
                # re-ranked on the float32 vectors (IndexRefineFlat, k_factor 4, as our --rerank).
                coarse = faiss.IndexHNSWSQ(base.shape[1], faiss.ScalarQuantizer.QT_8bit, 16, faiss.METRIC_INNER_PRODUCT)
                coarse.hnsw.efConstruction = 200
                refined = faiss.IndexRefineFlat(coarse)
                refined.k_factor = 4
                build = self.guard("faiss", "HNSWSQ build", lambda: timed_build(lambda: (refined.train(base), refined.add(base))))

                def set_ef(ef, coarse=coarse):
                    coarse.hnsw.efSearch = ef
                measurements.append(self.faiss_search(dataset, "IndexHNSWSQ(SQ8)+RefineFlat", refined, queries, truth, build,
                                                      len(base), set_ef, self.args.ef))
        if self.available("usearch") and not self.args.int8_flat_only:
            measurements.append(self.guard("usearch", "i8 build", lambda: self.usearch(dataset, base, queries, truth, 16, 200, self.args.threads, self.args.ef, "i8")))
        self.rounds(measurements)

    # -- report -------------------------------------------------------------------------
    def tables(self):
        out = []
        for dataset in sorted({r["dataset"] for r in self.rows}):
            out.append(f"\n### {dataset}\n")
            out.append(f"| library | index | efSearch | build s ({self.args.threads}T) | build CPU s | recall@1 "
                       f"| recall@10 | q/s 1T | q/CPU-s 1T | q/s {self.args.threads}T | bytes/vector (memory) "
                       f"| bytes/vector (file) |")
            out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for r in (r for r in self.rows if r["dataset"] == dataset and "queries" not in r):
                out.append(
                    f"| {r['library']} | {r['index']} | {r['ef'] or ''} | {r['build_s']:.2f} | {r['build_cpu_s']:.2f} "
                    f"| {r['recall1']:.4f} | {r['recall10']:.4f} | {r['qps1']:.0f} | {r['qps1_cpu']:.0f} "
                    f"| {r['qpsT']:.0f} | {r['bytes_per_vector']:.1f} | {r['file_bytes_per_vector']:.1f} |")
            out.append("")
            few = [r for r in self.rows if r["dataset"] == dataset and "queries" in r]
            if few:
                out.append(f"| library | index (few queries per call) | queries | q/s 1T | q/s {self.args.threads}T |")
                out.append("|---|---|---:|---:|---:|")
                for r in few:
                    out.append(f"| {r['library']} | {r['index']} | {r['queries']} | {r['qps1']:.0f} | {r['qpsT']:.0f} |")
                out.append("")
            out.extend(self.goals(dataset))
        return "\n".join(out)

    def goals(self, dataset):
        rows = [r for r in self.rows if r["dataset"] == dataset]
        lines = []

        def find(library, index):
            return [r for r in rows if r["library"] == library and r["index"] == index]

        ours_flat = find("arrowhead", "flat-l2")
        faiss_flat = find("faiss", "IndexFlatL2")
        if ours_flat and faiss_flat:
            ratio = ours_flat[0]["qpsT"] / faiss_flat[0]["qpsT"]
            lines.append(f"- flat L2, {self.args.threads} threads: Arrowhead / faiss IndexFlatL2 queries/s = "
                         f"**{ratio:.2f}×** (goal ≥ 1.2×); 1 thread: "
                         f"{ours_flat[0]['qps1'] / faiss_flat[0]['qps1']:.2f}×")
        ours_h = find("arrowhead", "hnsw")
        peer_h = find("hnswlib", "hnsw")
        if ours_h and peer_h:
            lines.append(f"- HNSW build, {self.args.threads} threads: Arrowhead / hnswlib wall time = "
                         f"**{ours_h[0]['build_s'] / peer_h[0]['build_s']:.2f}** (goal ≤ 0.8); CPU time "
                         f"{ours_h[0]['build_cpu_s'] / peer_h[0]['build_cpu_s']:.2f}")

            base_h = find("arrowhead", "hnsw-baseline")
            if base_h:
                lines.append(f"- HNSW build, {self.args.threads} threads, --baseline-arrowhead binary: / hnswlib wall time = "
                             f"{base_h[0]['build_s'] / peer_h[0]['build_s']:.2f}; CPU time "
                             f"{base_h[0]['build_cpu_s'] / peer_h[0]['build_cpu_s']:.2f}")

            def fastest(candidates):
                ok = [r for r in candidates if r["recall10"] >= 0.95]
                return max(ok, key=lambda r: r["qps1"]) if ok else None
            a, b = fastest(ours_h), fastest(peer_h)
            if a and b:
                lines.append(f"- HNSW at recall@10 ≥ 0.95, 1 thread: Arrowhead {a['qps1']:.0f} q/s (ef {a['ef']}, "
                             f"recall {a['recall10']:.4f}) vs hnswlib {b['qps1']:.0f} q/s (ef {b['ef']}, recall "
                             f"{b['recall10']:.4f}) = **{a['qps1'] / b['qps1']:.2f}×** wall (goal ≥ 1.2×), "
                             f"{a['qps1_cpu'] / max(b['qps1_cpu'], 1e-9):.2f}× per CPU-second")
            d = None
            for r in rows:
                if r["library"] == "arrowhead" and r["index"] == "hnsw":
                    d = r
            if d:
                dim = {"glove": 50, "minilm": 384}.get(dataset)
                if dim:
                    limit = 4 * dim + 2 * 16 * 4 + 16
                    lines.append(f"- HNSW bytes/vector: {d['bytes_per_vector']:.1f} (goal ≤ 4·d + 2·M·4 + 16 = {limit})")
        q = find("arrowhead", "flat-int8+rerank")
        f32 = find("arrowhead", "flat-ip")
        if q and f32:
            lines.append(f"- int8 + re-rank (flat): recall@10 {q[0]['recall10']:.4f}, vector memory in RAM "
                         f"{q[0]['allocated_bytes_per_vector']:.1f} B/vector = "
                         f"**{q[0]['allocated_bytes_per_vector'] / f32[0]['allocated_bytes_per_vector']:.2f}×** f32 "
                         f"(goal recall ≥ 0.95 at ≤ 0.35×); the f32 re-rank copy "
                         f"({q[0]['bytes_per_vector'] - q[0]['allocated_bytes_per_vector']:.0f} B/vector) stays in the "
                         f"memory-mapped file, read for 4·k rows per query")
        return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="glove", help="glove, minilm or both (comma-separated)")
    parser.add_argument("--sections", default="flat,hnsw,int8")
    parser.add_argument("--peers", default="faiss,hnswlib,usearch")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N base vectors")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ef", default="16,32,64,128,256", help="efSearch values of the HNSW sweep")
    parser.add_argument("--ours-variants", default="",
                        help="extra Arrowhead HNSW builds in the hnsw section, 'label=build options' separated by ';' "
                             "(e.g. 'hnsw-l16=--layer0-links 16')")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per setting within a round (best counts)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved measurement rounds over all libraries")
    parser.add_argument("--arrowhead", default=os.path.join(ROOT, ".build", "release", "arrowhead"))
    parser.add_argument("--baseline-arrowhead", default="",
                        help="hnsw section: also build and measure with this arrowhead binary (row 'hnsw-baseline'), "
                             "e.g. a copy of main's, for before/after in the same interleaved rounds")
    parser.add_argument("--json", help="also write every measurement (and errors, commands, versions) to this file")
    parser.add_argument("--int8-flat-only", action="store_true",
                        help="int8 section: flat indexes only (no int8 HNSW builds: ours, usearch i8)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory of indexes and data")
    args = parser.parse_args()
    args.ef = [int(v) for v in args.ef.split(",")]
    if not os.path.exists(args.arrowhead):
        sys.exit(f"{args.arrowhead} not found: run `swift build -c release` first")
    runner = Runner(args)
    print(f"# search_compare: threads={args.threads} repeat={args.repeat} rounds={args.rounds} "
          f"limit={args.limit or 'all'}")
    for dataset in args.dataset.replace("both", "glove,minilm").split(","):
        data = runner.load(dataset)
        for section in args.sections.split(","):
            started = time.perf_counter()
            getattr(runner, section)(dataset, data)
            log(f"{dataset}: {section} done [{time.perf_counter() - started:.1f} s]")
    print(runner.tables())
    if args.json:
        from importlib.metadata import version as package_version
        versions = {}
        for library, package in (("numpy", "numpy"), ("faiss", "faiss-cpu"), ("hnswlib", "hnswlib"), ("usearch", "usearch")):
            try:
                versions[library] = package_version(package)
            except Exception:
                versions[library] = None
        meta = {"threads": args.threads, "thread_counts": runner.threads, "ef": args.ef, "repeat": args.repeat,
                "rounds": args.rounds, "limit": args.limit or None, "sections": args.sections.split(","),
                "int8_flat_only": args.int8_flat_only, "M": 16, "efConstruction": 200, "k": 10,
                "datasets": runner.datasets, "versions": versions}
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": runner.rows, "errors": runner.errors, "commands": runner.commands}, f, indent=1)
    if not args.keep:
        import shutil
        shutil.rmtree(runner.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
