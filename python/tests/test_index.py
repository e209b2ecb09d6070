"""Index: exactness against numpy, HNSW recall, round trips, filters, input forms, errors."""
from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

import arrowhead
import arrowhead.index as index_module
from conftest import CloseFirst, run_cli

DIM = 16


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    centres = rng.standard_normal((20, DIM)).astype(np.float32) * 4
    base = (centres[rng.integers(0, 20, 2_000)] + rng.standard_normal((2_000, DIM))).astype(np.float32)
    queries = (centres[rng.integers(0, 20, 50)] + rng.standard_normal((50, DIM))).astype(np.float32)
    return base, queries


def brute_force(base, queries, k, metric="l2"):
    b, q = base.astype(np.float64), queries.astype(np.float64)
    if metric == "l2":
        scores = ((q[:, None, :] - b[None, :, :]) ** 2).sum(2)
        order = np.argsort(scores, axis=1, kind="stable")
    else:
        if metric == "cosine":
            b = b / np.linalg.norm(b, axis=1, keepdims=True)
            q = q / np.linalg.norm(q, axis=1, keepdims=True)
        scores = q @ b.T
        order = np.argsort(-scores, axis=1, kind="stable")
    return order[:, :k], np.take_along_axis(scores, order[:, :k], 1)


def test_flat_search_is_exact(rng):
    # Integer vectors with distinct squared distances to the query set: the exact top-k
    # is unique and the distances are exact in float32.
    base = rng.integers(-20, 20, size=(500, 8)).astype(np.float32)
    queries = rng.integers(-20, 20, size=(30, 8)).astype(np.float32)
    index = arrowhead.Index(8, kind="flat")
    assert index.add(base).tolist() == list(range(500))
    distances, ids = index.search(queries, k=10)
    expected_ids, expected = brute_force(base, queries, 10)
    # Ties in distance may be ordered differently only if the two ids tie exactly.
    assert np.array_equal(distances, expected.astype(np.float32))
    ties = distances[:, :-1] == distances[:, 1:]
    assert np.array_equal(ids[~np.pad(ties, ((0, 0), (0, 1))) & ~np.pad(ties, ((0, 0), (1, 0)))],
                          expected_ids[~np.pad(ties, ((0, 0), (0, 1))) & ~np.pad(ties, ((0, 0), (1, 0)))])
    for metric in ("ip", "cosine"):
        flat = arrowhead.Index(8, kind="flat", metric=metric)
        flat.add(base)
        got, got_ids = flat.search(queries, k=5)
        want_ids, want = brute_force(base, queries, 5, metric)
        # Scores within the dot-product error bound γ_d Σ|q||x| (cosine: ≤ 4γ_{d+2}).
        assert np.allclose(got, want, rtol=0, atol=1e-4 * (np.abs(want).max() + 1))


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_hnsw_recall_against_the_exact_answer(data, metric):
    base, queries = data
    index = arrowhead.Index(DIM, metric=metric, M=12, ef_construction=100)
    index.add(base)
    _, ids = index.search(queries, k=10, ef=64)
    exact, _ = brute_force(base, queries, 10, metric)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids.tolist(), exact.tolist())])
    assert recall >= 0.95, recall


@pytest.mark.parametrize("storage", ["f32", "int8", "int4"])
@pytest.mark.parametrize("mmap", [False, True])
def test_save_and_load_round_trip(tmp_path, data, storage, mmap):
    base, queries = data
    index = arrowhead.Index(DIM, metric="cosine", storage=storage, rerank=storage != "f32", M=8, ef_construction=64)
    ids = index.add(base[:500], ids=np.arange(1000, 1500))
    assert ids.tolist() == list(range(1000, 1500))
    index.remove([1003, 1100])
    before = index.search(queries, k=7, ef=50)
    path = tmp_path / "index.ahi"
    index.save(path)
    loaded = arrowhead.Index.load(path, mmap=mmap)
    assert (len(loaded), loaded.dim, loaded.metric, loaded.kind, loaded.storage) == (498, DIM, "cosine", "hnsw", storage)
    after = loaded.search(queries, k=7, ef=50)
    assert np.array_equal(before[1], after[1]) and np.array_equal(before[0], after[0])
    assert 1003 not in loaded and 1004 in loaded
    assert np.allclose(np.linalg.norm(loaded.get_vector(1004)), 1, atol=1e-2)
    loaded.add(base[500:510])  # a loaded index stays mutable; ids continue from the largest
    assert 1509 in loaded and len(loaded) == 508


