"""The engine: hardware probe, threads, gemm and distance matrices."""
from __future__ import annotations

import ctypes
import json
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _arrays
from ._native import METRICS, Engine, check, default_engine, lib, set_default_engine, take_string
from .errors import InvalidArgumentError

__all__ = ["probe", "gemm", "distances", "set_num_threads", "get_num_threads"]


def probe() -> dict[str, Any]:
    """What ``arrowhead probe --json`` prints: the CPU and its features, the backends compiled
    in and runnable here, the OpenBLAS build, and which backend runs each operation at each
    size, and why.

    >>> report = arrowhead.probe()
    >>> sorted(report)[:3]
    ['backends', 'cpu', 'dispatch']
    """
    engine = default_engine()  # held across the call: set_num_threads may replace (and free) the default
    out = ctypes.c_void_p()
    check(lib.ah_probe_json(engine.handle.value, ctypes.byref(out)))
    result: dict[str, Any] = json.loads(take_string(out))
    return result


def set_num_threads(threads: int | None) -> None:
    """Sets the threads of the kernels that module functions and indexes created from now on
    use (``None``: ``ARROWHEAD_THREADS`` or all logical cores). Existing indexes keep theirs;
    ``Index.search(..., threads=n)`` overrides it per call. More than 256 (the worker pool's
    size) run as 256; more than 2**31 − 1 raise ``InvalidArgumentError``."""
    set_default_engine(Engine(threads=threads))


def get_num_threads() -> int:
    """The thread count of the default engine."""
    return default_engine().threads


def gemm(a: ArrayLike, b: ArrayLike) -> NDArray[np.float32]:
    """The matrix product ``a @ b`` in float32 on Arrowhead's fastest gemm kernel.

    ``a`` is m × k and ``b`` is k × n. float32 inputs are read in place when their rows are
    unit-stride (C order, or a column slice of it) or, being transposes of such matrices
    (``x.T``, Fortran order), their columns are; anything else is converted once. The result
    is a new C-contiguous float32 array (m × n) that owns its memory. NaN and infinity
    propagate as in numpy / BLAS. The GIL is released while the kernel runs.

    Agrees with ``numpy.matmul`` in float32 to within the rounding of a length-k dot product:
    ``|C − C_numpy| ≤ 2·γ_k · (|A|·|B|)`` with ``γ_k = k·u / (1 − k·u)``, ``u = 2⁻²⁴``.
    """
    left = _arrays.operand(a, "a", allow_transposed=True)
    right = _arrays.operand(b, "b", allow_transposed=True)
    if left.columns != right.rows:
        raise InvalidArgumentError(
            f"gemm: 'a' is {left.rows}×{left.columns} but 'b' is {right.rows}×{right.columns}; the inner dimensions differ"
        )
    m, k, n = left.rows, left.columns, right.columns
    if k == 0 or m == 0 or n == 0:
        return np.zeros((m, n), dtype=np.float32)
    out = np.empty((m, n), dtype=np.float32)
    engine = default_engine()  # held across the call (see probe)
    check(
        lib.ah_gemm(
            engine.handle.value, int(left.transposed), int(right.transposed), m, n, k, 1.0,
            left.address, left.leading, right.address, right.leading, 0.0, out.ctypes.data, n,
        )
    )
    return out


def distances(q: ArrayLike, x: ArrayLike, metric: str = "l2") -> NDArray[np.float32]:
    """The queries × base matrix of ``metric`` values between the rows of ``q`` (n × d, or one
    vector of d) and the rows of ``x`` (m × d).

    ``metric``: ``"l2"`` — squared Euclidean distance ‖q − x‖² (no square root; smaller is
    nearer); ``"ip"`` — inner product q·x; ``"cosine"`` — cosine similarity (0 when either
    vector is zero). Returns a new float32 array (n × m). float32 inputs with unit-stride rows
    are read in place. The GIL is released while the kernel runs.
    """
    code = _metric(metric)
    query = _arrays.as_array(q, "q")
    if query.ndim == 1:
        query = query.reshape(1, -1)
    left = _arrays.operand(query, "q", allow_transposed=False)
    right = _arrays.operand(x, "x", allow_transposed=False)
    if left.columns != right.columns:
        raise InvalidArgumentError(
            f"distances: 'q' has dimension {left.columns} but 'x' has dimension {right.columns}"
        )
    n, m, d = left.rows, right.rows, left.columns
    if n == 0 or m == 0:
        return np.zeros((n, m), dtype=np.float32)
    out = np.empty((n, m), dtype=np.float32)
    engine = default_engine()  # held across the call (see probe)
    check(
        lib.ah_distances(
            engine.handle.value, code, n, m, d, left.address, max(left.leading, 1), right.address,
            max(right.leading, 1), out.ctypes.data, m,
        )
    )
    return out


def _metric(metric: str) -> int:
    try:
        return METRICS[metric]
    except (KeyError, TypeError):
        raise InvalidArgumentError(f"metric {metric!r} is unknown; expected 'l2', 'ip' or 'cosine'") from None
