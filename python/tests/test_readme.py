"""The Python examples of README.md's "C and Python" section run, and say what they claim."""
from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest

from conftest import REPOSITORY, write_safetensors


def readme_blocks() -> list[str]:
    text = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## C and Python\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_python_examples_run(tmp_path, monkeypatch):
    blocks = readme_blocks()
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(2)
    write_safetensors(tmp_path / "model.safetensors", {"mlp.weight": rng.standard_normal((64, 128)).astype(np.float32)})
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(blocks[0], "README.md (python 1)", "exec"), namespace)
        exec(compile(blocks[1], "README.md (python 2)", "exec"), namespace)
    lines = printed.getvalue().splitlines()
    assert lines[0] == "[[ 5. 14.]" and lines[1] == " [14. 50.]]"
    assert lines[2] == "[[ 0. 27.]" and lines[3] == " [27.  0.]]"
    assert lines[4] == "92160 (384, 384) (2304,)"
    assert 0.08 < float(lines[5]) < 0.10  # min-max INT4 g64 on Gaussian weights (DATA.md: 0.0947 on MiniLM)
    assert lines[6] == "True True"  # QuantizedMatrix: weight-only to float rounding, int8 within 2 %
    assert lines[7] == "[0 1 2 3 4]" and lines[8] == "9998"
    assert np.all(namespace["even"] % 2 == 0)  # type: ignore[operator]
    assert len(namespace["twin"]) == 9998 and namespace["twin"] is not namespace["loaded"]  # type: ignore[arg-type]
    assert 0 < float(lines[9]) < 0.2
    pytest.importorskip("pyarrow", reason="pyarrow is not installed")
    exec(compile(blocks[2], "README.md (python 3)", "exec"), namespace)
    assert len(namespace["index"]) == 2 * 10_000 - 2  # type: ignore[arg-type]
