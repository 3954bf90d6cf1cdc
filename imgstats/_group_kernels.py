"""numba kernels of the grouped core (:mod:`imgstats.grouped`): the counting sort of samples by
group, the selection of order statistics per group, and the exact per-group sums of the mean.

Each kernel takes a range (of pixels or of groups) and releases the GIL, so
:mod:`imgstats.grouped` runs it on every core, one range per thread, with per-thread counts
merged in numpy. Small inputs run as plain Python until numba is loaded (:mod:`imgstats._jit`).
"""

from __future__ import annotations

import math

import numpy as np

# numba's njit, applied when numba is first needed: small inputs run as Python (see _jit)
from ._jit import VECTOR_COMPRESS, compress_bins, leading_zeros, njit

#: Groups of at most this many keys are sorted by insertion (cheaper than any histogram).
_INSERTION = 32


#: Labels compared at once when looking for the end of a run of one label: a vector of them,
#: with no branch per label.
_RUN_CHUNK = 16


@njit(nogil=True, cache=True, inline="always")
def _run_end(part, q, n, cur):
    """The end of the run of ``cur`` that goes on at ``q`` in ``part[:n]`` (uint64 indices, so
    that no negative-index check keeps the compare from being vectorized): whole chunks of
    :data:`_RUN_CHUNK` labels at a time, then label by label."""
    w = np.uint64(_RUN_CHUNK)
    one = np.uint64(1)
    while q + w <= n and part[q + w - one] == cur:  # a short run ends before: no vector
        d = part[q] ^ cur
        for i in range(one, w):
            d |= part[q + i] ^ cur
        if d != 0:
            break
        q += w
    while q < n and part[q] == cur:
        q += one
    return q


@njit(nogil=True, cache=True)
def count_labels(labels, lo, nb, valid, start, stop, seen, nval, first, last, rows, lengths):
    """Add the samples (``seen``) and valid samples (``nval``) of pixels ``start`` to ``stop - 1``
    to their group's count: pixel ``p`` (samples ``p * nb`` to ``p * nb + nb - 1``) is in the
    group ``labels[p] - lo`` when that is below ``nval.size``. When ``first`` has a size, each
    group's first pixel (at most the value there) and ``last`` its last pixel + 1 (at least
    the value there) are kept too; when ``rows`` has a size (and every sample is valid),
    each run's group (-1: none) and length, while they have room.

    ``valid`` of size 0 means every sample is valid, and ``seen`` is then not counted (it
    would equal ``nval``): the pixels are then taken run by run of one label (as label images
    have them), each run's end found by :func:`_run_end` and its length added once. Returns
    ``(outside, smallest, largest, runs)``: how many pixels have a label outside the groups (a
    caller counting into a guessed range then counts again), the smallest and largest of those
    labels, and the runs of one label (the pixels, when ``valid`` has a size).
    """
    ng = nval.size
    outside = 0
    smallest = np.int64(1) << 62
    largest = -smallest
    part = labels[start:stop]  # indexed from 0: no negative-index checks
    if part.size == 0:
        return outside, smallest, largest, 0
    begin = first  # ``first`` names the run's start below
    spans = begin.size > 0
    room = rows.size
    if valid.size == 0:
        n = np.uint64(part.size)
        at = np.uint64(0)
        runs = 0
        while at < n:
            cur = part[at]
            q = _run_end(part, at + np.uint64(1), n, cur)
            run = np.int64(q - at)
            g = np.int64(cur) - lo
            if g < 0 or g >= ng:
                outside += run
                smallest = min(smallest, np.int64(cur))
                largest = max(largest, np.int64(cur))
                g = -1
            else:
                nval[g] += run * nb
                if spans:
                    begin[g] = min(begin[g], start + np.int64(at))
                    last[g] = max(last[g], start + np.int64(q))
            if runs < room:
                rows[runs] = g
                lengths[runs] = run
            runs += 1
            at = q
        return outside, smallest, largest, runs
    for p in range(part.size):
        v = np.int64(part[p])
        g = v - lo
        if g < 0 or g >= ng:
            outside += 1
            smallest = min(smallest, v)
            largest = max(largest, v)
            continue
        seen[g] += nb
        if spans:
            begin[g] = min(begin[g], start + p)
            last[g] = max(last[g], start + p + 1)
        i0 = (start + p) * nb
        for c in range(nb):
            if valid[i0 + c]:
                nval[g] += 1
    return outside, smallest, largest, part.size


#: Pixels per run of one label from which :func:`scatter_labels` copies run by run.
LONG_RUNS = 8


@njit(nogil=True, cache=True)
def scatter_labels(labels, lo, background, nb, keys, valid, start, stop, pos, out, runs):
    """Write the valid keys of pixels ``start`` to ``stop - 1`` (groups as in
    :func:`count_labels`, every label among them; ``background``, or any negative group, is
    no group) into ``out`` at ``pos[group]``, which moves on: a stable counting sort when
    each thread's ``pos`` starts after the previous threads' samples.

    With every sample valid, one per pixel and runs of at least :data:`LONG_RUNS` pixels on
    average (``runs``, from :func:`count_labels`), each run's end is found by
    :func:`_run_end` and its keys copied in one loop; short runs go pixel by pixel, the
    group's position kept in a register while its label repeats.
    """
    part = labels[start:stop]
    if valid.size == 0 and nb == 1 and part.size >= LONG_RUNS * runs:
        mine = keys[start:stop]
        n = np.uint64(part.size)
        first = np.uint64(0)
        while first < n:
            cur = part[first]
            q = _run_end(part, first + np.uint64(1), n, cur)
            g = np.int64(cur) - lo
            if g >= 0 and g != background:
                at = np.uint64(pos[g])
                for i in range(q - first):
                    out[at + i] = mine[first + i]
                pos[g] = np.int64(at + (q - first))
            first = q
        return
    if valid.size == 0 and nb == 1:  # the common case, in its own loop: a third of the time
        mine = keys[start:stop]
        g_run = np.int64(-1)
        at = 0
        for p in range(part.size):
            g = np.int64(part[p]) - lo
            if g != g_run:  # a run of one label writes from a register
                if g_run >= 0:
                    pos[g_run] = at
                g_run = g if g != background else -1
                if g_run >= 0:
                    at = pos[g_run]
            if g_run >= 0:
                out[at] = mine[p]
                at += 1
        if g_run >= 0:
            pos[g_run] = at
        return
    for p in range(part.size):
        g = np.int64(part[p]) - lo
        if g < 0 or g == background:
            continue
        at = pos[g]
        for c in range(nb):
            i = (start + p) * nb + c
            if valid.size == 0 or valid[i]:
                out[at] = keys[i]
                at += 1
        pos[g] = at


