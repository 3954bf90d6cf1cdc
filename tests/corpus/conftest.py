"""The corpus tier: real images made by other projects (issue 16, item 6).

The test images that Pillow ships in its source distribution on PyPI: a thousand files of
every format Pillow and tifffile read, odd and broken ones included. The sdist of the Pillow
version installed here is fetched once with pip (``uvx pip download``, PyPI as for any
package) into a cache folder, ``IMGSTATS_CORPUS_CACHE`` or ``~/.cache/imgstats-corpus``, and
unpacked there. When it cannot be fetched the tier fails in CI (``CI`` set), and is skipped
with the reason elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest


def _cache() -> Path:
    root = os.environ.get("IMGSTATS_CORPUS_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "imgstats-corpus"


def _fetch(version: str, folder: Path) -> Path:
    """Download Pillow's sdist ``version`` with pip into ``folder``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"pillow-{version}.tar.gz"
    if not (folder / name).exists():
        uvx = shutil.which("uvx") or shutil.which("uv")
        if uvx is None:
            raise RuntimeError("neither uvx nor uv is on PATH: cannot run pip download")
        cmd = [uvx] + (["tool", "run"] if uvx.endswith("uv") else [])
        cmd += ["pip", "download", f"pillow=={version}", "--no-binary", ":all:", "--no-deps"]
        cmd += ["--no-build-isolation", "-d", str(folder)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode or not (folder / name).exists():
            cmd.remove("--no-build-isolation")  # an older pip: with isolation, slower
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode or not (folder / name).exists():
            raise RuntimeError(f"pip download of Pillow {version} failed: {done.stderr[-2000:]}")
    return folder / name


@pytest.fixture(scope="session")
def pillow_corpus() -> Path:
    """The folder of Pillow's test images (``Tests/images`` of its sdist)."""
    import PIL

    version = PIL.__version__
    folder = _cache() / f"pillow-{version}"
    images = folder / f"pillow-{version}" / "Tests" / "images"
    if not images.is_dir():
        try:
            sdist = _fetch(version, _cache())
            with tarfile.open(sdist) as tar:
                members = [m for m in tar.getmembers() if "/Tests/images/" in m.name]
                tar.extractall(folder, members=members, filter="data")
        except Exception as exc:  # noqa: BLE001 -- said below, and fatal in CI
            if os.environ.get("CI"):
                pytest.fail(f"the corpus could not be fetched: {exc}")
            pytest.skip(f"the corpus could not be fetched: {exc}")
    return images
