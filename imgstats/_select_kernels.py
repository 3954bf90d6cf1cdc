"""The kernel of the predicted-range select of in-memory float arrays (see
:mod:`imgstats._range_select`).

One pass over a stripe of float32 or float64 samples, without any histogram: per band, the
NaN count, the smallest and largest order-preserving key, for each predicted key interval the
count of keys below it, and the keys that fall inside an interval. Each block of samples is
read three times while it sits in L1: the counts in loops the compiler vectorizes (8 float32
keys per instruction), then the few keys inside an interval appended behind a branch, which
the CPU predicts well because they are a few percent of the samples (measured on 4 MP
float32: the branchless store of every key cost twice as much).
"""

from __future__ import annotations

from ._jit import njit

#: Pixels per block: the block's keys stay in L1 for the three loops over it.
_BLOCK = 1 << 11


@njit(nogil=True, cache=True)
def select_stripe(
    bits, nb, top, ones, inf, ninf, los, widths, ms, nan, kmin, kmax, below, eq, kept, out
):
    """Scan one stripe of band-interleaved float bit patterns (``uint32`` or ``uint64``).

    Parameters
    ----------
    bits : 1-D uint32 or uint64 array
        The samples' bit patterns, ``nb`` bands interleaved (a C-contiguous ``(pixels, nb)``).
    nb : int
    top, ones, inf, ninf : scalars of the type of ``bits``
        The sign bit, every bit, the bit pattern of +inf and the key of -inf (the smallest
        valid key). numba computes on 32-bit integers in 64 bits: ``ones`` masks the
        differences that must wrap around in 32.
    los, widths : (nb, m) arrays of the type of ``bits``
        Each band's key intervals ``[lo, lo + width]`` (sorted, disjoint); only the first
        ``ms[band]`` of a row are used.
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
    """
    n = bits.shape[0] // nb
    args = (top, ones, inf, ninf, los, widths, ms, nan, kmin, kmax, below, eq, kept, out)
    for start in range(0, n, _BLOCK):
        stop = min(n, start + _BLOCK)
        for c in range(nb):
            if nb == 1:  # contiguous: the counting loops vectorize
                _block(bits[start:stop], c, *args)
            else:
                _block(bits[start * nb + c : stop * nb : nb], c, *args)


@njit(nogil=True, cache=True)
def _block(col, c, top, ones, inf, ninf, los, widths, ms, nan, kmin, kmax, below, eq, kept, out):
    """:func:`select_stripe` on one block of one band's samples."""
    absmask = ones ^ top
    zero = top ^ top
    nn = 0
    kmn = kmin[c]
    kmx = kmax[c]
    for i in range(col.shape[0]):  # vectorized
        b = col[i]
        isn = (b & absmask) > inf
        nn += isn
        k = b ^ (ones if b >= top else top)
        kmn = min(kmn, ones if isn else k)
        kmx = max(kmx, zero if isn else k)
    nan[c] += nn
    kmin[c] = kmn
    kmax[c] = kmx
    mc = ms[c]
    for j in range(mc):
        # valid keys lie in [ninf, key of +inf]; a NaN's key is outside, and k - ninf then
        # wraps (below -inf's) or is above every interval (above +inf's): never counted
        below[c, j] += _below(col, top, ones, ninf, (los[c, j] - ninf) & ones)
    nk = kept[c]
    cap = out.shape[1]
    dst = out[c]
    if mc == 1:
        lo = los[c, 0]
        nk = _append(col, top, ones, lo, widths[c, 0], lo + widths[c, 0], dst, nk, cap, eq[c, 0])
    else:
        for i in range(col.shape[0]):
            b = col[i]
            k = b ^ (ones if b >= top else top)
            for j in range(mc):
                lo = los[c, j]
                if ((k - lo) & ones) <= widths[c, j]:  # one unsigned compare
                    if k == lo:
                        eq[c, j, 0] += 1
                    elif k == lo + widths[c, j]:
                        eq[c, j, 1] += 1
                    else:
                        if nk < cap:
                            dst[nk] = k
                        nk += 1
                    break
    kept[c] = nk


@njit(nogil=True, cache=True, inline="always")
def _below(col, top, ones, ninf, rel):
    """The valid keys of ``col`` below ``ninf + rel``."""
    cnt = 0
    for i in range(col.shape[0]):  # vectorized
        b = col[i]
        k = b ^ (ones if b >= top else top)
        cnt += ((k - ninf) & ones) < rel
    return cnt


@njit(nogil=True, cache=True, inline="always")
def _append(col, top, ones, lo, width, hi, dst, nk, cap, eq):
    """Append the keys of ``col`` strictly inside ``[lo, hi]`` to ``dst`` from ``nk``, and
    count those equal to ``lo`` and ``hi`` into ``eq``."""
    nlo = 0
    nhi = 0
    for i in range(col.shape[0]):
        b = col[i]
        k = b ^ (ones if b >= top else top)
        if ((k - lo) & ones) <= width:  # one unsigned compare
            if k == lo:
                nlo += 1
            elif k == hi:
                nhi += 1
            else:
                if nk < cap:
                    dst[nk] = k
                nk += 1
    eq[0] += nlo
    eq[1] += nhi
    return nk
