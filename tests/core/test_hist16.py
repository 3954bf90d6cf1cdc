"""The 16-bit counting kernel (:func:`imgstats._kernels.hist16`) against ``numpy.bincount``.

The kernel counts a block of pixels into one table of counters per band, or, where
neighbouring pixels often repeat a value, into two counters per value that alternate
pixel by pixel; both are summed at the end, band by band. What breaks such code: runs of
one value, two values alternating, several bands interleaved, a partial pixel at the end,
lengths either side of a block's end and of the probe's windows, counts already in ``out``.
Both the compiled kernel and its Python body (what runs before numba is loaded) are checked.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imgstats
from imgstats import _jit, _kernels
from imgstats._blocks import small_int_stats
from imgstats._kernels import _BLOCK16, _PROBE16

from .oracle import check_all

CORE = settings.get_profile("imgstats-core")
FLIPS = {"uint16": 0, "int16": 0x8000}


@pytest.fixture(scope="module", autouse=True)
def compiled():
    _jit.load()


def expected(flat: np.ndarray, nb: int, flip: int) -> np.ndarray:
    keys = flat ^ np.uint16(flip)
    return np.stack([np.bincount(keys[c::nb], minlength=65536) for c in range(nb)])


def count(flat: np.ndarray, nb: int, flip: int, python: bool = False, out=None) -> np.ndarray:
    out = np.zeros((nb, 65536), np.int64) if out is None else out
    kernel = _kernels.hist16.py_func if python else _kernels.hist16.dispatcher
    kernel(flat, nb, flip, out)
    return out


@st.composite
def segments(draw, max_len: int = 3000) -> np.ndarray:
    """uint16 samples made of segments: runs of one value, two values alternating (at random
    or strictly), random values, and small steps around a value (a smooth image)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    parts = []
    for kind in draw(st.lists(st.sampled_from("ratws"), min_size=1, max_size=6)):
        n = draw(st.integers(0, max_len))
        a, b = (
            draw(st.sampled_from([0, 1, 255, 256, 32767, 32768, 65534, 65535])),
            rng.integers(0, 65536),
        )
        if kind == "r":
            part = np.full(n, a)
        elif kind == "a":
            part = np.where(rng.random(n) < 0.5, a, b)
        elif kind == "t":
            part = np.where(np.arange(n) % 2 == 0, a, b)
        elif kind == "w":
            part = rng.integers(0, 65536, n)
        else:
            part = np.clip(a + np.cumsum(rng.integers(-1, 2, n)), 0, 65535)
        parts.append(part)
    return np.concatenate(parts).astype(np.uint16)


@settings(CORE)
@given(flat=segments(), nb=st.integers(1, 5), dtype=st.sampled_from(sorted(FLIPS)))
def test_equals_bincount(flat, nb, dtype):
    flip = FLIPS[dtype]
    np.testing.assert_array_equal(count(flat, nb, flip), expected(flat, nb, flip))


@settings(CORE, max_examples=10)
@given(flat=segments(max_len=600), nb=st.integers(1, 4), dtype=st.sampled_from(sorted(FLIPS)))
def test_python_body_equals_bincount(flat, nb, dtype):
    flip = FLIPS[dtype]
    np.testing.assert_array_equal(count(flat, nb, flip, python=True), expected(flat, nb, flip))


def runny(n: int, seed: int = 0) -> np.ndarray:
    """About half the samples repeat the previous one; the others are random."""
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 65536, n).astype(np.uint16)
    keep = rng.random(n) < 0.5
    keep[0] = False
    idx = np.where(keep, 0, np.arange(n))
    return out[np.maximum.accumulate(idx)]


def test_the_probe_tells_both_kinds_apart():
    """The inputs below do take both ways (else the tests would check one of them only)."""
    probe = _kernels._repeats16.dispatcher
    rng = np.random.default_rng(1)
    assert probe(runny(_BLOCK16), 1)
    assert probe(np.repeat(runny(_BLOCK16), 3), 3)  # three equal bands, each repeating
    for nb in (1, 3):
        assert not probe(rng.integers(0, 65536, 4096 * nb, np.uint16), nb)
        assert not probe(np.full(4096 * nb, 7, np.uint16), nb)  # a long run: one table
    pairs = np.repeat(rng.integers(0, 65536, 2048, np.uint16), 2)  # a 2x enlargement's row
    assert not probe(pairs, 1)
    assert not probe(np.concatenate([[1], pairs]).astype(np.uint16), 1)  # shifted by one


