"""numba kernels of the grouped core (:mod:`imgstats.grouped`): counting sort by group, the
per-group sort, and the exact per-group sums of the mean.

They release the GIL, so :mod:`imgstats.grouped` runs them on every core, one slice of
samples or of groups per thread.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def count_groups(gid, valid, ngroups):
    """Samples (``seen``) and valid samples (``nval``) per group; ``gid < 0``: no group.

    ``valid`` of size 0 means every sample is valid.
    """
    seen = np.zeros(ngroups, np.int64)
    nval = np.zeros(ngroups, np.int64)
    allvalid = valid.size == 0
    for i in range(gid.size):
        g = gid[i]
        if g >= 0:
            seen[g] += 1
            if allvalid or valid[i]:
                nval[g] += 1
    return seen, nval


@njit(nogil=True, cache=True)
def scatter_groups(gid, keys, valid, offsets, out):
    """Write the valid ``keys`` group after group into ``out`` (a stable counting sort)."""
    pos = offsets[:-1].copy()
    allvalid = valid.size == 0
    for i in range(gid.size):
        g = gid[i]
        if g >= 0 and (allvalid or valid[i]):
            out[pos[g]] = keys[i]
            pos[g] += 1


@njit(nogil=True, cache=True)
def _insertion_sort(a, lo, hi):
    for i in range(lo + 1, hi):
        v = a[i]
        j = i - 1
        while j >= lo and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


@njit(nogil=True, cache=True)
def sort_groups(keys, offsets, first, last):
    """Sort the keys of groups ``first`` to ``last - 1`` in place, each on its own."""
    for g in range(first, last):
        a = offsets[g]
        b = offsets[g + 1]
        if b - a <= 32:
            _insertion_sort(keys, a, b)
        else:
            keys[a:b].sort()


@njit(nogil=True, cache=True)
def int_sums(keys, offsets, flip):
    """Exact per-group sums of integer samples below 64 bits (``key - flip``), in int64."""
    n = offsets.size - 1
    out = np.zeros(n, np.int64)
    f = np.int64(flip)
    for g in range(n):
        s = np.int64(0)
        for i in range(offsets[g], offsets[g + 1]):
            s += np.int64(keys[i]) - f
        out[g] = s
    return out


@njit(nogil=True, cache=True)
def float_means(bits, offsets, mean, special, fallback):
    """Correctly rounded per-group means of float64 samples given as their int64 bit patterns.

    Each finite sample is ``sig * 2**(e - 1075)`` with ``sig`` an odd-or-zero integer once its
    trailing zeros are moved into ``e``. When the group's sum of those terms fits in int64 with
    |sum| < 2**53, both the sum and the count are exact doubles and one IEEE division rounds
    the quotient correctly; the power of two is then exact. Any other group has
    ``fallback[g]`` set and is summed exactly elsewhere. ``special[g]`` counts ``+inf`` and
    ``-inf``.
    """
    n = offsets.size - 1
    for g in range(n):
        a = offsets[g]
        b = offsets[g + 1]
        emin = 1 << 30
        top = -(1 << 30)
        nfinite = 0
        for i in range(a, b):
            x = bits[i]
            e = (x >> 52) & 0x7FF
            if e == 0x7FF:
                if x < 0:
                    special[g, 1] += 1
                else:
                    special[g, 0] += 1
                continue
            nfinite += 1
            sig = x & 0xFFFFFFFFFFFFF
            if e > 0:
                sig |= 1 << 52
            else:
                e = 1
            if sig == 0:
                continue
            while sig & 1 == 0:
                sig >>= 1
                e += 1
            length = 0
            s = sig
            while s:
                s >>= 1
                length += 1
            if e < emin:
                emin = e
            if e + length > top:
                top = e + length
        if special[g, 0] or special[g, 1]:
            continue
        if emin == 1 << 30:  # only zeros
            mean[g] = 0.0
            continue
        if top - emin + 64 - _clz(np.int64(b - a)) > 62:
            fallback[g] = True
            continue
        total = np.int64(0)
        for i in range(a, b):
            x = bits[i]
            e = (x >> 52) & 0x7FF
            sig = x & 0xFFFFFFFFFFFFF
            if e > 0:
                sig |= 1 << 52
            else:
                e = 1
            if sig == 0:
                continue
            while sig & 1 == 0:
                sig >>= 1
                e += 1
            term = sig << (e - emin)
            total += -term if x < 0 else term
        if total >= (1 << 53) or total <= -(1 << 53) or emin - 1075 < -1000:
            fallback[g] = True
            continue
        mean[g] = math.ldexp(np.float64(total) / np.float64(nfinite), emin - 1075)


@njit(nogil=True, cache=True, inline="always")
def _clz(x):
    n = 0
    while n < 64 and not (x >> (63 - n)) & 1:
        n += 1
    return n


@njit(nogil=True, cache=True)
def compact_rows(keys, valid, offsets, out):
    """Rows of ``keys`` (one group each) with their invalid samples dropped, into ``out``."""
    n, m = keys.shape
    pos = 0
    for r in range(n):
        offsets[r] = pos
        for j in range(m):
            if valid[r, j]:
                out[pos] = keys[r, j]
                pos += 1
    offsets[n] = pos


@njit(nogil=True, cache=True)
def count_labels(labels, lo, background, nb, valid, ngroups):
    """:func:`count_groups` with the group of sample ``i`` read from ``labels[i // nb] - lo``
    (no array of group ids is made); ``background`` (as ``label - lo``, or -1) is no group."""
    seen = np.zeros(ngroups, np.int64)
    nval = np.zeros(ngroups, np.int64)
    allvalid = valid.size == 0
    n = labels.size
    for p in range(n):
        g = np.int64(labels[p]) - lo
        if g == background:
            continue
        for c in range(nb):
            i = p * nb + c
            seen[g] += 1
            if allvalid or valid[i]:
                nval[g] += 1
    return seen, nval


@njit(nogil=True, cache=True)
def scatter_labels(labels, lo, background, nb, keys, valid, offsets, out):
    """:func:`scatter_groups` with the groups of :func:`count_labels`."""
    pos = offsets[:-1].copy()
    allvalid = valid.size == 0
    n = labels.size
    for p in range(n):
        g = np.int64(labels[p]) - lo
        if g == background:
            continue
        for c in range(nb):
            i = p * nb + c
            if allvalid or valid[i]:
                out[pos[g]] = keys[i]
                pos[g] += 1


@njit(nogil=True, cache=True)
def radix_sort_groups(keys, offsets, first, last):
    """Sort each group's keys in place: insertion sort for a few, else an LSD radix sort by
    bytes, skipping the bytes on which every key of the group agrees (a float32 group of
    nearby values sorts in two passes, a 16-bit one in at most two)."""
    width = keys.itemsize
    biggest = 0
    for g in range(first, last):
        biggest = max(biggest, offsets[g + 1] - offsets[g])
    tmp = np.empty(biggest, keys.dtype)
    counts = np.zeros(257, np.int64)
    for g in range(first, last):
        a = offsets[g]
        b = offsets[g + 1]
        n = b - a
        if n <= 48:
            _insertion_sort(keys, a, b)
            continue
        differ = np.uint64(0)
        k0 = np.uint64(keys[a])
        for i in range(a + 1, b):
            differ |= np.uint64(keys[i]) ^ k0
        src = keys[a:b]
        dst = tmp[:n]
        in_tmp = False
        for byte in range(width):
            shift = np.uint64(8 * byte)
            if (differ >> shift) & np.uint64(0xFF) == 0:
                continue
            counts[:] = 0
            for i in range(n):
                counts[np.int64((np.uint64(src[i]) >> shift) & np.uint64(0xFF)) + 1] += 1
            for d in range(256):
                counts[d + 1] += counts[d]
            for i in range(n):
                d = np.int64((np.uint64(src[i]) >> shift) & np.uint64(0xFF))
                dst[counts[d]] = src[i]
                counts[d] += 1
            src, dst = dst, src
            in_tmp = not in_tmp
        if in_tmp:
            keys[a:b] = src
