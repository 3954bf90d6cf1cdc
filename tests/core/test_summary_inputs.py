"""Inputs numpy users have: masked arrays, dask arrays of unknown chunk sizes, float16.

numpy is the oracle on the samples each input means: a masked array's unmasked samples
(``compressed()``), a dask array's computed values, a float16 array's values (widened
exactly to float32, its percentiles interpolated in float16 as numpy does).
"""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import imgstats
from imgstats import NoValidSamples

from .oracle import ALL_DTYPES, check_all
from .test_exact import CORE, arrays_of, uneven_chunks

FUNCS = ["min", "max", "mean", "median", "p1", "p37.5", "p99.9"]


def test_the_issue_s_masked_array_keeps_its_mask():
    arr = np.ma.masked_array([1, 2, 1e20], mask=[0, 0, 1])
    assert imgstats.compute(arr, "max") == 2.0
    got = imgstats.compute(arr, ["count", "masked_pixels", "valid_percent"])
    assert got == {"count": 2, "masked_pixels": 1, "valid_percent": 100 * 2 / 3}


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@CORE
@given(data=st.data())
def test_masked_arrays_equal_numpy_on_their_unmasked_samples(dtype, data):
    arr = data.draw(arrays_of(dtype), label="arr")
    mask = data.draw(hnp.arrays(np.bool_, arr.shape), label="mask")
    masked = np.ma.masked_array(arr, mask=mask)
    chunks = data.draw(uneven_chunks(arr.shape), label="chunks")
    bands = [None] + (list(range(arr.shape[-1])) if arr.ndim == 3 else [])
    for band in bands:
        if band is None:
            values, nmasked = arr[~mask], int(mask.sum())
        else:
            values, nmasked = arr[..., band][~mask[..., band]], int(mask[..., band].sum())
        nan = int(np.isnan(values).sum()) if values.dtype.kind == "f" else 0
        for source in (masked, da.from_array(masked, chunks=chunks)):
            counts = imgstats.compute(source, ["count", "masked_pixels"], band=band)
            assert counts == {"count": values.size - nan, "masked_pixels": nmasked + nan}
            if values.size == nan:
                with pytest.raises(NoValidSamples):
                    imgstats.compute(source, "median", band=band)
                continue
            check_all(imgstats.compute(source, FUNCS, band=band), values, FUNCS)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("shape", [(30, 40), (30, 40, 3), (1200,)])
def test_a_masked_array_keeps_its_mask_beside_nodata(dtype, shape):
    # before: nodata= dropped the array's own mask (np.asarray of a masked block), so its
    # masked samples counted: count 5, min 1 of [[--, 2, 3], [4, 5, 6]] with nodata=2
    rng = np.random.default_rng(14)
    arr = rng.integers(1, 50, shape).astype(dtype)
    mask = rng.random(shape) < 0.3
    arr[mask] = 0  # what masked samples often hold: a fill value, read as the minimum
    masked = np.ma.masked_array(arr, mask=mask)
    values = arr[~mask & (arr != 7)]
    for source in (masked, da.ma.masked_array(da.from_array(arr, 7 * 73), mask=mask)):
        got = imgstats.compute(source, [*FUNCS, "count", "masked_pixels"], nodata=7)
        assert (got.pop("count"), got.pop("masked_pixels")) == (values.size, arr.size - values.size)
        check_all(got, values, FUNCS)
    assert imgstats.compute(masked, "min", nodata=7) == values.min() > 0


@pytest.mark.parametrize("dtype", ["uint8", "int64", "uint64", "float32"])
@pytest.mark.parametrize("region", ["window", "mask", "polygon"])
@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "dask"])
def test_a_region_of_a_masked_array_keeps_its_type_and_mask(dtype, region, lazy):
    # before: the region's samples became an xarray DataArray, which fills a masked array
    # with NaN as floats: int64 samples near 2**60 lost their last digits (min == max), and
    # a uint8 RGB region had no luma ("float32 samples")
    rng = np.random.default_rng(15)
    top = 2**60 if dtype in ("int64", "uint64") else 0
    arr = (rng.integers(0, 200, (30, 40, 3)) * 3 + top).astype(dtype)
    mask = rng.random(arr.shape) < 0.3
    masked = np.ma.masked_array(arr, mask=mask)
    source = da.ma.masked_array(da.from_array(arr, (11, 13, 3)), mask=mask) if lazy else masked
    pixels = np.zeros((30, 40), bool)
    pixels[4:20, 6:33] = True
    options = {
        "window": {"window": (6, 4, 33, 20)},
        "mask": {"mask": pixels},
        "polygon": {"polygon": [(6, 4), (33, 4), (33, 20), (6, 20)]},
    }[region]
    values = arr[pixels][~mask[pixels]]
    got = imgstats.compute(source, [*FUNCS, "count"], **options)
    assert got.pop("count") == values.size
    check_all(got, values, FUNCS)
    assert imgstats.compute(masked, "count", band=1, **options) == (~mask[pixels][:, 1]).sum()
    if dtype == "uint8":
        luma = imgstats.compute(masked, "median", band="luma", **options)
        whole = ~mask[pixels].any(axis=1)  # a pixel with a masked R, G or B has no luma
        assert luma == imgstats.compute(arr[pixels][whole][:, None], "median", band="luma")