@pytest.mark.parametrize("nb", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("extra", [-_PROBE16 - 1, -3, -1, 0, 1, 2, _PROBE16 + 7])
def test_block_boundaries(nb, extra):
    """A block of repeats, then one of random values, cut either side of a block's end,
    with a partial pixel when ``extra`` is not a multiple of the bands."""
    n = 2 * _BLOCK16 * nb + extra
    rng = np.random.default_rng(nb * 1000 + extra)
    flat = np.concatenate([np.repeat(runny(_BLOCK16), nb), rng.integers(0, 65536, n, np.uint16)])[
        :n
    ]
    for flip in FLIPS.values():
        np.testing.assert_array_equal(count(flat, nb, flip), expected(flat, nb, flip))


def test_large_counts_of_one_value_in_both_ways():
    """A value counted far beyond 16 bits, in the two-counter blocks and the one-table ones,
    and added to the counts ``out`` already holds."""
    n = 3 * _BLOCK16
    mixed = np.random.default_rng(3).integers(9, 11, n).astype(np.uint16)  # two tables
    flat = np.concatenate([mixed, np.full(n, 9, np.uint16), runny(n)])
    assert _kernels._repeats16.dispatcher(mixed[:_BLOCK16], 1)
    before = np.arange(65536, dtype=np.int64)[None, :] * 3
    got = count(flat, 1, 0, out=before.copy())
    np.testing.assert_array_equal(got, expected(flat, 1, 0) + before)
    assert got[0, 9] - before[0, 9] > 4 * 65536


@pytest.mark.parametrize("dtype", sorted(FLIPS))
@pytest.mark.parametrize("chunks", [None, ((700, 333, 1), (513, 511), (2, 1))])
def test_statistics_of_a_smooth_image(dtype, chunks):
    """Through the public API: a smooth 3-band image (repeats: two counters per value)
    whose order statistics fall in both kinds of block."""
    rng = np.random.default_rng(5)
    shape = (1034, 1024, 3)
    walk = np.cumsum(rng.integers(-1, 2, shape) * (rng.random(shape) < 0.6), 1)
    arr = (walk + rng.integers(-3000, 3000, (1034, 1, 3))).astype(dtype)
    arr[:300] = rng.integers(-30000, 30000, (300, 1024, 3)).astype(dtype)  # no repeats here
    flat = arr.reshape(-1).view(np.uint16)
    step = _BLOCK16 * 3
    assert not _kernels._repeats16.dispatcher(flat[:step], 3)
    assert _kernels._repeats16.dispatcher(flat[step : 2 * step], 3)
    funcs = ["min", "max", "mean", "median", "p1", "p99", "p37.5"]
    src = arr if chunks is None else da.from_array(arr, chunks=chunks)
    check_all(imgstats.compute(src, funcs), arr, funcs)
    for b in range(3):
        check_all(imgstats.compute(src, funcs, band=b), arr[..., b], funcs)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16"])
@pytest.mark.parametrize("huge", [False, True])
def test_band_stats_of_a_histogram(dtype, huge):
    """count, min, max and the exact sum read from a full histogram, with empty ends; a
    count of 2**47 or more is summed exactly too (Python ints rather than int64)."""
    dt = np.dtype(dtype)
    size = 1 << (8 * dt.itemsize)
    rng = np.random.default_rng(size + huge)
    hist = rng.integers(0, 5, size) * (rng.random(size) < 0.3)
    hist[:11] = 0
    hist[-5:] = 0
    hist[11] = 1
    hist[size - 5] = 2**62 if huge else 9
    stats = small_int_stats(dt, hist)
    keys = np.nonzero(hist)[0]
    base = int(np.iinfo(dt).min)
    assert stats.count == int(hist.sum())
    assert (stats.min(), stats.max()) == (11 + base, size - 5 + base)
    want = sum(int(c) * (k + base) for k, c in enumerate(hist.tolist()))
    assert stats.total == want
    assert stats.kmin == int(keys[0]) and stats.kmax == int(keys[-1])


def test_band_stats_of_an_empty_histogram():
    stats = small_int_stats(np.dtype(np.uint16), np.zeros(65536, np.int64))
    assert stats.count == 0 and stats.kmin > stats.kmax
