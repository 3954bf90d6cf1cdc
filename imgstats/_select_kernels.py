"""The kernel of the predicted-range select of in-memory arrays (see
:mod:`imgstats._range_select`).

One pass over a stripe of float or integer samples, as their bits, without any histogram:
per band, the NaN count, the smallest and largest order-preserving key, for each predicted
key interval the count of keys below it, and the keys that fall inside an interval. Each
block of samples is read twice while it sits in L1: first a loop the compiler vectorizes (8
float32 keys per instruction) counts and writes a byte per sample, its interval (0: none);
then the few keys inside an interval are appended, 8 flags tested at once as one uint64, so
that most samples cost no scalar work at all. Measured on a 12 MP float32 (one core, the
kernel alone): a scalar append loop over every key cost 11.5 ms for a median's 2% of kept
keys and 9.8 ms for a p99's 0.4%; the flags, 7.7 and 4.2 ms (``a.sum()``: 1.9 ms). numba
computes on narrower integers in 64 bits, which halves the lanes of 32-bit samples: the
counting loops cast every step back to the samples' width (``cast``: 1.4 ms faster on that
12 MP array for the first interval, 1.6 ms for each further one). A band without an interval
(min, max or count only) takes a loop without flags (:func:`_extremes`).
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import VECTOR_COMPRESS, compress_bins, leading_zeros, njit, trailing_zeros

#: Pixels per block: the block's keys stay in L1 for the three loops over it.
_BLOCK = 1 << 11
#: Pixels per chunk (a whole number of blocks): ``parts`` scans of one array take turns at
#: its chunks (see :func:`select_stripe`).
CHUNK = 1 << 16


@njit(nogil=True, cache=True)
def select_stripe(bits, nb, limits, counts, shifts, sub, part, parts):
    """Scan one stripe of band-interleaved bit patterns (``uint32`` or ``uint64``) of float
    or integer samples: the chunks ``part``, ``part + parts``, ... of :data:`CHUNK` pixels
    (every chunk when ``parts`` is 1).

    ``parts`` scans of one image on as many threads each take every ``parts``-th chunk, not
    a band of rows: the work a pixel costs (its kept keys, its NaN) follows the picture, and
    the halves of a 12 MP DEM cost two threads 2.43 and 2.25 ms (float32 p99), the thread
    with the costlier half finishing last.

    Parameters
    ----------
    bits : 1-D uint32 or uint64 array
        The samples' bit patterns, ``nb`` bands interleaved (a C-contiguous ``(pixels, nb)``).
    nb : int
    limits : tuple
        ``(top, ones, inf, ninf, neg, pos, los, widths, ms)``, described below; read only.
    counts : tuple
        ``(nan, kmin, kmax, below, eq, kept, out, which, sums)``, described below;
        updated.
    top, ones, inf, ninf, neg, pos : scalars of the type of ``bits``
        The sign bit, every bit, the largest valid ``bits & ~top`` (a float NaN's lies above
        it: the bits of +inf; ``ones`` for integers, which have no NaN), the smallest valid
        key (that of -inf; 0 for integers), and what a sample's bits are xor-ed with to make
        its order-preserving key: ``neg`` when the top bit is set, else ``pos`` (floats:
        ``ones`` and ``top``; signed integers: ``top`` and ``top``; unsigned: 0 and 0).
    los, widths : (nb, m) arrays of the type of ``bits``
        Each band's key intervals ``[lo, lo + width]`` (sorted, disjoint, at most 255); only
        the first ``ms[band]`` of a row are used.
    ms : (nb,) int64
    nan : (nb,) int64
        Updated: the NaN count.
    kmin, kmax : (nb,) arrays of the type of ``bits``
        Updated: the smallest and largest key of the valid samples.
    below : (nb, m) int64
        Updated: the valid keys below each interval.
    eq : (nb, m, 2) int64
        Updated: the keys equal to each interval's ``lo`` and (when not ``lo``) its ``hi``,
        counted, not kept: a run of equal values at a bound (the zeros of an image) costs no
        memory.
    kept : (nb,) int64
        Updated: the keys strictly inside an interval, also beyond ``out.shape[1]`` (then
        the caller falls back: the extra ones are not stored).
    out : (nb, cap) array of the type of ``bits``
        The kept keys of each band, in the order met.
    which : (nb, cap) uint8
        The interval of each kept key.
    sums : (nb, 2), (nb, FLOAT32_SLOTS), (nb, FLOAT64_SLOTS) or (0, 2) int64
        Updated when not empty: an integer band's sum of the low 32 bits of its keys, and of
        their high 32 bits (two columns); a float band's exact sum of its finite samples, per
        bit position (:func:`_sum_float32`, :func:`_sum_float64`).
    shifts : (nb, m) array of the type of ``bits``
        A kept key ``k`` of interval ``j`` falls in sub-bin ``(k - lo) >> shifts[band, j]``.
    sub : (nb, m, nsub) int64
        Updated: the kept keys per sub-bin (``(width - 1) >> shift`` must be below ``nsub``).
    part, parts : int
        Which chunks to scan (``0`` and ``1``: all).
    """
    n = bits.shape[0] // nb
    flags = np.zeros(_BLOCK, np.uint8)  # per sample of a block: its interval + 1, or 0
    words = flags.view(np.uint64)
    for chunk in range(part * CHUNK, n, parts * CHUNK):
        for start in range(chunk, min(n, chunk + CHUNK), _BLOCK):
            stop = min(n, start + _BLOCK)
            for c in range(nb):
                # one call per layout: a variable of both would be typed as strided
                if nb == 1:  # contiguous: the counting loops vectorize
                    _column_of(bits[start:stop], c, limits, counts, shifts, sub, flags, words)
                else:
                    band = bits[start * nb + c : stop * nb : nb]
                    _column_of(band, c, limits, counts, shifts, sub, flags, words)


@njit(nogil=True, cache=True, inline="always")
def _column_of(col, c, limits, counts, shifts, sub, flags, words):
    """:func:`_column` with the lanes of the samples' width: numba computes on narrower
    integers in 64 bits, which would take a quarter of the lanes for 16-bit samples.
    Inlined: a call per block that passes the argument tuples on cost 10% of the scan."""
    if col.itemsize == 2:
        _column(col, c, np.uint16, limits, counts, shifts, sub, flags, words)
    elif col.itemsize == 4:
        _column(col, c, np.uint32, limits, counts, shifts, sub, flags, words)
    else:
        _column(col, c, np.uint64, limits, counts, shifts, sub, flags, words)


@njit(nogil=True, cache=True)
def _column(col, c, cast, limits, counts, shifts, sub, flags, words):
    """Count, then keep, one block of one band (the arguments of :func:`select_stripe`;
    ``cast`` the unsigned type of the samples' width, every step of the counting loops is
    cast back to)."""
    top, ones, inf, ninf, neg, pos, los, widths, ms = limits
    nan, kmin, kmax, below, eq, kept, out, which, sums = counts
    if sums.shape[0]:
        if sums.shape[1] == 2:
            _sum_keys(col, c, top, neg, pos, sums)
        elif col.itemsize == 4:
            _sum_float32(col, c, sums)
        else:
            _sum_float64(col, c, sums)
    if ms[c] == 0:  # min, max or count only: nothing to flag, nothing to keep
        _extremes(col, c, cast, top, ones, inf, neg, pos, nan, kmin, kmax)
        return
    # the first interval is counted in the loop that finds the NaN, min and max (a second
    # loop over the block cost float64 a quarter of its scan: 13.4 -> 9.9 ms for a 12 MP
    # median); each further interval takes a loop of its own
    _count(col, c, cast, top, ones, inf, ninf, neg, pos, los, widths, nan, kmin, kmax, below, flags)
    for j in range(1, ms[c]):
        _more(col, c, j, cast, top, ninf, neg, pos, los, widths, below, flags)
    _append(
        col, c, top, ones, neg, pos, los, widths, eq, kept, out, which, shifts, sub, flags, words
    )


@njit(nogil=True, cache=True)
def _sum_keys(col, c, top, neg, pos, sums):
    """Add the low and the high 32 bits of one block's keys to ``sums[c]``: a block's words
    stay below 2**43, and a band's below 2**63 up to 2**31 samples."""
    low = np.uint64(0xFFFFFFFF)
    half = np.uint64(32)
    lo = np.uint64(0)
    hi = np.uint64(0)
    for i in range(col.shape[0]):  # vectorized
        b = col[i]
        k = np.uint64(b ^ (neg if b >= top else pos))
        lo += k & low
        hi += k >> half
    sums[c, 0] += np.int64(lo)
    sums[c, 1] += np.int64(hi)


