"""Counting kernels compiled with numba.

``numpy.bincount`` converts its input to int64 first and manages about 0.16 Gsamples/s on
uint8; these loops count in place, release the GIL (so :mod:`imgstats.reduce` runs them on every
core) and spread repeated values over several sub-histograms: photographs repeat a value from one
sample to the next, and a single histogram then waits on its own store to the same counter.
The histogram kernels take the flat, band-interleaved samples of a C-contiguous
``(pixels, bands)`` block; the others take the 2-D ``(pixels, bands)`` view.
"""

from __future__ import annotations

import numpy as np

# numba's njit, applied when numba is first needed: small inputs run as Python (see _jit)
from ._jit import njit

#: Samples counted into 32-bit sub-histograms before they are added to the int64 result.
_FLUSH = 1 << 30
#: float32 samples per packed block: a bin's count (< 2**23) and 16-bit low-key sum fit 64 bits.
_PACK_BLOCK = 1 << 23

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
def hist8(flat, nb, flip, out):
    """Add the counts of the 8-bit keys ``flat ^ flip`` to ``out[band, key]``.

    ``flat`` holds the unsigned bit patterns, band-interleaved (sample ``i`` belongs to band
    ``i % nb``); ``flip`` is 0x80 for int8. Six (RGB) or eight (grey) sub-histograms of 32-bit
    counters take consecutive samples: 3.4x faster than one int64 histogram on a photograph.
    A grey image of :data:`_PAIRS8_MIN` samples or more is taken in blocks of
    :data:`_BLOCK8`, and the smooth ones (:func:`_smooth8`) are counted two pixels at a time
    (:func:`_count8_pairs`): half as many counters to add to.
    """
    n = flat.shape[0]
    f = np.uint64(flip)
    pairs = nb == 1 and n >= _PAIRS8_MIN
    tab4 = np.zeros((0, 4), np.uint32)  # the pairs' tables, allocated when a block needs them
    start = 0
    while start < n:
        stop = min(n, start + (_FLUSH // (24 * nb)) * (24 * nb))  # whole pixels
        sub = np.zeros((8, nb, 256), np.uint32)
        # A view indexed from 0: LLVM then proves indexes are >= 0 and drops numba's
        # negative-index checks (50% faster than indexing ``flat`` from ``start``).
        blk = flat[start:stop]
        m = blk.shape[0]
        i = 0
        if nb == 1:
            while i < m:
                end = min(m, i + _BLOCK8) if pairs else m
                if pairs and end - i >= _BLOCK8 and _smooth8(blk[i:end]):
                    if tab4.shape[0] == 0:
                        tab4 = np.zeros((65536, 4), np.uint32)
                    _count8_pairs(blk[i:end].view(np.uint16), tab4)
                else:
                    _count8_grey(blk[i:end], f, sub)
                i = end
        elif nb == 3:
            while i + 6 <= m:
                sub[0, 0, (np.uint64(blk[i]) ^ f)] += 1
                sub[0, 1, (np.uint64(blk[i + 1]) ^ f)] += 1
                sub[0, 2, (np.uint64(blk[i + 2]) ^ f)] += 1
                sub[1, 0, (np.uint64(blk[i + 3]) ^ f)] += 1
                sub[1, 1, (np.uint64(blk[i + 4]) ^ f)] += 1
                sub[1, 2, (np.uint64(blk[i + 5]) ^ f)] += 1
                i += 6
        else:
            while i + 4 * nb <= m:
                for c in range(nb):
                    sub[0, c, (np.uint64(blk[i + c]) ^ f)] += 1
                    sub[1, c, (np.uint64(blk[i + nb + c]) ^ f)] += 1
                    sub[2, c, (np.uint64(blk[i + 2 * nb + c]) ^ f)] += 1
                    sub[3, c, (np.uint64(blk[i + 3 * nb + c]) ^ f)] += 1
                i += 4 * nb
        c = i % nb
        while i < m:
            sub[0, c, (np.uint64(blk[i]) ^ f)] += 1
            i += 1
            c += 1
            if c == nb:
                c = 0
        for s in range(8):
            for c in range(nb):
                for v in range(256):
                    out[c, v] += sub[s, c, v]
        if tab4.shape[0]:
            _fold_pairs8(tab4, f, out)
            tab4[:] = 0
        start = stop


#: Pixels per block of a grey 8-bit image that :func:`hist8` counts one way or the other
#: (even: a block's pixel pairs start at an even pixel).
_BLOCK8 = 1 << 18
#: Grey 8-bit images of fewer samples are counted pixel by pixel: folding the pairs' tables
#: (a quarter of a million counters) would cost more than pairs save.
_PAIRS8_MIN = 1 << 21
#: Pixel pairs of a block of :func:`hist8` that tell how smooth it is, in eight windows.
_PROBE8 = 512


@njit(nogil=True, cache=True)
def _smooth8(blk):
    """Whether at least three in ten of :data:`_PROBE8` pixel pairs (pixels ``2k`` and
    ``2k + 1``), in eight windows spread over ``blk``, hold one value twice: the pairs of a
    smooth block (a photograph's sky, a scan's margin, a gradient) are then few, their
    counters stay in the cache, and :func:`_count8_pairs` adds to half as many of them.
    Measured on 12 MP, one core, pairs against pixels: the gallery's photograph resized 3.6
    -> 2.3 ms, a 2x nearest-neighbour enlargement of noise 3.3 -> 2.2 ms; noise (pairs
    seldom equal) 3.4 -> 11.7 ms, which this test keeps from pairs."""
    m = blk.shape[0] // 2
    w = _PROBE8 // 8
    same = 0
    looked = 0
    for k in range(8):
        lo = (m * k) // 8
        hi = min(m, lo + w)
        for j in range(lo, hi):
            same += blk[2 * j] == blk[2 * j + 1]
        looked += max(0, hi - lo)
    return 10 * same >= 3 * looked > 0


@njit(nogil=True, cache=True)
def _count8_grey(blk, f, sub):
    """Count the 8-bit keys ``blk ^ f`` of a grey block, consecutive pixels into the eight
    sub-histograms ``sub[s, 0]`` in turn."""
    m = blk.shape[0]
    i = 0
    while i + 8 <= m:
        sub[0, 0, (np.uint64(blk[i]) ^ f)] += 1
        sub[1, 0, (np.uint64(blk[i + 1]) ^ f)] += 1
        sub[2, 0, (np.uint64(blk[i + 2]) ^ f)] += 1
        sub[3, 0, (np.uint64(blk[i + 3]) ^ f)] += 1
        sub[4, 0, (np.uint64(blk[i + 4]) ^ f)] += 1
        sub[5, 0, (np.uint64(blk[i + 5]) ^ f)] += 1
        sub[6, 0, (np.uint64(blk[i + 6]) ^ f)] += 1
        sub[7, 0, (np.uint64(blk[i + 7]) ^ f)] += 1
        i += 8
    while i < m:
        sub[0, 0, (np.uint64(blk[i]) ^ f)] += 1
        i += 1


@njit(nogil=True, cache=True)
def _count8_pairs(pairs, tab4):
    """Count each pair of 8-bit pixels (one 16-bit word) into ``tab4[word, i % 4]``: four
    tables side by side, so that a run of one pair never waits on its own counter."""
    m = pairs.shape[0]
    i = 0
    while i + 4 <= m:
        tab4[np.uint64(pairs[i]), 0] += 1
        tab4[np.uint64(pairs[i + 1]), 1] += 1
        tab4[np.uint64(pairs[i + 2]), 2] += 1
        tab4[np.uint64(pairs[i + 3]), 3] += 1
        i += 4
    while i < m:
        tab4[np.uint64(pairs[i]), 0] += 1
        i += 1


@njit(nogil=True, cache=True)
def _fold_pairs8(tab4, f, out):
    """Add the pixels of the pair counts ``tab4`` (:func:`_count8_pairs`) to ``out[0, key]``:
    both bytes of each 16-bit word, each as its key (``byte ^ f``)."""
    for w in range(65536):
        c = np.int64(tab4[w, 0]) + np.int64(tab4[w, 1]) + np.int64(tab4[w, 2])
        c += np.int64(tab4[w, 3])
        if c:
            out[0, np.uint64(w & 0xFF) ^ f] += c
            out[0, np.uint64(w >> 8) ^ f] += c


#: Pixels per block of :func:`hist16`, each block counted one way or the other.
_BLOCK16 = 1 << 18
#: Pixels of a block of :func:`hist16`, in eight windows, that tell how it repeats values.
_PROBE16 = 512
#: The most bands whose repeats :func:`hist16` counts in two tables: beyond, the tables
#: (768 kB per band) would not stay in cache and would multiply its memory.
_PAIRED_BANDS16 = 4


@njit(nogil=True, cache=True)
def hist16(flat, nb, flip, out):
    """Like :func:`hist8` for 16-bit samples (``flip`` 0x8000 for int16).

    One table of 32-bit counters per band (256 kB: more would not stay in cache), except in
    blocks where from one in five to three in four pixels repeat their neighbour's value
    (:func:`_repeats16`: the smooth parts of a photograph or DEM). Whether a counter was
    just written is then something the CPU guesses wrong often, and a wrong guess stalls
    the pass; those blocks alternate pixels between two counters per value, side by side
    (:func:`_count16_two`), so that neighbours never share one. Long runs of one value
    (a constant area, sorted data) the CPU guesses right, and few repeats rarely matter.
    Bands have loops of their own (2, 3, 4): a band counter per sample costs more than the
    counting.
    """
    n = flat.shape[0]
    f = np.uint64(flip)
    one = np.zeros((nb, 65536), np.uint32)
    two = np.zeros((nb, 0, 2), np.uint32)  # allocated when a block first needs it
    counted = 0
    step = _BLOCK16 * nb  # whole pixels
    start = 0
    while start < n:
        stop = min(n, start + step)
        blk = flat[start:stop]  # indexed from 0, as in hist8
        if nb <= _PAIRED_BANDS16 and _repeats16(blk, nb):
            if two.shape[1] == 0:
                two = np.zeros((nb, 65536, 2), np.uint32)
            _count16_two(blk, nb, f, two)
        else:
            _count16_one(blk, nb, f, one)
        counted += stop - start
        start = stop
        if counted > _FLUSH - step or start >= n:  # before a 32-bit counter could wrap
            for c in range(nb):
                for v in range(65536):
                    out[c, v] += np.int64(one[c, v])
            one[:] = 0
            if two.shape[1]:
                for c in range(nb):
                    for v in range(65536):
                        out[c, v] += np.int64(two[c, v, 0]) + np.int64(two[c, v, 1])
                two[:] = 0
            counted = 0


@njit(nogil=True, cache=True)
def _repeats16(blk, nb):
    """Whether from one in five to three in four of :data:`_PROBE16` pixels of ``blk``, in
    eight windows spread over it, repeat the previous pixel's value, band by band, and not
    almost all at odd or almost all at even pixels (pairs of equal pixels, as a 2x
    nearest-neighbour enlargement makes, follow a pattern the CPU learns). Measured on 12 MP,
    one core, in two tables rather than one: 2 values in random order 1.6x faster, the
    smoothest third of the gallery's uint16 photograph resized 1.4x faster; values without
    repeats 15% slower, runs of 16 30% slower, runs of exactly 2 15% slower."""
    m = blk.shape[0]
    w = (_PROBE16 // 8) * nb
    same = 0
    odd = 0
    looked = 0
    for k in range(8):
        lo = max(nb, ((m // nb) * k // 16) * 2 * nb)
        hi = min(m, lo + w)
        for i in range(lo, hi):
            eq = blk[i] == blk[i - nb]
            same += eq
            odd += eq and (i // nb) % 2 == 1
        looked += max(0, hi - lo)
    even = same - odd
    periodic = 8 * min(odd, even) < max(odd, even)
    return 5 * same >= looked > 0 and 4 * same < 3 * looked and not periodic


@njit(nogil=True, cache=True)
def _count16_one(blk, nb, f, one):
    """Count the keys ``blk ^ f`` into ``one[band, key]``."""
    m = blk.shape[0]
    i = 0
    if nb == 1:
        for i in range(m):
            one[0, np.uint64(blk[i]) ^ f] += 1
        return
    elif nb == 2:
        while i + 2 <= m:
            one[0, np.uint64(blk[i]) ^ f] += 1
            one[1, np.uint64(blk[i + 1]) ^ f] += 1
            i += 2
    elif nb == 4:
        while i + 4 <= m:
            one[0, np.uint64(blk[i]) ^ f] += 1
            one[1, np.uint64(blk[i + 1]) ^ f] += 1
            one[2, np.uint64(blk[i + 2]) ^ f] += 1
            one[3, np.uint64(blk[i + 3]) ^ f] += 1
            i += 4
    elif nb == 3:
        while i + 3 <= m:
            one[0, np.uint64(blk[i]) ^ f] += 1
            one[1, np.uint64(blk[i + 1]) ^ f] += 1
            one[2, np.uint64(blk[i + 2]) ^ f] += 1
            i += 3
    else:
        while i + nb <= m:
            for c in range(nb):
                one[c, np.uint64(blk[i + c]) ^ f] += 1
            i += nb
    c = 0
    while i < m:  # a partial pixel
        one[c, np.uint64(blk[i]) ^ f] += 1
        i += 1
        c += 1


@njit(nogil=True, cache=True)
def _count16_two(blk, nb, f, two):
    """Count the keys ``blk ^ f`` into ``two[band, key, pixel % 2]``."""
    m = blk.shape[0]
    i = 0
    if nb == 1:
        while i + 2 <= m:
            two[0, np.uint64(blk[i]) ^ f, 0] += 1
            two[0, np.uint64(blk[i + 1]) ^ f, 1] += 1
            i += 2
    elif nb == 3:
        while i + 6 <= m:
            two[0, np.uint64(blk[i]) ^ f, 0] += 1
            two[1, np.uint64(blk[i + 1]) ^ f, 0] += 1
            two[2, np.uint64(blk[i + 2]) ^ f, 0] += 1
            two[0, np.uint64(blk[i + 3]) ^ f, 1] += 1
            two[1, np.uint64(blk[i + 4]) ^ f, 1] += 1
            two[2, np.uint64(blk[i + 5]) ^ f, 1] += 1
            i += 6
    else:
        while i + 2 * nb <= m:
            for c in range(nb):
                two[c, np.uint64(blk[i + c]) ^ f, 0] += 1
                two[c, np.uint64(blk[i + nb + c]) ^ f, 1] += 1
            i += 2 * nb
    c = 0
    while i < m:  # the last pixel, or a partial one
        two[c, np.uint64(blk[i]) ^ f, 0] += 1
        i += 1
        c += 1
        if c == nb:
            c = 0


@njit(nogil=True, cache=True)
def hist_small_luma(a, offset, out, luma):
    """Like :func:`hist_small`, and also count Pillow's 8-bit luma of bands 0..2 into ``luma``."""
    npix, nb = a.shape
    for p in range(npix):
        for c in range(nb):
            out[c, np.int64(a[p, c]) + offset] += 1
        y = (
            np.int64(a[p, 0]) * LUMA_R
            + np.int64(a[p, 1]) * LUMA_G
            + np.int64(a[p, 2]) * LUMA_B
            + 0x8000
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
    if nb == 1:  # one band: its table row, minimum, maximum and sums in registers, no branch
        row = hist[0]
        col = raw[:, 0]
        kmn = np.uint64(kmin[0])
        kmx = np.uint64(kmax[0])
        s_hi = np.int64(0)
        s_lo = np.int64(0)
        for p in range(npix):
            k = np.uint64(col[p]) ^ fl
            row[np.int64(k >> sh)] += 1
            kmn = min(kmn, k)
            kmx = max(kmx, k)
            s_hi += np.int64(k >> np.uint64(32))
            s_lo += np.int64(k & low)
        kmin[0] = kmn
        kmax[0] = kmx
        ksum_hi[0] += s_hi
        ksum_lo[0] += s_lo
        return
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


_ONE40 = np.uint64(1 << 40)


@njit(nogil=True, cache=True, inline="always")
def _key32(b):
    """The order-preserving key of a float32's bits, in 32-bit arithmetic (flip the sign bit
    of a positive number, every bit of a negative one): 12% faster than in 64 bits."""
    return np.uint32(b ^ (np.uint32(np.int32(b) >> np.int32(31)) | np.uint32(0x80000000)))


@njit(nogil=True, cache=True)
def scan_float32(bits, nb, hist, lows, kmin, kmax, nan):
    """One pass over float32 samples given as their flat, band-interleaved uint32 bit patterns.

    Counts the top 16 bits of each valid key into ``hist[band]`` and sums the low 16 bits into
    ``lows[band]`` at the same bin: with the bin's sign, exponent and top 7 significand bits,
    that is the bin's exact sum (see :func:`imgstats._blocks.float32_sum`). Both are kept packed
    in one 64-bit word per bin while counting, so each sample costs one increment. NaN is
    skipped and counted in ``nan[band]``; infinities land in bins of their own.
    """
    n = bits.shape[0]
    top = np.uint64(0x80000000)
    ones = np.uint64(0xFFFFFFFF)
    block = (_PACK_BLOCK // nb) * nb
    lo = np.zeros(nb, np.uint64)
    hi = np.zeros(nb, np.uint64)
    for c in range(nb):
        lo[c] = kmin[c]
        hi[c] = kmax[c]
    start = 0
    while start < n:
        stop = min(n, start + block)
        acc = np.zeros((nb, 65536), np.uint64)
        blk = bits[start:stop]  # indexed from 0, as in hist8
        if nb == 1:  # twice as fast as the general loop: no band counter, minimum in registers
            one = acc[0]
            nn = 0
            lo0 = np.uint32(lo[0])
            hi0 = np.uint32(hi[0])
            for i in range(blk.shape[0]):
                b = blk[i]
                if (b & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000):
                    nn += 1
                    continue
                k = _key32(b)
                one[k >> np.uint32(16)] += _ONE40 + np.uint64(k & np.uint32(0xFFFF))
                lo0 = min(lo0, k)
                hi0 = max(hi0, k)
            nan[0] += nn
            lo[0] = lo0
            hi[0] = hi0
        else:
            c = 0
            for i in range(blk.shape[0]):
                b = np.uint64(blk[i])
                if (b & np.uint64(0x7FFFFFFF)) > np.uint64(0x7F800000):
                    nan[c] += 1
                else:
                    k = b ^ (ones if b >= top else top)
                    acc[c, k >> np.uint64(16)] += (np.uint64(1) << np.uint64(40)) + (
                        k & np.uint64(0xFFFF)
                    )
                    lo[c] = min(lo[c], k)
                    hi[c] = max(hi[c], k)
                c += 1
                if c == nb:
                    c = 0
        for c in range(nb):
            for j in range(65536):
                v = acc[c, j]
                if v:
                    hist[c, j] += np.int64(v >> np.uint64(40))
                    lows[c, j] += np.int64(v & np.uint64(0xFFFFFFFFFF))
        start = stop
    for c in range(nb):
        kmin[c] = lo[c]
        kmax[c] = hi[c]


@njit(nogil=True, cache=True)
def scan_float64(bits, nb, acc, kmin, kmax, nan):
    """One pass over float64 samples given as their flat, band-interleaved uint64 bit patterns.

    As :func:`scan_float32` does for float32, each valid key costs one update of the entry of
    its top-16-bit bin: ``acc[band, bin, 0]`` sums the low 48 bits of the keys (wrapping) and
    ``acc[band, bin, 1]`` adds ``2**32`` (the count) plus 1 when that sum wrapped (the carries),
    both in one 16-byte entry. A bin's sign, exponent and top 4 significand bits with these
    give its exact sum (:func:`imgstats._blocks.float64_sum`): no scatter into per-exponent
    sums, and one cache line per sample (12 MP heavy-tailed float64, one core, one loaded
    run: 149 -> 31 ms). Exact below 2**31 samples per call. NaN is skipped and counted in
    ``nan[band]``; infinities land in bins of their own.
    """
    n = bits.shape[0]
    absm = np.uint64(0x7FFFFFFFFFFFFFFF)
    inf = np.uint64(0x7FF0000000000000)
    sign = np.uint64(0x8000000000000000)
    low48 = np.uint64(0xFFFFFFFFFFFF)
    one32 = np.uint64(1) << np.uint64(32)
    lo = np.empty(nb, np.uint64)
    hi = np.empty(nb, np.uint64)
    for c in range(nb):
        lo[c] = kmin[c]
        hi[c] = kmax[c]
    if nb == 1:  # no band counter, minimum in registers
        a0 = acc[0]
        l0 = lo[0]
        h0 = hi[0]
        nn = 0
        for i in range(n):
            b = bits[i]
            if (b & absm) > inf:
                nn += 1
                continue
            k = b ^ ((np.uint64(0) - (b >> np.uint64(63))) | sign)
            j = k >> np.uint64(48)
            x = k & low48
            s = a0[j, 0] + x
            a0[j, 0] = s
            a0[j, 1] += one32 + np.uint64(s < x)
            l0 = min(l0, k)
            h0 = max(h0, k)
        nan[0] += nn
        lo[0] = l0
        hi[0] = h0
    else:
        c = nb - 1
        for i in range(n):
            c += 1
            if c == nb:
                c = 0
            b = bits[i]
            if (b & absm) > inf:
                nan[c] += 1
                continue
            k = b ^ ((np.uint64(0) - (b >> np.uint64(63))) | sign)
            j = k >> np.uint64(48)
            x = k & low48
            s = acc[c, j, 0] + x
            acc[c, j, 0] = s
            acc[c, j, 1] += one32 + np.uint64(s < x)
            lo[c] = min(lo[c], k)
            hi[c] = max(hi[c], k)
    for c in range(nb):
        kmin[c] = lo[c]
        kmax[c] = hi[c]


#: Samples per band whose keys are checked at once, with no branch, before any is looked at.
_SKIP_BLOCK = 256


@njit(nogil=True, cache=True)
def refine_targets(
    flat,
    nb,
    kind,
    width,
    ranges,
    rshift,
    table,
    shifts,
    prefixes,
    bands,
    collect,
    slots,
    offsets,
    counts,
    buf,
    hist,
):
    """One refinement pass of the radix selection, for many bins of many selections at once.

    ``flat`` holds the unsigned bit patterns of the samples, band-interleaved (sample ``i``
    belongs to band ``i % nb``); ``kind`` is 0 for unsigned, 1 for signed integers, 2 for
    floats, and ``width`` is 32 or 64. Every target lies in one of the four ranges of key
    prefixes ``key >> rshift`` in ``ranges[r, 0] .. ranges[r, 0] + ranges[r, 1]`` (an unused
    range starts at 2**63; ``rshift`` is the targets' shift when they share one, so that a
    deep target inside a crowded top-16-bit bin still skips that bin's other keys);
    ``table[band, top]`` flags the bins that some target of the band lies in.
    A key of band ``c`` falls in target ``t`` when ``bands[t, c]`` and
    ``key >> shifts[t] == prefixes[t]``; several targets may take the same key (the image's
    and its band's). There, when ``collect[t]`` the key is stored at
    ``buf[offsets[t] + counts[t]]``; otherwise its next 16 bits are counted into
    ``hist[slots[t]]``. NaN never matches.

    The wanted bins hold a small share of the samples: a first loop over each block of
    :data:`_SKIP_BLOCK` pixels only asks whether any key lies in one of the ranges (no
    branch, so LLVM vectorises it; four ranges, so that p1 and p99 do not make one range of
    almost every key), and a block with none is not looked at again (12 MP
    float64 p99 on one core, one loaded run: 169 -> 15 ms).
    """
    n = flat.shape[0]
    nt = shifts.shape[0]
    mask = np.uint64(0xFFFFFFFF) if width == 32 else np.uint64(0xFFFFFFFFFFFFFFFF)
    sign = np.uint64(1) << np.uint64(width - 1)
    wm1 = np.uint64(width - 1)
    inf = np.uint64(0x7F800000) if width == 32 else np.uint64(0x7FF0000000000000)
    top = np.uint64(width - 16)
    rsh = np.uint64(rshift)
    lo0, sp0 = np.uint64(ranges[0, 0]), np.uint64(ranges[0, 1])
    lo1, sp1 = np.uint64(ranges[1, 0]), np.uint64(ranges[1, 1])
    lo2, sp2 = np.uint64(ranges[2, 0]), np.uint64(ranges[2, 1])
    lo3, sp3 = np.uint64(ranges[3, 0]), np.uint64(ranges[3, 1])
    step = _SKIP_BLOCK * nb
    start = 0
    while start < n:
        stop = min(n, start + step)
        blk = flat[start:stop]  # indexed from 0, as in hist8
        hit = False
        for i in range(blk.shape[0]):
            b = np.uint64(blk[i])
            if kind == 0:
                k = b
            elif kind == 1:
                k = b ^ sign
            else:
                k = b ^ (((np.uint64(0) - (b >> wm1)) & mask) | sign)
            pre = k >> rsh
            hit |= (pre - lo0 <= sp0) | (pre - lo1 <= sp1) | (pre - lo2 <= sp2) | (pre - lo3 <= sp3)
        if hit:
            c = nb - 1
            for i in range(blk.shape[0]):
                c += 1  # the band, without a division per sample
                if c == nb:
                    c = 0
                b = np.uint64(blk[i])
                if kind == 0:
                    k = b
                elif kind == 1:
                    k = b ^ sign
                else:
                    k = b ^ (((np.uint64(0) - (b >> wm1)) & mask) | sign)
                pre = k >> top
                if not table[c, np.int64(pre)]:
                    continue
                if kind == 2 and (b & ~sign) > inf:
                    continue
                for t in range(nt):
                    if bands[t, c] and (k >> shifts[t]) == prefixes[t]:
                        if collect[t]:
                            buf[offsets[t] + counts[t]] = k
                            counts[t] += 1
                        else:
                            sub = shifts[t] - np.uint64(16)
                            hist[slots[t], np.int64((k >> sub) & np.uint64(0xFFFF))] += 1
        start = stop


@njit(nogil=True, cache=True)
def scan_float32_candidates(bits, nb, hist, lows, kmin, kmax, nan, cand, hits, nhits, dense):
    """:func:`scan_float32` that also collects the keys of predicted bins in the same pass.

    ``cand[band, top]`` is the slot of a top-16-bit bin predicted to hold a wanted order
    statistic (``-1`` for the others). A key that falls there is appended to ``hits`` (a store
    to consecutive memory: counting them into a histogram here would cost a cache miss each):
    for one band the key itself, else ``slot << 16 | low 16 bits``; :func:`count_hits` counts
    them afterwards. ``nhits[0]`` counts them all, also beyond ``hits.size - 1``, which then
    means the prediction was too wide (the last element is scratch).

    A key in a candidate bin is a branch the CPU cannot predict; when the candidate bins hold
    a few percent of the samples (a median's do), its mispredictions cost more than the pass.
    ``dense`` (one band only) then stores every key at the end of ``hits`` and moves the end
    on by the bin's candidate bit instead: no branch, one store per sample (measured on a
    12 MP float32 median: 26 -> 22 ms; p99's few hits are faster with the branch).
    """
    cap = hits.shape[0] - 1
    nh = nhits[0]
    flag = np.uint64(1) << np.uint64(63)
    n = bits.shape[0]
    top = np.uint64(0x80000000)
    ones = np.uint64(0xFFFFFFFF)
    block = (_PACK_BLOCK // nb) * nb
    lo = np.zeros(nb, np.uint64)
    hi = np.zeros(nb, np.uint64)
    for c in range(nb):
        lo[c] = kmin[c]
        hi[c] = kmax[c]
    start = 0
    while start < n:
        stop = min(n, start + block)
        acc = np.zeros((nb, 65536), np.uint64)
        for c in range(nb):  # a candidate bin's count word has its top bit set (counts < 2**23)
            for j in range(65536):
                if cand[c, j] >= 0:
                    acc[c, j] = flag
        blk = bits[start:stop]  # indexed from 0, as in hist8
        if nb == 1 and dense:  # no band counter, minimum in registers, no branch per hit
            one = acc[0]
            nn = 0
            lo0 = lo[0]
            hi0 = hi[0]
            for i in range(blk.shape[0]):  # 64-bit keys: 32-bit ones were 15% slower here
                b = np.uint64(blk[i])
                if (b & np.uint64(0x7FFFFFFF)) > np.uint64(0x7F800000):
                    nn += 1
                    continue
                k = b ^ (ones if b >= top else top)
                j = k >> np.uint64(16)
                v = one[j] + _ONE40 + (k & np.uint64(0xFFFF))
                one[j] = v
                lo0 = min(lo0, k)
                hi0 = max(hi0, k)
                hits[nh if nh < cap else cap] = np.uint32(k)
                nh += np.int64(v >> np.uint64(63))
            nan[0] += nn
            lo[0] = lo0
            hi[0] = hi0
        elif nb == 1:  # as in scan_float32: no band counter, minimum in registers
            one = acc[0]
            nn = 0
            lo0 = lo[0]
            hi0 = hi[0]
            for i in range(blk.shape[0]):
                b = np.uint64(blk[i])
                if (b & np.uint64(0x7FFFFFFF)) > np.uint64(0x7F800000):
                    nn += 1
                    continue
                k = b ^ (ones if b >= top else top)
                j = k >> np.uint64(16)
                v = one[j] + _ONE40 + (k & np.uint64(0xFFFF))
                one[j] = v
                lo0 = min(lo0, k)
                hi0 = max(hi0, k)
                if v >= flag:  # no look-up of the table for the other bins' samples
                    if nh < cap:
                        hits[nh] = np.uint32(k)
                    nh += 1
            nan[0] += nn
            lo[0] = lo0
            hi[0] = hi0
        else:
            c = nb - 1
            for i in range(blk.shape[0]):
                c += 1
                if c == nb:
                    c = 0
                b = np.uint64(blk[i])
                if (b & np.uint64(0x7FFFFFFF)) > np.uint64(0x7F800000):
                    nan[c] += 1
                    continue
                k = b ^ (ones if b >= top else top)
                j = k >> np.uint64(16)
                v = acc[c, j] + (np.uint64(1) << np.uint64(40)) + (k & np.uint64(0xFFFF))
                acc[c, j] = v
                lo[c] = min(lo[c], k)
                hi[c] = max(hi[c], k)
                if v >= flag:
                    s = cand[c, j]
                    if nh < cap:
                        hits[nh] = (np.uint32(s) << np.uint32(16)) | np.uint32(k & 0xFFFF)
                    nh += 1
        for c in range(nb):
            for j in range(65536):
                v = acc[c, j] & ~flag
                if v:
                    hist[c, j] += np.int64(v >> np.uint64(40))
                    lows[c, j] += np.int64(v & np.uint64(0xFFFFFFFFFF))
        start = stop
    for c in range(nb):
        kmin[c] = lo[c]
        kmax[c] = hi[c]
    nhits[0] = nh


@njit(nogil=True, cache=True)
def scan_float64_candidates(bits, acc, kmin, kmax, nan, cand, hits, nhits, dense, drop):
    """:func:`scan_float64` of one band that also looks at the keys of predicted bins.

    ``cand[top]`` is true for the top-16-bit bins predicted to hold a wanted order statistic;
    each key that falls there is appended to ``hits`` as ``key >> drop``: whole (``drop`` 0,
    ``hits`` uint64: the bin is collected) or its top 32 bits (``drop`` 32, ``hits`` uint32:
    :func:`count_hits` counts the next 16 bits of the bin's keys, and a second pass then
    collects only the keys of the one sub-bin wanted). ``nhits[0]`` counts them all, also
    beyond ``hits.size - 1``, which then means the prediction was too wide (the last element
    is scratch). A candidate bin's count word carries bit 63 (counts stay below 2**31), so
    no table is looked at per sample. With ``dense`` every key is stored at the end of
    ``hits`` and the end moves on by that bit: no branch the CPU cannot predict when the
    candidate bins hold a few percent of the samples (a DEM's median).
    """
    cap = hits.shape[0] - 1
    nh = nhits[0]
    flag = np.uint64(1) << np.uint64(63)
    sh = np.uint64(drop)
    n = bits.shape[0]
    absm = np.uint64(0x7FFFFFFFFFFFFFFF)
    inf = np.uint64(0x7FF0000000000000)
    sign = np.uint64(0x8000000000000000)
    low48 = np.uint64(0xFFFFFFFFFFFF)
    one32 = np.uint64(1) << np.uint64(32)
    a0 = acc[0]
    for j in range(65536):
        if cand[j]:
            a0[j, 1] |= flag
    l0 = np.uint64(kmin[0])
    h0 = np.uint64(kmax[0])
    nn = 0
    for i in range(n):
        b = bits[i]
        if (b & absm) > inf:
            nn += 1
            continue
        k = b ^ ((np.uint64(0) - (b >> np.uint64(63))) | sign)
        j = k >> np.uint64(48)
        x = k & low48
        s = a0[j, 0] + x
        a0[j, 0] = s
        v = a0[j, 1] + one32 + np.uint64(s < x)
        a0[j, 1] = v
        l0 = min(l0, k)
        h0 = max(h0, k)
        if dense:
            hits[nh if nh < cap else cap] = k >> sh
            nh += np.int64(v >> np.uint64(63))
        elif v >= flag:
            if nh < cap:
                hits[nh] = k >> sh
            nh += 1
    for j in range(65536):
        a0[j, 1] &= ~flag
    nan[0] += nn
    kmin[0] = l0
    kmax[0] = h0
    nhits[0] = nh


@njit(nogil=True, cache=True)
def count_hits(hits, cand0, sub):
    """Count the hits of :func:`scan_float32_candidates` (or the top 32 bits of float64 keys
    that :func:`scan_float64_candidates` kept) into ``sub[slot, low 16 bits]``.

    ``cand0`` is the one band's slot table (``hits`` hold whole keys); empty when ``hits``
    hold ``slot << 16 | low`` already (several bands).
    """
    if cand0.shape[0]:
        for i in range(hits.shape[0]):
            h = hits[i]
            sub[cand0[h >> np.uint32(16)], h & np.uint32(0xFFFF)] += 1
    else:
        for i in range(hits.shape[0]):
            h = hits[i]
            sub[h >> np.uint32(16), h & np.uint32(0xFFFF)] += 1


@njit(nogil=True, cache=True)
def hist8_px4(flat, nb, out, luma, count_luma):
    """Count 4-byte pixels (Pillow's RGBX or RGBA memory) per band into ``out[band, value]``.

    ``flat`` holds whole pixels of 4 bytes; the first ``nb`` bytes (3 for RGBX, whose 4th is
    padding, 4 for RGBA) are counted. With ``count_luma``, Pillow's 8-bit "L" of bytes 0..2
    is counted into ``luma`` in the same pass. Consecutive pixels alternate between two
    sub-histograms, as in :func:`hist8`.
    """
    n = flat.shape[0] // 4
    start = 0
    while start < n:
        stop = min(n, start + _FLUSH)
        sub = np.zeros((2, 4, 256), np.uint32)
        lsub = np.zeros((2, 256), np.uint32)
        blk = flat[4 * start : 4 * stop]  # indexed from 0, as in hist8
        m = blk.shape[0]
        i = 0
        if count_luma:
            while i + 8 <= m:
                r0 = np.int64(blk[i])
                g0 = np.int64(blk[i + 1])
                b0 = np.int64(blk[i + 2])
                r1 = np.int64(blk[i + 4])
                g1 = np.int64(blk[i + 5])
                b1 = np.int64(blk[i + 6])
                sub[0, 0, r0] += 1
                sub[0, 1, g0] += 1
                sub[0, 2, b0] += 1
                sub[1, 0, r1] += 1
                sub[1, 1, g1] += 1
                sub[1, 2, b1] += 1
                lsub[0, (r0 * LUMA_R + g0 * LUMA_G + b0 * LUMA_B + 0x8000) >> 16] += 1
                lsub[1, (r1 * LUMA_R + g1 * LUMA_G + b1 * LUMA_B + 0x8000) >> 16] += 1
                if nb == 4:
                    sub[0, 3, np.int64(blk[i + 3])] += 1
                    sub[1, 3, np.int64(blk[i + 7])] += 1
                i += 8
        elif nb == 3:
            while i + 8 <= m:
                sub[0, 0, np.int64(blk[i])] += 1
                sub[0, 1, np.int64(blk[i + 1])] += 1
                sub[0, 2, np.int64(blk[i + 2])] += 1
                sub[1, 0, np.int64(blk[i + 4])] += 1
                sub[1, 1, np.int64(blk[i + 5])] += 1
                sub[1, 2, np.int64(blk[i + 6])] += 1
                i += 8
        else:
            while i + 8 <= m:
                sub[0, 0, np.int64(blk[i])] += 1
                sub[0, 1, np.int64(blk[i + 1])] += 1
                sub[0, 2, np.int64(blk[i + 2])] += 1
                sub[0, 3, np.int64(blk[i + 3])] += 1
                sub[1, 0, np.int64(blk[i + 4])] += 1
                sub[1, 1, np.int64(blk[i + 5])] += 1
                sub[1, 2, np.int64(blk[i + 6])] += 1
                sub[1, 3, np.int64(blk[i + 7])] += 1
                i += 8
        while i + 4 <= m:  # the last odd pixel
            r = np.int64(blk[i])
            g = np.int64(blk[i + 1])
            b = np.int64(blk[i + 2])
            sub[0, 0, r] += 1
            sub[0, 1, g] += 1
            sub[0, 2, b] += 1
            if nb == 4:
                sub[0, 3, np.int64(blk[i + 3])] += 1
            if count_luma:
                lsub[0, (r * LUMA_R + g * LUMA_G + b * LUMA_B + 0x8000) >> 16] += 1
            i += 4
        for s in range(2):
            for c in range(nb):
                for v in range(256):
                    out[c, v] += sub[s, c, v]
            for v in range(256):
                luma[v] += lsub[s, v]
        start = stop


@njit(nogil=True, cache=True)
def sort_low_bits(keys, bits):
    """Sort ``keys`` in place, keys that differ only in their low ``bits`` bits (one bin's).

    An LSD radix sort by bytes, skipping a byte that every key shares: the collected keys
    of a refined bin share their prefix, so a 64-bit bin's need at most 6 passes of a
    256-bucket scatter (600 000 keys of a float64 DEM's median bin: several times faster
    than ``numpy.sort``, which has no SIMD sort for them here).
    """
    n = keys.shape[0]
    tmp = np.empty_like(keys)
    src = keys
    dst = tmp
    swapped = False
    count = np.zeros(256, np.int64)
    for shift in range(0, bits, 8):
        sh = np.uint64(shift)
        count[:] = 0
        for i in range(n):
            count[np.int64((src[i] >> sh) & np.uint64(255))] += 1
        if count.max() == n:  # one value of this byte: the order stands
            continue
        total = 0
        for d in range(256):
            c = count[d]
            count[d] = total
            total += c
        for i in range(n):
            v = src[i]
            d = np.int64((v >> sh) & np.uint64(255))
            dst[count[d]] = v
            count[d] += 1
        src, dst = dst, src
        swapped = not swapped
    if swapped:
        keys[:] = tmp
