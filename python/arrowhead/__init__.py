"""Arrowhead from Python: SIMD/BLAS-accelerated kernels, weight quantization and
nearest-neighbour search, through the C ABI of the Swift library (``libArrowheadC``).

>>> import arrowhead, numpy as np
>>> arrowhead.probe()["cpu"]["architecture"]
'x86-64'
>>> c = arrowhead.gemm(np.ones((2, 3), np.float32), np.ones((3, 4), np.float32))   # 2 × 4 of 3.0
>>> q = arrowhead.quantize(weights, bits=4, group=64)            # QuantizedTensor
>>> y = arrowhead.QuantizedMatrix(q).matmul(x)                   # x @ Ŵ.T on the codes
>>> index = arrowhead.Index(50, metric="cosine", kind="hnsw")
>>> index.add(vectors); distances, ids = index.search(queries, k=10)
>>> vectors = arrowhead.embed(["A man is eating food."], "all-MiniLM-L6-v2")   # 1 × 384

Arrays in: numpy float32 C-contiguous arrays, float32 buffers (``memoryview``) and pyarrow
fixed-size-list float32 arrays are read in place, without a copy; other numpy dtypes
(float64, float16, integers) and layouts are converted once; non-numpy objects that would
need a copy are rejected rather than copied silently (see ``arrowhead._arrays``). Arrays
out are new numpy arrays that own their memory.

Threads: every native call releases the GIL (ctypes), so searches, gemm and quantization
from several Python threads run in parallel. Kernels use ``ARROWHEAD_THREADS`` threads (all
cores by default); :func:`set_num_threads` changes it.

Errors: every failure raises a subclass of :class:`errors.ArrowheadError` that also derives
from ``ValueError`` (bad input), ``OSError`` (files) or ``RuntimeError`` (handles, empty
index, internal), with the library's message.

Submodules: ``arrowhead.calibration`` (imported on first use).
"""
from __future__ import annotations

import importlib
from typing import Any

from . import errors
from ._native import lib as _lib
from .encoder import Encoder, embed
from .engine import distances, gemm, get_num_threads, probe, set_num_threads
from .errors import (
    ArrowheadError,
    ArrowheadIOError,
    ClosedError,
    CorruptFileError,
    DTypeError,
    EmptyIndexError,
    FilterAbortedError,
    InternalError,
    InvalidArgumentError,
    InvalidHandleError,
    NonFiniteError,
    UnknownIDError,
    UnsupportedError,
)
from .index import Index
from .quantization import QuantizedMatrix, QuantizedTensor, quantize, quantize_model

__version__: str = _lib.ah_version().decode()

__all__ = [
    "__version__",
    "probe",
    "gemm",
    "distances",
    "set_num_threads",
    "get_num_threads",
    "quantize",
    "quantize_model",
    "QuantizedTensor",
    "QuantizedMatrix",
    "Index",
    "Encoder",
    "embed",
    "errors",
    "ArrowheadError",
    "ArrowheadIOError",
    "ClosedError",
    "CorruptFileError",
    "DTypeError",
    "EmptyIndexError",
    "FilterAbortedError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidHandleError",
    "NonFiniteError",
    "UnknownIDError",
    "UnsupportedError",
]

# Submodules imported on first access, so that the package imports without them (and
# without their dependencies) until they are used.
_LAZY_SUBMODULES = ("calibration",)


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        try:
            module = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise  # the submodule exists but one of its own imports is missing
            raise AttributeError(f"module 'arrowhead' has no submodule {name!r} in this build") from error
        globals()[name] = module
        return module
    raise AttributeError(f"module 'arrowhead' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
