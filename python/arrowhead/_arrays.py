"""How inputs become float32 buffers for the C ABI, and when that costs a copy.

The rules (documented in the package docstring):

* **numpy arrays** (and subclasses) are used in place when they are float32 and
  C-contiguous. Any other real dtype (float16/64, integers) or layout is converted once with
  ``numpy.ascontiguousarray(x, dtype=numpy.float32)``. For ``gemm`` and ``distances`` a
  float32 matrix whose rows are contiguous but spaced (a column slice such as ``x[:, :50]``)
  and, for ``gemm``, a transposed view (``x.T``) are also used in place, through the
  kernels' leading dimension and transpose flags.
* **Objects exposing the buffer protocol** (``memoryview``, ``array.array``, pyarrow
  buffers) and **pyarrow arrays** of fixed-size lists of float32 (e.g. a column read from
  Parquet or Arrow IPC) are never copied: they must already be float32, C-contiguous and
  free of nulls, otherwise :class:`~arrowhead.errors.InvalidArgumentError` says what to do.
  A copy of an Arrow column would defeat the reason for passing one.
* **Python sequences** (lists, tuples) are converted with ``numpy.asarray``.
* complex, bool, object, string and datetime dtypes are rejected with
  :class:`~arrowhead.errors.DTypeError`.
"""
from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from .errors import DTypeError, InvalidArgumentError

FLOAT32 = np.dtype(np.float32)
_ITEM = FLOAT32.itemsize

INT32_MAX = 2**31 - 1
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1


