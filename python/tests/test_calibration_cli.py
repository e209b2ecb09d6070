"""The calibration collector's JSON Lines, read by the real `arrowhead quantize` (no torch).

torch is not in CI, so test_calibration.py (which hooks real modules) is skipped there; these
tests cover the part that needs no torch: `format_record`'s lines — the exact text the
collector writes — must be accepted by `arrowhead quantize --time-groups … --calibration`,
produce min-max activation parameters of exactly the samples written, and carry the
`channels` / `weight` layout through to the output-error objective.
"""
import importlib.util
import json
import os
import struct

import numpy as np
import pytest

from conftest import read_safetensors, run_cli, write_safetensors

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "arrowhead", "calibration.py")
_spec = importlib.util.spec_from_file_location("arrowhead_calibration_cli_under_test", _PATH)
calibration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibration)

CHANNELS = 8
# Two time groups over timesteps 0…3 (--timesteps 4 --time-groups 2): {0, 1} and {2, 3}.
RANGES = {0: (-1.0, 2.0), 1: (-0.5, 1.5), 2: (-4.0, 8.0), 3: (-3.0, 6.0)}


def samples_at(timestep, rows):
    """Rows of CHANNELS values spanning exactly RANGES[timestep] (both ends present)."""
    low, high = RANGES[timestep]
    values = np.random.default_rng(timestep).uniform(low, high, size=(rows, CHANNELS)).astype(np.float32)
    values[0, 0], values[1, 2] = low, high
    return values


def write_calibration(path, rows):
    with open(path, "w") as handle:
        for t in RANGES:
            record = {"layer": "fc", "weight": "fc.weight", "timestep": t, "channels": CHANNELS, "samples": samples_at(t, rows).reshape(-1)}
            handle.write(calibration.format_record(record) + "\n")


def metadata(path):
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + length]).get("__metadata__", {})


def quantize(cli, tmp_path, rows, *extra):
    model = tmp_path / "model.safetensors"
    weight = np.random.default_rng(5).standard_normal((8, CHANNELS)).astype(np.float32)
    write_safetensors(model, {"fc.weight": weight})
    calibration_path = tmp_path / "calibration.jsonl"
    write_calibration(calibration_path, rows)
    output = tmp_path / "q.safetensors"
    run_cli(cli, "quantize", str(model), "-o", str(output), "--bits", "8", "--group", "8", "--time-groups", "2",
            "--calibration", str(calibration_path), "--timesteps", "4", "--activation-bits", "8", "--quiet", *extra)
    return read_safetensors(output), json.loads(metadata(output)["arrowhead.act.fc"])


def test_collector_lines_give_min_max_parameters_of_the_samples(cli, tmp_path):
    tensors, info = quantize(cli, tmp_path, 64)
    assert info["groups"] == 2 and info["bits"] == 8 and info["range"] == "minmax"
    scales, offsets = tensors["fc.__act_scales"].astype(np.float64), tensors["fc.__act_offsets"].astype(np.float64)
    assert list(tensors["fc.__act_group_starts"]) == [0, 2, 4]  # G + 1 boundaries
    for group, steps in enumerate(([0, 1], [2, 3])):
        low = min(RANGES[t][0] for t in steps)
        high = max(RANGES[t][1] for t in steps)
        # Min-max over the group's samples: 255 steps span [low, high] (0 inside already); the
        # integral zero-point may stretch the step by at most one part in 255.
        assert (high - low) / 255 <= scales[group] * (1 + 1e-6) <= (high - low) / 255 * (1 + 1 / 255 + 1e-6)
        # Every written sample is representable: dequantized within half a step (+ Float32
        # rounding of the sample text, 1e-6 relative).
        values = np.concatenate([samples_at(t, 64).reshape(-1) for t in steps]).astype(np.float64)
        s, z = scales[group], offsets[group]
        codes = np.clip(np.round(values / s) + z, 0, 255)
        assert np.abs((codes - z) * s - values).max() <= s / 2 + 1e-6 * np.abs(values).max()


