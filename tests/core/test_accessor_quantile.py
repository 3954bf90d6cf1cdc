"""``da.imgstats.quantile`` and ``median``: xarray's layout, numpy's values, lazy on dask."""

from __future__ import annotations

import re

import numpy as np
import pytest

import imgstats  # noqa: F401 -- registers the accessor
from imgstats.errors import InvalidOption
from imgstats.summary import QUANTILE_METHODS

xr = pytest.importorskip("xarray")

DTYPES = ["f4", "f8", "u1", "u2", "i4"]


def _array(dtype):
    v = np.random.default_rng(0).standard_normal((2, 13, 17)) * 1000
    v = v.astype(dtype) if dtype[0] == "f" else np.abs(v).astype(dtype)
    if dtype[0] == "f":
        v[0, 0, :3] = np.nan
    return xr.DataArray(
        v,
        dims=("t", "y", "x"),
        coords={"t": [10, 20], "x": np.arange(17), "label": "scene"},
        name="ndvi",
        attrs={"units": "1"},
    )


def _axes(arr, dim):
    if dim is None:
        return None
    return arr.get_axis_num([dim] if isinstance(dim, str) else list(dim))


CASES = [
    (dtype, q, dim, None)
    for dtype in DTYPES
    for q in (0.5, [0.1, 0.999, 1 / 3, 0.0, 1.0])
    for dim in (None, ("y", "x"), "x", "t")
] + [  # dask-backed: uneven chunks, every reduction kind, 8- to 64-bit
    (dtype, [0.1, 0.999, 0.5], dim, {"t": 1, "y": 5, "x": 7})
    for dtype in ("f4", "u2", "i4")
    for dim in (None, "x")
]


@pytest.mark.parametrize(("dtype", "q", "dim", "chunks"), CASES)
def test_quantile_is_numpy_in_xarrays_layout(dtype, q, dim, chunks):
    arr = _array(dtype)
    data = arr if chunks is None else arr.chunk(chunks)
    ours = data.imgstats.quantile(q, dim=dim)
    assert hasattr(ours.data, "dask") == (chunks is not None)  # lazy on dask
    ours = ours.compute()
    ref = arr.quantile(q, dim=dim)
    # the layout: dims, the numeric quantile coordinate, coords, name, attrs
    xr.testing.assert_identical(ours.astype(ref.dtype).copy(data=ref.values), ref)
    qs = np.atleast_1d(q)
    want = np.stack([np.nanquantile(arr.values, float(x), axis=_axes(arr, dim)) for x in qs])
    want = want[0] if np.ndim(q) == 0 else want
    assert ours.dtype == want.dtype
    np.testing.assert_array_equal(ours.values, want)
    if dtype != "f4":  # xarray converts float32 to float64 before interpolating
        xr.testing.assert_identical(ours, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [None, "x"])
@pytest.mark.parametrize("skipna", [True, False])
def test_median_is_the_half_quantile_in_xarrays_layout(dtype, dim, skipna):
    arr = _array(dtype)
    for data in (arr, arr.chunk({"t": 1, "y": 4})) if dtype in ("f4", "u2") else (arr,):
        ours = data.imgstats.median(dim, skipna=skipna).compute()
        ref = arr.median(dim, skipna=skipna)
        xr.testing.assert_identical(ours.copy(data=ref.values), ref)
        oracle = np.nanquantile if skipna else np.quantile
        np.testing.assert_array_equal(ours.values, oracle(arr.values, 0.5, axis=_axes(arr, dim)))


def test_skipna_false_gives_nan_where_a_cell_holds_nan():
    arr = _array("f8")
    got = arr.imgstats.quantile(0.5, dim=("y", "x"), skipna=False).values
    assert np.isnan(got[0]) and not np.isnan(got[1])


def test_attrs_can_be_dropped_but_the_name_stays():
    ours = _array("u2").imgstats.quantile(0.5, keep_attrs=False)
    assert ours.attrs == {} and ours.name == "ndvi"


def test_a_dask_reduction_is_one_graph_of_summarize_merge_refine():
    data = _array("f4").chunk({"t": 1, "y": 5, "x": 7})
    lazy = data.imgstats.quantile([0.25, 0.75])
    keys = [key for key in dict(lazy.data.dask) if isinstance(key, tuple)]
    ours = [key for key in keys if key[0].startswith("imgstats-quantile-")]
    steps = {key[0].rsplit("-", 1)[1] for key in ours}
    assert {"summarize", "merge", "refine", "found", "with"} <= steps
    summaries = [key for key in ours if key[0].endswith("-summarize")]
    assert len(summaries) == data.data.npartitions


@pytest.mark.parametrize("q", [-0.1, 1.5, float("nan"), "0.5", [], [[0.5]], True, None], ids=repr)
def test_bad_quantiles_are_invalid_options(q):
    with pytest.raises(InvalidOption):
        _array("u1").imgstats.quantile(q)


