"""Calibration collector for Arrowhead's time-aware activation quantization.

Hooks every ``Conv1d/2d/3d`` and ``Linear`` module of a PyTorch model (a diffusers
``UNet2DModel`` or any denoiser called as ``model(sample, timestep, ...)``), records each
module's *input* at every timestep it is run at, and writes the calibration JSON Lines that
``arrowhead quantize --time-groups G --calibration FILE`` reads (format:
Sources/ArrowheadQuant/CalibrationSet.swift). Example::

    import torch
    from diffusers import DDPMScheduler, UNet2DModel
    from arrowhead.calibration import CalibrationCollector

    unet = UNet2DModel.from_pretrained("path/to/unet").eval()
    scheduler = DDPMScheduler(num_train_timesteps=1000)
    images = torch.rand(16, 1, 8, 8) * 2 - 1                  # a few training images
    with CalibrationCollector(unet) as collector, torch.no_grad():
        for t in range(5, 1000, 10):                         # dense: ~10 per time group (below)
            unet(scheduler.add_noise(images, torch.randn_like(images), torch.tensor([t])), t)
    collector.write("calibration.jsonl")                     # then: arrowhead quantize ... --calibration

Then ``arrowhead quantize diffusion_pytorch_model.safetensors -o q.safetensors --time-groups 10
--calibration calibration.jsonl --timesteps 1000 --optimizer clip`` stores per-time-group
activation scales and zero-points for every hooked layer.

Calibrate at many timesteps (about ten per time group), not a few: the inputs of a UNet's
time-embedding projections (``time_emb_proj``, ``time_embedding.*``) are the same for every
image and move smoothly with t, so a group's min-max range over only two calibrated timesteps
clips every timestep between them. On the DDPM benchmark (Benchmarks/peers/diffusion_compare.py)
20 calibration timesteps for 10 groups made INT8 G = 10 worse than G = 5 (those layers alone
caused 57 % of the error); 100 timesteps × 16 images, ≈ 1024 values each, fixed it for the same
file size.

Two modes:

- ``mode="samples"`` (default): randomly chosen input rows per layer and forward pass
  (seeded; about ``samples`` values, i.e. ⌈samples / C⌉ rows, or exactly ``rows`` rows),
  written with ``"channels": C`` — whole rows of C channel values,
  channel-last (a Linear's input vectors; a convolution's input at sampled pixels), and
  ``"weight": "<layer>.weight"`` — so Arrowhead can weigh each channel's quantization error
  by the layer's weights (its output error), fit clipping ranges, and check them on
  held-out rows. Each line also gives the **exact** ``"min"``, ``"max"`` and ``"count"`` of
  the whole input (every row of every forward pass at that timestep, not only the sampled
  ones), and ``"tails"``, its 32 smallest and 32 largest values (``tails=``): min-max ranges
  then span the true extremes, and Arrowhead's held-out check charges a clipped range for
  every recorded value it cuts (``extremes=False`` leaves them out, as older versions wrote).
  ``"sources"`` names the batch element (image) each sampled row came from, so that the
  held-out check judges ranges on whole images the fit did not see (``sources=False`` leaves
  them out).
- ``mode="summary"``: min, max, count and ``percentiles`` of the whole input per layer and
  timestep (percentiles merged across forward passes as Arrowhead merges lines: the more
  extreme value is kept). Enough for ``--activation-range minmax|percentile:P``; the
  optimizers (``--optimizer clip|thermo``) need samples.

The timestep of a forward pass is taken from the model call (second positional argument
or ``timestep=``; a tensor with one value per batch element splits the batch), or from
``collector.timestep`` when set. Transposed convolutions are skipped (their weight's layout
is [in, out, ...]). torch is imported only when a collector is created; numpy is needed
to write.
"""

import json
import math
import os

try:
    from .errors import InvalidArgumentError
except ImportError:  # loaded as a file, outside the package (the tests load it so, without the library)
    InvalidArgumentError = ValueError

