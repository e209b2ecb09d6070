"""gemm, distances and the probe against numpy (and the CLI)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import arrowhead
from conftest import run_cli

U = 2.0**-24  # unit roundoff of float32


def gamma(n: int) -> float:
    """γₙ = n·u / (1 − n·u): the relative error bound of a length-n sum of products in
    float32, whatever the summation order (Higham, Accuracy and Stability, §3.1)."""
    return n * U / (1 - n * U)


def test_gemm_of_integers_is_exactly_numpys(rng):
    # Integers in [-8, 8) with k = 96: every product and partial sum is an integer below
    # 2^24, hence exact in float32 in any order; numpy and Arrowhead must agree bit for bit.
    a = rng.integers(-8, 8, size=(37, 96)).astype(np.float32)
    b = rng.integers(-8, 8, size=(96, 53)).astype(np.float32)
    assert np.array_equal(arrowhead.gemm(a, b), a @ b)


@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 13, 5), (64, 64, 64), (130, 257, 33)])
def test_gemm_within_the_float32_error_bound(rng, shape):
    m, k, n = shape
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    bound = gamma(k) * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    ours = arrowhead.gemm(a, b)
    assert ours.dtype == np.float32 and ours.shape == (m, n) and ours.flags.c_contiguous and ours.flags.owndata
    assert np.all(np.abs(ours - exact) <= bound)
    # numpy obeys the same bound, so the two differ by at most twice it.
    assert np.all(np.abs(ours - (a @ b)) <= 2 * bound)


def test_gemm_reads_views_in_place_and_converts_the_rest(rng):
    a = rng.integers(-4, 4, size=(20, 30)).astype(np.float32)
    b = rng.integers(-4, 4, size=(30, 10)).astype(np.float32)
    expected = a @ b
    at = np.asfortranarray(a)  # transposed storage: passed with the transpose flag
    wide = np.zeros((20, 40), np.float32)
    wide[:, :30] = a  # column slice: passed with a leading dimension of 40
    assert np.array_equal(arrowhead.gemm(at, b), expected)
    assert np.array_equal(arrowhead.gemm(wide[:, :30], b), expected)
    assert np.array_equal(arrowhead.gemm(a, b.T.copy().T), expected)
    assert np.array_equal(arrowhead.gemm(a[::-1], b), expected[::-1])  # negative stride: converted
    assert np.array_equal(arrowhead.gemm(a.astype(np.float64), b.astype(np.int32)), expected)
    assert np.array_equal(arrowhead.gemm(a.tolist(), b), expected)


def test_gemm_edge_cases_and_errors():
    assert np.array_equal(arrowhead.gemm(np.ones((3, 0), np.float32), np.ones((0, 2), np.float32)), np.zeros((3, 2)))
    assert arrowhead.gemm(np.ones((0, 4), np.float32), np.ones((4, 2), np.float32)).shape == (0, 2)
    nan = np.array([[1, np.nan], [1, 1]], np.float32)
    assert np.array_equal(np.isnan(arrowhead.gemm(nan, np.eye(2, dtype=np.float32))), np.isnan(nan @ np.eye(2)))
    with pytest.raises(arrowhead.InvalidArgumentError, match="inner dimensions differ"):
        arrowhead.gemm(np.ones((2, 3), np.float32), np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="expected a 2-D matrix"):
        arrowhead.gemm(np.ones(3, np.float32), np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="3 dimensions"):
        arrowhead.gemm(np.ones((2, 2, 2), np.float32), np.ones((2, 2), np.float32))
    with pytest.raises(TypeError, match="complex"):
        arrowhead.gemm(np.ones((2, 2), np.complex64), np.ones((2, 2), np.float32))
    with pytest.raises(arrowhead.DTypeError):
        arrowhead.gemm(np.array([["a"]]), np.ones((1, 1), np.float32))


def test_distances_of_integers_are_exactly_numpys(rng):
    # Small integers: ‖q‖², ‖x‖², q·x and their combination are exact in float32.
    q = rng.integers(-5, 6, size=(17, 24)).astype(np.float32)
    x = rng.integers(-5, 6, size=(301, 24)).astype(np.float32)
    assert np.array_equal(arrowhead.distances(q, x, "l2"), ((q[:, None, :] - x[None, :, :]) ** 2).sum(axis=2))
    assert np.array_equal(arrowhead.distances(q, x, "ip"), q @ x.T)


@pytest.mark.parametrize("dimension", [1, 7, 50, 384])
def test_distances_within_their_error_bounds(rng, dimension):
    q = rng.standard_normal((9, dimension)).astype(np.float32)
    x = rng.standard_normal((133, dimension)).astype(np.float32)
    q64, x64 = q.astype(np.float64), x.astype(np.float64)
    qq, xx = (q64**2).sum(1)[:, None], (x64**2).sum(1)[None, :]
    absolute = np.abs(q64) @ np.abs(x64).T
    # Inner product: one length-d dot product, |error| ≤ γ_d·Σ|q||x|.
    assert np.all(np.abs(arrowhead.distances(q, x, "ip") - q64 @ x64.T) <= gamma(dimension) * absolute)
    # Squared L2, direct Σ(q − x)² or expanded ‖q‖² + ‖x‖² − 2q·x (then clamped at 0): each
    # of the three terms is off by ≤ γ_d of its magnitude and the two additions add u each,
    # so |error| ≤ γ_{d+2}·(‖q‖² + ‖x‖² + 2Σ|q||x|).
    l2 = ((q64[:, None, :] - x64[None, :, :]) ** 2).sum(2)
    assert np.all(np.abs(arrowhead.distances(q, x, "l2") - l2) <= gamma(dimension + 2) * (qq + xx + 2 * absolute))
    # Cosine q·x/(‖q‖‖x‖): the dot product is off by ≤ γ_d Σ|q||x| ≤ γ_d ‖q‖‖x‖ (Cauchy–
    # Schwarz), each norm by ≤ γ_d/2 + u relatively, the division by u: in all ≤ 4γ_{d+2}.
    cosine = (q64 @ x64.T) / np.sqrt(qq * xx)
    assert np.all(np.abs(arrowhead.distances(q, x, "cosine") - cosine) <= 4 * gamma(dimension + 2))


def test_distances_shapes_and_errors(rng):
    x = rng.standard_normal((10, 4)).astype(np.float32)
    assert arrowhead.distances(x[0], x).shape == (1, 10)
    assert arrowhead.distances(x, x, "cosine")[3, 3] == pytest.approx(1, abs=4 * gamma(6))
    assert arrowhead.distances(np.zeros((1, 4), np.float32), x, "cosine").tolist() == [[0.0] * 10]
    # Cosine does not depend on scale, also where the float32 norm over- or underflows (such
    # rows had cosine 0 with everything); 1, 5 and 40 queries take different kernels.
    for rows in (1, 5, 40):
        q = rng.standard_normal((rows, 4)).astype(np.float32)
        expected = arrowhead.distances(q, x, "cosine")
        for scale in (2.0**90, 2.0**-90):
            scaled = arrowhead.distances(q * np.float32(scale), x * np.float32(scale), "cosine")
            assert np.allclose(scaled, expected, rtol=0, atol=4 * gamma(6)), (rows, scale)
    wide = np.zeros((10, 9), np.float32)
    wide[:, 2:6] = x
    assert np.array_equal(arrowhead.distances(wide[:, 2:6], x, "ip"), arrowhead.distances(x, x, "ip"))
    with pytest.raises(arrowhead.InvalidArgumentError, match="metric 'l1' is unknown"):
        arrowhead.distances(x, x, "l1")
    with pytest.raises(arrowhead.InvalidArgumentError, match="dimension 3 but 'x' has dimension 4"):
        arrowhead.distances(x[:, :3], x)


def test_probe_is_what_the_cli_prints(cli):
    """The Python probe and `arrowhead probe --json` are one report. Compared under static
    dispatch: measured figures are cached per executable (python and the CLI each time
    their own kernels), so their timings, and near-ties between backends, differ."""
    env = {**os.environ, "ARROWHEAD_DISPATCH": "static"}
    script = "import json, arrowhead; print(json.dumps(arrowhead.probe()))"
    ours = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                     env=env).stdout)
    result = subprocess.run([str(cli), "probe", "--json"], capture_output=True, text=True, check=True, env=env)
    theirs = json.loads(result.stdout)

    def settled(report):
        """The report without how this process got its dispatch figures."""
        report = dict(report)
        report.pop("dispatchMode", None)
        report["dispatch"] = [{k: v for k, v in choice.items() if k != "source"} for choice in report["dispatch"]]
        return report

    assert settled(ours) == settled(theirs)
    assert ours["dispatchMode"]["mode"] == theirs["dispatchMode"]["mode"] == "static"
    assert ours["version"] == arrowhead.__version__
    assert {choice["operation"] for choice in ours["dispatch"]} >= {"gemm", "gemvTransposed", "distances", "quantize"}

    # This process (measured dispatch): the same operations, size classes and candidates.
    measured = arrowhead.probe()
    assert [(c["operation"], c["size"]) for c in measured["dispatch"]] == \
        [(c["operation"], c["size"]) for c in ours["dispatch"]]
    assert set(measured["dispatchMode"]) == set(theirs["dispatchMode"])


def test_thread_count_can_be_changed():
    before = arrowhead.get_num_threads()
    try:
        arrowhead.set_num_threads(1)
        assert arrowhead.get_num_threads() == 1
        with pytest.raises(arrowhead.InvalidArgumentError):
            arrowhead.set_num_threads(0)
        # ctypes passes a Python int's low 32 bits: 2**32 + 1 used to become 1 thread.
        with pytest.raises(arrowhead.InvalidArgumentError, match="threads = 4294967297 is too large"):
            arrowhead.set_num_threads(2**32 + 1)
        assert arrowhead.get_num_threads() == 1
        # More than the pool's 256 threads run as 256 (nothing is sized by the request).
        arrowhead.set_num_threads(10**9)
        assert arrowhead.get_num_threads() == 256
    finally:
        arrowhead.set_num_threads(None)
    assert arrowhead.get_num_threads() == before
