"""Loading libArrowheadC and declaring the C ABI (``arrowhead.h``) for ctypes.

The library is looked up, in order, at ``$ARROWHEAD_LIBRARY`` (a path to the shared library;
the test suite points it at the debug build) and next to this file in ``_lib/`` (where
``pip install`` puts it). Calls go through :class:`ctypes.CDLL`, which releases the GIL for
the duration of every foreign call, so kernels run in parallel with other Python threads.

Every declaration below mirrors ``Sources/CArrowhead/include/arrowhead.h``; the test
``test_c_abi.py`` checks that each function the header declares is declared here.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
from ctypes import POINTER, c_char_p, c_float, c_int32, c_int64, c_uint64, c_void_p
from pathlib import Path
from typing import Any, Callable, TypeVar

from ._arrays import INT32_MAX, c_string, integer
from .errors import ArrowheadError, ClosedError, InvalidHandleError, error_for_status

LIBRARY_VARIABLE = "ARROWHEAD_LIBRARY"
_LIBRARY_NAME = "libArrowheadC.dylib" if sys.platform == "darwin" else "libArrowheadC.so"

# Constants of arrowhead.h.
AH_OK = 0
AH_ERROR_CALLBACK = 9
METRICS = {"l2": 0, "ip": 1, "cosine": 2}
INDEX_KINDS = {"flat": 0, "hnsw": 1}
STORAGES = {"f32": 0, "int8": 1, "int4": 2}
GRANULARITIES = {"group": 0, "channel": 1, "tensor": 2}
MODES = {"float_minimum": 0, "zero_point": 1, "symmetric": 2}
QMATMUL_MODES = {"weight-only": 0, "int8": 1, "int16": 2}

#: int32_t (*ah_filter_fn)(int64_t id, void *context)
FILTER_FN = ctypes.CFUNCTYPE(c_int32, c_int64, c_void_p)
#: void (*ah_progress_fn)(int64_t done, int64_t total, void *context)
PROGRESS_FN = ctypes.CFUNCTYPE(None, c_int64, c_int64, c_void_p)


class TensorInfo(ctypes.Structure):
    """``ah_tensor_info``."""

    _fields_ = [
        ("bits", c_int32),
        ("granularity", c_int32),
        ("mode", c_int32),
        ("ndim", c_int32),
        ("group_size", c_int64),
        ("count", c_int64),
        ("rows", c_int64),
        ("columns", c_int64),
        ("group_count", c_int64),
        ("packed_bytes", c_int64),
        ("stored_bytes", c_int64),
    ]


class QMatrixInfo(ctypes.Structure):
    """``ah_qmatrix_info``."""

    _fields_ = [
        ("bits", c_int32),
        ("mode", c_int32),
        ("rows", c_int64),
        ("columns", c_int64),
        ("group_size", c_int64),
        ("bytes", c_int64),
    ]


class IndexInfo(ctypes.Structure):
    """``ah_index_info``."""

    _fields_ = [
        ("kind", c_int32),
        ("metric", c_int32),
        ("storage", c_int32),
        ("rerank", c_int32),
        ("dimension", c_int64),
        ("count", c_int64),
        ("m", c_int64),
        ("ef_construction", c_int64),
        ("ef_search", c_int64),
        ("memory_bytes", c_int64),
        ("layer0_links", c_int64),
    ]


class HNSWOptions(ctypes.Structure):
    """``ah_hnsw_options`` (fill with ``ah_hnsw_options_init`` first)."""

    _fields_ = [
        ("struct_size", c_int64),
        ("m", c_int64),
        ("ef_construction", c_int64),
        ("ef_search", c_int64),
        ("seed", c_uint64),
        ("layer0_links", c_int64),
        ("reuse_deleted_slots", c_int32),
        ("build_threads", c_int32),
    ]


class EncoderInfo(ctypes.Structure):
    """``ah_encoder_info``."""

    _fields_ = [
        ("dimension", c_int64),
        ("max_length", c_int64),
        ("hidden_size", c_int64),
        ("layers", c_int64),
        ("vocabulary_size", c_int64),
        ("normalized", c_int32),
        ("reserved", c_int32),
    ]


_handle = c_void_p
_out_handle = POINTER(c_void_p)
_pointer = c_void_p  # data pointers are passed as integer addresses (numpy's .ctypes.data)

# name: (restype, argtypes)
SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "ah_last_error": (c_char_p, []),
    "ah_last_status": (c_int32, []),
    "ah_status_name": (c_char_p, [c_int32]),
    "ah_string_free": (None, [c_void_p]),
    "ah_version": (c_char_p, []),
    "ah_abi_version": (c_int32, []),
    "ah_engine_create": (c_int32, [c_char_p, c_int32, _out_handle]),
    "ah_engine_free": (c_int32, [_handle]),
    "ah_engine_threads": (c_int32, [_handle, POINTER(c_int32)]),
    "ah_probe_json": (c_int32, [_handle, POINTER(c_void_p)]),
    "ah_gemm": (
        c_int32,
        [_handle, c_int32, c_int32, c_int64, c_int64, c_int64, c_float, _pointer, c_int64, _pointer, c_int64,
         c_float, _pointer, c_int64],
    ),
    "ah_distances": (
        c_int32,
        [_handle, c_int32, c_int64, c_int64, c_int64, _pointer, c_int64, _pointer, c_int64, _pointer, c_int64],
    ),
    "ah_quantize": (
        c_int32,
        [_handle, _pointer, POINTER(c_int64), c_int32, c_int32, c_int32, c_int64, c_int32, c_char_p, c_char_p,
         _out_handle],
    ),
    "ah_tensor_create": (
        c_int32,
        [_handle, POINTER(c_int64), c_int32, c_int32, c_int32, c_int64, c_int32, _pointer, c_int64, _pointer, _pointer,
         c_int64, _out_handle],
    ),
    "ah_tensor_create_from_codes": (
        c_int32,
        [_handle, POINTER(c_int64), c_int32, c_int32, c_int32, c_int64, c_int32, _pointer, c_int64, _pointer, _pointer,
         c_int64, _out_handle],
    ),
    "ah_tensor_describe": (c_int32, [_handle, POINTER(TensorInfo)]),
    "ah_tensor_shape": (c_int32, [_handle, POINTER(c_int64), c_int64]),
    "ah_tensor_dequantize": (c_int32, [_handle, _pointer, c_int64]),
    "ah_tensor_codes": (c_int32, [_handle, _pointer, c_int64]),
    "ah_tensor_packed_codes": (c_int32, [_handle, _pointer, c_int64]),
    "ah_tensor_scales": (c_int32, [_handle, _pointer, c_int64]),
    "ah_tensor_offsets": (c_int32, [_handle, _pointer, c_int64]),
    "ah_tensor_free": (c_int32, [_handle]),
    "ah_quantize_model": (c_int32, [_handle, c_char_p, c_char_p, c_char_p, POINTER(c_void_p)]),
    "ah_qmatrix_create": (c_int32, [_handle, _handle, _out_handle]),
    "ah_qmatrix_tensor": (c_int32, [_handle, _handle, _out_handle]),
    "ah_qmatrix_load": (c_int32, [_handle, c_char_p, c_char_p, _out_handle]),
    "ah_qmatrix_describe": (c_int32, [_handle, POINTER(QMatrixInfo)]),
    "ah_qmatrix_matmul": (
        c_int32, [_handle, _handle, c_int32, c_int64, _pointer, c_int64, _pointer, c_int32, _pointer, c_int64]
    ),
    "ah_qmatrix_free": (c_int32, [_handle]),
    "ah_index_create": (
        c_int32,
        [_handle, c_int32, c_int64, c_int32, c_int32, c_int32, c_int64, c_int64, c_int64, c_uint64, _out_handle],
    ),
    "ah_hnsw_options_init": (c_int32, [POINTER(HNSWOptions)]),
    "ah_index_create_hnsw": (c_int32, [_handle, c_int64, c_int32, c_int32, c_int32, POINTER(HNSWOptions), _out_handle]),
    "ah_index_free": (c_int32, [_handle]),
    "ah_index_add": (c_int32, [_handle, _pointer, c_int64, c_int64, _pointer, _pointer]),
    "ah_index_add_with_progress": (
        c_int32, [_handle, _pointer, c_int64, c_int64, _pointer, _pointer, PROGRESS_FN, c_void_p],
    ),
    "ah_index_search": (
        c_int32,
        [_handle, _pointer, c_int64, c_int64, c_int64, c_int64, c_int64, c_int32, _pointer, c_int64, FILTER_FN,
         c_void_p, _pointer, _pointer],
    ),
    "ah_index_remove": (c_int32, [_handle, _pointer, c_int64]),
    "ah_index_count": (c_int32, [_handle, POINTER(c_int64)]),
    "ah_index_contains": (c_int32, [_handle, c_int64, POINTER(c_int32)]),
    "ah_index_vector": (c_int32, [_handle, c_int64, _pointer, c_int64]),
    "ah_index_vectors": (c_int32, [_handle, _pointer, c_int64, _pointer, c_int64]),
    "ah_index_ids": (c_int32, [_handle, _pointer, c_int64, POINTER(c_int64)]),
    "ah_index_describe": (c_int32, [_handle, POINTER(IndexInfo)]),
    "ah_index_save": (c_int32, [_handle, c_char_p]),
    "ah_index_load": (c_int32, [_handle, c_char_p, c_int32, _out_handle]),
    "ah_encoder_load": (c_int32, [_handle, c_char_p, c_char_p, _out_handle]),
    "ah_encoder_load_with": (c_int32, [_handle, c_char_p, c_char_p, c_char_p, _out_handle]),
    "ah_encoder_activations": (c_int32, [_handle, POINTER(c_void_p)]),
    "ah_encoder_free": (c_int32, [_handle]),
    "ah_encoder_describe": (c_int32, [_handle, POINTER(EncoderInfo)]),
    "ah_encoder_weights": (c_int32, [_handle, POINTER(c_void_p)]),
    "ah_encoder_encode": (c_int32, [_handle, _pointer, _pointer, c_int64, c_int64, c_int32, _pointer, c_int64]),
    "ah_encoder_encode_with_progress": (
        c_int32, [_handle, _pointer, _pointer, c_int64, c_int64, c_int32, _pointer, c_int64, PROGRESS_FN, c_void_p],
    ),
}


def library_path() -> str:
    """Where the shared library is loaded from (see the module docstring)."""
    override = os.environ.get(LIBRARY_VARIABLE)
    if override:
        return override
    return str(Path(__file__).resolve().parent / "_lib" / _LIBRARY_NAME)


def _load() -> ctypes.CDLL:
    path = library_path()
    try:
        library = ctypes.CDLL(path)
    except OSError as error:
        hint = (
            f"${LIBRARY_VARIABLE} points to it"
            if os.environ.get(LIBRARY_VARIABLE)
            else "install the package with `pip install ./python` from the repository (it builds the library), "
            f"or set ${LIBRARY_VARIABLE} to a built {_LIBRARY_NAME}"
        )
        raise ImportError(f"arrowhead: cannot load the native library {path}: {error} ({hint})") from error
    for name, (restype, argtypes) in SIGNATURES.items():
        function = getattr(library, name)
        function.restype = restype
        function.argtypes = argtypes
    return library


lib = _load()

ABI_VERSION = 2
if lib.ah_abi_version() != ABI_VERSION:
    raise ImportError(
        f"arrowhead: {library_path()} has ABI version {lib.ah_abi_version()}, this package needs {ABI_VERSION}"
    )


def check(status: int) -> None:
    """Raises the exception for a failed call (the message is the calling thread's last error)."""
    if status != AH_OK:
        raise error_for_status(status, (lib.ah_last_error() or b"").decode("utf-8", "replace"))


def check_open(status: int, handle: "Handle", closed: str) -> None:
    """``check`` for a call on the object that owns ``handle``: where the call failed because
    ``close()`` released the handle meanwhile (on another thread, between the object's
    closed-check and the call), the documented ``ClosedError(closed)`` rather than the C
    side's invalid-handle error."""
    if status == InvalidHandleError.status and handle.value is None:
        raise ClosedError(closed)
    check(status)


def take_string(pointer: c_void_p) -> str:
    """Decodes a string the library allocated and releases it."""
    try:
        return ctypes.string_at(pointer).decode("utf-8")
    finally:
        lib.ah_string_free(pointer)


class Handle:
    """Owns one native handle; ``free`` (or garbage collection) releases it exactly once."""

    __slots__ = ("_value", "_free", "_lock", "__weakref__")

    def __init__(self, value: int, free: Callable[[Any], int]) -> None:
        self._value: int | None = value
        self._free = free
        self._lock = threading.Lock()

    @property
    def value(self) -> int | None:
        """The handle, or None once freed."""
        return self._value

    def free(self) -> None:
        """Releases the handle (idempotent)."""
        with self._lock:
            value, self._value = self._value, None
        if value is not None:
            check(self._free(value))

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a native Arrowhead handle cannot be pickled")

    def __del__(self) -> None:
        try:
            self.free()
        except (ArrowheadError, TypeError, AttributeError):  # interpreter shutdown or already gone
            pass


T = TypeVar("T")


class Immutable:
    """Mixin of the immutable native wrappers: ``copy.copy`` and ``copy.deepcopy`` return the
    object itself, as for ``tuple`` or ``str``."""

    __slots__ = ()

    def __copy__(self: T) -> T:
        return self

    def __deepcopy__(self: T, memo: dict[int, Any]) -> T:
        return self


class Engine:
    """A native engine: backend dispatch and a thread count (``ah_engine_create``)."""

    __slots__ = ("handle",)

    def __init__(self, threads: int | None = None, backend: str | None = None) -> None:
        count = 0 if threads is None else integer(threads, "threads", 1, INT32_MAX)
        out = c_void_p()
        check(lib.ah_engine_create(c_string(backend, "backend") if backend else None, count, ctypes.byref(out)))
        self.handle = Handle(out.value or 0, lib.ah_engine_free)

    @property
    def threads(self) -> int:
        """Threads the engine's kernels use."""
        value = c_int32()
        check(lib.ah_engine_threads(self.handle.value, ctypes.byref(value)))
        return value.value


_default_lock = threading.Lock()
_default: Engine | None = None


def default_engine() -> Engine:
    """The engine module-level functions and new indexes use (created on first use from
    ``ARROWHEAD_BACKEND`` / ``ARROWHEAD_THREADS``; replaced by ``set_num_threads``)."""
    global _default
    engine = _default
    if engine is None:
        with _default_lock:
            if _default is None:
                _default = Engine()
            engine = _default
    return engine


def set_default_engine(engine: Engine) -> None:
    """Replaces the default engine (the old one is released when nothing uses it)."""
    global _default
    with _default_lock:
        _default = engine
