"""Nearest-neighbour indexes: exact (flat) and approximate (HNSW)."""
from __future__ import annotations

import ctypes
import os
import tempfile
import threading
from typing import Any, Callable, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _arrays
from ._native import (
    AH_ERROR_CALLBACK,
    FILTER_FN,
    INDEX_KINDS,
    PROGRESS_FN,
    METRICS,
    STORAGES,
    Engine,
    Handle,
    HNSWOptions,
    IndexInfo,
    check,
    check_open,
    default_engine,
    lib,
)
from .errors import ClosedError, DTypeError, InvalidArgumentError

__all__ = ["Index"]

PathLike = Union[str, "os.PathLike[str]"]
Filter = Union[Callable[[int], bool], NDArray[np.bool_], None]
_NAMES = {
    "metric": {code: name for name, code in METRICS.items()},
    "kind": {code: name for name, code in INDEX_KINDS.items()},
    "storage": {code: name for name, code in STORAGES.items()},
}


def _choice(value: str, table: dict[str, int], what: str) -> int:
    try:
        return table[value]
    except (KeyError, TypeError):
        options = ", ".join(repr(name) for name in table)
        raise InvalidArgumentError(f"{what} {value!r} is unknown; expected one of {options}") from None


_count = _arrays.integer  # an int in minimum … maximum (the C type's range), else InvalidArgumentError
Progress = Callable[[int, int], object]
# Per thread, the (index handle, reason) of each callback of an index the thread is running:
# an add's progress callback (the add holds the index's lock) or a search's filter callable
# (the search holds it for reading: an add, remove or close waits for the search, which waits
# for the filter, and a nested search could wait behind such a waiting add). A call on that
# index from the callback would wait for itself, so ``Index._value`` refuses it. Thread-local
# because the library calls both from its worker threads, and other threads calling the index
# meanwhile are legitimate (they only wait).
_in_callback = threading.local()
_PROGRESS_REASON = "progress callback of its add (the add holds its lock)"
_FILTER_REASON = (
    "filter of its own search (the search holds its lock: add, remove or close would wait for the search, "
    "which waits for the filter)"
)


def _callbacks_running() -> list[tuple[int, str]]:
    """This thread's list of running index callbacks (see ``_in_callback``)."""
    running: list[tuple[int, str]] | None = getattr(_in_callback, "running", None)
    if running is None:
        running = _in_callback.running = []
    return running


def _refuse_from_callback(handle: int) -> None:
    """Raises ``InvalidArgumentError`` when this thread runs a callback of index ``handle``."""
    for busy, reason in getattr(_in_callback, "running", ()):
        if busy == handle:
            raise InvalidArgumentError(f"an index cannot be used from the {reason}")


