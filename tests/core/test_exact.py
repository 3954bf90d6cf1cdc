"""Exactness against numpy for every dtype, shape and chunking (issue 2).

The numpy path, the dask path with random uneven chunk boundaries, and the merge of the
summaries of two halves must all equal the oracle (``oracle.py``) to the last bit.
"""

from __future__ import annotations

import pickle

import dask.array as da
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imgstats
from imgstats import NoValidSamples

from .oracle import ALL_DTYPES, FLOAT_DTYPES, INT_DTYPES, check_all, valid_samples

CORE = settings.get_profile("imgstats-core")
FUNCS = ["min", "max", "mean", "median", "p0", "p100", "p1", "p25", "p75", "p99", "p99.9"]


def value_pool(dtype) -> list:
    """A small pool of values, so that drawn arrays have many ties, plus every edge value."""
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        info = np.iinfo(dt)
        bits = dt.itemsize * 8
        candidates = [
            info.min,
            info.min + 1,
            info.max,
            info.max - 1,
            0,
            1,
            2,
            3,
            7,
            -1,
            -2,
            -100,
            100,
            1 << (bits - 2),
            -(1 << (bits - 2)),
            (1 << (bits // 2)) + 1,
            info.max // 3,
        ]
        return sorted({c for c in candidates if info.min <= c <= info.max})
    finfo = np.finfo(dt)
    candidates = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        1.5,
        2.0,
        -3.25,
        1e-3,
        0.1,
        1e30,
        -1e30,
        np.pi,
        float(finfo.max),
        float(-finfo.max),
        float(finfo.tiny),
        float(finfo.smallest_subnormal),
        float(-finfo.smallest_subnormal),
        1 + float(finfo.eps),
        1 - float(finfo.epsneg),
        np.nan,
        np.inf,
        -np.inf,
    ]
    # Only values the type holds exactly, so that the drawn array is what the test believes
    # (float16 holds +-1e30 as +-inf).
    with np.errstate(over="ignore"):
        return [dt.type(c).item() for c in candidates]


SHAPES = st.one_of(
    hnp.array_shapes(min_dims=1, max_dims=1, min_side=1, max_side=300),
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=17),
    st.tuples(st.integers(1, 9), st.integers(1, 11), st.integers(1, 4)),
)


def arrays_of(dtype, *, finite_only=False):
    dt = np.dtype(dtype)
    pool = [v for v in value_pool(dt) if not (finite_only and not np.isfinite(v))]
    if dt.kind == "f":
        free = hnp.from_dtype(dt, allow_nan=not finite_only, allow_infinity=not finite_only)
    else:
        free = hnp.from_dtype(dt)
    # Mostly pool values (ties, extremes), some free ones (distinct bins, random low bits).
    elements = st.one_of(st.sampled_from(pool), st.sampled_from(pool), free)
    return hnp.arrays(dt, SHAPES, elements=elements)


@st.composite
def uneven_chunks(draw, shape):
    """Random chunk boundaries along every axis (the band axis too)."""
    chunks = []
    for size in shape:
        cuts = draw(st.sets(st.integers(1, max(1, size - 1)), max_size=min(4, size - 1)))
        bounds = [0, *sorted(c for c in cuts if 0 < c < size), size]
        chunks.append(tuple(b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True)))
    return tuple(chunks)


def _compute_or_none(data, funcs, **kw):
    """``compute`` or ``None`` when it raises NoValidSamples (checked by the caller)."""
    try:
        return imgstats.compute(data, funcs, **kw)
    except NoValidSamples:
        return None


@pytest.mark.parametrize("dtype", [*ALL_DTYPES, "float16"])
@CORE
@given(data=st.data())
def test_numpy_dask_and_merged_halves_equal_numpy(dtype, data):
    # float16: numpy interpolates a half-float array's percentiles in float16 (p1 of 1000
    # normal samples -2.42188 where a float32 or float64 lerp gives -2.42271)
    arr = data.draw(arrays_of(dtype), label="arr")
    chunks = data.draw(uneven_chunks(arr.shape), label="chunks")
    q = data.draw(st.from_regex(r"(100|[0-9]{1,2}(\.[0-9]{1,3})?)", fullmatch=True), label="q")
    funcs = [*FUNCS, f"p{q}"]
    valid = valid_samples(arr)

    from_numpy = _compute_or_none(arr, funcs)
    from_dask = _compute_or_none(da.from_array(arr, chunks=chunks), funcs)
    split = data.draw(st.integers(0, arr.shape[0]), label="split")
    halves = imgstats.summarize(arr[:split]) + imgstats.summarize(arr[split:])
    if valid.size == 0:
        assert from_numpy is None and from_dask is None
        with pytest.raises(NoValidSamples):
            halves.compute("min")
        return
    check_all(from_numpy, arr, funcs)
    check_all(from_dask, arr, funcs)
    # The merged summary needs the pixels only for the refinement of wide types.
    merged = imgstats.refine(halves, arr, funcs)
    check_all(merged.compute(funcs), arr, funcs)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint32", "int64", "float32", "float64"])
