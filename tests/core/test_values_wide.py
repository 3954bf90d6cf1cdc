"""std, sum and count of 32/64-bit integers and floats; the categorical statistics
(``majority``, ``minority``, ``unique``, ``value_counts``) of 32/64-bit integers (issue 16
items 3 and 4).

Their summaries cannot answer these alone: one refinement pass gathers the exact sum of the
squares, or the count of each distinct value, for the asked selections. The oracle is exact
(Fractions) for ``std`` -- the square root of the exact variance, correctly rounded -- and
``numpy.unique`` for the categories, whatever the chunking; ``numpy.std`` agrees to 1e-12.
"""

from __future__ import annotations

import math
from fractions import Fraction

import dask.array as da
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import imgstats
from imgstats import InvalidOption, NoValidSamples, Summary
from imgstats._blocks import exact_squares
from imgstats._codec import CorruptSummary
from imgstats.summary import VALUES_LIMIT, _sqrt

from .test_exact import CORE, arrays_of, uneven_chunks

WIDE_INTS = ["int32", "uint32", "int64", "uint64"]
WIDE = [*WIDE_INTS, "float32", "float64"]


def exact_std(values: np.ndarray) -> float:
    v = [Fraction(x) for x in values.ravel().tolist()]
    mean = sum(v, Fraction(0)) / len(v)
    return _sqrt(sum(((x - mean) ** 2 for x in v), Fraction(0)) / len(v))


def valid(values: np.ndarray) -> np.ndarray:
    flat = values.reshape(-1)
    return flat[~np.isnan(flat)] if flat.dtype.kind == "f" else flat


@pytest.mark.parametrize("dtype", WIDE)
@CORE
@given(data=st.data())
def test_std_sum_count_equal_the_exact_oracle_whatever_the_chunking(dtype, data):
    arr = data.draw(arrays_of(dtype), label="arr")
    chunks = data.draw(uneven_chunks(arr.shape), label="chunks")
    v = valid(arr)
    for source in (arr, da.from_array(arr, chunks=chunks)):
        if v.size == 0:
            with pytest.raises(NoValidSamples):
                imgstats.compute(source, "std")
            continue
        got = imgstats.compute(source, ["std", "sum", "count"])
        assert got["count"] == v.size
        if np.isinf(v).any():
            assert math.isnan(got["std"])  # numpy: inf - inf in the deviations
            continue
        assert got["std"] == exact_std(v)
        want_sum = sum((Fraction(x) for x in v.tolist()), Fraction(0))
        if v.dtype.kind in "ui":
            assert got["sum"] == int(want_sum)
        elif abs(want_sum) < Fraction(np.finfo(np.float64).max):
            assert got["sum"] == float(want_sum)
        with np.errstate(over="ignore", invalid="ignore"):
            numpy_std = float(np.std(v.astype(np.float64)))
        scale = float(np.max(np.abs(v.astype(np.float64))))
        if 1e-100 < scale < 1e100 and dtype not in ("int64", "uint64"):
            # numpy's float steps: close, not equal (a constant 1/3 has numpy.std 5.6e-17,
            # its exact std is 0; numpy's squares overflow or underflow at the extremes)
            assert math.isclose(got["std"], numpy_std, rel_tol=1e-9, abs_tol=1e-12 * scale)


@pytest.mark.parametrize("dtype", WIDE_INTS)
@CORE
@given(data=st.data())
def test_categories_equal_numpy_unique_whatever_the_chunking(dtype, data):
    arr = data.draw(arrays_of(dtype), label="arr")
    chunks = data.draw(uneven_chunks(arr.shape), label="chunks")
    uniq, counts = np.unique(arr, return_counts=True)
    want = {
        "majority": int(uniq[np.argmax(counts)]),
        "minority": int(uniq[np.argmin(counts)]),
        "unique": int(uniq.size),
        "value_counts": dict(zip(uniq.tolist(), counts.tolist(), strict=True)),
    }
    for source in (arr, da.from_array(arr, chunks=chunks)):
        got = imgstats.compute(source, list(want))
        assert got == want
        assert list(got["value_counts"]) == sorted(got["value_counts"])
        assert all(type(k) is int for k in got["value_counts"])


@pytest.mark.parametrize("dtype", ["uint8", "int16"])
def test_value_counts_of_small_integers_come_from_the_histogram(dtype):
    arr = np.array([[3, 1, 3], [-1 if dtype == "int16" else 9, 3, 1]], dtype)
    uniq, counts = np.unique(arr, return_counts=True)
    assert imgstats.compute(arr, "value_counts") == dict(
        zip(uniq.tolist(), counts.tolist(), strict=True)
    )


def test_one_band_and_all_bands_are_separate_selections():
    arr = np.zeros((3, 4, 2), np.int32)
    arr[..., 0] = 5
    arr[0, :, 1] = 70000
    assert imgstats.compute(arr, "value_counts", band=0) == {5: 12}
    assert imgstats.compute(arr, "value_counts", band=1) == {0: 8, 70000: 4}
    assert imgstats.compute(arr, "value_counts") == {0: 8, 5: 12, 70000: 4}
    assert imgstats.compute(arr, "std", band=[0, 1, None]) == {
        0: 0.0,
        1: exact_std(arr[..., 1]),
        None: exact_std(arr),
    }