def test_cli_and_python_read_each_others_files(cli, tmp_path, data):
    base, queries = data
    np.save(tmp_path / "base.npy", base)
    np.save(tmp_path / "queries.npy", queries[:5])
    run_cli(cli, "index", "build", "--input", str(tmp_path / "base.npy"), "--type", "flat", "-o", str(tmp_path / "cli.ahi"))
    from_cli = arrowhead.Index.load(tmp_path / "cli.ahi")
    ours = arrowhead.Index(DIM, kind="flat")
    ours.add(base)
    assert np.array_equal(from_cli.search(queries, k=5)[1], ours.search(queries, k=5)[1])
    ours.save(tmp_path / "py.ahi")
    output = run_cli(cli, "index", "search", "--index", str(tmp_path / "py.ahi"), "--queries", str(tmp_path / "queries.npy"), "-k", "3", "--json")
    assert str(ours.search(queries[:1], k=1)[1][0, 0]) in output


def test_missing_results_are_minus_one(rng):
    for metric, missing in (("l2", np.inf), ("ip", -np.inf)):
        index = arrowhead.Index(4, metric=metric, kind="flat")
        index.add(rng.standard_normal((3, 4)).astype(np.float32))
        distances, ids = index.search(rng.standard_normal((2, 4)).astype(np.float32), k=5)
        assert ids.shape == (2, 5) and np.all(ids[:, 3:] == -1) and np.all(ids[:, :3] >= 0)
        assert np.all(distances[:, 3:] == missing)


def test_filters_mask_and_callable_agree(data):
    base, queries = data
    index = arrowhead.Index(DIM, M=8, ef_construction=64)
    index.add(base)
    mask = np.zeros(len(base), dtype=bool)
    mask[::7] = True
    by_mask = index.search(queries, k=5, ef=80, filter=mask)
    by_callable = index.search(queries, k=5, ef=80, filter=lambda i: i % 7 == 0)
    assert np.array_equal(by_mask[1], by_callable[1])
    assert np.all(by_mask[1] % 7 == 0)
    # The filtered answer is the exact answer among the allowed ids (high recall).
    exact, _ = brute_force(base[mask], queries, 5)
    allowed = np.flatnonzero(mask)[exact]
    assert np.mean([len(set(a) & set(b)) / 5 for a, b in zip(by_mask[1].tolist(), allowed.tolist())]) >= 0.9
    # A short mask rejects every id beyond it.
    _, short = index.search(queries[:3], k=3, filter=np.ones(10, bool))
    assert np.all((short >= 0) & (short < 10))
    # A callable's exception aborts the search and is raised as it was.
    with pytest.raises(ZeroDivisionError):
        index.search(queries[:2], k=3, filter=lambda i: 1 / 0)
    with pytest.raises(arrowhead.DTypeError, match="boolean mask"):
        index.search(queries[:2], k=3, filter=np.ones(10, dtype=np.int64))


@pytest.fixture
def seen(monkeypatch):
    """The vector pointers that ah_index_add receives (recorded around the real call), to
    show which inputs reach the library in place."""
    pointers = []
    real = index_module.lib

    class Recorder:
        def __getattr__(self, name):
            return getattr(real, name)

        def ah_index_add(self, handle, vectors, *rest):
            pointers.append(vectors)
            return real.ah_index_add(handle, vectors, *rest)

    monkeypatch.setattr(index_module, "lib", Recorder())
    return pointers


def test_input_forms_and_what_they_cost(rng, seen):
    base = rng.standard_normal((64, DIM)).astype(np.float32)
    index = arrowhead.Index(DIM, kind="flat")
    index.add(base)
    assert seen[-1] == base.ctypes.data, "C-contiguous float32 is passed in place"
    view = memoryview(base)
    index.add(view)
    assert seen[-1] == base.ctypes.data, "a float32 buffer is passed in place"
    index.add(base.astype(np.float64))
    assert seen[-1] != base.ctypes.data, "float64 is converted once"
    strided = np.repeat(base, 2, axis=0)[::2]
    index.add(strided)  # non-contiguous numpy: converted once
    assert len(index) == 4 * 64
    with pytest.raises(arrowhead.InvalidArgumentError, match="non-contiguous"):
        index.add(memoryview(np.repeat(base, 2, axis=0))[::2])
    with pytest.raises(arrowhead.DTypeError, match="format 'd'"):
        index.add(memoryview(base.astype(np.float64)))


