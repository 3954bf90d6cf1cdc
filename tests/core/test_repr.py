"""A Summary for people: a one-line repr, a Jupyter table, a pandas DataFrame."""

from __future__ import annotations

import math

import numpy as np
import pytest

import imgstats
from imgstats.errors import UnknownFunction

RGB = np.random.default_rng(4).integers(0, 256, (40, 30, 3), dtype=np.uint8)


def test_repr_is_one_short_line():
    s = imgstats.summarize(RGB)
    text = repr(s)
    assert "\n" not in text and len(text) < 160
    assert text == str(s)
    for part in ("uint8", "(40, 30, 3)", "['0', '1', '2']", "count=3,600", imgstats.__version__):
        assert part in text
    assert "Fraction" not in text and "array(" not in text


def test_repr_counts_nan_and_luma():
    f = np.array([[np.nan, 1.0], [2.0, 3.0]], np.float32)
    assert "count=3, nan=1" in repr(imgstats.summarize(f))
    img = imgstats.summarize(_gallery("IMG_1.jpg"))
    assert "+ luma" in repr(img) and "['R', 'G', 'B']" in repr(img)


def _gallery(name):
    from imgstats.data import gallery_path

    return str(gallery_path() / name)


def test_html_table_has_each_band_and_its_statistics():
    s = imgstats.summarize(RGB)
    page = s._repr_html_()
    rows = 3 + 1 + (s.luma is not None)  # three bands, all, and the luma if counted
    assert page.count("<tr>") == 1 + rows
    for band in range(3):
        median = s.compute("median", band)
        assert f"<td title='{median}'>" in page
    assert page.count("<svg") == rows
    assert imgstats.__version__ in page


def test_html_escapes_band_names():
    xr = pytest.importorskip("xarray")
    arr = xr.DataArray(RGB, dims=("y", "x", "band"), coords={"band": ["<b>", "&", "'"]})
    page = imgstats.summarize(arr)._repr_html_()
    assert "<b>" not in page
    assert "&lt;b&gt;" in page and "&amp;" in page


def test_html_says_when_a_percentile_needs_a_refinement():
    f = np.random.default_rng(1).standard_normal((50, 50)).astype(np.float32)
    page = imgstats.summarize(f)._repr_html_()
    assert "needs refine" in page


def test_to_dataframe_equals_compute():
    pytest.importorskip("pandas")
    s = imgstats.summarize(RGB)
    df = s.to_dataframe(["min", "p10", "median", "mean", "max"])
    assert list(df.index)[:4] == ["0", "1", "2", "all"] and df.index.name == "band"
    assert list(df.columns) == ["count", "nan", "min", "p10", "median", "mean", "max"]
    for label, band in [("0", 0), ("1", 1), ("2", 2), ("all", None)]:
        want = s.compute(["min", "p10", "median", "mean", "max"], band)
        assert df.loc[label, ["min", "p10", "median", "mean", "max"]].tolist() == list(
            want.values()
        )
    assert df["count"].tolist()[:4] == [1200, 1200, 1200, 3600]
    assert df.attrs["needs_refinement"] == []


def test_to_dataframe_marks_what_needs_a_refinement():
    pytest.importorskip("pandas")
    f = np.random.default_rng(1).standard_normal((50, 50)).astype(np.float32)
    s = imgstats.summarize(f)
    df = s.to_dataframe()
    assert math.isnan(df.loc["0", "median"])
    assert df.attrs["needs_refinement"] == [("0", "median")]
    refined = imgstats.refine(s, f, "median")
    assert refined.to_dataframe().loc["0", "median"] == np.median(f)


def test_to_dataframe_without_valid_samples_is_nan():
    pytest.importorskip("pandas")
    df = imgstats.summarize(np.full((2, 2), np.nan)).to_dataframe(["min", "mean"])
    assert df.loc["0", "count"] == 0 and df.loc["0", "nan"] == 4
    assert math.isnan(df.loc["0", "min"]) and math.isnan(df.loc["0", "mean"])


def test_to_dataframe_refuses_a_bad_function():
    with pytest.raises(UnknownFunction):
        imgstats.summarize(RGB).to_dataframe(["median", "P99"])


@pytest.mark.parametrize(
    ("values", "want"),
    [
        (np.arange(12, dtype=np.uint8), "<BandStats uint8 count=12 nan=0 masked=0 min=0 max=11"),
        (np.array([np.nan, 1.5, -2.0], np.float32), "float32 count=2 nan=1 masked=0 min=-2.0"),
        (np.full(3, np.nan), "<BandStats float64 count=0 nan=3 masked=0 hist="),
    ],
)
def test_a_band_is_one_short_line(values, want):
    """``summary.bands`` printed every bin of each histogram: 256 numbers for an 8-bit band."""
    (band,) = imgstats.summarize(values).bands
    text = repr(band)
    assert text.startswith(want) or want in text
    assert "\n" not in text and len(text) < 120 and "array(" not in text
