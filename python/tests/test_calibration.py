"""Tests of arrowhead.calibration (the calibration collector). Skipped without torch.

The module is loaded from its file so that these tests do not depend on the package's
native library (the collector needs only numpy and torch).
"""
import importlib.util
import json
import os

import pytest

torch = pytest.importorskip("torch", reason="the calibration collector hooks PyTorch modules: torch is not installed")
np = pytest.importorskip("numpy")

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "arrowhead", "calibration.py")
_spec = importlib.util.spec_from_file_location("arrowhead_calibration_under_test", _PATH)
calibration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibration)


class Denoiser(torch.nn.Module):
    """model(sample, timestep): a conv, a linear on the timestep, a transposed conv (skipped)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.embed = torch.nn.Linear(2, 4)
        self.up = torch.nn.ConvTranspose2d(4, 3, 1)

    def forward(self, sample, timestep):
        t = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1)
        t = t.expand(sample.shape[0]) if t.numel() == 1 else t
        embedding = torch.stack([torch.sin(t / 100), torch.cos(t / 100)], dim=1)
        h = self.conv(sample) + self.embed(embedding)[:, :, None, None]
        return self.up(torch.relu(h))


def read(path):
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def conv_rows(x):
    """The conv's input as channel-last rows (N·H·W × C)."""
    return x.movedim(1, -1).reshape(-1, x.shape[1]).numpy()


def test_samples_are_whole_input_rows_with_channels_and_weight(tmp_path):
    model = Denoiser().eval()
    inputs = {t: torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(t)) for t in (0, 7)}
    with calibration.CalibrationCollector(model, rows=16, seed=1) as collector, torch.no_grad():
        for t, x in inputs.items():
            model(x, t)
    path = tmp_path / "cal.jsonl"
    assert collector.write(str(path)) == 4  # conv and embed at two timesteps; the transposed conv is skipped
    lines = read(path)
    assert [(l["layer"], l["timestep"]) for l in lines] == [("conv", 0), ("conv", 7), ("embed", 0), ("embed", 7)]
    for line in lines:
        assert line["weight"] == line["layer"] + ".weight"
        channels = line["channels"]
        samples = np.array(line["samples"], dtype=np.float32).reshape(-1, channels)
        if line["layer"] == "conv":
            assert channels == 3 and len(samples) == 16  # 2·5·5 = 50 rows, 16 sampled
            source = conv_rows(inputs[line["timestep"]])
        else:
            t = torch.full((2,), float(line["timestep"]))
            source = torch.stack([torch.sin(t / 100), torch.cos(t / 100)], dim=1).numpy()
            assert channels == 2 and len(samples) == 2  # fewer rows than asked: all kept
        # Every written row is a row of the input, to the 7 significant digits written
        # (relative 5·10⁻⁸ of the value, plus 10⁻⁴⁵ for zeros).
        for row in samples:
            distance = np.abs(source - row).max(axis=1)
            assert distance.min() <= 1e-6 * max(1.0, np.abs(row).max())
    # The same seed picks the same rows.
    again = calibration.CalibrationCollector(model, rows=16, seed=1)
    with again, torch.no_grad():
        for t, x in inputs.items():
            model(x, t)
    assert [list(r["samples"]) for r in again.records()][0] == list(collector.records()[0]["samples"])


def test_summaries_give_min_max_count_and_merged_percentiles(tmp_path):
    model = Denoiser().eval()
    first = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(3))
    second = 3 * torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(4))
    with calibration.CalibrationCollector(model, mode="summary", percentiles=(1, 99), layers=["conv"]) as collector, torch.no_grad():
        model(first, 5)
        model(second, 5)
    path = tmp_path / "summary.jsonl"
    collector.write(str(path))
    (line,) = read(path)
    both = torch.cat([first.reshape(-1), second.reshape(-1)]).double().numpy()
    assert line["layer"] == "conv" and line["timestep"] == 5 and "samples" not in line and "channels" not in line
    assert line["min"] == pytest.approx(both.min(), rel=1e-12) and line["max"] == pytest.approx(both.max(), rel=1e-12)
    assert line["count"] == both.size
    # Each call's percentiles (numpy's linear interpolation), merged to the more extreme.
    low = min(np.percentile(first.double().numpy(), 1), np.percentile(second.double().numpy(), 1))
    high = max(np.percentile(first.double().numpy(), 99), np.percentile(second.double().numpy(), 99))
    assert line["percentiles"]["1"] == pytest.approx(low, rel=1e-12)
    assert line["percentiles"]["99"] == pytest.approx(high, rel=1e-12)