#: Bits a block's sum leaves in its low word of a float sum table (see :func:`_sum_float32`).
_LOW = 30
#: Slots of a band's float sum table: a bit position per slot, up to the highest one a
#: float32 (or float64) block's high word reaches.
FLOAT32_SLOTS = 256 + 32
FLOAT64_SLOTS = 2048 + 64


@njit(nogil=True, cache=True, inline="always")
def _add_block(sums, c, at, acc):
    """Add a block's sum ``acc`` (int64), in units of bit position ``at``, to the table: its
    low :data:`_LOW` bits at ``at``, the rest at ``at + _LOW``. A slot then grows by less
    than 2**30 a block, plus 2**22 a sample of the block, plus 2**27 a sample added one by
    one: below 2**62 up to MAX_SUMMED samples a band (all stripes), even in blocks of one."""
    sums[c, at] += acc & np.int64((1 << _LOW) - 1)
    sums[c, at + _LOW] += acc >> np.int64(_LOW)


@njit(nogil=True, cache=True)
def _sum_float32(col, c, sums):
    """Add one block of float32 bits to band ``c``'s exact sum table: slot ``p`` counts units
    of ``2**(p - 149)``; a sample of biased exponent ``E`` (not 255: NaN and infinities are
    left out) is its signed significand (implicit bit included) at slot ``max(E, 1) - 1``.

    No table add per sample: a first loop finds the block's largest and smallest exponent (of
    its non-zero finite samples), a second sums every significand shifted to the lowest
    exponent in one int64 when they lie within 28 binades (2048 samples of 24 bits shifted by
    up to 28 stay below 2**63); both vectorize. A wider block sums those within 28 binades of
    its largest so, and adds the smaller ones one by one."""
    cast = np.uint32
    emax = cast(1)
    emin = cast(0xFF)
    for i in range(col.shape[0]):  # vectorized
        b = cast(col[i])
        e = cast(b >> cast(23))
        e = e & cast(0xFF)
        finite = e != cast(0xFF)
        emax = max(emax, e if finite else cast(0))
        t = max(e, cast(1))
        emin = min(emin, t if finite and cast(b & cast(0x7FFFFFFF)) != cast(0) else cast(0xFF))
    base = max(np.int64(emax) - 28, np.int64(1))
    if np.int64(emin) < base:
        _sum_float32_wide(col, c, sums, base)
        return
    # the signed significand and its shift in 32-bit lanes (twice as many), the shifted
    # one in 64-bit lanes: both loops over a 12 MP float32 took 8.7, now 4.5 ms (one core)
    acc = np.int64(0)
    low = cast(base)
    for i in range(col.shape[0]):  # vectorized
        b = cast(col[i])
        e = cast(b >> cast(23)) & cast(0xFF)
        finite = e != cast(0xFF)
        sig = cast(b & cast(0x7FFFFF)) | (cast(0x800000) if e != cast(0) else cast(0))
        sig = sig if finite else cast(0)
        s = cast(max(e, cast(1)) - low) if sig != cast(0) else cast(0)  # a zero's: 0
        signed = -np.int32(sig) if b >= cast(0x80000000) else np.int32(sig)
        acc += np.int64(signed) << np.int64(s)
    _add_block(sums, c, base - 1, acc)


