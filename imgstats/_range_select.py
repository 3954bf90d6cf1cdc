"""A one-question answer for in-memory arrays: a predicted-range select, no summary.

:func:`imgstats.compute` on a numpy float32, float64 or 32- or 64-bit integer array
(:data:`TYPES`) that asks only for ``min``, ``max``, ``count``, ``median``, percentiles
(any method, one or several bands), ``mean`` and ``sum`` (an exact sum fused into the same
pass: an integer's keys in two words per band, a float's significands per bit position,
see :func:`_float_total`), does not build the mergeable
:class:`~imgstats.summary.Summary`: a numpy array has no cache (every ``compute`` call reads
it again), so nothing would ever reuse the summary's 65,536-bin table of each band, and
filling it costs a dependent load-add-store per sample (the table is not in L1). Instead:

1. a strided look at :data:`SAMPLE` samples predicts, for every wanted rank, a key interval
   that holds it (:data:`SIGMAS` standard deviations of a binomial rank on either side);
2. one pass (:func:`imgstats._select_kernels.select_stripe`, a stripe per core, the
   stripes taking turns at chunks of the array) counts per band the NaN, the smallest and
   largest key, the keys below each interval, and keeps the keys inside them (at most 1 /
   :data:`KEEP_SHARE` of the samples);
3. each wanted rank is checked to lie inside its interval, and read from the few kept keys,
   sorted, by :func:`imgstats.summary.value_of_sorted`: the same reading as the summary's, so
   the answer is the summary path's to the last bit (``numpy.percentile`` of the valid
   samples, NaN ignored).

When the prediction misses, the kept keys would exceed their bound, or anything else is
unusual (no valid sample, a scaled reading), :func:`answer` returns ``None`` and the caller
builds the summary as always: never a wrong answer, never unbounded memory. Files, streams
and dask blocks always build the summary, which merges across blocks and is cached.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from ._lazy import lazy_module
from .functions import Function, parse_function
from .summary import BandStats, float_key_constants, float_keys, value_of_sorted

_kernels = lazy_module("imgstats._select_kernels")
_plan = lazy_module("imgstats.io._plan")

#: Arrays from this many samples are answered by the select (smaller ones: the summary, which
#: is as fast there and needs no prediction).
MIN_SAMPLES = 1 << 18
#: Samples of the strided look that predicts the intervals.
SAMPLE = 1 << 16
#: Standard deviations of a binomial rank on either side of a predicted rank.
SIGMAS = 3.5
#: The kept keys of a band may be at most 1/this of its samples, else the summary answers.
KEEP_SHARE = 8
#: Sub-bins of each interval that the scan counts its kept keys in: a rank is then selected
#: from the keys of one sub-bin, not from all the kept keys (a serial part of the question).
#: 4096 give a float64 interval around zero (every exponent) about one sub-bin per exponent.
SUBBINS = 4096
#: Sub-bins of all the intervals of a band at most (fewer per interval when there are many).
SUBBIN_BUDGET = 1 << 16
#: The types the select answers: floats, and the integers wider than 16 bits (8- and 16-bit
#: ones are counted in a table of every value, which is faster).
TYPES = tuple(map(np.dtype, ["float32", "float64", "int32", "uint32", "int64", "uint64"]))
#: The functions the select answers (``percentile`` includes ``median``).
KINDS = frozenset({"min", "max", "count", "percentile"})
#: With ``mean`` and ``sum``: an exact sum fused into the same pass (an integer's, two int64
#: words per band; a float's, a table of int64 per bit position, see :func:`_float_total`).
SUM_KINDS = KINDS | {"mean", "sum"}
#: The most samples a band may have for those words not to wrap around.
MAX_SUMMED = 1 << 31


def eligible(plan, funcs: list[Function]) -> bool:
    """Whether ``plan`` is a plain in-memory float array and ``funcs`` need no summary."""
    return (
        plan.kind == "array"
        and plan.transform is None
        and (plan.valid is None or not plan.valid.active)
        and plan.mask is None
        and _eligible_pixels(plan.pixels, funcs)
    )


def _eligible_pixels(arr, funcs: list[Function]) -> bool:
    """Whether the select answers ``funcs`` of the samples ``arr`` (see :func:`eligible`)."""
    return (
        type(arr) is np.ndarray  # not a masked array: its mask counts
        and arr.dtype in TYPES
        and arr.dtype.isnative
        and arr.ndim in (2, 3)
        and arr.size >= MIN_SAMPLES
        and all(f.kind in SUM_KINDS for f in funcs)
        and not any(f.scaled for f in funcs)
        and (
            arr.size // _bands_of(arr) < MAX_SUMMED
            or not any(f.kind in ("mean", "sum") for f in funcs)
        )
    )


def _bands_of(arr: np.ndarray) -> int:
    """The bands of a ``(y, x)`` or ``(y, x, band)`` array."""
    return arr.shape[2] if arr.ndim == 3 else 1


def of_array(arr: np.ndarray, func) -> tuple[bool, object]:
    """``compute(arr, func)`` of a plain numpy array asked nothing else (no band, region,
    method or option), straight to the select: ``(tried, answer)``, ``answer`` ``None`` when
    the summary must answer, ``tried`` ``False`` when the select was not for it.

    The read plan, the region, the options and the band selection of such a question change
    nothing (one band of a 2-D array, every band of a 3-D one: an array's bands are numbered,
    none is alpha), and their Python, run with the caches the previous pass flushed, cost a
    12 MP float32 p99 0.08 to 0.15 ms a call (one core): time during which the second core
    waits.
    """
    if type(arr) is not np.ndarray or arr.ndim not in (2, 3):
        return False, None
    funcs = [parse_function(f) for f in (func if isinstance(func, (list, tuple)) else [func])]
    if not _eligible_pixels(arr, funcs):
        return False, None
    values = answer(arr, funcs, [tuple(range(_bands_of(arr)))])
    if values is None:
        return True, None
    if isinstance(func, (list, tuple)):
        return True, {f.name: v for f, v in zip(funcs, values[0], strict=True)}
    return True, values[0][0]


def answer(arr: np.ndarray, funcs: list[Function], selections: list[tuple[int, ...]]):
    """``funcs`` of each selection (a tuple of band indices, pooled) of the samples ``arr``
    (an :func:`eligible` plan's pixels), or ``None``.

    Returns
    -------
    list of list or None
        ``[[value of f for f in funcs] for each selection]``, each value as
        :meth:`Summary.compute <imgstats.summary.Summary.compute>` gives it; ``None`` when the
        summary must answer (a missed prediction, too many kept keys, no valid samples).
    """
    nb = _bands_of(arr)
    qs = sorted({f.q / 100 for f in funcs if f.q is not None})
    npix = arr.size // nb
    stride = max(1, npix // SAMPLE)
    sels = list(dict.fromkeys(selections))
    # one look per core, each at a share of the samples, run at once like the scan: the
    # look's sampling (a cache miss per sample) and its select would be a serial part
    stripes = _stripes(arr)
    nlooks = len(stripes) if arr.flags.c_contiguous else 1
    ends = _key_constants(arr.dtype)[5:]
    whole = stride == 1 and nlooks == 1
    sigmas = _look_sigmas(nlooks)

    if not qs:  # min, max, count (and an integer's mean, sum): nothing to predict
        wanted = dict.fromkeys(sels, [])
    elif arr.flags.c_contiguous:
        wanted = _look(arr, nb, qs, sels, stride, nlooks, whole, sigmas)
    else:
        wanted = {}
        for sel in sels:
            k = _sample(arr, nb, stride, sel)
            wanted[sel] = None if k.size < 2 else _intervals(k, qs, ends, whole, sigmas)
    if any(ivs is None for ivs in wanted.values()):
        return None  # nothing to predict from (all NaN, as a rule), or too wide
    per_band = [
        _merge([iv for sel, ivs in wanted.items() if c in sel for iv in ivs]) for c in range(nb)
    ]
    summed = any(f.kind in ("mean", "sum") for f in funcs)
    scanned = _scan(arr, nb, per_band, stripes, summed)
    if scanned is None:
        return None
    out = []
    for sel in selections:
        view = _Ranks(arr.dtype, scanned, sel, wanted[sel], per_band)
        if view.size == 0:
            return None  # the summary raises NoValidSamples (or counts 0) as it words it
        # first the ranks each reading looks at, then one select of them all, then the
        # readings themselves: the interpolation is value_of_sorted's, the summary's own
        ranked = [f for f in funcs if f.kind not in ("mean", "sum")]
        for f in ranked:
            value_of_sorted(view, f)
        if not view.resolve():
            return None
        stats = _summed(arr.dtype, scanned, sel) if summed else None
        out.append([_reading(view, stats, f) for f in funcs])
    return out


def _look(arr, nb: int, qs, sels, stride: int, nlooks: int, whole: bool, sigmas: float):
    """``{selection: the union of its looks' intervals}`` of a C-contiguous ``arr``, a
    selection ``None`` when a look has nothing to predict from or would keep too much:
    ``nlooks`` looks at once (every ``stride``-th pixel, from a pixel of their own), each
    one kernel call per selection (:func:`imgstats._select_kernels.look_intervals`)."""
    kdt, top, inf, neg, pos, ninf, pinf = _key_constants(arr.dtype)
    consts = (top, ~top | top, inf, neg, pos, ninf, pinf)
    bits = arr.reshape(-1).view(kdt)
    qarr = np.array(qs, np.float64)
    size = -(-(arr.size // nb) // (stride * nlooks))
    bands = [np.array(sel, np.int64) for sel in sels]
    keys = [np.empty(len(sel) * size, kdt) for _ in range(nlooks) for sel in sels]
    out = np.empty((nlooks, len(sels), len(qs), 2), kdt)
    found = np.empty((nlooks, len(sels)), np.int64)
    look = _kernels.look_intervals
    most = 1 / KEEP_SHARE

    def one(i):
        for s in range(len(sels)):
            found[i, s] = look(
                bits,
                nb,
                i * stride,
                stride * nlooks,
                bands[s],
                consts,
                qarr,
                sigmas,
                whole,
                most,
                keys[i * len(sels) + s],
                out[i, s],
            )

    _plan.on_threads(one, [(i,) for i in range(nlooks)])
    wanted = {}
    for s, sel in enumerate(sels):
        if (found[:, s] < 2).any():
            wanted[sel] = None
        else:
            wanted[sel] = _merge([tuple(iv) for iv in out[:, s].reshape(-1, 2).tolist()])
    return wanted


def _summed(dtype, scanned, sel) -> BandStats:
    """The count and exact sum of the samples of the bands ``sel``, as the summary's
    :class:`~imgstats.summary.BandStats` reads them (a mean, a sum): for floats, the exact
    sum of the finite samples and whether +inf and -inf are present (the reading needs no
    more of them)."""
    dt = np.dtype(dtype)
    sums = scanned.sums
    count = sum(scanned.npix - int(scanned.nan[c]) for c in sel)
    zeros = np.zeros(1, np.int64)
    if dt.kind == "f":
        width = 8 * dt.itemsize
        posinf = any(int(scanned.kmax[c]) == int(_PINF[width]) for c in sel)
        neginf = any(int(scanned.kmin[c]) == int(_NINF[width]) for c in sel)
        total = sum((_float_total(dt, sums[c]) for c in sel), Fraction(0))  # no int64 wrap
        return BandStats(dt.str, count, 0, zeros, 0, 0, total, int(posinf), int(neginf))
    keys = sum((int(sums[c, 1]) << 32) + int(sums[c, 0]) for c in sel)
    total = Fraction(keys - int(scanned.flip) * count)
    return BandStats(dt.str, count, 0, zeros, 0, 0, total)


def _float_total(dtype, table: np.ndarray) -> Fraction:
    """The exact sum of the finite float samples of one band whose table
    :func:`imgstats._select_kernels.select_stripe` filled (the stripes' tables added): slot
    ``p`` counts units of ``2**p`` times the smallest subnormal; a few slots are not zero."""
    total = 0
    for p in np.flatnonzero(table).tolist():
        total += int(table[p]) << p
    return Fraction(total, 1 << (149 if dtype.itemsize == 4 else 1074))


def _reading(view, stats, f):
    """``f`` of a selection: its mean or sum from ``stats``, else read from its ranks."""
    if f.kind == "mean":
        return stats.mean()
    if f.kind == "sum":
        return stats.sum()
    return value_of_sorted(view, f)


def _subbins(m: int) -> int:
    """Sub-bins per interval when a band has ``m`` intervals: :data:`SUBBINS`, or a power
    of two within :data:`SUBBIN_BUDGET` for all of them (at least 16)."""
    return max(16, min(SUBBINS, 1 << ((SUBBIN_BUDGET // max(1, m)).bit_length() - 1)))


def _shift(width: int, nsub: int) -> int:
    """The shift that maps the kept keys of an interval ``width`` wide (``k - lo``, from 1 to
    ``width - 1``) to one of ``nsub`` (a power of two) sub-bins."""
    return max(0, width.bit_length() - nsub.bit_length() + 1)


def _stripes(arr: np.ndarray) -> list[tuple[int, int]]:
    """The row stripes the looks and the scan take, one per core
    (:func:`imgstats.io._plan.row_stripes`)."""
    return _plan.row_stripes(arr, copies=False)  # each stripe copies its own pieces


def _sample(arr: np.ndarray, nb: int, stride: int, sel, start: int = 0) -> np.ndarray:
    """The keys of the valid samples of bands ``sel`` of every ``stride``-th pixel from pixel
    ``start`` (of a C-contiguous array; else of a grid of about as many), in any order."""
    kdt, top, inf, neg, pos, _, _ = _key_constants(arr.dtype)
    if not arr.flags.c_contiguous:  # a grid of rows and columns: no copy of the image
        step = max(1, math.isqrt(stride))
        look = np.ascontiguousarray(arr[::step, ::step].reshape(-1, nb)[:, list(sel)])
        if arr.dtype.kind != "f":
            return look.reshape(-1).view(kdt) ^ pos
        return float_keys(look.view(kdt)[~np.isnan(look)])
    bits = arr.reshape(-1).view(kdt)
    out = np.empty(len(sel) * (-(-arr.size // nb // stride)), kdt)
    bands = np.array(sel, np.int64)
    n = _kernels.sample_keys(bits, nb, start, stride, bands, top, ~top | top, inf, neg, pos, out)
    return out[:n]


@functools.cache
def _look_sigmas(nlooks: int) -> float:
    """The margin of each of ``nlooks`` independent looks whose union of intervals misses a
    rank (on one side) as rarely as one look at :data:`SIGMAS`: the union misses only when
    every look misses, so each may miss with ``p ** (1 / nlooks)``, ``p`` the one look's.

    Two looks of half the samples each take 2.16 sigmas of their own; their union is then
    about 1.1 times one look's width, where 3.5 sigmas each made it 1.6 times (the kept keys
    cost the scan: 7.3 -> 8.6 ms at 12 MP for a float32 median, one core).
    """
    if nlooks <= 1:
        return SIGMAS
    from statistics import NormalDist  # statistics loads random: a first small call needs none

    normal = NormalDist()
    return normal.inv_cdf(1 - (1 - normal.cdf(SIGMAS)) ** (1 / nlooks))


def _intervals(k: np.ndarray, qs, ends, whole: bool = False, sigmas: float = SIGMAS):
    """The merged key intervals ``[(lo, hi)]`` predicted to hold the quantiles ``qs`` of the
    samples whose sample keys are ``k`` (any order), ``sigmas`` standard deviations of the
    binomial rank on either side; ``None`` when they would keep too many. ``ends``: the
    smallest and largest valid key, where an interval at an extreme ends. ``whole``: ``k``
    are all the samples, whose ranks need no margin but the methods'."""
    m = k.size
    ranks = []
    share = 0.0
    for p in qs:
        r = p * (m - 1)
        half = 2 if whole else sigmas * math.sqrt(m * p * (1 - p)) + 2
        a, b = math.floor(r - half), math.ceil(r + half)
        ranks.append((a, b))
        share += (min(b, m - 1) - max(a, 0) + 1) / m
    if share > 1 / KEEP_SHARE:
        return None
    # the sample's order statistics at the bounds: a select, not a sort
    at = order_statistics(k, {x for ab in ranks for x in ab if 0 < x < m - 1})
    ivs = []
    for a, b in ranks:
        # open-ended at the extremes, up to the infinities' keys (a NaN's lies beyond them)
        lo = int(ends[0]) if a <= 0 else at[a]
        hi = int(ends[1]) if b >= m - 1 else at[b]
        ivs.append((lo, hi))
    return _merge(ivs)


def order_statistics(keys: np.ndarray, ranks) -> dict[int, int]:
    """``{rank: key}`` for each of ``ranks`` (from 0) among the unsigned ``keys`` (any order,
    left as they are), by a radix select (:func:`imgstats._select_kernels.select_keys`)."""
    ranks = sorted(ranks)
    if not ranks:
        return {}
    found = np.empty(len(ranks), keys.dtype)
    _kernels.select_keys(np.ascontiguousarray(keys), np.array(ranks, np.int64), found)
    return dict(zip(ranks, found.tolist(), strict=True))


def _merge(ivs):
    """Sorted, disjoint intervals covering ``ivs``."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ivs):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _scan(arr: np.ndarray, nb: int, per_band, stripes, summed: bool = False):
    """One pass of :func:`select_stripe` over the row ``stripes``, at once: ``(count of
    samples, nan, kmin, kmax, below, eq, kept keys per band and interval (a list of arrays,
    one per stripe), their counts per sub-bin (nb, m, nsub), nsub, sums, flip)``, or
    ``None`` when a band kept more than its bound. With ``summed``, ``sums`` holds each
    band's exact sum, else it is empty: an integer's sum of keys as two words (the low and
    high 32 bits of each key summed; ``flip``: what a key adds to its sample), a float's
    table of significands per bit position (:func:`_float_total`)."""
    kdt, top, inf, neg, pos, ninf, _ = _key_constants(arr.dtype)
    m = max(1, max(len(ivs) for ivs in per_band))
    if m > 255:  # the kernel tags a sample's interval in a byte
        return None
    los = np.zeros((nb, m), kdt)
    widths = np.zeros((nb, m), kdt)
    shifts = np.zeros((nb, m), kdt)
    nsub = _subbins(m)
    ms = np.array([len(ivs) for ivs in per_band], np.int64)
    for c, ivs in enumerate(per_band):
        for j, (lo, hi) in enumerate(ivs):
            los[c, j], widths[c, j] = lo, hi - lo
            shifts[c, j] = _shift(hi - lo, nsub)

    step = _plan.copy_rows(arr)  # rows of a piece that is copied (all when none is)
    slots = 2 if arr.dtype.kind != "f" else _float_slots(arr.dtype)
    # every stripe's counts in one array per count, made here: a stripe's job is its kernel
    # calls only, and the stripes' counts add up in one numpy call each (Python between
    # the threads' kernels is a serial part of the question, and the GIL's)
    ns = len(stripes)
    row = arr[:1].size // nb  # pixels per row
    # an array read in place: the stripes take turns at its chunks, whatever their rows
    whole = arr.reshape(-1).view(kdt) if step >= arr.shape[0] and ns > 1 else None
    if whole is None:
        cap = max((b - a) * row for a, b in stripes) // KEEP_SHARE + 1
    else:
        chunk = _kernels.CHUNK
        chunks = -(arr.size // nb // -chunk)  # rounded up
        most = -(chunks // -ns)  # of a stripe, at most
        cap = most * chunk // KEEP_SHARE + 1
    nan = np.zeros((ns, nb), np.int64)
    kmin = np.full((ns, nb), ~top | top, kdt)
    kmax = np.zeros((ns, nb), kdt)
    below = np.zeros((ns, nb, m), np.int64)
    eq = np.zeros((ns, nb, m, 2), np.int64)
    kept = np.zeros((ns, nb), np.int64)
    out = np.empty((ns, nb, cap), kdt)
    which = np.empty((ns, nb, cap), np.uint8)
    sub = np.zeros((ns, nb, m, nsub), np.int64)
    sums = np.zeros((ns, nb if summed else 0, slots), np.int64)
    # band c's kept keys on stripe i are rows[i][c], grouped by interval on the stripe's
    # thread when it has several: interval j's are rows[i][c][starts[i, c, j]:...[j + 1]]
    # (into an array of the keys kept, not of ``cap``: freeing a second array as large as
    # ``out`` made the heap give its memory back, 0.25 ms a call, and fault it in again)
    starts = np.zeros((ns, nb, m + 1), np.int64)
    several = [c for c in range(nb) if ms[c] > 1]
    rows = [list(out[i]) for i in range(ns)]
    limits = (top, ~top | top, inf, ninf, neg, pos, los, widths, ms)
    select_stripe = _kernels.select_stripe
    group_kept = _kernels.group_kept
    from ._blocks import as_pixels

    def stripe(i, a, b):
        counts = (nan[i], kmin[i], kmax[i], below[i], eq[i], kept[i], out[i], which[i], sums[i])
        if whole is not None:
            select_stripe(whole, nb, limits, counts, shifts, sub[i], i, ns)
        else:
            for r in range(a, b, step):  # the counts add, keys append
                bits = as_pixels(arr[r : min(b, r + step)]).reshape(-1).view(kdt)
                select_stripe(bits, nb, limits, counts, shifts, sub[i], 0, 1)
        n = kept[i]
        if several and n.max() <= cap:
            grouped = np.empty((nb, n.max()), kdt)
            for c in several:
                group_kept(out[i, c, : n[c]], which[i, c, : n[c]], grouped[c], starts[i, c])
                rows[i][c] = grouped[c]

    _plan.on_threads(stripe, [(i, a, b) for i, (a, b) in enumerate(stripes)])
    if kept.max() > cap:
        return None
    single = ms <= 1
    starts[:, single, 1] = kept[:, single]  # one interval (or none): its keys as kept
    if ns > 1:
        nan, below, eq, sub, sums = (x.sum(axis=0) for x in (nan, below, eq, sub, sums))
        kmin, kmax = kmin.min(axis=0), kmax.max(axis=0)
    else:
        nan, kmin, kmax, below, eq = nan[0], kmin[0], kmax[0], below[0], eq[0]
        sub, sums = sub[0], sums[0]
    npix = arr.size // nb
    return _Scanned(npix, nan, kmin, kmax, below, eq, rows, starts, sub, nsub, sums, pos)


def _float_slots(dtype) -> int:
    """The slots of a band's float sum table (one per bit position a block reaches)."""
    if dtype.itemsize == 4:
        return _kernels.FLOAT32_SLOTS
    return _kernels.FLOAT64_SLOTS


class _Scanned(NamedTuple):
    """What :func:`_scan` found, summed over the stripes (see there)."""

    npix: int
    nan: np.ndarray
    kmin: np.ndarray
    kmax: np.ndarray
    below: np.ndarray
    eq: np.ndarray
    rows: list
    starts: np.ndarray
    sub: np.ndarray
    nsub: int
    sums: np.ndarray
    flip: np.generic


def _kept_keys(scanned, c: int, j: int) -> list[np.ndarray]:
    """The kept keys of band ``c``'s interval ``j``, one array per stripe, in the order met."""
    rows, starts = scanned.rows, scanned.starts
    return [keys[c][starts[i, c, j] : starts[i, c, j + 1]] for i, keys in enumerate(rows)]


#: The keys of -inf and +inf of each float width: every valid key lies between them.
_NINF = {32: np.uint32(0x007FFFFF), 64: np.uint64(0x000FFFFFFFFFFFFF)}
_PINF = {32: np.uint32(0xFF800000), 64: np.uint64(0xFFF0000000000000)}


@functools.cache  # asked a few times a call, by dtype (hashable); its scalars are immutable
def _key_constants(dtype) -> tuple:
    """``(kdt, top, inf, neg, pos, ninf, pinf)`` of a float or integer type, as
    :func:`imgstats._select_kernels.select_stripe` takes them: the unsigned type of its bits,
    their top bit, the largest valid magnitude (a float NaN's lies above +inf's; integers
    have no NaN), the xor that makes a key of bits with the top bit set and of the others,
    and the smallest and largest valid key."""
    dt = np.dtype(dtype)
    width = 8 * dt.itemsize
    kdt = np.dtype(f"u{dt.itemsize}")
    top = kdt.type(1 << (width - 1))
    ones = kdt.type((1 << width) - 1)
    if dt.kind == "f":
        inf = float_key_constants(dt)[2]
        return kdt, top, inf, ones, top, _NINF[width], _PINF[width]
    flip = top if dt.kind == "i" else kdt.type(0)  # signed: the sign bit flipped
    return kdt, top, ones, flip, flip, kdt.type(0), ones


class _Ranks:
    """The sorted valid samples of a selection as :func:`value_of_sorted` reads them: only
    the smallest, the largest and the ranks inside the kept intervals are there.

    It is read twice: first every rank asked is recorded (and answered by the smallest
    sample), then :meth:`resolve` selects them all at once from the kept keys (one
    ``numpy.partition`` per interval), then the same readings get the true samples.
    """

    def __init__(self, dtype, scanned, sel, intervals, per_band):
        self.dtype = np.dtype(dtype)
        # a key's bits are xor-ed back as they were made: with pos when its top bit is set
        _, top, _, neg, pos, _, _ = _key_constants(self.dtype)
        self._unkey = (int(top), int(neg), int(pos))
        self.size = int(sum(scanned.npix - int(scanned.nan[c]) for c in sel))
        self._known = {0: int(min(int(scanned.kmin[c]) for c in sel))}
        self._known[self.size - 1] = int(max(int(scanned.kmax[c]) for c in sel))
        self._asked: set[int] = set()
        # per interval: the rank of its first key, the count of keys equal to lo, the keys
        # strictly between lo and hi (unordered) when a band's interval is wider, their
        # count, the count of keys equal to hi, and, when every band's interval is [lo, hi],
        # the counts of its keys per sub-bin with the sub-bins' shift and the (band,
        # interval) pairs whose kept keys they are (the keys are read only where a rank is)
        self._scanned = scanned
        self._windows = []
        for lo, hi in intervals:
            base = nlo = nhi = 0
            parts = []
            exact = []
            for c in sel:
                # the band's interval [a, b] holds [lo, hi]; the band counted its keys equal
                # to a and to b, and kept those strictly between
                j = next(j for j, (a, b) in enumerate(per_band[c]) if a <= lo and hi <= b)
                a, b = per_band[c][j]
                base += int(scanned.below[c, j])
                if (lo, hi) == (a, b):
                    nlo += int(scanned.eq[c, j, 0])
                    nhi += int(scanned.eq[c, j, 1]) if b != a else 0
                    exact.append((c, j))
                    continue
                ks = _kept_keys(scanned, c, j)
                if lo == a:
                    nlo += int(scanned.eq[c, j, 0])
                else:
                    base += int(scanned.eq[c, j, 0]) + sum(
                        int(np.count_nonzero(k < lo)) for k in ks
                    )
                    nlo += sum(int(np.count_nonzero(k == lo)) for k in ks)
                if hi == b and b != a:
                    nhi += int(scanned.eq[c, j, 1])
                elif hi != lo:
                    nhi += sum(int(np.count_nonzero(k == hi)) for k in ks)
                parts.extend(k[(k > lo) & (k < hi)] for k in ks)
            if parts:  # a band's sub-bins count other keys too: select among all
                parts.extend(k for c, j in exact for k in _kept_keys(scanned, c, j))
                size, bins = sum(k.size for k in parts), None
            else:  # every band's interval is [lo, hi]: the same width, the same shift
                cum = np.cumsum(sum(scanned.sub[c, j] for c, j in exact))
                size, bins = int(cum[-1]), (cum, _shift(hi - lo, scanned.nsub), exact)
            self._windows.append((base, lo, nlo, parts, size, hi, nhi, bins))

    def resolve(self) -> bool:
        """Select the recorded ranks from the kept keys; ``False`` if one lies outside."""
        asked = sorted(self._asked - self._known.keys())
        for base, lo, nlo, parts, size, hi, nhi, bins in self._windows:
            inner = []
            for r in asked:
                if base <= r < base + nlo:
                    self._known[r] = lo
                elif base + nlo <= r < base + nlo + size:
                    inner.append(r - base - nlo)
                elif base + nlo + size <= r < base + nlo + size + nhi:
                    self._known[r] = hi
            first = base + nlo
            if inner and bins is None:
                chosen = np.partition(np.concatenate(parts), inner)[inner]
                self._known.update(zip([first + i for i in inner], map(int, chosen), strict=True))
            elif inner:
                self._from_subbins(first, lo, hi, inner, *bins)
        return all(r in self._known for r in asked)

    def _from_subbins(self, first, lo, hi, inner, cum, shift, sources):
        """Select ranks ``inner`` (from ``first``) of the kept keys in (lo, hi) of the
        ``sources`` (band, interval), from the keys of the sub-bins that hold them (``cum``:
        the cumulated counts per sub-bin): a select among a few hundred keys, not among every
        kept one."""
        parts = [k for c, j in sources for k in _kept_keys(self._scanned, c, j)]
        where = np.searchsorted(cum, inner, side="right").tolist()
        kdt = parts[0].dtype
        copy = _kernels.subbin_keys
        for s in sorted(set(where)):
            start = int(cum[s - 1]) if s else 0
            size = int(cum[s]) - start
            # the sub-bin's keys of every stripe, one kernel call each: a numpy filter took
            # three passes over all the kept keys (0.07 -> 0.02 ms for 240K float32 keys)
            mine = np.empty(size + 64 // kdt.itemsize, kdt)
            at = 0
            for k in parts:
                at = copy(k, kdt.type(lo), kdt.type(shift), kdt.type(s), mine, at)
            if at != size:  # never so (the pass counted them per sub-bin as it kept them):
                continue  # its ranks stay unknown, and the summary answers
            kth = [i - start for i, w in zip(inner, where, strict=True) if w == s]
            chosen = np.partition(mine[:size], kth)[kth]
            self._known.update(zip([first + start + k for k in kth], map(int, chosen), strict=True))

    def _key(self, rank: int) -> int:
        key = self._known.get(rank)
        if key is None:
            self._asked.add(rank)
            return self._known[0]
        return key

    def __getitem__(self, index):
        if isinstance(index, (list, tuple, np.ndarray)):
            return self._values([self._key(self._rank(i)) for i in index])
        return self._values([self._key(self._rank(index))])[0]

    def _values(self, keys: list[int]) -> np.ndarray:
        """The samples of ``keys``, as :func:`~imgstats.summary.keys_to_values` maps them but
        with Python's integers: a reading asks for one or two, and numpy's calls on so few
        cost more than the bits."""
        top, neg, pos = self._unkey
        bits = [k ^ (pos if k & top else neg) for k in keys]
        return np.array(bits, f"u{self.dtype.itemsize}").view(self.dtype)

    def _rank(self, index) -> int:
        index = int(index)
        return index + self.size if index < 0 else index
