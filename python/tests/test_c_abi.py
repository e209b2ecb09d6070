"""The C ABI itself: the example program, the header ↔ ctypes declarations, bad handles."""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import arrowhead
from arrowhead import _native
from conftest import REPOSITORY

HEADER = REPOSITORY / "Sources/CArrowhead/include/arrowhead.h"
lib = _native.lib


def test_the_c_example_compiles_and_runs(tmp_path):
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler (cc, gcc or clang) on PATH")
    library = Path(_native.library_path())
    program = tmp_path / "example"
    subprocess.run(
        [compiler, "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", str(HEADER.parent), str(REPOSITORY / "examples/c/example.c"),
         "-L", str(library.parent), "-l:" + library.name, "-lm", f"-Wl,-rpath,{library.parent}", "-o", str(program)],
        check=True,
    )
    from test_encoder import MINILM  # the sentence-embedding part runs when the model is present

    arguments = [str(program), str(tmp_path / "example.ahi")] + ([str(MINILM)] if MINILM is not None else [])
    result = subprocess.run(arguments, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    assert ("encoder loaded" in result.stdout) == (MINILM is not None)
    assert "FAIL" not in result.stdout


def test_every_header_function_is_declared_for_ctypes_and_exported():
    declared = _header_functions()
    assert len(declared) >= 30
    assert declared == set(_native.SIGNATURES), declared ^ set(_native.SIGNATURES)
    for name in declared:
        assert hasattr(lib, name)


def _header_functions() -> set[str]:
    return set(re.findall(r"^\s*(?:const\s+)?[\w\s\*]+?\b(ah_\w+)\s*\(", HEADER.read_text(), re.M)) - {"ah_filter_fn"}


def test_the_library_exports_the_header_functions_and_nothing_else():
    """Sources/ArrowheadC/exports.map: the Swift modules, C helpers and ah_internal_* inside the
    library stay local, so another copy of them in the process (a second Swift library, a
    different swift-collections) neither clashes with nor interposes ours."""
    for hidden in ("ah_internal_set_error", "arrowhead_pool_run", "arrowhead_cpu_features",
                   "$s13ArrowheadCore6EngineVN", "$s13ArrowheadCore6EngineV7defaultACvgZ"):
        with pytest.raises(AttributeError):
            lib[hidden]
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("no readelf on PATH to list every exported symbol")
    table = subprocess.run([readelf, "-W", "--dyn-syms", _native.library_path()], capture_output=True, text=True,
                           check=True).stdout
    exported = set()
    for line in table.splitlines():
        fields = line.split()
        # Num: Value Size Type Bind Vis Ndx Name — defined (Ndx not UND) global or weak symbols.
        if len(fields) >= 8 and fields[4] in ("GLOBAL", "WEAK") and fields[6] != "UND":
            exported.add(fields[7].split("@")[0])
    exported -= {"_end", "_edata", "__bss_start"}  # the linker's own markers
    assert exported == _header_functions(), sorted(exported ^ _header_functions())[:20]


def test_freed_and_wrong_handles_are_status_codes():
    invalid_handle = 2
    engine = ctypes.c_void_p()
    assert lib.ah_engine_create(None, 1, ctypes.byref(engine)) == 0
    index = ctypes.c_void_p()
    assert lib.ah_index_create(engine, 0, 4, 0, 0, 0, 0, 0, 0, 0, ctypes.byref(index)) == 0
    count = ctypes.c_int64()
    assert lib.ah_index_count(index, ctypes.byref(count)) == 0
    assert lib.ah_index_free(index) == 0
    assert lib.ah_index_count(index, ctypes.byref(count)) == invalid_handle
    assert lib.ah_last_error() == b"the index handle was freed (or is stale)"
    assert lib.ah_index_free(index) == invalid_handle, "double free"
    assert lib.ah_index_count(engine, ctypes.byref(count)) == invalid_handle, "an engine is not an index"
    assert lib.ah_last_error() == b"expected an index handle but got an engine handle"
    for garbage in (0xDEADBEEF, 1, 2**64 - 1, 0xA2 << 56 | 12345, id(count)):
        assert lib.ah_index_count(garbage, ctypes.byref(count)) == invalid_handle
        assert lib.ah_tensor_free(garbage) == invalid_handle
    assert lib.ah_index_count(None, ctypes.byref(count)) == invalid_handle
    assert lib.ah_index_free(None) == 0
    assert lib.ah_engine_free(engine) == 0
    assert lib.ah_engine_free(engine) == invalid_handle
    # Through the Python layer a stale handle is an InvalidHandleError (a RuntimeError).
    with pytest.raises(arrowhead.InvalidHandleError, match="freed"):
        _native.check(lib.ah_index_count(index, ctypes.byref(count)))


def test_versions_agree():
    import importlib.util

    spec = importlib.util.spec_from_file_location("arrowhead_build", REPOSITORY / "python/build_backend/arrowhead_build.py")
    assert spec is not None and spec.loader is not None
    backend = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(backend)
    assert backend._version() == arrowhead.__version__  # the wheel's version is the library's
    assert lib.ah_abi_version() == int(re.search(r"#define AH_ABI_VERSION (\d+)", HEADER.read_text()).group(1))
