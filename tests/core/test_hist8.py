"""The 8-bit counting kernel (:func:`imgstats._kernels.hist8`) against ``numpy.bincount``.

A grey image of :data:`~imgstats._kernels._PAIRS8_MIN` samples or more is counted block by
block; a smooth block (pixel pairs often equal) two pixels at a time into four tables of
16-bit words, folded into the byte counts at the end. What breaks such code: an odd length
(a pair cut in two), a view that starts at an odd byte, blocks of both kinds side by side,
a value counted far beyond 16 bits, int8's flipped keys, counts already in ``out``. Both the
compiled kernel and its Python body (what runs before numba is loaded) are checked.
"""

from __future__ import annotations

import numpy as np
import pytest

import imgstats
from imgstats import _jit, _kernels
from imgstats._kernels import _BLOCK8, _PAIRS8_MIN

from .oracle import check_all

FLIPS = {"uint8": 0, "int8": 0x80}


@pytest.fixture(scope="module", autouse=True)
def compiled():
    _jit.load()


def expected(flat: np.ndarray, flip: int) -> np.ndarray:
    return np.bincount(flat ^ np.uint8(flip), minlength=256)[None, :]


def count(flat: np.ndarray, flip: int, out=None, kernel=None) -> np.ndarray:
    out = np.zeros((1, 256), np.int64) if out is None else out
    (kernel or _kernels.hist8.dispatcher)(flat, 1, flip, out)
    return out


def smooth(n: int, seed: int = 0) -> np.ndarray:
    """A 2x enlargement of a random walk: every pixel pair equal, values drifting."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.integers(-1, 2, n // 2 + 1)) % 256
    return np.repeat(walk, 2)[:n].astype(np.uint8)


def mixed(seed: int = 0) -> np.ndarray:
    """Smooth blocks, a noisy block and a constant run, more than :data:`_PAIRS8_MIN`."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, _BLOCK8 + 3, dtype=np.uint8)
    return np.concatenate(
        [smooth(5 * _BLOCK8, seed), noise, np.full(3 * _BLOCK8, 255, np.uint8), smooth(_BLOCK8)]
    )


def test_the_probe_tells_both_kinds_apart():
    """The inputs below take both ways (else the tests would check one of them only)."""
    probe = _kernels._smooth8.dispatcher
    rng = np.random.default_rng(1)
    assert probe(smooth(_BLOCK8))
    assert probe(np.full(_BLOCK8, 3, np.uint8))
    assert not probe(rng.integers(0, 256, _BLOCK8, dtype=np.uint8))
    assert not probe(smooth(_BLOCK8 + 1)[1:])  # shifted by one: the pairs straddle
    assert mixed().size >= _PAIRS8_MIN


@pytest.mark.parametrize("dtype", sorted(FLIPS))
@pytest.mark.parametrize("start, stop", [(0, None), (1, None), (0, -1), (1, -2), (3, -5)])
def test_equals_bincount(dtype, start, stop):
    """Odd lengths and odd first bytes (an unaligned view of 16-bit words)."""
    flat = mixed(7)[start:stop]
    flip = FLIPS[dtype]
    np.testing.assert_array_equal(count(flat, flip), expected(flat, flip))


def test_large_counts_add_to_out():
    """One value counted far beyond 16 bits in pairs and pixels, added to what ``out`` has."""
    flat = np.concatenate([np.full(6 * _BLOCK8, 9, np.uint8), mixed(3)])
    before = np.arange(256, dtype=np.int64)[None, :] * 5
    got = count(flat, 0, out=before.copy())
    np.testing.assert_array_equal(got, expected(flat, 0) + before)
    assert got[0, 9] - before[0, 9] > 6 * 65536


def test_python_body_equals_bincount(monkeypatch):
    """The Python body reads the module's sizes when it runs: small ones take it both ways."""
    monkeypatch.setattr(_kernels, "_PAIRS8_MIN", 4096)
    monkeypatch.setattr(_kernels, "_BLOCK8", 1024)
    rng = np.random.default_rng(2)
    flat = np.concatenate([smooth(5000), rng.integers(0, 256, 3001, dtype=np.uint8)])
    assert _kernels._smooth8.py_func(flat[:1024]) and not _kernels._smooth8.py_func(flat[-1024:])
    for flip in FLIPS.values():
        with np.errstate(all="ignore"):
            got = count(flat, flip, kernel=_kernels.hist8.py_func)
        np.testing.assert_array_equal(got, expected(flat, flip))


@pytest.mark.parametrize("dtype", sorted(FLIPS))
def test_statistics_of_a_smooth_grey_image(dtype):
    """Through the public API: the order statistics of a grey image counted in pairs."""
    arr = mixed(11).view(dtype)[: 2400 * 1000].reshape(2400, 1000)
    funcs = ["min", "max", "mean", "median", "p1", "p99", "p37.5"]
    check_all(imgstats.compute(arr, funcs), arr, funcs)
