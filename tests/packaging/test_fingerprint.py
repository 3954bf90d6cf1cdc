"""The code's fingerprint, which keys every answer that outlives a process, and the release.

ETags, Redis keys and the thumbnail folder's keys took the release alone: code changed
without a new ``__version__`` (an unreleased fix, a forgotten bump) kept the answers of the
code before, in clients and in Redis. They now take :func:`imgstats._version.fingerprint`:
the release and a digest of the package's ``.py`` files and of its decoders' versions, the
same in every process that runs the same files (gunicorn's workers, a wheel or an editable
install) wherever they lie.
"""

from __future__ import annotations

import compileall
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import imgstats
from imgstats._version import DECODERS, code_digest, decoder_versions, fingerprint

PACKAGE = Path(imgstats.__file__).parent
ROOT = PACKAGE.parent


def _code_only(folder: str, names: list[str]) -> set[str]:
    """Of a folder being copied, the names to leave out: bytecode and non-code files."""
    return {
        n for n in names if n == "__pycache__" or (Path(folder, n).is_file() and n[-3:] != ".py")
    }


@pytest.fixture
def copy(tmp_path):
    """``copy(name) -> Path``: the package's ``.py`` files copied under ``tmp_path/name``."""

    def make(name: str) -> Path:
        target = tmp_path / name / "imgstats"
        shutil.copytree(PACKAGE, target, ignore=_code_only)
        return target

    return make


def test_the_fingerprint_is_the_release_and_a_digest():
    assert re.fullmatch(rf"{re.escape(imgstats.__version__)}\+[0-9a-f]{{16}}", fingerprint())
    assert fingerprint.__wrapped__() == fingerprint()  # the cache keeps what it computes


@pytest.mark.parametrize("name", DECODERS)
def test_a_decoder_of_another_version_changes_the_fingerprint(monkeypatch, name):
    # an upgrade of Pillow, tifffile, imagecodecs or numpy may change the samples decoded or
    # the bytes rendered with imgstats unchanged: Redis and clients must not keep the answers
    # of the version before
    module = __import__(name)
    monkeypatch.setattr(module, "__version__", "0.0.1.test")
    assert f"{name}=0.0.1.test" in decoder_versions().split()
    assert fingerprint.__wrapped__() != fingerprint()


def test_a_library_of_pillow_of_another_version_changes_the_fingerprint(monkeypatch):
    # a Pillow built against the system's libjpeg keeps its version when libjpeg is upgraded
    from PIL import features

    real = features.version
    monkeypatch.setattr(features, "version", lambda f: "9.9" if f == "jpg" else real(f))
    assert "PIL.jpg=9.9" in decoder_versions().split()
    assert fingerprint.__wrapped__() != fingerprint()


@pytest.mark.parametrize("name", ["numba", "llvmlite", "dask", "xarray", "zarr", "affine"])
def test_another_library_on_the_way_of_another_version_changes_the_fingerprint(monkeypatch, name):
    # numba compiles the kernels that count, dask, xarray and zarr carry a remote TIFF's
    # chunks, affine places POST /zonal's polygons: an upgrade of one kept the
    # answers of the version before (the fingerprint named the four decoders only)
    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda n: "0.0.1.test" if n == name else real(n)
    )
    assert f"{name}=0.0.1.test" in decoder_versions().split()
    assert fingerprint.__wrapped__() != fingerprint()


def test_the_other_libraries_versions_are_read_without_importing_them():
    # importing dask and xarray alone costs a second: their metadata names their versions
    code = (
        "import sys; from imgstats._version import LIBRARIES, decoder_versions; "
        "decoder_versions(); print(sorted(n for n in LIBRARIES if n in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_an_absent_decoder_is_named_so_and_changes_the_fingerprint(monkeypatch):
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # its import raises ImportError
    assert "imagecodecs=absent" in decoder_versions().split()
    assert fingerprint.__wrapped__() != fingerprint()


def test_every_process_of_one_environment_has_one_fingerprint():
    # whatever a process imported before (tifffile and imagecodecs are imported on a first
    # TIFF), gunicorn's workers and two servers of one environment share their caches
    fingerprints = set()
    for before in ("", "import tifffile, PIL.Image; "):
        code = f"{before}from imgstats._version import fingerprint; print(fingerprint())"
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        fingerprints.add(proc.stdout.strip())
    assert fingerprints == {fingerprint()}


def test_one_byte_more_in_any_file_changes_the_digest(copy):
    before = code_digest(copy("a"))
    other = copy("b")
    with (other / "web" / "api.py").open("ab") as f:
        f.write(b"\n")
    assert code_digest(other) != before


def test_a_file_renamed_or_bytes_moved_between_files_change_the_digest(copy):
    before = code_digest(copy("a"))
    renamed = copy("b")
    (renamed / "_codec.py").rename(renamed / "_codecs.py")
    assert code_digest(renamed) != before
    moved = copy("c")  # the last line of one file moved to the start of the next
    first, second = moved / "_blocks.py", moved / "_cluster.py"
    head, tail = first.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)
    first.write_bytes(head + b"\n")
    second.write_bytes(tail + b"\n" + second.read_bytes())
    assert code_digest(moved) != before


def test_the_digest_ignores_place_mtimes_bytecode_and_other_files(copy):
    # gunicorn's workers, two servers or a wheel and a checkout must agree on the same code
    same = copy("a")
    assert code_digest(same) == code_digest(PACKAGE)
    for path in same.rglob("*.py"):
        os.utime(path, (0, 0))
    (same / "__pycache__").mkdir(exist_ok=True)
    (same / "__pycache__" / "api.cpython-311.pyc").write_bytes(b"\0" * 16)
    (same / "__pycache__" / "stale.py").write_bytes(b"x = 1\n")
    (same / "notes.txt").write_text("not code")
    assert code_digest(same) == code_digest(PACKAGE)


def test_an_install_of_bytecode_only_still_changes_with_its_code(copy):
    # a build that compiles the package and removes its sources (compileall -b): with the
    # .py files alone there was nothing to digest, and every such build had one fingerprint
    digests = []
    for name, change in (("a", False), ("b", True)):
        package = copy(name)
        if change:
            with (package / "summary.py").open("ab") as f:
                f.write(b"x = 1\n")
        compileall.compile_dir(package, quiet=1, legacy=True)
        for source in package.rglob("*.py"):
            source.unlink()
        digests.append(code_digest(package))
    assert digests[0] != digests[1] and code_digest(PACKAGE) not in digests


def test_the_release_has_one_value_everywhere():
    # pyproject's version names the wheel; __version__ names the answers' release
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == imgstats.__version__
    assert importlib.metadata.version("imgstats") == imgstats.__version__