@njit(nogil=True, cache=True)
def _sum_float32_wide(col, c, sums, base):
    """:func:`_sum_float32` of a block whose samples span more than 28 binades: those from
    exponent ``base`` summed shifted as there, the smaller ones added one by one."""
    acc = np.int64(0)
    few = 0
    for i in range(col.shape[0]):  # vectorized
        b = np.uint32(col[i])
        e = np.int64(b >> np.uint32(23)) & np.int64(0xFF)
        sig = np.int64(b & np.uint32(0x7FFFFF)) | (np.int64(1 << 23) if e > 0 else np.int64(0))
        s = max(e, np.int64(1)) - base
        ok = (s >= 0) & (e != 0xFF)
        v = sig << (s if ok else np.int64(0)) if ok else np.int64(0)
        acc += -v if b >= np.uint32(0x80000000) else v
        few += (not ok) & (sig != 0) & (e != 0xFF)
    _add_block(sums, c, base - 1, acc)
    for i in range(col.shape[0] if few else 0):
        b = np.uint32(col[i])
        e = np.int64(b >> np.uint32(23)) & np.int64(0xFF)
        sig = np.int64(b & np.uint32(0x7FFFFF)) | (np.int64(1 << 23) if e > 0 else 0)
        if max(e, 1) < base and sig != 0:
            sums[c, max(e, 1) - 1] += -sig if b >= np.uint32(0x80000000) else sig