def test_the_sample_budget_gives_narrow_layers_more_rows():
    model = Denoiser().eval()
    x = torch.randn(4, 3, 6, 6, generator=torch.Generator().manual_seed(2))
    with calibration.CalibrationCollector(model, samples=30) as collector, torch.no_grad():
        model(x, 1)
    rows = {r["layer"]: len(r["samples"]) // r["channels"] for r in collector.records()}
    assert rows == {"conv": 10, "embed": 4}  # ⌈30/3⌉ of 144 conv rows; all 4 embedding rows (⌈30/2⌉ = 15 > 4)


def test_a_timestep_per_batch_element_splits_the_batch():
    model = Denoiser().eval()
    x = torch.randn(3, 3, 2, 2, generator=torch.Generator().manual_seed(9))
    with calibration.CalibrationCollector(model, rows=100) as collector, torch.no_grad():
        model(x, torch.tensor([4, 9, 4]))
    conv = {r["timestep"]: np.array(r["samples"]).reshape(-1, 3) for r in collector.records() if r["layer"] == "conv"}
    assert sorted(conv) == [4, 9]
    assert len(conv[4]) == 8 and len(conv[9]) == 4  # 2·2·2 and 1·2·2 rows
    np.testing.assert_allclose(np.sort(conv[9], axis=0), np.sort(conv_rows(x[1:2]), axis=0), rtol=0, atol=0)


def test_missing_timestep_and_bad_settings_are_clear_errors():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with calibration.CalibrationCollector(model) as collector:
        with pytest.raises(RuntimeError, match="timestep"):
            model(torch.ones(1, 2))
        collector.timestep = 3
        model(torch.ones(1, 2))
    assert collector.records()[0]["timestep"] == 3
    with pytest.raises(ValueError, match="mode"):
        calibration.CalibrationCollector(model, mode="histogram")
    with pytest.raises(ValueError, match="rows"):
        calibration.CalibrationCollector(model, rows=0)
    with pytest.raises(ValueError, match="samples"):
        calibration.CalibrationCollector(model, samples=0)
    with pytest.raises(ValueError, match="no Conv"):
        calibration.CalibrationCollector(torch.nn.ReLU())
    with pytest.raises(RuntimeError, match="nothing was recorded"):
        calibration.CalibrationCollector(model).write(os.devnull)


def test_format_record_writes_the_documented_keys():
    line = calibration.format_record({"layer": "a", "weight": "a.weight", "timestep": 2, "channels": 2, "samples": [0.5, -1.25, 3, 1e-8]})
    assert json.loads(line) == {"layer": "a", "weight": "a.weight", "timestep": 2, "channels": 2, "samples": [0.5, -1.25, 3, 1e-8]}
    summary = calibration.format_record({"layer": "b", "timestep": 0, "min": -1, "max": 2, "count": 7, "percentiles": {99.9: 1.5, 0.1: -0.5}})
    assert json.loads(summary) == {"layer": "b", "timestep": 0, "min": -1.0, "max": 2.0, "count": 7,
                                   "percentiles": {"0.1": -0.5, "99.9": 1.5}}


def test_sample_lines_carry_the_exact_extremes_and_count_of_every_row(tmp_path):
    """The rows are sampled, the extremes and the count are not: min/max/count of each line are
    those of the whole input at that timestep, over every forward pass."""
    model = Denoiser().eval()
    first = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(21))
    second = 4 * torch.randn(3, 3, 5, 5, generator=torch.Generator().manual_seed(22))
    with calibration.CalibrationCollector(model, rows=4, seed=2, layers=["conv"]) as collector, torch.no_grad():
        model(first, 6)
        model(second, 6)
    path = tmp_path / "cal.jsonl"
    collector.write(str(path))
    (line,) = read(path)
    both = np.concatenate([conv_rows(first).reshape(-1), conv_rows(second).reshape(-1)])
    # float32 extremes, exact — widened to a sampled extreme whose 7-digit text rounded past it.
    assert line["min"] == min(float(both.min()), min(line["samples"]))
    assert line["max"] == max(float(both.max()), max(line["samples"]))
    assert abs(line["min"] - float(both.min())) <= 1e-6 * abs(float(both.min()))
    assert abs(line["max"] - float(both.max())) <= 1e-6 * abs(float(both.max()))
    assert line["count"] == both.size == 5 * 25 * 3
    assert len(line["samples"]) == 2 * 4 * 3  # 4 rows per forward pass
    # The 32 smallest and 32 largest values of both passes, exactly (float32 printed exactly).
    ordered = np.sort(both)
    assert line["tails"] == [float(v) for v in ordered[:32]] + [float(v) for v in ordered[::-1][:32]]
    assert min(line["samples"]) >= line["min"] and max(line["samples"]) <= line["max"]
    without = calibration.CalibrationCollector(model, rows=4, layers=["conv"], extremes=False)
    with without, torch.no_grad():
        model(first, 6)
    assert "min" not in without.records()[0] and "min" not in json.loads(calibration.format_record(without.records()[0]))


