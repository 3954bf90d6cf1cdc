"""The predicted-range select of in-memory float arrays (issue 20): one-question answers
without a summary, bit-equal to the summary's, and its fallback to the summary.

Every test says which path ran: ``ran`` records what :func:`imgstats._range_select.answer`
returned (``None``: the summary answered).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from fractions import Fraction

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imgstats
from imgstats import NoValidSamples, _range_select, reduce
from imgstats.functions import QUANTILE_METHODS

from .oracle import check_all, same_number, valid_samples
from .test_exact import value_pool

CORE = settings.get_profile("imgstats-core")
# ``ran`` only records: its list is read at its end, never reset between examples
SHARED = settings(
    CORE, suppress_health_check=[*CORE.suppress_health_check, HealthCheck.function_scoped_fixture]
)
FUNCS = ["min", "max", "count", "median", "p0", "p1", "p25", "p50", "p75", "p99", "p99.9", "p100"]


@pytest.fixture
def ran(monkeypatch):
    """Every array takes the select (no size floor); yields the list of its results."""
    seen: list = []
    answer = _range_select.answer

    def spy(*args):
        out = answer(*args)
        seen.append(out)
        return out

    monkeypatch.setattr(_range_select, "MIN_SAMPLES", 0)
    monkeypatch.setattr(_range_select, "answer", spy)
    return seen


def summary_answer(arr, func, band=None, method=None):
    """The summary path's answer (the select never runs)."""
    plan = reduce._plan(arr, None, {})
    bands = list(band) if isinstance(band, list) else [band]
    funcs = imgstats.functions.with_method(func, method)
    summary = reduce._summarize_for(plan, funcs, bands, None, False)
    if isinstance(band, list):
        return {b: summary.compute(funcs, b) for b in bands}
    return summary.compute(funcs, band)


