"""A GDAL_NODATA tag read, and its samples left out, as GDAL 3.10 does (rasterio's oracle).

GDAL reads the number at the start of the tag's text (``CPLAtofM``), casts it to the band's
type (truncated for integers, rounded for float32) and leaves out the float samples within
its ``ARE_REAL_EQUAL`` tolerance of it, computed in the band's type.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import tifffile
import xarray as xr

import imgstats

from . import test_meaning_valid

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

read = test_meaning_valid.read  # the fixture of the three read paths (eager, dask, stream)
F32 = np.finfo(np.float32)


def _near(dtype, centre, steps=6):
    """``centre`` and its neighbours ``steps`` ulps either side, in ``dtype``."""
    dtype = np.dtype(dtype)
    out = [dtype.type(centre)]
    for direction in (np.inf, -np.inf):
        v = dtype.type(centre)
        for _ in range(steps):
            with np.errstate(over="ignore"):  # past the largest float: infinity
                v = np.nextafter(v, dtype.type(direction))
            out.append(v)
    return out


def _float_image(dtype):
    dtype = np.dtype(dtype)
    big = dtype.type(F32.max)
    values = (
        _near(dtype, 1.0) + _near(dtype, -9999.0) + _near(dtype, 0.01) + _near(dtype, -big)
        + _near(dtype, big) + [big / 2, -big / 2, np.float32(1e31), 0.0, -0.0, np.inf, -np.inf]
        + [np.nan, 2.0, 3.0, -5.0, 1e-45, 5.0, 5.5]
    )  # fmt: skip
    values = np.array(values, dtype)
    return np.tile(values, (40, 3)).reshape(40, -1)  # three columns a value, 40 rows


def _write(path, data, text):
    tifffile.imwrite(
        path, data, tile=(16, 16), compression="zlib", extratags=[(42113, "s", 0, text, True)]
    )
    with rasterio.open(path) as src:
        return src.read(1, masked=True)


FLOAT_TEXTS = [
    "1", "-9999", "0.01", "-3.4028234663852886e+38", "-3.40282e+38", "3.4028e38", "-1e39",
    "1e-45", "0", "-0", "inf", "-inf", "nan", "1e", "5abc", "1,5", "5.5", "0x10", "inf ",
    "-nan", "1_000", "abc", " \t-9999", "+Inf", "-INF", "1.#INF", "-1.#IND", "1.#IND", "+NaN",
]  # fmt: skip


#: float64 rasters against a few of the texts (the parsing is the same; the arithmetic not)
FLOAT64_TEXTS = ["1", "-9999", "-3.40282e+38", "3.4028e38", "1e-45", "-0", "inf", "1,5"]


@pytest.mark.parametrize(
    ("dtype", "text"),
    [("float32", t) for t in FLOAT_TEXTS] + [("float64", t) for t in FLOAT64_TEXTS],
)
def test_a_float_nodata_leaves_out_what_gdal_leaves_out(tmp_path, read, dtype, text):
    # before: the tag was compared exactly, so "-3.40282e+38" (float32's lowest printed to
    # 6 digits) kept every -3.4028235e+38 sample GDAL leaves out, and texts Python's float()
    # refuses ("1e", "5abc", "1,5") were no nodata, where GDAL reads 1, 5 and 1.5
    path = tmp_path / "f.tif"
    gdal = _write(path, _float_image(dtype), text)
    want = gdal.compressed()
    want = want[~np.isnan(want)]
    got = read(path, ["count", "min", "max", "median"])
    assert got == {
        "count": want.size, "min": want.min(), "max": want.max(), "median": np.median(want),
    }  # fmt: skip


@pytest.mark.parametrize("dtype", ["uint16", "int16"])
@pytest.mark.parametrize(
    "text", ["5", "5.5", "-5.5", "1,5", "1e", "0x10", "abc", "1_000", "16.9", "inf", "nan", "1e9"]
)
def test_an_integer_nodata_leaves_out_what_gdal_leaves_out(tmp_path, read, dtype, text):
    # before: a non-whole nodata (5.5) left nothing out, where GDAL truncates it (the 5s)
    data = (np.arange(40 * 30) % 23 - (7 if dtype == "int16" else 0)).astype(dtype).reshape(40, 30)
    path = tmp_path / "i.tif"
    gdal = _write(path, data, text)
    want = gdal.compressed()
    got = read(path, ["count", "min", "max"])
    assert got == {"count": want.size, "min": want.min(), "max": want.max()}
    labels = np.arange(40 * 30).reshape(40, 30) % 3
    table = imgstats.zonal(path, labels, ["count"], background=None)
    for zone, row in table.iterrows():
        assert row["count"] == gdal[labels == zone].count()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_float_nodata_is_one_rule_for_zones_dims_and_arrays(tmp_path, dtype):
    data = _float_image(dtype)
    gdal = _write(tmp_path / "f.tif", data, "-3.40282e+38")
    keep = ~np.ma.getmaskarray(gdal) & ~np.isnan(data)
    nodata = float(np.float32(-3.40282e38))
    # zones of the file, the array with nodata=, and a DataArray's attrs along a dim
    labels = np.zeros(data.shape, np.uint8)
    labels[:, ::2] = 1
    table = imgstats.zonal(tmp_path / "f.tif", labels, ["count", "min"], background=None)
    for zone, row in table.iterrows():
        assert row["count"] == keep[labels == zone].sum()
        assert row["min"] == data[keep & (labels == zone)].min()
    assert imgstats.compute(data, "count", nodata=nodata) == keep.sum()
    cube = xr.DataArray(np.stack([data, data]), dims=("t", "y", "x"), attrs={"nodata": nodata})
    counts = imgstats.compute(cube, "count", dim="t")
    assert (np.asarray(counts) == 2 * keep).all()


@pytest.mark.parametrize(
    ("dtype", "values", "text"),
    [
        ("uint64", [2**53, 2**53 + 1, 5, 2**64 - 1], "9007199254740993"),
        ("uint64", [2**64 - 1, 2**64 - 2, 3, 4], "18446744073709551615"),
        ("uint64", [2**64 - 1, 2**64 - 2, 3, 4], "-1"),
        ("int64", [-(2**63), 2**53 + 1, 2**53, 7], "-9223372036854775808"),
        ("int64", [2**53, 2**53 + 1, 2**53 + 2, 7], " 9007199254740993abc"),
        ("int64", [2**63 - 1, 2**53 + 1, 0, 7], "99999999999999999999"),
    ],
)
def test_a_64_bit_nodata_is_read_to_its_last_digit(tmp_path, read, dtype, values, text):
    # before: the tag was read as a float, so "9007199254740993" left 2**53 out, not
    # 2**53 + 1, and uint64's largest value was beyond float's exact range: nothing left out
    data = np.tile(np.array(values, dtype), (5, 4))
    gdal = _write(tmp_path / "wide.tif", data, text)
    want = gdal.compressed()
    assert 0 < want.size < data.size
    got = read(tmp_path / "wide.tif", ["count", "min", "max", "value_counts"])
    kept = dict(zip(*np.unique(want, return_counts=True), strict=True))
    assert got == {
        "count": want.size, "min": want.min(), "max": want.max(),
        "value_counts": {int(k): int(v) for k, v in kept.items()},
    }  # fmt: skip


def test_a_preview_hides_the_samples_the_statistics_leave_out():
    # the thumbnails' transparency compared exactly: the -3.4028235e+38 samples of a nodata
    # "-3.40282e+38" showed, which every statistic leaves out
    from imgstats.web._thumbs import invalid_pixels

    data = _float_image("float32")
    nodata = float(np.float32(-3.40282e38))
    shown = ~invalid_pixels(data, nodata)
    assert shown.sum() == imgstats.compute(data, "count", nodata=nodata)
    assert not (data[shown] == -F32.max).any()
