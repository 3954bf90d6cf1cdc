"""The grouped core's label path: counting by label on every core, selection by rank.

numpy is the oracle: every zone's row equals numpy on that zone's valid samples (via
``test_zonal.check``), whatever the label layout, the samples' type, the NaN, the chunking,
and whether the kernels run compiled or as Python.
"""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import imgstats
from imgstats import _jit, grouped

from .test_zonal import check, image_of, label_masks

CORE = settings.get_profile("imgstats-core")
FUNCS = ["min", "max", "mean", "median", "p1", "p50", "p99", "p100"]
DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int64, np.float32, np.float64]


@st.composite
def label_layouts(draw, shape):
    """Label images as users have them: one zone, many tiny zones, a few blobs, ids far from
    0 or spread wide, with or without a background."""
    h, w = shape
    kind = draw(st.sampled_from(["one", "tiny", "blobs", "offset", "sparse"]))
    if kind == "one":
        return np.full(shape, draw(st.integers(-3, 3)), np.int64)
    if kind == "tiny":  # every pixel its own zone, some repeated
        return np.arange(h * w, dtype=np.int64).reshape(shape) % draw(st.integers(1, h * w))
    if kind == "blobs":
        by, bx = draw(st.integers(1, h)), draw(st.integers(1, w))
        n = draw(st.integers(1, 6))
        ys, xs = np.arange(h)[:, None] // by, np.arange(w)[None, :] // bx
        return ((ys * 7 + xs * 3) % n).astype(np.int32)
    if kind == "offset":
        base = draw(st.integers(-(2**40), 2**40))
        return draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 5))) + base
    return draw(
        hnp.arrays(np.int64, shape, elements=st.sampled_from([0, 9, -(2**50), 2**62, 12345]))
    )


def _elements(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return st.floats(width=dtype.itemsize * 8, allow_infinity=False) | st.just(np.nan)
    return None


@settings(CORE)
@given(
    data=st.data(),
    dtype=st.sampled_from(DTYPES),
    shape=st.tuples(st.integers(1, 20), st.integers(1, 20)),
    background=st.sampled_from([0, None, 9, -5]),
)
def test_property_layouts_dtypes_nan_chunkings(data, dtype, shape, background):
    img = data.draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))
    labels = data.draw(label_layouts(shape))
    masks = label_masks(labels, background)
    cy = data.draw(st.lists(st.integers(1, shape[0]), min_size=1, max_size=4))
    cx = data.draw(st.lists(st.integers(1, shape[1]), min_size=1, max_size=4))
    chunks = (_cover(cy, shape[0]), _cover(cx, shape[1]))
    for source, zones in [
        (img, labels),
        (da.from_array(img, chunks=chunks), labels),
        (
            da.from_array(img, chunks=chunks),
            da.from_array(labels, chunks=(chunks[0][::-1], chunks[1][::-1])),
        ),
    ]:
        frame = imgstats.zonal(source, zones, FUNCS, background=background)
        check(frame, img, masks, FUNCS)


def _cover(sizes, total):
    """Uneven chunk sizes summing to ``total``."""
    out, left = [], total
    for s in sizes:
        if left <= 0:
            break
        out.append(min(s, left))
        left -= out[-1]
    if left:
        out.append(left)
    return tuple(out)


def test_zones_absent_from_the_image_have_no_row():
    img = np.arange(12, dtype=np.uint16).reshape(3, 4)
    labels = np.array([[1, 1, 5, 5], [1, 1, 5, 5], [9, 9, 9, 9]])
    frame = imgstats.zonal(img, labels, ["median"])
    assert list(frame.index) == [1, 5, 9]  # 2, 3, 4, 6, 7, 8 are not zones of this image


