"""QuantizedMatrix: x @ Ŵ.T (+ bias) computed on the codes, against numpy's product with the
dequantized weights, within bounds derived from the formats (the Swift conformance suite's,
``Sources/ArrowheadConformance/Conformance+QuantizedMatmul.swift``)."""
from __future__ import annotations

import numpy as np
import pytest

import arrowhead
from conftest import CloseFirst, write_safetensors

U = 2.0**-24  # float32 unit roundoff

# (bits, group, mode): every code width, granularity and affine form; 200 columns leave a
# ragged last group for groups of 32, 64 and 128.
SCHEMES = [
    (4, 64, "float_minimum"),
    (8, 32, "symmetric"),
    (2, 128, "zero_point"),
    (3, "channel", "float_minimum"),
    (4, "tensor", "zero_point"),
    (8, 64, "float_minimum"),
]


def gamma(n: int) -> float:
    return n * U / (1 - n * U)


def parameters(tensor: arrowhead.QuantizedTensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per weight (rows × columns): code q, |scale|, |offset|."""
    rows, columns = tensor.shape[0], int(np.prod(tensor.shape[1:]))
    codes = tensor.codes.reshape(rows, columns).astype(np.float64)
    scales, offsets = tensor.scales.astype(np.float64), tensor.offsets.astype(np.float64)
    if tensor.granularity == "tensor":
        group = np.zeros((rows, columns), dtype=np.int64)
    else:
        size = columns if tensor.granularity == "channel" else tensor.group_size
        per_row = -(-columns // size)
        group = np.arange(rows)[:, None] * per_row + np.arange(columns)[None, :] // size
    return codes, np.abs(scales[group]), np.abs(offsets[group])


def check_product(tensor, matrix, x, bias, y, mode, bound_of=None):
    """|y − (x·Ŵᵀ + b)| within the bound of `mode` (or of `bound_of`) for every element;
    returns the errors and the bounds."""
    mode, checked = (bound_of or mode), mode
    w = tensor.dequantize().reshape(matrix.shape).astype(np.float64)
    rows, columns = matrix.shape
    q, s, o = parameters(tensor)
    # What a kernel rounds per weight: |s|·q + |m| (float minimum) or |s|·(q + |z|).
    magnitude = s * q + o if tensor.mode == "float_minimum" else s * (q + o)
    x64 = x.astype(np.float64)
    exact = x64 @ w.T + (0 if bias is None else bias.astype(np.float64))
    groups = -(-columns // matrix.group_size)
    # Per activation: the scale t of its (row, group) for int8 / int16 (max|x| / 127).
    t = np.zeros_like(x64)
    for g in range(groups):
        block = slice(g * matrix.group_size, min(columns, (g + 1) * matrix.group_size))
        t[:, block] = np.abs(x64[:, block]).max(axis=1, keepdims=True) / 127
    roundings = gamma(columns + groups + {"weight-only": 4, "int8": 6, "int16": 12}[mode])
    if mode == "weight-only":
        size = np.abs(x64) @ magnitude.T
        activation_error = 0.0
    else:
        size = (np.abs(x64) + t) @ magnitude.T  # |t·a| ≤ |x| + t/2 (+ rounding)
        per_step = 0.5 + 381 * U if mode == "int8" else 1 / 508 + 382 * U
        activation_error = (t * per_step) @ np.abs(w).T
    if bias is not None:
        size = size + np.abs(bias.astype(np.float64))
    # Against the reference's own product: γ·size; int8 / int16 also against x·Ŵᵀ, which
    # adds the activations' rounding and a second float bound.
    bound = (1 if mode == "weight-only" else 2) * roundings * size + activation_error + U * np.abs(exact)
    error = np.abs(y.astype(np.float64) - exact)
    worst = np.unravel_index(np.argmax(error - bound), error.shape)
    if bound_of is None:
        assert np.all(error <= bound), f"{checked}: y{worst} = {y[worst]}, exact {exact[worst]}, bound {bound[worst]}"
    return error, bound


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: "-".join(map(str, s)))
def test_every_mode_agrees_with_numpy_on_the_dequantized_weights(rng, scheme):
    bits, group, mode = scheme
    w = (rng.standard_normal((37, 200)) * 0.1).astype(np.float32)
    tensor = arrowhead.quantize(w, bits=bits, group=group, mode=mode)
    matrix = arrowhead.QuantizedMatrix(tensor)
    assert matrix.shape == (37, 200) and matrix.bits == bits
    assert matrix.group_size == (group if isinstance(group, int) else 200)
    assert matrix.mode == ("float_minimum" if mode == "float_minimum" else "zero_point")
    bias = rng.standard_normal(37).astype(np.float32)
    for n in (1, 3, 40):
        x = rng.uniform(-2, 2, (n, 200)).astype(np.float32)
        for arithmetic in ("weight-only", "int8", "int16"):
            y = matrix.matmul(x, bias, mode=arithmetic)
            assert y.shape == (n, 37) and y.dtype == np.float32
            check_product(tensor, matrix, x, bias, y, arithmetic)
        no_bias = matrix.matmul(x, mode="weight-only")
        check_product(tensor, matrix, x, None, no_bias, "weight-only")


def test_each_mode_rounds_the_activations_as_it_says(rng):
    # One group of 8 columns keeps the float bound (γ₁₃·Σ|ŵ||x|) far below the activations'
    # rounding, and one activation of 1000 per row makes every other one's steps coarse:
    # int16 then breaks the weight-only bound, int8 the int16 one; each keeps its own.
    w = rng.standard_normal((16, 8)).astype(np.float32)
    tensor = arrowhead.quantize(w, bits=8, group=8)
    matrix = arrowhead.QuantizedMatrix(tensor)
    x = rng.uniform(-1, 1, (6, 8)).astype(np.float32)
    x[:, 0] = 1000
    results = {mode: matrix.matmul(x, mode=mode) for mode in ("weight-only", "int8", "int16")}

    def within(mode: str, bound_of: str) -> bool:
        error, bound = check_product(tensor, matrix, x, None, results[mode], mode, bound_of=bound_of)
        return bool(np.all(error <= bound))

    assert within("weight-only", "weight-only") and within("int16", "int16") and within("int8", "int8")
    assert not within("int16", "weight-only")
    assert not within("int8", "int16")


def test_batch_one_vector_threads_and_strided_rows_give_the_same_bits(rng):
    w = rng.standard_normal((300, 512)).astype(np.float32)
    matrix = arrowhead.QuantizedMatrix(arrowhead.quantize(w, bits=4, group=64))
    wide = rng.uniform(-1, 1, (70, 600)).astype(np.float32)
    x = wide[:, :512]  # rows 600 floats apart: read in place through the leading dimension
    for mode in ("weight-only", "int8", "int16"):
        one = matrix.matmul(x, mode=mode, threads=1)
        assert np.array_equal(one, matrix.matmul(np.ascontiguousarray(x), mode=mode, threads=2))
        assert np.array_equal(one, matrix.matmul(x.astype(np.float64), mode=mode))  # converted once
        vector = matrix.matmul(x[5], mode=mode)
        assert vector.shape == (300,)
        assert np.array_equal(vector, matrix.matmul(x[5:6], mode=mode)[0])
    assert matrix.matmul(np.zeros((0, 512), np.float32)).shape == (0, 300)
    # Read-only arrays (their address is taken another way) give the same bits.
    frozen, bias = np.ascontiguousarray(x), rng.standard_normal(300).astype(np.float32)
    expected = matrix.matmul(frozen, bias)
    frozen.setflags(write=False)
    bias.setflags(write=False)
    assert np.array_equal(matrix.matmul(frozen, bias), expected)
    # Into a caller's array: the same bits, the array itself returned.
    out = np.full((70, 300), np.nan, np.float32)
    assert matrix.matmul(x, mode="int8", out=out) is out
    assert np.array_equal(out, matrix.matmul(x, mode="int8"))
    row = np.empty(300, np.float32)
    assert np.array_equal(matrix.matmul(x[5], out=row), matrix.matmul(x[5]))
    for wrong in (np.empty((70, 299), np.float32), np.empty((70, 300)), np.empty((300, 70), np.float32).T, [0.0] * 300):
        with pytest.raises(arrowhead.InvalidArgumentError, match="'out' is .*expected a writeable C-contiguous float32"):
            matrix.matmul(x, out=wrong)


def test_a_matrix_loaded_from_a_quantized_file_is_the_tensors(tmp_path, rng):
    tensors = {
        "encoder.dense.weight": (rng.standard_normal((64, 384)) * 0.05).astype(np.float32),
        "embeddings.weight": rng.standard_normal((10, 8)).astype(np.float32),  # kept in float
    }
    source, quantized = tmp_path / "model.safetensors", tmp_path / "model.q.safetensors"
    write_safetensors(source, tensors)
    arrowhead.quantize_model(source, quantized, bits=4, group=32)
    loaded = arrowhead.QuantizedMatrix.load(quantized, "encoder.dense.weight")
    made = arrowhead.QuantizedMatrix(arrowhead.quantize(tensors["encoder.dense.weight"], bits=4, group=32))
    assert loaded.shape == (64, 384) and loaded.nbytes == made.nbytes
    # 4-bit codes in 4-bit containers, two floats per (row, group of 32).
    assert loaded.nbytes == 64 * 384 // 2 + 64 * 12 * 8
    x = rng.standard_normal((9, 384)).astype(np.float32)
    for mode in ("weight-only", "int8"):
        assert np.array_equal(loaded.matmul(x, mode=mode), made.matmul(x, mode=mode))
    with pytest.raises(arrowhead.InvalidArgumentError, match="stored in floating point"):
        arrowhead.QuantizedMatrix.load(quantized, "embeddings.weight")
    with pytest.raises(arrowhead.InvalidArgumentError, match="no quantized tensor 'encoder.dense.wieght'.*'encoder.dense.weight'"):
        arrowhead.QuantizedMatrix.load(quantized, "encoder.dense.wieght")
    with pytest.raises(arrowhead.ArrowheadIOError):
        arrowhead.QuantizedMatrix.load(tmp_path / "absent.safetensors", "encoder.dense.weight")
    with pytest.raises(arrowhead.CorruptFileError):
        arrowhead.QuantizedMatrix.load(source, "encoder.dense.weight")  # not a quantized file


def test_non_finite_activations_stay_in_their_row(rng):
    w = rng.standard_normal((20, 64)).astype(np.float32)
    matrix = arrowhead.QuantizedMatrix(arrowhead.quantize(w, bits=8, group=32))
    x = rng.standard_normal((4, 64)).astype(np.float32)
    clean = {mode: matrix.matmul(x, mode=mode) for mode in ("weight-only", "int8", "int16")}
    x[1, 7], x[2, 40] = np.nan, np.inf
    for mode, expected in clean.items():
        y = matrix.matmul(x, mode=mode)
        assert np.all(~np.isfinite(y[1])) and np.all(~np.isfinite(y[2])), mode
        assert np.array_equal(y[[0, 3]], expected[[0, 3]]), mode


def test_bad_input_is_a_clear_error(rng):
    tensor = arrowhead.quantize(rng.standard_normal((8, 96)).astype(np.float32), bits=4, group=32)
    matrix = arrowhead.QuantizedMatrix(tensor)
    x = rng.standard_normal((2, 96)).astype(np.float32)
    with pytest.raises(arrowhead.InvalidArgumentError, match=r"'x' has 95 columns .* 8×96: x must have 96 columns"):
        matrix.matmul(x[:, :95])
    with pytest.raises(arrowhead.InvalidArgumentError, match="3 dimensions"):
        matrix.matmul(x.reshape(1, 2, 96))
    with pytest.raises(arrowhead.InvalidArgumentError, match=r"'bias' has shape \(7,\); expected \(8,\)"):
        matrix.matmul(x, np.zeros(7, np.float32))
    with pytest.raises(arrowhead.InvalidArgumentError, match="mode 'int4' is unknown"):
        matrix.matmul(x, mode="int4")
    with pytest.raises(arrowhead.InvalidArgumentError, match="threads"):
        matrix.matmul(x, threads=0)
    with pytest.raises(arrowhead.DTypeError):
        matrix.matmul(np.array([["a"] * 96]))
    with pytest.raises(arrowhead.InvalidArgumentError, match="takes a QuantizedTensor"):
        arrowhead.QuantizedMatrix(np.zeros((8, 96), np.float32))
    # The matrix outlives the tensor it was made from; a closed matrix is an error.
    tensor.close()
    assert matrix.matmul(x).shape == (2, 8)
    with arrowhead.QuantizedMatrix(arrowhead.quantize(np.ones((4, 8), np.float32), bits=8, group=8)) as scoped:
        assert "QuantizedMatrix(shape=(4, 8), bits=8" in repr(scoped)
    with pytest.raises(arrowhead.ClosedError):
        scoped.matmul(np.ones((1, 8), np.float32))
    with pytest.raises(arrowhead.ClosedError):
        scoped.matmul(np.ones((0, 8), np.float32))


def test_quantized_tensors_and_matrices_copy_as_themselves_and_pickle_as_their_parts():
    import copy
    import pickle

    rng = np.random.default_rng(5)
    weights = rng.standard_normal((40, 200)).astype(np.float32)
    x = rng.standard_normal((7, 200)).astype(np.float32)
    for bits, group, mode in SCHEMES + [(4, 32, "symmetric")]:
        optimizer = "signed-max" if (bits, group, mode) == (4, 32, "symmetric") else "minmax"
        tensor = arrowhead.quantize(weights, bits=bits, group=group, mode=mode, optimizer=optimizer)
        matrix = arrowhead.QuantizedMatrix(tensor)
        for value in (tensor, matrix):
            assert copy.copy(value) is value and copy.deepcopy(value) is value
            assert copy.deepcopy([value, value]) == [value, value]
        restored = pickle.loads(pickle.dumps(tensor))
        assert restored is not tensor
        assert (restored.shape, restored.bits, restored.granularity, restored.group_size, restored.mode) == (
            tensor.shape, tensor.bits, tensor.granularity, tensor.group_size, tensor.mode)
        assert np.array_equal(restored.packed_codes, tensor.packed_codes)
        assert np.array_equal(restored.scales, tensor.scales) and np.array_equal(restored.offsets, tensor.offsets)
        assert np.array_equal(restored.dequantize(), tensor.dequantize())
        # A matrix pickles as its weights and multiplies bit for bit after the round trip, in
        # every mode; its tensor dequantizes to the original's values.
        again = pickle.loads(pickle.dumps(matrix))
        assert again is not matrix and again.shape == matrix.shape and again.nbytes == matrix.nbytes
        for product in ("weight-only", "int8", "int16"):
            assert np.array_equal(again.matmul(x, mode=product), matrix.matmul(x, mode=product)), (bits, group, mode, product)
        back = matrix.to_tensor()
        assert back.shape == (40, 200) and np.array_equal(back.dequantize(), tensor.dequantize())
        assert back.granularity == ("group" if isinstance(group, int) else "channel")
    tensor.close()
    with pytest.raises(arrowhead.ClosedError):
        pickle.dumps(tensor)
    matrix.close()
    with pytest.raises(arrowhead.ClosedError):
        pickle.dumps(matrix)
    with pytest.raises(TypeError, match="native Arrowhead handle cannot be pickled"):
        pickle.dumps(tensor._handle)


def test_a_quantized_matrix_reaches_a_spawned_process_by_pickle():
    import multiprocessing

    rng = np.random.default_rng(8)
    matrix = arrowhead.QuantizedMatrix(arrowhead.quantize(rng.standard_normal((24, 96)).astype(np.float32), bits=4, group=32))
    x = rng.standard_normal((3, 96)).astype(np.float32)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        y = pool.apply(_matmul_in_worker, (matrix, x))
    assert np.array_equal(y, matrix.matmul(x))


def _matmul_in_worker(matrix: arrowhead.QuantizedMatrix, x: np.ndarray) -> np.ndarray:
    return matrix.matmul(x)


def test_from_parts_takes_another_quantizers_codes():
    """GPTQ-style parts (4-bit codes, scales, integral zero-points per group of 32) dequantize
    to (q − z)·s, computed here in numpy, exactly; the tensor multiplies as a QuantizedMatrix."""
    rng = np.random.default_rng(11)
    rows, columns, group = 6, 96, 32
    q = rng.integers(0, 16, size=(rows, columns), dtype=np.int64)
    scales = rng.uniform(0.01, 0.1, size=rows * 3).astype(np.float32)
    zeros = rng.integers(0, 16, size=rows * 3).astype(np.int32)
    tensor = arrowhead.QuantizedTensor.from_parts((rows, columns), 4, scales, zeros, codes=q, group=group, mode="zero_point")
    g = np.arange(rows)[:, None] * 3 + np.arange(columns)[None, :] // group
    expected = (q.astype(np.float32) - zeros[g].astype(np.float32)) * scales[g]
    assert np.array_equal(tensor.dequantize(), expected)
    assert np.array_equal(tensor.codes, q) and tensor.packed_codes.shape == (rows, 48)
    # The packed form of the same tensor makes the same tensor.
    same = arrowhead.QuantizedTensor.from_parts(
        (rows, columns), 4, tensor.scales, tensor.offsets, packed_codes=tensor.packed_codes, group=group, mode="zero_point")
    assert np.array_equal(same.dequantize(), expected)
    x = rng.standard_normal((2, columns)).astype(np.float32)
    y = arrowhead.QuantizedMatrix(tensor).matmul(x)
    assert np.allclose(y, x.astype(np.float64) @ expected.T.astype(np.float64), rtol=1e-5, atol=1e-5)


def test_from_parts_errors_name_the_part():
    codes = np.ones((2, 16), np.uint8)
    ones, zeros = np.ones(4, np.float32), np.zeros(4, np.float32)
    make = arrowhead.QuantizedTensor.from_parts
    with pytest.raises(arrowhead.InvalidArgumentError, match="exactly one of codes="):
        make((2, 16), 4, ones, zeros, group=8)
    with pytest.raises(arrowhead.InvalidArgumentError, match="exactly one of codes="):
        make((2, 16), 4, ones, zeros, codes=codes, packed_codes=b"x" * 16, group=8)
    with pytest.raises(arrowhead.InvalidArgumentError, match=r"'codes' holds 256 at flat index 3; expected 0 … 255"):
        make((2, 16), 4, ones, zeros, codes=[1, 1, 1, 256] + [1] * 28, group=8)
    with pytest.raises(arrowhead.InvalidArgumentError, match=r"'codes' holds -1 at flat index 0"):
        make((2, 16), 4, ones, zeros, codes=[-1] + [1] * 31, group=8)
    with pytest.raises(arrowhead.InvalidArgumentError, match="code 16 at flat index 5 exceeds 15"):
        make((2, 16), 4, ones, zeros, codes=[1] * 5 + [16] + [1] * 26, group=8)
    with pytest.raises(arrowhead.DTypeError, match="'codes' has dtype float64"):
        make((2, 16), 4, ones, zeros, codes=codes.astype(np.float64), group=8)
    with pytest.raises(arrowhead.InvalidArgumentError, match="expected 32 codes for \\[2, 16\\], got 31"):
        make((2, 16), 4, ones, zeros, codes=codes.reshape(-1)[:31], group=8)
    with pytest.raises(arrowhead.InvalidArgumentError, match="expected 16 packed code bytes for \\[2, 16\\] at 4 bits, got 15"):
        make((2, 16), 4, ones, zeros, packed_codes=b"\x11" * 15, group=8)
    with pytest.raises(arrowhead.InvalidArgumentError, match="4 scales but 3 offsets"):
        make((2, 16), 4, ones, zeros[:3], codes=codes, group=8)
    with pytest.raises(arrowhead.InvalidArgumentError, match="expected 4 scales and offsets"):
        make((2, 16), 4, ones[:2], zeros[:2], codes=codes, group=8)
    with pytest.raises(arrowhead.InvalidArgumentError, match="group 1: scale nan is not finite"):
        make((2, 16), 4, np.array([1, np.nan, 1, 1], np.float32), zeros, codes=codes, group=8)
    with pytest.raises(arrowhead.InvalidArgumentError, match="group 2: zero-point 2.5 is not an integer"):
        make((2, 16), 4, ones, np.array([0, 0, 2.5, 0]), codes=codes, group=8, mode="zero_point")
    with pytest.raises(arrowhead.InvalidArgumentError, match="shape\\[1\\] = -16"):
        make((2, -16), 4, ones, zeros, codes=codes, group=8)
    with pytest.raises(arrowhead.InvalidArgumentError, match="not a sequence of sizes"):
        make(32, 4, ones, zeros, codes=codes, group=8)
    with pytest.raises(arrowhead.InvalidArgumentError, match="mode 'zero' is unknown"):
        make((2, 16), 4, ones, zeros, codes=codes, group=8, mode="zero")
    with pytest.raises(arrowhead.InvalidArgumentError, match="5-bit quantization is not supported"):
        make((2, 16), 5, ones, zeros, codes=codes, group=8)
    # A corrupted pickle is refused by the same checks.
    import pickle

    image = bytearray(pickle.dumps(arrowhead.quantize(np.arange(32, dtype=np.float32).reshape(2, 16), bits=4, group=8)))
    nan = np.float32(np.nan).tobytes()
    scales = arrowhead.quantize(np.arange(32, dtype=np.float32).reshape(2, 16), bits=4, group=8).scales.tobytes()
    position = bytes(image).index(scales)
    image[position:position + 4] = nan
    with pytest.raises(arrowhead.InvalidArgumentError, match="group 0: scale nan is not finite"):
        pickle.loads(bytes(image))


def test_load_refuses_nul_characters_in_the_path_and_the_name(tmp_path, rng):
    source, quantized = tmp_path / "model.safetensors", tmp_path / "model.q.safetensors"
    write_safetensors(source, {"layer.weight": (rng.standard_normal((16, 64)) * 0.05).astype(np.float32)})
    arrowhead.quantize_model(source, quantized, bits=4, group=32)
    assert arrowhead.QuantizedMatrix.load(quantized, "layer.weight").shape == (16, 64)
    with pytest.raises(arrowhead.InvalidArgumentError, match=r"name 'layer.weight\\x00junk' contains a NUL character"):
        arrowhead.QuantizedMatrix.load(quantized, "layer.weight\0junk")
    with pytest.raises(arrowhead.InvalidArgumentError, match="path .* contains a NUL character"):
        arrowhead.QuantizedMatrix.load(str(quantized) + "\0.bak", "layer.weight")


def test_a_matrix_closed_during_matmul_raises_closed_error(rng, monkeypatch):
    import arrowhead.quantization as quantization

    matrix = arrowhead.QuantizedMatrix(arrowhead.quantize(rng.standard_normal((8, 64)).astype(np.float32), bits=4))
    monkeypatch.setattr(quantization, "lib", CloseFirst(quantization.lib, "ah_qmatrix_matmul", matrix))
    with pytest.raises(arrowhead.ClosedError, match="the quantized matrix is closed"):
        matrix.matmul(np.ones((2, 64), dtype=np.float32))