def test_a_masked_rgb_array_has_the_luma_of_its_unmasked_pixels():
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    mask = np.zeros(rgb.shape, bool)
    mask[:5, :, 1] = True  # green masked in the top rows: those pixels have no luma
    got = imgstats.compute(np.ma.masked_array(rgb, mask=mask), "median", band="luma")
    want = imgstats.compute(rgb[5:], "median", band="luma")
    assert got == want


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(600, 500), (600, 250, 2)])
def test_a_large_masked_float_array_answers_its_percentiles(dtype, shape):
    # before: from 2**18 samples a percentile's bins were predicted from a strided look by a
    # numba kernel that refuses a MaskedArray: NumbaTypeError, where a plain array answered
    rng = np.random.default_rng(16)
    arr = (rng.standard_normal(shape) * 50).astype(dtype)
    mask = rng.random(shape) < 0.3
    arr[mask] = -1e30  # a fill value the look would have read as a sample
    masked = np.ma.masked_array(arr, mask=mask)
    for band in [None] + (list(range(shape[-1])) if len(shape) == 3 else []):
        values = masked.compressed() if band is None else masked[..., band].compressed()
        check_all(imgstats.compute(masked, FUNCS, band=band), values, FUNCS)


def test_a_masked_array_without_masked_samples_is_a_plain_one():
    arr = np.arange(12.0).reshape(3, 4)
    assert imgstats.summarize(np.ma.masked_array(arr)) == imgstats.summarize(arr)


@pytest.mark.parametrize("chunks", [1, 3, 7, 50])
def test_unknown_dask_chunk_sizes_are_counted(chunks):
    values = np.random.default_rng(1).normal(0, 10, 101)
    d = da.from_array(values, chunks=chunks)
    kept = d[d > 3]  # nodata dropped the dask way: chunk sizes unknown
    assert math.isnan(kept.shape[0])
    want = values[values > 3]
    check_all(imgstats.compute(kept, FUNCS), want, FUNCS)
    assert imgstats.compute(kept, "count") == want.size


def test_unknown_chunk_sizes_of_2d_arrays_are_computed_first():
    values = np.arange(60.0).reshape(6, 10)
    d = da.from_array(values, chunks=(4, 5))
    rows = d[d[:, 0] > 15]  # unknown row chunks
    check_all(imgstats.compute(rows, FUNCS), values[values[:, 0] > 15], FUNCS)


@CORE
@given(
    arr=hnp.arrays(
        np.float16,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=9),
        elements=st.floats(width=16, allow_nan=True, allow_infinity=True),
    )
)
def test_float16_counts_as_float32_and_interpolates_as_numpy(arr):
    # the exact readings are those of the float32 widening; the percentiles and the median
    # are numpy's on the float16 array itself, interpolated in float16 (numpy's p1 of a
    # float16 array of 1000 normal samples is -2.421875; a float32 lerp gave -2.422715)
    wide = arr.astype(np.float32)
    exact = ["min", "max", "mean", "count", "sum"]
    ordered = ["median", "p1", "p37.5", "p99.9", "p50"]
    try:
        want = imgstats.compute(wide, exact)
    except NoValidSamples:
        with pytest.raises(NoValidSamples):
            imgstats.compute(arr, exact)
        return
    for source in (arr, da.from_array(arr, chunks=2), xr.DataArray(arr)):
        got = imgstats.compute(source, [*exact, *ordered])
        assert {f: got[f] for f in exact} == pytest.approx(want, nan_ok=True, rel=0, abs=0)
        check_all({f: got[f] for f in ordered}, arr, ordered)
    finite = arr[np.isfinite(arr)]
    if finite.size:  # min and max are the half floats themselves
        assert imgstats.compute(finite, "min") == float(finite.min())