@njit(nogil=True, cache=True)
def _sum_float64(col, c, sums):
    """:func:`_sum_float32` for float64 bits: slot ``p`` counts units of ``2**(p - 1074)``,
    the exponent 2047 is left out, and each 53-bit significand is summed as two parts, its
    top 27 bits (at 26 slots up) and its low 26, within 25 binades (2048 parts of 27 bits
    shifted by up to 25 stay below 2**63)."""
    cast = np.uint64
    emax = cast(1)
    emin = cast(0x7FF)
    for i in range(col.shape[0]):  # vectorized
        b = cast(col[i])
        e = (b >> cast(52)) & cast(0x7FF)
        finite = e != cast(0x7FF)
        emax = max(emax, e if finite else cast(0))
        t = max(e, cast(1))
        emin = min(emin, t if finite and (b << cast(1)) != cast(0) else cast(0x7FF))
    base = max(np.int64(emax) - 25, np.int64(1))
    if np.int64(emin) < base:
        _sum_float64_wide(col, c, sums, base)
        return
    # the significand signed first, then split: floor(sig / 2**26) (from -2**27) and the
    # rest (from 0): a block's top parts sum to at least -2**63, below 2**63
    hi = np.int64(0)
    lo = np.int64(0)
    low26 = np.int64((1 << 26) - 1)
    for i in range(col.shape[0]):  # vectorized
        b = col[i]
        e = np.int64(b >> np.uint64(52)) & np.int64(0x7FF)
        finite = e != 0x7FF
        sig = np.int64(b & np.uint64(0xFFFFFFFFFFFFF)) | (
            np.int64(1 << 52) if e > 0 else np.int64(0)
        )
        sig = sig if finite else np.int64(0)
        s = max(e, np.int64(1)) - base if sig != 0 else np.int64(0)  # a zero's: 0
        sig = -sig if b >= np.uint64(0x8000000000000000) else sig
        hi += (sig >> np.int64(26)) << s
        lo += (sig & low26) << s
    _add_block(sums, c, base - 1, lo)
    _add_block(sums, c, base - 1 + 26, hi)


