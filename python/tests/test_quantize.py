"""quantize / QuantizedTensor / quantize_model against the CLI, bit for bit."""
from __future__ import annotations

import json

import numpy as np
import pytest

import arrowhead
from conftest import CloseFirst, read_safetensors, run_cli, unpack_codes, write_safetensors

# (bits, group, mode, optimizer): every mode, width and granularity, the four weight optimizers.
SCHEMES = [
    (4, 64, "float_minimum", "minmax"),
    (8, 32, "symmetric", "minmax"),
    (2, 128, "zero_point", "grid"),
    (3, "channel", "float_minimum", "hqq"),
    (4, "tensor", "zero_point", "minmax"),
    (4, 32, "symmetric", "signed-max"),  # ggml Q4_0's rule: negative scales
]


def cli_flags(bits, group, mode, optimizer):
    flags = ["--bits", str(bits), "--optimizer", optimizer]
    if group == "channel":
        flags.append("--per-channel")
    elif group == "tensor":
        flags.append("--per-tensor")
    else:
        flags += ["--group", str(group)]
    if mode == "symmetric":
        flags.append("--symmetric")
    elif mode == "zero_point":
        flags.append("--zero-point")
    return flags


@pytest.fixture(scope="module")
def weights():
    rng = np.random.default_rng(7)
    return {
        "layer.weight": (rng.standard_normal((48, 200)) * 0.05).astype(np.float32),
        "conv.weight": rng.laplace(size=(16, 3, 5, 5)).astype(np.float32),
    }


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: "-".join(map(str, s)))
def test_quantize_is_bit_identical_to_the_cli(cli, tmp_path, weights, scheme):
    bits, group, mode, optimizer = scheme
    model = tmp_path / "model.safetensors"
    write_safetensors(model, weights)
    quantized, restored = tmp_path / "q.safetensors", tmp_path / "dq.safetensors"
    flags = cli_flags(*scheme) + ["--no-default-keep", "--no-fallback", "--quiet"]
    run_cli(cli, "quantize", str(model), "-o", str(quantized), *flags)
    run_cli(cli, "dequantize", str(quantized), "-o", str(restored), "--dtype", "f32", "--quiet")
    stored, dequantized = read_safetensors(quantized), read_safetensors(restored)
    for name, w in weights.items():
        tensor = arrowhead.quantize(w, bits=bits, group=group, optimizer=optimizer, mode=mode)
        assert tensor.shape == w.shape and tensor.bits == bits and tensor.mode == mode
        # Ŵ as the CLI wrote it, compared as bit patterns (so -0.0 ≠ 0.0 and NaN would count).
        ours = tensor.dequantize()
        assert ours.dtype == np.float32 and ours.shape == w.shape
        assert np.array_equal(ours.view(np.uint32), dequantized[name].view(np.uint32))
        # The stored parts: packed codes, scales and (float minima | packed zero-points).
        assert np.array_equal(tensor.packed_codes, stored[name + ".__codes"])
        assert np.array_equal(tensor.scales.view(np.uint32), stored[name + ".__scales"].reshape(-1).view(np.uint32))
        if mode == "float_minimum":
            assert np.array_equal(tensor.offsets.view(np.uint32), stored[name + ".__minimums"].reshape(-1).view(np.uint32))
        elif mode == "zero_point":
            zero_points = unpack_codes(stored[name + ".__zero_points"], bits, tensor.scales.size)
            assert np.array_equal(tensor.offsets, zero_points.astype(np.float32))
        else:
            assert np.all(tensor.offsets == 2 ** (bits - 1))
        # The codes decode from the packed stream independently of the library.
        rows = w.shape[0]
        unpacked = np.concatenate([unpack_codes(row, bits, w[0].size) for row in tensor.packed_codes.reshape(rows, -1)])
        assert np.array_equal(tensor.codes.reshape(-1), unpacked)