def test_channel_layout_and_weight_name_reach_the_output_error_objective(cli, tmp_path):
    _, info = quantize(cli, tmp_path, 256, "--optimizer", "clip")
    assert info["optimizer"] == "clip"
    assert info["objective"] == "output"  # d_c from fc.weight: the `channels` and `weight` keys were read
    assert all(0 <= group < 2 for group in info.get("fallback_groups", []))


def test_exact_extremes_widen_the_min_max_range_and_old_lines_still_work(cli, tmp_path):
    """The collector's exact-extremes keys: min-max spans the recorded extremes of the whole
    input (beyond every sample), and `format_record` widens them to any written sample that
    its 7 digits rounded past them (Arrowhead refuses samples outside [min, max])."""
    model = tmp_path / "model.safetensors"
    write_safetensors(model, {"fc.weight": np.eye(CHANNELS, dtype=np.float32)})
    path = tmp_path / "calibration.jsonl"
    extremes = {0: (-3.0, 5.0), 1: (-2.0, 4.0), 2: (-9.0, 11.0), 3: (-6.0, 7.0)}
    with open(path, "w") as handle:
        for t, (low, high) in extremes.items():
            rows = samples_at(t, 16)
            record = {"layer": "fc", "weight": "fc.weight", "timestep": t, "channels": CHANNELS, "samples": rows.reshape(-1),
                      "min": low, "max": high, "count": 16 * CHANNELS * 50}
            line = calibration.format_record(record)
            parsed = json.loads(line)
            assert (parsed["min"], parsed["max"], parsed["count"]) == (low, high, 16 * CHANNELS * 50)
            handle.write(line + "\n")
    output = tmp_path / "q.safetensors"
    run_cli(cli, "quantize", str(model), "-o", str(output), "--bits", "8", "--group", "8", "--time-groups", "2",
            "--calibration", str(path), "--timesteps", "4", "--activation-bits", "8", "--quiet")
    tensors = read_safetensors(output)
    for group, steps in enumerate(([0, 1], [2, 3])):
        # The hull of the recorded extremes (the samples span only RANGES, narrower): zero-point
        # min-max, s = (high − low)/255 and z = round(−low/s) in Float32 (0 lies inside).
        low = np.float32(min(extremes[t][0] for t in steps))
        high = np.float32(max(extremes[t][1] for t in steps))
        scale = np.float32((high - low) / np.float32(255))
        assert tensors["fc.__act_scales"][group] == scale
        assert tensors["fc.__act_offsets"][group] == np.round(np.float32(-low / scale))
    # A sample that 7 digits round past the exact maximum widens the written maximum.
    value = np.float32(1.2345678)  # written "1.234568" > value
    line = json.loads(calibration.format_record({"layer": "x", "timestep": 0, "samples": [value], "min": float(value), "max": float(value)}))
    assert line["max"] == 1.234568 and line["min"] == float(value)


def test_format_record_refuses_non_finite_samples_and_fractional_timesteps():
    """`nan` / `inf` would make the line invalid JSON, and int(1.7) a silent timestep 1: both
    raise `InvalidArgumentError` (a `ValueError`; the package's class when imported from it)."""
    import arrowhead

    for module, error in ((calibration, ValueError), (arrowhead.calibration, arrowhead.InvalidArgumentError)):
        for samples in ([float("nan"), 1], np.array([1, np.inf], dtype=np.float32), [-np.inf]):
            with pytest.raises(error, match=r"layer 'fc': samples\[\d\] is -?(nan|inf); calibration samples must be finite"):
                module.format_record({"layer": "fc", "timestep": 0, "samples": samples})
        for timestep in (1.7, float("nan"), "3"):
            with pytest.raises(error, match=f"layer 'fc': timestep {timestep!r} is not an integer"):
                module.format_record({"layer": "fc", "timestep": timestep, "samples": [1.0]})
        with pytest.raises(error, match="must be finite"):
            module.format_record({"layer": "fc", "timestep": 0, "min": float("nan"), "max": 1.0})
        for timestep in (3, 3.0, np.int64(3)):
            assert json.loads(module.format_record({"layer": "fc", "timestep": timestep, "samples": [0.5, 1]})) == {
                "layer": "fc", "timestep": 3, "samples": [0.5, 1]}
