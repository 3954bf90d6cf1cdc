"""Physical values: ``scaled=True`` reads ``value * scale + offset`` from GDAL's metadata
(issue 16 item 2), with rasterio's ``read(masked=True).astype(float64) * scale + offset`` as
the oracle, on files written with rasterio: every path (eager, dask, stream), negative
scales, nodata, several bands. Order statistics (min, max, median, every percentile method)
equal numpy on that oracle to the last bit; mean, sum and std are the exact values rounded
once (numpy's float sums are within a few ulps).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import rasterio
from hypothesis import given
from hypothesis import strategies as st

import imgstats
import imgstats.io._limits
from imgstats import InvalidOption
from imgstats.functions import QUANTILE_METHODS
from imgstats.io._meaning import gdal_scales
from imgstats.summary import _sqrt

from .test_exact import CORE

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

ORDER = ["min", "max", "median", "p0", "p2.5", "p50", "p99.9", "p100"]
RNG = np.random.default_rng(2)


def _write(path, data, scales, offsets, nodata=None, tiled=True):
    count, height, width = data.shape
    profile = dict(driver="GTiff", width=width, height=height, count=count, dtype=data.dtype.name)
    if nodata is not None:
        profile["nodata"] = nodata
    if tiled:
        profile.update(tiled=True, blockxsize=32, blockysize=16)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.scales = scales
        dst.offsets = offsets
    return path


def _physical(path, band):
    with rasterio.open(path) as src:
        raw = src.read(band + 1, masked=True)
        scale, offset = src.scales[band], src.offsets[band]
    values = raw.astype(np.float64) * scale + offset
    return values.compressed(), raw.compressed(), scale, offset


@pytest.mark.parametrize(
    ("dtype", "scales", "offsets", "nodata"),
    [
        ("int16", (0.01, -2.0), (5.0, -1.0), -9999),
        ("uint16", (0.0001, 3.5), (-0.1, 1000.0), 0),
        ("int32", (-0.25,), (17.0,), None),
        ("float32", (1e-3, -7.0), (273.15, 0.0), -3.4028234663852886e38),
        ("uint8", (0.5,), (-10.0,), 255),
    ],
)
def test_physical_values_equal_rasterio_scaled(tmp_path, read, dtype, scales, offsets, nodata):
    count, height, width = len(scales), 70, 90
    if np.dtype(dtype).kind == "f":
        data = RNG.normal(50, 20, (count, height, width)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        lo, hi = max(info.min, -3000), min(info.max, 3000)
        data = RNG.integers(lo, hi, (count, height, width), endpoint=True).astype(dtype)
    if nodata is not None:
        data[RNG.random(data.shape) < 0.2] = nodata
    path = _write(tmp_path / "scaled.tif", data, scales, offsets, nodata)
    for band in range(count):
        v, raw, scale, offset = _physical(path, band)
        funcs = [*ORDER, "mean", "sum", "std", "count"]
        got = read(path, funcs, band=band, scaled=True)
        for f in ORDER:
            q = {"min": 0, "max": 100, "median": None}.get(f, None)
            want = (
                np.median(v)
                if f == "median"
                else np.percentile(v, q if q is not None else float(f[1:]))
            )
            assert got[f] == want.item(), f
            assert type(got[f]) is float
        exact = [Fraction(x) for x in raw.tolist()]
        n = len(exact)
        total = sum(exact, Fraction(0))
        assert got["mean"] == float(total / n * Fraction(scale) + Fraction(offset))
        assert got["sum"] == float(total * Fraction(scale) + n * Fraction(offset))
        mean = total / n
        variance = sum(((x - mean) ** 2 for x in exact), Fraction(0)) / n
        assert got["std"] == _sqrt(variance * Fraction(scale) ** 2)
        assert got["count"] == v.size
        for f in ("mean", "sum", "std"):  # numpy's float steps: close, not equal
            want = getattr(np, f)(v)
            assert math.isclose(got[f], want, rel_tol=1e-9, abs_tol=1e-9 * abs(scale) * 3000)
        # the stored values are the default, as rasterio's read() gives them
        assert read(path, "max", band=band) == raw.max().item()


@pytest.mark.parametrize("method", QUANTILE_METHODS)
@CORE
@given(
    values=st.lists(st.integers(-(2**15), 2**15 - 1), min_size=1, max_size=40),
    scale=st.sampled_from([0.1, -0.1, 3.0, -2.5, 1e-7, -1e5]),
    offset=st.sampled_from([0.0, -1.5, 1e3]),
    q=st.floats(0, 100),
)
def test_every_method_equals_numpy_on_the_mapped_values(method, values, scale, offset, q):
    arr = np.array(values, np.int16)
    mapped = arr.astype(np.float64) * scale + offset
    got = imgstats.compute(arr, ["p50", "median"], scale=scale, offset=offset, method=method)
    assert got["median"] == np.median(mapped).item()
    name = f"p{q:.6f}".rstrip("0").rstrip(".")
    pct = float(name[1:])
    assert imgstats.compute(arr, name, scale=scale, offset=offset, method=method) == (
        np.percentile(mapped, pct, method=method).item()
    )


def test_a_negative_scale_swaps_min_and_max_and_reverses_ranks():
    arr = np.array([[1, 2, 3, 10]], np.uint8)
    got = imgstats.compute(arr, ["min", "max", "p25", "p75"], scale=-1.0, offset=0.5)
    mapped = arr.astype(np.float64) * -1.0 + 0.5
    assert got == {
        "min": -9.5,
        "max": -0.5,
        "p25": np.percentile(mapped, 25).item(),
        "p75": np.percentile(mapped, 75).item(),
    }


def test_a_wide_float_image_refines_the_reversed_ranks():
    arr = RNG.normal(0, 1, 100_000).astype(np.float64)
    mapped = arr * -3.0 + 1.0
    got = imgstats.compute(arr, ["p1", "p99", "median"], scale=-3.0, offset=1.0)
    assert got == {
        "p1": np.percentile(mapped, 1).item(),
        "p99": np.percentile(mapped, 99).item(),
        "median": np.median(mapped).item(),
    }


@pytest.mark.parametrize(
    ("values", "scale", "offset"),
    [
        (np.arange(256, dtype=np.uint8), 1e308, 0.0),  # the top values overflow to inf
        (np.arange(256, dtype=np.uint8), 1e308, -1e308),
        (np.arange(-128, 128, dtype=np.int8), 1e308, 0.0),  # both ends overflow
        (np.arange(-128, 128, dtype=np.int8), -1e307, 5.0),
        (np.array([np.inf, 1.0, 2.0]), -2.0, 1.0),  # a stored infinity, reversed
        (np.array([-np.inf, 1.0, np.inf], np.float32), 3.0, 0.0),
    ],
)
def test_mean_sum_and_std_of_physical_values_beyond_float64_are_numpys(values, scale, offset):
    # before: the std of physical values beyond float64's range raised OverflowError (a 500
    # for POST /stats with "scale": 1e308), and was not numpy's NaN of values holding inf
    with np.errstate(all="ignore"):
        mapped = values.astype(np.float64) * scale + offset
        want = {"mean": mapped.mean(), "sum": mapped.sum(), "std": mapped.std()}
    got = imgstats.compute(values, ["mean", "sum", "std"], scale=scale, offset=offset)
    np.testing.assert_equal(got, {k: v.item() for k, v in want.items()})


def test_an_image_without_scales_is_its_own_values_as_floats(tmp_path):
    arr = np.arange(12, dtype=np.uint16).reshape(3, 4)
    assert imgstats.compute(arr, ["max", "mean"], scaled=True) == {"max": 11.0, "mean": 5.5}


def test_bands_of_different_scales_are_not_pooled(tmp_path):
    data = np.ones((2, 8, 8), np.int16)
    path = _write(tmp_path / "two.tif", data, (1.0, 2.0), (0.0, 0.0))
    with pytest.raises(InvalidOption, match="different scales"):
        imgstats.compute(path, "mean", scaled=True)
    assert imgstats.compute(path, "mean", band=1, scaled=True) == 2.0
    assert imgstats.compute(path, "mean", scale=3.0) == 3.0  # a given scale is every band's


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scale": 0}, "scale must be a finite number other than 0"),
        ({"scale": float("nan")}, "scale must be a finite number"),
        ({"offset": float("inf")}, "offset must be a finite number"),
        ({"scale": "two"}, "scale must be a number"),
        ({"scale": "1_0"}, "scale must be a number"),  # float() reads 10
        ({"offset": "\u0663"}, "offset must be a number"),  # Arabic-Indic 3: float() reads 3
        ({"scale": np.array([1.0, 2.0])}, "scale must be one number"),  # was a TypeError
        ({"offset": [0, 1]}, "offset must be a number"),
        ({"scaled": "yes"}, "scaled must be True or False"),
    ],
)
def test_bad_scales_are_refused(options, message):
    with pytest.raises(InvalidOption, match=message):
        imgstats.compute(np.arange(4, dtype=np.uint8), "mean", **options)


@pytest.mark.parametrize("func", ["majority", "unique", "value_counts"])
def test_classes_are_not_scaled(func):
    with pytest.raises(InvalidOption, match="stored classes"):
        imgstats.compute(np.arange(4, dtype=np.uint8), func, scaled=True)


def test_a_file_with_an_unusable_scale_says_so(tmp_path):
    data = np.ones((1, 8, 8), np.int16)
    path = _write(tmp_path / "zero.tif", data, (0.0,), (1.0,))
    with pytest.raises(InvalidOption, match="give no physical values"):
        imgstats.compute(path, "mean", scaled=True)
    assert imgstats.compute(path, "mean") == 1.0  # the stored values still answer


def test_gdal_metadata_parsing():
    xml = (
        '<GDALMetadata><Item name="SCALE" sample="1" role="scale">2.5</Item>'
        '<Item role="offset" sample="0" name="OFFSET">-4</Item>'
        '<Item name="STATISTICS_MEAN" sample="0">7</Item></GDALMetadata>'
    )
    assert gdal_scales(xml, 2) == ((1.0, -4.0), (2.5, 0.0))
    assert gdal_scales("<GDALMetadata></GDALMetadata>", 1) is None
    assert gdal_scales(xml, 1) == ((1.0, -4.0),)  # a sample beyond the bands is ignored
    bad = '<Item name="SCALE" sample="0" role="scale">x</Item>'
    assert math.isnan(gdal_scales(bad, 1)[0][0])


def test_the_summary_keeps_the_scales_through_its_bytes(tmp_path):
    data = (np.arange(64, dtype=np.int16).reshape(1, 8, 8)) * 3
    path = _write(tmp_path / "s.tif", data, (0.5,), (1.0,))
    summary = imgstats.summarize(path)
    assert summary.scales == ((0.5, 1.0),)
    again = imgstats.Summary.from_bytes(summary.to_bytes())
    assert again.compute("max", scaled=True) == 189 * 0.5 + 1.0
    assert imgstats.compute(again, "max", scaled=True) == 189 * 0.5 + 1.0
    assert again.compute("max", scale=2.0) == 378.0


def test_the_header_and_the_gallery_tell_the_scales(tmp_path):
    from imgstats.io import read_header
    from imgstats.web import create_app

    data = np.arange(2 * 20 * 30, dtype=np.int16).reshape(2, 20, 30)
    path = _write(tmp_path / "s.tif", data, [0.01, -2.5], [100.0, 0.0])
    with open(path, "rb") as fh:
        header = read_header(fh, path)
    with rasterio.open(path) as src:
        assert header["scales"] == [[s, o] for s, o in zip(src.scales, src.offsets, strict=True)]
    plain = _write(tmp_path / "p.tif", data, [1.0, 1.0], [0.0, 0.0])
    with open(plain, "rb") as fh:
        assert read_header(fh, plain)["scales"] in (None, [[1.0, 0.0], [1.0, 0.0]])
    client = create_app({"IMAGES": str(tmp_path), "WARMUP": False}).test_client()
    assert client.get("/api/images/s.tif").get_json()["scales"] == header["scales"]
    page = client.get("/gallery/s.tif").get_data(as_text=True)
    assert "Scale, offset" in page and "0.01 + 100" in page and "-2.5 + 0" in page


@pytest.mark.parametrize(
    ("attrs", "scale", "offset"),
    [
        ({"scale_factor": 0.01, "add_offset": 273.15}, 0.01, 273.15),
        ({"scale_factor": np.array([0.5], np.float32)}, 0.5, 0.0),  # netCDF: a 1-element array
        ({"add_offset": -100}, 1.0, -100.0),
    ],
)
def test_a_dataarrays_cf_packing_gives_its_physical_values(attrs, scale, offset):
    """A DataArray that xarray did not decode (``mask_and_scale=False``), or rioxarray's
    ``open_rasterio(mask_and_scale=False)``, keeps CF's ``scale_factor`` and ``add_offset``
    in its attrs: ``scaled=True`` reads ``value * scale_factor + add_offset``, as a file's
    GDAL scale; the stored values stay the default, and a fill value is left out first."""
    import xarray as xr

    rng = np.random.default_rng(21)
    arr = rng.integers(-3000, 3000, (30, 40)).astype(np.int16)
    arr[:3] = -32768
    da = xr.DataArray(arr, dims=("y", "x"), attrs={**attrs, "_FillValue": -32768})
    raw = arr[arr != -32768]
    v = raw.astype(np.float64) * scale + offset
    got = imgstats.compute(da, ["min", "max", "median", "p90", "mean"], scaled=True)
    assert got["min"] == v.min() and got["max"] == v.max()
    assert got["median"] == np.median(v) and got["p90"] == np.percentile(v, 90)
    exact = sum((Fraction(int(x)) for x in raw), Fraction(0)) / raw.size
    assert got["mean"] == float(exact * Fraction(scale) + Fraction(offset))
    assert imgstats.compute(da, "max") == raw.max()  # the stored values by default
    assert imgstats.summarize(da).scales == ((scale, offset),)


@pytest.mark.parametrize(
    "attrs",
    [{"scale_factor": 0}, {"scale_factor": "2"}, {"scale_factor": [1, 2]}, {"add_offset": np.nan}],
)
def test_a_cf_packing_that_is_not_one_number_is_left_alone(attrs):
    import xarray as xr

    arr = np.arange(12, dtype=np.int16).reshape(3, 4)
    da = xr.DataArray(arr, dims=("y", "x"), attrs=attrs)
    assert imgstats.compute(da, ["max", "mean"], scaled=True) == {"max": 11.0, "mean": 5.5}