@njit(nogil=True, cache=True)
def label_range(labels, start, stop):
    """The smallest and largest of ``labels[start:stop]`` (not empty), in one pass."""
    part = labels[start:stop]
    lo = part[0]
    hi = part[0]
    for p in range(1, part.size):
        lo = min(lo, part[p])
        hi = max(hi, part[p])
    return lo, hi


@njit(nogil=True, cache=True)
def place_groups(keys, offsets, index, pos, out):
    """Append the keys of each group ``j`` of a part (``keys[offsets[j]:offsets[j + 1]]``)
    to ``out`` at ``pos[index[j]]``, which moves on: merging parts group by group."""
    for j in range(offsets.size - 1):
        a = offsets[j]
        b = offsets[j + 1]
        at = pos[index[j]]
        out[at : at + b - a] = keys[a:b]
        pos[index[j]] = at + b - a


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
def _radix_pass(src, dst, shift, counts):
    """One stable counting pass of an LSD radix sort: ``src`` into ``dst`` by the byte at
    ``shift``."""
    counts[:] = 0
    for i in range(src.size):
        counts[np.int64((np.uint64(src[i]) >> shift) & np.uint64(0xFF)) + 1] += 1
    for d in range(256):
        counts[d + 1] += counts[d]
    for i in range(src.size):
        d = np.int64((np.uint64(src[i]) >> shift) & np.uint64(0xFF))
        dst[counts[d]] = src[i]
        counts[d] += 1


@njit(nogil=True, cache=True)
def _radix_sort(keys, scratch, counts):
    """Sort ``keys`` with ``scratch`` (as long) by an LSD radix sort on bytes, skipping the
    bytes on which every key agrees (a float32 group of nearby values sorts in two passes);
    returns whether the sorted keys ended in ``scratch``."""
    differ = np.uint64(0)
    k0 = np.uint64(keys[0])
    for i in range(1, keys.size):
        differ |= np.uint64(keys[i]) ^ k0
    in_scratch = False
    for byte in range(keys.itemsize):
        shift = np.uint64(8 * byte)
        if (differ >> shift) & np.uint64(0xFF) == 0:
            continue
        if in_scratch:
            _radix_pass(scratch, keys, shift, counts)
        else:
            _radix_pass(keys, scratch, shift, counts)
        in_scratch = not in_scratch
    return in_scratch


@njit(nogil=True, cache=True)
def radix_sort_groups(keys, offsets, first, last):
    """Sort each group's keys in place (groups ``first`` to ``last - 1``): insertion sort for a
    few, else :func:`_radix_sort`."""
    biggest = 1
    for g in range(first, last):
        biggest = max(biggest, offsets[g + 1] - offsets[g])
    tmp = np.empty(biggest, keys.dtype)
    counts = np.zeros(257, np.int64)
    for g in range(first, last):
        a = offsets[g]
        b = offsets[g + 1]
        if b - a <= _INSERTION:
            _insertion_sort(keys, a, b)
        elif _radix_sort(keys[a:b], tmp[: b - a], counts):
            keys[a:b] = tmp[: b - a]


@njit(nogil=True, cache=True, inline="always")
def _rank_bin(hist, rank):
    """``(bin, rank within it)`` of the sample of ``rank`` in a 256-bin histogram."""
    below = 0
    for d in range(256):
        h = hist[d]
        if rank < below + h:
            return d, rank - below
        below += h
    return 255, 0  # pragma: no cover -- rank < the histogram's total


@njit(nogil=True, cache=True)
def _select_wide(group, buf, tmp, counts, inner, wanted, bins, ranks, out):
    """``out[j]`` = the key of rank ``ranks[j]`` among ``group`` (32- or 64-bit keys, left
    as they are; ``buf`` and ``tmp`` as long, ``counts`` and ``inner`` 257 words each,
    ``wanted`` 256 zero bytes, left zero, ``bins`` as many words as ``ranks``).

    One counting pass of 8 bits of ``key - min``, taken where the group's keys differ most,
    then the keys of the buckets holding a wanted rank copied out with no branch (as the
    16-bit keys of :func:`select_ranks`) and sorted (insertion for a few, else radix). Moving
    every key into its bucket (and first copying the group, since that reordered it) cost a
    chain of stores per key: the median of 10,000 zones of 25 MP went 105 -> 90 ms (float32)
    and 105 -> 88 ms (int32), one core.
    """
    n = group.size
    lo = group[0]
    hi = group[0]
    for i in range(n):  # vectorized
        lo = min(lo, group[i])
        hi = max(hi, group[i])
    if lo == hi:
        for j in range(ranks.size):
            out[j] = lo
        return
    bits = np.int64(64) - np.int64(leading_zeros(np.uint64(hi - lo)))
    shift = np.uint64(max(0, bits - 8))
    counts[:] = 0
    for i in range(n):
        counts[np.int64(np.uint64(group[i] - lo) >> shift) + 1] += 1
    for d in range(256):
        counts[d + 1] += counts[d]
    # counts[d] is bucket d's first rank, counts[d + 1] its end
    used = 0
    for j in range(ranks.size):
        r = ranks[j]
        d = 0
        while counts[d + 1] <= r:
            d += 1
        if not wanted[d]:
            bins[used] = d
            used += 1
        wanted[d] = 1
    if VECTOR_COMPRESS and used <= 4:
        m = _compress_wanted(group, buf, lo, shift, bins, used)
        _sorted_wanted(buf, tmp, m, inner, counts, wanted, ranks, out)
        return
    # the wanted buckets' keys, the two halves of the group into two halves of ``buf``, as
    # select_ranks copies 16-bit keys (one kernel for both cost that path 22 -> 26 ms)
    half = n // 2
    m = 0
    m_2 = half
    for i in range(half):
        k = group[i]
        k_2 = group[half + i]
        buf[m] = k
        buf[m_2] = k_2
        m += np.int64(wanted[np.int64(np.uint64(k - lo) >> shift)])
        m_2 += np.int64(wanted[np.int64(np.uint64(k_2 - lo) >> shift)])
    if n % 2:
        k = group[n - 1]
        buf[m_2] = k
        m_2 += np.int64(wanted[np.int64(np.uint64(k - lo) >> shift)])
    for i in range(half, m_2):
        buf[m] = buf[i]
        m += 1
    _sorted_wanted(buf, tmp, m, inner, counts, wanted, ranks, out)