@pytest.mark.parametrize(("q", "meant"), [(99, "0.99"), (99.9, "0.999"), (50, "0.5")])
def test_a_percent_given_as_a_quantile_is_offered_the_fraction(q, meant):
    """``quantile(99)`` said only "quantile must be in [0, 1], not 99.0"."""
    with pytest.raises(InvalidOption, match=rf"\(a percent\? the quantile {re.escape(meant)}\)"):
        _array("u1").imgstats.quantile([0.5, q])
    with pytest.raises(InvalidOption) as info:
        _array("u1").imgstats.quantile(101)
    assert "percent" not in str(info.value)


@pytest.mark.parametrize("dim", ["band", ("x", "x"), ["y", "nope"]])
def test_bad_dims_are_invalid_options(dim):
    with pytest.raises(InvalidOption, match="invalid dim"):
        _array("u1").imgstats.median(dim)


def test_exact_where_percent_names_cannot_be():
    """q = 0.999: no float p has p / 100 == 0.999, yet the quantile is numpy's exactly."""
    p = 0.999 * 100
    assert np.true_divide(p, 100) != 0.999
    values = np.random.default_rng(3).standard_normal(1001)
    arr = xr.DataArray(values, dims=("x",))
    assert float(arr.imgstats.quantile(0.999)) == np.quantile(values, 0.999)


@pytest.mark.parametrize("how", ["quantile", "median"])
def test_skipna_none_skips_nan_as_xarray_does(how):
    """``skipna=None`` (xarray's default, which wrappers pass on) gave NaN for every time
    step holding a NaN: ``[nan, ...]`` where xarray and numpy's ``nanmedian`` give a number."""
    arr = _array("f8")
    args = (0.5,) if how == "quantile" else ()
    ours = getattr(arr.imgstats, how)(*args, dim=("y", "x"), skipna=None)
    ref = getattr(arr, how)(*args, dim=("y", "x"), skipna=None)
    assert not np.isnan(ours.values).any()
    xr.testing.assert_identical(ours, ref)


@pytest.mark.parametrize("how", ["quantile", "median"])
@pytest.mark.parametrize("option", [True, False])
def test_keep_attrs_none_follows_xarrays_option(how, option):
    """``keep_attrs=None`` dropped the attrs that xarray keeps by default, and the accessor's
    default kept them under ``xr.set_options(keep_attrs=False)``, where xarray drops them."""
    arr = _array("u2")
    args = (0.5,) if how == "quantile" else ()
    want = {"units": "1"} if option else {}
    with xr.set_options(keep_attrs=option):
        for result in (
            getattr(arr.imgstats, how)(*args),
            getattr(arr.imgstats, how)(*args, keep_attrs=None),
        ):
            assert result.attrs == want and result.name == "ndvi"
        scene = xr.Dataset({"ndvi": arr}, attrs={"title": "scene"})
        out = getattr(scene.imgstats, how)(*args, dim=("y", "x"))
        assert out.attrs == ({"title": "scene"} if option else {})
        assert out["ndvi"].attrs == want
    # outside any option: kept, as xarray keeps them
    ours = getattr(arr.imgstats, how)(*args, keep_attrs=None).attrs
    assert ours == getattr(arr, how)(*args, keep_attrs=None).attrs == {"units": "1"}


class _LiveBlocks:
    """Makes the blocks of a dask array and counts how many of them are alive at once
    (each block a new array, as a read from a file is; its end seen by a weakref)."""

    def __init__(self, values):
        import threading

        self.values, self.lock = values, threading.Lock()
        self.live = self.peak = self.made = 0

    def __call__(self, block_info=None):
        import weakref

        (y0, y1), (x0, x1) = block_info[None]["array-location"]
        block = self.values[y0:y1, x0:x1].copy()
        with self.lock:
            self.live, self.made = self.live + 1, self.made + 1
            self.peak = max(self.peak, self.live)
        weakref.finalize(block, self._gone)
        return block

    def _gone(self):
        with self.lock:
            self.live -= 1


@pytest.mark.parametrize("how", ["median", "quantile"])
@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_a_dask_reduction_holds_a_few_blocks_not_all(how, scheduler):
    """The refine tasks read the summary tasks' own blocks: all 64 of them were alive until
    the last was summarized (1.4 GiB at peak for a 1 GiB float32 array). The blocks are read
    again once the summary is merged: one task's block at a time, a few with threads."""
    import dask.array as da

    values = np.random.default_rng(5).standard_normal((64, 64)).astype(np.float32)
    values[3, :7] = np.nan
    blocks = _LiveBlocks(values)
    lazy = da.map_blocks(blocks, chunks=((8,) * 8, (8,) * 8), dtype=np.float32, meta=values[:0])
    arr = xr.DataArray(lazy, dims=("y", "x"))
    if how == "median":
        got = arr.imgstats.median().compute(scheduler=scheduler).values
        assert got == np.nanmedian(values)
    else:
        qs = [0.01, 0.5, 0.999]
        got = arr.imgstats.quantile(qs).compute(scheduler=scheduler).values
        # numpy interpolates a float32 quantile in float32 for a number q, as the accessor does
        np.testing.assert_array_equal(got, [np.nanquantile(values, q) for q in qs])
    assert blocks.peak <= 8, f"{blocks.peak} of {lazy.npartitions} blocks alive at once"
    assert blocks.made == 2 * lazy.npartitions  # summarized, then refined: each read twice