@njit(nogil=True, cache=True)
def _sum_float64_wide(col, c, sums, base):
    """:func:`_sum_float64` of a block whose samples span more than 25 binades (see
    :func:`_sum_float32_wide`)."""
    hi = np.int64(0)
    lo = np.int64(0)
    few = 0
    low26 = np.int64((1 << 26) - 1)
    for i in range(col.shape[0]):  # vectorized
        b = np.uint64(col[i])
        e = np.int64(b >> np.uint64(52)) & np.int64(0x7FF)
        sig = np.int64(b & np.uint64(0xFFFFFFFFFFFFF)) | (
            np.int64(1 << 52) if e > 0 else np.int64(0)
        )
        s = max(e, np.int64(1)) - base
        ok = (s >= 0) & (e != 0x7FF)
        sh = s if ok else np.int64(0)
        a = (sig >> np.int64(26)) << sh if ok else np.int64(0)
        z = (sig & low26) << sh if ok else np.int64(0)
        neg = b >= np.uint64(0x8000000000000000)
        hi += -a if neg else a
        lo += -z if neg else z
        few += (not ok) & (sig != 0) & (e != 0x7FF)
    _add_block(sums, c, base - 1, lo)
    _add_block(sums, c, base - 1 + 26, hi)
    for i in range(col.shape[0] if few else 0):
        b = np.uint64(col[i])
        e = np.int64(b >> np.uint64(52)) & np.int64(0x7FF)
        sig = np.int64(b & np.uint64(0xFFFFFFFFFFFFF)) | (np.int64(1 << 52) if e > 0 else 0)
        if max(e, 1) < base and sig != 0:
            p = max(e, 1) - 1
            neg = b >= np.uint64(0x8000000000000000)
            a = sig >> np.int64(26)
            z = sig & low26
            sums[c, p] += -z if neg else z
            sums[c, p + 26] += -a if neg else a


@njit(nogil=True, cache=True, inline="always")
def _cast_all(cast, top, ones, inf, neg, pos):
    """The key constants in the samples' width, with the magnitude mask and a zero."""
    top, ones = cast(top), cast(ones)
    return top, ones, cast(inf), cast(neg), cast(pos), cast(ones ^ top), cast(0)


@njit(nogil=True, cache=True)
def _extremes(col, c, cast, top, ones, inf, neg, pos, nan, kmin, kmax):
    """The NaN count, smallest and largest key of one block of a band without an interval
    (``min``, ``max`` or ``count`` only). The stripe of a 12 MP array took 10.8 (float32)
    and 11.3 ms (float64) in :func:`_count`'s loop with a dummy interval and
    :func:`_append`; 2.5 and 3.9 ms in this one (one core; ``a.sum()``: 1.9 and 2.7 ms)."""
    top, ones, inf, neg, pos, absmask, zero = _cast_all(cast, top, ones, inf, neg, pos)
    nn = 0
    kmn = cast(kmin[c])
    kmx = cast(kmax[c])
    for i in range(col.shape[0]):  # vectorized
        b = col[i]
        isn = cast(b & absmask) > inf
        nn += isn
        k = cast(b ^ (neg if b >= top else pos))
        kmn = min(kmn, ones if isn else k)
        kmx = max(kmx, zero if isn else k)
    nan[c] += nn
    kmin[c] = kmn
    kmax[c] = kmx


@njit(nogil=True, cache=True)
def _count(
    col, c, cast, top, ones, inf, ninf, neg, pos, los, widths, nan, kmin, kmax, below, flags
):
    """Count one block of one band (NaN, min, max, keys below the first interval) and flag
    each sample inside that interval with 1 (0: none)."""
    top, ones, inf, neg, pos, absmask, zero = _cast_all(cast, top, ones, inf, neg, pos)
    ninf = cast(ninf)
    lo = cast(los[c, 0])
    width = cast(widths[c, 0])
    # valid keys lie in [ninf, key of +inf]; a NaN's key is outside, and k - ninf then wraps
    # (below -inf's) or is above every interval (above +inf's): never counted, never kept.
    rel = cast(lo - ninf)
    nn = 0
    cnt = 0
    kmn = cast(kmin[c])
    kmx = cast(kmax[c])
    m = col.shape[0]
    for i in range(m):  # vectorized
        b = col[i]
        isn = cast(b & absmask) > inf
        nn += isn
        k = cast(b ^ (neg if b >= top else pos))
        kmn = min(kmn, ones if isn else k)
        kmx = max(kmx, zero if isn else k)
        cnt += cast(k - ninf) < rel
        flags[i] = cast(k - lo) <= width
    for i in range(m, flags.shape[0]):  # a short last block
        flags[i] = 0
    nan[c] += nn
    kmin[c] = kmn
    kmax[c] = kmx
    below[c, 0] += cnt