@njit(nogil=True, cache=True, inline="always")
def _sorted_wanted(buf, tmp, m, inner, counts, wanted, ranks, out):
    """The end of :func:`_select_wide`: the ``m`` keys of the wanted buckets, copied to
    ``buf``, sorted; each rank read from them; ``wanted`` made zero again."""
    if m <= _INSERTION:
        _insertion_sort(buf, 0, m)
    elif _radix_sort(buf[:m], tmp[:m], inner):
        buf[:m] = tmp[:m]
    # sorted, the wanted buckets follow one another: a rank's place among them is its rank
    # less the keys of the buckets below that are not wanted
    for j in range(ranks.size):
        r = ranks[j]
        skipped = 0
        d = 0
        while counts[d + 1] <= r:
            if not wanted[d]:
                skipped += counts[d + 1] - counts[d]
            d += 1
        out[j] = buf[r - skipped]
    for j in range(ranks.size):
        d = 0
        while counts[d + 1] <= ranks[j]:
            d += 1
        wanted[d] = 0


@njit(nogil=True, cache=True)
def select_ranks(keys, offsets, ranks, first, last, out, sums, flip):
    """The keys of given ranks in each group, without sorting the groups or changing ``keys``.

    For groups ``g`` from ``first`` to ``last - 1``: ``out[g, j]`` becomes the key of rank
    ``ranks[g, j]`` (0: the smallest) among ``keys[offsets[g]:offsets[g + 1]]``, and, when
    ``sums`` has a size, ``sums[g]`` their exact sum of ``key - flip`` in int64 (integers
    below 64 bits). Empty groups are left alone.

    8-bit keys are read from one 256-bin histogram of the group; 16-bit keys from a histogram
    of their high byte, then one of the low byte of the samples in the few high-byte bins that
    hold a wanted rank, first copied out of the group without a branch: two passes over a
    group that sits in L1, whatever its size. A group of
    a few keys is sorted by insertion in a buffer; wider keys are counted in 256 buckets of
    their own span, and only the keys of the buckets holding a wanted rank are copied out
    and sorted (:func:`_select_wide`).
    """
    r = ranks.shape[1]
    width = keys.itemsize
    want_sums = sums.size > 0
    f = np.int64(flip)
    biggest = _INSERTION
    for g in range(first, last):
        biggest = max(biggest, offsets[g + 1] - offsets[g])
    buf = np.empty(max(biggest, _INSERTION) + 32, keys.dtype)  # room for a whole vector
    tmp = np.empty(biggest if width > 2 else 0, keys.dtype)
    counts = np.zeros(257, np.int64)
    inner = np.zeros(257, np.int64)
    hist = np.zeros(256, np.int64)
    odd = np.zeros(256, np.int64)
    low = np.zeros((max(r, 1), 256), np.int64)
    slot = np.full(256, -1, np.int64)
    wanted = np.zeros(256, np.uint8)  # 1 for a high byte that holds a wanted rank
    high = np.zeros(max(r, 1), np.int64)
    rest = np.zeros(max(r, 1), np.int64)
    bins = np.zeros(max(r, 1), np.int64)  # the distinct high bytes (or buckets) of a group's ranks
    for g in range(first, last):
        a = offsets[g]
        n = offsets[g + 1] - a
        if n == 0:
            continue
        group = keys[a : a + n]  # indexed from 0: no negative-index checks
        if r == 0 or n <= _INSERTION or width > 2:
            if want_sums:
                s = np.int64(0)
                for i in range(n):
                    s += np.int64(group[i]) - f
                sums[g] = s
            if r == 0:
                continue
            if n <= _INSERTION:
                b = buf[:n]
                b[:] = group
                _insertion_sort(b, 0, n)
                for j in range(r):
                    out[g, j] = b[ranks[g, j]]
            else:
                _select_wide(group, buf, tmp, counts, inner, wanted, bins, ranks[g], out[g])
            continue
        hist[:] = 0
        s = np.int64(0)
        if width == 1:
            for i in range(n):
                k = np.int64(group[i])
                hist[k] += 1
                s += k
            for j in range(r):
                d, _ = _rank_bin(hist, ranks[g, j])
                out[g, j] = d
        else:
            # the even and the odd keys into two histograms (and sums): half as long chains
            # of increments of one bin when neighbouring keys share a high byte
            half = n // 2
            odd[:] = 0
            s_odd = np.int64(0)
            for i in range(half):
                k = np.int64(group[2 * i])
                k_odd = np.int64(group[2 * i + 1])
                hist[k >> 8] += 1
                odd[k_odd >> 8] += 1
                s += k
                s_odd += k_odd
            if n % 2:
                k = np.int64(group[n - 1])
                hist[k >> 8] += 1
                s += k
            hist += odd
            s += s_odd
            used = 0
            for j in range(r):
                d, within = _rank_bin(hist, ranks[g, j])
                high[j] = d
                rest[j] = within
                if slot[d] < 0:
                    slot[d] = used
                    wanted[d] = 1
                    low[used, :] = 0
                    bins[used] = d
                    used += 1
            # the keys of the wanted high bytes (a few percent), copied with no branch: a
            # branch per key on its high byte is mispredicted as often as it is taken
            if VECTOR_COMPRESS and used <= 4:
                m = _compress_wanted(group, buf, 0, 8, bins, used)
                for i in range(m):
                    k = np.int64(buf[i])
                    low[slot[k >> 8], k & 0xFF] += 1
            else:
                _copy_wanted(group, buf, wanted, slot, low)
            for j in range(r):
                d, _ = _rank_bin(low[slot[high[j]]], rest[j])
                out[g, j] = (high[j] << 8) | d
            for j in range(r):
                slot[high[j]] = -1
                wanted[high[j]] = 0
        if want_sums:
            sums[g] = s - f * n


