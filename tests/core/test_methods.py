"""numpy's 13 percentile methods and numpy.median, to the last bit, whatever the chunking.

``pXXX`` with ``method=m`` equals ``numpy.percentile(valid, XXX, method=m)`` and ``median``
equals ``numpy.median(valid)`` (``valid``: the samples, NaN removed, as ``nanpercentile`` and
``nanmedian`` see them). Signed integers narrower than 64 bits are compared with numpy on the
values cast to int64, where numpy's difference ``b - a`` does not wrap around (imgstats
documents the right value there, see test_exact.py).
"""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import imgstats
from imgstats import InvalidOption, NoValidSamples, UnknownFunction
from imgstats.functions import QUANTILE_METHODS
from imgstats.summary import quantile_positions

from .oracle import ALL_DTYPES, same_number, valid_samples
from .test_exact import CORE, arrays_of, uneven_chunks

DISCRETE = {"inverted_cdf", "closest_observation", "lower", "higher", "nearest"}
#: Percentiles whose virtual indexes fall on, near and between ranks for small counts.
EDGE_QS = ["0", "100", "50", "25", "75", "1", "99", "33.3", "66.7", "12.5", "0.001", "99.999"]


def expected(values, name: str, method: str):
    """numpy's answer for one name and method on the valid samples."""
    v = valid_samples(values)
    with np.errstate(all="ignore"):
        if name == "median":
            return np.median(v).item()
        q = float(name[1:])
        if v.dtype.kind == "i" and v.dtype.itemsize < 8 and method not in DISCRETE:
            v = v.astype(np.int64)  # numpy's own int8/16/32 difference wraps around
        return np.percentile(v, q, method=method).item()


def _fits(values) -> bool:
    """Whether numpy's int64 difference of any two samples is exact (no wrap-around)."""
    v = valid_samples(values)
    return v.dtype != np.int64 or v.size == 0 or int(v.max()) - int(v.min()) < 2**63


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@CORE
@given(data=st.data())
def test_every_method_equals_numpy_percentile(dtype, data):
    arr = data.draw(arrays_of(dtype), label="arr")
    if valid_samples(arr).size == 0 or not _fits(arr):
        return
    method = data.draw(st.sampled_from(QUANTILE_METHODS), label="method")
    qs = data.draw(
        st.lists(
            st.one_of(
                st.sampled_from(EDGE_QS),
                st.decimals(0, 100, places=4, allow_nan=False).map(str),
            ),
            min_size=1,
            max_size=4,
            unique=True,
        ),
        label="qs",
    )
    names = [f"p{q}" for q in qs] + ["median"]
    chunks = data.draw(uneven_chunks(arr.shape), label="chunks")
    for source in (arr, da.from_array(arr, chunks=chunks)):
        got = imgstats.compute(source, names, method=method)
        for name in names:
            want = expected(arr, name, method)
            assert same_number(got[name], want), (name, method, got[name], want, arr)
            assert type(got[name]) is type(want), (name, method, got[name], want)


@pytest.mark.parametrize("method", QUANTILE_METHODS)
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 10])
@pytest.mark.parametrize("q", [0.0, 0.1, 10.0, 12.5, 20.0, 25.0, 40.0, 50.0, 60.0, 99.9, 100.0])
def test_the_ranks_and_weight_are_numpys(method, n, q):
    # distinct powers of two: any two ranks and any weight give a different value
    values = 2.0 ** np.arange(n)
    lo, hi, t = quantile_positions(n, q, method)
    want = np.percentile(values, q, method=method)
    if t is None:
        assert values[lo] == want
    else:
        a, b = values[lo], values[hi]
        diff = b - a
        got = b - diff * (1 - t) if t >= 0.5 else a + diff * t
        assert got == want, (lo, hi, t)