def bits_equal(a, b) -> bool:
    """Equal to the last bit, the sign of a zero included, NaN equal to NaN."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(bits_equal(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return np.array_equal(np.float64(a).view(np.uint64), np.float64(b).view(np.uint64))
    return a == b


FLOATS = st.sampled_from(["float32", "float64"])
#: The integer types the select answers too (8- and 16-bit ones keep their table).
INTS = ["int32", "uint32", "int64", "uint64"]
SHAPES = st.one_of(
    st.tuples(st.integers(1, 40), st.integers(1, 40)),
    st.tuples(st.integers(1, 12), st.integers(1, 12), st.integers(1, 4)),
)


@st.composite
def float_arrays(draw):
    """Float arrays, and (one in three) 32- and 64-bit integer ones."""
    dt = np.dtype(draw(st.one_of(FLOATS, FLOATS, st.sampled_from(INTS))))
    pool = value_pool(dt)
    kinds = ["pool", "runs", "nan-heavy", "free"] if dt.kind == "f" else ["pool", "runs", "free"]
    kind = draw(st.sampled_from(kinds))
    shape = draw(SHAPES)
    if kind == "runs":  # long runs of a few equal values
        values = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
        elements = st.sampled_from(values)
    elif kind == "nan-heavy":
        elements = st.one_of(st.just(np.nan), st.just(np.nan), st.sampled_from(pool))
    elif kind == "pool":  # ties, +-0, subnormals, +-inf, extremes
        elements = st.sampled_from(pool)
    else:
        elements = st.one_of(st.sampled_from(pool), hnp.from_dtype(dt))
    return draw(hnp.arrays(dt, shape, elements=elements))


def uneven_stripes(parts: int):
    """A stand-in for the per-core row stripes: ``parts`` uneven ones (empty ones too), as
    on a machine with that many cores: as many looks, as many scans merged."""

    def stripes(arr):
        rows = arr.shape[0]
        cuts = sorted({0, rows, *((rows * i * i) // (parts * parts) for i in range(1, parts))})
        return list(zip(cuts[:-1], cuts[1:], strict=True))

    return stripes


@SHARED
@given(arr=float_arrays(), data=st.data())
def test_select_equals_the_summary_to_the_bit(ran, arr, data, monkeypatch):
    parts = data.draw(st.integers(1, 4), label="stripes")
    monkeypatch.setattr(_range_select, "_stripes", uneven_stripes(parts))
    method = data.draw(st.sampled_from(sorted(QUANTILE_METHODS)), label="method")
    names = [*FUNCS, "mean", "sum"]  # the exact sum fused into the pass
    funcs = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
    nb = arr.shape[2] if arr.ndim == 3 else 1
    band = data.draw(st.sampled_from([None, [None, *range(nb)], nb - 1]), label="band")
    try:
        want = summary_answer(arr, funcs, band, method)
    except NoValidSamples:
        with pytest.raises(NoValidSamples):
            imgstats.compute(arr, funcs, band, method=method)
        assert ran[-1] is None  # the summary words the error
        return
    got = imgstats.compute(arr, funcs, band, method=method)
    assert bits_equal(got, want), (got, want)
    if ran[-1] is not None and band is None and method == "linear":
        check_all(got, arr, [f for f in funcs if f != "count"])
        assert got.get("count", valid_samples(arr).size) == valid_samples(arr).size


@SHARED
@given(arr=float_arrays(), data=st.data())
def test_a_plain_array_asked_nothing_else_is_answered_as_the_summary(ran, arr, data):
    # compute(arr, func) alone goes straight to the select (no plan, region or band step)
    names = [*FUNCS, "mean", "sum"]
    funcs = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
    asked = data.draw(st.sampled_from([funcs, tuple(funcs), funcs[0]]), label="asked")
    try:
        want = summary_answer(arr, list(asked) if isinstance(asked, tuple) else asked)
    except NoValidSamples:
        with pytest.raises(NoValidSamples):
            imgstats.compute(arr, asked)
        return
    before = len(ran)
    got = imgstats.compute(arr, asked)
    assert bits_equal(got, want), (got, want)
    assert len(ran) == before + 1  # the select was tried once, whether it answered or not


def test_a_plain_arrays_question_opens_no_read_plan(ran, monkeypatch):
    # the plan's Python, after a pass that flushed the caches, was a serial part of a call
    arr = np.random.default_rng(2).normal(size=(60, 70, 2)).astype(np.float64)
    want = summary_answer(arr, ["p99", "mean"])

    def refused(*args, **kwargs):
        raise AssertionError("a read plan was opened")

    monkeypatch.setattr(reduce, "_plan", refused)
    assert bits_equal(imgstats.compute(arr, ["p99", "mean"]), want)
    assert bits_equal(imgstats.compute(arr, "p99"), want["p99"])
    with pytest.raises(AssertionError, match="read plan"):
        imgstats.compute(arr, "p99", band=0)  # a band: the usual path


def test_a_missed_select_is_not_tried_again(ran, monkeypatch):
    arr = np.random.default_rng(4).normal(size=(60, 70)).astype(np.float32)
    monkeypatch.setattr(_range_select, "KEEP_SHARE", 10**9)  # room for no key at all
    for kwargs in ({}, {"band": "all"}, {"method": "linear"}):
        ran.clear()
        assert imgstats.compute(arr, "p90", **kwargs) == np.percentile(arr, 90)
        assert ran == [None]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("method", sorted(QUANTILE_METHODS))
def test_every_method_on_a_large_array_takes_the_select(dtype, method, ran):
    rng = np.random.default_rng(7)
    arr = (rng.standard_t(2, (300, 400)) * 100).astype(dtype)
    arr[rng.random(arr.shape) < 0.05] = np.nan
    arr[:3] = 0.0
    arr[3:5] = -0.0
    funcs = ["min", "p1", "median", "p37.5", "p99", "max", "count"]
    got = imgstats.compute(arr, funcs, method=method)
    assert ran[-1] is not None
    assert bits_equal(got, summary_answer(arr, funcs, method=method))
    valid = valid_samples(arr)
    for f in funcs:
        if f.startswith("p"):
            want = np.percentile(valid, float(f[1:]), method=method)
            assert same_number(got[f], want) or (got[f] == want == 0), (f, got[f], want)
    assert got["median"] == np.median(valid)
    assert got["count"] == valid.size


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("parts", [1, 2])
def test_the_deciles_keep_each_intervals_keys_apart(dtype, parts, ran, monkeypatch):
    """Nine intervals, their kept keys grouped per interval on each stripe: every decile
    equals numpy's, and a key of one interval never stands in for another's."""
    monkeypatch.setattr(_range_select, "_stripes", uneven_stripes(parts))
    rng = np.random.default_rng(11)
    arr = (rng.standard_t(3, (400, 500)) * 10).astype(dtype)
    arr[rng.random(arr.shape) < 0.02] = np.nan
    funcs = [f"p{q}" for q in range(10, 100, 10)]
    got = imgstats.compute(arr, funcs)
    assert ran[-1] is not None
    valid = valid_samples(arr)
    for f in funcs:
        assert got[f] == np.percentile(valid, float(f[1:])), f
    assert bits_equal(got, summary_answer(arr, funcs))


@pytest.mark.parametrize("parts", [1, 2, 3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ranks_are_read_from_the_sub_bins_that_hold_them(dtype, parts, ran, monkeypatch):
    """Each rank is selected from the kept keys of one sub-bin of its interval, counted by
    the scan of every stripe: bit-equal to numpy whatever the stripes."""
    monkeypatch.setattr(_range_select, "_stripes", uneven_stripes(parts))
    calls = []
    narrow = _range_select._Ranks._from_subbins

    def spy(self, first, lo, hi, inner, cum, shift, sources):
        starts = self._scanned.starts
        size = sum(int((starts[:, c, j + 1] - starts[:, c, j]).sum()) for c, j in sources)
        calls.append((size, cum[-1], len(inner)))
        return narrow(self, first, lo, hi, inner, cum, shift, sources)

    monkeypatch.setattr(_range_select._Ranks, "_from_subbins", spy)
    rng = np.random.default_rng(12)
    # a wide interval around zero (every exponent, subnormals) and a narrow one in the tail
    arr = np.concatenate([rng.standard_t(2, 150_000) * 100, rng.normal(0, 1e-39, 10_000)])
    arr = rng.permutation(arr).astype(dtype).reshape(400, 400)
    arr[rng.random(arr.shape) < 0.02] = np.nan
    funcs = ["p0.5", "p25", "median", "p75", "p99"]
    got = imgstats.compute(arr, funcs)
    assert ran[-1] is not None
    assert calls and all(size == total for size, total, _ in calls)  # every kept key counted
    valid = valid_samples(arr)
    for f in funcs:
        assert got[f] == np.percentile(valid, 50 if f == "median" else float(f[1:])), f
    # an even count: the median reads two ranks, each from its own sub-bin if need be
    got = imgstats.compute(arr[:, :-1], "median")
    assert got == np.median(valid_samples(arr[:, :-1]))


@pytest.mark.parametrize("m", [1, 3, 16, 17, 255])
@pytest.mark.parametrize("width", [1, 2, 3, 4095, 4096, 4097, 2**31 + 5, 2**63 - 1])
def test_every_kept_key_of_an_interval_has_a_sub_bin(width, m):
    nsub = _range_select._subbins(m)
    assert nsub & (nsub - 1) == 0 and 16 <= nsub <= _range_select.SUBBINS
    assert m * nsub <= max(_range_select.SUBBIN_BUDGET, 16 * m)
    shift = _range_select._shift(width, nsub)
    assert (width - 1) >> shift < nsub
    assert shift == 0 or (width - 1) >> (shift - 1) >= nsub // 2


def test_ties_subnormals_zeros_and_infinities(ran):
    tiny = float(np.finfo(np.float32).smallest_subnormal)
    values = np.array([-np.inf, -tiny, -0.0, 0.0, tiny, 1.0, 1.0, np.inf, np.nan], np.float32)
    # shuffled: a strided look at a periodic pattern sees some values only (then the
    # prediction misses, and the summary answers)
    arr = np.random.default_rng(4).permutation(np.resize(values, 200_000)).reshape(400, 500)
    for funcs in (["p0", "p12.5", "median", "p87.5", "p100"], "p33", "min", "max"):
        got = imgstats.compute(arr, funcs)
        assert ran[-1] is not None
        assert bits_equal(got, summary_answer(arr, funcs))


def test_one_sample_and_all_nan(ran):
    one = np.array([[np.nan, 2.5, np.nan]], np.float64)
    assert imgstats.compute(one, ["min", "median", "p99", "count"]) == {
        "min": 2.5,
        "median": 2.5,
        "p99": 2.5,
        "count": 1,
    }
    with pytest.raises(NoValidSamples):
        imgstats.compute(np.full((5, 5), np.nan, np.float32), "median")
    assert ran[-1] is None  # the summary raised, in its own words
    assert imgstats.compute(np.full((5, 5), np.nan, np.float32), "count") == 0


def test_several_bands_and_the_alpha_band(ran):
    rng = np.random.default_rng(3)
    arr = rng.normal(size=(200, 300, 4)).astype(np.float32)
    arr[..., 1] += 10
    arr[rng.random(arr.shape) < 0.1] = np.nan
    got = imgstats.compute(arr, ["p5", "median", "max"], band=[None, 0, 1, 3])
    assert ran[-1] is not None
    assert bits_equal(got, summary_answer(arr, ["p5", "median", "max"], [None, 0, 1, 3]))
    assert got[1]["median"] == np.nanmedian(arr[..., 1])
    # a named alpha band is not pooled by band=None, as the summary
    import xarray as xr

    da = xr.DataArray(arr, dims=("y", "x", "band"), coords={"band": ["R", "G", "B", "A"]})
    got = imgstats.compute(da, ["median", "count"])
    assert ran[-1] is not None
    assert got["count"] == valid_samples(arr[..., :3]).size
    assert got["median"] == np.nanmedian(arr[..., :3])


def test_a_missed_prediction_falls_back_to_the_summary(ran, monkeypatch):
    rng = np.random.default_rng(5)
    arr = rng.normal(size=(100, 100)).astype(np.float64)
    # an adversarial prediction: every wanted rank is looked for far above the samples
    top = int(np.float64(100.0).view(np.uint64) | np.uint64(1 << 63))
    monkeypatch.setattr(
        _range_select, "_intervals", lambda k, qs, w, whole, sigmas: [(top, top + 5)]
    )
    monkeypatch.setattr(  # the looks of a C-contiguous array, one kernel call each
        _range_select, "_look", lambda arr, nb, qs, sels, *a: {s: [(top, top + 5)] for s in sels}
    )
    for a in (arr, arr.T):
        got = imgstats.compute(a, ["p10", "median"])
        assert ran[-1] is None
        assert got == {"p10": np.percentile(arr, 10), "median": np.median(arr)}


def test_too_many_kept_keys_fall_back_to_the_summary(ran, monkeypatch):
    rng = np.random.default_rng(6)
    arr = rng.normal(size=(100, 100)).astype(np.float32)
    monkeypatch.setattr(_range_select, "KEEP_SHARE", 10**9)  # room for no key at all
    got = imgstats.compute(arr, "p90")
    assert ran[-1] is None
    assert got == np.percentile(arr, 90)
    monkeypatch.setattr(_range_select, "KEEP_SHARE", 8)
    # a prediction that would keep more than the bound is refused before the pass
    ends = (0, 2**32 - 1)
    assert _range_select._intervals(np.arange(1000, dtype=np.uint32), [0.5] * 40, ends) is None


@pytest.mark.parametrize(
    ("kwargs", "funcs"),
    [
        ({}, ["std"]),
        ({"scaled": True}, "median"),
        ({"progress": False, "band": "luma"}, "median"),
    ],
)
def test_questions_the_select_leaves_to_the_summary(ran, kwargs, funcs):
    arr = np.random.default_rng(8).normal(size=(20, 30)).astype(np.float32)
    try:
        imgstats.compute(arr, funcs, **kwargs)
    except imgstats.ImgStatsError:
        pass  # luma of a float image: the summary refuses it
    assert all(r is None for r in ran)


@pytest.mark.parametrize("how", ["window", "mask", "polygon", "masked"])
def test_regions_are_answered_as_the_summary_answers(ran, how, monkeypatch):
    rng = np.random.default_rng(10)
    arr = rng.normal(size=(40, 50)).astype(np.float32)
    mask = rng.random(arr.shape) < 0.3
    data, kw = arr, {}
    if how == "window":
        kw = {"window": (5, 2, 45, 33)}
    elif how == "mask":
        kw = {"mask": mask}
    elif how == "polygon":
        kw = {"polygon": [(0, 0), (49, 0), (0, 39)]}
    else:
        data = np.ma.masked_array(arr, mask)
    got = imgstats.compute(data, ["p30", "median"], **kw)
    monkeypatch.setattr(_range_select, "eligible", lambda plan, funcs: False)
    assert bits_equal(got, imgstats.compute(data, ["p30", "median"], **kw))
    if how == "window":
        assert got["p30"] == np.percentile(arr[2:33, 5:45], 30)
    if how in ("mask", "masked"):
        assert got["p30"] == np.percentile(arr[mask if how == "mask" else ~mask], 30)


def test_dask_and_narrow_integer_arrays_keep_the_summary(ran):
    import dask.array as da

    arr = np.random.default_rng(9).normal(size=(20, 30)).astype(np.float32)
    assert imgstats.compute(da.from_array(arr, chunks=7), "median") == np.median(arr)
    for dtype in ("uint8", "int8", "uint16", "int16", "bool"):
        assert imgstats.compute(arr.astype(dtype), "median") == np.median(arr.astype(dtype))
    assert ran == []


@pytest.mark.parametrize("mode", ["always", "never"])
@pytest.mark.parametrize("dtype", INTS)
def test_wide_integers_take_the_select(dtype, mode, ran):
    """32- and 64-bit integers, their extremes and ties: numpy's answers, to the last bit,
    from the select (signed keys have the sign bit flipped, unsigned ones are the bits),
    compiled and as Python; the exact sum from each key's two halves."""
    from imgstats import _jit

    info = np.iinfo(dtype)
    rng = np.random.default_rng(13)
    shape = (300, 400) if mode == "always" else (60, 70)
    arr = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    arr[:5] = info.min
    arr[5:9] = info.max
    arr[9:20] = 7
    funcs = ["min", "p1", "p25", "median", "p99", "max", "count", "mean", "sum"]
    with _jit.forced(mode):
        got = imgstats.compute(arr, funcs)
    assert ran[-1] is not None
    assert bits_equal(got, summary_answer(arr, funcs))
    assert got["min"] == info.min and got["max"] == info.max and got["count"] == arr.size
    exact = sum(arr.reshape(-1).tolist())  # Python's ints: no wrap-around
    assert got["sum"] == exact and type(got["sum"]) is int
    assert got["mean"] == float(Fraction(exact, arr.size))
    for f in ("p1", "p25", "median", "p99"):
        want = np.percentile(arr, 50 if f == "median" else float(f[1:]))
        assert got[f] == want, (f, got[f], want)
    assert imgstats.compute(arr, ["min", "max"]) == {"min": info.min, "max": info.max}