@njit(nogil=True, cache=True, inline="always")
def _compress_wanted(group, buf, lo, shift, bins, used):
    """Copy the keys ``k`` of ``group`` whose bucket ``(k - lo) >> shift`` is one of
    ``bins[:used]`` (one to four) to ``buf`` in order, a vector at a time with the CPU's
    compress instruction (:func:`imgstats._jit.compress_bins`), and return their number
    (``buf``: a vector of room past the group's size). 16-bit keys take their high byte
    (``lo`` 0, ``shift`` 8). 25 M keys in groups of 2,500: 12.4 -> 1.8 ms, one core."""
    n = group.size
    d0 = bins[0]
    d1 = bins[min(1, used - 1)]
    d2 = bins[min(2, used - 1)]
    d3 = bins[min(3, used - 1)]
    m = 0
    i = 0
    lanes = 64 // group.itemsize
    while i + lanes <= n:
        m = compress_bins(group, i, buf, m, lo, shift, d0, d1, d2, d3)
        i += lanes
    for j in range(i, n):
        k = group[j]
        buf[m] = k
        b = np.int64(np.uint64(k - lo) >> np.uint64(shift))
        m += np.int64((b == d0) | (b == d1) | (b == d2) | (b == d3))
    return m


@njit(nogil=True, cache=True, inline="always")
def _copy_wanted(group, buf, wanted, slot, low):
    """Count the low bytes of the keys of ``group`` whose high byte is ``wanted`` into
    ``low[slot[high byte]]``, those keys first copied to ``buf`` with no branch: the two
    halves of the group to two halves of the buffer, two chains of moves."""
    n = group.size
    half = n // 2
    m = 0
    m_2 = half
    for i in range(half):
        k = group[i]
        k_2 = group[half + i]
        buf[m] = k
        buf[m_2] = k_2
        m += np.int64(wanted[np.int64(k) >> 8])
        m_2 += np.int64(wanted[np.int64(k_2) >> 8])
    if n % 2:
        k = group[n - 1]
        buf[m_2] = k
        m_2 += np.int64(wanted[np.int64(k) >> 8])
    for i in range(m):
        k = np.int64(buf[i])
        low[slot[k >> 8], k & 0xFF] += 1
    for i in range(half, m_2):
        k = np.int64(buf[i])
        low[slot[k >> 8], k & 0xFF] += 1


#: The split of a float's significand into two sums per exponent: high bits above this
#: many, low bits below (53-bit significands: 2**36 samples per group before an int64 wraps).
_SPLIT = 26