@CORE
@given(data=st.data())
def test_band_selection_equals_numpy_on_that_band(dtype, data):
    shape = data.draw(st.tuples(st.integers(1, 8), st.integers(1, 9), st.integers(2, 4)))
    arr = data.draw(hnp.arrays(np.dtype(dtype), shape, elements=st.sampled_from(value_pool(dtype))))
    chunks = data.draw(uneven_chunks(arr.shape))
    band = data.draw(st.integers(-shape[2], shape[2] - 1))
    funcs = ["min", "max", "mean", "median", "p10", "p90"]
    for source in (arr, da.from_array(arr, chunks=chunks)):
        got = _compute_or_none(source, funcs, band=band)
        if valid_samples(arr[..., band]).size == 0:
            assert got is None
        else:
            check_all(got, arr[..., band], funcs)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@CORE
@given(data=st.data())
def test_mean_is_the_exact_mean_rounded_once(dtype, data):
    # Finite values of every magnitude: float sums are exact, not float64 accumulations.
    arr = data.draw(arrays_of(dtype, finite_only=True))
    got = imgstats.compute(arr, "mean")
    check_all({"mean": got}, arr, ["mean"])
    # numpy's float64 sum of 2 x float64 max is inf, and inf + -inf is NaN
    with np.errstate(over="ignore", invalid="ignore"):
        approx = float(np.mean(arr.astype(np.float64)))
    if np.isfinite(approx):
        scale = float(np.abs(arr.astype(np.float64)).max())
        assert abs(got - approx) <= 1e-12 * scale + 1e-300
    assert np.isfinite(got)  # the exact mean of finite values is finite, unlike numpy's


def test_mean_of_huge_values_does_not_overflow():
    big = np.finfo(np.float64).max
    assert imgstats.compute(np.array([big, big, big]), "mean") == big
    assert imgstats.compute(np.array([big, -big, 1.0, 2.0]), "mean") == 0.75


def test_float32_mean_is_exact_where_numpy_float32_accumulation_is_not():
    arr = np.array([1e8, 1.0, -1e8, 1.0] * 1000, dtype=np.float32)
    assert imgstats.compute(arr, "mean") == 0.5
    assert imgstats.compute(da.from_array(arr, chunks=333), "mean") == 0.5


@pytest.mark.parametrize(
    ("dtype", "values", "q"),
    [
        ("int8", [-128, 127], 50),
        ("int8", [-128, 127, 127, -128, 0], 30),
        ("int16", [-32768, 32767], 50),
        ("int16", [-32768, 32767], 90),
        ("int32", [-(2**31), 2**31 - 1], 50),
        ("int32", [-(2**31), 2**31 - 1], 30),
    ],
)
def test_signed_overflow_gives_the_mathematically_right_value(dtype, values, q):
    # numpy computes b - a in the image's type, which wraps around here: numpy's own answer
    # is wrong (int8 median of -128 and 127 is 127.5). imgstats documents the right value,
    # which is numpy's on the values cast to int64.
    arr = np.array(values, dtype=dtype)
    want = np.percentile(arr.astype(np.int64), q)
    with np.errstate(over="ignore"):
        wrapped = np.percentile(arr, q)
    assert want != wrapped  # the case really overflows in numpy
    assert imgstats.compute(arr, f"p{q}") == want
    assert imgstats.compute(da.from_array(arr, chunks=1), f"p{q}") == want


def test_int8_median_of_extremes_is_minus_half():
    assert imgstats.compute(np.array([-128, 127], np.int8), "median") == -0.5