@pytest.mark.parametrize("mode", ["always", "never"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_compiled_and_python_kernels_agree(mode, dtype):
    """The kernels' Python bodies (small inputs before numba loads) answer as compiled."""
    rng = np.random.default_rng(7)
    img = image_of(rng, dtype, (40, 30))
    labels = rng.integers(0, 5, (40, 30)) * 3 + 100
    labels[:4] = rng.integers(0, 1000, (4, 30))  # many tiny zones beside a few large
    with _jit.forced(mode):
        frame = imgstats.zonal(img, labels, FUNCS)
    check(frame, img, label_masks(labels), FUNCS)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_stripes_on_every_core_equal_one_stripe(dtype, monkeypatch):
    """Counting and writing by stripes of pixels, one per thread, equals one stripe: each
    stripe's samples go after the previous stripes' ones."""
    monkeypatch.setattr(grouped, "_THREADED_SAMPLES", 1)
    monkeypatch.setattr("imgstats.io._plan.workers", lambda: 3)
    rng = np.random.default_rng(5)
    img = image_of(rng, dtype, (37, 29))
    labels = rng.integers(0, 12, (37, 29))
    frame = imgstats.zonal(img, labels, FUNCS)
    check(frame, img, label_masks(labels), FUNCS)
    nodata = img.flat[3]
    if not (dtype in (np.float32, np.float64) and np.isnan(nodata)):
        masked = imgstats.zonal(img, labels, FUNCS, nodata=nodata.item())
        kept = img.astype(np.float64)
        kept[img == nodata] = np.nan
        for z in masked.index:
            assert masked.loc[z, "count"] == np.count_nonzero(~np.isnan(kept[labels == z]))


def test_labels_outside_the_sampled_range_are_counted_again():
    """The labels' range is guessed from a sample; a label outside it costs a second count,
    never a lost sample."""
    rng = np.random.default_rng(3)
    h, w = 300, 400  # over 2**16 pixels: the range is sampled
    labels = rng.integers(1000, 1010, (h, w)).astype(np.int32)
    labels[17, 33] = -(10**9)  # one pixel each, which a sample misses
    labels[250, 1] = 10**9
    img = rng.integers(0, 65536, (h, w), dtype=np.uint16)
    frame = imgstats.zonal(img, labels, ["min", "max", "median"], background=None)
    check(frame, img, label_masks(labels, None), ["min", "max", "median"])
    assert frame.loc[-(10**9), "count"] == 1 and frame.loc[10**9, "max"] == img[250, 1]


def test_uint64_labels_above_int64_are_zones():
    # they were refused ("labels above 2**63 - 1"); tests/core/test_zonal_uint64_labels.py
    # has the rest: each id keeps its own pixels, its exact uint64 value as the zone's id
    labels = np.array([[1, 2**63]], np.uint64)
    got = imgstats.zonal(np.array([[3, 9]], np.uint8), labels, "max")
    assert {int(k): int(v) for k, v in got["max"].items()} == {1: 3, 2**63: 9}


@pytest.mark.parametrize("width", [1, 2, 4, 8])
def test_select_ranks_equals_sorting(width):
    """select_ranks reads each group's ranks as numpy's sort would place them, and leaves the
    keys as they were."""
    from imgstats import _group_kernels as k

    rng = np.random.default_rng(width)
    sizes = rng.choice([0, 1, 2, 31, 32, 33, 200, 3000], 40)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    dtype = np.dtype(f"u{width}")
    top = min(2**63, 2 ** (8 * width))
    keys = rng.integers(0, top, offsets[-1], dtype=np.uint64).astype(dtype)
    keys[: offsets[-1] // 3] //= 7  # repeated values
    before = keys.copy()
    n = np.diff(offsets)
    ranks = np.stack([np.zeros_like(n), (n - 1) // 2, n // 2, np.maximum(n - 1, 0)], 1)
    ranks = np.ascontiguousarray(np.minimum(ranks, np.maximum(n - 1, 0)[:, None]))
    picked = np.zeros(ranks.shape, dtype)
    sums = np.zeros(n.size, np.int64)
    with _jit.forced("always"):
        k.select_ranks(keys, offsets, ranks, 0, n.size, picked, sums if width < 8 else sums[:0], 0)
    np.testing.assert_array_equal(keys, before)
    for g in range(n.size):
        part = np.sort(keys[offsets[g] : offsets[g + 1]])
        if part.size:
            np.testing.assert_array_equal(picked[g], part[ranks[g]])
            if width < 8:
                assert sums[g] == int(part.astype(np.int64).sum())


@pytest.mark.parametrize("mode", ["always", "never", "never-scalar"])
def test_select_ranks_of_16_bit_keys_in_few_high_bytes(mode, monkeypatch):
    """16-bit groups whose keys crowd a few high bytes (as real rasters do): the keys of the
    wanted high bytes are copied out of the group before their low bytes are counted, and
    the ranks read from them are those of the sorted group -- wanted ranks in one high byte,
    in neighbouring ones, at both ends, and in groups of one value. The copy takes the CPU's
    vector compress where it has one (up to four wanted high bytes), else a scalar loop
    ("never-scalar": the Python body told the CPU has none)."""
    from imgstats import _group_kernels as k

    if mode == "never-scalar":
        monkeypatch.setattr(k, "VECTOR_COMPRESS", False)
        mode = "never"

    rng = np.random.default_rng(16)
    sizes = [33, 34, 257, 2500, 2500, 5000, 40, 300]
    parts = [
        np.clip(rng.normal(12000, 300, sizes[0]), 0, 65535),
        np.full(sizes[1], 0x1234),  # one value: every rank in one bin
        np.clip(rng.normal(0x4000, 40, sizes[2]), 0, 65535),  # straddles a high byte
        np.clip(rng.normal(12000, 3000, sizes[3]), 0, 65535),
        rng.choice([0, 65535], sizes[4]),  # both ends only
        np.clip(rng.normal(255.5, 2, sizes[5]), 0, 65535),  # around 0x00ff / 0x0100
        np.arange(sizes[6]) * 1000,  # one key per high byte
        rng.integers(0, 65536, sizes[7]),
    ]
    keys = np.concatenate(parts).astype(np.uint16)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = np.diff(offsets)
    lo, hi, _ = grouped._percentile_ranks(n, 99)
    ranks = np.stack([np.zeros_like(n), (n - 1) // 2, n // 2, lo, hi, n - 1], 1)
    ranks = np.ascontiguousarray(ranks, np.int64)
    picked = np.zeros(ranks.shape, np.uint16)
    sums = np.zeros(n.size, np.int64)
    before = keys.copy()
    with _jit.forced(mode):
        k.select_ranks(keys, offsets, ranks, 0, n.size, picked, sums, 0)
    np.testing.assert_array_equal(keys, before)
    for g in range(n.size):
        part = np.sort(keys[offsets[g] : offsets[g + 1]])
        np.testing.assert_array_equal(picked[g], part[ranks[g]])
        assert sums[g] == int(part.astype(np.int64).sum())


def _runs_of(ids, lengths):
    """Labels made of runs: ``ids[i]`` repeated ``lengths[i]`` times."""
    return np.repeat(np.asarray(ids), np.asarray(lengths))


def _run_layouts(rng):
    """Label rows with runs as the run kernels meet them: runs of every length around the
    vector of labels compared at once (15, 16, 17, 32...) and far longer, background runs,
    one zone, labels at the int32 extremes, runs broken for a few pixels, and short runs (the
    pixel-by-pixel path)."""
    n = 3001
    lengths = rng.choice([1, 2, 15, 16, 17, 31, 32, 33, 50, 200], 400)
    out = {
        "mixed runs": _runs_of(rng.integers(0, 7, lengths.size), lengths)[:n],
        "one zone": np.full(n, 4),
        "background runs": _runs_of(np.arange(lengths.size) % 2 * rng.integers(1, 5), lengths)[:n],
        "int32 top": _runs_of(2**31 - 1 - rng.integers(0, 4, lengths.size), lengths)[:n],
        "int32 bottom": _runs_of(-(2**31) + rng.integers(0, 4, lengths.size), lengths)[:n],
        "short runs": rng.integers(0, 5, n),
        # runs of 1 to 40 pixels of one label, each broken by 1 to 15 of another: a break at
        # every place of a chunk of 16 compared labels whose last label is the run's own
        "broken runs": _runs_of(
            np.arange(1200) % 2 * 2 + 5,
            np.stack([np.repeat(np.arange(1, 41), 15), np.tile(np.arange(1, 16), 40)], 1).ravel(),
        ),
    }
    return {k: v.astype(np.int32) for k, v in out.items()}


@pytest.mark.parametrize("mode", ["always", "never"])
@pytest.mark.parametrize("stripes", [1, 3])
@pytest.mark.parametrize("masked", [False, True])
def test_run_kernels_write_each_zone_in_pixel_order(mode, stripes, masked, monkeypatch):
    """group_labels counts and writes label images run by run: each zone's keys are the valid
    samples of its pixels in pixel order, whatever the runs' lengths against the vector of
    labels compared at once, runs crossing the stripes of the threads, background runs, one
    zone, labels at the int32 extremes, short runs, masked samples."""
    monkeypatch.setattr(grouped, "_THREADED_SAMPLES", 1)
    monkeypatch.setattr("imgstats.io._plan.workers", lambda: stripes)
    rng = np.random.default_rng(31)
    for name, labels in _run_layouts(rng).items():
        values = rng.integers(0, 65536, labels.size, dtype=np.uint16)
        valid = rng.random(labels.size) > 0.2 if masked else None
        with _jit.forced(mode):
            groups = grouped.group_labels(values, labels, 0, valid=valid)
        ok = np.ones(labels.size, bool) if valid is None else valid
        zones = [z for z in np.unique(labels) if z != 0]
        assert list(groups.zones) == zones, name
        for j, z in enumerate(zones):
            got = groups.keys[groups.offsets[j] : groups.offsets[j + 1]]
            np.testing.assert_array_equal(got, values[(labels == z) & ok], err_msg=name)


@pytest.mark.parametrize("mode", ["always", "never"])
@pytest.mark.parametrize("masked", [False, True])
def test_count_labels_counts_runs_and_the_labels_outside(mode, masked):
    """count_labels adds each run's length to its group, and reports the pixels outside the
    groups, the smallest and largest of their labels, the runs of one label (the pixels,
    with a mask), and each group's first pixel and last pixel + 1 (its span)."""
    from imgstats import _group_kernels as k

    rng = np.random.default_rng(37)
    for labels in _run_layouts(rng).values():
        lo = int(np.median(labels)) - 1
        ng = 3
        valid = rng.random(2 * labels.size) > 0.3 if masked else np.zeros(0, bool)
        for start, stop in [(0, labels.size), (5, 16), (17, labels.size - 3), (40, 40)]:
            part = labels[start:stop].astype(np.int64)
            nval = np.zeros(ng, np.int64)
            seen = np.zeros(ng if masked else 0, np.int64)
            first = np.full(ng, 10**9, np.int64)
            last = np.zeros(ng, np.int64)
            room = 0 if masked else 50  # the runs' record: room for some, not all
            rows = np.full(room, -7, np.int32)
            lengths = np.zeros(room, np.uint32)
            with _jit.forced(mode):
                outside, smallest, largest, runs = k.count_labels(
                    labels, lo, 2, valid, start, stop, seen, nval, first, last, rows, lengths
                )
            if not masked and part.size:
                cuts = np.flatnonzero(np.diff(part)) + 1
                run_ids = part[np.r_[0, cuts]] - lo
                run_ids[(run_ids < 0) | (run_ids >= ng)] = -1
                run_lengths = np.diff(np.r_[0, cuts, part.size])
                kept = min(room, run_ids.size)
                np.testing.assert_array_equal(rows[:kept], run_ids[:kept])
                np.testing.assert_array_equal(lengths[:kept], run_lengths[:kept])
                assert (rows[kept:] == -7).all()
            inside = (part >= lo) & (part < lo + ng)
            group = part - lo
            if masked:
                ok = valid.reshape(-1, 2)[start:stop].sum(axis=1)
                want = np.bincount(group[inside], weights=ok[inside], minlength=ng)
                np.testing.assert_array_equal(nval, want)
                np.testing.assert_array_equal(seen, 2 * np.bincount(group[inside], minlength=ng))
            else:
                np.testing.assert_array_equal(nval, 2 * np.bincount(group[inside], minlength=ng))
            assert outside == np.count_nonzero(~inside)
            if outside:
                assert (smallest, largest) == (part[~inside].min(), part[~inside].max())
            if not masked:
                assert runs == (np.count_nonzero(np.diff(part)) + 1 if part.size else 0)
            for g in range(ng):
                where = np.flatnonzero(inside & (group == g)) + start
                assert first[g] == (where[0] if where.size else 10**9)
                assert last[g] == (where[-1] + 1 if where.size else 0)


def _subnormals(rng, dtype, n: int) -> np.ndarray:
    """``n`` random subnormals of ``dtype``, a third of them negative."""
    dt = np.dtype(dtype)
    bits = np.dtype(f"u{dt.itemsize}")
    tiny = rng.integers(1, 1 << (np.finfo(dt).nmant), n, dtype=np.uint64).astype(bits)
    values = tiny.view(dt).copy()
    values[::3] *= -1
    return values


def _float_means(groups, dtype, mode) -> np.ndarray:
    """:func:`grouped._means` of float ``groups`` given as their keys, one after the other."""
    offsets = np.concatenate([[0], np.cumsum([g.size for g in groups])]).astype(np.int64)
    keys, _ = grouped.sample_keys(np.concatenate(groups))
    with _jit.forced(mode):
        return grouped._means(keys, offsets, dtype)


def _exact_mean(values) -> float:
    from fractions import Fraction

    vals = [float(v) for v in values]
    if any(math.isinf(v) for v in vals):
        pos, neg = math.inf in vals, -math.inf in vals
        return math.nan if pos and neg else (math.inf if pos else -math.inf)
    return float(sum((Fraction(v) for v in vals), Fraction(0)) / len(vals))


@pytest.mark.parametrize("mode", ["always", "never"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_means_of_keys_are_exact(mode, dtype):
    """Per-group means of float keys, to the correctly rounded float64 of the exact mean:
    integer-valued floats (many trailing zeros), subnormals, zeros of either sign,
    infinities, exponents too far apart for int64 (the exact fallback), one sample."""
    dt = np.dtype(dtype)
    info = np.finfo(dt)
    rng = np.random.default_rng(43)
    groups = [
        rng.integers(0, 65536, 50).astype(dt),  # integers: trailing zeros
        rng.normal(0, 1, 40).astype(dt),
        np.array([info.smallest_subnormal, -info.smallest_subnormal * 3, 0.0, -0.0], dt),
        np.array([info.max, info.max, info.max], dt),  # the sum overflows the type
        np.array([info.max, info.smallest_subnormal, -1.5], dt),  # exponents far apart
        np.array([np.inf, 1.0], dt),
        np.array([1.0, 3.0], dt),  # after an infinity: no sum of that zone's may stay behind
        np.array([-np.inf, np.inf, 2.0], dt),
        np.array([0.0, -0.0], dt),
        np.array([7.25], dt),
        (rng.random(300) * 1e-3).astype(dt),
    ]
    got = _float_means(groups, dt, mode)
    for j, g in enumerate(groups):
        want = _exact_mean(g)
        assert (math.isnan(want) and math.isnan(got[j])) or got[j] == want, (j, got[j], want)


@pytest.mark.parametrize("mode", ["always", "never"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_means_of_non_integer_values_ties_and_cancellation(mode, dtype):
    """The exact sum in limbs and one rounded division: non-integer values whose float64
    sum no int64 holds (they went group by group through the whole-image machinery), means
    exactly halfway between two floats (ties to even), sums that cancel to zero or to a few
    ulps, one huge and many tiny values, negative groups, a long group."""
    dt = np.dtype(dtype)
    eps = float(np.finfo(dt).eps)
    rng = np.random.default_rng(61)
    groups = [
        (rng.normal(1500, 400, 2500) / 7).astype(dt),  # a DEM's heights
        (rng.random(997) * 2 - 1).astype(dt),  # NDVI-like, both signs
        np.array([1.0, 1.0 + eps], dt),  # the mean is a tie: to the even 1.0
        np.array([1.0 + eps, 1.0 + 2 * eps], dt),  # a tie: to the even 1 + 2 eps
        np.array([-(1.0 + eps), -(1.0 + 2 * eps)], dt),
        np.array([3.5, -3.5, 1e-30, -1e-30], dt),  # cancels to zero
        np.array([1.0, -1.0, eps, eps, -eps / 2], dt),  # cancels to a few ulps
        np.concatenate([np.array([np.finfo(dt).max / 4], dt), np.full(50, 1e-30, dt)]),
        -(rng.random(300) * 1e6 + 0.1).astype(dt),
        (rng.standard_cauchy(20_000) * 1e3).astype(dt),  # heavy tails: every exponent
        # over 2**16 samples (float32 empties its packed tables by turns), both signs, zeros,
        # subnormals
        np.concatenate(
            [
                (rng.standard_cauchy(70_000) * 1e3).astype(dt),
                np.array([0.0, -0.0] * 50, dt),
                np.full(333, np.finfo(dt).smallest_subnormal * 5, dt),
                -np.full(77, np.finfo(dt).smallest_subnormal, dt),
            ]
        ),
        np.concatenate([rng.normal(0, 1, 3000).astype(dt), np.array([np.inf], dt)]),
        np.concatenate([rng.normal(0, 1, 3000).astype(dt), np.array([np.inf, -np.inf], dt)]),
        np.concatenate([np.full(2500, -0.0, dt), np.full(2500, 0.0, dt)]),  # zeros only
        _subnormals(rng, dt, 4000),  # a long group of subnormals of both signs, and the
        np.concatenate([_subnormals(rng, dt, 3000), np.full(50, np.finfo(dt).tiny, dt)]),  # least
    ]
    got = _float_means(groups, dt, mode)
    for j, g in enumerate(groups):
        want = _exact_mean(g)
        assert (math.isnan(want) and math.isnan(got[j])) or got[j] == want, (j, got[j], want)


@settings(CORE, max_examples=60)
@given(
    data=st.data(),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_float_means_equal_the_exact_mean_rounded_once(data, dtype):
    """Any finite floats, subnormals and zeros of either sign included, in groups of 1 to
    40 or of over 2,048: the mean is the exact mean rounded once to float64 (``Fraction``
    the oracle)."""
    # groups of a few, and long ones (float32's packed tables from 2,048 samples)
    size = st.one_of(st.integers(1, 40), st.integers(2048, 2100))
    sizes = data.draw(st.lists(size, min_size=1, max_size=6))
    elems = st.floats(allow_nan=False, allow_infinity=False, width=8 * np.dtype(dtype).itemsize)
    values = data.draw(hnp.arrays(dtype, sum(sizes), elements=elems))
    groups = np.split(values, np.cumsum(sizes)[:-1])
    got = _float_means(groups, np.dtype(dtype), "always")
    for j, g in enumerate(groups):
        assert got[j] == _exact_mean(g), (j, got[j], _exact_mean(g))


@pytest.mark.parametrize("mode", ["always", "never"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("nan", [False, True])
def test_float_sample_keys_order_the_values_and_mark_nan_only_when_there_is_one(mode, dtype, nan):
    dt = np.dtype(dtype)
    tiny = float(np.finfo(dt).smallest_subnormal)
    values = np.array([-np.inf, -2.5, -tiny, -0.0, 0.0, tiny, 1.0, 3e30, np.inf], dt)
    values = np.concatenate([values, np.random.default_rng(47).normal(size=5000).astype(dt)])
    if nan:
        values[[3, 700]] = [np.nan, -np.nan]
    with _jit.forced(mode):
        keys, valid = grouped.sample_keys(values)
    assert keys.dtype == np.dtype(f"u{dt.itemsize}")
    if not nan:
        assert valid.size == 0  # no validity to carry: the counting sort's run path
        ok = np.ones(values.size, bool)
    else:
        ok = ~np.isnan(values)
        np.testing.assert_array_equal(valid, ok)
    order = np.argsort(keys[ok], kind="stable")
    assert (np.diff(values[ok][order]) >= 0).all()
    np.testing.assert_array_equal(
        grouped.keys_to_values(keys[ok].astype(np.uint64), dt), values[ok]
    )


@pytest.mark.parametrize("mode", ["always", "never"])
@pytest.mark.parametrize("dtype", ["int64", "uint64"])
def test_64_bit_integer_means_are_exact_past_64_bits(mode, dtype):
    """Sums of 64-bit integers that overflow 64 bits (carried into a high word), negative
    ones, one sample: the correctly rounded mean."""
    from fractions import Fraction

    info = np.iinfo(dtype)
    rng = np.random.default_rng(53)
    groups = [
        np.full(1000, info.max, dtype),
        np.array([info.min, info.min, info.max], dtype),
        rng.integers(info.min, info.max, 5000, dtype=dtype, endpoint=True),
        np.array([7], dtype),
        np.array([info.max, 1, info.max - 1], dtype),
    ]
    values = np.concatenate(groups)
    offsets = np.concatenate([[0], np.cumsum([g.size for g in groups])]).astype(np.int64)
    keys, _ = grouped.sample_keys(values)
    with _jit.forced(mode):
        got = grouped._means(keys, offsets, np.dtype(dtype))
    for j, g in enumerate(groups):
        assert got[j] == float(Fraction(sum(int(v) for v in g), g.size)), j


@pytest.mark.parametrize("mode", ["always", "never", "never-scalar"])
@pytest.mark.parametrize("dtype", ["uint32", "uint64"])
def test_select_ranks_of_wide_keys_equal_a_sort(mode, dtype, monkeypatch):
    """32- and 64-bit keys: one bucket pass over 8 bits of ``key - min`` where the keys
    differ most, then the wanted buckets sorted. Groups of equal keys, two values, a few
    (insertion), clustered keys with a far outlier (one bucket holds nearly all), the
    type's extremes, ties, ranks in any order and several in one bucket; the wanted
    buckets' keys copied with the CPU's vector compress, or ("never-scalar") without."""
    from imgstats import _group_kernels as k

    if mode == "never-scalar":
        monkeypatch.setattr(k, "VECTOR_COMPRESS", False)
        mode = "never"

    dt = np.dtype(dtype)
    top = np.iinfo(dt).max
    rng = np.random.default_rng(59)
    groups = [
        np.full(100, 7, dt),
        np.array([3, 9] * 40, dt),
        rng.integers(0, 1000, 20, dtype=dt),
        np.concatenate([rng.integers(500, 600, 300, dtype=dt), np.array([top], dt)]),
        np.concatenate([np.array([0, top, top, 0], dt), rng.integers(0, top, 200, dtype=dt)]),
        rng.integers(0, 2**20, 2000, dtype=dt),
        np.repeat(rng.integers(0, 2**30, 50, dtype=dt), 9),
    ]
    keys = np.concatenate(groups)
    offsets = np.concatenate([[0], np.cumsum([g.size for g in groups])]).astype(np.int64)
    ranks = np.array(
        [[g.size - 1, 0, g.size // 2, (g.size - 1) // 2, int(0.99 * (g.size - 1))] for g in groups],
        np.int64,
    )
    out = np.zeros(ranks.shape, dt)
    before = keys.copy()
    with _jit.forced(mode):
        k.select_ranks(keys, offsets, ranks, 0, len(groups), out, np.zeros(0, np.int64), 0)
    np.testing.assert_array_equal(keys, before)
    for j, g in enumerate(groups):
        np.testing.assert_array_equal(out[j], np.sort(g)[ranks[j]], err_msg=str(j))
    # ranks at a bucket's first and last key, the bucket's keys out of order: buckets of
    # four values (span 1023: 10 bits, shift 2), bucket 1 holding 7, 5, 6, 4 in that order
    edge = np.array([0, 1, 2, 3, 7, 5, 6, 4] + [1023] * 30, dt)
    at = np.array([[3, 4, 7, 8, 5]], np.int64)
    got = np.zeros(at.shape, dt)
    with _jit.forced(mode):
        k.select_ranks(edge, np.array([0, edge.size]), at, 0, 1, got, np.zeros(0, np.int64), 0)
    np.testing.assert_array_equal(got[0], np.sort(edge)[at[0]])


@pytest.mark.parametrize("mode", ["always", "never", "never-scalar"])
def test_select_ranks_of_16_bit_keys_wanted_in_the_last_partial_vector(mode, monkeypatch):
    """The keys past the group's last whole vector of 32 are copied one by one: groups whose
    wanted ranks lie only among them (every tail length), distinct and shuffled."""
    from imgstats import _group_kernels as k

    if mode == "never-scalar":
        monkeypatch.setattr(k, "VECTOR_COMPRESS", False)
        mode = "never"
    rng = np.random.default_rng(45)
    parts = []
    for tail in range(1, 32):
        for whole in (32, 64):
            parts.append(np.concatenate([np.full(whole, 0x0101), rng.permutation(tail) + 0x5000]))
    keys = np.concatenate(parts).astype(np.uint16)
    n = np.array([p.size for p in parts], np.int64)
    offsets = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
    ranks = np.ascontiguousarray(np.stack([n - 1, n - 2, n - 1 - (n - 1) % 3], 1), np.int64)
    picked = np.zeros(ranks.shape, np.uint16)
    with _jit.forced(mode):
        k.select_ranks(keys, offsets, ranks, 0, n.size, picked, np.zeros(0, np.int64), 0)
    for g in range(n.size):
        part = np.sort(keys[offsets[g] : offsets[g + 1]])
        np.testing.assert_array_equal(picked[g], part[ranks[g]])
