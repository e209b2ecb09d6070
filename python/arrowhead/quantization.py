"""Weight quantization: one tensor (``quantize`` → :class:`QuantizedTensor`) or a whole
safetensors model (``quantize_model``), and products computed on quantized weights
(:class:`QuantizedMatrix`)."""
from __future__ import annotations

import ctypes
import json
import os
from typing import Any, Mapping, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _arrays
from ._native import (
    GRANULARITIES,
    MODES,
    QMATMUL_MODES,
    Handle,
    Immutable,
    QMatrixInfo,
    TensorInfo,
    check,
    check_open,
    default_engine,
    lib,
    take_string,
)
from .errors import ClosedError, InvalidArgumentError

__all__ = ["quantize", "quantize_model", "QuantizedTensor", "QuantizedMatrix"]

PathLike = Union[str, "os.PathLike[str]"]
_MODE_NAMES = {code: name for name, code in MODES.items()}
_GRANULARITY_NAMES = {code: name for name, code in GRANULARITIES.items()}


class QuantizedTensor(Immutable):
    """A quantized tensor: packed integer codes plus one scale and one offset per group.

    A tensor of shape ``(d0, d1, …)`` is a matrix of ``d0`` rows by ``d1·d2·…`` columns; groups
    of ``group_size`` consecutive weights of a row share parameters, numbered row by row
    (group = row · groups_per_row + column // group_size). Reconstruction:

    * ``float_minimum``: x̂ = q·s + m
    * ``zero_point``:    x̂ = (q − z)·s  (z integral)
    * ``symmetric``:     x̂ = (q − 2^(bits−1))·s

    The tensor is immutable and owns a native handle, released by :meth:`close` (or when the
    object is garbage collected). Every accessor returns a new numpy array. ``copy.copy`` and
    ``copy.deepcopy`` return the tensor itself (it is immutable); it pickles as its stored
    parts (packed codes, scales, offsets, shape, scheme), checked again when unpickled.
    :meth:`from_parts` makes a tensor from codes and parameters, e.g. another quantizer's.
    """

    __slots__ = ("_handle", "_info", "_shape")

    def __init__(self, handle: int) -> None:
        self._handle = Handle(handle, lib.ah_tensor_free)
        info = TensorInfo()
        check(lib.ah_tensor_describe(handle, ctypes.byref(info)))
        shape = (ctypes.c_int64 * max(1, info.ndim))()
        check(lib.ah_tensor_shape(handle, shape, info.ndim))
        self._info = info
        self._shape = tuple(int(shape[i]) for i in range(info.ndim))

    def _value(self) -> int:
        value = self._handle.value
        if value is None:
            raise ClosedError("the quantized tensor is closed")
        return value

    def _check(self, status: int) -> None:
        check_open(status, self._handle, "the quantized tensor is closed")

    @property
    def shape(self) -> tuple[int, ...]:
        """The original tensor's shape (``(1,)`` for a 0-d one: see :func:`quantize`)."""
        return self._shape

    @property
    def bits(self) -> int:
        """Bits per code: 2, 3, 4 or 8."""
        return int(self._info.bits)

    @property
    def mode(self) -> str:
        """``"float_minimum"``, ``"zero_point"`` or ``"symmetric"``."""
        return _MODE_NAMES[self._info.mode]

    @property
    def granularity(self) -> str:
        """``"group"``, ``"channel"`` (one group per row) or ``"tensor"`` (one group)."""
        return _GRANULARITY_NAMES[self._info.granularity]

    @property
    def group_size(self) -> int:
        """Weights per group (the last group of a row may be shorter)."""
        return int(self._info.group_size)

    @property
    def nbytes(self) -> int:
        """Stored bytes: packed codes plus the parameters as a file stores them."""
        return int(self._info.stored_bytes)

    @property
    def bits_per_weight(self) -> float:
        """Stored bits per weight, parameters included."""
        count = int(self._info.count)
        return 8.0 * self.nbytes / count if count else 0.0

    @property
    def codes(self) -> NDArray[np.uint8]:
        """One unpacked code per weight (0 … 2^bits − 1), shaped like the tensor."""
        out = np.empty(self._shape, dtype=np.uint8)
        self._check(lib.ah_tensor_codes(self._value(), out.ctypes.data, out.size))
        return out

    @property
    def packed_codes(self) -> NDArray[np.uint8]:
        """The packed codes as stored: rows × ⌈columns·bits/8⌉ bytes, each row a little-endian
        bit stream (code j at bits j·bits … j·bits + bits − 1)."""
        rows = int(self._info.rows)
        out = np.empty((rows, int(self._info.packed_bytes) // max(rows, 1)), dtype=np.uint8)
        self._check(lib.ah_tensor_packed_codes(self._value(), out.ctypes.data, out.size))
        return out

    @property
    def scales(self) -> NDArray[np.float32]:
        """One scale per group, in group order (1-D)."""
        out = np.empty(int(self._info.group_count), dtype=np.float32)
        self._check(lib.ah_tensor_scales(self._value(), out.ctypes.data, out.size))
        return out

    @property
    def offsets(self) -> NDArray[np.float32]:
        """One offset per group: the float minimum m, the zero-point z, or 2^(bits−1) for
        symmetric tensors (1-D)."""
        out = np.empty(int(self._info.group_count), dtype=np.float32)
        self._check(lib.ah_tensor_offsets(self._value(), out.ctypes.data, out.size))
        return out

    def dequantize(self) -> NDArray[np.float32]:
        """Ŵ as float32, of shape :attr:`shape` — the original's, ``(1,)`` for a 0-d one
        (bit-identical to ``arrowhead dequantize``)."""
        out = np.empty(self._shape, dtype=np.float32)
        self._check(lib.ah_tensor_dequantize(self._value(), out.ctypes.data, out.size))
        return out

    def close(self) -> None:
        """Releases the native tensor (idempotent); accessors then raise ``ClosedError``."""
        self._handle.free()

    @classmethod
    def from_parts(
        cls,
        shape: Sequence[int],
        bits: int,
        scales: ArrayLike,
        offsets: ArrayLike,
        *,
        codes: ArrayLike | None = None,
        packed_codes: ArrayLike | bytes | None = None,
        group: int | str = 64,
        mode: str = "float_minimum",
    ) -> "QuantizedTensor":
        """Makes a tensor from its parts: the codes (exactly one of ``codes`` or
        ``packed_codes``), one scale and one offset per group, and the scheme. For codes that
        another quantizer produced (GPTQ, AWQ, a GGUF file: integer codes, scales and
        zero-points) or that :attr:`codes` / :attr:`packed_codes` / :attr:`scales` /
        :attr:`offsets` returned.

        Args:
            shape: the tensor's shape (rows = first dimension, columns = the rest).
            bits: 2, 3, 4 or 8.
            scales, offsets: one per group, in group order (group = row · groups_per_row +
                column // group_size); converted to float32. Offsets are float minima
                (``"float_minimum"``), integral zero-points 0 … 2^bits − 1
                (``"zero_point"``), or 2^(bits−1) (``"symmetric"``).
            codes: one integer code per weight (0 … 2^bits − 1), any shape with the
                tensor's number of elements, row-major.
            packed_codes: the stored form (``bytes`` or an integer array): each row a
                little-endian bit stream padded to a byte, as :attr:`packed_codes` returns.
            group, mode: as for :func:`quantize`.

        Everything is checked before a tensor exists: counts against the shape and scheme,
        every code within ``bits``, finite parameters (scales ≥ 0 except symmetric ones),
        parameters under which every code dequantizes to a finite float32, and a group
        with scale 0 holding only the code the quantizer writes for one. A wrong part raises
        ``InvalidArgumentError`` naming it (the group, the flat index, the counts).

        >>> t = QuantizedTensor.from_parts((2, 64), 4, scales, zeros, codes=q, group=32, mode="zero_point")
        >>> t.dequantize()   # (q − z)·s per group
        """
        if (codes is None) == (packed_codes is None):
            raise InvalidArgumentError("give exactly one of codes= (one per weight) or packed_codes= (the stored bytes)")
        try:
            dimensions = [_arrays.integer(d, f"shape[{i}]", 0) for i, d in enumerate(shape)]
        except TypeError as error:
            raise InvalidArgumentError(f"shape {shape!r} is not a sequence of sizes") from error
        bits, granularity, size, mode_code = _scheme(bits, group, mode)
        scale_values = _arrays.float32(_arrays.as_array(scales, "scales")).reshape(-1)
        offset_values = _arrays.float32(_arrays.as_array(offsets, "offsets")).reshape(-1)
        if scale_values.size != offset_values.size:
            raise InvalidArgumentError(f"{scale_values.size} scales but {offset_values.size} offsets; expected one of each per group")
        dims = (ctypes.c_int64 * max(1, len(dimensions)))(*dimensions)
        engine = default_engine()  # held across the call: set_num_threads may replace (and free) the default
        out = ctypes.c_void_p()
        if codes is not None:
            values = _arrays.small_integers(codes, "codes", 255)
            function = lib.ah_tensor_create_from_codes
        else:
            values = _arrays.small_integers(packed_codes, "packed_codes", 255)
            function = lib.ah_tensor_create
        check(
            function(
                engine.handle.value, dims, len(dimensions), bits, granularity, size, mode_code, values.ctypes.data, values.size,
                scale_values.ctypes.data, offset_values.ctypes.data, scale_values.size, ctypes.byref(out),
            )
        )
        return cls(out.value or 0)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its stored parts (about the size of the quantized file's share), rebuilt
        # and checked by from_parts.
        group: int | str = self.group_size if self.granularity == "group" else self.granularity
        return (
            _tensor_from_parts,
            (self._shape, self.bits, group, self.mode, self.packed_codes.tobytes(),
             self.scales.astype("<f4").tobytes(), self.offsets.astype("<f4").tobytes()),
        )

    def __enter__(self) -> "QuantizedTensor":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"QuantizedTensor(shape={self._shape}, bits={self.bits}, granularity={self.granularity!r}, "
            f"group_size={self.group_size}, mode={self.mode!r}, nbytes={self.nbytes})"
        )


class QuantizedMatrix(Immutable):
    """A quantized weight matrix Ŵ (``rows`` outputs × ``columns`` inputs) repacked for
    products computed on its codes: ``matmul(x)`` returns ``x @ Ŵ.T (+ bias)`` — a linear
    layer, as ``torch.nn.functional.linear(x, Ŵ, bias)`` — without expanding Ŵ to float32.

    >>> w = arrowhead.quantize(weights, bits=4, group=64)      # weights: 1536 × 384
    >>> layer = arrowhead.QuantizedMatrix(w)                   # repacked once
    >>> y = layer.matmul(x)                                    # x: (n, 384) → y: (n, 1536)
    >>> y = layer.matmul(x, bias, mode="int8")                 # int8 activations
    >>> layer = arrowhead.QuantizedMatrix.load("model.q.safetensors", "encoder.layer.0.output.dense.weight")

    Modes (``matmul(..., mode=)``):

    * ``"weight-only"`` (default): float32 activations; the result is ``x @ Ŵ.T`` up to
      float32 rounding, so the only error is the weights'. At batch 1 the kernel reads the
      packed codes once (bandwidth-bound: INT4 with groups of 64 holds 5 bits per weight, 6.4×
      fewer bytes than float32).
    * ``"int8"``: each (row, weight group) of ``x`` rounded to int8 and multiplied with
      integer dot products (AVX512-VNNI / AVX2): fastest on batches; adds the activations'
      rounding, ``|x − x̂| ≤ max|x in the group| / 254``.
    * ``"int16"``: activations as two int8 digits (about 16 bits): the weight-only error at
      twice the integer work of int8.

    The matrix holds 4 bits per weight for 2…4-bit codes, 8 for 8-bit, plus two float32 per
    (row, group) (:attr:`nbytes`); it does not depend on the tensor it was made from. It is
    immutable and may be used from several threads at once; :meth:`close` (or garbage
    collection) releases it. ``copy.copy`` and ``copy.deepcopy`` return the matrix itself; it
    pickles as its weights (:meth:`to_tensor`), repacked when unpickled, so it reaches
    ``multiprocessing`` workers; products of the copy are bit-identical.
    """

    __slots__ = ("_handle", "_info")

    def __init__(self, tensor: QuantizedTensor) -> None:
        """Repacks ``tensor`` (seen as ``shape[0]`` rows × the other dimensions flattened).
        Per-channel and per-tensor scales become one group per row; symmetric codes the
        zero-point form."""
        if not isinstance(tensor, QuantizedTensor):
            raise InvalidArgumentError(
                f"QuantizedMatrix takes a QuantizedTensor (from arrowhead.quantize), got {type(tensor).__name__}; "
                "use QuantizedMatrix.load(path, name) for a tensor of a quantized file"
            )
        engine = default_engine()  # held across the call (see QuantizedTensor.from_parts)
        out = ctypes.c_void_p()
        tensor._check(lib.ah_qmatrix_create(engine.handle.value, tensor._value(), ctypes.byref(out)))
        self._adopt(out.value or 0)

    @classmethod
    def load(cls, path: PathLike, name: str) -> "QuantizedMatrix":
        """Loads quantized tensor ``name`` of an Arrowhead quantized safetensors file (what
        :func:`quantize_model` and ``arrowhead quantize`` write), verifying its checksums,
        and repacks it. A missing file raises ``ArrowheadIOError``, a corrupted one
        ``CorruptFileError``; a name the file does not hold quantized raises
        ``InvalidArgumentError`` listing some names it does hold."""
        if not isinstance(name, str):
            raise InvalidArgumentError(f"name {name!r} is not a string")
        file_name, tensor_name = _arrays.c_path(path, "path"), _arrays.c_string(name, "name")
        engine = default_engine()  # held across the call (see QuantizedTensor.from_parts)
        out = ctypes.c_void_p()
        check(lib.ah_qmatrix_load(engine.handle.value, file_name, tensor_name, ctypes.byref(out)))
        matrix = cls.__new__(cls)
        matrix._adopt(out.value or 0)
        return matrix

    def _adopt(self, handle: int) -> None:
        self._handle = Handle(handle, lib.ah_qmatrix_free)
        info = QMatrixInfo()
        check(lib.ah_qmatrix_describe(handle, ctypes.byref(info)))
        self._info = info

    def _value(self) -> int:
        value = self._handle.value
        if value is None:
            raise ClosedError("the quantized matrix is closed")
        return value

    def _check(self, status: int) -> None:
        check_open(status, self._handle, "the quantized matrix is closed")

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)``: outputs × inputs (``y`` has ``rows`` columns, ``x`` ``columns``)."""
        return (int(self._info.rows), int(self._info.columns))

    @property
    def bits(self) -> int:
        """Bits per code: 2, 3, 4 or 8."""
        return int(self._info.bits)

    @property
    def group_size(self) -> int:
        """Inputs sharing one scale (``columns`` for per-channel and per-tensor tensors)."""
        return int(self._info.group_size)

    @property
    def mode(self) -> str:
        """``"float_minimum"`` or ``"zero_point"`` (symmetric tensors are held as zero-points)."""
        return _MODE_NAMES[int(self._info.mode)]

    @property
    def nbytes(self) -> int:
        """Bytes of the repacked codes and parameters."""
        return int(self._info.bytes)

    def matmul(
        self,
        x: ArrayLike,
        bias: ArrayLike | None = None,
        *,
        mode: str = "weight-only",
        threads: int | None = None,
        out: NDArray[np.float32] | None = None,
    ) -> NDArray[np.float32]:
        """``x @ Ŵ.T (+ bias)`` as a new float32 array (or into ``out``).

        Args:
            x: activations, ``(n, columns)`` or one vector ``(columns,)``. float32 rows with
                unit stride are read in place; other dtypes and layouts are converted once.
            bias: ``None`` or ``rows`` values added to every output row.
            mode: ``"weight-only"`` (alias ``"weight_only"``), ``"int8"`` or ``"int16"``
                (see the class documentation).
            threads: threads of this call (``None``: the default engine's,
                :func:`arrowhead.set_num_threads`); the result does not depend on it.
            out: ``None``, or a writeable C-contiguous float32 array of the result's shape
                to write into (saves allocating the result in a loop of calls).

        Returns:
            ``(n, rows)``, or ``(rows,)`` for a 1-D ``x`` (``out`` itself when given). NaN or
            ±∞ in a row of ``x`` makes that row's outputs NaN or ±∞ (never an exception).
            With ``"int8"`` / ``"int16"``, a group of ``x`` whose largest |x| is below 2⁻¹⁰⁰
            (≈ 7.9e-31) counts as zeros; ``"weight-only"`` computes it. The
            GIL is released while the kernel runs. A call costs about 6 µs besides the kernel
            (argument checks, the ctypes call): batch rows where you can.
        """
        code = QMATMUL_MODES.get("weight-only" if mode == "weight_only" else mode) if isinstance(mode, str) else None
        if code is None:
            raise InvalidArgumentError(f"mode {mode!r} is unknown; expected 'weight-only', 'int8' or 'int16'")
        thread_count = 0 if threads is None else _arrays.integer(threads, "threads", 1, _arrays.INT32_MAX)
        rows, columns = self.shape
        array = _arrays.as_array(x, "x")
        vector = array.ndim == 1
        if vector:
            array = array.reshape(1, -1)
        if array.ndim != 2:
            raise InvalidArgumentError(f"'x' has {array.ndim} dimensions (shape {array.shape}); expected (n, {columns}) or ({columns},)")
        if array.shape[1] != columns:
            raise InvalidArgumentError(
                f"'x' has {array.shape[1]} columns (shape {array.shape}) but the quantized matrix is {rows}×{columns}: "
                f"x must have {columns} columns"
            )
        bias_array = None
        if bias is not None:
            bias_array = _arrays.float32(_arrays.as_array(bias, "bias"))
            if bias_array.shape != (rows,):
                raise InvalidArgumentError(f"'bias' has shape {bias_array.shape}; expected ({rows},), one value per output")
        n = array.shape[0]
        shape = (rows,) if vector else (n, rows)
        if out is None:
            out = np.empty(shape, dtype=np.float32)
        elif not (
            isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == shape
            and out.flags.c_contiguous and out.flags.writeable
        ):
            described = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
            raise InvalidArgumentError(
                f"'out' is {described}; expected a writeable C-contiguous float32 array of shape {shape}"
            )
        if n > 0 and rows > 0:
            if array.dtype == _arrays.FLOAT32 and array.flags.c_contiguous:
                source, x_address, ldx = array, _arrays.address(array), columns
            else:  # converted once, or rows with a stride: read through the leading dimension
                operand = _arrays.operand(array, "x", allow_transposed=False)
                source, x_address, ldx = operand.array, operand.address, operand.leading
            engine = default_engine()  # held across the call (see QuantizedTensor.from_parts)
            self._check(
                lib.ah_qmatrix_matmul(
                    engine.handle.value, self._value(), code, n, x_address, max(ldx, 1),
                    _arrays.address(bias_array) if bias_array is not None else None, thread_count,
                    _arrays.address(out), max(rows, 1),
                )
            )
            del source  # kept alive until the call returned
        else:
            self._value()  # a closed matrix is an error even when there is nothing to compute
        return out

    def close(self) -> None:
        """Releases the native matrix (idempotent)."""
        self._handle.free()

    def to_tensor(self) -> QuantizedTensor:
        """The matrix's weights as a ``(rows, columns)`` :class:`QuantizedTensor`: the inverse
        of the constructor, so that ``QuantizedMatrix(m.to_tensor())`` multiplies bit for bit
        as ``m`` does. Its granularity is ``"group"`` (this matrix's :attr:`group_size`), or
        ``"channel"`` where a group spans a row (what per-channel and per-tensor tensors
        became); its mode ``"float_minimum"``, ``"zero_point"``, or ``"symmetric"`` where
        every zero-point is 2^(bits−1). Use it to save the matrix's parts (:attr:`QuantizedTensor.codes`, …)."""
        engine = default_engine()  # held across the call (see QuantizedTensor.from_parts)
        out = ctypes.c_void_p()
        self._check(lib.ah_qmatrix_tensor(engine.handle.value, self._value(), ctypes.byref(out)))
        return QuantizedTensor(out.value or 0)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its tensor (the packed parts), repacked when unpickled.
        return (QuantizedMatrix, (self.to_tensor(),))

    def __enter__(self) -> "QuantizedMatrix":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        rows, columns = self.shape
        return (
            f"QuantizedMatrix(shape=({rows}, {columns}), bits={self.bits}, group_size={self.group_size}, "
            f"mode={self.mode!r}, nbytes={self.nbytes})"
        )


def quantize(
    w: ArrayLike,
    bits: int = 4,
    group: int | str = 64,
    optimizer: str = "minmax",
    mode: str = "float_minimum",
    *,
    optimizer_options: Mapping[str, Any] | None = None,
) -> QuantizedTensor:
    """Quantizes a float tensor to ``bits`` (2, 3, 4 or 8) per weight.

    Args:
        w: the weights, any shape (rows = first dimension, columns = the rest flattened); a
            0-d array (one number) is quantized as shape ``(1,)``, the shape the tensor then
            reports and dequantizes to. float32 C-contiguous arrays are read in place; other
            real dtypes are converted once. Must be finite.
        group: weights per group along a row (8 … 8192), or ``"channel"`` (one scale per
            row) or ``"tensor"`` (one scale in all).
        optimizer: how each group's scale and offset are chosen: ``"minmax"`` (the group's
            range), ``"signed-max"`` (``mode="symmetric"`` only: every code in use, the
            scale = the larger-magnitude extreme / −2^(bits−1), ggml Q4_0's rule; such scales
            can be negative), ``"grid"`` (clipping grid + least squares) or ``"hqq"``
            (half-quadratic).
        mode: ``"float_minimum"`` (x̂ = q·s + m), ``"zero_point"`` (integer zero-point) or
            ``"symmetric"``.
        optimizer_options: settings of the optimizer, as ``--optimizer-option`` takes them
            (e.g. ``{"steps": 5}`` for grid, ``{"iterations": 20}`` for hqq): JSON values
            (numpy scalars are converted); anything else, NaN or infinity raises
            ``InvalidArgumentError``.

    Returns:
        A :class:`QuantizedTensor` whose codes, scales and offsets are those
        ``arrowhead quantize`` writes for the same tensor and options.
    """
    array = _arrays.float32(_arrays.as_array(w, "w"))
    bits, granularity, size, mode_code = _scheme(bits, group, mode)
    shape = (ctypes.c_int64 * max(1, array.ndim))(*array.shape)
    optimizer_name = _arrays.c_string(optimizer, "optimizer")
    if optimizer_options is not None and not isinstance(optimizer_options, Mapping):
        raise InvalidArgumentError(
            f"optimizer_options = {optimizer_options!r}; expected a dict of settings such as {{'steps': 5}}"
        )
    settings = _json(dict(optimizer_options), "optimizer_options").encode() if optimizer_options else None
    engine = default_engine()  # held across the call (see QuantizedTensor.from_parts)
    out = ctypes.c_void_p()
    check(
        lib.ah_quantize(
            engine.handle.value, array.ctypes.data, shape, array.ndim, bits, granularity, size,
            mode_code, optimizer_name, settings, ctypes.byref(out),
        )
    )
    return QuantizedTensor(out.value or 0)


def _scheme(bits: Any, group: Any, mode: Any) -> tuple[int, int, int, int]:
    """(bits, AH_GRANULARITY_*, group size, AH_MODE_*) of the ``bits``, ``group`` (a size,
    ``"channel"`` or ``"tensor"``) and ``mode`` arguments; the C side checks the values."""
    if isinstance(group, str):
        if group not in ("channel", "tensor"):
            raise InvalidArgumentError(f"group {group!r} is unknown; expected a size, 'channel' or 'tensor'")
        granularity, size = GRANULARITIES[group], 0
    elif isinstance(group, (int, np.integer)) and not isinstance(group, bool):
        granularity, size = GRANULARITIES["group"], _arrays.integer(group, "group", _arrays.INT64_MIN)
    else:
        raise InvalidArgumentError(f"group {group!r} is invalid; expected a size, 'channel' or 'tensor'")
    if not isinstance(mode, str) or mode not in MODES:
        raise InvalidArgumentError(f"mode {mode!r} is unknown; expected 'float_minimum', 'zero_point' or 'symmetric'")
    if not isinstance(bits, (int, np.integer)) or isinstance(bits, bool) or not 0 <= bits <= _arrays.INT32_MAX:
        raise InvalidArgumentError(f"bits {bits!r} is invalid; expected 2, 3, 4 or 8")
    return int(bits), granularity, size, MODES[mode]


def _json(value: Any, what: str) -> str:
    """``value`` as JSON text for the C side; numpy scalars (``np.int64(4)``, ``np.float32``)
    become their Python numbers. NaN and infinity are no JSON, and other objects have no JSON
    form: either raises ``InvalidArgumentError`` naming ``what``."""
    try:
        return json.dumps(value, allow_nan=False, default=_json_scalar)
    except (TypeError, ValueError) as error:
        raise InvalidArgumentError(f"{what} must be JSON values: {error}") from error


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _tensor_from_parts(
    shape: tuple[int, ...], bits: int, group: int | str, mode: str, packed: bytes, scales: bytes, offsets: bytes
) -> QuantizedTensor:
    """Unpickles a :class:`QuantizedTensor` (see ``QuantizedTensor.__reduce__``)."""
    return QuantizedTensor.from_parts(
        shape, bits, np.frombuffer(scales, dtype="<f4"), np.frombuffer(offsets, dtype="<f4"),
        packed_codes=packed, group=group, mode=mode,
    )


def quantize_model(src: PathLike, dst: PathLike, **options: Any) -> dict[str, Any]:
    """Quantizes a safetensors model (a file, a sharded model's ``…index.json`` or a
    directory) into an Arrowhead quantized safetensors file at ``dst`` (written atomically),
    as ``arrowhead quantize`` does, and returns its report (what ``--json`` prints).

    Options mirror the CLI's flags: ``bits`` (4), ``group`` (64), ``granularity``
    (``"group"``, ``"channel"``, ``"tensor"``), ``mode``, ``optimizer`` (``"minmax"``,
    ``"signed-max"`` (symmetric only), ``"grid"``, ``"hqq"``, ``"thermo"``), ``optimizer_options``
    (dict), ``weight_optimizer``,
    ``budget`` (bits per weight), ``budget_bits``, ``keep`` (glob list), ``default_keep``
    (True), ``fallback`` (True), ``fallback_thresholds`` ({bits: cosine}),
    ``allow_non_finite``, ``time_groups`` and ``calibration`` (time-aware activations),
    ``timesteps``, ``activation_bits``, ``activation_range``, ``smoothing``,
    ``smoothing_window``, ``threads``. Values are JSON values (numpy scalars such as
    ``np.int64(4)`` and ``os.PathLike`` paths are converted; NaN and infinity are refused). An
    unknown option raises ``InvalidArgumentError`` listing the valid ones. The GIL is released while the model is quantized.
    """
    normalised: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, Mapping):  # e.g. fallback_thresholds={4: 0.9}: JSON keys are strings
            value = {str(k): v for k, v in value.items()}
        elif isinstance(value, os.PathLike):  # calibration=Path(...)
            value = os.fspath(value)
        normalised[key] = value
    text = _json(normalised, "quantize_model options")
    source, destination = _arrays.c_path(src, "src"), _arrays.c_path(dst, "dst")
    engine = default_engine()  # held across the call (see QuantizedTensor.from_parts)
    out = ctypes.c_void_p()
    check(lib.ah_quantize_model(engine.handle.value, source, destination, text.encode(), ctypes.byref(out)))
    report: dict[str, Any] = json.loads(take_string(out))
    return report