def test_pyarrow_vectors_go_in_without_a_copy(rng, seen, tmp_path):
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (scripts/test.sh installs it when it can)")
    import pyarrow.parquet as pq

    base = rng.standard_normal((300, DIM)).astype(np.float32)
    table = pa.table({"embedding": pa.FixedSizeListArray.from_arrays(pa.array(base.reshape(-1)), DIM)})
    pq.write_table(table, tmp_path / "vectors.parquet")
    column = pq.read_table(tmp_path / "vectors.parquet")["embedding"]
    index = arrowhead.Index(DIM, kind="flat")
    ids = index.add(column)  # a ChunkedArray from Parquet: each chunk in place
    chunk_addresses = [chunk.flatten().buffers()[1].address + 4 * chunk.flatten().offset for chunk in column.chunks]
    assert seen == chunk_addresses
    assert ids.tolist() == list(range(300))
    sliced = table["embedding"].chunk(0).slice(100, 50)  # an offset into the buffer, still in place
    index.add(sliced)
    assert seen[-1] == sliced.values.buffers()[1].address + 4 * 100 * DIM
    distances, found = index.search(base[100:105], k=1)
    # Each query is stored (twice): distance 0 up to the rounding of ‖q‖² + ‖x‖² − 2q·x,
    # γ_{d+2}·4‖q‖² ≈ 18·2⁻²⁴·4·‖q‖² (‖q‖² ≈ d = 16 for standard normal rows): < 1e-4.
    assert np.array_equal(np.sort(found[:, 0]) % 300, np.arange(100, 105)) and np.all(distances[:, 0] < 1e-4)
    with pytest.raises(arrowhead.DTypeError, match="float32"):
        index.add(pa.FixedSizeListArray.from_arrays(pa.array(base.reshape(-1).astype(np.float64)), DIM))
    with_null = pa.array([base[0].tolist(), None], type=pa.list_(pa.float32(), DIM))
    with pytest.raises(arrowhead.InvalidArgumentError, match="null"):
        index.add(with_null)


