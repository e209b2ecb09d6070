"""The GIL is released during native calls: two Python threads run them at the same time."""
from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest

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


def test_set_num_threads_on_one_thread_does_not_break_calls_on_another():
    # set_num_threads replaces the default engine; the old one is freed once nothing holds
    # it. A call that took only its integer handle (default_engine().handle.value) let it be
    # freed before the C call: InvalidHandleError('the engine handle was freed').
    a = np.ones((8, 8), dtype=np.float32)
    errors: list[BaseException] = []

    def multiply() -> None:
        try:
            for _ in range(2000):
                arrowhead.gemm(a, a)
        except BaseException as error:  # surfaced below
            errors.append(error)

    worker = threading.Thread(target=multiply)
    worker.start()
    try:
        for i in range(2000):
            arrowhead.set_num_threads(1 + i % 2)
    finally:
        worker.join()
        arrowhead.set_num_threads(None)
    assert not errors, errors[0]


def test_every_call_on_the_default_engine_holds_it_for_the_call(tmp_path, monkeypatch):
    # The race above made deterministic: a default engine that nothing else references (as
    # when set_num_threads replaces it on another thread mid-call) must stay alive until the
    # call that uses it returns.
    import arrowhead.engine as engine_module
    import arrowhead.index as index_module
    import arrowhead.quantization as quantization
    from arrowhead import _native
    from conftest import write_safetensors

    rng = np.random.default_rng(9)
    weights = (rng.standard_normal((8, 64)) * 0.05).astype(np.float32)
    write_safetensors(tmp_path / "model.safetensors", {"layer.weight": weights})
    arrowhead.quantize_model(tmp_path / "model.safetensors", tmp_path / "q.safetensors", bits=4, group=32)
    tensor = arrowhead.quantize(weights, bits=4, group=32)
    matrix = arrowhead.QuantizedMatrix(tensor)
    index = arrowhead.Index(4, kind="flat")
    index.add(np.eye(4, dtype=np.float32))
    index.save(tmp_path / "index.ahi")
    for module in (engine_module, quantization, index_module):
        monkeypatch.setattr(module, "default_engine", lambda: _native.Engine(threads=1))  # referenced by nothing
    calls = {
        "probe": lambda: arrowhead.probe(),
        "gemm": lambda: arrowhead.gemm(weights, weights.T),
        "distances": lambda: arrowhead.distances(weights, weights),
        "quantize": lambda: arrowhead.quantize(weights, bits=4, group=32),
        "from_parts": lambda: arrowhead.QuantizedTensor.from_parts(
            tensor.shape, 4, tensor.scales, tensor.offsets, codes=tensor.codes, group=32),
        "QuantizedMatrix": lambda: arrowhead.QuantizedMatrix(tensor),
        "QuantizedMatrix.load": lambda: arrowhead.QuantizedMatrix.load(tmp_path / "q.safetensors", "layer.weight"),
        "matmul": lambda: matrix.matmul(np.ones((2, 64), dtype=np.float32)),
        "to_tensor": lambda: matrix.to_tensor(),
        "quantize_model": lambda: arrowhead.quantize_model(tmp_path / "model.safetensors", tmp_path / "q2.safetensors"),
        "Index": lambda: arrowhead.Index(4),
        "Index.load": lambda: arrowhead.Index.load(tmp_path / "index.ahi"),
    }
    for name, call in calls.items():
        try:
            call()
        except arrowhead.InvalidHandleError as error:
            pytest.fail(f"{name}: {error}")


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


def pool_threads() -> int:
    """The process's native pool threads (named `arrowhead-pool`), from /proc."""
    count = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                count += comm.read().strip() == "arrowhead-pool"
        except OSError:  # the thread ended meanwhile
            pass
    return count


@pytest.mark.skipif(
    not hasattr(os, "fork") or not hasattr(os, "sched_getaffinity") or not os.path.isdir("/proc/self/task"),
    reason="fork, CPU sets and /proc: Linux",
)
def test_a_forked_child_starts_its_own_pool_threads_and_keeps_its_cpus():
    # After fork() the child has only the forking thread (multiprocessing's "fork" start
    # method, a DataLoader worker). Its two-thread calls must start pool threads of its own,
    # and the wake-up placement must not touch the child's own thread: before the fork
    # handler, the child believed the parent's pool thread was there, ran every call on one
    # thread, and narrowing "that thread's" CPU set at a wake-up pinned the child's thread.
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("one CPU: no second thread to place")
    rng = np.random.default_rng(6)
    base = rng.standard_normal((20_000, 32)).astype(np.float32)
    queries = rng.standard_normal((256, 32)).astype(np.float32)
    index = arrowhead.Index(32, kind="flat")
    index.add(base)

    def search():  # queries split over two threads of the pool
        return index.search(queries, k=5, threads=2)[1]

    expected = search()
    assert pool_threads() >= 1
    time.sleep(0.05)  # past its polling time the pool thread sleeps: the child "wakes" it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        status = 1
        try:
            os.close(read)
            before = pool_threads()
            results = []
            for _ in range(5):
                results.append(search())
                time.sleep(0.005)
            report = {
                "before": before,
                "after": pool_threads(),
                "cpus": sorted(os.sched_getaffinity(0)),
                "equal": all(np.array_equal(y, expected) for y in results),
            }
            os.write(write, json.dumps(report).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, text
    report = json.loads(text)
    assert report["before"] == 0, report  # fork copies only the calling thread
    assert report["after"] >= 1, f"the child's two-thread calls started no pool thread: {report}"
    assert report["cpus"] == cpus, f"the child's thread was left on CPUs {report['cpus']} of {cpus}"
    assert report["equal"], "the child's results differ from the parent's"
    assert sorted(os.sched_getaffinity(0)) == cpus