def test_the_refined_summary_answers_again_and_survives_its_bytes():
    arr = np.arange(-50, 70, dtype=np.int64).reshape(10, 12) * 10**12
    summary = imgstats.summarize(arr)
    assert summary.missing(["std", "majority"])  # one pass is needed, then none
    refined = imgstats.refine(summary, arr, ["std", "majority", "value_counts"])
    assert not refined.missing(["std", "majority", "value_counts"])
    again = Summary.from_bytes(refined.to_bytes())
    assert again.compute(["std", "unique"]) == {"std": exact_std(arr), "unique": 120}
    assert again.compute("value_counts") == refined.compute("value_counts")
    halves = imgstats.refine(imgstats.summarize(arr[:4]), arr[:4], "std") + imgstats.refine(
        imgstats.summarize(arr[4:]), arr[4:], "std"
    )
    assert halves.compute("std") == exact_std(arr)  # refinements merge like the summaries


def test_a_forged_sum_of_squares_or_value_counts_is_refused():
    arr = np.arange(10, dtype=np.int32)
    refined = imgstats.refine(imgstats.summarize(arr), arr, ["std", "unique"])
    data = refined.to_bytes()
    forged = data.replace(b'"squares",["0x', b'"squares",["-0x', 1)
    with pytest.raises(CorruptSummary):
        Summary.from_bytes(forged)
    node = ("all", -2, 0)
    kind, values = refined.refined[node]
    bad = refined.with_refinements({node: (kind, values[:, ::-1].copy())})
    with pytest.raises(CorruptSummary, match="sorted"):
        Summary.from_bytes(bad.to_bytes())


def test_too_many_distinct_values_is_a_clear_error():
    arr = np.arange(VALUES_LIMIT + 1, dtype=np.uint32)
    with pytest.raises(InvalidOption, match="at most 65,536 distinct values"):
        imgstats.compute(arr, "majority")
    chunked = da.from_array(arr, chunks=VALUES_LIMIT // 3)  # no chunk has too many alone
    with pytest.raises(InvalidOption, match="distinct values"):
        imgstats.compute(chunked, "value_counts")


@pytest.mark.parametrize("func", ["majority", "minority", "unique", "value_counts"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_floats_have_no_categories(func, dtype):
    with pytest.raises(InvalidOption, match="integer images"):
        imgstats.compute(np.arange(4, dtype=dtype), func)


@pytest.mark.parametrize(
    "x",
    [0.0, 1e-320, -5e-324, 2.0**-451, 1e-200, 3.0, -7.25, 1e150, 2.0**451, 1e300, -1.7e308],
)
def test_exact_squares_of_float64_at_every_magnitude(x):
    values = np.array([x, 1.0, x], np.float64)
    assert exact_squares(values) == 2 * Fraction(x) ** 2 + 1


@pytest.mark.parametrize("dtype", WIDE_INTS)
def test_exact_squares_of_integers_at_the_extremes(dtype):
    info = np.iinfo(dtype)
    values = np.array([info.min, info.max, 0, -1 if info.min else 1], dtype)
    assert exact_squares(values) == sum(int(v) ** 2 for v in values.tolist())


def test_masked_and_nodata_samples_are_left_out():
    arr = np.array([[1, 2, 1 << 40], [5, 1 << 40, 9]], np.int64)
    want = np.array([1, 2, 5, 9])
    got = imgstats.compute(arr, ["std", "value_counts", "majority"], nodata=1 << 40)
    assert got == {"std": exact_std(want), "value_counts": {1: 1, 2: 1, 5: 1, 9: 1}, "majority": 1}
    masked = np.ma.masked_array(arr.astype(np.float64), mask=arr == 1 << 40)
    assert imgstats.compute(masked, "std") == exact_std(want)


def test_collections_refine_squares_and_values_across_images_of_several_types():
    a = (np.arange(600).reshape(20, 30) % 7 * 100000).astype(np.int32)
    b = np.arange(50, dtype=np.uint8).reshape(5, 10)  # promoted: its kept keys answer
    both = np.concatenate([a.ravel(), b.ravel().astype(np.int32)])
    uniq, counts = np.unique(both, return_counts=True)
    got = imgstats.compute([a, b], ["std", "unique", "majority", "value_counts"])
    assert got == {
        "std": exact_std(both),
        "unique": int(uniq.size),
        "majority": int(uniq[np.argmax(counts)]),
        "value_counts": dict(zip(uniq.tolist(), counts.tolist(), strict=True)),
    }
    c = np.linspace(-1, 1, 50, dtype=np.float32).reshape(5, 10)
    mixed = np.concatenate([c.ravel().astype(np.float64), b.ravel()])
    assert imgstats.compute([c, b], "std") == exact_std(mixed)


def test_along_a_dim_std_and_majority_per_row_and_value_counts_refused():
    xr = pytest.importorskip("xarray")
    arr = np.array([[1, 1, 7, 2**40], [3, 3, 3, -5]], np.int64)
    got = imgstats.compute(xr.DataArray(arr, dims=("y", "x")), ["std", "majority"], dim="x")
    assert got.sel(func="std").values.tolist() == [exact_std(row) for row in arr]
    assert got.sel(func="majority").values.tolist() == [1, 3]
    with pytest.raises(InvalidOption, match="value_counts"):
        imgstats.compute(xr.DataArray(arr, dims=("y", "x")), "value_counts", dim="x")


@pytest.mark.parametrize("dtype", ["int32", "float32", "float64"])
def test_std_and_percentiles_of_one_band_of_several_in_one_pass(dtype):
    arr = (np.arange(3 * 40 * 50).reshape(40, 50, 3) % 977 * 1.5).astype(dtype)
    got = imgstats.compute(arr, ["std", "p2.5", "median"], band=1)
    v = arr[..., 1].ravel()
    assert got == {
        "std": exact_std(v),
        "p2.5": np.percentile(v, 2.5).item(),
        "median": np.median(v).item(),
    }