@pytest.mark.parametrize(
    ("values", "want"),
    [
        ([np.nan, 1.0, 2.0, np.nan, 3.0], {"min": 1.0, "max": 3.0, "median": 2.0, "mean": 2.0}),
        ([np.inf, 1.0, 2.0, 3.0], {"min": 1.0, "max": np.inf, "median": 2.5, "mean": np.inf}),
        ([-np.inf, np.nan, 5.0], {"min": -np.inf, "max": 5.0, "mean": -np.inf}),
        ([-0.0, 0.0, -0.0], {"min": 0.0, "max": 0.0, "median": 0.0, "mean": 0.0}),
    ],
)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_nan_is_ignored_and_inf_takes_part(values, want, dtype):
    arr = np.array(values, dtype=dtype)
    got = imgstats.compute(arr, list(want))
    assert got == want
    check_all(got, arr, list(want))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_percentile_next_to_inf_is_numpys_nan(dtype):
    # numpy.percentile interpolates a + (inf - a) * 0 = NaN even at an exact rank; np.median
    # takes the middle sample and says 2.0. p50 is numpy.percentile, median numpy.median.
    arr = np.array([1.0, 2.0, np.inf], dtype)
    with np.errstate(invalid="ignore"):
        assert np.isnan(np.percentile(arr, 50))
    funcs = ["median", "p50", "p0", "p25", "p75", "p100"]
    got = imgstats.compute(arr, funcs)
    assert got["median"] == np.median(arr) == 2.0 and np.isnan(got["p50"])
    assert got["p0"] == 1.0 and got["p25"] == 1.5
    check_all(got, arr, funcs)  # p75 and p100 too: inf - inf


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape", [(0,), (3, 0), (4, 5), (2, 3, 3)])
@pytest.mark.parametrize("func", ["min", "max", "mean", "median", "p99.9"])
def test_no_valid_samples_raises_never_nan(dtype, shape, func):
    arr = np.full(shape, np.nan, dtype=dtype)
    with pytest.raises(NoValidSamples):
        imgstats.compute(arr, func)
    with pytest.raises(NoValidSamples):
        imgstats.compute(da.from_array(arr, chunks=2), [func])
    with pytest.raises(NoValidSamples):
        imgstats.summarize(arr).compute(func)


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_empty_integer_array_raises_no_valid_samples(dtype):
    with pytest.raises(NoValidSamples):
        imgstats.compute(np.zeros((0, 4), dtype), "median")


def test_array_with_zero_bands_raises_no_valid_samples():
    with pytest.raises(NoValidSamples):
        imgstats.compute(np.zeros((2, 2, 0), np.uint8), "min")
    for empty in (np.zeros((2, 2, 0), np.float32), da.zeros((4, 3, 0), chunks=2)):
        with pytest.raises(NoValidSamples):
            imgstats.summarize(empty)


def test_nan_only_band_raises_but_other_bands_answer():
    arr = np.zeros((3, 4, 2), np.float32)
    arr[..., 1] = np.nan
    assert imgstats.compute(arr, "max", band=0) == 0.0
    assert imgstats.compute(arr, "max") == 0.0
    with pytest.raises(NoValidSamples):
        imgstats.compute(arr, "max", band=1)


# -- the refinement of 32- and 64-bit types: both modes, every level ---------------------------
QS = ["p0", "p0.001", "p1", "p10", "p33.3", "median", "p66.7", "p99", "p99.999", "p100"]


def _refined_kinds(summary):
    return sorted({kind for kind, _ in summary.refined.values()})


def _check_refinement(arr, funcs, *, chunks, kinds):
    s = imgstats.summarize(arr)
    assert s.missing(funcs)  # these types need another look at the pixels
    refined = imgstats.refine(s, arr, funcs)
    assert refined.missing(funcs) == []
    assert set(kinds) <= set(_refined_kinds(refined))
    check_all(refined.compute(funcs), arr, funcs)
    check_all(imgstats.compute(arr, funcs), arr, funcs)
    check_all(imgstats.compute(da.from_array(arr, chunks=chunks), funcs), arr, funcs)
    return refined


def test_float32_bin_over_65536_keys_is_refined_by_sub_histogram():
    # 200k float32 values whose keys share their top 16 bits: a single top-level bin.
    rng = np.random.default_rng(1)
    base = np.float32(1.5).view(np.uint32) & np.uint32(0xFFFF0000)
    arr = (base + rng.integers(0, 1 << 16, 200_000).astype(np.uint32)).view(np.float32)
    assert len(np.unique(arr.view(np.uint32) >> 16)) == 1
    s = imgstats.summarize(arr)
    ((_, shift, prefix, count),) = s.missing("median")
    assert (shift, count) == (16, 200_000) and count > 1 << 16
    _check_refinement(arr, QS, chunks=(70_001, 30_000, 99_999), kinds=["hist"])