def test_tails_of_a_small_input_list_each_value_once():
    """An input of fewer than 2k values: the two ends overlap, each value is written once."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    x = torch.tensor([[0.5, -1.0, 2.0], [4.0, -3.0, 0.25]])
    with calibration.CalibrationCollector(model, tails=4) as collector, torch.no_grad():
        collector.timestep = 1
        model(x)
    (record,) = collector.records()
    assert record["count"] == 6 and record["min"] == -3.0 and record["max"] == 4.0
    assert record["tails"] == [-3.0, -1.0, 0.25, 0.5, 4.0, 2.0]  # 4 lowest, then the 2 highest not among them
    with pytest.raises(ValueError, match="tails"):
        calibration.CalibrationCollector(model, tails=-1)


def test_sources_name_the_batch_element_of_every_sampled_row(tmp_path):
    """Each image is filled with its own index: a row's values say which image it came from,
    and its source must say the same, counting on over a second forward pass at the timestep."""
    model = Denoiser().eval()
    first = torch.arange(3, dtype=torch.float32).reshape(3, 1, 1, 1).expand(3, 3, 4, 4).contiguous()
    second = (3 + torch.arange(2, dtype=torch.float32)).reshape(2, 1, 1, 1).expand(2, 3, 4, 4).contiguous()
    with calibration.CalibrationCollector(model, rows=7, seed=5) as collector, torch.no_grad():
        model(first, 4)
        model(second, 4)
        model(first, 9)
    path = tmp_path / "cal.jsonl"
    collector.write(str(path))
    conv = {l["timestep"]: l for l in read(path) if l["layer"] == "conv"}
    for t, expected_sources in ((4, {0, 1, 2, 3, 4}), (9, {0, 1, 2})):
        rows = np.array(conv[t]["samples"]).reshape(-1, 3)
        sources = conv[t]["sources"]
        assert len(sources) == len(rows) == (14 if t == 4 else 7)
        assert [int(r[0]) for r in rows] == sources  # row values are their image's index
        assert set(sources) <= expected_sources
    # Linear inputs: one row per batch element (the time embedding), sources 0, 1, 2 then 3, 4.
    embed = [l for l in read(path) if l["layer"] == "embed" and l["timestep"] == 4][0]
    assert embed["sources"] == [0, 1, 2, 3, 4]
    with calibration.CalibrationCollector(model, rows=7, sources=False) as plain, torch.no_grad():
        model(first, 4)
    assert all("sources" not in r for r in plain.records())
    assert "sources" not in calibration.format_record(plain.records()[0])
