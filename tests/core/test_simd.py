"""The vector compress of keys (``imgstats._simd``) against numpy and its Python twin."""

from __future__ import annotations

import numpy as np
import pytest

from imgstats import _jit


def _compiled():
    numba = pytest.importorskip("numba")
    from imgstats._simd import compress_bins

    @numba.njit
    def run(src, dst, bins):
        m = 0
        i = 0
        while i + 32 <= src.size:
            m = compress_bins(src, i, dst, m, 0, 8, bins[0], bins[1], bins[2], bins[3])
            i += 32
        return m

    return run


@pytest.mark.parametrize(
    "bins",
    [(0x2E, 0x2E, 0x2E, 0x2E), (0x2E, 0x3A, 0x3A, 0x3A), (0, 1, 0xFE, 0xFF), (0x77, 0, 0, 0)],
)
@pytest.mark.parametrize("kind", ["normal", "all kept", "none kept", "ends"])
def test_compress_keeps_the_keys_of_the_bins_in_order(bins, kind):
    rng = np.random.default_rng(sum(bins))
    n = 32 * 40
    src = {
        "normal": np.clip(rng.normal(12000, 3000, n), 0, 65535),
        "all kept": np.full(n, bins[0] << 8 | 0x5A),
        "none kept": np.full(n, 0x8000),
        "ends": rng.choice([0, 255, 256, 65279, 65280, 65535], n),
    }[kind].astype(np.uint16)
    want = src[np.isin(src >> 8, bins)]
    dst = np.full(n + 32, 7, np.uint16)
    m = _compiled()(src, dst, np.array(bins, np.int64))
    assert m == want.size
    np.testing.assert_array_equal(dst[:m], want)
    twin = np.full(n + 32, 7, np.uint16)
    mm = 0
    for i in range(0, n, 32):
        mm = _jit.compress_bins(src, i, twin, mm, 0, 8, *bins)
    assert mm == m
    np.testing.assert_array_equal(twin[:mm], want)


@pytest.mark.parametrize("dtype", [np.uint32, np.uint64])
def test_compress_of_wide_keys_by_bucket(dtype):
    """Buckets ``(k - lo) >> shift`` of 32- and 64-bit keys, near the type's top too."""
    rng = np.random.default_rng(np.dtype(dtype).itemsize)
    top = np.iinfo(dtype).max
    lo = dtype(top - 2**31)
    src = (lo + rng.integers(0, 2**31, 16 * 30, dtype=np.uint64).astype(dtype)).astype(dtype)
    shift = np.uint64(23)
    buckets = (src - lo) >> dtype(shift)
    bins = (int(buckets[3]), int(buckets[7]), 255, int(buckets[3]))
    want = src[np.isin(buckets, bins)]
    numba = pytest.importorskip("numba")
    from imgstats._simd import compress_bins

    @numba.njit
    def run(src, dst, lo, shift, d):
        m = 0
        lanes = 64 // src.itemsize
        for i in range(0, src.size, lanes):
            m = compress_bins(src, i, dst, m, lo, shift, d[0], d[1], d[2], d[3])
        return m

    dst = np.zeros(src.size + 16, dtype)
    m = run(src, dst, lo, shift, np.array(bins, np.int64))
    np.testing.assert_array_equal(dst[:m], want)
    twin = np.zeros(src.size + 16, dtype)
    mm = 0
    for i in range(0, src.size, 64 // src.itemsize):
        mm = _jit.compress_bins(src, i, twin, mm, lo, shift, *bins)
    np.testing.assert_array_equal(twin[:mm], want)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"NUMBA_CPU_NAME": "generic"}, False),
        ({"NUMBA_CPU_NAME": "generic", "NUMBA_CPU_FEATURES": "+avx2,+avx512f"}, False),
        ({"NUMBA_CPU_NAME": "znver4", "NUMBA_CPU_FEATURES": "+avx512f,+avx512vbmi2"}, True),
    ],
)
def test_a_cpu_chosen_for_numba_decides_the_vector_compress(env, expected, monkeypatch):
    """A cache compiled for other machines (numba's NUMBA_CPU_NAME) must not take the vector
    path on the strength of this machine's flags."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert _jit._vector_compress() is expected


def test_an_llvm_without_the_compress_intrinsic_gets_the_scalar_loop(monkeypatch):
    """numba >= 0.60 is allowed, whose LLVM 14 has no vector compress: the overload then
    gives the scalar loop, which keeps the same keys in the same order."""
    numba = pytest.importorskip("numba")
    from llvmlite import binding

    from imgstats import _simd

    monkeypatch.setattr(binding, "llvm_version_info", (14, 0, 6))
    assert not _simd._llvm_compress()
    run = numba.njit(_simd.scalar_compress)
    rng = np.random.default_rng(3)
    for dtype, lo, shift in ((np.uint16, 0, 8), (np.uint32, 1000, 9), (np.uint64, 7, 40)):
        src = (lo + rng.integers(0, 2**16, 64)).astype(dtype)
        bins = (src - dtype(lo)) >> dtype(shift)
        want = (int(bins[0]), int(bins[5]), int(bins[5]), int(bins[5]))
        dst = np.zeros(128, dtype)
        m = 0
        for i in range(0, 64, 64 // src.itemsize):
            m = run(src, i, dst, m, dtype(lo), np.uint64(shift), *want)
        np.testing.assert_array_equal(dst[:m], src[np.isin(bins, want)])
