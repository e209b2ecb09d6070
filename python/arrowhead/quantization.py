"""Weight quantization: one tensor (``quantize`` → :class:`QuantizedTensor`) or a whole
safetensors model (``quantize_model``)."""
from __future__ import annotations

import ctypes
import json
import os
from typing import Any, Mapping, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _arrays
from ._native import GRANULARITIES, MODES, Handle, TensorInfo, check, default_engine, lib, take_string
from .errors import ClosedError, InvalidArgumentError

__all__ = ["quantize", "quantize_model", "QuantizedTensor"]

PathLike = Union[str, "os.PathLike[str]"]
_MODE_NAMES = {code: name for name, code in MODES.items()}
_GRANULARITY_NAMES = {code: name for name, code in GRANULARITIES.items()}


class QuantizedTensor:
    """A quantized tensor: packed integer codes plus one scale and one offset per group.

    A tensor of shape ``(d0, d1, …)`` is a matrix of ``d0`` rows by ``d1·d2·…`` columns; groups
    of ``group_size`` consecutive weights of a row share parameters, numbered row by row
    (group = row · groups_per_row + column // group_size). Reconstruction:

    * ``float_minimum``: x̂ = q·s + m
    * ``zero_point``:    x̂ = (q − z)·s  (z integral)
    * ``symmetric``:     x̂ = (q − 2^(bits−1))·s

    The tensor is immutable and owns a native handle, released by :meth:`close` (or when the
    object is garbage collected). Every accessor returns a new numpy array.
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

    @property
    def shape(self) -> tuple[int, ...]:
        """The original tensor's shape."""
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
        check(lib.ah_tensor_codes(self._value(), out.ctypes.data, out.size))
        return out

    @property
    def packed_codes(self) -> NDArray[np.uint8]:
        """The packed codes as stored: rows × ⌈columns·bits/8⌉ bytes, each row a little-endian
        bit stream (code j at bits j·bits … j·bits + bits − 1)."""
        rows = int(self._info.rows)
        out = np.empty((rows, int(self._info.packed_bytes) // max(rows, 1)), dtype=np.uint8)
        check(lib.ah_tensor_packed_codes(self._value(), out.ctypes.data, out.size))
        return out

    @property
    def scales(self) -> NDArray[np.float32]:
        """One scale per group, in group order (1-D)."""
        out = np.empty(int(self._info.group_count), dtype=np.float32)
        check(lib.ah_tensor_scales(self._value(), out.ctypes.data, out.size))
        return out

    @property
    def offsets(self) -> NDArray[np.float32]:
        """One offset per group: the float minimum m, the zero-point z, or 2^(bits−1) for
        symmetric tensors (1-D)."""
        out = np.empty(int(self._info.group_count), dtype=np.float32)
        check(lib.ah_tensor_offsets(self._value(), out.ctypes.data, out.size))
        return out

    def dequantize(self) -> NDArray[np.float32]:
        """Ŵ as float32, shaped like the original (bit-identical to ``arrowhead dequantize``)."""
        out = np.empty(self._shape, dtype=np.float32)
        check(lib.ah_tensor_dequantize(self._value(), out.ctypes.data, out.size))
        return out

    def close(self) -> None:
        """Releases the native tensor (idempotent); accessors then raise ``ClosedError``."""
        self._handle.free()

    def __enter__(self) -> "QuantizedTensor":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"QuantizedTensor(shape={self._shape}, bits={self.bits}, granularity={self.granularity!r}, "
            f"group_size={self.group_size}, mode={self.mode!r}, nbytes={self.nbytes})"
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
        w: the weights, any shape (rows = first dimension, columns = the rest flattened).
            float32 C-contiguous arrays are read in place; other real dtypes are converted
            once. Must be finite.
        group: weights per group along a row (8 … 8192), or ``"channel"`` (one scale per
            row) or ``"tensor"`` (one scale in all).
        optimizer: how each group's scale and offset are chosen: ``"minmax"`` (the group's
            range), ``"grid"`` (clipping grid + least squares) or ``"hqq"`` (half-quadratic).
        mode: ``"float_minimum"`` (x̂ = q·s + m), ``"zero_point"`` (integer zero-point) or
            ``"symmetric"``.
        optimizer_options: settings of the optimizer, as ``--optimizer-option`` takes them
            (e.g. ``{"steps": 5}`` for grid, ``{"iterations": 20}`` for hqq).

    Returns:
        A :class:`QuantizedTensor` whose codes, scales and offsets are those
        ``arrowhead quantize`` writes for the same tensor and options.
    """
    array = _arrays.float32(_arrays.as_array(w, "w"))
    if isinstance(group, str):
        if group not in ("channel", "tensor"):
            raise InvalidArgumentError(f"group {group!r} is unknown; expected a size, 'channel' or 'tensor'")
        granularity, size = GRANULARITIES[group], 0
    elif isinstance(group, (int, np.integer)) and not isinstance(group, bool):
        granularity, size = GRANULARITIES["group"], int(group)
    else:
        raise InvalidArgumentError(f"group {group!r} is invalid; expected a size, 'channel' or 'tensor'")
    if mode not in MODES:
        raise InvalidArgumentError(f"mode {mode!r} is unknown; expected 'float_minimum', 'zero_point' or 'symmetric'")
    if not isinstance(bits, (int, np.integer)) or isinstance(bits, bool):
        raise InvalidArgumentError(f"bits {bits!r} is invalid; expected 2, 3, 4 or 8")
    shape = (ctypes.c_int64 * max(1, array.ndim))(*array.shape)
    settings = json.dumps(dict(optimizer_options)).encode() if optimizer_options else None
    out = ctypes.c_void_p()
    check(
        lib.ah_quantize(
            default_engine().handle.value, array.ctypes.data, shape, array.ndim, int(bits), granularity, size,
            MODES[mode], optimizer.encode(), settings, ctypes.byref(out),
        )
    )
    return QuantizedTensor(out.value or 0)


def quantize_model(src: PathLike, dst: PathLike, **options: Any) -> dict[str, Any]:
    """Quantizes a safetensors model (a file, a sharded model's ``…index.json`` or a
    directory) into an Arrowhead quantized safetensors file at ``dst`` (written atomically),
    as ``arrowhead quantize`` does, and returns its report (what ``--json`` prints).

    Options mirror the CLI's flags: ``bits`` (4), ``group`` (64), ``granularity``
    (``"group"``, ``"channel"``, ``"tensor"``), ``mode``, ``optimizer`` (``"minmax"``,
    ``"grid"``, ``"hqq"``, ``"thermo"``), ``optimizer_options`` (dict), ``weight_optimizer``,
    ``budget`` (bits per weight), ``budget_bits``, ``keep`` (glob list), ``default_keep``
    (True), ``fallback`` (True), ``fallback_thresholds`` ({bits: cosine}),
    ``allow_non_finite``, ``time_groups`` and ``calibration`` (time-aware activations),
    ``timesteps``, ``activation_bits``, ``activation_range``, ``smoothing``,
    ``smoothing_window``, ``threads``. An unknown option raises ``InvalidArgumentError``
    listing the valid ones. The GIL is released while the model is quantized.
    """
    normalised: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, Mapping):  # e.g. fallback_thresholds={4: 0.9}: JSON keys are strings
            value = {str(k): v for k, v in value.items()}
        elif isinstance(value, os.PathLike):  # calibration=Path(...)
            value = os.fspath(value)
        normalised[key] = value
    try:
        text = json.dumps(normalised)
    except TypeError as error:
        raise InvalidArgumentError(f"quantize_model options must be JSON values: {error}") from error
    out = ctypes.c_void_p()
    check(
        lib.ah_quantize_model(
            default_engine().handle.value, os.fsencode(src), os.fsencode(dst), text.encode(), ctypes.byref(out)
        )
    )
    report: dict[str, Any] = json.loads(take_string(out))
    return report
