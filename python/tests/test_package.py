"""The package's conventions: exports, docstrings, typing marker, errors, lazy submodules,
and (opt-in) installation into a fresh virtual environment."""
from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import arrowhead
from conftest import REPOSITORY


def test_public_names_exist_and_are_documented():
    for name in arrowhead.__all__:
        value = getattr(arrowhead, name)
        if name == "__version__":
            assert isinstance(value, str)
            continue
        assert inspect.getdoc(value), f"arrowhead.{name} has no docstring"
        if inspect.isclass(value):
            for member_name, member in vars(value).items():
                if not member_name.startswith("_") and (callable(member) or isinstance(member, (property, classmethod))):
                    assert inspect.getdoc(getattr(value, member_name)), f"{name}.{member_name} has no docstring"


def test_typed_package():
    assert (Path(arrowhead.__file__).parent / "py.typed").is_file()
    signature = inspect.signature(arrowhead.Index.search)
    assert list(signature.parameters)[:5] == ["self", "q", "k", "ef", "filter"]
    assert signature.parameters["k"].default == 10 and signature.return_annotation != inspect.Signature.empty


def test_errors_derive_from_the_builtin_exceptions():
    assert issubclass(arrowhead.InvalidArgumentError, ValueError)
    assert issubclass(arrowhead.NonFiniteError, ValueError)
    assert issubclass(arrowhead.UnknownIDError, ValueError)
    assert issubclass(arrowhead.DTypeError, TypeError) and issubclass(arrowhead.DTypeError, ValueError)
    assert issubclass(arrowhead.ArrowheadIOError, OSError) and issubclass(arrowhead.CorruptFileError, OSError)
    for cls in (arrowhead.InvalidHandleError, arrowhead.ClosedError, arrowhead.EmptyIndexError, arrowhead.UnsupportedError):
        assert issubclass(cls, RuntimeError)
    error = arrowhead.errors.error_for_status(7, "index 'x' is corrupted")
    assert isinstance(error, arrowhead.CorruptFileError) and error.status == 7 and error.status_name == "AH_ERROR_CORRUPT_FILE"
    assert str(error) == "index 'x' is corrupted"


def test_calibration_is_imported_lazily():
    assert "arrowhead.calibration" not in sys.modules or "calibration" in vars(arrowhead)
    try:
        importlib.import_module("arrowhead.calibration")
    except ModuleNotFoundError:
        with pytest.raises(AttributeError, match="no submodule 'calibration' in this build"):
            arrowhead.calibration  # noqa: B018
    else:
        assert arrowhead.calibration is sys.modules["arrowhead.calibration"]
    assert "calibration" in dir(arrowhead)


def test_embed_is_public_and_unknown_names_are_attribute_errors():
    assert arrowhead.embed is arrowhead.encoder.embed and arrowhead.Encoder is arrowhead.encoder.Encoder
    assert {"embed", "Encoder"} <= set(arrowhead.__all__)
    assert arrowhead.embed.__doc__ and arrowhead.Encoder.encode.__doc__
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        arrowhead.nonsense  # noqa: B018


@pytest.mark.skipif(
    os.environ.get("ARROWHEAD_TEST_PIP_INSTALL") != "1",
    reason="builds the release library (minutes): set ARROWHEAD_TEST_PIP_INSTALL=1 to run",
)
def test_pip_install_into_a_fresh_virtual_environment(tmp_path):
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True, system_site_packages=os.environ.get("ARROWHEAD_TEST_OFFLINE") == "1")
    python = environment / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("ARROWHEAD_LIBRARY", "PYTHONPATH")}
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(REPOSITORY / "python")], check=True, env=env)
    probe = subprocess.run(
        [str(python), "-c", "import arrowhead; print(arrowhead.probe()['version'], arrowhead.__file__)"],
        check=True, capture_output=True, text=True, cwd=tmp_path, env=env,
    ).stdout.split()
    assert probe[0] == arrowhead.__version__ and str(environment) in probe[1]


def test_the_package_docstring_shows_what_probe_returns():
    architecture = arrowhead.probe()["cpu"]["architecture"]
    shown = arrowhead.__doc__.split('arrowhead.probe()["cpu"]["architecture"]\n', 1)[1].splitlines()[0]
    if architecture != "x86-64":
        pytest.skip(f"the docstring shows an x86-64 machine's answer; this one is {architecture!r}")
    assert shown == repr(architecture)