def test_float16_quantile_of_the_accessor_is_numpy_s_in_float16():
    # xarray's accessor gave float32 -2.422715 for numpy's float16 -2.421875 (p1 of 1000
    # normal samples): the lerp ran in float32, and the result was float32
    arr = np.random.default_rng(0).normal(size=(40, 25)).astype(np.float16)
    arr[3, 4] = np.nan
    for x in (xr.DataArray(arr, dims=("y", "x")), xr.DataArray(arr, dims=("y", "x")).chunk(7)):
        got = x.imgstats.quantile(0.01).compute()
        assert got.dtype == np.float16 == np.nanquantile(arr, 0.01).dtype
        assert got.item() == np.nanquantile(arr, 0.01).item()
        median = x.imgstats.median().compute()
        assert median.dtype == np.float16
        assert median.item() == np.nanmedian(arr).item()


def test_a_float16_summary_keeps_its_interpolation_in_bytes_and_merges():
    arr = np.random.default_rng(0).normal(size=1000).astype(np.float16)
    half = imgstats.refine(imgstats.summarize(arr), arr, "p1")
    assert half.half and imgstats.Summary.from_bytes(half.to_bytes()).half
    assert imgstats.Summary.from_bytes(half.to_bytes()).compute("p1") == np.percentile(arr, 1.0)
    # float16 with float32 samples is float32 to numpy: interpolated in float32
    wide = np.random.default_rng(1).normal(size=10).astype(np.float32)
    mixed = half + imgstats.summarize(wide)
    both = np.concatenate([arr, wide])
    assert not mixed.half
    assert imgstats.compute(imgstats.refine(mixed, both, "p1"), "p1") == np.percentile(both, 1.0)


@pytest.mark.parametrize("size", [200, 5000])  # small groups keep their keys, big ones a summary
@pytest.mark.parametrize("chunked", [False, True])
def test_float16_along_a_dim_and_per_zone_interpolates_as_numpy(size, chunked):
    rng = np.random.default_rng(size)
    arr = (rng.normal(size=(4, size)) * 50).astype(np.float16)
    arr[0, ::7] = np.nan
    funcs = ["p37.125", "median", "p3", "p98"]
    x = xr.DataArray(arr, dims=("y", "x"))
    x = x.chunk({"x": 333}) if chunked else x
    along = imgstats.compute(x, funcs, dim="x").compute()
    for i in range(arr.shape[0]):
        got = {f: float(along.sel(func=f).values[i]) for f in funcs}
        check_all(got, arr[i], funcs)
    hazen = imgstats.compute(x, "p37.125", dim="x", method="hazen").compute()
    for i in range(arr.shape[0]):
        valid = arr[i][~np.isnan(arr[i])]
        assert hazen.values[i] == np.percentile(valid, 37.125, method="hazen")
    labels = np.repeat(np.arange(4, dtype=np.uint8)[:, None], size, axis=1)
    table = imgstats.zonal(x, labels, funcs, background=None)
    for zone, row in table.iterrows():
        check_all({f: float(row[f]) for f in funcs}, arr[labels == zone], funcs)


def test_a_collection_of_float16_arrays_interpolates_as_numpy_s_concatenation():
    # a list of float16 arrays was interpolated in float32 (p1 -2.422715 for numpy's -2.422)
    rng = np.random.default_rng(7)
    a = rng.normal(size=500).astype(np.float16)
    b = rng.normal(size=(20, 35)).astype(np.float16)
    c = rng.normal(size=300).astype(np.float32)
    funcs = ["p1", "median", "p63.5"]
    for parts in ([a, b], [a, b, c], [a, rng.integers(-99, 99, 50).astype(np.int16)]):
        both = np.concatenate([np.ravel(p) for p in parts])  # numpy's promotion
        check_all(imgstats.compute(parts, funcs), both, funcs)


def test_a_large_half_float_array_s_top_rank_is_its_max():
    """numpy's float16 weights overflow past 65,504 samples: ``numpy.percentile`` of 70,000
    half floats at 100 is NaN, and so was imgstats' p100 once it read them as numpy does.
    A rank that is one sample is that sample."""
    a = (np.random.default_rng(0).standard_normal(70_000) * 100).astype(np.float16)
    got = imgstats.compute(a, ["p100", "p0", "max", "min"])
    assert got["p100"] == got["max"] == float(a.max())
    assert got["p0"] == got["min"] == float(a.min())
