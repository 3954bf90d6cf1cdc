"""The vector compress of 16-bit keys (``imgstats._simd``) against its Python twin."""

from __future__ import annotations

import numpy as np
import pytest

from imgstats import _jit


def _compiled():
    numba = pytest.importorskip("numba")
    from imgstats._simd import compress_bins16

    @numba.njit
    def run(src, dst, bins):
        m = 0
        i = 0
        while i + 32 <= src.size:
            m = compress_bins16(src, i, dst, m, bins[0], bins[1], bins[2], bins[3])
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
        mm = _jit.compress_bins16(src, i, twin, mm, *bins)
    assert mm == m
    np.testing.assert_array_equal(twin[:mm], want)
