"""Reductions along chosen dims (issue 11): equal to numpy's nan-functions along those axes."""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

import imgstats
from imgstats import InvalidOption

from .cluster import local_cluster
from .oracle import ALL_DTYPES, expected_mean, expected_percentile, same_number, valid_samples
from .test_exact import CORE, uneven_chunks, value_pool

FUNCS = ["min", "max", "mean", "median", "p1", "p99.9"]
DIMS = ("time", "band", "y", "x")


def _oracle(values, name):
    """numpy's nan-function of one cell (NaN for a cell without valid samples)."""
    v = valid_samples(values)
    if v.size == 0:
        return np.nan
    if name in ("min", "max"):
        return getattr(np, name)(v).item()
    if name == "mean":
        return expected_mean(v)
    if name == "median":  # numpy.median, not percentile 50 (see docs/statistics.md)
        with np.errstate(all="ignore"):
            return np.median(v).item()
    return expected_percentile(v, float(name[1:]))


def _check(result: xr.DataArray, arr: np.ndarray, keep, reduced, names):
    axes = tuple(DIMS.index(d) for d in reduced)
    moved = np.moveaxis(arr, axes, tuple(range(arr.ndim - len(axes), arr.ndim)))
    cells = moved.reshape(*moved.shape[: len(keep)], -1)
    assert result.dims == (*keep, "func")
    assert list(result.func.values) == names
    got = result.values
    for idx in np.ndindex(*cells.shape[:-1]):
        for j, name in enumerate(names):
            want = _oracle(cells[idx], name)
            value = got[idx + (j,)].item()
            if isinstance(want, tuple):
                assert same_number(value, want), (idx, name, value, want)
            elif name in ("min", "max") and not isinstance(want, float):
                assert value == float(want), (idx, name, value, want)  # float64 result array
            else:
                assert same_number(value, want), (idx, name, value, want)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@CORE
@given(data=st.data())
def test_dims_equal_numpy_along_the_axes(dtype, data):
    # every remaining cell holds a 2**16-bin summary per block for wide types: keep them few
    shape = data.draw(
        st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(1, 7), st.integers(1, 7)),
        label="shape",
    )
    arr = data.draw(
        hnp.arrays(np.dtype(dtype), shape, elements=st.sampled_from(value_pool(dtype))), label="arr"
    )
    reduced = tuple(
        data.draw(st.lists(st.sampled_from(DIMS), min_size=1, max_size=4, unique=True), label="dim")
    )
    keep = [d for d in DIMS if d not in reduced]
    xarr = xr.DataArray(arr, dims=DIMS)
    _check(imgstats.compute(xarr, FUNCS, dim=reduced), arr, keep, reduced, FUNCS)
    chunks = data.draw(uneven_chunks(arr.shape), label="chunks")
    lazy = xr.DataArray(da.from_array(arr, chunks=chunks), dims=DIMS)
    result = imgstats.compute(lazy, FUNCS, dim=reduced)
    assert isinstance(result.data, da.Array)
    # the remaining dims keep the input's chunks
    assert result.chunks[: len(keep)] == tuple(chunks[DIMS.index(d)] for d in keep)
    _check(result.compute(), arr, keep, reduced, FUNCS)