__all__ = ["CalibrationCollector", "format_record"]

DEFAULT_PERCENTILES = (0.1, 1.0, 99.0, 99.9)


def _float_list(values, digits):
    """Comma-separated numbers with `digits` significant digits (7: within one float32 ulp)."""
    spec = "%." + str(int(digits)) + "g"
    if hasattr(values, "tolist"):
        values = values.tolist()
    return ",".join([spec % v for v in values])


def _finite_samples(values, layer):
    """The samples as a list of floats; NaN or ±inf would be written as ``nan`` / ``inf``,
    which is no JSON: refused, naming the layer and the first such sample."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    values = [float(v) for v in values]
    for position, value in enumerate(values):
        if not math.isfinite(value):
            raise InvalidArgumentError(
                f"layer {layer!r}: samples[{position}] is {value}; calibration samples must be finite")
    return values


def _integral_timestep(value, layer):
    """The timestep as an int; a fractional or non-finite one is refused rather than truncated."""
    try:
        number = int(value)
        exact = bool(number == value)
    except (TypeError, ValueError, OverflowError):
        exact = False
    if not exact:
        raise InvalidArgumentError(f"layer {layer!r}: timestep {value!r} is not an integer")
    return number


def _dumps(head):
    try:
        return json.dumps(head, allow_nan=False)
    except ValueError as error:  # NaN or ±inf in min, max, tails or percentiles: no JSON
        raise InvalidArgumentError(f"layer {head['layer']!r}: {error} (min, max, tails and percentiles must be finite)") from None


def format_record(record, digits=7):
    """One JSON Lines line (without the newline) for a record dict with ``layer``,
    ``timestep`` and either ``samples`` (a flat sequence, plus optional ``channels``, the
    input (batch element) of each row as ``sources``, and the whole input's exact
    ``min``/``max``/``count``/``tails``) or ``min``/``max`` (+ ``count``,
    ``percentiles``); optional ``weight``. The timestep must be an integer and every number
    finite (JSON has no NaN or infinity): otherwise ``InvalidArgumentError`` (a
    ``ValueError``) names the layer and the value."""
    head = {"layer": record["layer"]}
    if record.get("weight"):
        head["weight"] = record["weight"]
    head["timestep"] = _integral_timestep(record["timestep"], record["layer"])
    if "samples" in record:
        if record.get("channels"):
            head["channels"] = int(record["channels"])
        samples = _float_list(_finite_samples(record["samples"], record["layer"]), digits)
        if "min" in record and "max" in record:
            # Exact extremes of the whole input (float32 values widened to float64 print
            # exactly). A sample written with `digits` digits can round just past them (the
            # sampled maximum itself, rounded up): widen them to the written samples, which
            # Arrowhead requires to lie within [min, max].
            written = [float(v) for v in samples.split(",")]
            head["min"] = min(float(record["min"]), min(written))
            head["max"] = max(float(record["max"]), max(written))
            if "count" in record:
                head["count"] = max(int(record["count"]), len(written))
            if record.get("tails") is not None and len(record["tails"]):
                head["tails"] = [float(v) for v in record["tails"]]  # float32 values print exactly
        if record.get("sources") is not None and len(record["sources"]):
            head["sources"] = [int(v) for v in record["sources"]]
        text = _dumps(head)
        return text[:-1] + ', "samples": [' + samples + "]}"
    head["min"] = float(record["min"])
    head["max"] = float(record["max"])
    head["count"] = int(record.get("count", 1))
    if record.get("percentiles"):
        head["percentiles"] = {_percent_key(p): float(v) for p, v in sorted(record["percentiles"].items())}
    return _dumps(head)


def _percent_key(percent):
    text = repr(float(percent))
    return text[:-2] if text.endswith(".0") else text


def _tail_values(lowest, highest, count):
    """The recorded ends as one list, each element of the input once: when the input holds
    fewer than twice as many values as were kept per end, the two ends overlap, and only its
    `count` values are written (the lowest ones, then the highest ones not among them)."""
    low = [float(v) for v in lowest.tolist()]
    high = [float(v) for v in highest.tolist()]
    overlap = max(0, len(low) + len(high) - int(count))
    return low + high[: len(high) - overlap]


class CalibrationCollector:
    """Records the inputs of a model's Conv/Linear modules per timestep (see the module
    documentation). Use as a context manager (hooks are removed on exit) or call
    ``attach()`` / ``detach()``.

    Parameters:
        model: a ``torch.nn.Module`` called as ``model(sample, timestep, ...)``.
        mode: ``"samples"`` or ``"summary"``.
        samples: values sampled per layer from each forward pass (samples mode): ⌈samples / C⌉
            rows of C channels, so that narrow layers (a model's 1-channel input) get as many
            values as wide ones; a percentile or clipping range needs many more samples than
            1/(1 − p) — thousands per time group.
        rows: if given, exactly this many rows per layer and forward pass instead.
        percentiles: percentiles (0…100) recorded in summary mode.
        layers: optional filter: a collection of module names, or a callable
            ``(name, module) -> bool``. Default: every Conv1d/2d/3d and Linear.
        prefix: prepended to module names (when the safetensors file to quantize names its
            tensors ``prefix + name + ".weight"``).
        seed: seed of the row sampling.
        extremes: samples mode: also record each layer's exact min, max and value count per
            timestep over all rows (default True).
        tails: with ``extremes``, also record that many exact smallest and largest values of
            each layer's whole input per timestep (default 32; 0 for none), written as
            ``"tails"``: Arrowhead's held-out check charges a clipping range for every one it
            cuts, which sampled rows miss (a 99.9th percentile of the samples clips about a
            thousandth of the whole input, most of it never sampled).
        sources: samples mode: also record which input (batch element) each sampled row came
            from, written as ``"sources"`` (default True): identifiers count the batch elements
            seen at a timestep over its forward passes (element i of the first pass is i, of a
            second pass of n elements n + i, ...). Arrowhead's held-out check then holds out
            whole inputs — the same identifiers at every timestep — so a clipping range is
            judged on images it was not fitted on. Pass the same images in the same order at
            every timestep for an identifier to name one image throughout.
    """

    def __init__(self, model, *, mode="samples", samples=4096, rows=None, percentiles=DEFAULT_PERCENTILES, layers=None, prefix="",
                 seed=0, extremes=True, tails=32, sources=True):
        import torch

        if mode not in ("samples", "summary"):
            raise ValueError(f"mode must be 'samples' or 'summary', got {mode!r}")
        if rows is not None and int(rows) < 1:
            raise ValueError(f"rows must be >= 1, got {rows}")
        if int(samples) < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        for p in percentiles:
            if not 0 <= float(p) <= 100:
                raise ValueError(f"percentiles must lie in [0, 100], got {p}")
        self._torch = torch
        self.model = model
        self.mode = mode
        self.rows = None if rows is None else int(rows)
        self.samples = int(samples)
        self.percentiles = tuple(float(p) for p in percentiles)
        self.prefix = prefix
        self.timestep = None
        self.extremes = bool(extremes)
        if int(tails) < 0:
            raise ValueError(f"tails must be >= 0, got {tails}")
        self.tails = int(tails) if self.extremes else 0
        self._tails = {}      # (layer, timestep) -> (lowest ascending, highest descending) tensors
        self._extremes = {}   # (layer, timestep) -> [min, max, count] over every row (samples mode)
        self._generator = torch.Generator().manual_seed(int(seed))
        self._handles = []
        self._current = None
        self._samples = {}    # (layer, timestep) -> list of float32 arrays of shape (rows, C)
        self._sources = {}    # (layer, timestep) -> list of int arrays: the input (batch element) of each sampled row
        self._items = {}      # (layer, timestep) -> inputs (batch elements) seen so far
        self.sources = bool(sources)
        self._summaries = {}  # (layer, timestep) -> dict
        self._order = []      # layers in hook order
        self._layers = self._select(layers)
        if not self._layers:
            raise ValueError("the model has no Conv1d/2d/3d or Linear module to hook (or the filter excluded them all)")

    def _select(self, layers):
        torch = self._torch
        kinds = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
        chosen = []
        for name, module in self.model.named_modules():
            if not isinstance(module, kinds) or not name:
                continue
            if layers is not None:
                keep = layers(name, module) if callable(layers) else name in layers
                if not keep:
                    continue
            chosen.append((name, module))
        return chosen

    # Hooks -----------------------------------------------------------------------------
    def attach(self):
        """Registers the hooks (idempotent)."""
        if self._handles:
            return self
        self._handles.append(self.model.register_forward_pre_hook(self._capture_timestep, with_kwargs=True))
        for name, module in self._layers:
            self._handles.append(module.register_forward_pre_hook(self._recorder(self.prefix + name)))
        return self

    def detach(self):
        """Removes the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self):
        return self.attach()

    def __exit__(self, *exc):
        self.detach()
        return False

    def _capture_timestep(self, module, args, kwargs):
        value = kwargs.get("timestep", args[1] if len(args) > 1 else None)
        self._current = None if value is None else self._timesteps(value)

    def _timesteps(self, value):
        torch = self._torch
        if isinstance(value, torch.Tensor):
            flat = value.detach().reshape(-1).cpu()
            values = [int(round(float(v))) for v in flat.tolist()]
        else:
            values = [int(round(float(value)))]
        for v in values:
            if v < 0:
                raise ValueError(f"timestep {v} < 0")
        return values

    def _recorder(self, layer):
        def record(module, args):
            if not args or not isinstance(args[0], self._torch.Tensor):
                return
            self._record(layer, module, args[0])
        return record

    def _record(self, layer, module, x):
        torch = self._torch
        if self.timestep is not None:
            steps = self._timesteps(self.timestep)
        elif self._current is not None:
            steps = self._current
        else:
            raise RuntimeError(
                f"layer {layer!r} ran without a known timestep: call the model as model(sample, timestep, ...) "
                "or set collector.timestep before the forward pass")
        x = x.detach().to(torch.float32)
        if isinstance(module, torch.nn.Linear):
            channels = x.shape[-1]
            per_item = x.reshape(x.shape[0], -1, channels) if x.dim() > 1 else x.reshape(1, 1, channels)
        else:  # ConvNd: (N, C, *spatial) -> (N, positions, C)
            channels = x.shape[1]
            per_item = x.movedim(1, -1).reshape(x.shape[0], -1, channels)
        if len(steps) == 1:
            groups = {steps[0]: per_item}
        elif len(steps) == per_item.shape[0]:
            groups = {}
            for t in sorted(set(steps)):
                index = torch.tensor([i for i, s in enumerate(steps) if s == t])
                groups[t] = per_item.index_select(0, index)
        else:
            raise RuntimeError(
                f"layer {layer!r}: {len(steps)} timesteps for an input batch of {per_item.shape[0]}; "
                "give one timestep, or one per batch element")
        if layer not in self._order:
            self._order.append(layer)
        for t, items in groups.items():
            rows = items.reshape(-1, channels).cpu()
            positions = max(1, items.shape[1])
            first = self._items.get((layer, t), 0)  # inputs already seen at t: identifiers go on counting
            self._items[(layer, t)] = first + items.shape[0]
            if self.mode == "samples":
                if self.extremes and rows.numel():
                    low, high = float(rows.min()), float(rows.max())
                    seen = self._extremes.get((layer, t))
                    if seen is None:
                        self._extremes[(layer, t)] = [low, high, int(rows.numel())]
                    else:
                        seen[0], seen[1], seen[2] = min(seen[0], low), max(seen[1], high), seen[2] + int(rows.numel())
                    if self.tails:
                        self._keep_tails(layer, t, rows.reshape(-1))
                keep = self.rows if self.rows is not None else -(-self.samples // channels)
                chosen = torch.arange(rows.shape[0])
                if rows.shape[0] > keep:
                    chosen = torch.randperm(rows.shape[0], generator=self._generator)[:keep].sort().values
                    rows = rows.index_select(0, chosen)
                self._samples.setdefault((layer, t), []).append(rows.numpy().copy())
                if self.sources:
                    self._sources.setdefault((layer, t), []).append((first + chosen // positions).numpy().astype("int64"))
            else:
                self._summarise(layer, t, rows.reshape(-1).numpy())

    def _keep_tails(self, layer, t, values):
        """The `tails` smallest and largest values seen so far (earlier passes' kept ones plus
        this pass's values: distinct elements of the input, so the union's ends are exact)."""
        torch = self._torch
        previous = self._tails.get((layer, t))
        low_pool = values if previous is None else torch.cat([previous[0], values])
        high_pool = values if previous is None else torch.cat([previous[1], values])
        k_low, k_high = min(self.tails, low_pool.numel()), min(self.tails, high_pool.numel())
        lowest = torch.topk(low_pool, k_low, largest=False).values
        highest = torch.topk(high_pool, k_high, largest=True).values
        self._tails[(layer, t)] = (lowest, highest)

    def _summarise(self, layer, t, values):
        import numpy as np

        values = values.astype(np.float64)
        summary = {"min": float(values.min()), "max": float(values.max()), "count": int(values.size),
                   "percentiles": {p: float(v) for p, v in zip(self.percentiles, np.percentile(values, self.percentiles))}}
        previous = self._summaries.get((layer, t))
        if previous is not None:
            summary["min"] = min(summary["min"], previous["min"])
            summary["max"] = max(summary["max"], previous["max"])
            summary["count"] += previous["count"]
            for p, v in previous["percentiles"].items():
                mine = summary["percentiles"].get(p)
                summary["percentiles"][p] = v if mine is None else (min(mine, v) if p < 50 else max(mine, v))
        self._summaries[(layer, t)] = summary

    # Output ----------------------------------------------------------------------------
    def records(self):
        """The collected records (dicts as `format_record` takes), by layer then timestep."""
        import numpy as np

        result = []
        for layer in self._order:
            if self.mode == "samples":
                keys = sorted(t for (name, t) in self._samples if name == layer)
                for t in keys:
                    rows = np.concatenate(self._samples[(layer, t)], axis=0)
                    record = {"layer": layer, "weight": layer + ".weight", "timestep": t, "channels": rows.shape[1],
                              "samples": rows.reshape(-1)}
                    if (layer, t) in self._sources:
                        record["sources"] = np.concatenate(self._sources[(layer, t)])
                    if (layer, t) in self._extremes:
                        low, high, count = self._extremes[(layer, t)]
                        record.update({"min": low, "max": high, "count": count})
                        if (layer, t) in self._tails:
                            record["tails"] = _tail_values(*self._tails[(layer, t)], count)
                    result.append(record)
            else:
                keys = sorted(t for (name, t) in self._summaries if name == layer)
                for t in keys:
                    result.append({"layer": layer, "timestep": t, **self._summaries[(layer, t)]})
        return result

    def write(self, path, digits=7):
        """Writes the JSON Lines file atomically (temporary file, then rename); returns the
        number of lines."""
        records = self.records()
        if not records:
            raise RuntimeError("nothing was recorded: run the model inside the collector first")
        directory = os.path.dirname(os.path.abspath(path))
        temporary = os.path.join(directory, "." + os.path.basename(path) + ".tmp")
        try:
            with open(temporary, "w") as handle:
                for record in records:
                    handle.write(format_record(record, digits))  # raises on NaN / inf (no JSON)
                    handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            try:
                os.unlink(temporary)
            except OSError:  # it was not created
                pass
            raise
        os.replace(temporary, path)
        return len(records)
