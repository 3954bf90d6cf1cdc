"""The float mean and sum of the predicted-range select (issue 20): an exact sum fused into
its one pass, bit-equal to the summary's and to the exact sum rounded once, whatever the
stripes and the number of threads.

The arrays are above :data:`imgstats._range_select.MIN_SAMPLES`, so that the select answers
them as it answers a real image: a small drawn set of values (ties, runs, subnormals, +-0,
+-inf, huge and tiny magnitudes, NaN) tiled, or repeated in runs, to that size.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imgstats
from imgstats import _range_select
from imgstats.functions import QUANTILE_METHODS

from .oracle import same_number, valid_samples
from .test_exact import value_pool
from .test_methods import expected
from .test_range_select import bits_equal, ran, summary_answer, uneven_stripes

__all__ = ["ran"]  # the fixture: no size floor, every answer recorded

CORE = settings.get_profile("imgstats-core")
#: Half the core profile's examples (each array has MIN_SAMPLES samples), ``ran`` shared.
SHARED = settings(
    CORE,
    max_examples=max(10, CORE.max_examples // 2),
    suppress_health_check=[*CORE.suppress_health_check, HealthCheck.function_scoped_fixture],
)
SIX = ["min", "max", "mean", "p1", "median", "p99"]
PERCENTILES = ["p0", "p1", "p25", "median", "p75", "p99", "p100"]


def exact_total(values) -> Fraction:
    """The exact sum of the finite ``values`` (as a Fraction, a few distinct ones)."""
    v = valid_samples(values)
    v = v[np.isfinite(v)]
    distinct, counts = np.unique(v, return_counts=True)
    return sum(
        (Fraction(float(x)) * int(n) for x, n in zip(distinct, counts, strict=True)), Fraction(0)
    )


def expected_sum_and_mean(values) -> tuple[float, float]:
    """``math.fsum`` of the valid samples and their mean, each the exact value rounded once
    to float64 (inf when the sum overflows; numpy's rules for the infinities)."""
    v = valid_samples(values)
    pos, neg = bool(np.isposinf(v).any()), bool(np.isneginf(v).any())
    if pos or neg:
        special = math.nan if pos and neg else (math.inf if pos else -math.inf)
        return special, special
    total = exact_total(v)
    try:
        whole = float(total)
    except OverflowError:
        whole = math.inf if total > 0 else -math.inf
    return whole, float(total / v.size)


@st.composite
def large_float_arrays(draw):
    """float32 or float64 arrays of one or three bands, of MIN_SAMPLES samples and more: a
    drawn small set of values tiled or repeated in runs."""
    dt = np.dtype(draw(st.sampled_from(["float32", "float64"])))
    pool = value_pool(dt)
    kind = draw(st.sampled_from(["pool", "nan-heavy", "free", "magnitudes"]))
    if kind == "nan-heavy":
        elements = st.one_of(st.just(math.nan), st.just(math.nan), st.sampled_from(pool))
    elif kind == "free":
        elements = st.one_of(
            st.sampled_from(pool), st.floats(width=8 * dt.itemsize, allow_nan=True)
        )
    elif kind == "magnitudes":  # blocks that span more binades than a block sum takes
        mant = st.floats(-2.0, 2.0, width=8 * dt.itemsize)
        scale = st.integers(-60 if dt.itemsize == 4 else -400, 60 if dt.itemsize == 4 else 400)
        elements = st.builds(lambda m, e: float(dt.type(math.ldexp(m, e))), mant, scale)
    else:  # ties, +-0, subnormals, +-inf, the extremes
        elements = st.sampled_from(pool)
    small = draw(st.lists(elements, min_size=1, max_size=64))
    nb = draw(st.sampled_from([1, 3]))
    need = -(-_range_select.MIN_SAMPLES // nb)
    base = np.array(small, dt)
    if draw(st.booleans()):  # runs of equal values (a block of one value)
        run = draw(st.integers(1, 5000))
        flat = np.repeat(base, run)
        flat = np.tile(flat, -(-need * nb // flat.size))
    else:
        flat = np.tile(base, -(-need * nb // base.size))
    width = draw(st.integers(300, 700))
    rows = -(-flat.size // (width * nb))
    flat = np.resize(flat, rows * width * nb)
    return flat.reshape((rows, width, nb) if nb == 3 else (rows, width))


@SHARED
@given(arr=large_float_arrays(), data=st.data())
def test_float_mean_and_sum_equal_the_summary_and_the_exact_sum(ran, arr, data, monkeypatch):
    parts = data.draw(st.integers(1, 3), label="stripes")
    monkeypatch.setattr(_range_select, "_stripes", uneven_stripes(parts))
    method = data.draw(st.sampled_from(sorted(QUANTILE_METHODS)), label="method")
    funcs = ["min", "max", "mean", "sum", "count", *PERCENTILES]
    nb = arr.shape[2] if arr.ndim == 3 else 1
    bands = [None, *range(nb)] if nb > 1 else [None]
    # a band of NaN only: the summary words the error (test_range_select)
    bands = [b for b in bands if valid_samples(arr if b is None else arr[..., b]).size]
    if not bands:
        return
    # no percentile: nothing to predict or keep, the select always answers
    sums = imgstats.compute(arr, ["mean", "sum", "count"], band=bands)
    assert ran[-1] is not None
    assert bits_equal(sums, summary_answer(arr, ["mean", "sum", "count"], bands))
    # with percentiles: the select, unless its intervals keep too many of so few values
    got = imgstats.compute(arr, funcs, band=bands, method=method)
    assert bits_equal(got, summary_answer(arr, funcs, bands, method))
    assert all(got[b][f] == sums[b][f] or got[b][f] != got[b][f] for b in bands for f in sums[b])
    for b in bands:
        values = arr if b is None else arr[..., b]
        whole, mean = expected_sum_and_mean(values)
        assert same_number(got[b]["sum"], whole), (b, got[b]["sum"], whole)
        assert same_number(got[b]["mean"], mean), (b, got[b]["mean"], mean)
        v = valid_samples(values)
        assert got[b]["min"] == np.min(v) and got[b]["max"] == np.max(v)
        for name in PERCENTILES:
            want = expected(values, name, method)
            assert same_number(got[b][name], want), (b, name, method, got[b][name], want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("parts", [1, 2, 5])
def test_the_sum_does_not_depend_on_the_stripes(dtype, parts, ran, monkeypatch):
    """Blocks of every width of exponents (the vector sums, the one-by-one adds of the
    smallest samples), cut into stripes anywhere: the same exact sum."""
    rng = np.random.default_rng(20)
    arr = (rng.standard_t(2, (700, 400)) * np.exp2(rng.integers(-40, 40, (700, 400)))).astype(dtype)
    arr[::97] = np.nan
    arr[5, 7] = np.finfo(dtype).smallest_subnormal
    arr[9, 9] = -np.finfo(dtype).tiny
    monkeypatch.setattr(_range_select, "_stripes", uneven_stripes(parts))
    got = imgstats.compute(arr, SIX + ["sum"])
    assert ran[-1] is not None
    whole, mean = expected_sum_and_mean(arr)
    assert got["sum"] == whole and got["mean"] == mean
    assert bits_equal(got, summary_answer(arr, SIX + ["sum"]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_infinities_give_the_summarys_mean_and_sum(dtype, ran):
    rng = np.random.default_rng(21)
    arr = rng.normal(size=(600, 500)).astype(dtype)
    for plus, minus, want in [(1, 0, math.inf), (0, 1, -math.inf), (1, 1, math.nan)]:
        a = arr.copy()
        a[3, 4] = np.inf if plus else a[3, 4]
        a[400, 9] = -np.inf if minus else a[400, 9]
        got = imgstats.compute(a, ["mean", "sum", "median"])
        assert ran[-1] is not None
        assert same_number(got["mean"], want) and same_number(got["sum"], want)
        assert bits_equal(got, summary_answer(a, ["mean", "sum", "median"]))


def test_float64_sums_that_overflow_are_infinite(ran):
    arr = np.full((600, 500), np.finfo(np.float64).max)
    arr[0, 0] = -1.0
    got = imgstats.compute(arr, ["mean", "sum"])
    assert ran[-1] is not None
    assert got["sum"] == math.inf
    assert got["mean"] == float((exact_total(arr)) / arr.size)
    assert bits_equal(got, summary_answer(arr, ["mean", "sum"]))


@pytest.mark.parametrize("mode", ["always", "never"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("nb", [1, 3])
def test_compiled_and_python_sums_agree(mode, dtype, nb, ran, monkeypatch):
    """Both runs of the sum kernels (numba's, and the Python body small arrays use) on
    blocks narrow enough for one vector sum and blocks too wide for it, with NaN, +-0,
    subnormals and the largest finite values."""
    from imgstats import _jit

    dt = np.dtype(dtype)
    info = np.finfo(dt)
    rng = np.random.default_rng(22)
    arr = rng.normal(size=(30, 150, nb)).astype(dt)
    arr[15:] *= np.exp2(rng.integers(-30, 30, arr[15:].shape)).astype(dt)  # wide blocks
    edge = [np.nan, -0.0, 0.0, info.smallest_subnormal, -info.tiny, info.max, -info.max]
    cells = rng.integers(0, arr.size, 300)
    arr.reshape(-1)[cells] = np.array(edge, dt)[np.arange(cells.size) % len(edge)]
    bands = [None, *range(nb)] if nb > 1 else [None]
    with _jit.forced(mode):
        got = imgstats.compute(arr, ["mean", "sum", "median"], band=bands)
    assert ran[-1] is not None
    assert bits_equal(got, summary_answer(arr, ["mean", "sum", "median"], bands))
    for b in bands:
        whole, mean = expected_sum_and_mean(arr if b is None else arr[..., b])
        assert same_number(got[b]["sum"], whole) and same_number(got[b]["mean"], mean)