def test_float_results_equal_nanpercentile_exactly():
    rng = np.random.default_rng(21)
    arr = rng.normal(size=(6, 64, 48)).astype(np.float32)
    arr[1, ::5] = np.nan
    arr[4] = np.nan
    xarr = xr.DataArray(arr, dims=("time", "y", "x"), coords={"time": np.arange(6) * 10})
    lazy = xarr.chunk({"time": 1, "y": 23, "x": 17})
    got = lazy.imgstats.compute("p99", dim=("y", "x"))
    assert got.name == "p99" and got.dims == ("time",)
    np.testing.assert_array_equal(got.time.values, xarr.time.values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy warns on the all-NaN step
        want = np.nanpercentile(arr, 99, axis=(1, 2))
        np.testing.assert_array_equal(got.values, want)
        mean = imgstats.compute(lazy, "mean", dim=("y", "x")).values
        # the exact mean, rounded once (numpy's float32 nanmean accumulates in float32)
        np.testing.assert_allclose(mean, np.nanmean(arr, axis=(1, 2), dtype=np.float64))
    for t in range(6):
        assert same_number(mean[t].item(), _oracle(arr[t], "mean"))
    # The result stays chunked like the input along time: one task per time step, where
    # xarray's own quantile first rechunks each whole (y, x) slab into one chunk.
    assert got.chunks == ((1,) * 6,)


@pytest.mark.parametrize("cell", [4, (1 << 16) + 4], ids=["small-cells", "summarized-cells"])
@pytest.mark.parametrize("lazy", [False, True])
def test_a_cell_without_valid_samples_counts_0_whatever_its_size(cell, lazy):
    # before: a cell of at most 65536 samples, all NaN (or masked), had the count NaN, while
    # a larger one had 0, as compute's count of such an image is
    from imgstats.grouped import SMALL_GROUP

    assert (cell <= SMALL_GROUP) == (cell == 4)
    values = np.random.default_rng(5).normal(size=(cell, 3)).astype(np.float32)
    values[:, 0] = np.nan
    values[::2, 1] = np.nan
    arr = xr.DataArray(values, dims=("t", "x"))
    arr = arr.chunk({"t": cell // 3 + 1}) if lazy else arr  # uneven chunks along the dim
    got = imgstats.compute(arr, ["count", "mean", "max", "sum"], dim="t")
    want_counts = [0, cell // 2, cell]
    assert got.sel(func="count").values.tolist() == want_counts
    assert np.isnan(got.sel(func=["mean", "max", "sum"]).values[0]).all()
    assert imgstats.compute(arr, "count", dim="t").values.tolist() == want_counts
    assert imgstats.compute(np.full((2, 2), np.nan), "count") == 0


@pytest.mark.parametrize("side", [8, 260], ids=["small-cells", "summarized-cells"])
@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("region", [None, "mask", "window"])
def test_masked_pixels_and_valid_percent_along_a_dim_are_computes(side, lazy, region):
    # before: a cell of at most 65,536 samples refused them ("only the valid samples are
    # kept"), and a larger one counted its NaN only, not its nodata samples
    rng = np.random.default_rng(11)
    values = rng.normal(size=(3, side, side)).astype(np.float32)
    values[0] = np.nan  # a cell without valid samples
    values[1][rng.random((side, side)) < 0.3] = -9999.0
    values[2][rng.random((side, side)) < 0.1] = np.nan
    arr = xr.DataArray(values, dims=("t", "y", "x"), attrs={"nodata": -9999.0})
    arr = arr.chunk({"t": 2, "y": side // 3 + 1}) if lazy else arr
    options = {}
    if region == "mask":
        options["mask"] = rng.random((side, side)) < 0.5
    elif region == "window":
        options["window"] = (1, 2, side - 1, side // 2)
    funcs = ["count", "masked_pixels", "valid_percent", "mean"]
    got = imgstats.compute(arr, funcs, dim=("y", "x"), **options)
    for t in range(3):
        one = xr.DataArray(values[t], dims=("y", "x"), attrs={"nodata": -9999.0})
        want = {"count": 0, "masked_pixels": None, "valid_percent": 0.0, "mean": np.nan}
        want.update({f: imgstats.compute(one, f, **options) for f in funcs[:3]})
        if want["count"]:
            want["mean"] = imgstats.compute(one, "mean", **options)
        np.testing.assert_equal(got.isel(t=t).values.tolist(), [want[f] for f in funcs])


def test_min_and_max_keep_the_type():
    arr = np.array([[[2**62 + 1, 5], [7, -3]]], np.int64)
    got = imgstats.compute(xr.DataArray(arr, dims=("t", "y", "x")), ["min", "max"], dim=("y", "x"))
    assert got.dtype == np.int64 and got.values.tolist() == [[-3, 2**62 + 1]]


def test_nothing_runs_before_compute():
    arr = xr.DataArray(da.ones((4, 30, 30), chunks=(1, 10, 10)), dims=("t", "y", "x"))

    def refuse(*args, **kwargs):
        raise AssertionError("computed eagerly")

    with dask.config.set(scheduler=refuse):
        result = imgstats.compute(arr, ["median", "p99"], dim=("y", "x"))
    assert result.shape == (4, 2) and result.chunks == ((1, 1, 1, 1), (2,))
    assert result.compute().values.tolist() == [[1.0, 1.0]] * 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": "z"}, r"'z' not found in array dimensions \('y', 'x'\)"),
        ({"dim": ("y", "y")}, "named twice"),
        ({"dim": 0}, "0 not found"),  # was a TypeError: 'int' object is not iterable
        ({"dim": "y", "band": 0}, "band"),
    ],
)
def test_bad_dims(kwargs, message):
    arr = xr.DataArray(np.zeros((2, 3), np.uint8), dims=("y", "x"))
    with pytest.raises(InvalidOption, match=message):
        imgstats.compute(arr, "min", **kwargs)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
@pytest.mark.parametrize("chunks", [None, {"t": 2, "y": 4}])
def test_the_nodata_in_the_attrs_is_left_out_as_compute_leaves_it(dtype, chunks):
    # open_image's array of a GeoTIFF with nodata (or any DataArray with attrs["nodata"]):
    # compute() left its nodata samples out and compute(..., dim=) counted them
    rng = np.random.default_rng(12)
    arr = rng.integers(0, 10, (3, 6, 7)).astype(dtype)
    xarr = xr.DataArray(arr, dims=("t", "y", "x"), attrs={"nodata": 7})
    xarr = xarr if chunks is None else xarr.chunk(chunks)
    got = imgstats.compute(xarr, ["count", "max", "median"], dim="t").compute()
    without = np.where(arr == 7, np.nan, arr.astype(np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy warns on an all-NaN cell
        want = [(~np.isnan(without)).sum(0), np.nanmax(without, 0), np.nanmedian(without, 0)]
    for j, w in enumerate(want):
        np.testing.assert_array_equal(got.values[..., j], w)
    raw = xarr.assign_attrs(raw=True)
    assert (imgstats.compute(raw, "count", dim="t").values == 3).all()


@pytest.mark.parametrize("chunks", [None, {"t": 2, "y": 4}])
def test_nodata_and_raw_options_are_honoured_with_dim(chunks):
    # before: compute(..., dim=, nodata=) and raw=True were dropped silently, so a cell
    # counted the nodata samples that compute() without dim= left out
    rng = np.random.default_rng(13)
    arr = rng.integers(0, 10, (3, 6, 7)).astype(np.uint16)
    xarr = xr.DataArray(arr, dims=("t", "y", "x"), attrs={"nodata": 3})
    xarr = xarr if chunks is None else xarr.chunk(chunks)
    got = imgstats.compute(xarr, "count", dim=("y", "x"), nodata=7).compute()
    assert got.values.tolist() == (arr != 7).sum((1, 2)).tolist()
    assert [imgstats.compute(xarr[t], "count", nodata=7) for t in range(3)] == got.values.tolist()
    raw = imgstats.compute(xarr, "count", dim=("y", "x"), raw=True).compute()
    assert raw.values.tolist() == [42, 42, 42]
    assert xarr.attrs == {"nodata": 3}  # the caller's array is left as it was
    with pytest.raises(InvalidOption, match="takes no nodata"):
        imgstats.compute(xarr, "count", dim="t", raw=True, nodata=7)
    with pytest.raises(InvalidOption, match="not a whole number"):
        imgstats.compute(xarr, "count", dim="t", nodata=7.5)


def _masked_rgba_files(folder):
    """An RGBA PNG with transparent pixels, and a GeoTIFF with an internal mask and a
    nodata value (which its mask overrides, as GDAL reads it)."""
    import rasterio
    from PIL import Image
    from rasterio.transform import from_origin

    rng = np.random.default_rng(14)
    rgba = rng.integers(0, 256, (30, 40, 4), dtype=np.uint8)
    rgba[..., 3] = rng.choice([0, 9, 255], (30, 40))
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    data = rng.integers(0, 20, (2, 30, 40)).astype(np.uint16)
    profile = dict(driver="GTiff", width=40, height=30, count=2, dtype="uint16", nodata=7)
    profile.update(crs="EPSG:32633", transform=from_origin(500000, 4000000, 10, 10))
    profile.update(tiled=True, blockxsize=16, blockysize=16)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(folder / "masked.tif", "w", **profile) as dst:
            dst.write(data)
            dst.write_mask((rng.random((30, 40)) > 0.3).astype(np.uint8) * 255)
    return [folder / "rgba.png", folder / "masked.tif"]


@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")
@pytest.mark.parametrize("chunks", [None, 7])
def test_open_images_mask_and_alpha_count_with_dim_as_in_compute(tmp_path, chunks):
    # before: dim= left the file's dataset mask and alpha out of account (every masked or
    # transparent pixel counted, and the nodata value a mask overrides was left out), and
    # pooled the alpha band with the colour bands when it reduced "band"
    funcs = ["count", "mean", "max", "masked_pixels"]
    for path in _masked_rgba_files(tmp_path):
        img = imgstats.open_image(path, chunks=chunks)
        bands = range(img.sizes["band"])
        for window in (None, (3, 4, 31, 25)):
            got = imgstats.compute(img, funcs, dim=("y", "x"), window=window).values
            want = [list(imgstats.compute(path, funcs, b, window=window).values()) for b in bands]
            np.testing.assert_array_equal(got, want)
            pooled = imgstats.compute(img, funcs, dim=("y", "x", "band"), window=window).values
            want = list(imgstats.compute(path, funcs, window=window).values())
            np.testing.assert_array_equal(pooled, want)
        raw = imgstats.compute(img, "count", dim=("y", "x"), raw=True).values
        assert raw.tolist() == [30 * 40] * len(bands)


@pytest.mark.parametrize("band", ["band", "channel", "c"])
def test_alpha_is_found_by_the_band_dim_compute_finds(band):
    rng = np.random.default_rng(15)
    rgba = rng.integers(1, 200, (5, 6, 4)).astype(np.uint8)
    rgba[..., 3] = rng.choice([0, 255], (5, 6))
    arr = xr.DataArray(rgba, dims=("row", "col", band), coords={band: list("RGBA")})
    got = imgstats.compute(arr, "count", dim=("row", "col")).values.tolist()
    assert got == [imgstats.compute(arr, "count", band=b) for b in range(4)]
    assert imgstats.compute(arr, "count", dim=...).item() == imgstats.compute(arr, "count")


def test_ellipsis_reduces_every_dim_as_in_xarray():
    # dim=... was a TypeError ('ellipsis' object is not iterable)
    arr = xr.DataArray(np.arange(12.0).reshape(3, 4), dims=("y", "x"))
    got = imgstats.compute(arr, ["median", "max"], dim=...)
    assert got.dims == ("func",) and got.values.tolist() == [5.5, 11.0]


@pytest.mark.parametrize("dtype", [">u2", ">i4", ">u8", ">f4", ">f8", "<f2", ">f2"])
@pytest.mark.parametrize("cells", ["small", "big"])
@pytest.mark.parametrize("chunks", [None, {"time": 2, "y": 5}])
def test_big_endian_and_half_floats_equal_numpy(dtype, cells, chunks, monkeypatch):
    # along a dim, a '>f4' (FITS) array was read as byte-swapped bit patterns (a median of
    # 8.97e-44 for 4.0) and a float16 one raised an OverflowError (small cells) or refused
    # its type (big ones); imgstats.compute widens float16 exactly, as without dim, and
    # interpolates its percentiles in float16 as numpy does (p99.9 73.8125, not 73.827)
    if cells == "big":
        from imgstats import grouped

        monkeypatch.setattr(grouped, "SMALL_GROUP", 20)
    rng = np.random.default_rng(31)
    native = np.dtype(dtype).newbyteorder("=")
    arr = (
        rng.normal(0, 50, (3, 2, 9, 7))
        if native.kind == "f"
        else rng.integers(0, 900, (3, 2, 9, 7))
    )
    arr = arr.astype(native)
    if native.kind == "f":
        arr[0, 0, :2] = np.nan
    xarr = xr.DataArray(arr.astype(dtype), dims=DIMS)
    if chunks is not None:
        xarr = xarr.chunk(chunks)
    got = imgstats.compute(xarr, FUNCS, dim=("y", "x"))
    _check(got.compute(), arr, ["time", "band"], ("y", "x"), FUNCS)


def test_dim_needs_a_dataarray():
    with pytest.raises(InvalidOption, match="DataArray"):
        imgstats.compute(np.zeros((2, 3)), "min", dim="y")


@pytest.mark.slow
def test_dims_on_a_local_cluster():
    rng = np.random.default_rng(22)
    arr = rng.normal(size=(3, 40, 50))
    lazy = xr.DataArray(da.from_array(arr, chunks=(1, 17, 23)), dims=("time", "y", "x"))
    with local_cluster():
        got = imgstats.compute(lazy, ["median", "p0.1", "max"], dim=("y", "x")).compute()
    want = np.stack(
        [
            np.percentile(arr, 50, axis=(1, 2)),
            np.percentile(arr, 0.1, axis=(1, 2)),
            arr.max(axis=(1, 2)),
        ],
        axis=-1,
    )
    np.testing.assert_array_equal(got.values, want)


# -- the grouped core: regions honoured, memory per sample (issue 17) --------------------------
@pytest.mark.parametrize("chunks", [None, {"time": 2, "y": 7, "x": 11}])
def test_mask_window_polygon_are_honoured_with_dim(chunks):
    rng = np.random.default_rng(31)
    arr = rng.normal(size=(5, 30, 40)).astype(np.float32)
    arr[2, ::3] = np.nan
    xarr = xr.DataArray(arr, dims=("time", "y", "x"))
    if chunks:
        xarr = xarr.chunk(chunks)
    mask = rng.random((30, 40)) < 0.5
    names = ["min", "median", "p99", "mean"]
    got = imgstats.compute(xarr, names, dim=("y", "x"), mask=mask)
    for t in range(5):
        assert got.isel(time=t).values.tolist() == list(
            imgstats.compute(arr[t], names, mask=mask).values()
        )
    ring = [[2, 2], [35, 5], [10, 28]]
    got = imgstats.compute(xarr, "p99", dim=("y", "x"), polygon=ring, window=(1, 1, 30, 29))
    for t in range(5):
        want = imgstats.compute(arr[t], "p99", polygon=ring, window=(1, 1, 30, 29))
        assert got.values[t] == want
    # per pixel over time, in a window, outside the mask NaN
    got = imgstats.compute(xarr, "median", dim="time", window=(3, 4, 20, 25), mask=mask)
    assert got.shape == (21, 17)
    cut = np.where(mask[None, 4:25, 3:20], arr[:, 4:25, 3:20], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_array_equal(got.values, np.nanmedian(cut, axis=0))  # numpy.median


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"progress": True}, "progress"),
        ({"window": (0, 0, 0, 1)}, "window"),
        ({"mask": np.ones((3, 3), bool)}, "shape"),
        ({"polygon": [[0, 0], [1, 1]]}, "polygon"),
        ({"scaled": True}, "scaled=, scale= and offset= do not go with dim="),
        ({"scale": 2.0}, "do not go with dim="),
        ({"offset": -1}, "do not go with dim="),
    ],
)
def test_regions_with_dim_refused_clearly(kwargs, message):
    arr = xr.DataArray(np.zeros((2, 4, 5), np.uint8), dims=("t", "y", "x"))
    with pytest.raises(InvalidOption, match=message):
        imgstats.compute(arr, "min", dim="t", **kwargs)


def test_regions_need_y_and_x():
    arr = xr.DataArray(np.zeros((2, 4, 5), np.uint8), dims=("t", "row", "col"))
    with pytest.raises(InvalidOption, match="'y' and 'x'"):
        imgstats.compute(arr, "min", dim="t", mask=np.ones((4, 5), bool))


def test_per_pixel_memory_is_a_few_bytes_per_sample():
    """A per-pixel median over a short time axis: the old core held a 2**16-bin histogram
    per pixel (about 1 MB each); the grouped core keeps each sample's 4-byte key."""
    import tracemalloc

    rng = np.random.default_rng(3)
    arr = rng.normal(size=(12, 200, 250)).astype(np.float32)  # 2.4 MB
    xarr = xr.DataArray(arr, dims=("time", "y", "x"))
    imgstats.compute(xarr, ["median", "p90"], dim="time")  # numba's import is not the core's
    tracemalloc.start()
    got = imgstats.compute(xarr, ["median", "p90"], dim="time")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(got.sel(func="median").values, np.median(arr, axis=0))
    assert peak < 8 * arr.nbytes  # 50,000 histograms would be 26 GB


def test_two_lazy_reductions_of_one_array_compute_together():
    """dim=("y", "x") and dim="x" of one (t, y, x) dask array named their tasks alike:
    computed together, dask failed with "Missing dependency"."""
    values = np.random.default_rng(3).normal(size=(4, 12, 10)).astype(np.float32)
    arr = xr.DataArray(da.from_array(values, chunks=(2, 5, 5)), dims=("t", "y", "x"))
    per_t, per_row = dask.compute(
        imgstats.compute(arr, "max", dim=("y", "x")), imgstats.compute(arr, "max", dim="x")
    )
    np.testing.assert_array_equal(per_t, values.max(axis=(1, 2)))
    np.testing.assert_array_equal(per_row, values.max(axis=2))
