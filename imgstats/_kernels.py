"""Counting kernels compiled with numba.

``numpy.bincount`` converts its input to int64 first and manages about 0.16 Gsamples/s on
uint8; these loops count in place at about one sample per nanosecond and release the GIL, so
chunks are counted on every core. Every kernel takes a 2-D ``(pixels, bands)`` view.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Pillow's RGB -> "L" conversion (libImaging/Convert.c): ITU-R 601-2 weights in 16.16 fixed point.
LUMA_R, LUMA_G, LUMA_B = 19595, 38470, 7471


@njit(nogil=True, cache=True)
def hist_small(a, offset, out):
    """Add the counts of ``a + offset`` per band to ``out[band, value]`` (8- and 16-bit ints)."""
    npix, nb = a.shape
    for p in range(npix):
        for c in range(nb):
            out[c, np.int64(a[p, c]) + offset] += 1


@njit(nogil=True, cache=True)
def hist_small_luma(a, offset, out, luma):
    """Like :func:`hist_small`, and also count Pillow's 8-bit luma of bands 0..2 into ``luma``."""
    npix, nb = a.shape
    for p in range(npix):
        for c in range(nb):
            out[c, np.int64(a[p, c]) + offset] += 1
        y = (
            np.int64(a[p, 0]) * LUMA_R + np.int64(a[p, 1]) * LUMA_G
            + np.int64(a[p, 2]) * LUMA_B + 0x8000
        ) >> 16
        luma[y] += 1


@njit(nogil=True, cache=True)
def scan_int_keys(raw, flip, shift, hist, kmin, kmax, ksum_hi, ksum_lo):
    """One pass over 32- or 64-bit integers given as their unsigned bit patterns.

    The order-preserving key is ``raw ^ flip`` (``flip`` is the sign bit for signed types, 0
    otherwise). Counts ``key >> shift`` per band into ``hist``, tracks the smallest and largest
    key, and sums the keys exactly as two 32-bit halves (exact below 2**31 samples per chunk).
    """
    npix, nb = raw.shape
    fl = np.uint64(flip)
    sh = np.uint64(shift)
    low = np.uint64(0xFFFFFFFF)
    for p in range(npix):
        for c in range(nb):
            k = np.uint64(raw[p, c]) ^ fl
            hist[c, np.int64(k >> sh)] += 1
            if k < kmin[c]:
                kmin[c] = k
            if k > kmax[c]:
                kmax[c] = k
            ksum_hi[c] += np.int64(k >> np.uint64(32))
            ksum_lo[c] += np.int64(k & low)


@njit(nogil=True, cache=True)
def scan_float32(bits, hist, kmin, kmax, esum, special):
    """One pass over float32 samples given as their uint32 bit patterns.

    NaN is skipped and counted in ``special[c, 0]``; +inf and -inf are counted in
    ``special[c, 1]`` and ``special[c, 2]`` (and take part in the order statistics). Finite
    values are summed exactly: the signed 24-bit significands are added per binary exponent
    into ``esum[c, exponent]`` (int64 holds 2**39 samples per chunk).
    """
    npix, nb = bits.shape
    for p in range(npix):
        for c in range(nb):
            b = np.uint32(bits[p, c])
            mag = b & np.uint32(0x7FFFFFFF)
            if mag > np.uint32(0x7F800000):
                special[c, 0] += 1
                continue
            neg = b >> np.uint32(31)
            if neg:
                k = ~b
            else:
                k = b | np.uint32(0x80000000)
            hist[c, np.int64(k >> np.uint32(16))] += 1
            if k < kmin[c]:
                kmin[c] = k
            if k > kmax[c]:
                kmax[c] = k
            if mag == np.uint32(0x7F800000):
                special[c, 2 if neg else 1] += 1
                continue
            e = np.int64(mag >> np.uint32(23))
            m = np.int64(mag & np.uint32(0x7FFFFF))
            if e == 0:
                e = 1
            else:
                m += 0x800000
            esum[c, e] += -m if neg else m


@njit(nogil=True, cache=True)
def scan_float64(bits, hist, kmin, kmax, esum_hi, esum_lo, special):
    """Like :func:`scan_float32` for float64 (uint64 bit patterns).

    The 53-bit significand is summed as a 27-bit high and a 26-bit low part per exponent.
    """
    npix, nb = bits.shape
    sign = np.uint64(0x8000000000000000)
    for p in range(npix):
        for c in range(nb):
            b = np.uint64(bits[p, c])
            mag = b & np.uint64(0x7FFFFFFFFFFFFFFF)
            if mag > np.uint64(0x7FF0000000000000):
                special[c, 0] += 1
                continue
            neg = (b & sign) != np.uint64(0)
            if neg:
                k = ~b
            else:
                k = b | sign
            hist[c, np.int64(k >> np.uint64(48))] += 1
            if k < kmin[c]:
                kmin[c] = k
            if k > kmax[c]:
                kmax[c] = k
            if mag == np.uint64(0x7FF0000000000000):
                special[c, 2 if neg else 1] += 1
                continue
            e = np.int64(mag >> np.uint64(52))
            m = np.int64(mag & np.uint64(0xFFFFFFFFFFFFF))
            if e == 0:
                e = 1
            else:
                m += np.int64(1) << 52
            hi = m >> 26
            lo = m & 0x3FFFFFF
            if neg:
                esum_hi[c, e] -= hi
                esum_lo[c, e] -= lo
            else:
                esum_hi[c, e] += hi
                esum_lo[c, e] += lo


@njit(nogil=True, cache=True)
def refine_keys(raw, bands, kind, width, prefixes, shift, hist, collect, counts, buf):
    """One refinement pass of the radix selection.

    ``raw`` is the ``(pixels, bands)`` unsigned bit pattern of the samples, ``bands`` flags the
    bands that take part, ``kind`` is 0 for unsigned, 1 for signed integers, 2 for floats, and
    ``width`` is 32 or 64. For each key whose ``key >> shift`` equals ``prefixes[t]``: when
    ``collect[t]`` the key is stored in ``buf[t, counts[t]]``; otherwise the next 16 bits below
    ``shift`` are counted into ``hist[t]``. NaN never matches.
    """
    npix, nb = raw.shape
    nt = prefixes.shape[0]
    mask = np.uint64(0xFFFFFFFF) if width == 32 else np.uint64(0xFFFFFFFFFFFFFFFF)
    sign = np.uint64(1) << np.uint64(width - 1)
    inf = np.uint64(0x7F800000) if width == 32 else np.uint64(0x7FF0000000000000)
    sh = np.uint64(shift)
    sub = np.uint64(shift - 16) if shift >= 16 else np.uint64(0)
    for p in range(npix):
        for c in range(nb):
            if not bands[c]:
                continue
            b = np.uint64(raw[p, c])
            if kind == 0:
                k = b
            elif kind == 1:
                k = b ^ sign
            else:
                if (b & ~sign) > inf:
                    continue
                if b & sign:
                    k = ~b & mask
                else:
                    k = b | sign
            pre = k >> sh
            for t in range(nt):
                if pre == prefixes[t]:
                    if collect[t]:
                        buf[t, counts[t]] = k
                        counts[t] += 1
                    else:
                        hist[t, np.int64((k >> sub) & np.uint64(0xFFFF))] += 1
                    break