@njit(nogil=True, cache=True)
def _more(col, c, j, cast, top, ninf, neg, pos, los, widths, below, flags):
    """Count the keys below interval ``j`` (from 1) of one block and tag those inside it
    with ``j + 1``. The intervals are disjoint, so a tag is or-ed in. A loop per further
    interval cost a 12 MP float32 3.3 ms in 64-bit lanes, 1.7 ms in 32-bit ones (one core)."""
    top = cast(top)
    ninf = cast(ninf)
    neg = cast(neg)
    pos = cast(pos)
    lo = cast(los[c, j])
    width = cast(widths[c, j])
    rel = cast(lo - ninf)
    tag = np.uint8(j + 1)
    none = np.uint8(0)
    cnt = 0
    for i in range(col.shape[0]):  # vectorized
        b = col[i]
        k = cast(b ^ (neg if b >= top else pos))
        cnt += cast(k - ninf) < rel
        flags[i] |= tag if cast(k - lo) <= width else none
    below[c, j] += cnt


@njit(nogil=True, cache=True)
def _append(
    col, c, top, ones, neg, pos, los, widths, eq, kept, out, which, shifts, sub, flags, words
):
    """Keep the flagged keys of one block (strictly inside their interval; those equal to a
    bound are counted) and count them per sub-bin: eight flags tested at once, most hold
    none, and the set ones of a word visited by their bits. A branch per flag cost about one
    mispredicted branch per kept key: a 12 MP float32 median 10.8 -> 8.8 ms, float64 13.6 ->
    11.5 ms (one core, the whole call)."""
    nk = kept[c]
    cap = out.shape[1]
    m = col.shape[0]
    low7 = np.uint64(0x7F7F7F7F7F7F7F7F)
    high = np.uint64(0x8080808080808080)
    one = np.uint64(1)
    three = np.uint64(3)
    for r in range((m + 7) // 8):
        w = words[r]
        if w == 0:
            continue
        # the high bit of each byte whose flag is set, then those bits one by one: no
        # branch per sample (a branch per flag mispredicts about once per kept key)
        nz = (((w & low7) + low7) | w) & high
        base = 8 * r
        while nz:
            i = base + np.int64(trailing_zeros(nz) >> three)
            nz &= nz - one
            f = flags[i]
            b = col[i]
            k = (b ^ (neg if b >= top else pos)) & ones
            j = f - 1
            lo = los[c, j]
            if k == lo:
                eq[c, j, 0] += 1
            elif k == ((lo + widths[c, j]) & ones):
                eq[c, j, 1] += 1
            else:
                if nk < cap:
                    out[c, nk] = k
                    which[c, nk] = j
                nk += 1
                sub[c, j, (k - lo) >> shifts[c, j]] += 1
    kept[c] = nk


@njit(nogil=True, cache=True)
def sample_keys(bits, nb, start, stride, bands, top, ones, inf, neg, pos, out):
    """Write the keys of the valid samples of ``bands`` of every ``stride``-th pixel of
    ``bits`` (``nb`` bands interleaved) from pixel ``start`` to ``out``; return how many."""
    absmask = ones ^ top
    n = 0
    for p in range(start, bits.shape[0] // nb, stride):
        for c in bands:
            b = bits[p * nb + c]
            if (b & absmask) > inf:
                continue
            out[n] = b ^ (neg if b >= top else pos)
            n += 1
    return n


@njit(nogil=True, cache=True)
def look_intervals(bits, nb, start, stride, bands, consts, qs, sigmas, whole, most, keys, out):
    """One look: the keys of the valid samples of ``bands`` of every ``stride``-th pixel from
    pixel ``start`` (:func:`sample_keys` into ``keys``), then per quantile ``qs[i]`` the key
    interval ``out[i] = (lo, hi)`` predicted to hold it, as
    :func:`imgstats._range_select._intervals` predicts it: ``sigmas`` standard deviations
    of the sample's binomial rank on either side (``whole``: the sample is every sample,
    2 ranks), an interval that reaches an end of the sample open up to the smallest or
    largest valid key (``consts``: ``(top, ones, inf, neg, pos, ninf, pinf)``).

    Returns the sampled keys' count (below 2: nothing to predict from), or -1 when the
    intervals would hold more than ``most`` of the samples. One kernel call per look, not
    a dozen numpy and Python steps: the looks run at once on every core, and their Python
    would take turns on the GIL.
    """
    top, ones, inf, neg, pos, ninf, pinf = consts
    m = sample_keys(bits, nb, start, stride, bands, top, ones, inf, neg, pos, keys)
    if m < 2:
        return m
    nq = qs.shape[0]
    ranks = np.empty(2 * nq, np.int64)
    share = 0.0
    for i in range(nq):
        p = qs[i]
        r = p * (m - 1)
        half = 2.0 if whole else sigmas * math.sqrt(m * p * (1 - p)) + 2
        a = np.int64(math.floor(r - half))
        b = np.int64(math.ceil(r + half))
        ranks[2 * i] = a
        ranks[2 * i + 1] = b
        share += (min(b, m - 1) - max(a, 0) + 1) / m
    if share > most:
        return -1
    inside = np.unique(ranks[(ranks > 0) & (ranks < m - 1)])
    found = np.empty(inside.shape[0], keys.dtype)
    if inside.shape[0]:
        select_keys(keys[:m], inside, found)
    for i in range(nq):
        a = ranks[2 * i]
        b = ranks[2 * i + 1]
        out[i, 0] = ninf if a <= 0 else found[np.searchsorted(inside, a)]
        out[i, 1] = pinf if b >= m - 1 else found[np.searchsorted(inside, b)]
    return m


@njit(nogil=True, cache=True)
def group_kept(keys, which, out, starts):
    """Copy the kept ``keys`` of a band to ``out`` grouped by their interval ``which``, in
    the order met: interval ``j``'s are ``out[starts[j]:starts[j + 1]]`` (``starts`` zeroed,
    one longer than the intervals). A boolean filter of every kept key per interval cost
    the nine deciles of a 12 MP float32 about 18 ms, as did finding each key's interval
    (a binary search whose branches mispredict)."""
    n = keys.shape[0]
    m = starts.shape[0] - 1
    for i in range(n):
        starts[which[i] + 1] += 1
    for j in range(m):
        starts[j + 1] += starts[j]
    at = starts[:m].copy()
    for i in range(n):
        j = which[i]
        out[at[j]] = keys[i]
        at[j] += 1


#: Bits of a key that each level of :func:`select_keys` counts in its histogram.
_DIGIT = 11
#: Candidates from which :func:`select_keys` sorts instead of counting another level.
_FEW = 32


@njit(nogil=True, cache=True)
def select_keys(keys, ranks, out):
    """``out[j]`` = the key of rank ``ranks[j]`` (sorted, from 0) among ``keys`` (unsigned,
    any order, left as they are): the order statistics of a look, for its intervals.

    A radix select: one histogram of the top :data:`_DIGIT` bits of ``key - min`` places every
    rank in its bin; one pass copies the keys of the wanted bins, branch-free; each rank is
    then selected among its bin's keys, a level at a time. ``numpy.partition`` of a look of
    65,536 keys at two ranks took 0.45 ms, which a look repeats on every call.
    """
    n = keys.size
    nbins = 1 << _DIGIT
    lo, _, shift = _digit_of(keys, n)
    hist = np.zeros(nbins, np.int64)
    for i in range(n):
        hist[np.int64(np.uint64(keys[i] - lo) >> shift)] += 1
    nr = ranks.size
    bins = np.empty(nr, np.int64)
    within = np.empty(nr, np.int64)
    below = 0
    d = 0
    for j in range(nr):  # the ranks are sorted: one walk
        while ranks[j] >= below + hist[d]:
            below += hist[d]
            d += 1
        bins[j] = d
        within[j] = ranks[j] - below
    # each wanted bin gets a segment of buf, every other key goes to a last, unmoving cell
    slot = np.full(nbins, -1, np.int64)
    start = np.zeros(nr + 2, np.int64)
    used = 0
    for j in range(nr):
        if slot[bins[j]] < 0:
            slot[bins[j]] = used
            start[used + 1] = start[used] + hist[bins[j]]
            used += 1
    trash = start[used]
    for d in range(nbins):
        if slot[d] < 0:
            slot[d] = used
    pos = start.copy()
    pos[used] = trash
    buf = np.empty(trash + 1, keys.dtype)
    for i in range(n):
        k = keys[i]
        s = slot[np.int64(np.uint64(k - lo) >> shift)]
        buf[pos[s]] = k
        pos[s] += s != used
    widest = 0
    for s in range(used):
        widest = max(widest, start[s + 1] - start[s])
    part = np.empty(widest, keys.dtype)
    scratch = np.empty(widest, keys.dtype)
    for j in range(nr):  # a bin's keys are copied: another rank may be in the same bin
        s = slot[bins[j]]
        a = start[s]
        m = start[s + 1] - a
        part[:m] = buf[a : a + m]
        out[j] = _select_one(part[:m], within[j], scratch[:m])


@njit(nogil=True, cache=True)
def _digit_of(keys, n):
    """The smallest and largest of ``keys[:n]`` and the shift that maps ``key - smallest``
    to one of ``2 ** _DIGIT`` bins."""
    lo = keys[0]
    hi = keys[0]
    for i in range(n):  # vectorized
        lo = min(lo, keys[i])
        hi = max(hi, keys[i])
    bits = np.int64(64) - np.int64(leading_zeros(np.uint64(hi - lo)))
    return lo, hi, np.uint64(max(0, bits - _DIGIT))


@njit(nogil=True, cache=True)
def _select_one(keys, r, scratch):
    """The key of rank ``r`` among ``keys`` (reordered), ``scratch`` at least as long: a
    histogram level at a time, then an insertion sort of the last few."""
    a = keys
    b = scratch
    n = keys.size
    hist = np.zeros(1 << _DIGIT, np.int64)
    while n > _FEW:
        lo, hi, shift = _digit_of(a, n)
        if lo == hi:
            return lo
        hist[:] = 0
        for i in range(n):
            hist[np.int64(np.uint64(a[i] - lo) >> shift)] += 1
        d = 0
        while r >= hist[d]:
            r -= hist[d]
            d += 1
        m = 0
        for i in range(n):  # the keys of bin d, branch-free
            k = a[i]
            b[m] = k
            m += np.int64(np.uint64(k - lo) >> shift) == d
        a, b = b, a
        n = m
        if shift == 0:  # one value per bin: every key left is the one
            return a[0]
    for i in range(1, n):
        v = a[i]
        j = i - 1
        while j >= 0 and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v
    return a[r]


@njit(nogil=True, cache=True)
def subbin_keys(keys, lo, shift, s, out, m):
    """Copy the ``keys`` of sub-bin ``s`` (``(k - lo) >> shift == s``; every key above
    ``lo``; ``lo``, ``shift`` and ``s`` of the keys' type) to ``out[m:]`` in the order met,
    and return ``m`` plus their number: 512 bits of keys at a time with the CPU's compress
    instruction (:func:`imgstats._jit.compress_bins`) where it has one. Never writes past
    ``out``: a count beyond its room is returned as it is, with the keys that fit."""
    n = keys.shape[0]
    room = out.shape[0]
    lanes = 64 // keys.itemsize
    i = 0
    if VECTOR_COMPRESS:
        while i + lanes <= n and m + lanes <= room:
            m = compress_bins(keys, i, out, m, lo, shift, s, s, s, s)
            i += lanes
    for j in range(i, n):
        k = keys[j]
        if m < room:
            out[m] = k
        m += np.int64(((k - lo) >> shift) == s)
    return m