@njit(nogil=True, cache=True)
def float_means(keys, offsets, mean, special, fallback):
    """Correctly rounded per-group means of float32 or float64 samples given as their keys.

    ``keys`` are the order-preserving keys of the samples (uint32 for float32, uint64 for
    float64). A finite sample is ``±sig * 2**(e - bias)`` (``sig`` its significand with the
    implicit bit, bias 150 for float32, 1075 for float64). One pass adds each sample's
    significand, split in two, to its exponent's two int64 sums; the group's exact sum is then
    built from those sums in 32-bit limbs (:func:`_limb_sum`) and divided by the count with
    one rounding (:func:`_limb_mean`). Whatever the exponents: a float64 group of
    non-integer values, whose sum no int64 holds, was summed by the whole-image machinery
    group by group (4.4 s for 10,000 zones of 25 MP, one core). ``special[g]`` counts
    ``+inf`` and ``-inf``; ``fallback[g]`` is set for a group of 2**31 samples or more, or
    whose mean is below float64's normal range (summed exactly elsewhere).
    """
    wide = keys.itemsize == 8
    mbits = np.uint64(52 if wide else 23)
    emask = np.int64(0x7FF if wide else 0xFF)
    bias = np.int64(1075 if wide else 150)
    top = np.uint64(1) << np.uint64(63 if wide else 31)
    ones = top | (top - np.uint64(1))
    high = np.zeros((2, emask + 1), np.int64)  # even and odd samples: see _exponent_sums
    low = np.zeros((2, emask + 1), np.int64)
    limbs = np.zeros((emask + 160) // 32 + 8, np.int64)
    packed = np.zeros((2, 512), np.uint64)
    for g in range(offsets.size - 1):
        a = offsets[g]
        n = offsets[g + 1] - a
        if n <= 0:
            continue
        if n >= np.int64(1) << 31:
            fallback[g] = True
            continue
        group = keys[a : a + n]
        if not wide and n >= _PACKED_MIN:
            emin, emax = _packed32(group, top, ones, packed, low[0], special[g])
        else:
            inf = special[g]
            emin, emax = _exponent_sums(group, top, ones, mbits, emask, high, low, inf)
        if special[g, 0] or special[g, 1]:  # an infinity: the sums (of nonzero samples) go
            for e in range(emin, emax + 1):
                high[0, e] = 0
                high[1, e] = 0
                low[0, e] = 0
                low[1, e] = 0
            continue
        if emax == 0:  # only zeros
            mean[g] = 0.0
            continue
        used = _limb_sum(high, low, emin, emax, limbs)
        m, ok = _limb_mean(limbs, used, n, emin - bias)
        mean[g] = m
        fallback[g] = not ok


@njit(nogil=True, cache=True, inline="always")
def _exponent_sums(group, top, ones, mbits, emask, high, low, special):
    """Each float of ``group`` (as its key) into its exponent's sums, as :func:`_float_term`
    adds one, and its infinities into ``special``; returns the smallest and largest exponent
    of a nonzero sample (``emask`` and 0: none).

    The even and odd samples go to tables ``0`` and ``1`` of ``high`` and ``low``:
    neighbours often share an exponent, and one table would chain each sum on the previous
    one's store. The pair's arithmetic is written out with no branch: two calls of
    :func:`_float_term` (a branch per sample) took float64's means of 10,000 zones of 25 MP
    from 80 to 360 ms."""
    wide = mbits > 32
    sign_shift = np.uint64(63 if wide else 31)
    implicit = np.uint64(1) << mbits
    low_mask = implicit - np.uint64(1)
    split = np.uint64(_SPLIT)
    split_mask = (np.uint64(1) << split) - np.uint64(1)
    absmask = ones >> np.uint64(1)
    n = group.size
    emin = emask
    emax = np.int64(0)
    for i in range(n // 2):
        x0 = _float_bits(group[2 * i], top, ones)
        x1 = _float_bits(group[2 * i + 1], top, ones)
        e0 = np.int64(x0 >> mbits) & emask
        e1 = np.int64(x1 >> mbits) & emask
        if e0 == emask or e1 == emask:  # an infinity (NaN is never a key here)
            for x, e, t in ((x0, e0, 0), (x1, e1, 1)):
                hi_t, lo_t = high[t], low[t]
                if _float_term(x, e, emask, mbits, sign_shift, split, hi_t, lo_t, special):
                    emin = min(emin, max(e, np.int64(1)))
                    emax = max(emax, max(e, np.int64(1)))
            continue
        s0 = (x0 & low_mask) | (implicit if e0 else np.uint64(0))
        s1 = (x1 & low_mask) | (implicit if e1 else np.uint64(0))
        e0 = max(e0, np.int64(1))
        e1 = max(e1, np.int64(1))
        n0 = -np.int64(x0 >> sign_shift)  # 0 or -1
        n1 = -np.int64(x1 >> sign_shift)
        if wide:  # 53-bit significands: two sums, of the high and of the low bits
            high[0, e0] += (np.int64(s0 >> split) ^ n0) - n0
            high[1, e1] += (np.int64(s1 >> split) ^ n1) - n1
            s0 &= split_mask
            s1 &= split_mask
        low[0, e0] += (np.int64(s0) ^ n0) - n0
        low[1, e1] += (np.int64(s1) ^ n1) - n1
        # the exponents of nonzero samples (a zero changes no sum)
        z0 = (x0 & absmask) == 0
        z1 = (x1 & absmask) == 0
        emin = min(emin, emask if z0 else e0, emask if z1 else e1)
        emax = max(emax, np.int64(0) if z0 else e0, np.int64(0) if z1 else e1)
    if n % 2:
        x = _float_bits(group[n - 1], top, ones)
        e = np.int64(x >> mbits) & emask
        if _float_term(x, e, emask, mbits, sign_shift, split, high[0], low[0], special):
            emin = min(emin, max(e, np.int64(1)))
            emax = max(emax, max(e, np.int64(1)))
    return emin, emax


#: float32 groups of at least this many samples go through :func:`_packed32`, whose read of
#: its tables (1,024 words) would cost a smaller group more than it saves.
_PACKED_MIN = 2048
#: Samples :func:`_packed32` counts into a table before it empties it into the sums: the
#: 40-bit sum of 23-bit significands holds 2**17 of them.
_PACKED_TURN = 1 << 16


@njit(nogil=True, cache=True)
def _packed32(group, top, ones, packed, low, special):
    """The float32 ``group``'s significand sums per exponent into ``low`` (as
    :func:`float_means` keeps them) and its infinities into ``special``; returns the
    smallest and largest exponent of a nonzero sample (255 and 0 when none).

    One word per sign and exponent (the float's top 9 bits) holds its count above bit 40
    and the sum of the stored 23 bits below: one add per sample, no split into sign,
    exponent and significand (float_means's own loop: 66 ms for 25 MP in 10,000 zones, one
    core; this one: 39 ms). Even and odd samples go to two tables; each turn of
    :data:`_PACKED_TURN` samples is then read out and the tables cleared."""
    n = group.size
    one40 = np.uint64(1) << np.uint64(40)
    mask40 = one40 - np.uint64(1)
    m23 = np.uint64(0x7FFFFF)
    sh23 = np.uint64(23)
    emin = np.int64(255)
    emax = np.int64(0)
    for start in range(0, n, _PACKED_TURN):
        stop = min(n, start + _PACKED_TURN)
        half = (stop - start) // 2
        for i in range(half):
            x0 = _float_bits(group[start + 2 * i], top, ones)
            x1 = _float_bits(group[start + 2 * i + 1], top, ones)
            packed[0, np.int64(x0 >> sh23)] += one40 | (x0 & m23)
            packed[1, np.int64(x1 >> sh23)] += one40 | (x1 & m23)
        if (stop - start) % 2:
            x = _float_bits(group[stop - 1], top, ones)
            packed[0, np.int64(x >> sh23)] += one40 | (x & m23)
        for t in range(2):
            for j in range(512):
                v = packed[t, j]
                if v == 0:
                    continue
                packed[t, j] = 0
                count = np.int64(v >> np.uint64(40))
                e = np.int64(j & 0xFF)
                neg = j >> 8
                if e == 255:  # infinities (NaN is never a key here)
                    special[neg] += count
                    continue
                total = np.int64(v & mask40) + (count << np.int64(23) if e else np.int64(0))
                if total == 0:
                    continue  # zeros
                e = max(e, np.int64(1))
                low[e] += -total if neg else total
                emin = min(emin, e)
                emax = max(emax, e)
    return emin, emax


@njit(nogil=True, cache=True, inline="always")
def _float_term(x, e, emask, mbits, sign_shift, split, high, low, special):
    """One finite float's bits ``x`` (biased exponent ``e``) into its exponent's sums
    (``high`` only for 53-bit significands), or an infinity into ``special`` (+, -).
    Returns whether it was a nonzero finite float."""
    if e == emask:
        special[np.int64(x >> sign_shift)] += 1
        return False
    implicit = np.uint64(1) << mbits
    sig = (x & (implicit - np.uint64(1))) | (implicit if e else np.uint64(0))
    e = max(e, np.int64(1))
    neg = -np.int64(x >> sign_shift)
    if mbits > 32:
        high[e] += (np.int64(sig >> split) ^ neg) - neg
        sig &= (np.uint64(1) << split) - np.uint64(1)
    low[e] += (np.int64(sig) ^ neg) - neg
    return (x & ((np.uint64(1) << sign_shift) - np.uint64(1))) != 0


@njit(nogil=True, cache=True)
def _limb_sum(high, low, emin, emax, limbs):
    """The exact sum ``sum_e (high[:, e] * 2**_SPLIT + low[:, e]) * 2**(e - emin)`` into
    32-bit ``limbs`` (least significant first, two's complement over the returned number of
    limbs), clearing the exponents ``emin`` to ``emax`` of ``high`` and ``low``. Limbs hold
    int64 while terms are added (a few thousand terms of under 2**32 each), then carried."""
    width = (emax - emin + _SPLIT + 64) // 32 + 3
    for k in range(width):
        limbs[k] = 0
    for e in range(emin, emax + 1):
        _add_shifted(limbs, high[0, e] + high[1, e], e - emin + _SPLIT)
        _add_shifted(limbs, low[0, e] + low[1, e], e - emin)
        high[0, e] = 0
        high[1, e] = 0
        low[0, e] = 0
        low[1, e] = 0
    m32 = np.int64(0xFFFFFFFF)
    carry = np.int64(0)
    for k in range(width):
        t = limbs[k] + carry
        limbs[k] = t & m32
        carry = t >> 32  # arithmetic: a negative sum carries -1 on and on
    limbs[width] = carry  # 0, or -1 for a negative sum
    return width


@njit(nogil=True, cache=True, inline="always")
def _add_shifted(limbs, v, shift):
    """Add ``v * 2**shift`` (``v`` an int64) to the 32-bit ``limbs``, uncarried."""
    if v == 0:
        return
    m32 = np.int64(0xFFFFFFFF)
    q = shift >> 5
    r = shift & 31
    v_lo = (v & m32) << r  # below 2**63
    v_hi = (v >> 32) << r  # |v >> 32| < 2**31: below 2**62 in magnitude
    limbs[q] += v_lo & m32
    limbs[q + 1] += (v_lo >> 32) + (v_hi & m32)
    limbs[q + 2] += v_hi >> 32


@njit(nogil=True, cache=True)
def _limb_mean(limbs, width, n, scale):
    """``(mean, ok)``: the float64 nearest to ``sum / n * 2**scale`` (ties to even), the sum in
    ``limbs[:width]`` (32-bit, least first; ``limbs[width]`` -1 when negative, in two's
    complement), by long division with three extra limbs, then one rounding of the quotient
    with a sticky bit. ``ok`` is False for a result below float64's normal range."""
    m32 = np.int64(0xFFFFFFFF)
    negative = limbs[width] < 0
    if negative:  # magnitude: invert every limb and add one
        carry = np.int64(1)
        for k in range(width):
            t = (limbs[k] ^ m32) + carry
            limbs[k] = t & m32
            carry = t >> 32
    # long division from the top limb: the sum times 2**96, so the quotient has 65 bits or more
    quotient = np.zeros(width + 3, np.int64)
    rem = np.int64(0)
    for k in range(width + 2, -1, -1):
        cur = (rem << 32) | (limbs[k - 3] if k >= 3 else np.int64(0))
        quotient[k] = cur // n
        rem = cur % n
    t = width + 2
    while t > 0 and quotient[t] == 0:
        t -= 1
    if quotient[t] == 0:
        return 0.0, True
    # the quotient's top 64 bits (bits shift to shift + 63); below them, the sticky bits
    length = 32 * t + 64 - np.int64(leading_zeros(np.uint64(quotient[t])))
    shift = length - 64
    k0 = shift >> 5
    r0 = np.uint64(shift & 31)
    pair = np.uint64(quotient[k0]) | (np.uint64(quotient[k0 + 1]) << np.uint64(32))
    third = np.uint64(quotient[k0 + 2]) if k0 + 2 <= t else np.uint64(0)
    top64 = (pair >> r0) | (third << (np.uint64(64) - r0)) if r0 else pair
    sticky = rem != 0 or (np.uint64(quotient[k0]) & ((np.uint64(1) << r0) - np.uint64(1))) != 0
    for k in range(k0):
        sticky = sticky or quotient[k] != 0
    mant = top64 >> np.uint64(11)
    rest = top64 & np.uint64(0x7FF)
    if rest > 0x400 or (rest == 0x400 and (sticky or mant & np.uint64(1))):
        mant += np.uint64(1)
    exponent = shift + 11 - 96 + scale
    if exponent + 52 < -1022:
        return 0.0, False
    value = math.ldexp(np.float64(mant), int(exponent))
    return (-value if negative else value), True


@njit(nogil=True, cache=True, inline="always")
def _float_bits(key, top, ones):
    """The bit pattern of the float whose order-preserving key is ``key`` (as uint64)."""
    k = np.uint64(key)
    return k ^ top if k & top else ~k & ones


@njit(nogil=True, cache=True)
def wide_sums(keys, offsets, high, low):
    """The exact sum of each group's 64-bit keys in 128 bits: ``high[g] * 2**64 + low[g]``
    (``low`` as unsigned), with a carry per key. A 64-bit integer zone's mean is then one
    exact division per zone, not a Python integer per sample."""
    for g in range(offsets.size - 1):
        lo = np.uint64(0)
        hi = np.int64(0)
        for i in range(offsets[g], offsets[g + 1]):
            k = np.uint64(keys[i])
            lo += k
            hi += lo < k  # a carry out of the low word
        high[g] = hi
        low[g] = lo


@njit(nogil=True, cache=True)
def float_sample_keys(bits, top, ones, inf, out):
    """``out[i]``: the order-preserving key of the float whose bit pattern is ``bits[i]``
    (uint32 or uint64; ``top`` its sign bit, ``ones`` every bit, ``inf`` +inf's bits), in
    one pass; returns how many are NaN. numpy's ``where`` of three temporaries took 74 ms
    for 25 MP of float32 on one core, and a validity array that a NaN-free image does not
    need sent the counting sort down its per-pixel path."""
    absmask = ones ^ top
    nan = 0
    for i in range(bits.size):  # vectorized
        b = bits[i]
        nan += (b & absmask) > inf
        out[i] = b ^ (ones if b >= top else top)
    return nan


@njit(nogil=True, cache=True)
def compact_rows(keys, valid, offsets, out):
    """Rows of ``keys`` (one group each) with their invalid samples dropped, into ``out``
    (which may be the front of ``keys``' own memory: each key moves to or before its place)."""
    n, m = keys.shape
    pos = 0
    for r in range(n):
        offsets[r] = pos
        for j in range(m):
            if valid[r, j]:
                out[pos] = keys[r, j]
                pos += 1
    offsets[n] = pos


# -- label zones of 8-bit samples: one histogram pass, no keys written -----------------------
@njit(nogil=True, cache=True)
def label_histograms(
    labels, lo, background, nb, raw, flip, valid, start, stop, hist, sums, seen, nval
):
    """Pixels ``start`` to ``stop - 1`` into per-group histograms of 8-bit samples: per group
    ``g = labels[p] - lo`` (below ``seen.size - 1``, not ``background``), the 256-bin
    histogram of its valid samples' keys (``raw ^ flip``) into ``hist[g * 256:]``, their
    exact sum into ``sums[g]``, their number into ``nval[g]`` and its pixels into
    ``seen[g]``. The tables have one more group, where the samples of no group go (the
    inner loop then has no branch for them); a run of one label is found first (its end by
    :func:`_run_end`, 16 labels at a time), then its samples counted. Returns the pixels
    whose label is outside the groups (a caller whose range was a guess counts again).
    """
    ng = seen.size - 1
    trash = np.int64(ng)
    part = labels[start:stop]  # indexed from 0: no negative-index checks
    n = part.size
    f = np.uint64(flip)
    outside = 0
    if n == 0:
        return outside
    dense = valid.size == 0 and nb == 1
    mine = raw[start * nb : stop * nb]
    ok = valid[start * nb : stop * nb] if valid.size else valid
    one = np.uint32(1)
    cur = part[0]
    first = 0
    while True:  # the run of ``cur`` from ``first``: find its end, count it
        q = np.int64(_run_end(part, np.uint64(first + 1), np.uint64(n), cur))
        g = np.int64(cur) - lo
        if g < 0 or g >= ng:
            outside += q - first
            g = -1
        elif g == background:
            g = -1
        row = trash if g < 0 else g
        seen[row] += q - first
        base = np.uint64(row * 256)
        acc = np.uint64(0)
        if dense:
            for i in range(np.uint64(first), np.uint64(q)):
                k = np.uint64(mine[i]) ^ f
                hist[base + k] += one
                acc += k
            nval[row] += q - first
        else:
            c = 0
            for i in range(np.uint64(first * nb), np.uint64(q * nb)):
                if valid.size == 0 or ok[i]:
                    k = np.uint64(mine[i]) ^ f
                    hist[base + k] += one
                    acc += k
                    c += 1
            nval[row] += c
        sums[row] += np.int64(acc)
        if q >= n:
            break
        first = q
        cur = part[q]
    return outside


@njit(nogil=True, cache=True)
def rank_bins(hist, rows, ranks, order, bins):
    """For each ``j`` and ``c``: the bin of the 256-bin histogram ``hist[rows[j] * 256:]``
    that holds the sample of rank ``ranks[j, c]``. ``order[j]`` sorts ``ranks[j]``, so that
    one walk of the histogram finds every rank."""
    r = ranks.shape[1]
    for j in range(rows.size):
        base = rows[j] * 256
        below = np.int64(0)
        d = 0
        for c in range(r):
            col = order[j, c]
            rank = ranks[j, col]
            while d < 255 and rank >= below + hist[base + d]:
                below += hist[base + d]
                d += 1
            bins[j, col] = d


@njit(nogil=True, cache=True)
def add_rows(dst, src, rows):
    """``dst[g * 256:][:256] += src[g * 256:][:256]`` for each ``g`` of ``rows``."""
    for g in rows:
        base = g * 256
        for d in range(256):
            dst[base + d] += src[base + d]


@njit(nogil=True, cache=True)
def scatter_runs(rows, lengths, j, p, stop, background, keys, pos, out, owner, mine):
    """The keys of the recorded runs from run ``j`` (its first pixel ``p``) that start
    before pixel ``stop``, written at ``pos[group]`` (which moves on), one copy per run:
    :func:`scatter_labels` without reading the labels again. With an ``owner`` per group
    (size 0: every group), only the runs of the groups whose owner is ``mine``. Returns the
    next ``(j, p)``."""
    every = owner.size == 0
    while j < rows.size and p < stop:
        g = np.int64(rows[j])
        length = np.uint64(lengths[j])
        if g >= 0 and g != background and (every or owner[g] == mine):
            at = np.uint64(pos[g])
            src = np.uint64(p)
            for i in range(length):
                out[at + i] = keys[src + i]
            pos[g] = np.int64(at + length)
        p += np.int64(length)
        j += 1
    return j, p


@njit(nogil=True, cache=True)
def band_layout(size, bands, first, last, n, present, pos, edges, zones, order, start):
    """Where the keys of :func:`scatter_select_bands` go, for zones ``present`` (``n`` valid
    samples, pixels ``first`` to ``last - 1``) in ``bands`` bands of ``size`` pixels.

    Writes ``edges`` (``bands + 1``: the bands' pixel bounds), ``order`` (the zones by the
    band they end in, stably), ``zones`` (``bands + 1``: the first zone in that order of
    each band), ``start`` (each zone's first key in the buffer, in that order) and
    ``pos[present[j]]`` (the same, per label). Zones ending in the same band share a
    buffer of ``cap`` keys; a zone starts at most ``lag`` bands before it ends, so
    ``lag + 1`` buffers used in turn never hold two live bands' zones. When those buffers
    would hold every key, one band and one buffer (``bands`` of 1). Returns ``(bands,
    cap, lag)``: the buffer ``out`` of :func:`scatter_select_bands` takes ``(lag + 1) *
    cap`` keys."""
    m = first.size
    total = 0
    for j in range(m):
        total += n[j]
    for _attempt in range(2):
        lag = 0
        zones[: bands + 1] = 0
        for j in range(m):
            # the band of pixel p: the largest b with b * size // bands <= p
            end = (last[j] * bands - 1) // size
            lag = max(lag, end - ((first[j] + 1) * bands - 1) // size)
            zones[end + 1] += 1
        for b in range(bands):
            zones[b + 1] += zones[b]
        # a counting sort of the zones by band, stable; each band's keys in a row
        fill = zones[:bands].copy()
        cap = 0
        for j in range(m):
            end = (last[j] * bands - 1) // size
            order[fill[end]] = j
            fill[end] += 1
        for b in range(bands):
            keys = 0
            for t in range(zones[b], zones[b + 1]):
                keys += n[order[t]]
            cap = max(cap, keys)
        if bands == 1 or (lag + 1) * cap < total:
            break
        bands = 1  # the zones span the image: one band, one buffer of every key
    for b in range(bands + 1):
        edges[b] = b * size // bands
    for b in range(bands):
        at = (b % (lag + 1)) * cap
        for t in range(zones[b], zones[b + 1]):
            j = order[t]
            start[t] = at
            pos[present[j]] = at
            at += n[j]
    return bands, cap, lag


@njit(nogil=True, cache=True)
def scatter_select_bands(
    labels,
    lo,
    background,
    nb,
    keys,
    valid,
    edges,
    runs,
    rows,
    lengths,
    owner,
    mine,
    pos,
    out,
    zones,
    start,
    sizes,
    order,
    ranks,
    picked,
    sums,
    flip,
):
    """Band after band of pixels (``edges``): their valid keys written zone by zone at
    ``pos``, then the zones ``order[zones[b]:zones[b + 1]]``, which end in the band, read by
    :func:`select_ranks` into ``picked`` and ``sums`` (rows in the zones' own order, as
    ``ranks``): the zone ``order[t]`` has its ``sizes[order[t]]`` keys at
    ``out[start[t]:]``, one zone after the other within a band (:func:`band_layout`).

    The keys are written from the runs :func:`count_labels` recorded (``rows`` and
    ``lengths``, every run of the image; a run goes with the band it starts in; with an
    ``owner`` per group, only the runs of the groups ``mine`` owns), or when
    ``rows`` is empty by :func:`scatter_labels` from the labels (``runs``: the image's runs
    of one label)."""
    total = labels.size
    r = ranks.shape[1]
    most = 1
    for b in range(edges.size - 1):
        most = max(most, zones[b + 1] - zones[b])
    offsets = np.empty(most + 1, np.int64)
    wanted = np.empty((most, r), ranks.dtype)  # a band's zones' ranks, and what they pick
    got = np.empty((most, r), picked.dtype)
    got_sums = np.empty(most if sums.size else 0, np.int64)
    j = 0
    p = 0
    for b in range(edges.size - 1):
        a = edges[b]
        z = edges[b + 1]
        if rows.size:
            j, p = scatter_runs(rows, lengths, j, p, z, background, keys, pos, out, owner, mine)
        else:
            band_runs = max(1, runs * (z - a) // total)
            scatter_labels(labels, lo, background, nb, keys, valid, a, z, pos, out, band_runs)
        j0 = zones[b]
        k = zones[b + 1] - j0
        if k == 0:
            continue
        for t in range(k):
            offsets[t] = start[j0 + t]
            wanted[t] = ranks[order[j0 + t]]
        offsets[k] = start[j0 + k - 1] + sizes[order[j0 + k - 1]]
        select_ranks(out, offsets, wanted, 0, k, got, got_sums, flip)
        for t in range(k):
            picked[order[j0 + t]] = got[t]
            if sums.size:
                sums[order[j0 + t]] = got_sums[t]
