"""Run notebooks through papermill as `invoke notebooks` does, with tiny parameters."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KERNEL = "imgstats"

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def kernel():
    """The kernelspec `invoke notebooks` installs: this interpreter, whatever else is around."""
    subprocess.run(
        [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL],
        check=True,
        capture_output=True,
    )
    return KERNEL


def _papermill(kernel, name, out, **params):
    dst = out / f"{name}.ipynb"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks" / f"{name}.ipynb"),
            str(dst),
            "--kernel",
            kernel,
            "--cwd",
            str(ROOT),
            "--no-progress-bar",
            "--parameters_yaml",
            json.dumps({"OUTPUT": str(out), **params}),
        ],
        capture_output=True,
        text=True,
        timeout=280,
        env={**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    executed = json.loads(dst.read_text())
    errors = [
        o
        for c in executed["cells"]
        if c["cell_type"] == "code"
        for o in c["outputs"]
        if o["output_type"] == "error"
    ]
    assert not errors
    images = [
        o
        for c in executed["cells"]
        if c["cell_type"] == "code"
        for o in c["outputs"]
        if "image/png" in o.get("data", {})
    ]
    assert images, "figures are drawn into the report"
    return executed


def test_benchmark_notebook_writes_benchmark_json(kernel, tmp_path):
    _papermill(
        kernel,
        "1.0-benchmark-statistics",
        tmp_path,
        SIZES_MP=[0.25],
        REPEATS=1,
        CHUNK_PIXELS=[2**16],
        DTYPES=["uint8", "float32"],
    )
    records = json.loads((tmp_path / "benchmark.json").read_text())
    assert isinstance(records, list) and len(records) == 8
    for rec in records:
        assert {"method", "dtype", "pixels", "seconds", "abs_error", "exact"} <= set(rec)
        assert any(m in rec["method"] for m in ("numpy", "dask", "imgstats"))
    assert all(r["exact"] for r in records if r["method"] in ("numpy", "imgstats"))
    text = (tmp_path / "benchmark.md").read_text()
    assert "Machine:" in text and "**imgstats (chunked)**: exact" in text
    assert (tmp_path / "benchmark.png").stat().st_size > 1000


def test_explore_notebook_agrees_with_numpy(kernel, tmp_path):
    _papermill(kernel, "0.1-explore-statistics", tmp_path, FUNCS=["min", "median", "p99"])
    result = json.loads((tmp_path / "explore.json").read_text())
    assert result["order_statistics_equal"] == result["order_statistics_checked"] > 0
