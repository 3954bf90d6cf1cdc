"""One progress bar per question, every pass included, for arrays, TIFFs and dask alike."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import imgstats
import imgstats._progress
import imgstats.io

from .oracle import check_all

FUNCS = ["min", "p10", "median", "p99.9", "max"]


def _bars(err: str) -> int:
    """Bars drawn: each ends with a newline when it closes."""
    return err.count("\n")


@pytest.mark.parametrize("dtype", ["u1", "u2", "f4", "f8", "i4"])
def test_one_bar_for_a_numpy_array_however_many_passes(capsys, dtype):
    arr = (np.random.default_rng(0).standard_normal((300, 200)) * 100).astype(dtype)
    check_all(imgstats.compute(arr, FUNCS, progress=True), arr, FUNCS)
    out, err = capsys.readouterr()
    assert out == "" and _bars(err) == 1, err
    assert "100%" in err


def test_one_bar_for_a_streamed_tiff_and_its_refinement(tmp_path, monkeypatch, capsys):
    arr = np.random.default_rng(1).standard_normal((64, 48)).astype(np.float32)
    tifffile.imwrite(tmp_path / "f.tif", arr, tile=(16, 16))
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)  # streamed tile by tile
    check_all(imgstats.compute(tmp_path / "f.tif", FUNCS, progress=True), arr, FUNCS)
    err = capsys.readouterr().err
    assert _bars(err) == 1 and "24/24" in err  # 12 tiles, read twice: one bar
    assert "f.tif" in err


def test_one_bar_for_a_dask_array(capsys):
    da = pytest.importorskip("dask.array")
    arr = np.random.default_rng(2).standard_normal((40, 30)).astype(np.float32)
    check_all(imgstats.compute(da.from_array(arr, chunks=7), FUNCS, progress=True), arr, FUNCS)
    err = capsys.readouterr().err
    assert _bars(err) == 1 and "100%" in err


def test_auto_shows_a_bar_only_for_work_likely_over_a_second(monkeypatch, capsys):
    arr = np.arange(1000, dtype=np.uint16)
    assert imgstats.compute(arr, "max", progress="auto") == 999
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(imgstats._progress, "AUTO_BYTES", arr.nbytes)
    assert imgstats.compute(arr, "max", progress="auto") == 999
    assert _bars(capsys.readouterr().err) == 1


def test_no_bar_unless_asked(capsys):
    imgstats.compute(np.arange(10.0), FUNCS)
    assert capsys.readouterr().err == ""
