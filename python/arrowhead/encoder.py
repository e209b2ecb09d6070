"""Sentence embeddings: a sentence-transformers model (e.g. all-MiniLM-L6-v2) run by
Arrowhead's text encoder (``ah_encoder_*`` in the C ABI).

>>> with arrowhead.Encoder("path/to/all-MiniLM-L6-v2") as encoder:
...     vectors = encoder.encode(["A man is eating food.", "Someone eats."])   # 2 × 384 float32
>>> vectors = arrowhead.embed(texts, "path/to/all-MiniLM-L6-v2")            # load, encode, free
"""
from __future__ import annotations

import ctypes
import os
from typing import Any, Callable, Iterable, Sequence, Union

import numpy as np
from numpy.typing import NDArray

from . import _arrays
from ._native import PROGRESS_FN, Engine, Immutable, EncoderInfo, Handle, check, check_open, default_engine, lib, take_string
from .errors import ClosedError, DTypeError, InvalidArgumentError

__all__ = ["Encoder", "embed"]

PathLike = Union[str, "os.PathLike[str]"]
Texts = Union[str, Sequence[str], Iterable[str]]


def _positive(value: object, name: str, maximum: int = _arrays.INT64_MAX) -> int:
    return _arrays.integer(value, name, 1, maximum)


def _utf8(texts: Texts) -> tuple[list[bytes], bool]:
    """The texts as UTF-8 bytes, and whether a single ``str`` was given."""
    if isinstance(texts, str):
        items: list[object] = [texts]
        single = True
    elif isinstance(texts, (bytes, bytearray, memoryview)):
        raise DTypeError(f"texts is {type(texts).__name__}; expected a str or a sequence of str (decode bytes first)")
    else:
        try:
            items = list(texts)  # type: ignore[arg-type]
        except TypeError:
            raise DTypeError(f"texts is {type(texts).__name__}; expected a str or a sequence of str") from None
        single = False
    encoded = []
    for position, text in enumerate(items):
        if not isinstance(text, str):
            raise DTypeError(f"texts[{position}] is {type(text).__name__} ({text!r:.40}); expected str")
        try:
            encoded.append(text.encode("utf-8"))
        except UnicodeEncodeError as error:
            raise InvalidArgumentError(f"texts[{position}] cannot be encoded as UTF-8: {error.reason} at {error.start}") from None
    return encoded, single


