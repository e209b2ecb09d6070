#!/usr/bin/env python3
"""Turns the JSON files of one `Benchmarks/peers/run.sh` run into Benchmarks/RESULTS.md,
the SVG charts under Benchmarks/charts/, and the generated performance section of README.md.

  report.py machine --arrowhead PATH --out out/machine.json   # run.sh, before the benchmarks
  report.py render [--out-dir out] [--no-readme]              # JSON -> RESULTS.md + charts + README
  report.py readme                                            # RESULTS.md -> README section only
  report.py assemble                                          # results/*.json -> RESULTS.md + README

Every ratio is ours / theirs with higher = better for Arrowhead: throughput ours/theirs,
time theirs/ours, error theirs/ours. All numbers of a ratio come from the same run.
Only the standard library is needed (the charts are written as plain SVG).
"""
import argparse
import datetime
import glob
import html
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys

from report_qgemm import qgemm_section

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
RESULTS = os.path.join(BENCH, "RESULTS.md")
CHARTS = os.path.join(BENCH, "charts")
RESULTS_DIR = os.path.join(BENCH, "results")
README = os.path.join(ROOT, "README.md")
README_BEGIN = re.compile(r"<!-- PERFORMANCE:BEGIN[^>]*-->")
README_END = "<!-- PERFORMANCE:END -->"
SUMMARY_BEGIN = "<!-- SUMMARY:BEGIN (copied into README.md by Benchmarks/peers/report.py readme) -->"
SUMMARY_END = "<!-- SUMMARY:END -->"


# ------------------------------------------------------------------------------------------
# machine description (run.sh calls this before the benchmarks)

def run_text(command, cwd=ROOT):
    try:
        return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=60).stdout.strip()
    except Exception:
        return ""


# Variables that cap which instruction sets Arrowhead and the peers use (an AVX2 run on an
# AVX-512 machine): recorded in machine.json and named in the results.
ISA_VARIABLES = ["ARROWHEAD_CPU_DISABLE", "OPENBLAS_CORETYPE", "FAISS_OPT_LEVEL", "ATEN_CPU_CAPABILITY",
                 "FBGEMM_ENABLE_INSTRUCTIONS", "NPY_DISABLE_CPU_FEATURES"]


def collect_machine(args):
    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    probe = {}
    completed = subprocess.run([args.arrowhead, "probe", "--json"], capture_output=True, text=True)
    if completed.returncode != 0:
        print(f"FAILED (ours): arrowhead probe --json\n{completed.stderr}", file=sys.stderr)
        sys.exit(3)
    probe = json.loads(completed.stdout)
    # Uncommitted changes other than the files this command itself writes.
    status = run_text(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                       ":(exclude)Benchmarks/RESULTS.md", ":(exclude)Benchmarks/results", ":(exclude)Benchmarks/charts",
                       ":(exclude)README.md"])
    machine = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": model or probe.get("cpu", {}).get("model", "unknown"),
        "cpu_vendor": probe.get("cpu", {}).get("vendor", ""),
        "cpu_family": probe.get("cpu", {}).get("family"),
        "cpu_model_number": probe.get("cpu", {}).get("modelNumber"),
        "cpu_detail": (f" (family {probe['cpu']['family']}, model {probe['cpu'].get('modelNumber')}, "
                       f"L2 {probe['cpu'].get('l2Bytes', 0) // 1024} KiB, L3 {probe['cpu'].get('l3Bytes', 0) // 2 ** 20} MiB)"
                       if probe.get("cpu", {}).get("family") is not None else ""),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1),
        "kernel": platform.release(),
        "os": run_text(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "swift": run_text(["swift", "--version"]).splitlines()[0] if run_text(["swift", "--version"]) else "",
        "git_commit": run_text(["git", "rev-parse", "--short=12", "HEAD"]),
        "git_branch": run_text(["git", "rev-parse", "--abbrev-ref", "HEAD"]),
        "git_dirty": bool(status),
        "openblas": probe.get("openBLAS", {}),
        "arrowhead_version": probe.get("version"),
        "cpu_features": [k for k, v in probe.get("cpu", {}).get("features", {}).items() if v],
        "backends": [{"name": b["name"], "runnable": b["runnable"], "isa": b.get("compiledISA")}
                     for b in probe.get("backends", [])],
        "dispatch_gemm": [d for d in probe.get("dispatch", []) if d.get("operation") in ("gemm", "distances")],
        "python": platform.python_version(),
        "cpu_disable": os.environ.get("ARROWHEAD_CPU_DISABLE", ""),
        "features_disabled": probe.get("cpu", {}).get("featuresDisabledByEnvironment", []),
        "isa_environment": {name: os.environ[name] for name in ISA_VARIABLES if os.environ.get(name)},
    }
    with open(args.out, "w") as handle:
        json.dump(machine, handle, indent=1)


# ------------------------------------------------------------------------------------------
# formatting helpers

def load(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def fmt(value, digits=1):
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}".replace(",", " ")
    return f"{value:.{digits}f}"


