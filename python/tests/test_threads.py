"""The GIL is released during native calls: two Python threads run them at the same time."""
from __future__ import annotations

import threading
import time

import numpy as np

import arrowhead


def overlapping_calls(function, rounds: int = 8) -> tuple[int, list[tuple[float, float]]]:
    """Runs `function` `rounds` times on each of two threads, recording every call's
    (start, end); returns how many pairs of calls from different threads overlap in time.

    If the GIL were held during a native call, the other thread could not execute the Python
    code that records its start while the call runs, so no two intervals could overlap,
    however the OS schedules the threads. Any overlap shows the GIL was released. (No
    wall-clock speed-up is asserted: the machine may be busy.)"""
    intervals: list[list[tuple[float, float]]] = [[], []]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(slot: int) -> None:
        try:
            barrier.wait()
            for _ in range(rounds):
                start = time.perf_counter()
                function()
                intervals[slot].append((start, time.perf_counter()))
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    overlaps = sum(1 for a in intervals[0] for b in intervals[1] if a[0] < b[1] and b[0] < a[1])
    return overlaps, intervals[0] + intervals[1]


def test_two_threads_search_in_parallel():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((10_000, 32)).astype(np.float32)
    queries = rng.standard_normal((200, 32)).astype(np.float32)
    index = arrowhead.Index(32, kind="flat")
    index.add(base)
    expected = index.search(queries, k=5, threads=1)[1]
    results = []

    def search() -> None:
        results.append(index.search(queries, k=5, threads=1)[1])

    overlaps, intervals = overlapping_calls(search)
    assert overlaps > 0, f"no two searches overlapped: {intervals}"
    assert all(np.array_equal(result, expected) for result in results)


def test_two_threads_multiply_in_parallel():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((384, 384)).astype(np.float32)
    arrowhead.set_num_threads(1)
    try:
        overlaps, intervals = overlapping_calls(lambda: arrowhead.gemm(a, a))
    finally:
        arrowhead.set_num_threads(None)
    assert overlaps > 0, f"no two products overlapped: {intervals}"


def test_a_python_filter_works_from_the_search_threads():
    # A batch search on several native threads calls the Python filter from each of them;
    # every call re-acquires the GIL (correct, but serialised: the mask is the fast path).
    rng = np.random.default_rng(5)
    base = rng.standard_normal((3_000, 8)).astype(np.float32)
    index = arrowhead.Index(8, M=8, ef_construction=40, threads=2)
    index.add(base)
    callers = set()

    def odd(i: int) -> bool:
        callers.add(threading.get_ident())
        return i % 2 == 1

    _, ids = index.search(base[:64], k=4, ef=32, filter=odd, threads=2)
    assert np.all(ids % 2 == 1)
    assert len(callers) >= 1