class Encoder(Immutable):
    """A sentence-transformers text encoder loaded once, for many :meth:`encode` calls.

    ``model_dir`` is a sentence-transformers folder (``modules.json``, ``config.json``,
    ``model.safetensors``, tokenizer files, ``1_Pooling/config.json``); BERT-family models
    with mean / CLS / max pooling are supported. ``weights`` says how the matrices are held:
    ``"f32"`` (Float32), ``"int8"`` (INT8, groups of 64, quantized on load, int8 activations:
    cosine to the Float32 embedding ≈ 0.999 on MiniLM, ~3× faster), ``"int4"`` (INT4 g64,
    grid optimizer; cosine ≈ 0.96), ``"auto"`` (as the folder holds them: an Arrowhead
    quantized ``model.safetensors`` runs quantized); a kind this build does not implement raises
    :class:`~arrowhead.errors.UnsupportedError` listing the ones it does. ``threads``: for
    the encoder's kernels (default: the module's, see :func:`arrowhead.set_num_threads`).
    ``activations``: how quantized layers multiply (``None``: ``"int8"``; ``"weight-only"``
    keeps float32 activations — the weights' error only, slower on batches; ``"int16"`` two
    int8 digits, about the weight-only error); given with float32 weights it raises
    :class:`~arrowhead.errors.InvalidArgumentError` (nothing quantized to apply it to).

    A missing folder or file raises :class:`~arrowhead.errors.ArrowheadIOError` (an
    ``OSError``) naming it; a malformed configuration or weights file
    :class:`~arrowhead.errors.CorruptFileError`; a NaN or ±inf weight
    :class:`~arrowhead.errors.NonFiniteError` naming the tensor and the index. Close the encoder (or use it as a context
    manager) to release its weights deterministically; a closed encoder raises
    :class:`~arrowhead.errors.ClosedError`. One encoder may be used from several Python
    threads at once (the GIL is released while it encodes).

    An encoder pickles (for ``multiprocessing`` workers, …) as its arguments, with
    ``model_dir`` made absolute: unpickling loads the folder again, so it must still be
    there. ``copy.copy`` and ``copy.deepcopy`` return the encoder itself (it is immutable).
    """

    def __init__(
        self, model_dir: PathLike, weights: str = "f32", *, threads: int | None = None, activations: str | None = None
    ) -> None:
        if not isinstance(weights, str):
            raise InvalidArgumentError(f"weights = {weights!r}; expected a string such as 'f32'")
        if activations is not None and not isinstance(activations, str):
            raise InvalidArgumentError(f"activations = {activations!r}; expected None, 'weight-only', 'int8' or 'int16'")
        folder = _arrays.c_path(model_dir, "model_dir")
        weights_name = _arrays.c_string(weights, "weights")
        activations_name = None if activations is None else _arrays.c_string(activations, "activations")
        engine = Engine(threads=_positive(threads, "threads", _arrays.INT32_MAX)) if threads is not None else default_engine()
        out = ctypes.c_void_p()
        check(lib.ah_encoder_load_with(engine.handle.value, folder, weights_name, activations_name, ctypes.byref(out)))
        self._handle = Handle(out.value or 0, lib.ah_encoder_free)
        info = self._info()
        self._dimension = int(info.dimension)
        self._max_length = int(info.max_length)
        self._normalized = bool(info.normalized)
        self._path = os.fspath(model_dir)
        self._arguments = (os.path.abspath(self._path), weights, threads, activations)

    def _value(self) -> int:
        value = self._handle.value
        if value is None:
            raise ClosedError("the encoder is closed")
        return value

    def _check(self, status: int) -> None:
        check_open(status, self._handle, "the encoder is closed")

    def _info(self) -> EncoderInfo:
        info = EncoderInfo()
        self._check(lib.ah_encoder_describe(self._value(), ctypes.byref(info)))
        return info

    @property
    def dimension(self) -> int:
        """Floats per embedding (384 for all-MiniLM-L6-v2)."""
        return self._dimension

    @property
    def max_length(self) -> int:
        """Tokens read per text, ``[CLS]`` and ``[SEP]`` included; longer texts are truncated."""
        return self._max_length

    @property
    def normalized(self) -> bool:
        """Whether embeddings have unit length (the model ends with a Normalize module)."""
        return self._normalized

    @property
    def weights(self) -> str:
        """The ``weights`` the encoder was loaded with (``"f32"``, ``"int8"``, ``"int4"`` or
        ``"auto"``). For ``"auto"`` it stays ``"auto"`` whatever the folder holds: whether the
        layers run quantized shows in :attr:`activations` (``None`` when they are float32)."""
        out = ctypes.c_void_p()
        self._check(lib.ah_encoder_weights(self._value(), ctypes.byref(out)))
        return take_string(out)

    @property
    def activations(self) -> str | None:
        """How the quantized layers multiply their activations (``"weight-only"``, ``"int8"``
        or ``"int16"``); ``None`` when the weights are float32."""
        out = ctypes.c_void_p()
        self._check(lib.ah_encoder_activations(self._value(), ctypes.byref(out)))
        return take_string(out) or None

    def encode(
        self, texts: Texts, batch: int = 32, threads: int | None = None, *,
        progress: Callable[[int, int], object] | None = None,
    ) -> NDArray[np.float32]:
        """Embeds ``texts``: a new float32 array of shape ``(len(texts), dimension)``, row i
        for text i (a single ``str`` gives shape ``(dimension,)``).

        ``batch``: texts per forward pass (texts are sorted by length first, so the result
        does not depend on it beyond float rounding). ``threads``: for this call (default:
        the encoder's). Any text is accepted, the empty one included; texts are truncated at
        :attr:`max_length` tokens. Non-``str`` items raise
        :class:`~arrowhead.errors.DTypeError`. The GIL is released while encoding.

        ``progress``: called as ``progress(done, total)`` with the texts embedded so far,
        after each batch (at most about 200 times, ``done`` increasing, last with
        ``done == total``), e.g. to drive a ``tqdm(total=len(texts))`` bar. An exception it
        raises stops further calls and is re-raised when the encoding has finished.
        """
        handle = self._value()
        if progress is not None and not callable(progress):
            raise InvalidArgumentError(f"progress must be callable(done, total), got {type(progress).__name__}")
        batch_size = _positive(batch, "batch")
        thread_count = 0 if threads is None else _positive(threads, "threads", _arrays.INT32_MAX)
        encoded, single = _utf8(texts)
        count = len(encoded)
        out = np.empty((count, self._dimension), dtype=np.float32)
        if count:
            # One buffer holds every text (plus a final NUL so that no pointer is NULL, even
            # when every text is empty); lengths let texts contain NUL characters.
            lengths = np.fromiter((len(text) for text in encoded), dtype=np.int64, count=count)
            blob = np.frombuffer(b"".join(encoded) + b"\0", dtype=np.uint8)
            starts = np.zeros(count, dtype=np.int64)
            np.cumsum(lengths[:-1], out=starts[1:])
            pointers = starts.astype(np.uint64) + np.uint64(blob.ctypes.data)
            if progress is None:
                self._check(
                    lib.ah_encoder_encode(
                        handle, pointers.ctypes.data, lengths.ctypes.data, count, batch_size, thread_count,
                        out.ctypes.data, out.size,
                    )
                )
            else:
                failure: list[BaseException] = []

                def report(done: int, total: int, _context: Any) -> None:
                    if failure:
                        return
                    try:
                        progress(done, total)
                    except BaseException as error:  # noqa: BLE001 - re-raised below
                        failure.append(error)

                self._check(
                    lib.ah_encoder_encode_with_progress(
                        handle, pointers.ctypes.data, lengths.ctypes.data, count, batch_size, thread_count,
                        out.ctypes.data, out.size, PROGRESS_FN(report), None,
                    )
                )
                if failure:
                    raise failure[0]
        return out[0] if single else out

    def close(self) -> None:
        """Releases the encoder (idempotent). An encode running on another thread finishes first."""
        self._handle.free()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles the encoder as its arguments (see the class documentation)."""
        self._value()  # a closed encoder raises ClosedError rather than pickling
        path, weights, threads, activations = self._arguments
        return (_encoder_from_arguments, (path, weights, threads, activations))

    def __enter__(self) -> "Encoder":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._handle.value is None:
            return "Encoder(closed)"
        return (
            f"Encoder({self._path!r}, weights={self.weights!r}, activations={self.activations!r}, "
            f"dimension={self._dimension}, max_length={self._max_length})"
        )


def embed(
    texts: Texts, model_dir: PathLike, weights: str = "f32", batch: int = 32, threads: int | None = None,
    activations: str | None = None, *, progress: Callable[[int, int], object] | None = None,
) -> NDArray[np.float32]:
    """Embeds ``texts`` with the sentence-transformers model in ``model_dir``: a float32 array
    of shape ``(len(texts), dimension)`` (``(dimension,)`` for a single ``str``).

    Loads the model, encodes, and releases it: to embed several times, keep an
    :class:`Encoder` instead. ``weights``, ``batch``, ``threads``, ``activations`` and
    ``progress`` as in :class:`Encoder` and :meth:`Encoder.encode`.

    >>> vectors = arrowhead.embed(["A man is eating food.", "Someone eats."], "all-MiniLM-L6-v2")
    >>> vectors.shape
    (2, 384)
    """
    with Encoder(model_dir, weights=weights, threads=threads, activations=activations) as encoder:
        return encoder.encode(texts, batch=batch, progress=progress)


def _encoder_from_arguments(model_dir: str, weights: str, threads: int | None, activations: str | None) -> Encoder:
    """An encoder loaded again from its pickled arguments."""
    return Encoder(model_dir, weights, threads=threads, activations=activations)
