"""The in-tree PEP 517 build backend of the arrowhead Python package (no dependencies).

``pip install ./python`` calls :func:`build_wheel`, which

1. runs ``swift build -c release --product ArrowheadC`` in the repository root (the folder
   above ``python/``; ``$ARROWHEAD_SOURCE_DIR`` overrides it), or takes the library from
   ``$ARROWHEAD_PREBUILT_LIBRARY`` when that is set;
2. copies ``libArrowheadC.so`` into ``arrowhead/_lib/`` with the Swift runtime libraries it
   links (found with ``ldd`` inside the toolchain's runtime folder; the library's RUNPATH is
   ``<toolchain>/usr/lib/swift/linux:$ORIGIN``, so the toolchain's copies are used where the
   toolchain is installed and the bundled ones elsewhere). ``$ARROWHEAD_BUNDLE_SWIFT_RUNTIME=0``
   skips the copy. OpenBLAS and LAPACKE stay system libraries (``scripts/setup.sh``);
3. writes a ``py3-none-<platform>`` wheel with the package, the libraries and ``arrowhead.h``.

Without OpenBLAS (``pkg-config --exists openblas`` fails) the library is built without its
OpenBLAS backend (``--disable-default-traits``), with a warning. :func:`build_editable`
(``pip install -e ./python``) puts the libraries into ``python/arrowhead/_lib`` and installs a
``.pth`` file pointing at ``python/``.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # python/
LIBRARY = "libArrowheadC.dylib" if sys.platform == "darwin" else "libArrowheadC.so"


def _log(message: str) -> None:
    print(f"arrowhead-build: {message}", file=sys.stderr, flush=True)


def _project() -> dict[str, object]:
    """The [project] table of pyproject.toml (tomllib where available, else the subset of
    TOML this file uses: `key = "string"` and `key = ["a", "b"]`)."""
    text = (PACKAGE_DIR / "pyproject.toml").read_text(encoding="utf-8")
    try:
        import tomllib

        return dict(tomllib.loads(text)["project"])
    except ImportError:
        pass
    section = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    result: dict[str, object] = {}
    for key, value in re.findall(r'^(\S+)\s*=\s*(.+?)\s*$', section.group(1) if section else "", re.M):
        if value.startswith("["):
            result[key] = re.findall(r'"([^"]*)"', value)
        else:
            result[key] = value.strip('"')
    return result


def _version() -> str:
    """The library's version: `ArrowheadVersion.string` in the Swift sources (one source of
    truth for the CLI, the C ABI's ah_version() and this package), else pyproject's."""
    root = _repository_or_none()
    if root is not None:
        pattern = re.compile(r'enum ArrowheadVersion\b[^}]*?static let string = "([^"]+)"', re.S)
        for source in sorted((root / "Sources").rglob("*.swift")):
            found = pattern.search(source.read_text(encoding="utf-8", errors="replace"))
            if found:
                return found.group(1)
    version = _project().get("version")
    if not isinstance(version, str):
        raise RuntimeError("arrowhead: no version: ArrowheadVersion.string not found in the Swift sources")
    return version


def _repository() -> Path:
    root = Path(os.environ.get("ARROWHEAD_SOURCE_DIR", PACKAGE_DIR.parent)).resolve()
    if not (root / "Package.swift").is_file():
        raise RuntimeError(
            f"arrowhead: {root} holds no Package.swift. Install from the repository with `pip install ./python` "
            "(pip ≥ 21.3 builds in place), or set ARROWHEAD_SOURCE_DIR to the repository root."
        )
    return root


def _swift() -> str:
    found = shutil.which("swift")
    if found:
        return found
    for candidate in ("/opt/swift/usr/bin/swift", "/usr/share/swift/usr/bin/swift"):
        if os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("arrowhead: the Swift toolchain is needed to build the library: `swift` is not on PATH")


def _has_openblas() -> bool:
    if sys.platform == "darwin":
        return True
    try:
        return subprocess.run(["pkg-config", "--exists", "openblas"], check=False).returncode == 0
    except OSError:
        return False


def _build_library() -> Path:
    prebuilt = os.environ.get("ARROWHEAD_PREBUILT_LIBRARY")
    if prebuilt:
        _log(f"using the prebuilt library {prebuilt}")
        return Path(prebuilt).resolve()
    root, swift = _repository(), _swift()
    command = [swift, "build", "-c", "release", "--product", "ArrowheadC"]
    if not _has_openblas():
        _log("WARNING: OpenBLAS not found (pkg-config openblas); building without the OpenBLAS backend. "
             "Run `source scripts/setup.sh` first to include it.")
        command.append("--disable-default-traits")
    _log(" ".join(command) + f"  (in {root})")
    # The build's output goes to stderr: pip shows it with -v and on failure.
    subprocess.run(command, cwd=root, check=True, stdout=sys.stderr)
    bin_path = subprocess.run(
        command[:4] + ["--show-bin-path"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()
    return Path(bin_path) / LIBRARY


def _runtime_libraries(library: Path) -> list[Path]:
    """The Swift runtime libraries `library` loads (from the toolchain's runtime folder)."""
    if os.environ.get("ARROWHEAD_BUNDLE_SWIFT_RUNTIME", "1") == "0" or sys.platform == "darwin":
        return []
    try:
        output = subprocess.run(["ldd", str(library)], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        _log(f"WARNING: cannot run ldd ({error}); the Swift runtime is not bundled (the toolchain must stay installed)")
        return []
    resolved = {name: Path(path) for name, path in re.findall(r"^\s*(\S+) => (/\S+)", output, re.M)}
    core = resolved.get("libswiftCore.so")
    if core is None:
        return []
    runtime_dir = core.parent
    return sorted(path for path in resolved.values() if path.parent == runtime_dir)


def _files(library: Path) -> dict[str, Path]:
    """Archive name → source file for everything the wheel holds under arrowhead/."""
    files: dict[str, Path] = {}
    package = PACKAGE_DIR / "arrowhead"
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package)
        if path.is_dir() or "__pycache__" in relative.parts or relative.parts[0] == "_lib":
            continue
        if path.suffix in (".py", ".pyi") or path.name == "py.typed":
            files[f"arrowhead/{relative.as_posix()}"] = path
    files[f"arrowhead/_lib/{LIBRARY}"] = library
    for runtime in _runtime_libraries(library):
        files[f"arrowhead/_lib/{runtime.name}"] = runtime
    header = _repository_or_none()
    if header is not None:
        files["arrowhead/include/arrowhead.h"] = header / "Sources/CArrowhead/include/arrowhead.h"
    return files


def _repository_or_none() -> Path | None:
    try:
        return _repository()
    except RuntimeError:
        return None


def _platform_tag() -> str:
    return re.sub(r"[-.]", "_", sysconfig.get_platform())


def _metadata() -> str:
    project = _project()
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {_version()}",
        f"Summary: {project.get('description', '')}",
        f"Requires-Python: {project.get('requires-python', '>=3.9')}",
    ]
    dependencies = project.get("dependencies", [])
    lines += [f"Requires-Dist: {dependency}" for dependency in (dependencies if isinstance(dependencies, list) else [])]
    return "\n".join(lines) + "\n"