def geomean(values):
    values = [v for v in values if v and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


class Ratios:
    """Every ratio printed, so that the summary can list where we are behind."""

    def __init__(self):
        self.behind = []

    def __call__(self, ours, theirs, label=None, lower_is_better=False):
        if ours is None or theirs is None or ours <= 0 or theirs <= 0:
            return "n/a"
        value = theirs / ours if lower_is_better else ours / theirs
        if label and value < 0.995:
            self.behind.append((label, value))
        text = f"{value:.2f}×"
        return f"**{text}**" if value < 0.995 else text

    @staticmethod
    def plain(value):
        return "n/a" if value is None else (f"**{value:.2f}×**" if value < 0.995 else f"{value:.2f}×")


# ------------------------------------------------------------------------------------------
# SVG charts (plain SVG 1.1: axes, ticks, labels, legend; no external fonts or scripts)

PALETTE = {
    "openblas": "#1f77b4", "OpenBLAS (cblas)": "#1f77b4", "numpy": "#9467bd",
    "simd-baseline": "#8c8c8c", "simd-x86-64-v3": "#2ca02c", "simd-x86-64-v4": "#17becf",
    "dispatched": "#d62728", "arrowhead": "#d62728", "hnswlib": "#ff7f0e", "faiss": "#1f77b4",
    "usearch": "#9467bd",
}
EXTRA = ["#e377c2", "#bcbd22", "#7f7f7f", "#8c564b"]


def color_of(name, used):
    for key, value in PALETTE.items():
        if name == key or name.startswith(key + " "):
            return value
    used.append(name)
    return EXTRA[(len(used) - 1) % len(EXTRA)]


def nice_ticks(low, high, count=5):
    if high <= low:
        high = low + 1
    span = high - low
    step = 10 ** math.floor(math.log10(span / count))
    for multiplier in (1, 2, 2.5, 5, 10):
        if span / (step * multiplier) <= count:
            step *= multiplier
            break
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + 1e-9 * step:
        ticks.append(round(value, 10))
        value += step
    return ticks


def log_ticks(low, high):
    for mantissas in ((1, 2, 5), (1, 2, 3, 5, 7), (1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = []
        exponent = math.floor(math.log10(low))
        while 10 ** exponent <= high * 1.0001:
            for mantissa in mantissas:
                value = mantissa * 10 ** exponent
                if low * 0.999 <= value <= high * 1.001:
                    ticks.append(value)
            exponent += 1
        if len(ticks) >= 4:
            break
    return ticks


def tick_label(value):
    if value >= 1000 and value % 1000 == 0:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def panel(out, x0, y0, width, height, series, title, xlabel, ylabel, xlog=False, xlog2=False,
          ylim=None, xticks=None, annotate_y=None):
    """One chart panel; series: [(name, color, [(x, y, tooltip)], dashed)]."""
    points = [(x, y) for _, _, pts, _ in series for x, y, _ in pts]
    if not points:
        out.append(f'<text x="{x0 + width / 2}" y="{y0 + height / 2}" text-anchor="middle">no data</text>')
        return
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    left, right, top, bottom = x0 + 62, x0 + width - 12, y0 + 34, y0 + height - 48
    if xlog or xlog2:
        xmin, xmax = min(xs) / 1.15, max(xs) * 1.15
        fx = lambda x: left + (math.log(x) - math.log(xmin)) / (math.log(xmax) - math.log(xmin)) * (right - left)
        ticks = xticks or (sorted(set(xs)) if xlog2 else log_ticks(xmin, xmax))
    else:
        xmin, xmax = min(xs), max(xs)
        ticks = xticks or nice_ticks(xmin, xmax)
        fx = lambda x: left + (x - xmin) / ((xmax - xmin) or 1) * (right - left)
    ylow, yhigh = ylim if ylim else (0, max(ys) * 1.08)
    fy = lambda y: bottom - (y - ylow) / ((yhigh - ylow) or 1) * (bottom - top)
    out.append(f'<text x="{left}" y="{y0 + 20}" font-size="14" font-weight="bold">{html.escape(title)}</text>')
    for value in nice_ticks(ylow, yhigh, 6):
        if value < ylow - 1e-9 or value > yhigh + 1e-9:
            continue
        y = fy(value)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    for value in ticks:
        x = fx(value)
        if x < left - 1 or x > right + 1:
            continue
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#f0f0f0"/>')
        out.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 5}" stroke="#333"/>')
        out.append(f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">{tick_label(value)}</text>')
    if annotate_y is not None and ylow <= annotate_y <= yhigh:
        y = fy(annotate_y)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#555" stroke-dasharray="2,3"/>')
        out.append(f'<text x="{right - 4}" y="{y + 13:.1f}" font-size="11" fill="#555" text-anchor="end">'
                   f'recall {annotate_y:g}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{(left + right) / 2}" y="{bottom + 38}" text-anchor="middle">{html.escape(xlabel)}</text>')
    out.append(f'<text transform="translate({x0 + 16},{(top + bottom) / 2}) rotate(-90)" text-anchor="middle">'
               f'{html.escape(ylabel)}</text>')
    for name, color, pts, dashed in series:
        if not pts:
            continue
        coordinates = " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y, _ in pts)
        dash = ' stroke-dasharray="6,4"' if dashed else ""
        out.append(f'<polyline points="{coordinates}" fill="none" stroke="{color}" stroke-width="2.2"{dash}/>')
        for x, y, tip in pts:
            out.append(f'<circle cx="{fx(x):.1f}" cy="{fy(y):.1f}" r="3.5" fill="{color}">'
                       f'<title>{html.escape(tip)}</title></circle>')


def chart(path, panels, legend, subtitle, panel_width=470, panel_height=380):
    """panels: [dict(series=…, title=…, …)] side by side; legend: [(name, color, dashed)] on the right."""
    legend_width = 40 + 7.2 * max((len(name) for name, _, _ in legend), default=10)
    width = int(panel_width * len(panels) + legend_width + 10)
    height = panel_height + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>']
    for index, spec in enumerate(panels):
        panel(out, index * panel_width, 0, panel_width, panel_height, **spec)
    lx = panel_width * len(panels) + 8
    for index, (name, color, dashed) in enumerate(legend):
        y = 50 + 22 * index
        dash = ' stroke-dasharray="6,4"' if dashed else ""
        out.append(f'<line x1="{lx}" y1="{y}" x2="{lx + 26}" y2="{y}" stroke="{color}" stroke-width="3"{dash}/>')
        out.append(f'<text x="{lx + 32}" y="{y + 4}">{html.escape(name)}</text>')
    out.append(f'<text x="10" y="{height - 8}" font-size="11" fill="#555">{html.escape(subtitle)}</text>')
    out.append("</svg>")
    with open(path, "w") as handle:
        handle.write("\n".join(out) + "\n")


# ------------------------------------------------------------------------------------------
# the report

class Report:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.ratio = Ratios()
        self.lines = []
        # headline tables: engine {(kernel, compared with): {threads: (ratio, note)}},
        # quant [(comparison, error ratio, time ratio, note)], search {comparison: {peer: text}}
        self.hl_engine = {}
        self.hl_quant = []
        self.hl_search = {}
        self.hl_behind = []  # headline ratios below 1
        self.charts = []  # (file name, alt text)
        self.errors = []  # (what, reason)
        self.machine = load(os.path.join(out_dir, "machine.json")) or {}
        self.engine = load(os.path.join(out_dir, "engine.json"))
        self.quant = load(os.path.join(out_dir, "quant.json"))
        self.diffusion = load(os.path.join(out_dir, "diffusion.json"))
        self.searches = []
        for path in sorted(glob.glob(os.path.join(out_dir, "search-*.json"))):
            data = load(path)
            if data and isinstance(data, dict) and "rows" in data:
                self.searches.append(data)
        self.tokenize = load(os.path.join(out_dir, "tokenize.json"))
        self.hl_tokenize = []  # summary lines of the tokenizer comparison
        self.embed = load(os.path.join(out_dir, "embed.json"))
        self.hl_embed = []  # summary lines of the sentence-embedding comparison
        self.qgemm = load(os.path.join(out_dir, "qgemm.json"))  # issue 12 (report_qgemm.py)
        self.hl_qgemm = []
        self.steps = []
        try:
            with open(os.path.join(out_dir, "steps.tsv")) as handle:
                for line in handle:
                    parts = line.rstrip("\n").split("\t")
                    if len(parts) >= 3:
                        self.steps.append({"name": parts[0], "status": parts[1], "seconds": float(parts[2]),
                                           "note": parts[3] if len(parts) > 3 else ""})
        except OSError:
            pass
        self.run = load(os.path.join(out_dir, "run.json")) or {}
        self.python_api = load(os.path.join(out_dir, "python-api.json"))
        self.qmatrix_python = load(os.path.join(out_dir, "qmatrix-python.json"))
        self.durations = []
        try:
            with open(os.path.join(out_dir, "durations.tsv")) as handle:
                for line in handle:
                    parts = line.rstrip("\n").split("\t")
                    if len(parts) >= 4:
                        self.durations.append({"date": parts[0], "mode": parts[1], "total": float(parts[2]),
                                               "install": float(parts[3]), "note": parts[4] if len(parts) > 4 else ""})
        except OSError:
            pass
        self.threads = (self.run.get("threads") or (self.engine or {}).get("threads", [1, 2])[-1])

    def add(self, *lines):
        self.lines.extend(lines)

    def engine_hl(self, kernel, versus, threads, value, note):
        self.hl_engine.setdefault((kernel, versus), {})[threads] = (value, note)
        if value is not None and value < 0.995:
            self.hl_behind.append(f"{kernel.split(' (')[0]} vs {versus}, {threads} thread{'s' if threads > 1 else ''}: "
                                  f"{value:.2f}×")

    def quant_hl(self, comparison, error_ratio, time_ratio, note):
        self.hl_quant.append((comparison, error_ratio, time_ratio, note))
        if error_ratio is not None and error_ratio < 0.995:
            self.hl_behind.append(f"{comparison}: error {error_ratio:.2f}× (theirs / ours)")
        if time_ratio is not None and time_ratio < 0.995:
            self.hl_behind.append(f"{comparison}: time {time_ratio:.2f}×")

    def search_hl(self, comparison, peer, value, value_threads=None, note=""):
        self.hl_search.setdefault(comparison, {})[peer] = (value, value_threads, note)
        name = comparison.split(" (")[0].replace(", q/s", "")
        if value_threads is None:
            if value is not None and value < 0.995:
                self.hl_behind.append(f"{name} vs {peer}: {value:.2f}×")
            return
        for v, which in ((value, "1 thread"), (value_threads, f"{self.threads} threads")):
            if v is not None and v < 0.995:
                self.hl_behind.append(f"{name} vs {peer}, {which}: {v:.2f}×")

    def summary_tables(self):
        T = self.threads
        if self.hl_engine:
            self.add(f"**Engine** (ours / theirs; > 1: Arrowhead faster)", "",
                     f"| kernel | compared with | 1 thread | {T} threads |", "|---|---|---:|---:|")
            for (kernel, versus), by in self.hl_engine.items():
                cells = []
                for t in (1, T):
                    if t in by:
                        value, note = by[t]
                        cells.append(Ratios.plain(value) + (f" ({note})" if note else ""))
                    else:
                        cells.append("–")
                self.add(f"| {kernel} | {versus} | {cells[0]} | {cells[1]} |")
            self.add("")
        if self.hl_quant:
            self.add("**Quantization**, 37 MiniLM matrices (error ratio = their error / ours, time ratio = their s / "
                     "ours, 1 thread; > 1: Arrowhead better)", "",
                     "| compared with | error ratio | time ratio | note |", "|---|---:|---:|---|")
            for comparison, error_ratio, time_ratio, note in self.hl_quant:
                self.add(f"| {comparison} | {Ratios.plain(error_ratio)} | {Ratios.plain(time_ratio)} | {note} |")
            self.add("")
        if self.hl_search:
            peers = ["faiss", "hnswlib", "usearch"]
            self.add("**Search** (queries/s ours / theirs, build time theirs / ours; > 1: Arrowhead faster)", "",
                     "| comparison | " + " | ".join(f"vs {p}" for p in peers) + " |", "|---|" + "---:|" * len(peers))
            for comparison, by in self.hl_search.items():
                cells = []
                for p in peers:
                    if p not in by:
                        cells.append("n/a" if comparison.startswith("HNSW") else "–")
                        continue
                    value, value_threads, note = by[p]
                    cells.append(Ratios.plain(value) + (f" / {Ratios.plain(value_threads)}" if value_threads is not None else "")
                                 + (f" ({note})" if note else ""))
                self.add(f"| {comparison} | " + " | ".join(cells) + " |")
            self.add("")
        if getattr(self, "int8_note", None):
            self.add(f"{self.int8_note}.", "")
        if getattr(self, "python_note", None):
            self.add(f"{self.python_note}.", "")
        if self.hl_tokenize:
            self.add("**Tokenizer** (WordPiece, all-MiniLM-L6-v2, vs HF tokenizers)", "", *self.hl_tokenize, "")
        if self.hl_embed:
            self.add("**Sentence embeddings** (all-MiniLM-L6-v2, Float32, vs sentence-transformers and onnxruntime)", "",
                     *self.hl_embed, "")
        if self.hl_qgemm:
            self.add("**Quantized matmul** (all-MiniLM-L6-v2 weights and activations; > 1: Arrowhead faster)", "",
                     *self.hl_qgemm, "")

    # -- engine --------------------------------------------------------------------------
    def engine_section(self):
        e = self.engine
        self.add("## Engine kernels vs OpenBLAS and numpy", "")
        if not e:
            self.add("n/a: the engine step did not produce out/engine.json (see Failures).", "")
            return
        for error in e.get("errors", []):
            self.errors.append((f"numpy ({error.get('threads')} threads)", error["reason"]))
        numpy_info = next((v for v in e["numpy"].values() if v), None)
        self.add(f"OpenBLAS = Debian's libopenblas through cblas inside `arrowhead bench` (the `openblas` backend); "
                 f"numpy {numpy_info['numpy'] if numpy_info else 'n/a'} with its bundled "
                 f"{numpy_info['blas'] if numpy_info else 'BLAS'}, in a separate process started with "
                 f"OPENBLAS_NUM_THREADS = the thread count. Best of {e['repeats']} samples (each ≥ 20 ms of "
                 f"repetitions), best of {e['rounds']} round(s) for SGEMM and distances. "
                 "*Dispatched* = what `Engine` picks for that shape (the backend in brackets); "
                 "*best SIMD* = the fastest pure-Swift backend. Ratios > 1: Arrowhead faster.", "")
        simd_names = [b for b in e["runnable_backends"] if b.startswith("simd")]
        gemm_chart_files = []
        for t in e["threads"]:
            rows = e["gemm"][str(t)]
            numpy_gemm = (e["numpy"].get(str(t)) or {}).get("gemm", {})
            self.add(f"### SGEMM n×n, {t} thread{'s' if t > 1 else ''} (GFLOP/s)", "")
            header = "| n | " + " | ".join(simd_names) + " | dispatched | OpenBLAS | numpy | dispatched / OpenBLAS " \
                     "| best SIMD / OpenBLAS | dispatched / numpy |"
            self.add(header, "|" + "---:|" * (len(simd_names) + 7))
            d_vs_blas, d_vs_numpy = [], []
            for n in e["sizes"]:
                by = {(r["backend"], r["dispatched"]): r for r in rows if r["size"] == n}
                dispatched = next((r for (b, d), r in by.items() if d), None)
                blas = by.get(("openblas", False))
                simd = [by.get((name, False)) for name in simd_names]
                best_simd = max((r["throughput"] for r in simd if r), default=None)
                theirs = numpy_gemm.get(str(n))
                dt = dispatched["throughput"] if dispatched else None
                bt = blas["throughput"] if blas else None
                if dt and bt:
                    d_vs_blas.append(dt / bt)
                if dt and theirs:
                    d_vs_numpy.append(dt / theirs)
                self.add(f"| {n} | " + " | ".join(fmt(r["throughput"] if r else None) for r in simd) +
                         f" | {fmt(dt)} ({dispatched['backend'] if dispatched else '?'}) | {fmt(bt)} | {fmt(theirs)} | "
                         f"{self.ratio(dt, bt, f'SGEMM n={n}, {t}T, dispatched vs OpenBLAS')} | "
                         f"{self.ratio(best_simd, bt)} | "
                         f"{self.ratio(dt, theirs, f'SGEMM n={n}, {t}T, dispatched vs numpy')} |")
            self.add("")
            kernel = f"SGEMM n×n, n = {e['sizes'][0]}…{e['sizes'][-1]} (geometric mean; range)"
            if d_vs_blas:
                self.engine_hl(kernel, "OpenBLAS (cblas)", t, geomean(d_vs_blas), f"{min(d_vs_blas):.2f}–{max(d_vs_blas):.2f}")
            if d_vs_numpy:
                self.engine_hl(kernel, "numpy", t, geomean(d_vs_numpy), f"{min(d_vs_numpy):.2f}–{max(d_vs_numpy):.2f}")
            # chart
            series = []
            used = []
            for name in simd_names:
                pts = sorted((r["size"], r["throughput"], f"{name} n={r['size']}: {r['throughput']:.1f} GFLOP/s")
                             for r in rows if r["backend"] == name and not r["dispatched"])
                series.append((name, color_of(name, used), pts, False))
            pts = sorted((r["size"], r["throughput"], f"dispatched ({r['backend']}) n={r['size']}: {r['throughput']:.1f}")
                         for r in rows if r["dispatched"])
            series.append(("dispatched", PALETTE["dispatched"], pts, True))
            pts = sorted((r["size"], r["throughput"], f"OpenBLAS n={r['size']}: {r['throughput']:.1f}")
                         for r in rows if r["backend"] == "openblas" and not r["dispatched"])
            series.append(("OpenBLAS (cblas)", PALETTE["openblas"], pts, False))
            pts = sorted((int(n), v, f"numpy n={n}: {v:.1f}") for n, v in numpy_gemm.items())
            series.append(("numpy", PALETTE["numpy"], pts, True))
            gemm_chart_files.append((t, series))
        # GEMM chart: one panel per thread count, shared y range.
        ymax = max((y for _, s in gemm_chart_files for _, _, pts, _ in s for _, y, _ in pts), default=1) * 1.08
        legend = [(name if name != "dispatched" else "Arrowhead dispatched", color, dashed)
                  for name, color, pts, dashed in gemm_chart_files[0][1]]
        panels = [dict(series=s, title=f"SGEMM n×n, {t} thread{'s' if t > 1 else ''}", xlabel="n (log scale)",
                       ylabel="GFLOP/s (higher is better)", xlog2=True, ylim=(0, ymax)) for t, s in gemm_chart_files]
        name = "gemm.svg"
        chart(os.path.join(CHARTS, name), panels, legend,
              f"{self.machine.get('cpu_model', '')}, {self.machine.get('date', '')}; best of {e['repeats']} samples. "
              f"Benchmarks/peers/run.sh")
        self.charts.append((name, "SGEMM GFLOP/s versus n per backend, OpenBLAS and numpy"))
        self.add(f"![SGEMM GFLOP/s versus n per backend](charts/{name})", "")

        # small shapes
        self.add("### Small GEMM shapes (m, n, k ≤ 64), dispatched vs OpenBLAS (GFLOP/s)", "")
        self.add("| m×n×k | threads | dispatched (backend) | OpenBLAS | best SIMD | dispatched / OpenBLAS |",
                 "|---|---:|---:|---:|---:|---:|")
        for t in e["threads"]:
            ratios = []
            for shape, rows in e["small"][str(t)].items():
                dispatched = next((r for r in rows if r["dispatched"]), None)
                blas = next((r for r in rows if r["backend"] == "openblas" and not r["dispatched"]), None)
                best = max((r["throughput"] for r in rows if r["backend"].startswith("simd") and not r["dispatched"]), default=None)
                if dispatched and blas:
                    ratios.append(dispatched["throughput"] / blas["throughput"])
                self.add(f"| {shape} | {t} | {fmt(dispatched['throughput'] if dispatched else None)} "
                         f"({dispatched['backend'] if dispatched else '?'}) | {fmt(blas['throughput'] if blas else None)} | "
                         f"{fmt(best)} | {self.ratio(dispatched and dispatched['throughput'], blas and blas['throughput'], f'small GEMM {shape}, {t}T')} |")
            if ratios:
                self.engine_hl(f"small GEMM, m, n, k ≤ 64 ({len(ratios)} shapes; geometric mean; range)", "OpenBLAS (cblas)", t,
                               geomean(ratios), f"{min(ratios):.2f}–{max(ratios):.2f}")
        self.add("")

        # dot / L2
        self.add("### dot and squared L2 of 4096 floats, 1 thread (G element pairs/s)", "",
                 "cblas has no squared-L2 routine: both are compared with `cblas_sdot` (same memory traffic, "
                 "L2 does one more subtraction per pair). Best and median of the samples.", "",
                 "| operation | dispatched (backend) best | median | cblas_sdot best | median | ratio (best) | ratio (median) |",
                 "|---|---:|---:|---:|---:|---:|---:|")
        rows = e.get("dot") or []
        blas = next((r for r in rows if r["backend"] == "openblas" and r["operation"] == "dot"), None)
        for operation in ("dot", "l2"):
            dispatched = next((r for r in rows if r["dispatched"] and r["operation"] == operation), None)
            if not dispatched:
                continue
            best = self.ratio(dispatched["throughput"], blas and blas["throughput"], f"{operation} 4096 vs cblas_sdot (best)")
            median = self.ratio(dispatched["medianThroughput"], blas and blas["medianThroughput"])
            self.add(f"| {operation} | {fmt(dispatched['throughput'], 2)} ({dispatched['backend']}) | "
                     f"{fmt(dispatched['medianThroughput'], 2)} | {fmt(blas and blas['throughput'], 2)} | "
                     f"{fmt(blas and blas['medianThroughput'], 2)} | {best} | {median} |")
            if blas:
                self.engine_hl(f"{'dot' if operation == 'dot' else 'squared L2'} of 4096 floats (best; median/median)", "cblas_sdot", 1,
                               dispatched["throughput"] / blas["throughput"],
                               f"{dispatched['medianThroughput'] / blas['medianThroughput']:.2f}")
        self.add("")

        # distances
        q, b, d = e["distances_shape"]
        self.add(f"### Squared-L2 distance matrix {q}×{b}×{d} (GFLOP/s, FLOP = 2·q·b·d)", "",
                 "numpy: `‖x‖² + ‖y‖² − 2·X·Yᵀ` clamped at 0 (the usual expression); Arrowhead writes the same "
                 "q×b matrix.", "",
                 "| threads | dispatched (backend) | " + " | ".join(n for n in e["runnable_backends"]
                                                               if any(r["backend"] == n and not r["dispatched"]
                                                                      for r in e["distances"][str(e['threads'][0])])) +
                 " | numpy | dispatched / numpy | dispatched / OpenBLAS backend |")
        names = [n for n in e["runnable_backends"] if any(r["backend"] == n and not r["dispatched"]
                                                         for r in e["distances"][str(e['threads'][0])])]
        self.add("|---:|---:|" + "---:|" * (len(names) + 3))
        for t in e["threads"]:
            rows = e["distances"][str(t)]
            dispatched = next((r for r in rows if r["dispatched"]), None)
            blas = next((r for r in rows if r["backend"] == "openblas" and not r["dispatched"]), None)
            theirs = (e["numpy"].get(str(t)) or {}).get("distances")
            dt = dispatched and dispatched["throughput"]
            cells = [fmt(next((r["throughput"] for r in rows if r["backend"] == n and not r["dispatched"]), None)) for n in names]
            self.add(f"| {t} | {fmt(dt)} ({dispatched['backend'] if dispatched else '?'}) | " + " | ".join(cells) +
                     f" | {fmt(theirs)} | {self.ratio(dt, theirs, f'distance matrix, {t}T, vs numpy')} | "
                     f"{self.ratio(dt, blas and blas['throughput'])} |")
            if dt and theirs:
                self.engine_hl(f"squared-L2 distance matrix {q}×{b}×{d}", "numpy ‖x‖²+‖y‖²−2XYᵀ", t, dt / theirs, "")
        self.add("")

    # -- quantization ----------------------------------------------------------------------
    def quant_section(self):
        qd = self.quant
        self.add("## Quantization: error and time", "")
        if not qd:
            self.add("n/a: the quantization step did not produce out/quant.json (see Failures).", "")
            return
        for error in qd.get("errors", []):
            self.errors.append((error["peer"], error["reason"]))
        self.add(f"Data: {qd['model']}, {qd['weights']:,} weights. ".replace(",", " ") + "Error = size-weighted relative error "
                 "√(Σ nₖ·eₖ² / Σ nₖ), eₖ = ‖Wₖ − Ŵₖ‖/‖Wₖ‖. Error ratio = theirs / ours (> 1: Arrowhead's error is "
                 "lower); time ratio = their seconds / our seconds (> 1: Arrowhead faster). Arrowhead runs "
                 "`arrowhead optimize eval` on **1 thread** (the peers are single-threaded numpy); its time "
                 "includes dequantizing and measuring the error, the peers' does not. "
                 f"Arrowhead, gguf and numpy min-max: best of {qd['repeat']} rounds; numpy HQQ/grid ports: best of "
                 f"{qd['port_repeat']}.", "")

        def ours(table, optimizer, bits):
            for row in qd["ours"][table]:
                if row["optimizer"] == optimizer and row["bits"] == bits:
                    return row
            return None

        # numpy min-max
        self.add("### Plain min-max (float minimum, groups of 64) vs numpy", "",
                 "| bits | Arrowhead error | numpy error | error ratio | Arrowhead s | numpy s | time ratio |",
                 "|---:|---:|---:|---:|---:|---:|---:|")
        for row in qd.get("numpy_minmax") or []:
            bits = row["bits"]
            o = ours("g64", "minmax", bits)
            self.add(f"| {row['bits']} | {fmt(o and o['sizeWeightedRelativeError'], 5)} | {fmt(row['error'], 5)} | "
                     f"{self.ratio(o and o['sizeWeightedRelativeError'], row['error'], f'min-max INT{bits} error vs numpy', lower_is_better=True)} | "
                     f"{fmt(o and o['seconds']['best'], 3)} | {fmt(row['seconds'], 3)} | "
                     f"{self.ratio(o and o['seconds']['best'], row['seconds'], f'min-max INT{bits} time vs numpy', lower_is_better=True)} |")
        if not qd.get("numpy_minmax"):
            self.add("| n/a | | | | | | |")
        self.add("")
        mc = qd.get("minmax_compare")
        if not mc:
            self.quant_hl("numpy min-max, INT4 groups of 64", None, None, "n/a: `quantize_minmax.py compare` failed")
        if mc:
            ours_tp, peer_tp = max(mc["throughput_gb_per_s"]["arrowhead"]), max(mc["throughput_gb_per_s"]["numpy"])
            ours_wall, peer_wall = min(mc["model_wall_s"]["arrowhead"]), min(mc["model_wall_s"]["numpy"])
            identical = mc["tensors_differing"] == 0
            self.add(f"`quantize_minmax.py compare` (INT4, groups of 64, {mc['rounds']} alternating round(s)):", "",
                     "| measurement | Arrowhead | numpy | ours / theirs |", "|---|---:|---:|---:|",
                     f"| in-memory quantize + pack, 16384×1024, GB/s (1 thread) | {ours_tp:.2f} | {peer_tp:.2f} | "
                     f"{self.ratio(ours_tp, peer_tp, 'INT4 quantize+pack throughput vs numpy')} |",
                     f"| whole model file → quantized safetensors, wall s | {ours_wall:.3f} | {peer_wall:.3f} | "
                     f"{self.ratio(ours_wall, peer_wall, 'whole-model INT4 quantize vs numpy', lower_is_better=True)} |",
                     f"| peak RSS, MiB | {fmt(mc['peak_rss_mib']['arrowhead'], 0)} | {fmt(mc['peak_rss_mib']['numpy'], 0)} | "
                     f"{self.ratio(mc['peak_rss_mib']['arrowhead'], mc['peak_rss_mib']['numpy'], lower_is_better=True)} |",
                     f"| size-weighted relative error | {mc['error']['arrowhead']:.5f} | {mc['error']['numpy']:.5f} | |", "",
                     f"Codes, scales and minima of {mc['tensors_compared']} tensors compared byte for byte: "
                     + ("**identical**." if identical else f"**{mc['tensors_differing']} DIFFER** (a regression: "
                                                           "the numpy peer implements the documented rounding)."), "")
            numpy4 = next((r for r in qd.get("numpy_minmax") or [] if r["bits"] == 4), None)
            ours4 = ours("g64", "minmax", 4)
            self.quant_hl("numpy min-max, INT4 groups of 64 (time: quantize + pack GB/s)",
                          numpy4["error"] / ours4["sizeWeightedRelativeError"] if numpy4 and ours4 else None,
                          ours_tp / peer_tp, "codes bit-identical" if identical else "**CODES DIFFER**")
            if not identical:
                self.errors.append(("quantize_minmax.py compare", f"{mc['tensors_differing']} tensors differ from numpy"))

        # gguf
        self.add("### gguf (llama.cpp's numpy reference, blocks of 32) vs Arrowhead groups of 32", "")
        g = qd.get("gguf")
        if not g:
            self.add("n/a: gguf is not installed or failed (see Failures).", "")
            reason = next((e["reason"] for e in qd.get("errors", []) if e["peer"] == "gguf"), "not installed")
            self.quant_hl("gguf Q8_0 / Q4_0 / Q4_1", None, None, f"n/a: {reason}")
        else:
            self.add(f"gguf {g['version']} (`gguf.quants.quantize`). gguf stores float16 block parameters, "
                     "Arrowhead float32 ones, so Arrowhead's files are larger at the same group size "
                     "(bits/weight column). *rule* = the Arrowhead parameter rule that is gguf's own: min-max "
                     "for Q8_0 (max|x|/127) and Q4_1, `signed-max` for Q4_0 (d = the larger-magnitude extreme / −8, "
                     "all 16 codes; runs before 2026-12-06 had only min-max, whose symmetric range leaves one code "
                     "unused). *grid* = Arrowhead's grid optimizer at the same scheme.", "",
                     "| gguf type | Arrowhead scheme | rule | bits/weight gguf / ours | gguf error | Arrowhead error (rule) "
                     "| error ratio | Arrowhead grid error | error ratio (grid) | gguf s | Arrowhead s (rule) | time ratio |",
                     "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            mapping = {"Q8_0": ("g32_symmetric", 8, "symmetric 8-bit, G=32", 8 + 32 / 32, "minmax"),
                       "Q4_0": ("g32_symmetric", 4, "symmetric 4-bit, G=32", 4 + 32 / 32, "signed-max"),
                       "Q4_1": ("g32_float_minimum", 4, "asymmetric float-minimum 4-bit, G=32", 4 + 64 / 32, "minmax")}
            for row in g["rows"]:
                qt = row["type"]
                table, bits, label, bpw, rule = mapping[qt]
                mm, gr = ours(table, rule, bits), ours(table, "grid", bits)
                if mm is None and rule != "minmax":  # a run from before `signed-max` existed
                    rule, mm = "minmax", ours(table, "minmax", bits)
                plain = ours(table, "minmax", bits) if rule != "minmax" else None
                me = mm and mm["sizeWeightedRelativeError"]
                ge = gr and gr["sizeWeightedRelativeError"]
                self.add(f"| {row['type']} | {label} | {rule} | {row['bits_per_weight']:g} / {bpw:g} | {row['error']:.5f} | "
                         f"{fmt(me, 5)} | {self.ratio(me, row['error'], f'{qt} error vs {rule} {label}', lower_is_better=True)} | "
                         f"{fmt(ge, 5)} | {self.ratio(ge, row['error'], f'{qt} error vs grid {label}', lower_is_better=True)} | "
                         f"{row['seconds']:.3f} | {fmt(mm and mm['seconds']['best'], 3)} | "
                         f"{self.ratio(mm and mm['seconds']['best'], row['seconds'], f'{qt} time vs {rule}', lower_is_better=True)} |")
                if me:
                    notes = [f"Arrowhead `{rule}`"]
                    if plain:
                        notes.append(f"min-max (restricted range): error ratio {row['error'] / plain['sizeWeightedRelativeError']:.2f}×")
                    if ge:
                        notes.append(f"with the grid optimizer: error ratio {row['error'] / ge:.2f}×")
                    self.quant_hl(f"gguf {qt} vs {label}", row["error"] / me, row["seconds"] / mm["seconds"]["best"],
                                  "; ".join(notes))
            self.add("")

        # HQQ and grid ports
        for key, optimizer, title in (("hqq_port", "hqq", "HQQ optimizer (numpy port `optimize_hqq.py`) vs Arrowhead `hqq`"),
                                      ("grid_port", "grid", "Grid optimizer (numpy port `optimize_grid.py`, float64) vs Arrowhead `grid`")):
            self.add(f"### {title}, groups of 64, float minimum", "")
            if key == "hqq_port":
                self.add("HQQ itself (`pip install hqq`) needs torch (~5 GB) and is not installed by run.sh"
                         + (" (it is installed here but not run)" if qd.get("hqq_installed") else "") +
                         ": `optimize_hqq.py`, a numpy port of HQQ's `optimize_weights_proximal_legacy` "
                         "(stop on the whole tensor's error, as HQQ does), stands in for it. Shared/DATA.md's "
                         "HQQ-on-CPU figures: INT8 0.00537, INT4 0.09056, INT2 0.45068.", "")
            rows = qd.get(key)
            if not rows:
                self.add("n/a (see Failures).", "")
                self.quant_hl(f"{'HQQ (numpy port)' if optimizer == 'hqq' else 'grid optimizer, numpy port'} vs "
                              f"Arrowhead `{optimizer}`", None, None, "n/a (see Failures in RESULTS.md)")
                continue
            self.add("| bits | port error | Arrowhead error | error ratio | port s | Arrowhead s | time ratio |",
                     "|---:|---:|---:|---:|---:|---:|---:|")
            for row in rows:
                bits = row["bits"]
                o = ours("g64", optimizer, bits)
                oe = o and o["sizeWeightedRelativeError"]
                os_ = o and o["seconds"]["best"]
                self.add(f"| {row['bits']} | {row['error']:.5f} | {fmt(oe, 5)} | "
                         f"{self.ratio(oe, row['error'], f'{optimizer} INT{bits} error vs numpy port', lower_is_better=True)} | "
                         f"{row['seconds']:.2f} | {fmt(os_, 2)} | "
                         f"{self.ratio(os_, row['seconds'], f'{optimizer} INT{bits} time vs numpy port', lower_is_better=True)} |")
                if bits == 4 and oe:
                    self.quant_hl(f"{'HQQ (numpy port)' if optimizer == 'hqq' else 'grid optimizer, numpy port'} vs "
                                  f"Arrowhead `{optimizer}`, INT4 groups of 64", row["error"] / oe, row["seconds"] / os_, "")
            self.add("")

    # -- tokenizer -----------------------------------------------------------------------------
    def tokenize_section(self):
        t = self.tokenize
        self.add("## WordPiece tokenizer vs HF tokenizers", "")
        if not t:
            self.add("n/a: the tokenize step did not produce out/tokenize.json (see Failures).", "")
            return
        for error in t.get("errors", []):
            self.errors.append((error["what"], error["reason"]))
        m = t["meta"]
        T = m["threads"][-1]
        self.add(f"HF tokenizers {m['tokenizers']} (`Tokenizer.from_file`, `encode_batch`), {m['model']}, truncation to "
                 f"{m['maximum_length']} tokens, no padding, add_special_tokens. Texts: `Benchmarks/peers/data/"
                 "text-corpus.txt` and `text-queries.txt` from `make_text_corpus.py` (Debian man pages in 8 languages, "
                 "with seeded emoji, control/format characters, NFD accents, long words), and the adversarial texts of "
                 "`tokenizer_cases.py`. Arrowhead runs `arrowhead tokenize --json --offsets` for agreement and "
                 "`arrowhead bench tokenize` for speed; HF runs in fresh processes with RAYON_NUM_THREADS = the thread "
                 f"count. Best of {m['repeats']} samples × {m['rounds']} round(s) on {m.get('timed_texts', '?')} texts.", "")
        self.add("| texts | count | identical ids | identical ids and offsets | truncated |", "|---|---:|---:|---:|---:|")
        total = same = 0
        for name, a in t["agreement"].items():
            if "error" in a:
                self.errors.append((f"tokenizer agreement ({name})", a["error"]))
                continue
            total += a["texts"]
            same += a["identical_ids"]
            self.add(f"| {name} | {a['texts']} | {a['identical_ids']} ({100 * a['fraction_identical_ids']:.2f} %) | "
                     f"{a['identical_ids_and_offsets']} | {a['truncated']} |")
        self.add("")
        for name, a in t["agreement"].items():
            for d in a.get("differences", [])[:5]:
                self.add(f"- {name} text {d['index']}, token {d['position']}: ours {d['ours']}, theirs {d['theirs']} "
                         f"({d['their_tokens']}) in `{d['text'][:80]!r}`")
        tp = t.get("throughput", {})
        self.add("", f"| texts/s | 1 thread | {T} threads |", "|---|---:|---:|")
        for name, label in (("arrowhead", "Arrowhead `Tokenizer.encode` (offsets included)"),
                            ("encode_batch", "HF `encode_batch` (offsets included)"),
                            ("encode_batch_fast", "HF `encode_batch_fast` (no offsets)"),
                            ("arrowhead cpu", "Arrowhead, per CPU second"),
                            ("encode_batch cpu", "HF `encode_batch`, per CPU second")):
            row = tp.get(name, {})
            cells = [f"{fmt(row[str(n)]['texts_per_second'], 0)} (median {fmt(row[str(n)]['median_texts_per_second'], 0)})"
                     if str(n) in row else ("–" if name.endswith(" cpu") else "n/a") for n in (1, T)]
            self.add(f"| {label} | {cells[0]} | {cells[1]} |")
        cells = []
        for n in (1, T):
            ours, theirs = tp.get("arrowhead", {}).get(str(n)), tp.get("encode_batch", {}).get(str(n))
            cells.append(self.ratio(ours["texts_per_second"], theirs["texts_per_second"],
                                    f"tokenizer texts/s vs HF encode_batch, {n} thread(s)") if ours and theirs else "n/a")
        self.add(f"| ours / HF `encode_batch` | {cells[0]} | {cells[1]} |")
        ours, theirs = tp.get("arrowhead cpu", {}).get("1"), tp.get("encode_batch cpu", {}).get("1")
        if ours and theirs:
            self.add(f"| ours / HF `encode_batch`, per CPU second | "
                     f"{self.ratio(ours['texts_per_second'], theirs['texts_per_second'], 'tokenizer texts per CPU second vs HF')} | – |")
        self.add("")
        line = f"- ids identical to HF tokenizers on {same} of {total} texts ({100 * same / max(total, 1):.2f} %)"
        ratios = t.get("ratios", {})
        if ratios:
            line += ("; texts/s ours / HF encode_batch: " + " / ".join(
                f"{ratios[k]:.2f}×" for k in (f"encode_batch 1T", f"encode_batch {T}T") if k in ratios)
                + f" (1 / {T} threads)")
            if "encode_batch 1T cpu" in ratios:
                line += f", {ratios['encode_batch 1T cpu']:.2f}× per CPU second at 1 thread"
        self.hl_tokenize.append(line)
        if same < total:
            self.hl_behind.append(f"tokenizer: ids differ from HF tokenizers on {total - same} texts")
        for n in (1, T):
            value = ratios.get(f"encode_batch {n}T")
            if value is not None and value < 0.995:
                self.hl_behind.append(f"tokenizer texts/s vs HF encode_batch, {n} thread(s): {value:.2f}×")

    # -- sentence embeddings -------------------------------------------------------------------
    def embed_section(self):
        e = self.embed
        self.add("## Sentence embeddings vs sentence-transformers and onnxruntime", "")
        if not e:
            self.add("n/a: the embed step did not produce out/embed.json (see Failures).", "")
            return
        for name, reason in e.get("errors", {}).items():
            self.errors.append((f"embed peer {name}", reason))
        c = e["corpus"]
        T = e["threads"][-1]
        versions = "; ".join(dict.fromkeys(e.get("versions", {}).values()))

        def cos(value):  # 1 − ε reads better than a row of nines
            return f"{value:.9f}" if value < 0.9999999 else f"1 − {max(1 - value, 0):.1e}"

        self.add(f"all-MiniLM-L6-v2 (max_seq_length 256), Float32. Texts: `{c['path']}` ({c['texts']} texts; "
                 f"{c.get('source') or 'see make_text_corpus.py'}) and {c['queries']} held-out query texts. Speed: the "
                 f"same {c['speed_texts']} texts ({e.get('speed_tokens', '?')} tokens, every k-th text of the corpus) through "
                 f"each engine, batches of {e['batch']} sorted by length, tokenization included, model loading excluded. "
                 f"Arrowhead: `arrowhead embed --threads N`; sentence-transformers: `encode(batch_size=32)` with "
                 f"torch.set_num_threads; onnxruntime: the model exported by torch.onnx (opset 17), mean pooling in numpy, "
                 f"intra_op_num_threads; int8: `quantize_dynamic` (QInt8). {versions}.", "")
        rows = {(r["engine"], r["threads"]): r for r in e.get("speed", [])}
        ours = {t: rows.get(("arrowhead f32", t)) for t in (1, T)}
        self.add(f"| texts/s | 1 thread | {T} threads | ours / theirs (1 / {T} threads) |", "|---|---:|---:|---:|")
        ratios = {}
        for name in ("arrowhead f32", "arrowhead f32, threads inside products", "sentence-transformers",
                     "onnxruntime f32", "onnxruntime int8"):
            if not any((name, t) in rows for t in (1, T)):
                continue
            cells = [fmt(rows[(name, t)]["texts_per_second"]) if (name, t) in rows else "–" for t in (1, T)]
            if name.startswith("arrowhead"):
                versus = "–"
            else:
                parts = []
                for t in (1, T):
                    theirs = rows.get((name, t))
                    label = f"sentence embeddings texts/s vs {name}, {t} thread(s)"
                    parts.append(self.ratio(ours[t]["texts_per_second"], theirs["texts_per_second"], label)
                                 if ours[t] and theirs else "n/a")
                    if ours[t] and theirs:
                        ratios[(name, t)] = ours[t]["texts_per_second"] / theirs["texts_per_second"]
                versus = " / ".join(parts)
            self.add(f"| {name} | {cells[0]} | {cells[1]} | {versus} |")
        self.add("")
        # Quantized weights (`arrowhead embed --weights int8|int4`), against onnxruntime's
        # int8 model: the like-for-like pair is W8A8 (int8 weights and activations).
        quantized = list(dict.fromkeys(r["engine"] for r in e.get("speed", []) if r["engine"].startswith("arrowhead int")))
        if quantized:
            self.add("Quantized weights, quantized on load (`arrowhead embed --weights int8|int4 --activations …`), same "
                     "texts and batches; the ratio is against onnxruntime's int8 model (`quantize_dynamic`, QInt8 "
                     "per-tensor weights, int8 activations), for our rows with int8 activations (W8A8, W4A8; the "
                     "weight-only rows keep Float32 activations). Cosines to sentence-transformers in the next table.", "",
                     f"| texts/s | 1 thread | {T} threads | vs onnxruntime int8 (1 / {T} threads) | load s |",
                     "|---|---:|---:|---:|---:|")
            for name in quantized:
                cells = [fmt(rows[(name, t)]["texts_per_second"]) if (name, t) in rows else "–" for t in (1, T)]
                parts = []
                for t in (1, T):
                    mine, theirs = rows.get((name, t)), rows.get(("onnxruntime int8", t))
                    if "weight-only" in name:
                        parts.append("–")  # Float32 activations: not onnxruntime int8's kind of product
                        continue
                    if mine and theirs:
                        parts.append(self.ratio(mine["texts_per_second"], theirs["texts_per_second"],
                                                f"sentence embeddings texts/s, {name} vs onnxruntime int8, {t} thread(s)"))
                        ratios[(name, "onnxruntime int8", t)] = mine["texts_per_second"] / theirs["texts_per_second"]
                    else:
                        parts.append("n/a")
                load = rows.get((name, T), {}).get("load_seconds")
                self.add(f"| {name} | {cells[0]} | {cells[1]} | {' / '.join(parts)} | "
                         f"{'–' if load is None else f'{load:.2f}'} |")
            self.add("")
        self.add("| cosine to sentence-transformers | texts | mean | min | texts below 0.9999 |", "|---|---:|---:|---:|---:|")
        for name, v in e.get("cosine", {}).items():
            self.add(f"| {name} | {v['texts']} | {cos(v['mean'])} | {cos(v['min'])} | {v['below_0.9999']} |")
        self.add("")
        run = e.get("corpus_run", {})
        if run:
            peak = run.get("peak_rss_bytes") or run.get("peak_rss_bytes_self_reported")
            line = (f"Whole corpus through `arrowhead embed` at {run['threads']} threads: {fmt(run['texts_per_second'])} texts/s "
                    f"({run['tokens']} tokens, {run['truncated_texts']} texts truncated at 256 tokens), peak resident "
                    f"memory {peak / 2**20:.0f} MiB (`/usr/bin/time -v`)")
            if run.get("sentence_transformers_texts_per_second"):
                line += (f"; sentence-transformers embedded it (the reference) at "
                         f"{fmt(run['sentence_transformers_texts_per_second'])} texts/s on {run['threads']} threads")
            self.add(line + ".", "")
        r = e.get("retrieval", {})
        if r:
            self.add(f"Retrieval, {r['queries']} held-out queries, recall@{r['k']} of `arrowhead index search` (corpus and "
                     f"queries embedded by `arrowhead embed`, index built with `--metric cosine`) against {r['truth']}: "
                     f"flat {r['recall_flat']:.4f}, HNSW (M 16, efConstruction 200, efSearch 64) {r['recall_hnsw']:.4f}.", "")
        ours_cos = e.get("cosine", {}).get("arrowhead f32")
        line = "- "
        if ours_cos:
            line += (f"cosine to sentence-transformers mean {cos(ours_cos['mean'])}, min {cos(ours_cos['min'])} "
                     f"({ours_cos['texts']} texts)")
            if ours_cos["mean"] < 0.99999 or ours_cos["min"] < 0.9999:
                self.hl_behind.append(f"sentence embeddings: cosine mean {ours_cos['mean']:.6f} / min {ours_cos['min']:.6f} "
                                      "(goal ≥ 0.99999 / ≥ 0.9999)")
        for name in ("sentence-transformers", "onnxruntime f32", "onnxruntime int8"):
            values = [ratios.get((name, t)) for t in (1, T)]
            if all(v is not None for v in values):
                line += f"; texts/s vs {name}: {values[0]:.2f}× / {values[1]:.2f}× (1 / {T} threads)"
        like = [ratios.get(("arrowhead int8 (W8A8)", "onnxruntime int8", t)) for t in (1, T)]
        if all(v is not None for v in like):
            cosines = e.get("cosine", {})
            ours_q, theirs_q = cosines.get("arrowhead int8 (W8A8)"), cosines.get("onnxruntime int8")
            line += (f"; int8 (W8A8) texts/s vs onnxruntime int8: {like[0]:.2f}× / {like[1]:.2f}× (1 / {T} threads)"
                     + (f", mean cosine to sentence-transformers {ours_q['mean']:.4f} vs {theirs_q['mean']:.4f}"
                        if ours_q and theirs_q else ""))
        if r:
            line += f"; recall@{r['k']} of index search {r['recall_hnsw']:.4f} (HNSW), {r['recall_flat']:.4f} (flat)"
        self.hl_embed.append(line)
        for name, goal in (("sentence-transformers", 2.0), ("onnxruntime f32", 1.0)):
            for t in (1, T):
                value = ratios.get((name, t))
                if value is not None and value < goal:
                    self.hl_behind.append(f"sentence embeddings texts/s vs {name}, {t} thread(s): {value:.2f}× (goal ≥ {goal:.0f}×)")

    # -- search ------------------------------------------------------------------------------
    def search_section(self):
        self.add("## Nearest-neighbour search vs faiss, hnswlib, usearch", "")
        if not self.searches:
            self.add("n/a: no search results (see Failures).", "")
            return
        meta0 = self.searches[0]["meta"]
        versions = meta0.get("versions", {})
        self.add("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v) + ". "
                 "Unit-normalised rows, 1 000 held-out queries, k = 10, exact ground truth; inner-product metric "
                 "(= cosine) for every library, plus squared L2 for the flat indexes. HNSW: M = 16, "
                 "efConstruction = 200, built with the run's thread count; queries/s = the whole batch of 1 000 "
                 "queries per call, best of the timed passes and rounds, the libraries interleaved after all builds. "
                 "Arrowhead runs through `arrowhead index build/eval`, the peers through their Python bindings.", "")
        for data in self.searches:
            for error in data.get("errors", []):
                self.errors.append((f"{error['library']} ({error['what']})", error["reason"]))
            meta = data["meta"]
            T = meta["thread_counts"][-1]
            for dataset, info in meta["datasets"].items():
                rows = [r for r in data["rows"] if r["dataset"] == dataset]
                nice = {"glove": "GloVe", "minilm": "MiniLM"}.get(dataset, dataset)
                label = f"{nice} {info['base'][0]:,}×{info['base'][1]}".replace(",", " ")
                if info.get("limit"):
                    label += " (prefix)"
                self.add(f"### {label}: {', '.join(meta['sections'])}", "",
                         f"{meta['repeat']} timed passes × {meta['rounds']} round(s); threads 1 and {T}.", "")
                if "flat" in meta["sections"]:
                    self.flat_table(dataset, label, rows, T)
                if "hnsw" in meta["sections"]:
                    self.hnsw_tables(dataset, label, rows, T, meta)
                if "int8" in meta["sections"]:
                    self.int8_table(dataset, label, rows, T)
                if "few" in meta["sections"]:
                    self.few_table(dataset, label, rows, T)

    # -- Python API (python_api.py) -------------------------------------------------------------
    def python_section(self):
        self.add("## Python API (`import arrowhead`) vs the CLI and hnswlib's Python API", "")
        data = self.python_api
        if not data:
            self.add("n/a: the python-api step did not produce out/python-api.json (see Failures).", "")
            return
        meta, goals = data["meta"], data["goals"]
        label = f"GloVe {meta['base'][0]:,}×{meta['base'][1]}".replace(",", " ") + (" (prefix)" if meta.get("limit") else "")
        self.add(f"{label}, inner product on unit vectors, HNSW M = {meta['M']}, efConstruction = "
                 f"{meta['efConstruction']}, built from Python (`Index.add`, {meta['threads']} threads, "
                 f"{meta['build_s']:.1f} s) and saved; the CLI (`arrowhead index eval`) and Python "
                 "(`Index.load(path, mmap=False)`, then `Index.search(queries, k=10, ef=…, threads=1)`) search the "
                 "same file, 1 000 queries per call, 1 thread, best of "
                 f"{meta['repeat']} passes × {meta['rounds']} interleaved rounds (Python loads the file afresh in each "
                 "round, as each CLI process does"
                 + (": transparent huge pages gained per load " + ", ".join(f"{v / 1024:.0f}" for v in meta["load_huge_page_kib"])
                    + f" MiB of a {meta['index_mib']:.0f} MiB file"
                    if meta.get("load_huge_page_kib") and None not in meta["load_huge_page_kib"] else "")
                 + "); hnswlib through its Python API.", "",
                 "| ef | CLI q/s | Python q/s | Python / CLI | per CPU-second | hnswlib q/s | recall@10 | hnswlib recall@10 |",
                 "|---:|---:|---:|---:|---:|---:|---:|---:|")
        rows = {(r["library"], r["ef"]): r for r in data["rows"]}
        for ef in meta["ef"]:
            cli, ours, peer = rows.get(("cli", ef)), rows.get(("python", ef)), rows.get(("hnswlib", ef))
            if not cli or not ours:
                continue
            peer_qps, peer_recall = (fmt(peer["qps1"], 0), f"{peer['recall10']:.4f}") if peer else ("n/a", "n/a")
            self.add(f"| {ef} | {fmt(cli['qps1'], 0)} | {fmt(ours['qps1'], 0)} | "
                     f"{self.ratio(ours['qps1'], cli['qps1'])} | {self.ratio(ours['qps1_cpu'], cli['qps1_cpu'])} | "
                     f"{peer_qps} | {ours['recall10']:.4f} | {peer_recall} |")
        self.add("")
        overhead = goals.get("overhead_median_wall")
        self.python_note = (f"Python `Index.search` / `arrowhead index eval`, HNSW on {label}, 1 thread: "
                            f"{Ratios.plain(overhead)} queries/s (median over ef; goal within 5 %)")
        self.add(f"- {self.python_note}; per CPU-second {Ratios.plain(goals.get('overhead_median_cpu'))}.")
        floor = goals.get("call_floor_seconds")
        if floor:
            self.add(f"- Fixed cost of `Index.search` from Python (a 1-vector flat index: checks, the ctypes call, result "
                     f"arrays, next to no search): {floor['1'] * 1e6:.0f} µs per call of 1 query, {floor['1000'] * 1e3:.2f} ms "
                     f"per call of 1 000 queries = {100 * goals['call_floor_share']:.2f} % of the fastest batch measured above.")
        a, b = goals.get("ours_at_095"), goals.get("hnswlib_at_095")
        if a and b:
            self.search_hl(f"HNSW q/s at recall@10 ≥ 0.95 from Python, {label} (1 thread)", "hnswlib", goals["vs_hnswlib_wall"])
            self.add(f"- HNSW at recall@10 ≥ 0.95, 1 thread, both from Python: Arrowhead {a['qps1']:.0f} q/s (ef {a['ef']}, "
                     f"recall {a['recall10']:.4f}) vs hnswlib {b['qps1']:.0f} q/s (ef {b['ef']}, recall {b['recall10']:.4f}) = "
                     f"{self.ratio(a['qps1'], b['qps1'], 'HNSW from Python vs hnswlib, 1 thread')} wall, "
                     f"{Ratios.plain(goals.get('vs_hnswlib_cpu'))} per CPU-second (goal ≥ 1.2×).")
        else:
            self.add("- hnswlib: n/a (not installed or no setting reached recall@10 ≥ 0.95).")
        self.add("")

    # -- Quantized matrices from Python (qmatrix_python.py) ----------------------------------
    def qmatrix_python_section(self):
        self.add("## Products on quantized weights from Python (`arrowhead.QuantizedMatrix`)", "")
        data = self.qmatrix_python
        if not data:
            self.add("n/a: the qmatrix-python step did not produce out/qmatrix-python.json (see Failures).", "")
            return
        meta = data["meta"]
        self.add("`QuantizedMatrix.matmul` from Python against PyTorch's dynamic int8 Linear (per-channel weights, "
                 "fbgemm) and numpy's float32 `x @ W.T` in the same process, and against `arrowhead bench qgemm` "
                 "(no Python) on the same weights and activations: all-MiniLM-L6-v2 layer 3, real activations, "
                 f"1 thread, the calling thread's CPU time, best of {meta['repeats']} samples. Python's fixed cost "
                 f"per call: {meta['call_floor_us']:.1f} µs.", "",
                 "| shape | Arrowhead | ms (Python) | ms (CLI) | Python / CLI time | vs torch int8 per-channel | "
                 "vs numpy float32 | error ours | error torch |",
                 "|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for row in data["rows"]:
            for key, ours in row["ours"].items():
                like_for_like = key == "W8A8 per-channel"  # torch's granularity and arithmetic
                versus_torch = self.ratio(ours["seconds"], row["torch_seconds"],
                                          f"Python W8A8 per-channel vs torch per-channel {row['shape']} 1T"
                                          if like_for_like else None, lower_is_better=True)
                self.add(f"| {row['shape']} | {key} | {ours['seconds'] * 1e3:.3f} | {ours['cli_seconds'] * 1e3:.3f} | "
                         f"{ours['seconds'] / ours['cli_seconds']:.2f} | {versus_torch} | "
                         f"{self.ratio(ours['seconds'], row['numpy_seconds'], lower_is_better=True)} | "
                         f"{ours['error']:.5f} | {row['torch_error']:.5f} |")
        self.add("", "Ratios are throughput ours / theirs. Only the W8A8 per-channel rows are like for like with "
                 "PyTorch (same weight granularity, int8 activations); weight-only rows are Float32 arithmetic. "
                 "At batch 1 the Python column includes the call's fixed cost.", "")

    def flat_table(self, dataset, label, rows, T):
        self.add(f"Flat (exact) search, queries/s. faiss is measured with its default batch path and with its BLAS "
                 "path forced (`distance_compute_blas_threshold = 20`); the ratio uses the faster.", "",
                 f"| metric | Arrowhead 1T | faiss default 1T | faiss BLAS 1T | ours / faiss 1T | Arrowhead {T}T "
                 f"| faiss default {T}T | faiss BLAS {T}T | ours / faiss {T}T | recall@10 ours / faiss |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for ours_label, faiss_label, metric in (("flat-l2", "IndexFlatL2", "L2"), ("flat-ip", "IndexFlatIP", "inner product")):
            o = next((r for r in rows if r["library"] == "arrowhead" and r["index"] == ours_label), None)
            f = next((r for r in rows if r["library"] == "faiss" and r["index"] == faiss_label), None)
            fb = next((r for r in rows if r["library"] == "faiss" and r["index"] == faiss_label + "+blas"), None)
            if not o:
                continue
            best1 = max((r["qps1"] for r in (f, fb) if r), default=None)
            bestT = max((r["qpsT"] for r in (f, fb) if r), default=None)
            self.add(f"| {metric} | {fmt(o['qps1'], 0)} | {fmt(f and f['qps1'], 0)} | {fmt(fb and fb['qps1'], 0)} | "
                     f"{self.ratio(o['qps1'], best1, f'flat {metric} {label}, 1T vs faiss')} | {fmt(o['qpsT'], 0)} | "
                     f"{fmt(f and f['qpsT'], 0)} | {fmt(fb and fb['qpsT'], 0)} | "
                     f"{self.ratio(o['qpsT'], bestT, f'flat {metric} {label}, {T}T vs faiss')} | "
                     f"{o['recall10']:.4f} / {fmt(f and f['recall10'], 4)} |")
            if best1:
                self.search_hl(f"flat {metric}, {label}, q/s (1 / {T} threads)", "faiss", o["qps1"] / best1,
                               o["qpsT"] / bestT if bestT else None)
        self.add("")

    def few_table(self, dataset, label, rows, T):
        counts = sorted({r["queries"] for r in rows if r.get("queries")})
        if not counts:
            return
        self.add(f"Flat (exact) search with a few queries per call, queries/s, best of 20 passes per round. Arrowhead "
                 "through `index eval`: the Float32 path (what a fresh index runs; `--int8-screening off`) and the int8 "
                 "screen with exact re-score (`--int8-screening on`: what an index runs by default once it has served "
                 "256 queries since its vectors last changed, on AVX-512 VNNI from 24 dimensions; from the first call "
                 "for ≥ 16 queries of ≥ 64 dimensions). faiss: `IndexFlat*.search` on the same rows (its own SIMD loops "
                 "below the BLAS threshold). Ratios ours / faiss.", "",
                 f"| metric | queries per call | Float32 1T | int8 screen 1T | faiss 1T | Float32 / faiss | screen / faiss "
                 f"| Float32 {T}T | int8 screen {T}T | faiss {T}T | Float32 / faiss | screen / faiss |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        ratios = {"f1": [], "fT": [], "s1": [], "sT": []}
        for ours_label, faiss_label, metric in (("flat-l2", "IndexFlatL2", "L2"), ("flat-ip", "IndexFlatIP", "inner product")):
            for n in counts:
                o = next((r for r in rows if r["library"] == "arrowhead" and r["index"] == f"{ours_label}-few{n}"), None)
                q = next((r for r in rows if r["library"] == "arrowhead" and r["index"] == f"{ours_label}-int8-few{n}"), None)
                f = next((r for r in rows if r["library"] == "faiss" and r["index"] == f"{faiss_label}-few{n}"), None)
                if not o:
                    continue
                if f:
                    ratios["f1"].append(o["qps1"] / f["qps1"])
                    ratios["fT"].append(o["qpsT"] / f["qpsT"])
                    if q:
                        ratios["s1"].append(q["qps1"] / f["qps1"])
                        ratios["sT"].append(q["qpsT"] / f["qpsT"])
                what = f"flat {metric} {label}, {n} queries per call"
                self.add(f"| {metric} | {n} | {fmt(o['qps1'], 0)} | {fmt(q and q['qps1'], 0)} | {fmt(f and f['qps1'], 0)} | "
                         f"{self.ratio(o['qps1'], f and f['qps1'], f'{what}, Float32, 1T vs faiss')} | "
                         f"{self.ratio(q and q['qps1'], f and f['qps1'], f'{what}, int8 screen, 1T vs faiss')} | "
                         f"{fmt(o['qpsT'], 0)} | {fmt(q and q['qpsT'], 0)} | {fmt(f and f['qpsT'], 0)} | "
                         f"{self.ratio(o['qpsT'], f and f['qpsT'], f'{what}, Float32, {T}T vs faiss')} | "
                         f"{self.ratio(q and q['qpsT'], f and f['qpsT'], f'{what}, int8 screen, {T}T vs faiss')} |")
        self.add("")
        span = f"{counts[0]}–{counts[-1]} queries per call"
        if ratios["f1"]:
            self.search_hl(f"flat, {span}, Float32 path, {label}, q/s (geometric mean; 1 / {T} threads)",
                           "faiss", geomean(ratios["f1"]), geomean(ratios["fT"]))
        if ratios["s1"]:
            self.search_hl(f"flat, {span}, int8 screen, {label}, q/s (geometric mean; 1 / {T} threads)",
                           "faiss", geomean(ratios["s1"]), geomean(ratios["sT"]))

    def hnsw_tables(self, dataset, label, rows, T, meta):
        libraries = [("arrowhead", "hnsw"), ("hnswlib", "hnsw"), ("faiss", "IndexHNSWFlat"), ("usearch", "hnsw-f32")]
        present = [(lib, idx) for lib, idx in libraries if any(r["library"] == lib and r["index"] == idx for r in rows)]
        ours_rows = [r for r in rows if r["library"] == "arrowhead" and r["index"] == "hnsw"]
        if not ours_rows:
            return
        o0 = ours_rows[0]
        self.add(f"HNSW build ({T} threads) and memory:", "",
                 "| library | build s (wall) | build CPU s | ours / theirs (wall) | ours / theirs (CPU) | bytes/vector in memory "
                 "| file bytes/vector |",
                 "|---|---:|---:|---:|---:|---:|---:|")
        for lib, idx in present:
            r = next(r for r in rows if r["library"] == lib and r["index"] == idx)
            ratio = "" if lib == "arrowhead" else self.ratio(o0["build_s"], r["build_s"], f"HNSW build {label} vs {lib}", lower_is_better=True)
            cpu_ratio = "" if lib == "arrowhead" else self.ratio(o0["build_cpu_s"], r["build_cpu_s"], lower_is_better=True)
            self.add(f"| {lib} | {r['build_s']:.1f} | {r['build_cpu_s']:.1f} | {ratio} | {cpu_ratio} | {fmt(r['bytes_per_vector'])} | "
                     f"{fmt(r.get('file_bytes_per_vector'))} |")
            if lib != "arrowhead":
                cpu = r["build_cpu_s"] / o0["build_cpu_s"] if o0["build_cpu_s"] > 0 else None
                self.search_hl(f"HNSW build, {label}, {T} threads: wall time (CPU time)", lib, r["build_s"] / o0["build_s"],
                               note=f"CPU {cpu:.2f}×" if cpu else "")
        self.add("", "Builds run one after another (they cannot be interleaved like the searches), so their wall-time "
                 "ratios are the most exposed to other load on a shared machine; the CPU-seconds column (all threads) "
                 "is less so. usearch's in-memory figure is its `memory_usage` (includes reserved capacity).", "")
        self.add("ef sweep (recall@10 and queries/s):", "",
                 f"| library | efSearch | recall@1 | recall@10 | q/s 1T | q/s per CPU-s 1T | q/s {T}T |",
                 "|---|---:|---:|---:|---:|---:|---:|")
        for lib, idx in present:
            for r in sorted((r for r in rows if r["library"] == lib and r["index"] == idx), key=lambda r: r["ef"] or 0):
                self.add(f"| {lib} | {r['ef']} | {r['recall1']:.4f} | {r['recall10']:.4f} | {fmt(r['qps1'], 0)} | "
                         f"{fmt(r['qps1_cpu'], 0)} | {fmt(r['qpsT'], 0)} |")
        self.add("")

        def fastest(lib, idx, key):
            ok = [r for r in rows if r["library"] == lib and r["index"] == idx and r["recall10"] >= 0.95]
            return max(ok, key=lambda r: r[key]) if ok else None

        self.add("Fastest measured setting with recall@10 ≥ 0.95 (no interpolation between ef values):", "",
                 f"| library | ef (1T) | recall@10 | q/s 1T | ours / theirs 1T | ef ({T}T) | q/s {T}T | ours / theirs {T}T |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|")
        o1, oT = fastest("arrowhead", "hnsw", "qps1"), fastest("arrowhead", "hnsw", "qpsT")
        for lib, idx in present:
            r1, rT = fastest(lib, idx, "qps1"), fastest(lib, idx, "qpsT")
            if not r1:
                best = max((r["recall10"] for r in rows if r["library"] == lib and r["index"] == idx), default=0)
                self.add(f"| {lib} | n/a (best recall@10 {best:.4f}) | | | | | | |")
                continue
            c1 = "" if lib == "arrowhead" else self.ratio(o1 and o1["qps1"], r1["qps1"], f"HNSW q/s at recall ≥ 0.95, {label}, 1T vs {lib}")
            cT = "" if lib == "arrowhead" else self.ratio(oT and oT["qpsT"], rT["qpsT"], f"HNSW q/s at recall ≥ 0.95, {label}, {T}T vs {lib}")
            self.add(f"| {lib} | {r1['ef']} | {r1['recall10']:.4f} | {fmt(r1['qps1'], 0)} | {c1} | {rT['ef']} | "
                     f"{fmt(rT['qpsT'], 0)} | {cT} |")
            if lib != "arrowhead" and o1:
                self.search_hl(f"HNSW q/s at recall@10 ≥ 0.95, {label} (1 / {T} threads)", lib, o1["qps1"] / r1["qps1"],
                               oT["qpsT"] / rT["qpsT"] if oT else None)
        self.add("")
        # chart: recall@10 versus queries/s, 1T and T panels
        used = []
        names = {"arrowhead": "Arrowhead", "hnswlib": "hnswlib", "faiss": "faiss IndexHNSWFlat", "usearch": "usearch (f32)"}
        panels = []
        for key, threads in (("qps1", 1), ("qpsT", T)):
            series = []
            for lib, idx in present:
                pts = [(r[key], r["recall10"], f"{names[lib]} ef={r['ef']}: recall {r['recall10']:.4f}, {r[key]:.0f} q/s")
                       for r in sorted(rows, key=lambda r: r["ef"] or 0)
                       if r["library"] == lib and r["index"] == idx and r[key] > 0]
                series.append((names[lib], color_of(lib, used), pts, False))
            low = min((y for _, _, pts, _ in series for _, y, _ in pts), default=0)
            panels.append(dict(series=series, title=f"{label}: {threads} thread{'s' if threads > 1 else ''}",
                               xlabel=f"queries/s, {threads} thread{'s' if threads > 1 else ''} (log scale)",
                               ylabel="recall@10", xlog=True, ylim=(max(0.0, math.floor(low * 20) / 20), 1.0),
                               annotate_y=0.95))
        name = f"search-{dataset}.svg"
        legend = [(names[lib], color_of(lib, used), False) for lib, _ in present]
        chart(os.path.join(CHARTS, name), panels, legend,
              f"HNSW M=16 efConstruction=200, ef sweep {meta['ef']}, k=10; up and to the right is better. "
              f"{self.machine.get('cpu_model', '')}, {self.machine.get('date', '')}")
        self.charts.append((name, f"recall@10 versus queries/s, HNSW on {label}"))
        self.add(f"![recall@10 versus queries/s on {label}](charts/{name})", "")

    def int8_table(self, dataset, label, rows, T):
        self.add("Compressed storage (int8 = one byte per dimension); memory = bytes per vector held in RAM "
                 "(index structure included), compared with the same library's float32 index of the same kind "
                 "when this run measured one:", "",
                 f"| library | index | ef | recall@10 | q/s 1T | q/s {T}T | bytes/vector in RAM | vs float32 |",
                 "|---|---|---:|---:|---:|---:|---:|---:|")
        float_twin = {("arrowhead", "flat-int8+rerank"): "flat-ip", ("arrowhead", "flat-int8"): "flat-ip",
                      ("arrowhead", "hnsw-int8+rerank"): "hnsw", ("faiss", "IndexScalarQuantizer(SQ8)"): "IndexFlatIP",
                      ("usearch", "hnsw-i8"): "hnsw-f32", ("faiss", "IndexHNSWSQ(SQ8)+RefineFlat"): "IndexHNSWFlat"}

        def memory_of(r):
            return r.get("allocated_bytes_per_vector") or r["bytes_per_vector"]

        for r in rows:
            twin_name = float_twin.get((r["library"], r["index"]))
            if not twin_name:
                continue
            twin = next((x for x in rows if x["library"] == r["library"] and x["index"] == twin_name), None)
            memory = memory_of(r)
            versus = f"{memory / memory_of(twin):.2f}×" if twin and memory else "–"
            self.add(f"| {r['library']} | {r['index']} | {r['ef'] or ''} | {r['recall10']:.4f} | {fmt(r['qps1'], 0)} | "
                     f"{fmt(r['qpsT'], 0)} | {fmt(memory)} | {versus} |")
        f32 = next((r for r in rows if r["library"] == "arrowhead" and r["index"] == "flat-ip"), None)
        base = f32 and memory_of(f32)
        q = next((r for r in rows if r["library"] == "arrowhead" and r["index"] == "flat-int8+rerank"), None)
        sq8 = next((r for r in rows if r["library"] == "faiss" and "SQ8" in r["index"]), None)
        if q and base:
            self.int8_note = (f"int8 storage + exact re-rank (flat, {label}): recall@10 {q['recall10']:.4f} with "
                              f"{q['allocated_bytes_per_vector'] / base:.2f}× the float32 vector memory"
                              + (f"; faiss SQ8 (no re-rank): recall@10 {sq8['recall10']:.4f}, Arrowhead's q/s / faiss's "
                                 f"{Ratios.plain(q['qps1'] / sq8['qps1'])} at 1 thread" if sq8 else ""))
        # HNSW over int8 codes + re-rank against the peers' float32 HNSW, at recall@10 ≥ 0.95.
        def fastest_at(lib, idx, key):
            ok = [r for r in rows if r["library"] == lib and r["index"] == idx and r["recall10"] >= 0.95 and r.get(key)]
            return max(ok, key=lambda r: r[key]) if ok else None
        h1 = fastest_at("arrowhead", "hnsw-int8+rerank", "qps1")
        if h1:
            parts = []
            for lib, idx in [("hnswlib", "hnsw"), ("faiss", "IndexHNSWFlat")]:
                p1 = fastest_at(lib, idx, "qps1")
                if p1:
                    parts.append(f"{Ratios.plain(h1['qps1'] / p1['qps1'])} {lib} (ef {p1['ef']})")
            if parts:
                note = (f"HNSW on int8 codes + exact re-rank ({label}), recall@10 ≥ 0.95 at 1 thread: "
                        f"{fmt(h1['qps1'], 0)} q/s (ef {h1['ef']}, {memory_of(h1):.1f} bytes/vector in RAM) = "
                        + ", ".join(parts) + "'s float32 HNSW")
                twin = fastest_at("faiss", "IndexHNSWSQ(SQ8)+RefineFlat", "qps1")
                if twin:
                    note += (f"; faiss's own int8 HNSW + re-rank (IndexHNSWSQ + IndexRefineFlat, k_factor 4): "
                             f"{fmt(twin['qps1'], 0)} q/s (ef {twin['ef']}, {memory_of(twin):.1f} bytes/vector in RAM), "
                             f"ours / theirs {Ratios.plain(h1['qps1'] / twin['qps1'])}")
                    t2, o2 = fastest_at("faiss", "IndexHNSWSQ(SQ8)+RefineFlat", "qpsT"), fastest_at("arrowhead", "hnsw-int8+rerank", "qpsT")
                    if t2 and o2:
                        note += f" ({Ratios.plain(o2['qpsT'] / t2['qpsT'])} at {T} threads)"
                self.int8_note = f"{self.int8_note}; {note}" if getattr(self, "int8_note", None) else note
        self.add("", "Arrowhead's `+rerank` keeps the float32 copy in the memory-mapped index file (read for 4·k "
                 "candidates per query), so the RAM column counts the int8 codes only; faiss SQ8 and usearch i8 "
                 "re-rank nothing; faiss's IndexRefineFlat re-ranks 4·k candidates from a float32 copy it holds in RAM.", "")

    # -- whole document ----------------------------------------------------------------------
    def diffusion_section(self):
        """Time-aware activation quantization on the DDPM UNet (diffusion_compare.py)."""
        dd = self.diffusion
        if dd is None:
            if any(step["name"] == "diffusion" and step["status"] == "skipped" for step in self.steps):
                self.add("## Time-aware activation quantization on a real DDPM UNet", "",
                         "Not run in this run (`--skip diffusion`); the last measured table and the command that "
                         "reproduces it are in `Sources/ArrowheadOptimize/README.md` §6.", "")
            return  # the step runs in full mode only
        self.add("## Time-aware activation quantization on a real DDPM UNet", "")
        model = dd.get("model", {})
        cal = dd.get("calibration", {})
        self.add(f"Model: diffusers UNet2DModel ({model.get('parameters', 0):,} parameters) trained by "
                 "`diffusion_model.py` on scikit-learn's 8×8 digits (seeded, cached); calibration "
                 f"`python/arrowhead/calibration.py`: {cal.get('images')} "
                 f"{'unseen' if cal.get('calibration_images') == 'unseen' else 'training'} digits × {len(cal.get('timesteps', []))} "
                 f"timesteps, ≈{cal.get('samples')} values (whole rows) per layer and timestep ({cal.get('layers')} Conv/Linear layers, "
                 f"{cal.get('bytes', 0) / 1e6:.0f} MB). Metric: noise-prediction MSE against the Float32 model on "
                 f"{dd['held_out']['images']} held-out digits × {len(dd['held_out']['timesteps'])} other timesteps "
                 "(Float32's own MSE to the true noise: "
                 f"{dd.get('float_noise_mse', 0):.4f}), every Conv/Linear input fake-quantized with the per-group "
                 "parameters read back from `arrowhead quantize --time-groups G`; ratio = / per-group min-max at the same "
                 "G (< 1 better), ± its standard error over the held-out images where measured. Guarded = the held-out "
                 "check keeps min-max in groups where a method loses (default); it holds out "
                 f"{'single calibration rows' if cal.get('held_out_split') == 'row' else 'whole calibration images'}.", "")
        rows = dd["rows"]
        for bits in (8, 4):
            self.add(f"### INT{bits} activations (weights Float32)", "",
                     "| method | G | MSE | / min-max | / one global range | fallback groups | optimizer s |",
                     "|---|---:|---:|---:|---:|---:|---:|")
            for r in rows:
                if r["activation_bits"] != bits or r["weights"] != "float32":
                    continue
                fallback = f"{r['fallback_groups']}/{r['checked_groups']}" if r["checked_groups"] else "–"
                se = r.get("vs_minmax_se")
                ratio = fmt(r['vs_minmax'], 3) + (f" ± {se:.3f}" if se is not None else "")
                self.add(f"| {r['method']} | {r['groups']} | {r['mse']:.3e} | {ratio} | "
                         f"{fmt(r['vs_global'], 3)} | {fallback} | {r['optimizer_seconds']:.2f} |")
            self.add("")
        weighted = [r for r in rows if r["weights"] != "float32"]
        if weighted:
            self.add("### Quantized weights too (INT8 activations, G = 10)", "",
                     "| weights | method | MSE | / same activations, Float32 weights | weight error |", "|---|---|---:|---:|---:|")
            for r in weighted:
                self.add(f"| {r['weights']} | {r['method']} | {r['mse']:.3e} | {fmt(r['vs_activations_only'], 3)} | "
                         f"{fmt(r['weight_error'], 4)} |")
            self.add("")
        sampled = [r for r in rows if "sample_mse" in r]
        if sampled and dd.get("sampling"):
            sp = dd["sampling"]
            self.add(f"### Sampled images ({sp['count']} samples, {sp['steps']} DDPM steps, same seeded noise)", "",
                     f"Float32 samples: mean {sp['float_mean']:.4f}, std {sp['float_std']:.4f}.", "",
                     "| activations | weights | method | G | MSE to Float32 samples | mean | std |", "|---:|---|---|---:|---:|---:|---:|")
            for r in sampled:
                se = f" ± {r['sample_mse_se']:.1e}" if r.get("sample_mse_se") is not None else ""
                self.add(f"| INT{r['activation_bits']} | {r['weights']} | {r['method']} | {r['groups']} | {r['sample_mse']:.3e}{se} | "
                         f"{r['sample_mean']:.4f} | {r['sample_std']:.4f} |")
            self.add("")
        proxy = dd.get("proxy_check") or {}
        if proxy:
            self.add(f"Proxy check (Spearman, {proxy.get('layer_pairs')} layer × method pairs, ratios to min-max): "
                     f"channel-weighted error vs exact layer output error {fmt(proxy.get('spearman_proxy_vs_exact'), 3)}, "
                     f"plain input error vs exact {fmt(proxy.get('spearman_input_vs_exact'), 3)}; summed proxy vs model MSE "
                     f"over {proxy.get('model_pairs')} settings {fmt(proxy.get('spearman_summed_proxy_vs_model'), 3)}.", "")
        study = dd.get("boundary_study") or {}
        if study.get("equal G=1"):
            self.add("Boundary study (INT8 min-max computed by the benchmark; × lower than one global range): "
                     + ", ".join(f"{name} {study['equal G=1'] / value:.2f}×" for name, value in study.items() if name != "equal G=1")
                     + ".", "")
        for goal in dd.get("goals", []):
            self.add(f"- {goal['goal']}: **{'met' if goal['met'] else 'not met'}** ({goal['detail']})")
        self.add("")

    def machine_lines(self):
        m = self.machine
        ob = m.get("openblas", {})
        dirty = " (with uncommitted changes)" if m.get("git_dirty") else ""
        return [
            f"- Machine: {m.get('cpu_model', 'unknown CPU')}{m.get('cpu_detail', '')}, {m.get('cores', '?')} logical cores, "
            f"{m.get('memory_gib', '?')} GiB, {m.get('os', '')}; features {' '.join(m.get('cpu_features', []))}",
            f"- OpenBLAS {ob.get('version', '?')} (core {ob.get('coreName', '?')}, {ob.get('parallel', '?')}); "
            f"{m.get('swift', '')}",
            f"- Date {m.get('date', '?')}, git commit `{m.get('git_commit', '?')}` on `{m.get('git_branch', '?')}`{dirty}",
        ] + self.capped_lines()

    def capped_lines(self):
        m = self.machine
        if not m.get("features_disabled"):
            return [f"- Instruction-set variables: {', '.join(f'{k}={v}' for k, v in m['isa_environment'].items())}"] \
                if m.get("isa_environment") else []
        variables = ", ".join(f"`{k}={v}`" for k, v in m.get("isa_environment", {}).items())
        return [f"- **Instruction sets capped**: {variables}. Arrowhead ran without "
                f"{', '.join(m['features_disabled'])} (the kernels an AVX2-only CPU would run, on this CPU's caches and "
                "clock); OpenBLAS, numpy, faiss and torch (ATen, and fbgemm's int8 kernels through "
                "FBGEMM_ENABLE_INSTRUCTIONS) follow the variables above where set; hnswlib, usearch and onnxruntime "
                "(MLAS) pick their kernels from CPUID and have no such switch, so they ran their AVX-512 code. "
                "Not a measurement of an AVX2-only CPU: one of the same instruction sets on this one."]

    def busy(self):
        try:
            return float(self.run.get("load_start", "0").split()[0]) > 0.5 * (self.machine.get("cores") or 1)
        except (ValueError, IndexError):
            return False

    def render(self):
        # One results file and one chart folder per CPU (and OpenBLAS kernel): a run replaces
        # its own CPU's section and leaves the others (Benchmarks/results/*).
        global CHARTS
        self.slug = cpu_slug(self.machine)
        CHARTS = os.path.join(BENCH, "charts", self.slug)
        os.makedirs(CHARTS, exist_ok=True)
        # Charts of an earlier run that this run does not redraw must not linger.
        for stale in glob.glob(os.path.join(CHARTS, "gemm.svg")) + glob.glob(os.path.join(CHARTS, "search-*.svg")):
            os.remove(stale)
        body_start = len(self.lines)
        self.engine_section()
        self.quant_section()
        self.search_section()
        self.python_section()
        self.tokenize_section()
        self.embed_section()
        self.hl_qgemm = qgemm_section(self)
        self.qmatrix_python_section()
        self.diffusion_section()
        body = self.lines[body_start:]
        self.lines = []
        mode = self.run.get("mode", "?")
        command = self.run.get("command", "Benchmarks/peers/run.sh")
        T = self.threads
        for step in self.steps:
            if step["status"] not in ("ok", "skipped"):
                self.errors.append((f"step {step['name']}", f"{step['status']}: {step['note']}"))

        # header
        self.add("# Arrowhead vs its peers: measured results", "",
                 f"Generated by `Benchmarks/peers/report.py` from the JSON of one `{command}` run "
                 f"({mode} mode); do not edit by hand: re-run the command. Every ratio is **ours / theirs, higher is "
                 "better for Arrowhead** (throughput ours/theirs, time and error theirs/ours), computed from numbers "
                 "measured in this run on this machine. Ratios below 1 (Arrowhead behind) are in **bold**.", "")
        self.add(SUMMARY_BEGIN)
        self.add(*self.machine_lines())
        self.add(f"- Command: `{command}` ({mode} mode, 1 and {T} threads); "
                 f"benchmarks took {self.run.get('benchmark_seconds', 0) / 60:.1f} min, installs/build checks "
                 f"{self.run.get('install_seconds', 0):.0f} s"
                 + (f"; load average {self.run['load_start']} at the start, {self.run.get('load_end', '?')} at the end "
                    f"(other work was running: timings are noisy)" if self.busy() else ""), "")
        self.summary_tables()
        for name, alt in self.charts:
            self.add(f"![{alt}](charts/{name})", "")
        behind = self.hl_behind
        if behind:
            self.add("**Where Arrowhead is behind in this run** (headline ratios below 1):", "")
            for line in behind:
                self.add(f"- {line}")
        else:
            self.add("Arrowhead was not behind in any headline ratio of this run.")
        detail = len(self.ratio.behind)
        self.add("", f"Details, every number, the exact commands and all {detail} individual ratios below 1 "
                     f"(per size, shape, bit width): [Benchmarks/results/{self.slug}.md](RESULTS.md).")
        self.add(SUMMARY_END, "")

        self.add("## Run", "")
        self.add(*self.machine_lines())
        self.add(f"- numpy {(self.quant or {}).get('numpy', '?')}, Python {self.machine.get('python', '?')}")
        self.add("", "| step | status | seconds | note |", "|---|---|---:|---|")
        for step in self.steps:
            self.add(f"| {step['name']} | {step['status']} | {step['seconds']:.0f} | {step['note']} |")
        self.add("")
        latest = {}
        for d in self.durations:
            latest[d["mode"]] = d
        if latest:
            self.add("End-to-end durations of `run.sh` measured on this machine (latest of each kind; installs cached "
                     "unless noted):", "", "| run | date | total | of which installs/build | note |", "|---|---|---:|---:|---|")
            for kind, d in latest.items():
                self.add(f"| {kind} | {d['date']} | {d['total'] / 60:.1f} min | {d['install']:.0f} s | {d['note']} |")
            self.add("")
        self.add("Commands (`$MODEL` = all-MiniLM-L6-v2's model.safetensors from the pip package, `$TMP/*.npy` = "
                 "the prepared vectors):", "", "```")
        self.add(f"{command}", "", "# its steps (python = Benchmarks/peers/.venv/bin/python):")
        try:
            with open(os.path.join(self.out_dir, "commands.txt")) as handle:
                self.add(*[line.rstrip("\n") for line in handle if line.strip()])
        except OSError:
            pass
        self.add("", "# the Arrowhead commands they ran:")
        for source in (self.engine, self.quant, *self.searches, self.tokenize, self.embed, self.diffusion):
            for c in (source or {}).get("commands", []):
                self.add(c)
        self.add("```", "")
        self.add(*body)
        self.add("## Every ratio below 1 in this run", "")
        for label, value in sorted(self.ratio.behind, key=lambda item: item[1]):
            self.add(f"- {label}: {value:.2f}×")
        if not self.ratio.behind:
            self.add("None.")
        self.add("")
        self.add("## Failures and n/a", "")
        if self.errors:
            for what, reason in self.errors:
                self.add(f"- {what}: {reason}")
        else:
            self.add("None: every peer installed and ran.")
        self.add("", "## Notes", "",
                 "- The machine may be shared: only ratios measured side by side in one run count; re-run to see the "
                 "spread. `run.sh --quick` uses smaller problems (a GloVe prefix, fewer sizes and repeats) and is for "
                 "checking the pipeline, not for quoting.",
                 "- HQQ itself is not installed (torch ≈ 5 GB): its numpy port `optimize_hqq.py` stands in for it.",
                 "- gguf's Q4_0 uses the signed maximum (scale = max / −8, all 16 levels): Arrowhead's `signed-max` "
                 "rule (`--symmetric --optimizer signed-max`), against which the Q4_0 row is measured; Arrowhead's "
                 "default symmetric min-max uses max|x| / 7 (levels −7…7), which costs error at 4 bits.",
                 "- faiss-cpu wheels only use BLAS for a batch of ≥ `distance_compute_blas_threshold` queries "
                 "(128 000 in faiss 1.15): both paths are measured.", "")
        text = "\n".join(self.lines).rstrip() + "\n"
        # Links as seen from Benchmarks/results/<slug>.md.
        text = text.replace("](charts/", f"](../charts/{self.slug}/").replace("](RESULTS.md)", f"]({self.slug}.md)")
        text = text.replace("# Arrowhead vs its peers: measured results",
                            f"# Arrowhead vs its peers on {self.machine.get('cpu_model', 'this CPU')} "
                            f"(OpenBLAS {self.machine.get('openblas', {}).get('coreName', '?')} kernels)", 1)
        os.makedirs(RESULTS_DIR, exist_ok=True)
        with open(os.path.join(RESULTS_DIR, self.slug + ".md"), "w") as handle:
            handle.write(text)
        headline = {
            "slug": self.slug, "machine": self.machine, "run": self.run, "threads": self.threads,
            "engine": [{"kernel": k, "versus": v, "by_threads": {str(t): list(x) for t, x in by.items()}}
                       for (k, v), by in self.hl_engine.items()],
            "quant": [list(row) for row in self.hl_quant],
            "search": [{"comparison": c, "by_peer": {p: list(x) for p, x in by.items()}} for c, by in self.hl_search.items()],
            "behind": self.hl_behind,
        }
        with open(os.path.join(RESULTS_DIR, self.slug + ".json"), "w") as handle:
            json.dump(headline, handle, indent=1)
        print(f"report: wrote Benchmarks/results/{self.slug}.md and {len(self.charts)} chart(s) in "
              f"{os.path.relpath(CHARTS, ROOT)}", file=sys.stderr)
        assemble_results()


def cpu_slug(machine):
    """A file name for one CPU and OpenBLAS kernel family: vendor, family, model, core."""
    vendor = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}.get(machine.get("cpu_vendor", ""), "cpu")
    family, model = machine.get("cpu_family"), machine.get("cpu_model_number")
    if family is None:  # machine.json of an older run: read them from the detail text
        match = re.search(r"family (\d+), model (\d+)", machine.get("cpu_detail", ""))
        family, model = (match.group(1), match.group(2)) if match else ("x", "x")
        if vendor == "cpu" and "AMD" in machine.get("cpu_model", ""):
            vendor = "amd"
    core = machine.get("openblas", {}).get("coreName", "none") or "none"
    capped = f"-without-{machine.get('cpu_disable', '')}" if machine.get("features_disabled") else ""
    return re.sub(r"[^a-z0-9-]+", "-", f"{vendor}-family{family}-model{model}-openblas-{core}{capped}".lower())


# CPU classes these machines come as (issue 11): listed in RESULTS.md whether measured or not.
KNOWN_CPUS = [
    ("amd-family25-model1", "AMD Zen 3, AVX2 only (OpenBLAS: Zen kernels)"),
    ("amd-family25-model17", "AMD Zen 4, AVX-512 (OpenBLAS: Cooperlake kernels)"),
    ("amd-family26-model2", "AMD Zen 5, AVX-512 (OpenBLAS 0.3.21 predates it: Haswell kernels)"),
    ("intel-family6-model207", "Intel Xeon family 6 model 207 (Emerald Rapids), AVX-512 (OpenBLAS 0.3.21 does not know it: Prescott kernels unless OPENBLAS_CORETYPE is set)"),
]


def assemble_results():
    """RESULTS.md: the CPUs measured, each headline ratio per CPU with its range, links to
    each CPU's full results, and the CPU classes not measured yet."""
    runs = []
    for path in sorted(glob.glob(os.path.join(RESULTS_DIR, "*.json"))):
        data = load(path)
        if data and "slug" in data:
            runs.append(data)
    lines = ["# Arrowhead vs its peers: measured results, per CPU", "",
             "Generated by `Benchmarks/peers/report.py` from the runs of `Benchmarks/peers/run.sh` kept in "
             "[Benchmarks/results/](results/) (one file per CPU and OpenBLAS kernel family; a run replaces its own "
             "CPU's file). A ratio measured on one CPU is not a fact about another: Debian's OpenBLAS 0.3.21 picks "
             "different kernels on each. Every ratio is **ours / theirs, higher is better for Arrowhead** "
             "(throughput ours/theirs, time and error theirs/ours), measured side by side in one run; ratios below "
             "1 are in **bold**.", ""]
    lines += ["| CPU | OpenBLAS kernels | run | date | commit | results |", "|---|---|---|---|---|---|"]
    for r in runs:
        m = r["machine"]
        # A capped run names the variables it ran under.
        prefix = "".join(f"{k}={shlex.quote(v)} " for k, v in m.get("isa_environment", {}).items()) \
            if m.get("features_disabled") else ""
        lines.append(f"| {m.get('cpu_model', '?')}{m.get('cpu_detail', '')} | {m.get('openblas', {}).get('coreName', '?')} | "
                     f"`{prefix}{r['run'].get('command', 'run.sh')}` | {m.get('date', '?')} | `{m.get('git_commit', '?')}` | "
                     f"[{r['slug']}.md](results/{r['slug']}.md) |")
    measured = {r["slug"].rsplit("-openblas-", 1)[0] for r in runs if not r["machine"].get("features_disabled")}
    missing = [label for prefix, label in KNOWN_CPUS if prefix not in measured]
    if missing:
        capped = [r for r in runs if r["machine"].get("features_disabled")]
        note = (" A run with instruction sets capped (`ARROWHEAD_CPU_DISABLE`) measures the code paths of an older CPU "
                "on a newer one's caches and clock; it stands in for none of these." if capped else "")
        lines += ["", "Not measured (no machine of this kind was available to the runs above): " + "; ".join(missing) + "." + note]
    lines += ["", SUMMARY_BEGIN, cross_cpu_summary(runs), SUMMARY_END, ""]
    with open(RESULTS, "w") as handle:
        handle.write("\n".join(lines).rstrip() + "\n")
    print(f"report: wrote {os.path.relpath(RESULTS, ROOT)} ({len(runs)} CPU(s))", file=sys.stderr)


def cross_cpu_summary(runs):
    """Headline tables with one column per CPU and the range across them."""
    def cell(value):
        if isinstance(value, tuple):  # (ratio, footnote mark)
            return Ratios.plain(value[0]) + value[1]
        return Ratios.plain(value) if value is not None else "–"

    def number(value):
        return value[0] if isinstance(value, tuple) else value

    # gguf Q4_0 was compared with Arrowhead's min-max until `signed-max` (ggml's own rule)
    # existed; a CPU's file from before then says so in its note, and its cell is marked.
    q4_0_mark = "†"
    q4_0_footnote = (f"{q4_0_mark} Run from before `signed-max` (2026-12-06): gguf Q4_0 compared with Arrowhead's "
                     "min-max, whose symmetric range leaves one of the 16 codes unused. The quantizer's codes are "
                     "the same on every backend (the conformance suite checks them bit for bit), so the error ratio "
                     "does not depend on the CPU: against `signed-max` it is the 1.00× of the newer runs.")
    marked = []

    def quant_error(r, q):
        if "Q4_0" in q[0] and "signed-max" not in (q[3] or "") and q[1] is not None:
            marked.append(r["slug"])
            return (q[1], q4_0_mark)
        return q[1]

    def label(r):
        m = r["machine"]
        family, model = m.get("cpu_family"), m.get("cpu_model_number")
        name = {"amd-family25-model1": "Zen 3", "amd-family25-model17": "Zen 4", "amd-family26-model2": "Zen 5",
                "intel-family6-model207": "Xeon 6/207"}.get(r["slug"].rsplit("-openblas-", 1)[0], r["slug"])
        if m.get("features_disabled"):
            name += f" without {m.get('cpu_disable', '?')}"
        return f"{name}, OpenBLAS {m.get('openblas', {}).get('coreName', '?')}"

    out = []
    heads = [label(r) for r in runs]

    def table(title, rows):
        if not rows:
            return
        out.extend([title, "", "| comparison | " + " | ".join(heads) + " | range |", "|---|" + "---:|" * (len(heads) + 1)])
        for name, values in rows:
            present = [number(v) for v in values if v is not None]
            if not present:
                continue
            span = f"{min(present):.2f}–{max(present):.2f}×" if len(present) > 1 else (cell(present[0]) if present else "–")
            out.append(f"| {name} | " + " | ".join(cell(v) for v in values) + f" | {span} |")
        out.append("")

    def merged(key, extract):
        order, by = [], {}
        for index, r in enumerate(runs):
            for name, value in extract(r):
                if name not in by:
                    order.append(name)
                    by[name] = [None] * len(runs)
                by[name][index] = value
        return [(name, by[name]) for name in order]

    table("**Engine**, 1 thread (ours / theirs)", merged("engine", lambda r: [
        (f"{e['kernel']} vs {e['versus']}", (e["by_threads"].get("1") or [None])[0]) for e in r.get("engine", [])]))
    table(f"**Engine**, all threads (ours / theirs)", merged("engine", lambda r: [
        (f"{e['kernel']} vs {e['versus']}", (e["by_threads"].get(str(r.get("threads", 2))) or [None])[0])
        for e in r.get("engine", []) if str(r.get("threads", 2)) != "1"]))
    table("**Quantization** (error ratio theirs / ours; time ratio theirs / ours)", merged("quant", lambda r: [
        row for q in r.get("quant", []) for row in ((f"{q[0]}: error", quant_error(r, q)), (f"{q[0]}: time", q[2]))]))
    if marked:
        out.extend([q4_0_footnote, ""])
    table("**Search**, 1 thread (ours / theirs)", merged("search", lambda r: [
        (f"{s['comparison']} vs {peer}", values[0]) for s in r.get("search", []) for peer, values in s["by_peer"].items()]))
    behind = [f"{label(r)}: {line}" + (f" {q4_0_mark}" if "Q4_0" in line and r["slug"] in marked else "")
              for r in runs for line in r.get("behind", [])]
    if behind:
        out.append("**Where Arrowhead is behind** (headline ratios below 1, per CPU):")
        out.append("")
        out.extend(f"- {line}" for line in behind)
        out.append("")
    out.append("Each CPU's full results (every size, shape and bit width, the commands, the charts): "
               "[Benchmarks/results/](RESULTS.md).")
    return "\n".join(out)


def update_readme():
    """Copies RESULTS.md's summary block into README.md between the PERFORMANCE markers."""
    with open(RESULTS) as handle:
        results = handle.read()
    begin, end = results.find(SUMMARY_BEGIN), results.find(SUMMARY_END)
    if begin < 0 or end < 0:
        sys.exit("report: RESULTS.md has no summary block")
    summary = results[begin + len(SUMMARY_BEGIN):end].strip()
    summary = summary.replace("](charts/", "](Benchmarks/charts/").replace("](RESULTS.md)", "](Benchmarks/RESULTS.md)")
    summary = summary.replace("](results/", "](Benchmarks/results/")
    with open(README) as handle:
        readme = handle.read()
    match = README_BEGIN.search(readme)
    stop = readme.find(README_END)
    if not match or stop < match.end():
        sys.exit("report: README.md has no <!-- PERFORMANCE:BEGIN … --> … <!-- PERFORMANCE:END --> markers")
    section = (f"{match.group(0)}\nMeasured with `Benchmarks/peers/run.sh` (installs the peers and real data into a "
               f"local virtual environment, then runs Arrowhead and the peers side by side); generated from "
               f"[Benchmarks/RESULTS.md](Benchmarks/RESULTS.md).\n\n{summary}\n")
    updated = readme[:match.start()] + section + readme[stop:]
    if updated != readme:
        with open(README, "w") as handle:
            handle.write(updated)
    print("report: README.md performance section updated", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    m = sub.add_parser("machine")
    m.add_argument("--arrowhead", required=True)
    m.add_argument("--out", required=True)
    r = sub.add_parser("render")
    r.add_argument("--out-dir", default=os.path.join(HERE, "out"))
    r.add_argument("--no-readme", action="store_true")
    sub.add_parser("readme")
    sub.add_parser("assemble")
    args = parser.parse_args()
    if args.mode == "machine":
        collect_machine(args)
    elif args.mode == "render":
        Report(args.out_dir).render()
        if not args.no_readme:
            update_readme()
    elif args.mode == "assemble":
        assemble_results()
        update_readme()
    else:
        update_readme()


if __name__ == "__main__":
    main()