def test_parts_reconstruct_the_dequantized_tensor(rng):
    w = rng.standard_normal((6, 100)).astype(np.float32)
    for mode in ("float_minimum", "zero_point", "symmetric"):
        tensor = arrowhead.quantize(w, bits=4, group=32, mode=mode)
        groups_per_row = -(-100 // 32)
        group_of = (np.arange(6)[:, None] * groups_per_row + np.arange(100)[None, :] // 32)
        codes = tensor.codes.astype(np.float32)
        scale, offset = tensor.scales[group_of], tensor.offsets[group_of]
        # float32 mul then add, as the kernels do: exact equality.
        expected = codes * scale + offset if mode == "float_minimum" else (codes - offset) * scale
        assert np.array_equal(tensor.dequantize(), expected.astype(np.float32))
        assert tensor.codes.max() <= 15
        # Min-max INT4: every weight is within half a step of its reconstruction.
        assert np.all(np.abs(tensor.dequantize() - w) <= scale / 2 * (1 + 1e-6) + 1e-7)
    assert tensor.nbytes == 6 * 50 + 6 * 4 * 4  # codes + one float32 scale per group (symmetric)
    assert tensor.bits_per_weight == pytest.approx(8 * tensor.nbytes / 600)


def test_quantize_accepts_other_dtypes_and_shapes(rng):
    w = rng.standard_normal((4, 64))
    as_float32 = arrowhead.quantize(w.astype(np.float32)).dequantize()
    assert np.array_equal(arrowhead.quantize(w).dequantize(), as_float32)  # float64 converted once
    assert np.array_equal(arrowhead.quantize(np.asfortranarray(w.astype(np.float32))).dequantize(), as_float32)
    assert arrowhead.quantize(np.arange(64, dtype=np.int16), group=16).shape == (64,)
    assert arrowhead.quantize(np.float32(3.5), group="tensor").dequantize() == np.float32(3.5)


def test_quantize_errors(rng):
    w = rng.standard_normal((4, 64)).astype(np.float32)
    with pytest.raises(arrowhead.InvalidArgumentError, match="5"):
        arrowhead.quantize(w, bits=5)
    with pytest.raises(ValueError, match="group"):
        arrowhead.quantize(w, group=4)
    # Integers beyond the C parameter are refused, not cut to their low bits (2**32 + 4 was 4).
    with pytest.raises(arrowhead.InvalidArgumentError, match="bits 4294967300 is invalid"):
        arrowhead.quantize(w, bits=2**32 + 4)
    with pytest.raises(arrowhead.InvalidArgumentError, match="group = 18446744073709551680 is too large"):
        arrowhead.quantize(w, group=2**64 + 64)
    with pytest.raises(ValueError, match="mode 'asymmetric' is unknown"):
        arrowhead.quantize(w, mode="asymmetric")
    with pytest.raises(ValueError, match="optimizer"):
        arrowhead.quantize(w, optimizer="adam")
    with pytest.raises(ValueError, match="steps"):
        arrowhead.quantize(w, optimizer="grid", optimizer_options={"steps": "many"})
    with pytest.raises(arrowhead.DTypeError, match="complex"):
        arrowhead.quantize(w.astype(np.complex64))
    bad = w.copy()
    bad[2, 17] = np.inf
    with pytest.raises(arrowhead.NonFiniteError, match="inf"):
        arrowhead.quantize(bad)
    # Finite, but a group spanning -3.4e38…3.4e38 has no parameters that dequantize within
    # float32: refused naming the group, where the tensor came back dequantizing to ±inf.
    edge = w.copy()
    edge[1, 0], edge[1, 1] = np.finfo(np.float32).max, -np.finfo(np.float32).max
    with pytest.raises(arrowhead.InvalidArgumentError, match="group 1: .*beyond the Float32 range"):
        arrowhead.quantize(edge)
    # Scaled by 2^100 the same weights quantize to the same codes (the checks are scale-free).
    scaled = arrowhead.quantize(w * np.float32(2.0**100), optimizer="grid")
    assert np.array_equal(scaled.codes, arrowhead.quantize(w, optimizer="grid").codes)
    tensor = arrowhead.quantize(w)
    tensor.close()
    tensor.close()  # idempotent
    with pytest.raises(arrowhead.ClosedError):
        tensor.dequantize()
    with arrowhead.quantize(w) as scoped:
        assert scoped.codes.shape == (4, 64)
    with pytest.raises(RuntimeError):
        scoped.scales


def test_quantize_model_writes_what_the_cli_writes(cli, tmp_path, weights):
    model = tmp_path / "model.safetensors"
    tensors = dict(weights)
    tensors["embeddings.weight"] = np.ones((10, 8), np.float32)  # kept in float by the default patterns
    write_safetensors(model, tensors)
    ours, theirs = tmp_path / "ours.safetensors", tmp_path / "theirs.safetensors"
    report = arrowhead.quantize_model(model, ours, bits=4, group=32, optimizer="grid", optimizer_options={"steps": 3}, keep=["conv*"])
    cli_report = json.loads(run_cli(cli, "quantize", str(model), "-o", str(theirs), "--bits", "4", "--group", "32", "--optimizer", "grid",
                                    "--optimizer-option", "steps=3", "--keep", "conv*", "--json", "--quiet"))
    assert ours.read_bytes() == theirs.read_bytes()

    def stable(value):
        """The report without wall-clock times and output path."""
        if isinstance(value, dict):
            return {k: stable(v) for k, v in value.items() if k not in ("seconds", "optimizerSeconds", "output")}
        if isinstance(value, list):
            return [stable(v) for v in value]
        return value

    assert stable(report) == stable(cli_report)
    actions = {tensor["name"]: tensor["action"] for tensor in report["tensors"]}
    assert actions == {"layer.weight": "quantized", "conv.weight": "kept", "embeddings.weight": "kept"}


def test_quantize_model_errors(tmp_path, weights):
    model = tmp_path / "model.safetensors"
    write_safetensors(model, weights)
    out = tmp_path / "out.safetensors"
    with pytest.raises(arrowhead.InvalidArgumentError, match="unknown option 'bitz'; valid options: bits, group"):
        arrowhead.quantize_model(model, out, bitz=4)
    with pytest.raises(ValueError, match="option 'budget'"):
        arrowhead.quantize_model(model, out, budget=-1.0)
    with pytest.raises(arrowhead.InvalidArgumentError, match="must be JSON values: Out of range float"):
        arrowhead.quantize_model(model, out, budget=float("nan"))
    with pytest.raises(arrowhead.UnsupportedError, match="gptq"):
        arrowhead.quantize_model(model, out, optimizer="gptq")
    with pytest.raises(OSError) as missing:
        arrowhead.quantize_model(tmp_path / "absent.safetensors", out)
    assert isinstance(missing.value, arrowhead.ArrowheadIOError)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(model.read_bytes()[:100])
    with pytest.raises(arrowhead.CorruptFileError):
        arrowhead.quantize_model(broken, out)
    assert not out.exists()


def test_quantize_refuses_bad_optimizer_arguments_with_typed_errors():
    w = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    cases = [
        (dict(optimizer=None), "optimizer = None; expected a string"),
        (dict(optimizer="minmax\0junk"), "optimizer 'minmax\\\\x00junk' contains a NUL character"),
        (dict(optimizer="grid", optimizer_options={"steps": {1, 2}}), "optimizer_options must be JSON values: .*set"),
        (dict(optimizer="hqq", optimizer_options={"iterations": float("nan")}), "optimizer_options must be JSON values: Out of range"),
        (dict(optimizer="grid", optimizer_options=[("steps", 5)]), "optimizer_options = .*expected a dict"),
    ]
    for arguments, message in cases:
        with pytest.raises(arrowhead.InvalidArgumentError, match=message):
            arrowhead.quantize(w, **arguments)
    # numpy scalars are numbers: the same tensor as with Python ints.
    numpy_steps = arrowhead.quantize(w, optimizer="grid", optimizer_options={"steps": np.int64(5)})
    python_steps = arrowhead.quantize(w, optimizer="grid", optimizer_options={"steps": 5})
    np.testing.assert_array_equal(numpy_steps.dequantize(), python_steps.dequantize())


def test_a_0d_tensor_is_quantized_as_shape_1():
    tensor = arrowhead.quantize(np.float32(1.5), group="tensor")
    assert tensor.shape == (1,) and tensor.dequantize().shape == (1,) and tensor.codes.shape == (1,)


def test_quantize_model_takes_numpy_scalars_and_refuses_nul_paths(tmp_path, weights):
    model = tmp_path / "model.safetensors"
    write_safetensors(model, weights)
    plain, numpy_options = tmp_path / "plain.safetensors", tmp_path / "numpy.safetensors"
    arrowhead.quantize_model(model, plain, bits=4, group=32, budget=5.0)
    report = arrowhead.quantize_model(model, numpy_options, bits=np.int64(4), group=np.int32(32), budget=np.float32(5.0))
    assert report["tensors"] and plain.read_bytes() == numpy_options.read_bytes()
    with pytest.raises(arrowhead.InvalidArgumentError, match="must be JSON values: .*object"):
        arrowhead.quantize_model(model, tmp_path / "x.safetensors", bits=object())
    for source, destination, name in ((model, str(tmp_path / "q\0.safetensors"), "dst"),
                                      (str(model) + "\0junk", tmp_path / "q.safetensors", "src")):
        with pytest.raises(arrowhead.InvalidArgumentError, match=f"{name} .* contains a NUL character"):
            arrowhead.quantize_model(source, destination)
    assert not (tmp_path / "q").exists() and not (tmp_path / "q.safetensors").exists()


def test_a_tensor_closed_during_a_call_raises_closed_error(monkeypatch):
    import arrowhead.quantization as quantization

    tensor = arrowhead.quantize(np.ones((4, 64), dtype=np.float32))

    monkeypatch.setattr(quantization, "lib", CloseFirst(quantization.lib, "ah_tensor_dequantize", tensor))
    with pytest.raises(arrowhead.ClosedError, match="the quantized tensor is closed"):
        tensor.dequantize()