def test_bad_input_raises_clear_errors(tmp_path, data):
    base, queries = data
    index = arrowhead.Index(DIM, kind="hnsw", M=8, ef_construction=32)
    with pytest.raises(arrowhead.EmptyIndexError):
        index.search(queries, k=1)
    index.add(base[:200])
    cases = [
        (lambda: index.add(base[:3].astype(np.complex64)), TypeError, "complex"),
        (lambda: index.add(np.array([["x"] * DIM])), ValueError, "dtype"),
        (lambda: index.add(base[:4].reshape(2, 2, DIM)), ValueError, "3 dimensions"),
        (lambda: index.add(base[:4, :5]), ValueError, "dimension 5, the index has dimension 16"),
        (lambda: index.search(queries[:, :3]), ValueError, "dimension 3"),
        (lambda: index.search(queries, k=0), ValueError, "k = 0"),
        (lambda: index.search(queries, k=-2), ValueError, "k = -2"),
        (lambda: index.search(queries, ef=0), ValueError, "ef = 0"),
        (lambda: index.add(base[:2], ids=[5, 6]), ValueError, "id 5 is given twice or already in the index"),
        (lambda: index.add(base[:2], ids=[1000, 1000]), ValueError, "given twice"),
        (lambda: index.add(base[:2], ids=[1.5, 2]), TypeError, "integers"),
        (lambda: index.add(base[:2], ids=[1]), ValueError, "1 ids given for 2 vectors"),
        (lambda: index.remove([3, 99999]), arrowhead.UnknownIDError, "no live vector has id 99999"),
        (lambda: index.get_vector(99999), ValueError, "99999"),
        (lambda: arrowhead.Index(0), ValueError, "dim = 0"),
        (lambda: arrowhead.Index(4, metric="euclid"), ValueError, "metric 'euclid' is unknown"),
        (lambda: arrowhead.Index(4, kind="ivf"), ValueError, "kind 'ivf' is unknown"),
        (lambda: arrowhead.Index(4, storage="int2"), ValueError, "storage 'int2' is unknown"),
        (lambda: arrowhead.Index(4, M=1), ValueError, "M = 1"),
    ]
    for call, kind, message in cases:
        with pytest.raises(kind, match=message):
            call()
    assert len(index) == 200, "failed calls change nothing"
    for bad in (np.nan, np.inf, -np.inf):
        vectors = base[:3].copy()
        vectors[1, 5] = bad
        with pytest.raises(arrowhead.NonFiniteError, match="row 1 holds NaN or infinity at dimension 5"):
            index.add(vectors)
        with pytest.raises(ValueError, match="'queries' row 1"):
            index.search(vectors)
    # Files: missing, truncated, corrupted.
    with pytest.raises(arrowhead.ArrowheadIOError) as missing:
        arrowhead.Index.load(tmp_path / "absent.ahi")
    assert isinstance(missing.value, OSError) and "absent.ahi" in str(missing.value)
    path = tmp_path / "index.ahi"
    index.save(path)
    raw = bytearray(path.read_bytes())
    (tmp_path / "truncated.ahi").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(arrowhead.CorruptFileError, match="truncated|inconsistent"):
        arrowhead.Index.load(tmp_path / "truncated.ahi")
    raw[len(raw) // 2] ^= 0xFF
    (tmp_path / "flipped.ahi").write_bytes(raw)
    with pytest.raises(arrowhead.CorruptFileError, match="corrupted"):
        arrowhead.Index.load(tmp_path / "flipped.ahi", mmap=True)
    (tmp_path / "text.ahi").write_text("not an index at all")
    with pytest.raises(OSError, match="bad magic"):
        arrowhead.Index.load(tmp_path / "text.ahi")
    # A closed index.
    index.close()
    index.close()
    for call in (lambda: len(index), lambda: index.search(queries), lambda: index.add(base[:1]), lambda: index.save(path)):
        with pytest.raises(arrowhead.ClosedError, match="the index is closed"):
            call()
    assert repr(index) == "Index(closed)"


def test_integers_beyond_the_c_types_are_errors_not_wrapped(data):
    # ctypes passes a Python int's low 32 or 64 bits: dim=2**64 + 16 made a 16-d index,
    # ef_construction=2**64 + 16 built with 16, `2**64 + 1 in index` asked about id 1.
    base, queries = data
    index = arrowhead.Index(DIM, kind="hnsw", M=8, ef_construction=32)
    index.add(base[:100])
    big = 2**64 + 1
    cases = [
        (lambda: arrowhead.Index(2**64 + DIM), "dim = 18446744073709551632 is too large"),
        (lambda: arrowhead.Index(DIM, kind="hnsw", ef_construction=2**64 + 16), "ef_construction = .* is too large"),
        (lambda: arrowhead.Index(DIM, kind="hnsw", seed=2**64), "seed = 18446744073709551616 is too large"),
        (lambda: arrowhead.Index(DIM, threads=2**32 + 1), "threads = 4294967297 is too large"),
        (lambda: index.search(queries, k=2**64 + 3), "k = 18446744073709551619 is too large"),
        (lambda: index.search(queries, ef=big), "ef = 18446744073709551617 is too large"),
        (lambda: index.search(queries, threads=2**32 + 2), "threads = 4294967298 is too large"),
        (lambda: index.search(queries[:1], k=10**13), "k = 10000000000000: the results of 1 queries"),
        (lambda: index.get_vector(big), "id = 18446744073709551617 is too large"),
        (lambda: index.get_vector(1.5), "id = 1.5; expected an integer"),
        (lambda: index.remove([big]), "'ids' holds ids outside"),
        (lambda: index.add(base[:1], ids=[big]), "'ids' holds ids outside"),
    ]
    for call, message in cases:
        with pytest.raises(arrowhead.InvalidArgumentError, match=message):
            call()
    assert len(index) == 100, "failed calls change nothing"
    assert 1 in index and big not in index and -(2**63) - 1 not in index
    arrowhead.Index(DIM, kind="hnsw", seed=2**64 - 1).add(base[:10])  # the largest seed is valid


def test_context_manager_and_metadata(data):
    base, _ = data
    with arrowhead.Index(DIM, metric="ip", kind="flat", storage="int8") as index:
        index.add(base[:10])
        assert (index.metric, index.kind, index.storage, len(index)) == ("ip", "flat", "int8", 10)
        assert index.nbytes > 0 and 3 in index and 10 not in index and "3" not in index
        assert "count=10" in repr(index)
    with pytest.raises(RuntimeError):
        len(index)


def test_layer0_links_reach_the_index_and_survive_a_save(data, tmp_path):
    base, queries = data
    assert arrowhead.Index(DIM, M=8).layer0_links == 12  # the default, 3·M/2
    assert arrowhead.Index(DIM, kind="flat").layer0_links is None
    index = arrowhead.Index(DIM, M=8, ef_construction=64, layer0_links=4, threads=1)
    assert index.layer0_links == 4
    index.add(base)
    index.save(tmp_path / "links.ahi")
    loaded = arrowhead.Index.load(tmp_path / "links.ahi")
    assert loaded.layer0_links == 4  # (that later adds use it is tested link for link in Swift)
    assert np.array_equal(index.search(queries, k=5)[1], loaded.search(queries, k=5)[1])
    with pytest.raises(arrowhead.InvalidArgumentError, match="layer0InsertionLinks"):
        arrowhead.Index(DIM, M=8, layer0_links=17)  # 1 … 2·M
    with pytest.raises(arrowhead.InvalidArgumentError, match="layer0_links"):
        arrowhead.Index(DIM, M=8, layer0_links=0)


def _search_in_a_spawned_process(payload):
    index, queries = payload
    return index.search(queries, k=5)


@pytest.mark.parametrize(
    "options",
    [
        dict(kind="flat", metric="ip"),
        dict(kind="hnsw", metric="l2", M=8, ef_construction=64),
        dict(kind="hnsw", metric="cosine", M=8, ef_construction=64, storage="int8", rerank=True, threads=2),
    ],
    ids=["flat-ip", "hnsw-l2", "hnsw-cosine-int8-rerank"],
)
def test_an_index_pickles_and_copies_as_an_independent_index(data, options):
    import copy
    import pickle

    base, queries = data
    index = arrowhead.Index(base.shape[1], **options)
    ids = index.add(base[:600], ids=np.arange(600, dtype=np.int64) * 3 + 7)
    index.remove(ids[10:20])
    expected = index.search(queries, k=10)
    restored = pickle.loads(pickle.dumps(index))
    for other in (restored, copy.copy(index), copy.deepcopy(index)):
        assert other is not index and repr(other) == repr(index) and other._threads == index._threads
        distances, found = other.search(queries, k=10)
        np.testing.assert_array_equal(found, expected[1])
        np.testing.assert_array_equal(distances, expected[0])
        assert ids[10] not in other and ids[20] in other
        np.testing.assert_array_equal(other.get_vector(int(ids[30])), index.get_vector(int(ids[30])))
    # Independent: adding to or closing the copy leaves the original as it was.
    restored.add(base[600:700])
    assert len(restored) == len(index) + 100
    restored.close()
    np.testing.assert_array_equal(index.search(queries, k=10)[1], expected[1])
    index.close()
    with pytest.raises(arrowhead.ClosedError):
        pickle.dumps(index)


def test_an_index_reaches_a_spawned_process_by_pickle(data):
    import multiprocessing

    base, queries = data
    index = arrowhead.Index(base.shape[1], kind="hnsw", M=8, ef_construction=64)
    index.add(base[:500])
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        distances, ids = pool.map(_search_in_a_spawned_process, [(index, queries[:8])])[0]
    expected = index.search(queries[:8], k=5)
    np.testing.assert_array_equal(ids, expected[1])
    np.testing.assert_array_equal(distances, expected[0])


def test_a_corrupted_pickled_index_is_a_corrupt_file_error(data):
    base, _ = data
    index = arrowhead.Index(base.shape[1], kind="flat")
    index.add(base[:50])
    image = bytearray(index.__reduce__()[1][0])
    image[len(image) // 2] ^= 0xFF
    with pytest.raises(arrowhead.CorruptFileError):
        index_module._index_from_image(bytes(image), None)
    with pytest.raises(arrowhead.InvalidArgumentError, match="must be bytes"):
        index_module._index_from_image("not bytes", None)


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_ids_and_get_vectors_list_the_index(data, kind):
    base, _ = data
    graph = dict(M=8, ef_construction=32) if kind == "hnsw" else {}  # a flat index refuses them
    index = arrowhead.Index(base.shape[1], kind=kind, metric="cosine", storage="int8", rerank=True, **graph)
    assert index.ids().dtype == np.int64 and index.ids().shape == (0,)
    given = np.arange(300, dtype=np.int64)[::-1] * 5 - 400  # descending, negative ids too
    index.add(base[:300], ids=given)
    index.remove(given[[0, 7, 299]])
    live = np.delete(given, [0, 7, 299])
    if kind == "hnsw":
        np.testing.assert_array_equal(index.ids(), live)  # the order of adding
    else:  # a flat index moves its last vector into a freed slot
        np.testing.assert_array_equal(np.sort(index.ids()), np.sort(live))
        live = index.ids()
    vectors = index.get_vectors(index.ids())
    assert vectors.shape == (297, base.shape[1]) and vectors.dtype == np.float32
    for row in (0, 100, 296):
        np.testing.assert_array_equal(vectors[row], index.get_vector(int(live[row])))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, rtol=1e-5)  # unit vectors for cosine
    assert index.get_vectors([]).shape == (0, base.shape[1])
    with pytest.raises(arrowhead.UnknownIDError, match=r"ids\[1\]: .*" + str(int(given[7]))):
        index.get_vectors([int(live[0]), int(given[7])])
    with pytest.raises(arrowhead.DTypeError):
        index.get_vectors([1.5])
    index.close()
    with pytest.raises(arrowhead.ClosedError):
        index.ids()


def test_ids_through_the_c_abi_report_the_count_and_check_the_buffer(data):
    import ctypes

    from arrowhead._native import lib

    base, _ = data
    index = arrowhead.Index(base.shape[1], kind="flat")
    index.add(base[:5], ids=[10, 11, 12, 13, 14])
    count = ctypes.c_int64(-1)
    assert lib.ah_index_ids(index._value(), None, 0, ctypes.byref(count)) == 0 and count.value == 5
    count.value = 5
    small = np.zeros(3, dtype=np.int64)
    assert lib.ah_index_ids(index._value(), small.ctypes.data, 3, ctypes.byref(count)) != 0
    assert count.value == 5 and small.tolist() == [0, 0, 0]  # outputs are written only on success
    assert b"'ids' holds 3 elements but 5 are needed" in lib.ah_last_error()
    assert lib.ah_index_ids(index._value(), None, -1, ctypes.byref(count)) != 0
    assert lib.ah_index_ids(index._value(), None, 0, None) != 0


def test_ids_stay_consistent_while_another_thread_adds():
    import threading

    index = arrowhead.Index(4, kind="flat")
    rows = np.ones((10, 4), dtype=np.float32)
    done = threading.Event()

    def grow() -> None:
        for _ in range(300):
            index.add(rows)
        done.set()

    worker = threading.Thread(target=grow)
    worker.start()
    listed = 0
    while not done.is_set() or listed == 0:
        ids = index.ids()
        np.testing.assert_array_equal(ids, np.arange(ids.shape[0]))  # a whole snapshot, never torn
        assert ids.shape[0] % 10 == 0
        listed += 1
    worker.join()
    np.testing.assert_array_equal(index.ids(), np.arange(3_000))


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_add_reports_progress_and_the_callback_cannot_deadlock_the_index(data, kind):
    base, queries = data
    graph = dict(M=8, ef_construction=32) if kind == "hnsw" else {}  # a flat index refuses them
    index = arrowhead.Index(base.shape[1], kind=kind, threads=2, **graph)
    index.add(base[:100])
    calls: list[tuple[int, int]] = []
    ids = index.add(base[100:1100], progress=lambda done, total: calls.append((done, total)))
    np.testing.assert_array_equal(ids, np.arange(100, 1100))
    assert calls[-1] == (1000, 1000) and all(total == 1000 for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)  # increasing, one at a time
    assert (len(calls) == 1) if kind == "flat" else (2 <= len(calls) <= 201)  # every 256 vectors per worker
    reference = arrowhead.Index(base.shape[1], kind=kind, threads=1, **graph)
    reference.add(base[:1100])
    if kind == "flat":
        np.testing.assert_array_equal(index.search(queries, k=5)[1], reference.search(queries, k=5)[1])

    # Using the index from its own callback would wait forever on the add's lock: it raises,
    # and the add finishes and then re-raises it.
    def uses_the_index(done: int, total: int) -> None:
        len(index)

    with pytest.raises(arrowhead.InvalidArgumentError, match="progress callback of its add"):
        index.add(base[1100:1300], progress=uses_the_index)
    assert len(index) == 1300  # the vectors were added

    other = arrowhead.Index(base.shape[1], kind="flat")
    other.add(base[:10])
    seen: list[int] = []
    index.add(base[1300:1400], progress=lambda done, total: seen.append(len(other)))  # another index is fine
    assert seen and set(seen) == {10}

    with pytest.raises(ZeroDivisionError):
        index.add(base[1400:1500], progress=lambda done, total: 1 / 0)
    assert len(index) == 1500
    with pytest.raises(arrowhead.InvalidArgumentError, match="progress must be callable"):
        index.add(base[1500:1501], progress=3)
    assert len(index) == 1500


def _within(seconds: float, call):
    """Runs `call` on a daemon thread; returns its result or raises its exception, and fails
    the test (instead of hanging the suite) when it has not returned after `seconds`."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as error:  # noqa: BLE001 - re-raised below
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the call did not return within {seconds} s (deadlock)"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_a_filter_that_uses_its_own_index_raises_instead_of_deadlocking(data, kind):
    base, queries = data
    index = arrowhead.Index(DIM, kind=kind)
    index.add(base[:1000])
    uses = {
        "remove": lambda i: index.remove([int(i)]) is None,
        "add": lambda i: index.add(base[:1]) is None,
        "close": lambda i: index.close() is None,
        "search": lambda i: index.search(queries[:1], k=1) is None,
        "len": lambda i: len(index) > 0,
        "contains": lambda i: i in index,
    }
    for name, use in uses.items():
        for threads in (1, 4):  # 4: several queries, the filter runs on the library's worker threads
            with pytest.raises(arrowhead.InvalidArgumentError, match="filter of its own search"):
                _within(30, lambda: index.search(queries[:8], k=2, filter=use, threads=threads))
    assert len(index) == 1000 and index.search(queries[:1], k=1)[1].shape == (1, 1), name  # unchanged, usable

    # Another index may be used from the filter, and another thread may add to this index
    # while a search with a (slow) filter runs: the add only waits for the search.
    other = arrowhead.Index(DIM, kind="flat")
    other.add(base[:5])
    ids = _within(30, lambda: index.search(queries[:2], k=3, filter=lambda i: len(other) == 5 and i % 2 == 0)[1])
    assert np.all(ids % 2 == 0)
    started = threading.Event()

    def slow(i: int) -> bool:
        started.set()
        time.sleep(0.0005)
        return True

    adder = threading.Thread(target=lambda: (started.wait(10), index.add(base[1000:1010])))
    adder.start()
    _within(60, lambda: index.search(queries[:2], k=2, filter=slow, threads=1))
    adder.join(30)
    assert not adder.is_alive() and len(index) == 1010


def test_rerank_is_refused_for_an_index_without_float32_copies(data):
    base, queries = data
    for storage, keep in (("f32", False), ("int8", False)):
        index = arrowhead.Index(DIM, kind="flat", storage=storage, rerank=keep)
        index.add(base[:100])
        with pytest.raises(arrowhead.InvalidArgumentError, match=f"rerank = 40 applies only to .* '{storage}' storage"):
            index.search(queries[:2], k=4, rerank=40)
        index.search(queries[:2], k=4)  # no rerank: fine
    with_copies = arrowhead.Index(DIM, kind="flat", storage="int8", rerank=True)
    with_copies.add(base[:100])
    exact = arrowhead.Index(DIM, kind="flat")
    exact.add(base[:100])
    np.testing.assert_array_equal(with_copies.search(queries[:5], k=4, rerank=100)[1], exact.search(queries[:5], k=4)[1])


def test_ef_is_refused_for_a_flat_index(data):
    # A flat index is exact: ef would be silently ignored (the CLI refuses --ef-search too).
    base, queries = data
    flat = arrowhead.Index(DIM, kind="flat")
    flat.add(base[:50])
    with pytest.raises(arrowhead.InvalidArgumentError, match="ef = 32 applies only to an HNSW index"):
        flat.search(queries[:2], k=4, ef=32)
    graph = arrowhead.Index(DIM, kind="hnsw")
    graph.add(base[:50])
    np.testing.assert_array_equal(graph.search(queries[:2], k=4, ef=50)[1], flat.search(queries[:2], k=4)[1])


def test_a_flat_index_refuses_the_hnsw_options_but_not_their_defaults():
    for option in (dict(M=1), dict(M=8), dict(ef_construction=32), dict(ef_search=10), dict(seed=7),
                   dict(layer0_links=5), dict(reuse_deleted_slots=True)):
        (name, value), = option.items()
        with pytest.raises(arrowhead.InvalidArgumentError, match=f"{name} = {value!r} applies only to kind='hnsw'"):
            arrowhead.Index(DIM, kind="flat", **option)
    flat = arrowhead.Index(DIM, "l2", "flat", 16, 200, ef_search=64, seed=42, layer0_links=None, reuse_deleted_slots=False)
    assert flat.kind == "flat"
    hnsw = arrowhead.Index(DIM, kind="hnsw", M=8, layer0_links=5, reuse_deleted_slots=True)
    assert hnsw.layer0_links == 5


def test_zero_rows_of_the_wrong_dimension_are_a_dimension_error():
    index = arrowhead.Index(DIM, kind="flat")
    for rows in (np.empty((0, 5)), np.empty((0,)), np.empty((0, 0), dtype=np.float32)):
        with pytest.raises(arrowhead.InvalidArgumentError, match="the index has dimension 16"):
            index.add(rows)
    assert index.add(np.empty((0, DIM))).shape == (0,)  # the right dimension: nothing to add, fine
    index.add(np.ones((3, DIM), dtype=np.float32))
    with pytest.raises(arrowhead.InvalidArgumentError, match="'q' has dimension 5, the index has dimension 16"):
        index.search(np.empty((0, 5)), k=1)
    assert index.search(np.empty((0, DIM)), k=1)[1].shape == (0, 1)


def test_a_path_with_a_nul_character_is_refused(tmp_path, data):
    base, _ = data
    index = arrowhead.Index(DIM, kind="flat")
    index.add(base[:10])
    with pytest.raises(arrowhead.InvalidArgumentError, match="contains a NUL character"):
        index.save(str(tmp_path / "a\0b.ahi"))
    assert list(tmp_path.iterdir()) == []  # nothing written at the part before the NUL
    good = tmp_path / "good.ahi"
    index.save(good)
    for mmap in (False, True):
        with pytest.raises(arrowhead.InvalidArgumentError, match="contains a NUL character"):
            arrowhead.Index.load(str(good) + "\0.bak", mmap=mmap)
        with pytest.raises(arrowhead.InvalidArgumentError, match="contains a NUL character"):
            arrowhead.Index.load(os.fsencode(good) + b"\0.bak", mmap=mmap)
    with pytest.raises(arrowhead.InvalidArgumentError, match="expected a path"):
        index.save(12)  # type: ignore[arg-type]
    assert len(arrowhead.Index.load(good)) == 10


def test_an_index_closed_during_a_call_raises_closed_error(data, monkeypatch):
    base, queries = data
    for name, call in (
        ("ah_index_search", lambda index: index.search(queries[:2], k=2)),
        ("ah_index_add", lambda index: index.add(base[:2])),
        ("ah_index_count", len),
        ("ah_index_remove", lambda index: index.remove([0])),
    ):
        index = arrowhead.Index(DIM, kind="flat")
        index.add(base[:10])
        monkeypatch.setattr(index_module, "lib", CloseFirst(index_module.lib, name, index))
        with pytest.raises(arrowhead.ClosedError, match="the index is closed"):
            call(index)
        monkeypatch.undo()


def test_the_id_minus_one_is_reserved_for_missing_neighbours():
    # search() pads with -1 where it found fewer than k neighbours: a vector of id -1 would
    # be indistinguishable from a missing one, so add() refuses it (other negative ids work).
    index = arrowhead.Index(4, kind="flat")
    with pytest.raises(arrowhead.InvalidArgumentError, match=r"ids\[1\] = -1"):
        index.add(np.ones((2, 4), np.float32), ids=[3, -1])
    assert len(index) == 0
    index.add(np.ones((2, 4), np.float32), ids=[3, -2])
    distances, ids = index.search(np.ones(4, np.float32), k=3)
    assert sorted(ids[0, :2].tolist()) == [-2, 3] and ids[0, 2] == -1 and np.isinf(distances[0, 2])
