#!/usr/bin/env python3
"""Time-aware activation quantization on a real diffusion model, end to end.

1. Model: a diffusers UNet2DModel DDPM trained on scikit-learn's 8×8 digits by
   diffusion_model.py (seeded; cached under Benchmarks/peers/data/diffusion/).
2. Calibration: python/arrowhead/calibration.py hooks every Conv/Linear input while the
   model denoises 64 training digits (`--images`; `--calibration-images unseen` takes 64
   digits the model never saw, not the evaluated ones) at 100 timesteps t = 5, 15, …, 995
   (seeded noise), and writes Arrowhead's calibration JSON Lines (≈ 1024 sampled values per
   layer and timestep — whole rows, ⌈1024/C⌉ of them — with channel layout, weight names and
   the image of each row, so that the held-out check holds out whole images;
   `--held-out-split row` writes no image and the check holds out single rows). 64 images,
   not 16: a clipping range's error on new images is dominated by a few images whose inputs
   reach past the calibration's extremes at a few timesteps (measured: one attention input
   at 0.63× min-max's error on most images and 5× at t ≤ 110 on others); 16 calibration
   images show too little of that tail for the check to judge a clip (the last cells of
   some settings came out 1.001–1.003× min-max with 16; all 0.72–0.98× with 64). Dense timesteps
   matter: the time-embedding projections' inputs (SiLU of the timestep embedding) are the
   same for every image and move smoothly with t, so a group's min-max range over only two
   calibrated timesteps (20 timesteps, G = 10) clips the held-out timesteps between them;
   with that sparser calibration the 8 time_emb_proj layers alone gave 0.57× of the model's
   INT8 G = 10 error, and G = 10 came out worse than G = 5.
3. For every setting, the release `arrowhead quantize --time-groups G --calibration …`
   writes the quantized model; its per-group activation scales/zero-points (and, for
   W8A8/W4A8, the dequantized weights from `arrowhead dequantize`) are read back, every
   Conv/Linear input is fake-quantized with them in PyTorch (x̂ = s·(clamp(round(x/s) + z,
   0, 2ᵇ − 1) − z), the group of the current timestep), and the noise prediction is
   compared with the Float32 model's.
4. Held-out inputs: 64 digits the model never saw in training or calibration, fresh noise,
   20 timesteps t = 10, 60, …, 960 (none of them a calibration timestep).

Metrics: noise-prediction MSE against Float32 (mean over held-out inputs and timesteps),
and its ratio to per-group min-max at the same G and to one global range (G = 1 min-max),
with the ratio's standard error over the 64 held-out images (delta method on paired
per-image errors; `vs_minmax_se`): how far it would move with other images of the kind.
Second metric: 64 images sampled with 50 DDPM steps from the same seeded noise by the
Float32 and the quantized model: mean squared difference of the final images (paired), and
their mean / standard deviation. Proxy check: during the held-out passes, each layer's
exact output error ‖(X − X̂)Wᵀ‖² (through the layer: conv or linear without bias), the
channel-weighted proxy Σ d_c·e² that Arrowhead's optimizers minimise, and the plain input
error Σe² are accumulated, and their rank correlations across layers and methods reported.

Methods: minmax (default), percentile:99.9 (`--activation-range`), clip (`--optimizer
clip`, MSE-optimal clipping of the output error) and thermo (`--optimizer thermo`); the
held-out guard is on (default) unless the row says "unguarded" (`--no-activation-guard`).

Also (full mode, not in the goals): min-max at G = 20 and 50, how far time groups alone go;
and a boundary study: INT8 min-max with equal time groups against each layer's best
boundaries (the groups of consecutive calibrated timesteps that minimise the layer's own
rounding error), parameters computed here from the exact extremes — whether non-uniform
groups, which the file format can store, would help (at G = 10 they reach 3.48× below one
global range against 3.36× for equal groups: not enough to be worth storing).
torch runs on one thread (--torch-threads): the model is tiny, and on a loaded machine
multi-threaded small ops stall (observed at load 18 on 2 cores: one setting's evaluation
and sampling took over 7 minutes with 2 torch threads, about half a minute with one).

Usage: diffusion_compare.py --arrowhead .build/release/arrowhead --json-out out/diffusion.json [--quick]
Exit status 3 when the arrowhead binary fails.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
OURS_FAILED = 3

CALIBRATION_TIMESTEPS = list(range(5, 1000, 10))
HELD_OUT_TIMESTEPS = list(range(10, 1000, 50))
TIMESTEPS = 1000


def log(message):
    print(message, file=sys.stderr, flush=True)


def load_collector():
    """arrowhead.calibration from python/ (loaded by path: the package's __init__ may need
    the native library, the collector does not)."""
    import importlib.util

    path = os.path.join(ROOT, "python", "arrowhead", "calibration.py")
    spec = importlib.util.spec_from_file_location("arrowhead_calibration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Runner:
    def __init__(self, arrowhead, threads):
        self.arrowhead = arrowhead
        self.threads = threads
        self.commands = []

    def show(self, command):
        shown = []
        for part in command:
            if part == self.arrowhead:
                part = "arrowhead"
            elif os.path.isabs(part) and part.startswith(ROOT + os.sep):
                part = os.path.relpath(part, ROOT)
            shown.append(part)
        return " ".join(shown)

    def ours(self, *arguments, record=True):
        command = [self.arrowhead, *arguments]
        if record:
            self.commands.append(self.show(command))
        started = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True)
        if completed.returncode != 0:
            log(f"FAILED (ours): {' '.join(command)}\n{completed.stderr}")
            sys.exit(OURS_FAILED)
        return completed.stdout, time.perf_counter() - started


# Calibration --------------------------------------------------------------------------
def noisy(images, timestep, seed, noise_schedule):
    import torch

    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=generator)
    t = torch.full((images.shape[0],), timestep, dtype=torch.long)
    return noise_schedule.add_noise(images, noise, t), noise


def calibrate(model, train, path, samples, images, noise_schedule, sources=True):
    import torch

    calibration = load_collector()
    inputs = torch.from_numpy(train[:images])
    with calibration.CalibrationCollector(model, samples=samples, seed=3, sources=sources) as collector, torch.no_grad():
        for t in CALIBRATION_TIMESTEPS:
            x, _ = noisy(inputs, t, 1000 + t, noise_schedule)
            model(x, t)
    lines = collector.write(path)
    extremes = {}
    for record in collector.records():
        extremes.setdefault(record["layer"], {})[record["timestep"]] = (record["min"], record["max"], record["count"])
    return lines, sorted(extremes), extremes


def range_motion(extremes, groupings, timesteps=TIMESTEPS):
    """How much each layer's input range moves with t, from the exact per-timestep extremes.

    For a grouping of G equal time spans, group g's min-max range is the hull of its
    timesteps' [min, max]; its width W_g sets the INT8/INT4 step s_g = W_g / (2^b − 1), and a
    value's rounding error (s²/12 when unclipped) scales with W_g². So the factor by which G
    groups can lower a layer's rounding error below one global range (width W) is
    W² / mean_t W_{g(t)}² (every timestep weighing its value count): the ceiling time groups
    give min-max, whatever the estimator inside a group. Returns per layer that factor per G
    and the ratio of W to the median per-timestep width."""
    result = {}
    for layer, steps in extremes.items():
        ordered = sorted(steps.items())
        low = min(v[0] for _, v in ordered)
        high = max(v[1] for _, v in ordered)
        width = high - low
        per_step = sorted(v[1] - v[0] for _, v in ordered)
        entry = {"global_width": width, "median_step_width": per_step[len(per_step) // 2], "gain": {}}
        for groups in groupings:
            span = timesteps / groups
            hull = {}
            for t, (a, b, _) in ordered:
                g = min(int(t // span), groups - 1)
                lo, hi = hull.get(g, (a, b))
                hull[g] = (min(lo, a), max(hi, b))
            total = sum(v[2] for _, v in ordered)
            mean_square = sum(v[2] * (hull[min(int(t // span), groups - 1)][1] - hull[min(int(t // span), groups - 1)][0]) ** 2
                              for t, v in ordered) / total
            entry["gain"][groups] = width * width / mean_square if mean_square > 0 else None
        best = optimal_boundaries(ordered, groupings)
        total = sum(v[2] for _, v in ordered)
        # The same ceiling for each layer's best G groups of consecutive calibrated timesteps
        # (`optimal_boundaries`): what non-uniform time groups could give min-max at most; their
        # starts are what the boundary study evaluates.
        entry["optimal_gain"] = {g: (width * width / (cost / total) if cost > 0 else None) for g, (cost, _) in best.items()}
        entry["optimal_starts"] = {g: starts for g, (_, starts) in best.items()}
        result[layer] = entry
    return result


def optimal_boundaries(ordered, groupings):
    """Per G: (Σ_g W_g²·count_g, group starts) for the G groups of consecutive calibrated
    timesteps that minimise it (dynamic programming, O(G·n²) for n timesteps; a group starts
    halfway between its first calibrated timestep and the previous one)."""
    n = len(ordered)
    lows = [v[0] for _, v in ordered]
    highs = [v[1] for _, v in ordered]
    counts = [v[2] for _, v in ordered]
    cost = [[0.0] * (n + 1) for _ in range(n + 1)]  # cost[i][j]: timesteps i..<j as one group
    for i in range(n):
        lo, hi, weight = lows[i], highs[i], 0
        for j in range(i + 1, n + 1):
            lo, hi, weight = min(lo, lows[j - 1]), max(hi, highs[j - 1]), weight + counts[j - 1]
            cost[i][j] = (hi - lo) ** 2 * weight
    result = {}
    best = [0.0] + [math.inf] * n  # best[j]: the first j timesteps in g groups
    cuts = [[] for _ in range(n + 1)]
    for groups in range(1, max(groupings) + 1):
        new_best, new_cuts = [math.inf], [[]]
        for j in range(1, n + 1):
            value, i = min((best[i] + cost[i][j], i) for i in range(j))
            new_best.append(value)
            new_cuts.append(cuts[i] + [i])
        best, cuts = new_best, new_cuts
        if groups in groupings:
            times = [t for t, _ in ordered]
            starts = [0] + [(times[i - 1] + times[i]) // 2 + 1 for i in cuts[n][1:]]
            result[groups] = (best[n], starts)
    return result


class MinMaxTable:
    """Min-max activation parameters (zero-point mode, as `arrowhead quantize`'s default)
    computed here from the calibration's exact per-timestep extremes, for given group starts
    per layer: the boundary study's stand-in for a quantized file (same interface as
    `ActivationTable`)."""

    def __init__(self, extremes, starts_of, bits=8):
        self.layers = list(extremes)
        self.info = {"bits": bits, "mode": "zero_point"}
        top = 2 ** bits - 1
        self.entries = {}
        for layer, steps in extremes.items():
            starts = starts_of(layer)
            parameters = []
            for k, start in enumerate(starts):
                end = starts[k + 1] if k + 1 < len(starts) else math.inf
                inside = [v for t, v in steps.items() if start <= t < end]
                lo, hi = min(0.0, min(v[0] for v in inside)), max(0.0, max(v[1] for v in inside))
                scale = (hi - lo) / top
                parameters.append((scale, float(min(max(round(-lo / scale), 0), top)) if scale > 0 else 0.0))
            self.entries[layer] = (starts, parameters)

    def parameters(self, layer, timestep):
        import bisect

        starts, parameters = self.entries[layer]
        scale, offset = parameters[max(0, bisect.bisect_right(starts, timestep) - 1)]
        return scale, offset, self.info


def boundary_study(model, held_out, noise_schedule, extremes, motion, importance, reference, groupings=(10,)):
    """Model-level INT8 min-max error with equal time groups and with each layer's best
    boundaries (`range_motion`'s `optimal_starts`), parameters computed here (not by arrowhead):
    whether non-uniform groups — which the file format can store (`__act_group_starts`) — would help."""
    result = {}
    settings = [("equal", 1, lambda layer: [0])]
    for groups in groupings:
        settings.append(("equal", groups, lambda layer, g=groups: [i * TIMESTEPS // g for i in range(g)]))
        settings.append(("best per layer", groups, lambda layer, g=groups: motion[layer]["optimal_starts"][g]))
    for name, groups, starts_of in settings:
        table = MinMaxTable(extremes, starts_of)
        with Quantized(model, table, importance) as hooks:
            hooks.measure = False
            predictions = evaluate(model, held_out, noise_schedule, hooks)
        result[f"{name} G={groups}"] = mse(predictions, reference)
    return result


# Fake quantization ----------------------------------------------------------------------
class ActivationTable:
    """Per-layer activation parameters read back from an Arrowhead quantized file."""

    def __init__(self, path, layers):
        import numpy as np
        from safetensors import safe_open

        self.layers = {}
        with safe_open(path, framework="numpy") as handle:
            metadata = handle.metadata() or {}
            for layer in layers:
                key = "arrowhead.act." + layer
                if key not in metadata:
                    raise RuntimeError(f"{path}: no activation parameters for {layer}")
                info = json.loads(metadata[key])
                scales = handle.get_tensor(layer + ".__act_scales").astype(np.float32)
                offsets = handle.get_tensor(layer + ".__act_offsets").astype(np.float32)
                starts = handle.get_tensor(layer + ".__act_group_starts").astype(np.int64)
                self.layers[layer] = {"info": info, "scales": scales, "offsets": offsets, "starts": starts}

    def parameters(self, layer, timestep):
        import bisect

        entry = self.layers[layer]
        group = bisect.bisect_right(entry["starts"].tolist(), timestep) - 1
        group = min(max(group, 0), len(entry["scales"]) - 1)
        return float(entry["scales"][group]), float(entry["offsets"][group]), entry["info"]


def fake_quantize(x, scale, offset, info):
    import torch

    top = float(2 ** int(info["bits"]) - 1)
    mode = info["mode"]
    if scale == 0:
        return torch.zeros_like(x) if mode != "float_minimum" else torch.full_like(x, offset)
    s = torch.tensor(scale, dtype=torch.float32)
    if mode == "zero_point" or mode == "symmetric":
        q = torch.clamp(torch.round(x / s) + offset, 0, top)
        return (q - offset) * s
    q = torch.clamp(torch.round((x - offset) / s), 0, top)
    return q * s + offset


class Quantized:
    """Forward pre-hooks that fake-quantize every calibrated layer's input with the table's
    parameters for `self.timestep`, and accumulate per-layer error measures."""

    def __init__(self, model, table, importance):
        self.model, self.table, self.importance = model, table, importance
        self.timestep = None
        self.measure = True  # accumulate the per-layer error measures (off while sampling: they cost a second pass per layer)
        self.handles = []
        self.errors = {}  # layer -> [exact, proxy, input]

    def __enter__(self):
        modules = dict(self.model.named_modules())
        for layer in self.table.layers:
            self.handles.append(modules[layer].register_forward_pre_hook(self.hook(layer)))
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()

    def hook(self, layer):
        import torch

        def run(module, args):
            x = args[0]
            scale, offset, info = self.table.parameters(layer, self.timestep)
            xq = fake_quantize(x, scale, offset, info)
            if not self.measure:
                return (xq,) + tuple(args[1:])
            e = (x - xq).detach()
            if isinstance(module, torch.nn.Linear):
                exact = torch.nn.functional.linear(e, module.weight).pow(2).sum()
                proxy = (e.pow(2).reshape(-1, e.shape[-1]).sum(0) * self.importance[layer]).sum()
            else:
                exact = module._conv_forward(e, module.weight, None).pow(2).sum()
                proxy = (e.pow(2).movedim(1, -1).reshape(-1, e.shape[1]).sum(0) * self.importance[layer]).sum()
            slot = self.errors.setdefault(layer, [0.0, 0.0, 0.0])
            slot[0] += float(exact)
            slot[1] += float(proxy)
            slot[2] += float(e.pow(2).sum())
            return (xq,) + tuple(args[1:])
        return run


def channel_importance(model, layers):
    import torch

    modules = dict(model.named_modules())
    result = {}
    for layer in layers:
        w = modules[layer].weight.detach()
        result[layer] = w.pow(2).transpose(0, 1).reshape(w.shape[1], -1).sum(1)
    return result


def evaluate(model, held_out, noise_schedule, hooks=None):
    """Noise predictions of the held-out set, one tensor per held-out timestep."""
    import torch

    inputs = torch.from_numpy(held_out)
    outputs = []
    with torch.no_grad():
        for t in HELD_OUT_TIMESTEPS:
            x, _ = noisy(inputs, t, 5000 + t, noise_schedule)
            if hooks is not None:
                hooks.timestep = t
            outputs.append(model(x, t).sample)
    return outputs


def sample(model, count, steps, hooks=None):
    """DDPM sampling from seeded noise (same noise for every model)."""
    import torch
    from diffusion_model import scheduler

    sampler = scheduler()
    sampler.set_timesteps(steps)
    generator = torch.Generator().manual_seed(11)
    x = torch.randn((count, 1, 8, 8), generator=generator)
    if hooks is not None:
        hooks.measure = False
    with torch.no_grad():
        for t in sampler.timesteps:
            if hooks is not None:
                hooks.timestep = int(t)
            eps = model(x, t).sample
            x = sampler.step(eps, t, x, generator=generator).prev_sample
    return x.clamp(-1, 1)


def mse(a, b):
    return float(sum(((x - y) ** 2).mean() for x, y in zip(a, b)) / len(a))


def image_errors(a, b):
    """Per held-out image, its squared error averaged over the held-out timesteps (the images'
    mean is `mse`): the unit of the ratios' standard errors, as an image's timesteps err alike."""
    total = sum(((x - y) ** 2).reshape(x.shape[0], -1).mean(1) for x, y in zip(a, b)) / len(a)
    return [float(v) for v in total]


def ratio_standard_error(a, b):
    """Standard error of mean(a) / mean(b) over paired per-image errors (delta method): how far
    the ratio could move with other held-out images of the same kind."""
    n = len(a)
    if n < 2 or len(b) != n:
        return None
    mean_b = sum(b) / n
    ratio = (sum(a) / n) / mean_b
    residuals = [x - ratio * y for x, y in zip(a, b)]
    mean_r = sum(residuals) / n
    variance = sum((r - mean_r) ** 2 for r in residuals) / (n - 1)
    return math.sqrt(variance / n) / mean_b


def spearman(xs, ys):
    import numpy as np

    def ranks(values):
        order = np.argsort(values, kind="stable")
        result = np.empty(len(values))
        result[order] = np.arange(len(values))
        return result

    if len(xs) < 3:
        return None
    rx, ry = ranks(np.asarray(xs)), ranks(np.asarray(ys))
    return float(np.corrcoef(rx, ry)[0, 1])


# The benchmark ----------------------------------------------------------------------------
def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arrowhead", required=True)
    parser.add_argument("--json-out", required=True)
    parser.add_argument("--data-dir", default=os.path.join(HERE, "data", "diffusion"))
    parser.add_argument("--work", default=None, help="scratch directory (default: next to --json-out)")
    parser.add_argument("--threads", type=int, default=2, help="threads for arrowhead")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="threads for torch (default 1: the model is tiny, and on a shared, loaded machine "
                             "multi-threaded small ops stall on descheduled threads)")
    parser.add_argument("--samples", type=int, default=1024, help="calibration values per layer and timestep")
    parser.add_argument("--images", type=int, default=64, help="calibration images (training digits unless --calibration-images unseen)")
    parser.add_argument("--quick", action="store_true", help="G = 1 and 10 only, no sampling")
    parser.add_argument("--groups", default=None, help="comma-separated group counts (default 1,2,5,10; quick 1,10)")
    parser.add_argument("--activation-bits", default="8,4",
                        help="comma-separated activation widths to run (default 8,4; the INT8 part also runs G = 20, 50 and "
                             "the quantized-weight rows): two processes, one per width, share a loaded machine better")
    parser.add_argument("--no-sampling", action="store_true", help="skip the sampled-image metric")
    parser.add_argument("--calibration-images", choices=("train", "unseen"), default="train",
                        help="calibrate on training digits (default) or on unseen digits (not the evaluated ones)")
    parser.add_argument("--held-out-split", choices=("image", "row"), default="image",
                        help="what Arrowhead's held-out check holds out: whole calibration images (the collector's "
                             "\"sources\", default) or single rows (calibration written without sources)")
    args = parser.parse_args()
    args.arrowhead = os.path.abspath(args.arrowhead)
    work = args.work or os.path.join(os.path.dirname(os.path.abspath(args.json_out)), "diffusion-work")
    os.makedirs(work, exist_ok=True)
    started = time.perf_counter()

    try:
        import numpy as np  # noqa: F401
        import torch
        import diffusers  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as error:
        log(f"diffusion: needs torch, diffusers and scikit-learn (Benchmarks/peers/setup_venv.sh installs them): {error}")
        return 1
    import diffusion_model

    torch.set_num_threads(args.torch_threads)
    runner = Runner(args.arrowhead, args.threads)
    log("diffusion: model")
    model, info, weights = diffusion_model.load_or_train(args.data_dir, log=log)
    noise_schedule = diffusion_model.scheduler()
    train, unseen = diffusion_model.digits()
    held_out = unseen[:64]
    # Calibration images: training digits (default), or digits the model never saw that are not
    # among the 64 evaluated either.
    calibration_images = train if args.calibration_images == "train" else unseen[64:]

    log("diffusion: calibration (python/arrowhead/calibration.py)")
    calibration_path = os.path.join(work, "calibration.jsonl")
    calibration_started = time.perf_counter()
    lines, layers, extremes = calibrate(model, calibration_images, calibration_path, args.samples, args.images, noise_schedule,
                                           sources=args.held_out_split == "image")
    motion = range_motion(extremes, [2, 5, 10, 20, 50])
    calibration_seconds = time.perf_counter() - calibration_started
    importance = channel_importance(model, layers)

    reference = evaluate(model, held_out, noise_schedule)
    true_noise = [noisy(torch.from_numpy(held_out), t, 5000 + t, noise_schedule)[1] for t in HELD_OUT_TIMESTEPS]
    float_noise_mse = mse(reference, true_noise)
    sampling_steps, sample_count = 50, 64
    bit_widths = [int(b) for b in args.activation_bits.split(",")]
    sampling = not (args.quick or args.no_sampling)
    reference_samples = sample(model, sample_count, sampling_steps) if sampling else None

    group_counts = [1, 10] if args.quick else [1, 2, 5, 10]
    if args.groups:
        group_counts = sorted({int(g) for g in args.groups.split(",")} | {1})
    methods = [
        ("minmax", []), ("percentile:99.9", ["--activation-range", "percentile:99.9"]),
        ("clip", ["--optimizer", "clip"]), ("thermo", ["--optimizer", "thermo"]),
    ]
    unguarded = [("percentile:99.9 unguarded", ["--activation-range", "percentile:99.9", "--no-activation-guard"]),
                 ("thermo unguarded", ["--optimizer", "thermo", "--no-activation-guard"]),
                 ("thermo start=minmax unguarded", ["--optimizer", "thermo", "--optimizer-option", "start=minmax",
                                                   "--no-activation-guard"])]
    rows = []

    def run_setting(name, activation_bits, groups, extra, weight_bits=8, with_weights=False, sampled=False):
        output = os.path.join(work, "q.safetensors")
        arguments = ["quantize", weights, "-o", output, "--bits", str(weight_bits), "--group", "64", "--no-fallback",
                     "--time-groups", str(groups), "--calibration", calibration_path, "--timesteps", str(TIMESTEPS),
                     "--activation-bits", str(activation_bits), "--threads", str(args.threads), "--quiet", "--json", *extra]
        text, seconds = runner.ours(*arguments)
        report = json.loads(text)
        activations = report.get("activations", [])
        table = ActivationTable(output, layers)
        evaluated = model
        if with_weights:
            dequantized = os.path.join(work, "dq.safetensors")
            runner.ours("dequantize", output, "-o", dequantized, "--quiet", record=False)
            from safetensors.torch import load_file

            evaluated = diffusion_model.new_model()
            evaluated.load_state_dict(load_file(dequantized))
            evaluated.eval()
        with Quantized(evaluated, table, importance) as hooks:
            predictions = evaluate(evaluated, held_out, noise_schedule, hooks)
            errors = {layer: list(v) for layer, v in hooks.errors.items()}
            images = sample(evaluated, sample_count, sampling_steps, hooks) if sampled and reference_samples is not None else None
        row = {
            "method": name, "activation_bits": activation_bits, "groups": groups,
            "weights": f"int{weight_bits} g64" if with_weights else "float32",
            "mse": mse(predictions, reference), "image_errors": image_errors(predictions, reference), "seconds": seconds,
            "optimizer_seconds": sum(a.get("seconds") or 0 for a in activations),
            "fallback_groups": sum(len(a.get("fallbackGroups") or []) for a in activations),
            "checked_groups": sum(a["groups"] for a in activations if a.get("fallbackGroups") is not None),
            "layers": len(activations), "layer_errors": errors,
            "weight_error": report["summary"]["sizeWeightedRelativeError"] if with_weights else None,
        }
        if images is not None:
            row["sample_mse"] = float(((images - reference_samples) ** 2).mean())
            per_sample = ((images - reference_samples) ** 2).reshape(images.shape[0], -1).mean(1)
            # Standard error over the samples: how far the figure would move with other seeds.
            row["sample_mse_se"] = float(per_sample.std() / math.sqrt(images.shape[0])) if images.shape[0] > 1 else None
            row["sample_mean"], row["sample_std"] = float(images.mean()), float(images.std())
        rows.append(row)
        log(f"  A{activation_bits} G={groups:<2} {name:<32} {row['weights']:<9} mse {row['mse']:.3e}  "
            f"fallback {row['fallback_groups']}/{row['checked_groups']}  arrowhead {seconds:.1f} s")
        return row

    log("diffusion: arrowhead quantize + fake-quantized evaluation")
    for activation_bits in bit_widths:
        for groups in group_counts:
            for name, extra in methods:
                sampled = groups == 10 or (groups == 1 and name == "minmax")
                run_setting(name, activation_bits, groups, extra, sampled=sampled)
        for name, extra in unguarded:
            run_setting(name, activation_bits, 10, extra)
    if not args.quick and 8 in bit_widths:
        # How far time groups alone can go: finer groupings, min-max, INT8 (not in the goals).
        for groups in (20, 50):
            run_setting("minmax", 8, groups, [])
    boundaries = None
    if not args.quick and 8 in bit_widths:
        log("diffusion: boundary study (equal vs per-layer best time groups, INT8 min-max computed here)")
        boundaries = boundary_study(model, held_out, noise_schedule, extremes, motion, importance, reference, groupings=(10, 20))
        for name, value in boundaries.items():
            log(f"  {name:<22} mse {value:.4e}  ({boundaries['equal G=1'] / value:.2f}x lower than one global range)")
    for weight_bits in (8, 4) if 8 in bit_widths else ():
        for name, extra in [("minmax", []), ("clip", ["--optimizer", "clip"])]:
            run_setting(name, 8, 10, extra, weight_bits=weight_bits, with_weights=True, sampled=True)

    # The raw rows first (per-layer errors included), so that a long run's measurements
    # survive anything below.
    with open(args.json_out + ".rows.tmp", "w") as handle:
        json.dump({"rows": rows, "range_motion_per_layer": motion}, handle)
    os.replace(args.json_out + ".rows.tmp", args.json_out + ".rows")

    # Ratios against per-group min-max at the same (bits, G, weights) and one global range.
    def find(bits, groups, method, weights="float32"):
        for row in rows:
            if (row["activation_bits"], row["groups"], row["method"], row["weights"]) == (bits, groups, method, weights):
                return row
        return None

    for row in rows:
        same = find(row["activation_bits"], row["groups"], "minmax", row["weights"])
        global_range = find(row["activation_bits"], 1, "minmax")
        row["vs_minmax"] = row["mse"] / same["mse"] if same else None
        row["vs_minmax_se"] = ratio_standard_error(row["image_errors"], same["image_errors"]) if same and same is not row else None
        row["vs_global"] = row["mse"] / global_range["mse"] if global_range else None
        if row["vs_minmax_se"] is not None:
            log(f"  A{row['activation_bits']} G={row['groups']:<2} {row['method']:<32} {row['weights']:<9} "
                f"x per-group min-max {row['vs_minmax']:.4f} +- {row['vs_minmax_se']:.4f} (standard error over held-out images)")
        activations_only = find(row["activation_bits"], row["groups"], row["method"])
        row["vs_activations_only"] = row["mse"] / activations_only["mse"] if row["weights"] != "float32" and activations_only else None

    # Does the proxy track the exact output error? Per layer, ratio to min-max at the same
    # (bits, G), over the non-min-max methods.
    pairs = []
    for row in rows:
        if row["method"] == "minmax" or row["weights"] != "float32":
            continue
        base = find(row["activation_bits"], row["groups"], "minmax")
        if base is None:  # e.g. the G = 10 extra rows when --groups leaves out 10
            continue
        for layer, (exact, proxy, plain) in row["layer_errors"].items():
            b = base["layer_errors"].get(layer)
            if b and b[0] > 0 and b[1] > 0 and b[2] > 0 and exact > 0 and proxy > 0 and plain > 0:
                pairs.append((math.log(exact / b[0]), math.log(proxy / b[1]), math.log(plain / b[2])))
    model_pairs = []
    for row in rows:
        if row["weights"] != "float32" or row["method"] == "minmax":
            continue
        base = find(row["activation_bits"], row["groups"], "minmax")
        if base is None:
            continue
        proxy = sum(v[1] for v in row["layer_errors"].values()) / max(1e-300, sum(v[1] for v in base["layer_errors"].values()))
        model_pairs.append((row["vs_minmax"], proxy))
    proxy_check = {
        "layer_pairs": len(pairs),
        "spearman_proxy_vs_exact": spearman([p[1] for p in pairs], [p[0] for p in pairs]),
        "spearman_input_vs_exact": spearman([p[2] for p in pairs], [p[0] for p in pairs]),
        "model_pairs": len(model_pairs),
        "spearman_summed_proxy_vs_model": spearman([p[1] for p in model_pairs], [p[0] for p in model_pairs]),
    }

    # How far time groups can go on this model: per-layer rounding-error ceilings (range
    # motion) and, weighted by each layer's share of the INT8 one-global-range output error,
    # the model-level ceiling Σ E_l / Σ (E_l / gain_l) (if the model's error were the sum of
    # its layers' output errors, each falling by its rounding ceiling).
    import statistics

    base8 = find(8, 1, "minmax") or find(bit_widths[0], 1, "minmax")
    motion_summary = {"median_gain": {}, "error_weighted_ceiling": {}, "measured_layer_ratio_median": {}}
    for groups in [2, 5, 10, 20, 50]:
        gains = [m["gain"][groups] for m in motion.values() if m["gain"][groups]]
        motion_summary["median_gain"][groups] = statistics.median(gains)
        optimal = [m["optimal_gain"][groups] for m in motion.values() if m["optimal_gain"].get(groups)]
        motion_summary.setdefault("median_optimal_boundary_gain", {})[groups] = statistics.median(optimal)
        errors = {layer: v[0] for layer, v in base8["layer_errors"].items() if v[0] > 0}
        motion_summary["error_weighted_ceiling"][groups] = sum(errors.values()) / sum(
            e / motion[layer]["gain"][groups] for layer, e in errors.items() if motion[layer]["gain"][groups])
        same = find(base8["activation_bits"], groups, "minmax")
        if same:
            ratios = [errors[layer] / v[0] for layer, v in same["layer_errors"].items() if layer in errors and v[0] > 0]
            motion_summary["measured_layer_ratio_median"][groups] = statistics.median(ratios)
    top = sorted(base8["layer_errors"].items(), key=lambda item: -item[1][0])[:8]
    motion_summary["largest_error_layers"] = [
        {"layer": layer, "share": v[0] / sum(x[0] for x in base8["layer_errors"].values()), "gain10": motion[layer]["gain"][10],
         "global_width": motion[layer]["global_width"], "median_step_width": motion[layer]["median_step_width"]} for layer, v in top]
    motion_summary["per_layer"] = motion
    log(f"  range motion: median per-layer rounding ceiling G=10 {motion_summary['median_gain'][10]:.2f}x, "
        f"error-weighted {motion_summary['error_weighted_ceiling'][10]:.2f}x; with the best 10 boundaries per layer "
        f"{motion_summary['median_optimal_boundary_gain'][10]:.2f}x (equal groups: G=20 {motion_summary['median_gain'][20]:.2f}x, "
        f"G=50 {motion_summary['median_gain'][50]:.2f}x)")

    goals = goal_check(rows, find, group_counts)
    for row in rows:
        row.pop("layer_errors")
        row.pop("image_errors")
    result = {
        "model": {k: v for k, v in info.items() if k != "settings"}, "settings": info.get("settings"),
        "calibration": {"timesteps": CALIBRATION_TIMESTEPS, "images": args.images, "samples": args.samples, "lines": lines,
                        "held_out_split": args.held_out_split, "calibration_images": args.calibration_images,
                        "layers": len(layers), "bytes": os.path.getsize(calibration_path), "seconds": calibration_seconds},
        "held_out": {"timesteps": HELD_OUT_TIMESTEPS, "images": int(len(held_out))},
        "float_noise_mse": float_noise_mse,
        "sampling": None if not sampling else {"count": sample_count, "steps": sampling_steps,
                                             "float_mean": float(reference_samples.mean()), "float_std": float(reference_samples.std())},
        "rows": rows, "proxy_check": proxy_check, "range_motion": motion_summary, "boundary_study": boundaries, "goals": goals, "threads": args.threads, "torch_threads": args.torch_threads, "quick": args.quick,
        "torch": torch.__version__, "commands": runner.commands, "seconds": time.perf_counter() - started,
        "load_average": open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None,
    }
    try:
        import diffusers
        result["diffusers"] = diffusers.__version__
    except Exception:
        pass
    temporary = args.json_out + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(result, handle, indent=1)
    os.replace(temporary, args.json_out)
    for goal in goals:
        log(f"  goal {goal['goal']}: {'met' if goal['met'] else 'NOT met'} ({goal['detail']})")
    log(f"diffusion: done in {time.perf_counter() - started:.0f} s")
    return 0


def goal_check(rows, find, group_counts):
    try:
        return goal_check_all(rows, find, group_counts)
    except (ValueError, TypeError, KeyError):
        return [{"goal": "(partial run: goals need both widths; merge the JSON files)", "met": False, "detail": ""}]


def goal_check_all(rows, find, group_counts):
    goals = []
    guarded = [r for r in rows if r["weights"] == "float32" and "unguarded" not in r["method"]]
    worst = max((r for r in guarded if r["activation_bits"] == 8), key=lambda r: r["vs_minmax"])
    goals.append({"goal": "INT8: every method <= 1.0x per-group min-max", "met": worst["vs_minmax"] <= 1.0,
                  "detail": f"worst {worst['method']} G={worst['groups']}: {worst['vs_minmax']:.4f}x"
                            + (f" (standard error over the held-out images {worst['vs_minmax_se']:.4f})" if worst.get("vs_minmax_se") else "")})
    g10, g1 = find(8, 10, "minmax"), find(8, 1, "minmax")
    goals.append({"goal": "INT8: G=10 >= 5x lower than one global range", "met": g1["mse"] >= 5 * g10["mse"],
                  "detail": f"min-max G=10 / G=1 = {g10['mse'] / g1['mse']:.3f} ({g1['mse'] / g10['mse']:.2f}x lower)"})
    int4 = [r for r in guarded if r["activation_bits"] == 4]
    best4 = {}
    for groups in group_counts:
        candidates = [r for r in int4 if r["groups"] == groups and r["method"] != "minmax"]
        best4[groups] = min(candidates, key=lambda r: r["vs_minmax"])
    met4 = all(best4[g]["vs_minmax"] <= 0.5 for g in group_counts)
    goals.append({"goal": "INT4: best method <= 0.5x per-group min-max", "met": met4,
                  "detail": ", ".join(f"G={g}: {best4[g]['method']} {best4[g]['vs_minmax']:.3f}x" for g in group_counts)})
    w8 = [r for r in rows if r["weights"].startswith("int8")]
    worst_w8 = max(w8, key=lambda r: r["vs_activations_only"])
    goals.append({"goal": "W8A8 <= 1.2x INT8 activations alone", "met": worst_w8["vs_activations_only"] <= 1.2,
                  "detail": ", ".join(f"{r['method']}: {r['vs_activations_only']:.3f}x" for r in w8)})
    thermo = [r for r in rows if r["method"] == "thermo" and r["groups"] == 10 and r["weights"] == "float32"]
    slowest = max(thermo, key=lambda r: r["optimizer_seconds"])
    goals.append({"goal": "thermo over the whole UNet <= 10 s (2 threads)", "met": slowest["optimizer_seconds"] <= 10,
                  "detail": f"{slowest['optimizer_seconds']:.2f} s for {slowest['layers']} layers (A{slowest['activation_bits']}, G=10; "
                            f"whole arrowhead run {slowest['seconds']:.1f} s)"})
    return goals


if __name__ == "__main__":
    sys.exit(main())
