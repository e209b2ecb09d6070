"""Shared fixtures: the repository, the CLI binary, safetensors files written with numpy.

Run with ``./scripts/test.sh`` (it builds the debug library and points ``ARROWHEAD_LIBRARY``
at it) or, after ``pip install ./python``, with ``python -m pytest python/tests``.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import arrowhead

REPOSITORY = Path(__file__).resolve().parents[2]


def cli_path() -> Path | None:
    """The `arrowhead` CLI of the build the library comes from (``$ARROWHEAD_CLI`` overrides)."""
    override = os.environ.get("ARROWHEAD_CLI")
    if override:
        return Path(override)
    library = Path(arrowhead._native.library_path())
    for candidate in (library.parent / "arrowhead", REPOSITORY / ".build/debug/arrowhead", REPOSITORY / ".build/release/arrowhead"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def cli() -> Path:
    path = cli_path()
    if path is None:
        pytest.skip("the arrowhead CLI is not built (swift build); set ARROWHEAD_CLI to compare with it")
    return path


def run_cli(cli: Path, *arguments: str) -> str:
    """Runs the CLI and returns its standard output (fails the test on a non-zero exit)."""
    result = subprocess.run([str(cli), *arguments], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"arrowhead {' '.join(arguments)} failed:\n{result.stderr}"
    return result.stdout


_DTYPES = {"F32": np.dtype("<f4"), "U8": np.dtype("u1"), "I32": np.dtype("<i4"), "F16": np.dtype("<f2")}
_NAMES = {value: key for key, value in _DTYPES.items()}


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """A safetensors file: 8-byte little-endian header length, JSON header, raw data."""
    header: dict[str, Any] = {}
    offset = 0
    blobs = []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _NAMES[np.dtype(array.dtype)], "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file (metadata skipped)."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    header.pop("__metadata__", None)
    data = raw[8 + length :]
    return {
        name: np.frombuffer(data[entry["data_offsets"][0] : entry["data_offsets"][1]], dtype=_DTYPES[entry["dtype"]]).reshape(entry["shape"])
        for name, entry in header.items()
    }


def unpack_codes(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """Codes from a little-endian bit stream (code j at stream bits j·bits …; stream bit k is
    bit k mod 8 of byte k // 8): the format of Sources/ArrowheadQuant/README.md, decoded
    independently of the library."""
    stream = np.unpackbits(np.asarray(packed, dtype=np.uint8), bitorder="little")
    weights = 1 << np.arange(bits)
    return (stream[: count * bits].reshape(count, bits) * weights).sum(axis=1).astype(np.uint8)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


class CloseFirst:
    """`lib` as a module sees it, except that the C function `name` first closes `target`: as
    if another thread closed the object between its closed-check and the C call."""

    def __init__(self, real, name, target):
        self._real, self._name, self._target = real, name, target

    def __getattr__(self, attribute):
        function = getattr(self._real, attribute)
        if attribute != self._name:
            return function

        def closing_first(*arguments):
            self._target.close()
            return function(*arguments)

        return closing_first