def test_the_size_floor_keeps_small_arrays_on_the_summary(monkeypatch):
    seen = []
    answer = _range_select.answer
    monkeypatch.setattr(_range_select, "answer", lambda *a: seen.append(answer(*a)) or seen[-1])
    small = np.ones((10, 10), np.float32)
    assert imgstats.compute(small, "median") == 1.0
    assert seen == []
    big = np.arange(_range_select.MIN_SAMPLES, dtype=np.float32).reshape(512, -1)
    assert imgstats.compute(big, "p25") == np.percentile(big, 25)
    assert seen and seen[-1] is not None
    assert not math.isnan(imgstats.compute(big, "median"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_strided_view_is_sampled_without_a_copy_and_answered(dtype, ran):
    rng = np.random.default_rng(11)
    base = rng.standard_t(3, (300, 500, 2)).astype(dtype)
    view = base[::2, 50:450, 1]  # neither C-contiguous nor a copy
    got = imgstats.compute(view, ["p2", "median", "p98", "count"])
    assert ran[-1] is not None
    assert bits_equal(got, summary_answer(view, ["p2", "median", "p98", "count"]))
    assert got["median"] == np.median(view)


@pytest.mark.parametrize("mode", ["always", "never"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("nb", [1, 3])
def test_compiled_and_python_kernels_agree_on_edge_values(ran, mode, dtype, nb):
    """Both runs of the kernels (numba's, and the Python body small arrays use) on NaN of
    either sign, +-0, subnormals and infinities, one interval per band and several."""
    from imgstats import _jit

    dt = np.dtype(dtype)
    tiny = float(np.finfo(dt).smallest_subnormal)
    edge = np.array([-np.nan, np.nan, -np.inf, np.inf, -0.0, 0.0, tiny, -tiny], dt)
    rng = np.random.default_rng(12)
    arr = rng.normal(size=(90, 100, nb)).astype(dt)
    cells = rng.integers(0, arr.size, 600)
    arr.reshape(-1)[cells] = edge[np.arange(cells.size) % edge.size]
    funcs = ["min", "p0.5", "p30", "median", "p99.5", "max", "count"]
    bands = [None, *range(nb)] if nb > 1 else [None]
    with _jit.forced(mode):
        got = imgstats.compute(arr, funcs, band=bands)
    assert ran[-1] is not None
    assert bits_equal(got, summary_answer(arr, funcs, bands))
    assert got[None]["median"] == np.nanmedian(arr)
    # no percentile: the bands have no interval, and their own loop counts NaN, min and max
    with _jit.forced(mode):
        got = imgstats.compute(arr, ["min", "max", "count"], band=bands)
    assert ran[-1] is not None
    assert bits_equal(got, summary_answer(arr, ["min", "max", "count"], bands))
    assert got[None] == {
        "min": -np.inf,
        "max": np.inf,
        "count": int(np.count_nonzero(~np.isnan(arr))),
    }


@pytest.mark.parametrize("nlooks", [1, 2, 3, 8])
def test_the_looks_union_misses_as_rarely_as_one_look(nlooks):
    """Each of n looks takes a margin whose miss, n times over, is one look's miss at SIGMAS
    (the union of their intervals misses a rank only when every look does)."""
    from statistics import NormalDist

    z = _range_select._look_sigmas(nlooks)
    one_miss = 1 - NormalDist().cdf(_range_select.SIGMAS)
    assert math.isclose((1 - NormalDist().cdf(z)) ** nlooks, one_miss, rel_tol=1e-9)
    assert z <= _range_select.SIGMAS and (nlooks > 1) == (z < _range_select.SIGMAS)


@pytest.mark.parametrize("mode", ["always", "never"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_looks_radix_select_equals_a_sort(mode, data):
    """The look's order statistics (select_keys) on keys of any spread: all equal, a few
    values, full-range, floats' keys; several ranks in one bin; the keys left unchanged."""
    from imgstats import _jit, _select_kernels

    dt = data.draw(st.sampled_from([np.uint32, np.uint64]))
    n = data.draw(st.integers(1, 3000))
    top = data.draw(st.sampled_from([0, 1, 4, 2047, 2048, 2**20, int(np.iinfo(dt).max)]))
    seed = data.draw(st.integers(0, 2**32 - 1))
    keys = np.random.default_rng(seed).integers(0, top, n, dtype=dt, endpoint=True)
    if data.draw(st.booleans()):  # a clustered half: most keys in one bin of the first level
        keys[: n // 2] = keys[: n // 2] % 64 + dt(top // 2)
    ranks = np.unique(np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=8))))
    before = keys.copy()
    found = np.zeros(ranks.size, dt)
    with _jit.forced(mode):
        _select_kernels.select_keys(keys, ranks, found)
    assert np.array_equal(keys, before)
    assert np.array_equal(found, np.sort(keys)[ranks])


def test_integer_sums_keep_the_summary_beyond_their_words(ran, monkeypatch):
    """A band of MAX_SUMMED pixels or more could wrap its two sum words: the mean and sum
    of such an integer array come from the summary, its percentiles still from the select."""
    monkeypatch.setattr(_range_select, "MAX_SUMMED", 1000)
    rng = np.random.default_rng(14)
    big = rng.integers(-(2**62), 2**62, (40, 50), dtype=np.int64)  # 2,000 pixels
    assert imgstats.compute(big, "mean") == float(Fraction(sum(big.ravel().tolist()), big.size))
    assert ran == []  # not eligible: the summary answered
    assert imgstats.compute(big, "median") == np.median(big)
    assert ran[-1] is not None
    bands = rng.integers(0, 2**40, (30, 30, 3), dtype=np.int64)  # 900 pixels, three bands
    assert imgstats.compute(bands, "sum") == sum(bands.ravel().tolist())
    assert ran[-1] is not None


def test_percentiles_take_the_select_with_numba_jit_disabled(ran, tmp_path):
    """``NUMBA_DISABLE_JIT=1`` runs numba's kernels as Python, which cannot call numba's
    intrinsics (the radix select's ``leading_zeros``): their Python bodies stand in."""
    rng = np.random.default_rng(20)
    arrays = []
    for dt in ("float32", "float64", "int64"):
        a = (rng.standard_t(2, (40, 50)) * 100).astype(dt)
        if a.dtype.kind == "f":
            a[::9, ::7] = np.nan
        arrays.append(a)
    np.savez(tmp_path / "arrays.npz", *arrays)
    funcs = ["p1", "median", "p99", "min", "mean"]
    code = (
        "import json, sys, numpy as np, imgstats\n"
        "from imgstats import _jit, _range_select\n"
        "_range_select.MIN_SAMPLES = 0\n"
        "seen = []\n"
        "answer = _range_select.answer\n"
        "_range_select.answer = lambda *a: seen.append(answer(*a)) or seen[-1]\n"
        "arrays = np.load(sys.argv[1]).values()\n"
        f"out = [imgstats.compute(a, {funcs!r}) for a in arrays]\n"
        "print(json.dumps([out, _jit.loaded(), [s is not None for s in seen]]))\n"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "IMGSTATS_JIT": "always"}
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "arrays.npz")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out, loaded, selected = json.loads(run.stdout.strip().splitlines()[-1])
    assert loaded and selected == [True] * 3  # numba's Python kernels, on the select path
    for got, arr in zip(out, arrays, strict=True):
        check_all(got, arr, funcs)
        assert bits_equal(got, imgstats.compute(arr, funcs))  # as the compiled kernels
    assert all(ran)


@pytest.mark.parametrize("mode", ["always", "never"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_looks_kernel_predicts_as_the_python_intervals(mode, data):
    """The looks of a C-contiguous array run as one kernel call each
    (:func:`imgstats._select_kernels.look_intervals`); other arrays' as Python
    (:func:`_range_select._intervals`): the same intervals from the same samples."""
    from imgstats import _jit, _select_kernels

    dt = data.draw(st.sampled_from(["float32", "float64", "int32", "uint64"]), label="dtype")
    n = data.draw(st.integers(0, 3000), label="pixels")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    arr = (rng.standard_t(2, n) * 100).astype(dt)
    if arr.dtype.kind == "f":
        arr[rng.random(n) < data.draw(st.sampled_from([0, 0.1, 1]))] = np.nan
    stride = data.draw(st.integers(1, 7), label="stride")
    start = data.draw(st.integers(0, 6), label="start")
    qs = sorted(set(data.draw(st.lists(st.sampled_from([0, 0.01, 0.1, 0.5, 0.99, 1]), min_size=1))))
    whole = data.draw(st.booleans(), label="whole")
    sigmas = data.draw(st.sampled_from([2.16, 3.5]), label="sigmas")
    kdt, top, inf, neg, pos, ninf, pinf = _range_select._key_constants(arr.dtype)
    keys = _range_select._sample(arr.reshape(-1, 1), 1, stride, (0,), start)
    want = (
        None if keys.size < 2 else _range_select._intervals(keys, qs, (ninf, pinf), whole, sigmas)
    )
    out = np.zeros((len(qs), 2), kdt)
    with _jit.forced(mode):
        found = _select_kernels.look_intervals(
            arr.view(kdt),
            1,
            start,
            stride,
            np.zeros(1, np.int64),
            (top, ~top | top, inf, neg, pos, ninf, pinf),
            np.array(qs),
            sigmas,
            whole,
            1 / _range_select.KEEP_SHARE,
            np.empty(n, kdt),
            out,
        )
    got = None if found < 2 else _range_select._merge([tuple(iv) for iv in out.tolist()])
    assert found == -1 or found == keys.size
    assert got == want


@pytest.mark.parametrize("mode", ["always", "never"])
@pytest.mark.parametrize("kdt", ["uint32", "uint64"])
@pytest.mark.parametrize("n", [0, 5, 16, 17, 1000])
def test_a_sub_bins_keys_are_copied_as_the_filter_keeps_them(mode, kdt, n):
    """The kernel that copies one sub-bin's kept keys (a vector at a time) keeps what the
    numpy filter it replaced kept, in the same order, and never writes past its buffer."""
    from imgstats import _jit
    from imgstats import _select_kernels as kernels

    dt = np.dtype(kdt)
    rng = np.random.default_rng(n)
    lo, shift = 7, 3
    keys = (lo + 1 + rng.integers(0, 4 * 8 - 1, n)).astype(dt)  # four sub-bins of 8 keys
    for s in range(4):
        want = keys[((keys - dt.type(lo)) >> dt.type(shift)) == s]
        args = (keys, dt.type(lo), dt.type(shift), dt.type(s))
        out = np.full(want.size + 64 // dt.itemsize + 2, 99, dt)
        with _jit.forced(mode):
            got = kernels.subbin_keys(*args, out, 2)
        assert got == 2 + want.size
        assert out[2:got].tolist() == want.tolist() and out[:2].tolist() == [99, 99]
        short = np.full(want.size // 2 + 1, 99, dt)  # too little room: counted, not written
        with _jit.forced(mode):
            assert kernels.subbin_keys(*args, short[:-1], 0) == want.size
        assert short[-1] == 99


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("nb", [1, 2])
def test_stripes_take_turns_at_the_chunks_of_an_array(dtype, parts, nb, ran, monkeypatch):
    """The stripes of an array read in place each scan every ``parts``-th chunk: a picture
    whose kept keys all lie in its top rows is answered as the summary answers it."""
    from imgstats import _select_kernels as kernels

    monkeypatch.setattr(_range_select, "_stripes", uneven_stripes(parts))
    rng = np.random.default_rng(parts)
    rows = 24 * kernels.CHUNK // 600  # 24 chunks of pixels: the top quarter six of them
    arr = rng.normal(size=(rows, 600, nb)).astype(dtype)
    arr[: rows // 4] += 50  # the top quarter holds every sample above the 75th percentile
    arr[rng.random(arr.shape) < 0.01] = np.nan
    arr = arr[..., 0] if nb == 1 else arr
    funcs = ["min", "p1", "median", "p80", "p99", "max", "mean", "count"]
    got = imgstats.compute(arr, funcs)
    assert ran[-1] is not None
    assert bits_equal(got, summary_answer(arr, funcs))
    assert got["p99"] == np.nanpercentile(arr, 99)
    # the top-heavy picture's kept keys (from p90 to p95) are shared by the stripes,
    # which would have left them to the stripe of the top rows
    flat = arr if nb == 1 else arr[..., 0]
    lo, hi = np.nanpercentile(flat, [90, 95]).astype(dtype)
    keys = _range_select.float_keys(np.array([lo, hi], dtype).view(f"u{arr.itemsize}"))
    per_band = [[(int(keys[0]), int(keys[1]))]] * nb
    stripes = uneven_stripes(parts)(arr)
    scanned = _range_select._scan(arr, nb, per_band, stripes)
    kept = [int(scanned.starts[i, 0, 1]) for i in range(len(stripes))]
    assert min(kept) > 0.7 * max(kept), kept