@pytest.mark.parametrize(("n", "kind"), [(65_535, "keys"), (65_536, "keys"), (65_537, "hist")])
def test_collect_limit_boundary(n, kind):
    # At most 2**16 keys in the bin are collected; one more and the bin gets a sub-histogram.
    rng = np.random.default_rng(n)
    base = np.float32(-7.0).view(np.uint32) & np.uint32(0xFFFF0000)
    arr = (base + rng.integers(0, 1 << 16, n).astype(np.uint32)).view(np.float32)
    refined = _check_refinement(arr, QS, chunks=(n // 3, n - n // 3), kinds=[kind])
    assert _refined_kinds(refined) == [kind]


def test_float32_bin_with_few_keys_is_refined_by_collecting_them():
    rng = np.random.default_rng(2)
    arr = rng.normal(size=(300, 200)).astype(np.float32)
    s = imgstats.summarize(arr)
    assert all(count <= 1 << 16 for *_, count in s.missing(QS))
    _check_refinement(arr, QS, chunks=((17, 283), (150, 50)), kinds=["keys"])


def test_float32_negative_values_and_ties_in_one_bin():
    rng = np.random.default_rng(3)
    base = np.float32(-2.0).view(np.uint32) & np.uint32(0xFFFF0000)
    low = rng.integers(0, 40, 150_000).astype(np.uint32)  # many ties
    arr = (base + low).view(np.float32).reshape(300, 500)
    _check_refinement(arr, QS, chunks=((299, 1), (7, 493)), kinds=["hist"])


def test_float64_differing_only_in_the_lowest_bits_descends_every_level(monkeypatch):
    # 200k float64 values sharing their top 48 key bits, and two far apart (so that the
    # smallest and largest key share no level). With the 32-bit collect limit: three
    # refinement passes, each over a bin too full to collect (sub-histograms at shifts 48, 32
    # and 16).
    monkeypatch.setattr(imgstats.summary, "WIDE_COLLECT_LIMIT", imgstats.summary.COLLECT_LIMIT)
    rng = np.random.default_rng(4)
    bits = np.float64(1.0).view(np.uint64) + rng.integers(0, 1 << 16, 200_000).astype(np.uint64)
    arr = np.concatenate([bits.view(np.float64), [0.5, 2.0]])
    assert len(np.unique(arr)) > 50_000
    refined = _check_refinement(arr, QS, chunks=(123_457, 76_545), kinds=["hist"])
    shifts = {shift for (_, shift, _) in refined.refined}
    assert shifts == {48, 32, 16}


@pytest.mark.parametrize("dtype", [np.int64, np.uint64, np.float64])
def test_levels_every_key_shares_take_no_pass(dtype, monkeypatch):
    # The same keys without the two far values (and int64 samples below 2**16, as
    # ``astype(int)`` gives them): the smallest and largest key agree above the lowest 16
    # bits, so every key is in one bin at shifts 48 and 32 and only the last level is
    # counted, in one pass, where three passes found one full bin after another.
    monkeypatch.setattr(imgstats.summary, "WIDE_COLLECT_LIMIT", imgstats.summary.COLLECT_LIMIT)
    rng = np.random.default_rng(4)
    low = rng.integers(0, 1 << 16, 200_000).astype(np.uint64)
    if dtype == np.float64:
        arr = (np.float64(1.0).view(np.uint64) + low).view(np.float64)
    else:
        arr = low.astype(dtype)
    refined = _check_refinement(arr, QS, chunks=(123_457, 76_543), kinds=["hist"])
    assert {shift for (_, shift, _) in refined.refined} == {16}


def test_float64_bin_under_the_wide_limit_is_collected_in_one_pass():
    # The same bin with the default limit: its 200k keys are collected at once (at the last
    # level, where the smallest and largest key stop agreeing).
    rng = np.random.default_rng(4)
    bits = np.float64(1.0).view(np.uint64) + rng.integers(0, 1 << 16, 200_000).astype(np.uint64)
    arr = bits.view(np.float64)
    refined = _check_refinement(arr, QS, chunks=(123_457, 76_543), kinds=["keys"])
    assert {shift for (_, shift, _) in refined.refined} == {16}


def test_float64_lowest_bits_collected_at_the_last_level():
    rng = np.random.default_rng(5)
    bits = np.float64(-3.0).view(np.uint64) + rng.integers(0, 1 << 16, 50_000).astype(np.uint64)
    arr = bits.view(np.float64)
    _check_refinement(arr, QS, chunks=(10_000, 40_000), kinds=["keys"])


@pytest.mark.parametrize("dtype", ["int32", "uint32", "int64", "uint64"])
@pytest.mark.parametrize(("spread", "kind"), [(1 << 8, "hist"), (1 << 20, "keys")])
def test_wide_integers_in_one_bin(monkeypatch, dtype, spread, kind):
    # 150k keys over 2**8 values: one full bin at every level (sub-histograms); over 2**20
    # values: 16 bins of ~9k keys at the last level (collected). 64-bit keys with the 32-bit
    # collect limit, so that they descend level by level.
    monkeypatch.setattr(imgstats.summary, "WIDE_COLLECT_LIMIT", imgstats.summary.COLLECT_LIMIT)
    rng = np.random.default_rng(6)
    info = np.iinfo(dtype)
    start = info.min + 12345 if info.min else info.max // 2
    arr = (start + rng.integers(0, spread, 150_000)).astype(dtype)
    _check_refinement(arr, QS, chunks=(100_000, 50_000), kinds=[kind])


def test_refinements_stay_in_the_summary_and_answer_later_questions():
    rng = np.random.default_rng(7)
    arr = rng.normal(size=(200, 300)).astype(np.float32)
    refined = imgstats.refine(imgstats.summarize(arr), arr, ["p10", "p90"])
    assert refined.missing(["p10", "p90"]) == []
    check_all(refined.compute(["p10", "p90"]), arr, ["p10", "p90"])
    # pickled with its refinements
    again = pickle.loads(pickle.dumps(refined))
    assert again.missing(["p10", "p90"]) == []
    check_all(again.compute(["p10", "p90"]), arr, ["p10", "p90"])


def test_large_numpy_array_counted_on_several_threads_is_exact():
    # Over imgstats' threading threshold (2**20 samples): row slices counted in parallel.
    rng = np.random.default_rng(8)
    arr = rng.normal(size=(1500, 1000)).astype(np.float32)
    funcs = ["min", "max", "mean", "p0.1", "median", "p99.99"]
    check_all(imgstats.compute(arr, funcs), arr, funcs)
    u16 = rng.integers(0, 65536, (1200, 1000), dtype=np.uint16)
    check_all(imgstats.compute(u16, funcs), u16, funcs)
    rgb = rng.integers(0, 256, (700, 600, 3), dtype=np.uint8)
    from PIL import Image

    check_all(
        imgstats.compute(rgb, funcs, band="luma"),
        np.asarray(Image.fromarray(rgb).convert("L")),
        funcs,
    )


def test_int64_after_uint64_in_the_same_process():
    # Regression: numba typed the key flip 2**63 (int64 images) and 0 (uint64 images)
    # differently; once the uint64 overload existed, every int64 image raised OverflowError.
    assert imgstats.compute(np.array([3, 1, 2], np.uint64), "min") == 1
    arr = np.array([-(2**63), 5, 2**63 - 1], np.int64)
    assert imgstats.compute(arr, ["min", "max", "median"]) == {
        "min": -(2**63),
        "max": 2**63 - 1,
        "median": 5.0,
    }


@pytest.mark.parametrize("dtype", [*ALL_DTYPES, "float16"])
@CORE
@given(data=st.data())
def test_big_endian_arrays_equal_numpy(dtype, data):
    # FITS images (and np.frombuffer(..., ">f4")) are big-endian: the kernels read bit
    # patterns, which gave silently wrong numbers (or a numba TypingError) before the fix.
    # A '>f2' array was refused ("unsupported pixel type float16"): '>f2' != float16.
    arr = data.draw(arrays_of(dtype)).astype(np.dtype(dtype).newbyteorder(">"))
    assert not arr.dtype.isnative or arr.dtype.itemsize == 1
    chunks = data.draw(uneven_chunks(arr.shape))
    funcs = ["min", "max", "mean", "median", "p10", "p99"]
    if valid_samples(arr).size == 0:
        return
    check_all(imgstats.compute(arr, funcs), arr, funcs)
    check_all(imgstats.compute(da.from_array(arr, chunks=chunks), funcs), arr, funcs)
    native = arr.astype(np.dtype(dtype))
    assert imgstats.summarize(arr).bands == imgstats.summarize(native).bands