def integer(value: Any, name: str, minimum: int, maximum: int = INT64_MAX) -> int:
    """``value`` as an ``int`` in ``minimum … maximum``, the range of the C parameter it is
    passed as. ctypes converts a Python int by keeping its low bits, so without this check
    ``bits=2**32 + 4`` would quantize to 4 bits and ``dim=2**64 + 8`` make an 8-d index.
    bool and non-integers (``1.5``, ``"8"``) are refused rather than converted."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        bound = f" ≥ {minimum}" if minimum > INT64_MIN else ""
        raise InvalidArgumentError(f"{name} = {value!r}; expected an integer{bound}")
    number = int(value)
    if number < minimum:
        raise InvalidArgumentError(f"{name} = {number}; expected an integer ≥ {minimum}")
    if number > maximum:
        raise InvalidArgumentError(f"{name} = {number} is too large; expected an integer ≤ {maximum}")
    return number


def c_string(value: Any, name: str) -> bytes:
    """``value`` (a ``str``) as UTF-8 for a ``const char *`` parameter. A C string ends at its
    first NUL, so a string holding one would reach the library cut short (``"f32\\0junk"``
    read as ``"f32"``): it is refused instead."""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{name} = {value!r}; expected a string")
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidArgumentError(f"{name} {value!r} cannot be encoded as UTF-8: {error.reason}") from None
    return _without_nul(encoded, value, name)


def c_path(value: Any, name: str) -> bytes:
    """A path (``str``, ``bytes`` or ``os.PathLike``) as the bytes ``os.fsencode`` gives, for a
    ``const char *`` parameter; one holding a NUL is refused (the C side would read only the
    part before it: ``"a.ahi\\0.bak"`` would be ``"a.ahi"``)."""
    try:
        encoded = os.fsencode(value)
    except TypeError:
        raise InvalidArgumentError(f"{name} = {value!r}; expected a path (str, bytes or os.PathLike)") from None
    except UnicodeEncodeError as error:
        raise InvalidArgumentError(f"{name} {value!r} cannot be encoded for the file system: {error.reason}") from None
    return _without_nul(encoded, value, name)


def _without_nul(encoded: bytes, value: Any, name: str) -> bytes:
    if b"\0" in encoded:
        raise InvalidArgumentError(f"{name} {value!r} contains a NUL character (a C string would end there)")
    return encoded


def _describe(obj: Any) -> str:
    return type(obj).__module__ + "." + type(obj).__qualname__


def _is_pyarrow(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "pyarrow"


def _check_numeric(array: np.ndarray, name: str) -> None:
    if array.dtype.kind not in "fiu":
        raise DTypeError(
            f"'{name}' has dtype {array.dtype}; expected real numbers (float32 is used as is, other float and "
            "integer dtypes are converted once)"
        )


def _from_pyarrow(obj: Any, name: str) -> np.ndarray:
    """A zero-copy 2-D float32 view of a pyarrow (chunked) fixed-size-list array."""
    if hasattr(obj, "num_chunks"):  # ChunkedArray
        if obj.num_chunks != 1:
            raise InvalidArgumentError(
                f"'{name}' is a pyarrow ChunkedArray of {obj.num_chunks} chunks; pass one chunk at a time, "
                "or combine_chunks() (a copy)"
            )
        obj = obj.chunk(0)
    storage = getattr(obj, "storage", None)  # extension arrays (e.g. fixed_shape_tensor)
    if storage is not None and not hasattr(obj.type, "list_size"):
        obj = storage
    width = getattr(obj.type, "list_size", None)
    if width is None:
        raise InvalidArgumentError(
            f"'{name}' is a pyarrow array of {obj.type}; expected fixed-size lists of float32 (pa.list_(pa.float32(), d))"
        )
    if obj.null_count:
        raise InvalidArgumentError(f"'{name}' has {obj.null_count} null vectors; drop or fill them first")
    values = obj.flatten()  # the child values of this slice, without a copy
    if str(values.type) != "float":
        raise DTypeError(f"'{name}' holds {values.type} values; expected float32 (cast it with pyarrow.compute.cast)")
    if values.null_count:
        raise InvalidArgumentError(f"'{name}' has {values.null_count} null values inside its vectors")
    flat: np.ndarray = values.to_numpy(zero_copy_only=True)
    return flat.reshape(len(obj), width)


def _from_buffer(obj: Any, name: str) -> np.ndarray | None:
    """A zero-copy view of a buffer-protocol object, or None if it has no buffer."""
    try:
        view = memoryview(obj)
    except TypeError:
        return None
    array = np.asarray(view)
    if array.dtype != FLOAT32:
        raise DTypeError(
            f"'{name}' is a {_describe(obj)} buffer of format '{view.format}'; buffers are used without a copy and "
            "must hold float32 ('f'); convert with numpy.asarray(x, dtype=numpy.float32)"
        )
    if not array.flags.c_contiguous:
        raise InvalidArgumentError(
            f"'{name}' is a non-contiguous {_describe(obj)} buffer (strides {view.strides}); buffers are used without "
            "a copy and must be C-contiguous: pass numpy.ascontiguousarray(x)"
        )
    return array


def as_array(obj: Any, name: str) -> np.ndarray:
    """``obj`` as an ndarray of real numbers, without a copy where the rules allow it; may
    still need converting to float32 / C order (numpy input only: see ``float32``)."""
    if isinstance(obj, np.ndarray):
        _check_numeric(obj, name)
        return obj
    if _is_pyarrow(obj):
        return _from_pyarrow(obj, name)
    array = _from_buffer(obj, name)
    if array is not None:
        return array
    try:
        array = np.asarray(obj)
    except (TypeError, ValueError) as error:
        raise InvalidArgumentError(f"'{name}' ({_describe(obj)}) is not an array: {error}") from error
    _check_numeric(array, name)
    return array


def address(array: np.ndarray) -> int:
    """The address of ``array``'s first element. For a writeable C-contiguous array through a
    ctypes view of its buffer (about 0.3 µs, against 1 µs for ``array.ctypes.data``, which
    matters to calls of a few microseconds); ``array.ctypes.data`` otherwise."""
    if array.flags.writeable and array.flags.c_contiguous and array.size > 0:
        return ctypes.addressof(ctypes.c_char.from_buffer(array))
    return int(array.ctypes.data)


def float32(array: np.ndarray) -> np.ndarray:
    """C-contiguous float32 (no copy when it already is)."""
    return np.ascontiguousarray(array, dtype=FLOAT32)


def vectors(obj: Any, name: str, dimension: int | None = None) -> np.ndarray:
    """Rows of vectors as a C-contiguous float32 (n, d) array; a 1-D input of length d is one
    vector. Checks the dimension when given."""
    array = as_array(obj, name)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise InvalidArgumentError(f"'{name}' has {array.ndim} dimensions (shape {array.shape}); expected 2 (n × d) or 1")
    if dimension is not None and array.shape[1] != dimension:
        raise InvalidArgumentError(f"'{name}' has dimension {array.shape[1]}, the index has dimension {dimension}")
    return float32(array)


@dataclass(frozen=True)
class Operand:
    """A matrix as the kernels see it: base pointer, leading dimension, transposed or not."""

    array: np.ndarray  # keeps the memory alive for the call
    rows: int  # of the logical matrix
    columns: int
    leading: int  # elements between stored rows
    transposed: bool  # stored as the transpose (columns × rows)

    @property
    def address(self) -> int:
        return self.array.ctypes.data


def operand(obj: Any, name: str, allow_transposed: bool) -> Operand:
    """A 2-D matrix for gemm / distances, used in place when it is float32 with unit-stride
    rows (any row spacing) or, with ``allow_transposed``, unit-stride columns."""
    array = as_array(obj, name)
    if array.ndim != 2:
        raise InvalidArgumentError(f"'{name}' has {array.ndim} dimensions (shape {array.shape}); expected a 2-D matrix")
    rows, columns = array.shape
    if array.dtype == FLOAT32 and rows > 0 and columns > 0:
        row_stride, column_stride = array.strides
        if column_stride == _ITEM and row_stride % _ITEM == 0 and row_stride >= columns * _ITEM:
            return Operand(array, rows, columns, row_stride // _ITEM, False)
        if allow_transposed and row_stride == _ITEM and column_stride % _ITEM == 0 and column_stride >= rows * _ITEM:
            return Operand(array, rows, columns, column_stride // _ITEM, True)
    contiguous = float32(array)
    return Operand(contiguous, rows, columns, max(1, columns), False)


def small_integers(obj: Any, name: str, maximum: int) -> np.ndarray:
    """Integers in ``0 … maximum`` (≤ 255: codes or packed code bytes) as a flat C-contiguous
    uint8 array. ``bytes``/``bytearray`` are read as bytes; anything else goes through
    ``numpy.asarray`` and must have an integer dtype. A value out of range is an error
    naming its flat index (a cast would wrap 256 to 0 without a word)."""
    if isinstance(obj, (bytes, bytearray)):
        array = np.frombuffer(obj, dtype=np.uint8)
    else:
        try:
            array = np.asarray(obj)
        except (TypeError, ValueError) as error:
            raise InvalidArgumentError(f"'{name}' ({_describe(obj)}) is not an array: {error}") from error
    if array.dtype.kind not in "iu" and not (array.size == 0 and array.dtype.kind == "f"):
        raise DTypeError(f"'{name}' has dtype {array.dtype}; expected integers 0 … {maximum}")
    flat = array.reshape(-1)
    if flat.size:
        bad = np.flatnonzero((flat < 0) | (flat > maximum))
        if bad.size:
            index = int(bad[0])
            raise InvalidArgumentError(f"'{name}' holds {flat[index]} at flat index {index}; expected 0 … {maximum}")
    return np.ascontiguousarray(flat, dtype=np.uint8)


def int64_ids(obj: Any, name: str, count: int | None = None) -> np.ndarray:
    """Integer ids as a C-contiguous int64 1-D array (a scalar is one id)."""
    array = np.asarray(obj)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.dtype.kind == "O" and all(isinstance(v, int) and not isinstance(v, bool) for v in array.flat):
        # Python ints numpy could not fit in int64 (or uint64).
        raise InvalidArgumentError(f"'{name}' holds ids outside {INT64_MIN} … {INT64_MAX}")
    if array.dtype.kind not in "iu" and not (array.size == 0 and array.dtype.kind == "f"):
        raise DTypeError(f"'{name}' has dtype {array.dtype}; expected integers")
    if array.ndim != 1:
        raise InvalidArgumentError(f"'{name}' has shape {array.shape}; expected a 1-D sequence of ids")
    if array.dtype.kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
        raise InvalidArgumentError(f"'{name}' holds ids above {INT64_MAX}")
    if count is not None and array.shape[0] != count:
        raise InvalidArgumentError(f"{array.shape[0]} ids given for {count} vectors")
    return np.ascontiguousarray(array, dtype=np.int64)


def chunks(obj: Any) -> Iterator[Any]:
    """The chunks of a pyarrow ChunkedArray (each used without a copy), else ``obj`` itself."""
    if _is_pyarrow(obj) and hasattr(obj, "num_chunks"):
        yield from obj.chunks
    else:
        yield obj