def _dist_info() -> str:
    return f"{_project()['name']}-{_version()}.dist-info"


def _write_wheel(directory: str, members: dict[str, bytes | Path]) -> str:
    project = _project()
    name = f"{project['name']}-{_version()}-py3-none-{_platform_tag()}.whl"
    dist_info = _dist_info()
    members = dict(members)
    members[f"{dist_info}/METADATA"] = _metadata().encode()
    members[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: arrowhead_build\nRoot-Is-Purelib: false\n"
        f"Tag: py3-none-{_platform_tag()}\n"
    ).encode()
    records = []
    path = Path(directory) / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for archive_name, source in members.items():
            data = source.read_bytes() if isinstance(source, Path) else source
            info = zipfile.ZipInfo(archive_name, date_time=(2020, 1, 1, 0, 0, 0))
            executable = isinstance(source, Path) and os.access(source, os.X_OK)
            info.external_attr = (0o755 if executable else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{archive_name},sha256={digest},{len(data)}")
        records.append(f"{dist_info}/RECORD,,")
        archive.writestr(f"{dist_info}/RECORD", "\n".join(records) + "\n")
    _log(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return name


# PEP 517 hooks --------------------------------------------------------------------------


def get_requires_for_build_wheel(config_settings: dict[str, object] | None = None) -> list[str]:
    return []


def get_requires_for_build_sdist(config_settings: dict[str, object] | None = None) -> list[str]:
    return []


def get_requires_for_build_editable(config_settings: dict[str, object] | None = None) -> list[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: dict[str, object] | None = None) -> str:
    target = Path(metadata_directory) / _dist_info()
    target.mkdir(parents=True, exist_ok=True)
    (target / "METADATA").write_text(_metadata(), encoding="utf-8")
    return target.name


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(
    wheel_directory: str, config_settings: dict[str, object] | None = None, metadata_directory: str | None = None
) -> str:
    library = _build_library()
    return _write_wheel(wheel_directory, dict(_files(library)))


def build_editable(
    wheel_directory: str, config_settings: dict[str, object] | None = None, metadata_directory: str | None = None
) -> str:
    library = _build_library()
    target = PACKAGE_DIR / "arrowhead" / "_lib"
    target.mkdir(exist_ok=True)
    for archive_name, source in _files(library).items():
        if archive_name.startswith("arrowhead/_lib/"):
            shutil.copy2(source, target / source.name)
    return _write_wheel(wheel_directory, {"arrowhead-editable.pth": (str(PACKAGE_DIR) + "\n").encode()})


def build_sdist(sdist_directory: str, config_settings: dict[str, object] | None = None) -> str:
    """A source archive of python/ only: building a wheel from it needs the repository
    (ARROWHEAD_SOURCE_DIR) or a prebuilt library (ARROWHEAD_PREBUILT_LIBRARY)."""
    project = _project()
    base = f"{project['name']}-{_version()}"
    path = Path(sdist_directory) / f"{base}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for file in sorted(PACKAGE_DIR.rglob("*")):
            relative = file.relative_to(PACKAGE_DIR)
            if file.is_file() and not {"__pycache__", "_lib", ".pytest_cache"} & set(relative.parts):
                archive.add(file, arcname=f"{base}/{relative.as_posix()}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        metadata = _metadata().encode()
        info.size = len(metadata)
        archive.addfile(info, io.BytesIO(metadata))
    return path.name


if __name__ == "__main__":  # `python build_backend/arrowhead_build.py DIR`: build a wheel into DIR
    print(build_wheel(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp()))