@pytest.mark.parametrize("method", QUANTILE_METHODS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_lone_negative_zero_keeps_its_sign(method, dtype):
    arr = np.array([-0.0], dtype)
    for q in ("p0", "p50", "p100"):
        got = imgstats.compute(arr, q, method=method)
        want = np.percentile(arr, float(q[1:]), method=method).item()
        assert math.copysign(1, got) == math.copysign(1, want), (q, got, want)
    if method == "linear":  # the case: numpy weighs the top rank virtual + 1
        assert math.copysign(1, imgstats.compute(arr, "p50")) == -1.0
    # numpy.median's mean adds to +0.0: its median of [-0.0] is 0.0, and so is imgstats'
    median = imgstats.compute(arr, "median")
    assert math.copysign(1, median) == math.copysign(1, np.median(arr)) == 1.0


def test_median_is_numpy_median_not_percentile_50():
    arr = np.array([1.0, np.inf])
    assert imgstats.compute(arr, "median") == np.median(arr) == math.inf
    with np.errstate(invalid="ignore"):
        assert math.isnan(imgstats.compute(arr, "p50")) and math.isnan(np.percentile(arr, 50))
    # the mean of the two middle samples, in the image's type: float32 overflows as numpy does
    big = np.array([3e38, 3e38], np.float32)
    with np.errstate(over="ignore"):
        assert imgstats.compute(big, "median") == np.median(big) == math.inf
    assert imgstats.compute(big, "p50") == np.percentile(big, 50.0) == np.float32(3e38)
    # int64 middles are added in float64, as numpy.median does
    wide = np.array([2**62 + 1, 2**62 + 3], np.int64)
    assert imgstats.compute(wide, "median") == np.median(wide)


def test_median_ignores_the_method():
    arr = np.arange(10, dtype=np.uint8)
    for method in QUANTILE_METHODS:
        assert imgstats.compute(arr, "median", method=method) == 4.5


@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint32", "int64"])
def test_discrete_methods_keep_the_integer_type(dtype):
    arr = np.array([5, 1, 9, 3], dtype)
    for method in DISCRETE:
        got = imgstats.compute(arr, "p40", method=method)
        assert type(got) is int and got == np.percentile(arr, 40.0, method=method)
    assert type(imgstats.compute(arr, "p40", method="hazen")) is float


@pytest.mark.parametrize("method", QUANTILE_METHODS)
def test_a_wide_type_refines_the_ranks_of_its_method(method):
    rng = np.random.default_rng(7)
    arr = rng.normal(0, 1, (300, 257)).astype(np.float32)
    summary = imgstats.summarize(arr)
    names = ["p0.1", "p12.345", "p50", "p99.9"]
    refined = imgstats.refine(summary, arr, names, method=method)
    assert refined.missing(names, method=method) == []
    got = refined.compute(names, method=method)
    assert got == {n: np.percentile(arr, float(n[1:]), method=method).item() for n in names}


@pytest.mark.parametrize("method", ["", "Linear", "inverted-cdf", "nearest ", "midpoints", 3, None])
def test_an_unknown_method_is_refused_before_reading(method, tmp_path):
    if method is None:  # None is the default, not a method
        assert imgstats.compute(np.arange(4), "p50", method=None) == 1.5
        return
    with pytest.raises(InvalidOption, match="percentile method"):
        imgstats.compute(tmp_path / "missing.tif", "p50", method=method)
    with pytest.raises(InvalidOption, match="percentile method"):
        imgstats.summarize(np.arange(4)).compute("p50", method=method)


def test_a_bad_name_with_a_method_is_still_unknown_function():
    with pytest.raises(UnknownFunction):
        imgstats.compute(np.arange(4), "p101", method="lower")


@pytest.mark.parametrize("method", QUANTILE_METHODS)
def test_methods_reach_collections_and_dims(method):
    import xarray as xr

    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, (9, 7)).astype(np.float64)
    b = rng.normal(5, 1, (4, 3)).astype(np.float64)
    both = np.concatenate([a.ravel(), b.ravel()])
    got = imgstats.compute([a, b], ["p10", "p77.7"], method=method)
    assert got == {n: np.percentile(both, float(n[1:]), method=method).item() for n in got}
    arr = xr.DataArray(a, dims=("y", "x"))
    along = imgstats.compute(arr, "p30", dim="x", method=method)
    np.testing.assert_array_equal(along.values, np.percentile(a, 30.0, axis=1, method=method))


def test_no_valid_sample_has_no_percentile_by_any_method():
    for method in QUANTILE_METHODS:
        with pytest.raises(NoValidSamples):
            imgstats.compute(np.full(3, np.nan), "p10", method=method)