class Index:
    """A nearest-neighbour index of float32 vectors with int64 ids.

    ``kind="hnsw"`` is an approximate HNSW graph (``M`` links per node, ``ef_construction``
    candidates while inserting; ``ef`` candidates per query trades speed for recall);
    ``kind="flat"`` compares each query with every vector (exact). ``metric``: ``"l2"``
    (squared Euclidean distance, smaller is nearer), ``"ip"`` (inner product) or
    ``"cosine"`` (vectors are normalised when added; scores are cosine similarities).
    ``storage``: ``"f32"``, or ``"int8"`` / ``"int4"`` scalar-quantized codes (4× / 8× less
    memory); with ``rerank=True`` a float32 copy is kept to re-score the best candidates
    exactly.

    Searches may run concurrently from several Python threads (the GIL is released inside
    every call); ``add`` and ``remove`` wait for running searches (so a search's ``filter``
    callable must not use its index: see :meth:`search`). Close the index (or use it
    as a context manager) to release its memory deterministically; a closed index raises
    :class:`~arrowhead.errors.ClosedError`.

    An index pickles (for ``multiprocessing``, joblib, …) as the bytes :meth:`save` writes,
    through a temporary file in :func:`tempfile.gettempdir`; ``copy.copy`` and
    ``copy.deepcopy`` give an independent index the same way. The copy searches as the
    original does (same vectors, ids, graph and settings) and uses the original's ``threads``.

    >>> index = arrowhead.Index(50, metric="cosine")
    >>> index.add(vectors)                      # ids 0, 1, 2, …
    >>> distances, ids = index.search(queries, k=10, ef=128)
    """

    def __init__(
        self,
        dim: int,
        metric: str = "l2",
        kind: str = "hnsw",
        M: int = 16,
        ef_construction: int = 200,
        storage: str = "f32",
        *,
        ef_search: int = 64,
        rerank: bool = False,
        seed: int = 42,
        threads: int | None = None,
        layer0_links: int | None = None,
        reuse_deleted_slots: bool = False,
    ) -> None:
        """Creates an empty index of ``dim``-dimensional vectors (1 … 65 536).

        Keyword-only extras: ``ef_search`` (the default ``ef`` of searches), ``rerank`` (keep a
        float32 copy of quantized vectors), ``seed`` (of the HNSW level generator: a build on
        one thread is deterministic), ``threads`` (for builds and batch searches; default:
        the module's, see :func:`arrowhead.set_num_threads`; an HNSW build uses at most the
        logical cores, whose spin locks more threads would only make wait). HNSW only:
        ``layer0_links`` (neighbours a new node keeps on layer 0, 1 … 2·M; ``None``: 3·M/2;
        hnswlib keeps M, faiss 2·M — more raise recall per ``ef`` and cost build time; saved
        with the index), ``reuse_deleted_slots`` (adds fill slots freed by :meth:`remove`, so
        memory does not grow under churn).

        ``M``, ``ef_construction``, ``ef_search``, ``seed``, ``layer0_links`` and
        ``reuse_deleted_slots`` configure the HNSW graph: with ``kind="flat"`` (exact, no
        graph) any of them set to other than its default raises
        :class:`~arrowhead.errors.InvalidArgumentError` naming it, as ``arrowhead index build
        --type flat`` refuses them, rather than being ignored.
        """
        engine = Engine(threads=threads) if threads is not None else default_engine()
        out = ctypes.c_void_p()
        kind_code = _choice(kind, INDEX_KINDS, "kind")
        if kind_code == INDEX_KINDS["flat"]:
            for name, value, default in (
                ("M", M, 16), ("ef_construction", ef_construction, 200), ("ef_search", ef_search, 64),
                ("seed", seed, 42), ("layer0_links", layer0_links, None),
                ("reuse_deleted_slots", reuse_deleted_slots, False),
            ):
                if value is not default and (isinstance(value, bool) or value != default):
                    raise InvalidArgumentError(
                        f"{name} = {value!r} applies only to kind='hnsw': a flat index compares every vector "
                        "(exact, no graph); leave it out"
                    )
        dimension = _count(dim, "dim", 1)
        metric_code = _choice(metric, METRICS, "metric")
        storage_code = _choice(storage, STORAGES, "storage")
        if kind_code == INDEX_KINDS["hnsw"]:
            options = HNSWOptions()
            check(lib.ah_hnsw_options_init(ctypes.byref(options)))
            options.m = _count(M, "M", 2)
            options.ef_construction = _count(ef_construction, "ef_construction", 1)
            options.ef_search = _count(ef_search, "ef_search", 1)
            options.seed = _count(seed, "seed", 0, _arrays.UINT64_MAX)
            options.layer0_links = 0 if layer0_links is None else _count(layer0_links, "layer0_links", 1)
            options.reuse_deleted_slots = int(bool(reuse_deleted_slots))
            check(
                lib.ah_index_create_hnsw(
                    engine.handle.value, dimension, metric_code, storage_code, int(bool(rerank)),
                    ctypes.byref(options), ctypes.byref(out),
                )
            )
        else:
            check(
                lib.ah_index_create(
                    engine.handle.value, kind_code, dimension, metric_code, storage_code, int(bool(rerank)),
                    _count(M, "M", 2), _count(ef_construction, "ef_construction", 1), _count(ef_search, "ef_search", 1),
                    _count(seed, "seed", 0, _arrays.UINT64_MAX), ctypes.byref(out),
                )
            )
        self._adopt(out.value or 0)
        self._threads = threads

    def _adopt(self, handle: int) -> None:
        self._threads: int | None = None
        self._handle = Handle(handle, lib.ah_index_free)
        info = IndexInfo()
        check(lib.ah_index_describe(handle, ctypes.byref(info)))
        self._dimension = int(info.dimension)

    @classmethod
    def load(cls, path: PathLike, mmap: bool = False) -> "Index":
        """Loads an index written by :meth:`save` (or ``arrowhead index build``), verifying
        every checksum. ``mmap=True`` maps the file (no copy, pages read on demand);
        ``False`` copies it into memory (faster graph searches). A missing file raises
        ``ArrowheadIOError``; a truncated or corrupted one ``CorruptFileError``; a path
        holding a NUL character ``InvalidArgumentError``. With ``mmap=True`` the file must not
        be truncated or rewritten in place while it is mapped (:meth:`save` replaces files by
        renaming a new one over them, which is safe): a truncation makes the next access to
        the lost pages fail with SIGBUS, as with any memory-mapped file."""
        return cls._load(path, mmap, default_engine())

    @classmethod
    def _load(cls, path: PathLike, mmap: bool, engine: Engine) -> "Index":
        out = ctypes.c_void_p()
        check(lib.ah_index_load(engine.handle.value, _arrays.c_path(path, "path"), int(bool(mmap)), ctypes.byref(out)))
        index = cls.__new__(cls)
        index._adopt(out.value or 0)
        return index

    def _value(self) -> int:
        value = self._handle.value
        if value is None:
            raise ClosedError("the index is closed")
        _refuse_from_callback(value)
        return value

    def _check(self, status: int) -> None:
        check_open(status, self._handle, "the index is closed")

    def _info(self) -> IndexInfo:
        info = IndexInfo()
        self._check(lib.ah_index_describe(self._value(), ctypes.byref(info)))
        return info

    @property
    def dim(self) -> int:
        """Values per vector."""
        return self._dimension

    @property
    def metric(self) -> str:
        """``"l2"``, ``"ip"`` or ``"cosine"``."""
        return _NAMES["metric"][self._info().metric]

    @property
    def kind(self) -> str:
        """``"hnsw"`` or ``"flat"``."""
        return _NAMES["kind"][self._info().kind]

    @property
    def storage(self) -> str:
        """``"f32"``, ``"int8"`` or ``"int4"``."""
        return _NAMES["storage"][self._info().storage]

    @property
    def layer0_links(self) -> int | None:
        """HNSW: neighbours a new node keeps on layer 0 (``None`` for a flat index)."""
        info = self._info()
        return int(info.layer0_links) if info.kind == INDEX_KINDS["hnsw"] else None

    @property
    def nbytes(self) -> int:
        """Bytes the index holds (vectors or codes, links, ids)."""
        return int(self._info().memory_bytes)

    def __len__(self) -> int:
        count = ctypes.c_int64()
        self._check(lib.ah_index_count(self._value(), ctypes.byref(count)))
        return count.value

    def __contains__(self, id: object) -> bool:
        if not isinstance(id, (int, np.integer)) or isinstance(id, bool):
            return False
        if not _arrays.INT64_MIN <= int(id) <= _arrays.INT64_MAX:
            return False  # no id can be outside int64 (ctypes would pass its low 64 bits)
        found = ctypes.c_int32()
        self._check(lib.ah_index_contains(self._value(), int(id), ctypes.byref(found)))
        return bool(found.value)

    def add(
        self, x: ArrayLike, ids: ArrayLike | None = None, *, progress: Progress | None = None
    ) -> NDArray[np.int64]:
        """Adds the rows of ``x`` (n × dim, or one vector of dim) and returns their ids.

        ``ids``: n unique integers not in the index, none of them -1 (reserved: :meth:`search`
        returns it where it found fewer than k neighbours), or ``None`` to continue from the largest
        id so far (0, 1, 2, … for an index filled without ids). float32 C-contiguous arrays,
        pyarrow fixed-size-list arrays (chunk by chunk for a ChunkedArray) and float32
        buffers are read in place; other numpy input is converted once. Everything is
        validated first (dimension, NaN/infinity, duplicate ids): on error nothing is added.

        ``progress``: called as ``progress(done, total)`` while an HNSW index links the
        vectors (every 256 to 1 024 vectors, at most about 200 times, ``done`` increasing,
        last with ``done == total``; a flat index calls it once, at the end), e.g.
        ``progress=lambda d, t: bar.update(d - bar.n)`` with a ``tqdm(total=len(x))`` bar.
        It runs on the library's worker threads, one call at a time, and must not use this
        index (that raises
        :class:`~arrowhead.errors.InvalidArgumentError`: the add holds its lock). An
        exception it raises stops further calls and is re-raised once the add has finished;
        the vectors are added.
        """
        handle = self._value()
        pieces = [_arrays.vectors(chunk, "x", self._dimension) for chunk in _arrays.chunks(x)]
        total = sum(piece.shape[0] for piece in pieces)
        given = None if ids is None else _arrays.int64_ids(ids, "ids", total)
        assigned = np.empty(total, dtype=np.int64)
        failure: list[BaseException] = []
        callback = None
        if progress is not None:
            if not callable(progress):
                raise InvalidArgumentError(f"progress must be callable(done, total), got {type(progress).__name__}")
            callback = _progress_trampoline(progress, failure, handle)
        start = 0
        for piece in pieces:
            rows = piece.shape[0]
            ids_pointer = None if given is None else given.ctypes.data + 8 * start
            if callback is None:
                status = lib.ah_index_add(handle, piece.ctypes.data, rows, self._dimension, ids_pointer,
                                          assigned.ctypes.data + 8 * start)
            else:
                offset = start
                status = lib.ah_index_add_with_progress(
                    handle, piece.ctypes.data, rows, self._dimension, ids_pointer, assigned.ctypes.data + 8 * start,
                    PROGRESS_FN(lambda done, _rows, _context: callback(offset + done, total)), None,
                )
            self._check(status)
            start += rows
        if failure:
            raise failure[0]
        return assigned

    def search(
        self,
        q: ArrayLike,
        k: int = 10,
        ef: int | None = None,
        filter: Filter = None,
        *,
        threads: int | None = None,
        rerank: int | None = None,
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """The ``k`` nearest vectors of each query, nearest first.

        Args:
            q: queries (n × dim, or one vector of dim), read in place when float32 C-contiguous.
            k: neighbours per query (≥ 1).
            ef: HNSW candidate list size (default: the index's ``ef_search``; raised to k).
                Given for a flat index (exact: nothing to tune) it raises
                :class:`~arrowhead.errors.InvalidArgumentError`, as ``arrowhead index search
                --ef-search`` does.
            filter: a numpy boolean mask indexed by id (``mask[id]`` True keeps it; ids
                beyond the mask are dropped) or a callable ``f(id) -> bool``. The mask is
                read in C at no cost; a callable re-acquires the GIL for every candidate it
                is asked about (on the order of a microsecond each, serialising threads), so
                prefer the mask. An exception raised by the callable aborts the search and
                is re-raised here. The callable must not use this index: any call on it from
                there (``add``, ``remove``, ``close``, a nested ``search``, ``len``, ``in``, …)
                raises :class:`~arrowhead.errors.InvalidArgumentError`, which aborts the
                search and is re-raised here (the search holds the index's lock: an add or
                remove would wait for the search, which waits for the filter). Other indexes,
                and other threads using this one, are unaffected.
            threads: threads for this batch (default: the index's engine; at most the
                logical cores are used).
            rerank: for quantized storage with ``rerank=True``: candidates re-scored exactly
                (default 4·k; 0: none). Given for an index without float32 copies (f32
                storage, or quantized without ``rerank=True``) it raises
                :class:`~arrowhead.errors.InvalidArgumentError`, as ``arrowhead index search
                --rerank`` does, rather than being ignored.

        Returns:
            ``(distances, ids)``: float32 and int64 arrays of shape (n, k). ``distances``
            holds the metric values: squared L2, inner product, or cosine similarity. Where
            fewer than k vectors exist (or pass the filter) the remaining ids are −1 and
            their distances +inf (l2) or −inf (ip, cosine).
        """
        handle = self._value()
        queries = _arrays.vectors(q, "q", self._dimension)
        k = _count(k, "k", 1)
        ef_value = 0 if ef is None else _count(ef, "ef", 1)
        thread_count = 0 if threads is None else _count(threads, "threads", 1, _arrays.INT32_MAX)
        rerank_value = -1 if rerank is None else _count(rerank, "rerank", 0)
        if ef is not None and self._info().kind == INDEX_KINDS["flat"]:
            raise InvalidArgumentError(f"ef = {ef_value} applies only to an HNSW index; this one is flat (exact: nothing to tune)")
        if rerank is not None:
            info = self._info()
            if info.storage == STORAGES["f32"] or not info.rerank:
                raise InvalidArgumentError(
                    f"rerank = {rerank_value} applies only to an index with quantized storage built with rerank=True "
                    f"(float32 copies to re-score with); this index has {_NAMES['storage'][info.storage]!r} storage"
                    + ("" if info.storage == STORAGES["f32"] else " without rerank=True")
                )
        n = queries.shape[0]
        try:
            distances = np.empty((n, k), dtype=np.float32)
            ids = np.empty((n, k), dtype=np.int64)
        except (MemoryError, ValueError):
            raise InvalidArgumentError(
                f"k = {k}: the results of {n} queries ({n}×{k} distances and ids, {12 * n * k} bytes) cannot be "
                "allocated; where k exceeds the index's size the extra entries are only padding (id −1)"
            ) from None
        mask, mask_length, callback, trampoline_state = _filter(filter, handle)
        status = lib.ah_index_search(
            handle, _arrays.address(queries), n, self._dimension, k, ef_value, rerank_value, thread_count,
            None if mask is None else _arrays.address(mask), mask_length, callback, None,
            _arrays.address(distances), _arrays.address(ids),
        )
        if status == AH_ERROR_CALLBACK and trampoline_state and trampoline_state[0] is not None:
            raise trampoline_state[0]
        self._check(status)
        return distances, ids

    def remove(self, ids: ArrayLike) -> None:
        """Removes the vectors with these ids (one id or a sequence). All are checked first:
        an unknown id raises ``UnknownIDError`` and a repeated one ``InvalidArgumentError``,
        and then nothing is removed."""
        array = _arrays.int64_ids(ids, "ids")
        self._check(lib.ah_index_remove(self._value(), array.ctypes.data, array.shape[0]))

    def get_vector(self, id: int) -> NDArray[np.float32]:
        """The stored vector with ``id`` (unit-normalised for cosine, decoded for quantized
        storage); ``UnknownIDError`` if no live vector has it."""
        key = _count(id, "id", _arrays.INT64_MIN)
        out = np.empty(self._dimension, dtype=np.float32)
        self._check(lib.ah_index_vector(self._value(), key, out.ctypes.data, out.size))
        return out

    def get_vectors(self, ids: ArrayLike) -> NDArray[np.float32]:
        """The stored vectors with these ids, one row per id (shape ``(len(ids), dim)``; as
        :meth:`get_vector`); an unknown id raises ``UnknownIDError`` naming it and its
        position."""
        array = _arrays.int64_ids(ids, "ids")
        out = np.empty((array.shape[0], self._dimension), dtype=np.float32)
        self._check(lib.ah_index_vectors(self._value(), array.ctypes.data, array.shape[0], out.ctypes.data, out.size))
        return out

    def ids(self) -> NDArray[np.int64]:
        """The ids of the live vectors, in storage order, as a new int64 array of length
        ``len(index)``: the order of adding until vectors are removed (a flat index then
        moves its last vector into the freed slot; an HNSW index with
        ``reuse_deleted_slots`` fills freed slots with new vectors). With
        :meth:`get_vectors` it lists the index: ``index.get_vectors(index.ids())``."""
        handle = self._value()
        count = ctypes.c_int64()
        while True:
            self._check(lib.ah_index_ids(handle, None, 0, ctypes.byref(count)))
            out = np.empty(max(count.value, 1), dtype=np.int64)
            status = lib.ah_index_ids(handle, out.ctypes.data, out.size, ctypes.byref(count))
            if status != InvalidArgumentError.status:  # that one: an add on another thread outgrew `out`
                self._check(status)
                return out[: count.value]

    def save(self, path: PathLike) -> None:
        """Writes the index to ``path`` atomically (temporary file, fsync, rename); the format
        is the CLI's (``arrowhead index search --index path`` reads it). A path holding a NUL
        character raises ``InvalidArgumentError``."""
        file_name = _arrays.c_path(path, "path")
        self._check(lib.ah_index_save(self._value(), file_name))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles the index as its file image (see the class documentation)."""
        with tempfile.TemporaryDirectory(prefix="arrowhead-index-") as folder:
            path = os.path.join(folder, "index.ahi")
            self.save(path)
            with open(path, "rb") as file:
                image = file.read()
        return (_index_from_image, (image, self._threads))

    def close(self) -> None:
        """Releases the index (idempotent). A search running on another thread finishes first;
        from a search's filter or an add's progress callback of this index it raises
        :class:`~arrowhead.errors.InvalidArgumentError` (it would wait for that call)."""
        value = self._handle.value
        if value is not None:
            _refuse_from_callback(value)
        self._handle.free()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._handle.value is None:
            return "Index(closed)"
        info = self._info()
        return (
            f"Index(dim={self._dimension}, metric={_NAMES['metric'][info.metric]!r}, "
            f"kind={_NAMES['kind'][info.kind]!r}, storage={_NAMES['storage'][info.storage]!r}, count={info.count})"
        )


def _progress_trampoline(progress: Progress, failure: list[BaseException], handle: int) -> Callable[[int, int], None]:
    """Calls ``progress(done, total)`` until it raises; the first exception is kept. While it
    runs, the index ``handle`` refuses calls from this thread (see ``Index._value``)."""
    entry = (handle, _PROGRESS_REASON)

    def report(done: int, total: int) -> None:
        if failure:
            return
        running = _callbacks_running()
        running.append(entry)
        try:
            progress(done, total)
        except BaseException as error:  # noqa: BLE001 - re-raised by add()
            failure.append(error)
        finally:
            running.pop()

    return report


def _index_from_image(image: bytes, threads: int | None) -> Index:
    """An index from the bytes :meth:`Index.save` writes (unpickling); checksums verified."""
    if not isinstance(image, (bytes, bytearray, memoryview)):
        raise InvalidArgumentError(f"an index image must be bytes, got {type(image).__name__}")
    engine = Engine(threads=threads) if threads is not None else default_engine()
    with tempfile.TemporaryDirectory(prefix="arrowhead-index-") as folder:
        path = os.path.join(folder, "index.ahi")
        with open(path, "wb") as file:
            file.write(image)
        index = Index._load(path, False, engine)
    index._threads = threads
    return index


def _filter(
    filter: Filter, handle: int
) -> tuple[NDArray[np.uint8] | None, int, Any, list[BaseException | None] | None]:
    """The C form of a search filter of index ``handle``: (mask, mask length, callback, the
    callback's error slot). While a callable runs, ``handle`` refuses calls from its thread
    (see ``Index._value``)."""
    if filter is None:
        return None, 0, FILTER_FN(), None
    if callable(filter) and not isinstance(filter, np.ndarray):
        state: list[BaseException | None] = [None]
        python_filter = filter
        entry = (handle, _FILTER_REASON)

        def trampoline(id: int, _context: Any) -> int:
            if state[0] is not None:
                return -1
            running = getattr(_in_callback, "running", None)  # _callbacks_running(), inlined: per candidate
            if running is None:
                running = _in_callback.running = []
            running.append(entry)
            try:
                return 1 if python_filter(id) else 0
            except BaseException as error:  # re-raised by search() on the calling thread
                state[0] = error
                return -1
            finally:
                running.pop()

        return None, 0, FILTER_FN(trampoline), state
    mask = np.asarray(filter)
    if mask.dtype != np.bool_:
        raise DTypeError(f"filter has dtype {mask.dtype}; expected a boolean mask indexed by id, or a callable")
    if mask.ndim != 1:
        raise InvalidArgumentError(f"filter mask has shape {mask.shape}; expected 1-D (one entry per id)")
    bytes_view = np.ascontiguousarray(mask).view(np.uint8)
    return bytes_view, bytes_view.shape[0], FILTER_FN(), None
