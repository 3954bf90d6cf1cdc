"""The wheel holds the library only, and installs without the service's packages.

Slow: it builds the wheel with ``uv build`` and installs it into a fresh ``uv venv`` (from
uv's cache or the package index), as ``pip install imgstats`` would for a data scientist.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgstats.data import gallery_path

ROOT = Path(__file__).resolve().parents[2]
UV = shutil.which("uv")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(UV is None, reason="uv is not installed"),
]


def _run(*cmd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kwargs
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = _run(UV, "build", "--wheel", "--out-dir", out, ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("imgstats-*.whl")
    return path


def test_the_wheel_holds_only_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"imgstats", wheel.name.split("-py3")[0] + ".dist-info"}, tops
    assert "imgstats/web/templates/gallery/base.html" in names  # data files come along
    assert "imgstats/data/gallery/IMG_1.jpg" in names
    assert not any(n.startswith(("imgstats/bench", "imgstats/plot")) for n in names)
    metadata = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        .decode()
    )
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    core = [r for r in requires if "extra ==" not in r]
    for name in ("flask", "gunicorn", "redis", "requests", "pytest"):
        assert not any(r.split()[1].lower().startswith(name) for r in core), (name, core)
    assert any("flask" in r and "extra == 'web'" in r.replace('"', "'") for r in requires)


def test_installed_alone_it_has_no_service_and_its_cli_works(wheel, tmp_path):
    venv = tmp_path / "venv"
    assert _run(UV, "venv", "--quiet", "--python", sys.executable, venv).returncode == 0
    python = venv / "bin" / "python"
    proc = _run(UV, "pip", "install", "--quiet", "--python", python, wheel)
    assert proc.returncode == 0, proc.stderr[-3000:]

    absent = _run(
        python,
        "-c",
        "import importlib.util as u; print([m for m in "
        "('flask', 'gunicorn', 'redis', 'requests') if u.find_spec(m)])",
    )
    assert absent.stdout.strip() == "[]"

    jpeg = gallery_path() / "IMG_1.jpg"
    stats = _run(venv / "bin" / "imgstats", "stats", jpeg, "median", "p99", cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    arr = np.asarray(Image.open(jpeg))
    assert stats.stdout.split() == [
        "median",
        str(float(np.median(arr))),
        "p99",
        str(float(np.percentile(arr, 99))),
    ]

    serve = _run(venv / "bin" / "imgstats", "serve", cwd=tmp_path)
    assert serve.returncode == 2
    assert "imgstats[web]" in serve.stderr and serve.stderr.count("\n") == 1

    # the same code from the wheel as from the checkout: the same fingerprint, so a
    # container and an editable install share their Redis summaries and clients' ETags
    from imgstats._version import decoder_versions, fingerprint

    script = (
        "from imgstats._version import fingerprint as f, decoder_versions as d; print(f(), d())"
    )
    installed = _run(python, "-c", script, cwd=tmp_path)
    mine = f"{fingerprint()} {decoder_versions()}"
    assert installed.stdout.strip() == mine, installed.stderr[-2000:]