METHODS = list(QUANTILE_METHODS)  # numpy's 13


def _wide(dtype):
    """Samples of ``dtype``; 64-bit integers above 2**60, where float64 drops their last bits."""
    rng = np.random.default_rng(1)
    if dtype in ("i8", "u8"):
        values = rng.integers(2**60, 2**62, (3, 7, 9), dtype=np.int64).astype(dtype)
    else:
        values = (rng.random((3, 7, 9)) * 200).astype(dtype)
    return xr.DataArray(values, dims=("t", "y", "x"), coords={"t": [1, 2, 3]}, name="v")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", ["u1", "i8", "f4", "f8"])
@pytest.mark.parametrize("dim", [None, ("y", "x")])
def test_method_is_numpys_in_numpys_type(method, dtype, dim):
    """``method=`` was refused (a TypeError), where xarray and numpy take any of 13."""
    arr = _wide(dtype)
    q = [0.1, 0.37, 0.999]
    axes = _axes(arr, dim)
    want = np.stack([np.nanquantile(arr.values, x, axis=axes, method=method) for x in q])
    ref = arr.quantile(q, dim=dim, method=method)
    for data in (arr, arr.chunk({"t": 1, "y": 4})):
        ours = data.imgstats.quantile(q, dim=dim, method=method).compute()
        assert ours.dtype == want.dtype  # the samples' own for nearest, lower...
        np.testing.assert_array_equal(ours.values, want)
        xr.testing.assert_identical(ours.astype(ref.dtype).copy(data=ref.values), ref)


def test_an_unknown_method_is_refused_with_the_one_meant():
    with pytest.raises(InvalidOption, match="did you mean 'nearest'"):
        _array("u1").imgstats.quantile(0.5, method="neareast")
    with pytest.raises(InvalidOption, match="did you mean 'nearest'"):
        xr.Dataset({"v": _array("u1")}).imgstats.quantile(0.5, method="neareast")


def test_compute_along_dims_keeps_a_discrete_percentile_of_64_bit_integers():
    """``compute(da, "p37", method="nearest", dim=...)`` of int64 samples above 2**60 gave
    float64 values 100 to 300 away from numpy's (``2479971814037304320`` for
    ``2479971814037304562``)."""
    arr = _wide("i8")
    got = arr.imgstats.compute(["p37", "max"], dim=("y", "x"), method="nearest")
    assert got.dtype == np.int64
    want = np.percentile(arr.values, 37, axis=(1, 2), method="nearest")
    np.testing.assert_array_equal(got.sel(func="p37").values, want)


@pytest.mark.parametrize("chunks", [None, {"t": 1}])
def test_a_discrete_method_of_integers_with_nodata_is_float_with_nan_for_an_empty_cell(chunks):
    values = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    values[0] = values[1, 0, 0] = -9999
    arr = xr.DataArray(values, dims=("t", "y", "x"), attrs={"_FillValue": -9999})
    arr = arr if chunks is None else arr.chunk(chunks)
    got = arr.imgstats.quantile(0.4, dim=("y", "x"), method="nearest").compute()
    assert got.dtype == np.float64
    valid = values[1][values[1] != -9999]
    np.testing.assert_array_equal(got.values, [np.nan, np.quantile(valid, 0.4, method="nearest")])


def test_a_boolean_array_takes_a_discrete_method():
    """xarray's linear quantile, asked for the result's layout, refused booleans
    (TypeError: numpy boolean subtract) whatever the method asked."""
    b = xr.DataArray(np.array([[True, False, True], [True, True, False]]), dims=("y", "x"))
    got = b.imgstats.quantile(0.5, method="nearest")
    assert got.item() == np.quantile(b.values, 0.5, method="nearest")


def test_a_half_float_dask_quantile_refines_block_by_block():
    """float16 is counted as the float32 it is, whose ranks need a refinement; the graph
    left it to one task that read every block again in turn."""
    import dask
    import dask.array as da
    import xarray as xr

    values = (np.random.default_rng(1).standard_normal((64, 64)) * 10).astype(np.float16)
    arr = xr.DataArray(da.from_array(values, chunks=16), dims=("y", "x"))
    got = arr.imgstats.quantile(0.37)
    names = {k[0] if isinstance(k, tuple) else k for k in dict(got.data.__dask_graph__())}
    assert any(str(n).endswith("-refine") for n in names)
    (value,) = dask.compute(got)
    assert value.item() == np.nanquantile(values, 0.37)
