"""The grouped core: one map-reduce over (values, validity, group id), a summary per group.

Every question about many groups of samples at once -- the zones of a label image, a layer
of polygons, the cells of a reduction along some dims -- is the same one: each sample carries
a group id, and each group wants exact statistics of its valid samples. :class:`Groups` is
the mergeable answer, and its representation adapts to each group's size:

* a group of at most :data:`SMALL_GROUP` valid samples keeps their order-preserving *keys*
  (1 to 8 bytes each, the width of the pixel type), group after group in one flat array
  with offsets, as a counting sort by group id lays them out. Every statistic is read from
  them exactly: its order statistics by sorting the group, its mean from an exact sum;
* a larger group becomes the image summary of today, a :class:`~imgstats.Summary` made by
  :func:`imgstats._blocks.summarize_block` from its samples: 2**8 or 2**16 bins whatever its
  size, refined by :func:`imgstats._blocks.refine_block` in another pass when a 32- or
  64-bit percentile needs it.

Memory therefore follows the samples (a few bytes each, for the small groups) and the
groups (a few words each), never groups x bins. Parts built from blocks merge with
:func:`merge_groups` in any order and grouping, and give the same answer: numpy's on each
group's valid samples (``numpy.percentile``'s linear method to the last bit, min and max of
the image's type, the exact mean rounded once to float64).

Walking the data (which blocks, where the group ids come from) is the caller's part: see
:mod:`imgstats.zones` (labels and polygons) and :mod:`imgstats.dims` (cells along dims).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from ._blocks import finish_refinements, summarize_block
from ._lazy import lazy_module
from .errors import InvalidOption, NoValidSamples
from .functions import parse_function
from .summary import (
    NeedsRefinement,
    Summary,
    float_key_constants,
    key_bits_of,
    keys_to_values,
)

__all__ = [
    "Groups",
    "SMALL_GROUP",
    "sample_keys",
    "group_samples",
    "group_labels",
    "group_runs",
    "groups_of_rows",
    "merge_groups",
    "read_groups",
    "key_dtype",
]

_k = lazy_module("imgstats._group_kernels")
_plan = lazy_module("imgstats.io._plan")

#: A group keeps its samples' keys up to this many valid samples, and becomes a histogram
#: summary beyond: a 16-bit histogram (512 KB) then costs no more than the keys it replaces.
SMALL_GROUP = 1 << 16
#: A label image's range is guessed from every ``size >> this``-th label.
_RANGE_SAMPLE_BITS = 12
#: Groups sorted per thread when reading: enough to pay for a task.
_GROUPS_PER_TASK = 1 << 14


def key_dtype(dtype) -> np.dtype:
    """The unsigned type of the keys of samples of ``dtype`` (as wide as the samples)."""
    dtype = np.dtype(dtype)
    key_bits_of(dtype)  # refuses complex, object...
    return np.dtype(f"u{max(1, dtype.itemsize)}")


def sample_keys(values: np.ndarray, in_place: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The order-preserving keys of 1-D ``values`` and their validity (size 0: all valid).

    NaN is the only invalid value here; other validity (nodata, masks) is the caller's.
    ``in_place``: the keys overwrite ``values`` (a native, contiguous array the caller owns
    and drops), so that a reduction holding its samples whole needs no second copy of them.
    """
    values = np.ascontiguousarray(values)
    dtype = values.dtype
    if not dtype.isnative:
        values = values.astype(dtype.newbyteorder("="))
        dtype = values.dtype
    none = np.zeros(0, bool)
    if dtype.kind == "b":
        return values.view(np.uint8), none
    if dtype.kind == "u":
        return values, none
    if dtype.kind == "i":
        unsigned = values.view(f"u{dtype.itemsize}")
        flip = unsigned.dtype.type(1 << (dtype.itemsize * 8 - 1))
        return np.bitwise_xor(unsigned, flip, out=unsigned if in_place else None), none
    kdt, top, inf = float_key_constants(dtype)
    bits = values.reshape(-1).view(kdt)
    keys = bits if in_place else np.empty_like(bits)
    jobs = [(bits[a:b], top, ~top | top, inf, keys[a:b]) for a, b in _stripes(bits.size, bits.size)]
    if not sum(_plan.on_threads(_k.float_sample_keys, jobs)):
        return keys, none  # no NaN: no validity to carry
    if not in_place:
        return keys, (bits & ~top) <= inf
    return keys, _finite_keys(keys, ~(top | inf), top | inf)


#: Keys compared at once by :func:`_finite_keys`: its temporaries stay this small.
_KEY_STRIPE = 1 << 20


def _finite_keys(keys: np.ndarray, lo, hi) -> np.ndarray:
    """Whether each float key lies between -inf's key ``lo`` and +inf's ``hi`` (not NaN),
    stripe by stripe: no temporary the size of ``keys``."""
    ok = np.empty(keys.size, bool)
    for a in range(0, keys.size, _KEY_STRIPE):
        part, out = keys[a : a + _KEY_STRIPE], ok[a : a + _KEY_STRIPE]
        np.greater_equal(part, lo, out=out)
        out &= part <= hi
    return ok


@dataclass
class Groups:
    """Exact, mergeable statistics of many groups of samples of one type.

    Attributes
    ----------
    dtype : numpy.dtype
        The samples' type.
    zones : numpy.ndarray
        int64 ids of the groups seen, sorted; a group whose samples were all invalid is here
        too, with no valid sample.
    offsets : numpy.ndarray
        int64, ``len(zones) + 1``: the keys of group ``zones[j]`` are
        ``keys[offsets[j]:offsets[j + 1]]`` (none for a group in :attr:`big`).
    keys : numpy.ndarray
        Unsigned order-preserving keys of the small groups' valid samples, unsorted.
    big : dict
        ``zone id -> Summary`` (one band) of each group of over :data:`SMALL_GROUP` samples.
    """

    dtype: np.dtype
    zones: np.ndarray
    offsets: np.ndarray
    keys: np.ndarray
    big: dict = field(default_factory=dict)

    @classmethod
    def empty(cls, dtype) -> Groups:
        return cls(
            np.dtype(dtype),
            np.zeros(0, np.int64),
            np.zeros(1, np.int64),
            np.zeros(0, key_dtype(dtype)),
        )

    @property
    def counts(self) -> np.ndarray:
        """Valid samples per group (in :attr:`zones` order)."""
        n = np.diff(self.offsets)
        if self.big:
            idx = np.searchsorted(self.zones, np.fromiter(self.big, np.int64, len(self.big)))
            n[idx] = [s.bands[0].count for s in self.big.values()]
        return n

    @property
    def nbytes(self) -> int:
        big = sum(s.nbytes for s in self.big.values())
        return int(self.zones.nbytes + self.offsets.nbytes + self.keys.nbytes + big)


def group_samples(values: np.ndarray, gid: np.ndarray, zone_ids: np.ndarray, valid=None) -> Groups:
    """The :class:`Groups` of one block of samples.

    Parameters
    ----------
    values : numpy.ndarray
        1-D samples.
    gid : numpy.ndarray
        int64, one per sample: an index into ``zone_ids``, or -1 for a sample of no group.
    zone_ids : numpy.ndarray
        int64 ids of the groups, sorted and distinct. Only the groups with a sample here
        are kept.
    valid : numpy.ndarray of bool, optional
        The caller's validity of each sample (nodata, masks); NaN is invalid whatever it says.
    """
    keys, valid = _keys_and_validity(values, valid)
    gid = np.ascontiguousarray(gid, np.int64).reshape(-1)
    jobs = _stripes(gid.size, keys.size)
    counts = _count(gid, 0, 1, valid, len(zone_ids), jobs)  # -1: outside every group
    present, offsets, out = _scatter(gid, 0, -1, 1, keys, valid, counts, jobs)
    return _promote(Groups(values.dtype, np.asarray(zone_ids, np.int64)[present], offsets, out))


#: Samples from which the counting sort of a block runs on every core.
_THREADED_SAMPLES = 1 << 21


def group_runs(values: np.ndarray, counts: np.ndarray, zone_ids: np.ndarray, valid=None) -> Groups:
    """The :class:`Groups` of samples already laid out group after group.

    ``values[:counts[0]]`` are the samples of ``zone_ids[0]``, the next ``counts[1]`` those
    of ``zone_ids[1]``, and so on (the layout a polygon rasterizer gathers): no group ids
    and no counting sort are needed. ``zone_ids`` are sorted and distinct; a group with no
    sample here is left out. ``valid`` as for :func:`group_samples`.
    """
    keys, nan_ok = sample_keys(np.asarray(values).reshape(-1))
    if valid is not None:
        valid = np.asarray(valid, bool).reshape(-1)
        valid = valid & nan_ok if nan_ok.size else valid
    elif nan_ok.size:
        valid = nan_ok
    counts = np.asarray(counts, np.int64)
    present = np.flatnonzero(counts)
    bounds = np.zeros(present.size + 1, np.int64)
    np.cumsum(counts[present], out=bounds[1:])
    if valid is not None and not valid.all():
        kept = np.zeros(valid.size + 1, np.int64)
        np.cumsum(valid, out=kept[1:])
        bounds = kept[bounds]
        keys = keys[valid]
    groups = Groups(np.dtype(values.dtype), np.asarray(zone_ids, np.int64)[present], bounds, keys)
    return _promote(groups)


def group_labels(
    values: np.ndarray, labels: np.ndarray, background, nb: int = 1, valid=None
) -> Groups:
    """The :class:`Groups` of a block whose pixel ``p`` (samples ``p * nb`` to ``p * nb + nb
    - 1`` of ``values``) is in the zone ``labels[p]``; ``background`` (or None) is no zone.

    Labels within a range of about the block's size are read by the kernels as they are (no
    array of group ids): one pass counts the samples per label, on every core, into the range
    of a sample of the labels (widened; a label outside it costs a second count), and one
    writes them label after label. Sparse labels (ids up to 2**63) go through
    ``numpy.unique``. ``valid`` (bool, the shape of ``values``) is the caller's validity of
    each sample (nodata); NaN is invalid whatever it says.
    """
    flat = np.ascontiguousarray(labels).reshape(-1)
    values = np.ascontiguousarray(values).reshape(-1)
    if not flat.size:
        return Groups.empty(values.dtype)
    flat = _native_labels(flat)
    lo, hi = _likely_range(flat)
    keys, valid = _keys_and_validity(values, valid)
    jobs = _stripes(flat.size, keys.size)
    counts = None
    if hi - lo <= flat.size + 1024:
        counts = _count(flat, lo, nb, valid, hi - lo + 1, jobs)
    if counts is None or counts[2]:  # labels outside the guess: their exact range
        lo, hi = _label_range(flat)
        if hi - lo > flat.size + 1024:
            return _sparse_labels(values, flat, background, nb, valid)
        counts = _count(flat, lo, nb, valid, hi - lo + 1, jobs)
    bg = -1  # no label: every label is at least lo
    if background is not None and lo <= background <= hi:
        bg = background - lo
        for c in counts[:2]:
            c[:, bg : bg + 1] = 0
    present, offsets, out = _scatter(flat, lo, bg, nb, keys, valid, counts, jobs)
    return _promote(Groups(values.dtype, present.astype(np.int64) + lo, offsets, out))


def label_select(values, labels, background, funcs, nb: int = 1, valid=None):
    """Every statistic of every label zone of 8- or 16-bit integer samples, the keys written
    and read band by band of pixels; ``None`` when this path does not apply (other types,
    other percentile methods, sparse labels; on several cores, masked samples, several
    bands or runs too short to record: the keys' path then writes and reads them on every
    core). On several cores each core takes a stripe of pixels (:func:`_banded_on_cores`).

    It applies to label images of zones of :data:`_ZONE_PIXELS` pixels or more on average
    (by the labels' range) in runs of :data:`_MEAN_RUN` or more (by a sample of them). The
    counting pass also finds each zone's first and last pixel. The zones are then read
    in the order they end: the pixels go band after band of :data:`_BAND_PIXELS`, each
    band's keys written zone by zone (:func:`_group_kernels.scatter_labels`), and the zones
    that end in the band are read at once (:func:`_group_kernels.select_ranks`) while their
    keys are in the cache. Zones that end in the same band share a buffer, which is used
    again a few bands later: a few MB of keys at a time rather than one fresh buffer of
    every key, which the system would clear page by page (6 ms for 50 MB). Label images
    whose zones span too many bands take one band: the keys' path, in one kernel call.

    Parameters and result as :func:`label_statistics`.
    """
    funcs = [parse_function(f) for f in funcs]
    values = np.ascontiguousarray(values).reshape(-1)
    flat = np.ascontiguousarray(labels).reshape(-1)
    dtype = np.dtype(values.dtype)
    if (
        dtype.kind not in "uib"
        or dtype.itemsize > 2
        or not flat.size
        or any(_needs_sort(f) for f in funcs)
    ):
        return None
    flat = _native_labels(flat)
    if not _long_runs(flat):
        return None
    jobs = _stripes(flat.size, values.size)
    if len(jobs) > 1 and (nb != 1 or valid is not None):
        return None  # several cores need the runs recorded: one valid sample per pixel
    lo, hi = _likely_range(flat)
    if (hi - lo + 1) * _ZONE_PIXELS > flat.size:  # many small zones: per zone costs rule
        return None
    keys, ok = _keys_and_validity(values, valid)
    found = None
    if hi - lo <= flat.size + 1024:
        found = _count(flat, lo, nb, ok, hi - lo + 1, jobs, spans=True)
    if found is None or found[0][2]:  # labels outside the guess: their exact range
        lo, hi = _label_range(flat)
        if (hi - lo + 1) * _ZONE_PIXELS > flat.size:
            return None
        found = _count(flat, lo, nb, ok, hi - lo + 1, jobs, spans=True)
    (seen, per_stripe, _, runs), (first, last, run_rows, run_lengths) = found
    if len(jobs) > 1 and not run_rows[0].size:
        return None  # runs too short to record: the keys' path, on every core
    seen, nval = seen.sum(axis=0), per_stripe.sum(axis=0)
    bg = -1
    if background is not None and lo <= background <= hi:
        bg = background - lo
        nval[bg] = 0
        per_stripe[:, bg] = 0
        if seen.size:
            seen[bg] = 0
    present = np.flatnonzero(seen if seen.size else nval)
    n = nval[present]
    ranks, where = _rank_table(funcs, n)
    flip = (1 << (dtype.itemsize * 8 - 1)) if dtype.kind == "i" else 0
    if len(jobs) > 1:
        stripes = (jobs, per_stripe[:, present], runs, run_rows, run_lengths)
        picked, sums = _banded_on_cores(
            flat, lo, bg, keys, present, n, first, last, stripes, ranks, flip
        )
    else:
        picked, sums = _banded_select(
            flat,
            lo,
            bg,
            nb,
            keys,
            ok,
            nval.size,
            present,
            n,
            first[present],
            last[present],
            runs[0],
            run_rows[0],
            run_lengths[0],
            ranks,
            flip,
        )
    out = {}
    for f in funcs:
        if f.name not in out:
            col = _ranked_column(f, picked, where, sums, n, dtype)
            out[f.name] = col if f.kind in ("min", "max") else np.where(n > 0, col, np.nan)
    return present.astype(np.int64) + lo, n, out


#: No owner per label: :func:`_banded_select` writes the runs of every label.
_EVERY = np.zeros(0, np.int64)
#: Pixels per band of :func:`label_select`: a band's zones' keys stay in the cache.
_BAND_PIXELS = 1 << 18
#: :func:`label_select` wants a range of labels of at most one per this many pixels: for
#: many small zones its per-zone work (spans, bands, orders) costs more than it saves.
_ZONE_PIXELS = 64
#: :func:`label_select` wants runs of one label of at least this many pixels on average (as
#: a sample of the labels shows): zones of a few pixels across span many bands, and the
#: zones' spans cost a store per run.
_MEAN_RUN = 8


def _native_labels(flat: np.ndarray) -> np.ndarray:
    """Flat labels as the kernels read them: in native byte order, booleans as uint8."""
    if not flat.dtype.isnative:
        flat = flat.astype(flat.dtype.newbyteorder("="))
    return flat.view(np.uint8) if flat.dtype == np.bool_ else flat


def _long_runs(flat) -> bool:
    """Whether 4,096 pairs of neighbouring labels spread over the image show runs of one
    label of :data:`_MEAN_RUN` pixels or more on average."""
    step = ((flat.size - 1) >> _RANGE_SAMPLE_BITS) | 1  # odd: no aliasing with even runs
    left = flat[: flat.size - 1 : step]
    right = flat[1::step][: left.size]
    return int(np.count_nonzero(left != right)) * _MEAN_RUN <= left.size


def _banded_select(
    flat,
    lo,
    bg,
    nb,
    keys,
    ok,
    ngroups,
    present,
    n,
    first,
    last,
    runs,
    rows,
    lengths,
    ranks,
    flip,
    owner=_EVERY,
    mine=0,
):
    """``(picked, sums)`` of :func:`_select` for the zones ``present`` (of ``ngroups`` labels
    from ``lo``; ``n`` valid samples, pixels ``first`` to ``last - 1``), their keys written
    band by band into a few buffers used in turn (see :func:`label_select`), from the runs
    of one label ``rows`` and ``lengths`` when recorded (else from the labels): with an
    ``owner`` per label, the runs of the labels whose owner is ``mine``."""
    bands = max(1, flat.size // _BAND_PIXELS)
    edges = np.empty(bands + 1, np.int64)
    zones = np.empty(bands + 1, np.int64)
    order = np.empty(n.size, np.int64)
    start = np.empty(n.size, np.int64)
    pos = np.zeros(ngroups, np.int64)
    # the layout in one kernel call: as numpy, a dozen small calls on each stripe's thread
    # while it holds the GIL (about 1 ms for 10,000 zones)
    bands, cap, lag = _k.band_layout(
        flat.size, bands, first, last, n, present, pos, edges, zones, order, start
    )
    out = np.empty((lag + 1) * cap, keys.dtype)
    picked = np.zeros(ranks.shape, keys.dtype)
    sums = np.zeros(ranks.shape[0], np.int64)
    _k.scatter_select_bands(
        flat,
        lo,
        bg,
        nb,
        keys,
        ok,
        edges[: bands + 1],
        runs,
        rows,
        lengths,
        owner,
        mine,
        pos,
        out,
        zones[: bands + 1],
        start,
        n,
        order,
        ranks,
        picked,
        sums,
        flip,
    )
    return picked, sums


def _banded_on_cores(flat, lo, bg, keys, present, n, first, last, stripes, ranks, flip):
    """:func:`_banded_select` on every core: each core takes a stripe of pixels and the
    zones wholly inside it, from its recorded runs; the zones that cross a stripe's edge (a
    row of zones per edge) gather their keys from every stripe at once, then are selected
    on every core.

    ``stripes`` is ``(jobs, counts, runs, rows, lengths)``: the stripes' pixel bounds, each
    zone's valid samples per stripe (``(len(jobs), len(present))``), and each stripe's runs
    as :func:`_count` recorded them.
    """
    jobs, counts, runs, rows, lengths = stripes
    ngroups = first.size
    inside = (counts > 0).sum(axis=0) <= 1
    home = np.argmax(counts > 0, axis=0)
    crossing = np.flatnonzero(~inside)
    # the crossing zones' keys, zone after zone, each stripe's after the previous stripes'
    offsets = np.zeros(crossing.size + 1, np.int64)
    np.cumsum(n[crossing], out=offsets[1:])
    before = np.cumsum(counts[:, crossing], axis=0) - counts[:, crossing]
    gathered = np.empty(int(offsets[-1]), keys.dtype)
    picked = np.zeros(ranks.shape, keys.dtype)
    sums = np.zeros(ranks.shape[0], np.int64)

    owner = np.full(ngroups, -2, np.int64)  # per label: its stripe, -1 across, -2 none
    owner[present] = np.where(inside, home, -1)

    def stripe(t, a, b):
        mine = np.flatnonzero(inside & (home == t))
        got = _banded_select(
            flat[a:b],
            lo,
            bg,
            1,
            keys[a:b],
            np.zeros(0, bool),
            ngroups,
            present[mine],
            n[mine],
            first[present[mine]] - a,
            last[present[mine]] - a,
            runs[t],
            rows[t],
            lengths[t],
            ranks[mine],
            flip,
            owner,
            t,
        )
        if crossing.size:  # the runs of the zones across an edge (owner -1)
            pos = np.zeros(ngroups, np.int64)
            pos[present[crossing]] = offsets[:-1] + before[t]
            _k.scatter_runs(
                rows[t], lengths[t], 0, 0, b - a, -1, keys[a:b], pos, gathered, owner, -1
            )
        return mine, got

    for mine, (p, s) in _plan.on_threads(stripe, [(t, a, b) for t, (a, b) in enumerate(jobs)]):
        picked[mine] = p
        sums[mine] = s
    if crossing.size:
        part = np.zeros((crossing.size, ranks.shape[1]), keys.dtype)
        total = np.zeros(crossing.size, np.int64)
        mine = np.ascontiguousarray(ranks[crossing])
        _plan.on_threads(
            _k.select_ranks,
            [
                (gathered, offsets, mine, a, b, part, total, flip)
                for a, b in _even(crossing.size, len(jobs))
            ],
        )
        picked[crossing] = part
        sums[crossing] = total
    return picked, sums


#: The bytes the histogram path's tables may take (256 uint32 per zone and thread): beyond,
#: fewer threads, or the keys' path.
HISTOGRAM_BUDGET = 64 << 20
#: The histogram path runs when the zones' tables hold at most this many bins per sample:
#: a 256-bin table per zone pays when zones are not far smaller than 256 samples.
_BINS_PER_SAMPLE = 4


#: 8-bit samples whose label image has more zones than this (by the range of a grid of its
#: labels) take the banded keys' path (:func:`label_select`) first: the histogram path's
#: tables of 256 words per zone then spill from the cache. One core, 25 MP, mean, median
#: and p99, histograms / banded: 300 zones 15.5 / 17.0 ms, 1,000 16.5 / 20.3 ms, 2,000
#: 19.3 / 18.8 ms, 10,000 25 / 20 ms, 40,000 55 / 39 ms.
HISTOGRAM_ZONES = 2048


def few_zones(labels) -> bool:
    """Whether a ``(y, x)`` label image likely has at most :data:`HISTOGRAM_ZONES` zones,
    from the range of a grid of about 4,096 of its labels (no copy of the image)."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or not labels.size:
        return True
    h, w = labels.shape
    look = labels[:: max(1, h // 64), :: max(1, w // 64)]
    return int(look.max()) - int(look.min()) < HISTOGRAM_ZONES


def label_statistics(values, labels, background, funcs, nb: int = 1, valid=None):
    """Every statistic of every label zone of 8-bit samples, from one pass over the pixels
    into a 256-bin histogram per zone, with no key written; ``None`` when this path does
    not apply (other types, other percentile methods, sparse labels, tables over
    :data:`HISTOGRAM_BUDGET` or of more than :data:`_BINS_PER_SAMPLE` bins per sample).

    The pass reads the labels and the samples on every core over stripes of pixels, each
    thread into its own table (added for the zones the other stripes touched): per zone its
    pixels, its valid samples, their exact integer sum and their histogram. Every order
    statistic is then a bin of the zone's histogram, found by rank in one walk of it per
    zone. Memory: 256 words per zone and thread, whatever the image's size.

    Parameters are those of :func:`group_labels`, and ``funcs`` the functions' names.

    Returns
    -------
    tuple or None
        ``(zones, counts, values)``: the zones with a pixel (int64, sorted), their valid
        samples, and ``name -> array`` as :func:`read_groups` gives them.
    """
    funcs = [parse_function(f) for f in funcs]
    values = np.ascontiguousarray(values).reshape(-1)
    flat = np.ascontiguousarray(labels).reshape(-1)
    dtype = np.dtype(values.dtype)
    if (
        dtype.kind not in "uib"
        or dtype.itemsize != 1
        or not flat.size
        or values.size >= 1 << 32  # uint32 bins
        or any(_needs_sort(f) for f in funcs)
    ):
        return None
    flat = _native_labels(flat)
    raw = values.view(np.uint8)
    flip = 0x80 if dtype.kind == "i" else 0
    ok = np.zeros(0, bool) if valid is None else np.ascontiguousarray(valid, bool).reshape(-1)
    lo, hi = _likely_range(flat, exact_below=1)
    for _ in range(2):  # a label outside the guessed range: count again over the exact one
        jobs = _table_jobs(flat, values.size, hi - lo + 1)
        if jobs is None:
            return None
        hist, sums, seen, nval, outside = _count_histograms(
            flat, lo, background, nb, raw, flip, ok, hi - lo + 1, jobs
        )
        if not outside:
            break
        lo, hi = _label_range(flat)
    present = np.flatnonzero(seen)
    n = nval[present]
    sums = sums[present] - flip * n
    ranks, where = _rank_table(funcs, n)
    picked = np.zeros(ranks.shape, np.uint8)
    live = n > 0
    if ranks.size and live.any():
        bins = np.zeros((int(live.sum()), ranks.shape[1]), np.int64)
        mine = ranks[live]
        _k.rank_bins(hist, present[live], mine, np.argsort(mine, axis=1), bins)
        picked[live] = bins
    out = {}
    for f in funcs:
        if f.name not in out:
            col = _ranked_column(f, picked, where, sums, n, dtype)
            out[f.name] = col if f.kind in ("min", "max") else np.where(live, col, np.nan)
    return present.astype(np.int64) + lo, n, out


def _table_jobs(flat, samples: int, ngroups: int):
    """The stripes of the histogram path: one per core when every thread's table fits
    :data:`HISTOGRAM_BUDGET`, fewer when only fewer do; ``None`` when one thread's would
    not, or when the tables would hold more than :data:`_BINS_PER_SAMPLE` bins per sample."""
    if ngroups <= 0 or ngroups > flat.size + 1024 or ngroups * 256 > _BINS_PER_SAMPLE * samples:
        return None
    fit = HISTOGRAM_BUDGET // (ngroups * 256 * 4)
    if fit < 1:
        return None
    jobs = _stripes(flat.size, samples)
    return jobs if fit >= len(jobs) else _even(flat.size, fit)


def _even(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` slices ``(start, stop)`` of ``range(n)`` of about equal length."""
    cuts = np.linspace(0, n, parts + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def _count_histograms(flat, lo, background, nb, raw, flip, ok, ngroups, jobs):
    """``(hist, sums, seen, nval, outside)`` of :func:`_group_kernels.label_histograms` on
    every stripe, the per-thread tables added into the first."""
    bg = -1
    if background is not None and lo <= background < lo + ngroups:
        bg = background - lo
    # one more group, where the samples of no group are counted (and dropped)
    hists = [np.zeros((ngroups + 1) * 256, np.uint32) for _ in jobs]
    words = np.zeros((3, len(jobs), ngroups + 1), np.int64)  # sums, seen, nval
    found = _plan.on_threads(
        _k.label_histograms,
        [
            (flat, lo, bg, nb, raw, flip, ok, a, b, hists[t], *words[:, t])
            for t, (a, b) in enumerate(jobs)
        ],
    )
    hist = hists[0]
    for t in range(1, len(jobs)):  # add only the zones the other stripes touched
        _k.add_rows(hist, hists[t], np.flatnonzero(words[1, t, :ngroups]))
    sums, seen, nval = words[:, :, :ngroups].sum(axis=1)
    return hist, sums, seen, nval, sum(int(f) for f in found)


def _sparse_labels(values, flat, background, nb, valid) -> Groups:
    """:func:`group_labels` of labels spread far wider than the block: through their
    distinct values."""
    zone_ids, gid = np.unique(flat.astype(np.int64), return_inverse=True)
    gid = gid.reshape(-1).astype(np.int64)
    if background is not None:
        k = np.searchsorted(zone_ids, background)
        if k < zone_ids.size and zone_ids[k] == background:
            gid[gid == k] = -1
    gid = np.repeat(gid, nb) if nb > 1 else gid
    return group_samples(values, gid, zone_ids, valid=valid)


def _keys_and_validity(values, valid):
    """The keys of ``values`` (flat) and the validity of each (NaN and the caller's ``valid``);
    size 0: every sample is valid."""
    keys, nan_ok = sample_keys(np.ascontiguousarray(values).reshape(-1))
    if valid is None:
        return keys, nan_ok
    valid = np.ascontiguousarray(valid, bool).reshape(-1)
    return keys, (valid & nan_ok if nan_ok.size else valid)


def _stripes(n: int, samples: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of one slice of ``range(n)`` per core, or one slice for few samples."""
    parts = _plan.workers() if samples >= _THREADED_SAMPLES else 1
    return _even(n, max(1, min(parts, n)))


def _label_range(flat) -> tuple[int, int]:
    """The smallest and largest label, as Python integers (one pass, on every core)."""
    parts = _plan.on_threads(
        _k.label_range, [(flat, a, b) for a, b in _stripes(flat.size, flat.size)]
    )
    lo, hi = min(int(p[0]) for p in parts), max(int(p[1]) for p in parts)
    if hi > np.iinfo(np.int64).max:
        raise InvalidOption("labels above 2**63 - 1 are not supported")
    return lo, hi


def _likely_range(flat, exact_below: int = 2) -> tuple[int, int]:
    """A range that likely holds every label: the type's own for labels of up to
    ``exact_below`` bytes, else that of a sample of the labels widened by a quarter (exact
    for few labels, or huge ones)."""
    dtype = flat.dtype
    if dtype.itemsize <= exact_below:
        info = np.iinfo(dtype)
        return int(info.min), int(info.max)
    if flat.size < 1 << 16 or dtype == np.uint64:
        return _label_range(flat)
    # 4096 labels: each is a cache miss on a cold image (65,536 took 0.9 ms of a 25 MP
    # zonal call), and a label the sample misses costs a count over the exact range, as before
    sample = np.ascontiguousarray(flat[:: flat.size >> _RANGE_SAMPLE_BITS])
    lo, hi = int(sample.min()), int(sample.max())
    if max(abs(lo), abs(hi)) >= 1 << 62:  # far from 2**63: label - lo never wraps into range
        return _label_range(flat)
    pad = max(1024, (hi - lo) // 4)
    return lo - pad, hi + pad


def _count(labels, lo, nb, valid, ngroups, jobs, spans: bool = False):
    """``(seen, nval, outside, runs)``: per stripe of pixels and group, the samples and the
    valid samples (``seen`` has no columns when every sample is valid); pixels outside the
    groups; per stripe, its runs of one label (see :func:`_group_kernels.count_labels`).

    With ``spans``, also ``(first, last, rows, lengths)``: each group's first pixel and last
    pixel + 1, and when every sample is valid (one per pixel) per stripe the group (-1: none)
    and length of each of its runs of one label (every stripe's empty when one had more runs
    than a quarter of its pixels, the room they had)."""
    nval = np.zeros((len(jobs), ngroups), np.int64)
    seen = np.zeros((len(jobs), ngroups if valid.size else 0), np.int64)
    width = ngroups if spans else 0
    first = np.full((len(jobs), width), labels.size, np.int64)
    last = np.zeros((len(jobs), width), np.int64)
    record = spans and nb == 1 and not valid.size and labels.size < 1 << 31
    rooms = [(b - a) // 4 + 1 if record else 0 for a, b in jobs]
    rows = [np.empty(r, np.int32) for r in rooms]
    lengths = [np.empty(r, np.uint32) for r in rooms]
    found = _plan.on_threads(
        _k.count_labels,
        [
            (labels, lo, nb, valid, a, b, seen[t], nval[t], first[t], last[t], rows[t], lengths[t])
            for t, (a, b) in enumerate(jobs)
        ],
    )
    counts = seen, nval, sum(int(f[0]) for f in found), [int(f[3]) for f in found]
    if not spans:
        return counts
    # each stripe's runs, or none of any stripe's when one had more than its room
    runs = [int(f[3]) if record else r + 1 for f, r in zip(found, rooms, strict=True)]
    if any(n > r for n, r in zip(runs, rooms, strict=True)):
        rows, lengths = [x[:0] for x in rows], [x[:0] for x in lengths]
    else:
        rows = [x[:n] for x, n in zip(rows, runs, strict=True)]
        lengths = [x[:n] for x, n in zip(lengths, runs, strict=True)]
    return counts, (first.min(axis=0), last.max(axis=0), rows, lengths)


def _scatter(labels, lo, background, nb, keys, valid, counts, jobs):
    """The valid ``keys`` grouped by label (``labels[p] - lo``; ``background``, relative to
    ``lo``, is no group), from :func:`_count`'s counts, on every core: each thread writes its
    stripe's samples after the previous stripes' ones.

    Returns ``(present, offsets, out)``: the groups with a sample (valid or not), the offsets
    of their keys in ``out``.
    """
    seen, nval, _, runs = counts
    total = nval.sum(axis=0) if len(jobs) > 1 else nval[0]
    offsets = np.zeros(total.size + 1, np.int64)
    np.cumsum(total, out=offsets[1:])
    # each stripe's first position in each group: after the previous stripes' samples
    pos = np.cumsum(nval, axis=0)
    pos -= nval
    pos += offsets[:-1]
    out = np.empty(int(offsets[-1]), keys.dtype)
    _plan.on_threads(
        _k.scatter_labels,
        [
            (labels, lo, background, nb, keys, valid, a, b, pos[t], out, runs[t])
            for t, (a, b) in enumerate(jobs)
        ],
    )
    present = np.flatnonzero(seen.sum(axis=0) if seen.shape[1] else total)
    if present.size < total.size:
        compact = np.zeros(present.size + 1, np.int64)
        np.cumsum(total[present], out=compact[1:])
        offsets = compact
    return present, offsets, out


def merge_groups(parts) -> Groups:
    """Merge the :class:`Groups` of several sets of samples (e.g. blocks) of the same groups."""
    parts = [p for p in parts if p is not None]
    if len(parts) == 1:
        return parts[0]
    dtype = parts[0].dtype
    zones = np.unique(np.concatenate([p.zones for p in parts]))
    index = [np.searchsorted(zones, p.zones) for p in parts]
    total = np.zeros(len(zones), np.int64)
    big: dict = {}
    for p, idx in zip(parts, index, strict=True):
        total[idx] += np.diff(p.offsets)
        for z, s in p.big.items():
            big[z] = big[z].merge(s) if z in big else s
    offsets = np.zeros(len(zones) + 1, np.int64)
    np.cumsum(total, out=offsets[1:])
    pos = offsets[:-1].copy()
    out = np.empty(int(offsets[-1]), key_dtype(dtype))
    for p, idx in zip(parts, index, strict=True):  # part after part: no id per sample
        _k.place_groups(p.keys, p.offsets, idx, pos, out)
    return _promote(Groups(dtype, zones, offsets, out, big))


def _promote(groups: Groups) -> Groups:
    """Turn the groups of over :data:`SMALL_GROUP` keys (or already big) into summaries."""
    n = np.diff(groups.offsets)
    over = n > SMALL_GROUP
    if groups.big:
        over |= np.isin(groups.zones, np.fromiter(groups.big, np.int64, len(groups.big))) & (n > 0)
    if not over.any():
        return groups
    big = dict(groups.big)
    for j in np.flatnonzero(over):
        z = int(groups.zones[j])
        part = _summary_of_keys(
            groups.keys[groups.offsets[j] : groups.offsets[j + 1]], groups.dtype
        )
        big[z] = big[z].merge(part) if z in big else part
    keep = np.repeat(~over, n)
    keys = groups.keys[keep]
    offsets = np.zeros_like(groups.offsets)
    np.cumsum(np.where(over, 0, n), out=offsets[1:])
    return Groups(groups.dtype, groups.zones, offsets, keys, big)


#: Keys turned back into values at a time: the conversion's uint64 temporaries are bounded.
_DECODE_KEYS = 1 << 18


def _summary_of_keys(keys: np.ndarray, dtype) -> Summary:
    """The summary of a big group's keys, decoded into one array of ``dtype`` slice by
    slice: decoded at once, a 4-byte type's keys took about five uint64 temporaries of every
    sample (a one-zone float32 image of 4M pixels peaked at 180 MB)."""
    values = np.empty(keys.size, np.dtype(dtype))
    for a in range(0, keys.size, _DECODE_KEYS):
        b = min(a + _DECODE_KEYS, keys.size)
        values[a:b] = keys_to_values(keys[a:b].astype(np.uint64), dtype)
    return summarize_block(values.reshape(-1, 1), ("0",), False)


# -- reading -----------------------------------------------------------------------------------
def read_groups(
    groups: Groups, funcs, refine=None, *, in_place: bool = False, half: bool = False
) -> tuple[np.ndarray, dict]:
    """Every statistic of every group.

    The order statistics (min, max, the median, linear percentiles) are selected by rank in
    each group (:func:`imgstats._group_kernels.select_ranks`: histograms of the key bytes for
    8- and 16-bit samples, a radix sort of a copy for wider ones), all groups in one kernel
    call per core; ``groups.keys`` stay as they are. Other percentile methods sort the keys.

    Parameters
    ----------
    groups : Groups
    funcs : list of str
    refine : callable, optional
        ``{zone: targets} -> {zone: refinements}``: a pass over the pixels for the big groups
        whose 32- or 64-bit percentiles need one (see :meth:`Summary.missing`).
    in_place : bool
        May sort ``groups.keys`` in place rather than a copy (the caller drops ``groups``),
        when a function needs sorted keys.
    half : bool
        The float32 samples are a ``float16`` array's: percentiles and medians are
        interpolated in float16, as numpy does (see :attr:`Summary.half`).

    Returns
    -------
    counts : numpy.ndarray
        Valid samples per group, in ``groups.zones`` order.
    values : dict
        ``name -> array``: min and max in the samples' type (undefined where the count is 0),
        the others float64 (NaN where the count is 0, and 0 for the count itself).
    """
    parsed = [parse_function(f) for f in funcs]
    dtype = np.dtype(groups.dtype)
    offsets = groups.offsets
    keys = groups.keys
    n = np.diff(offsets)
    nonempty = n > 0
    if keys.size and any(_needs_sort(f) for f in parsed):
        keys = keys if in_place else keys.copy()
        _sort(keys, offsets)
    ranks, where = _rank_table(parsed, n)
    exact_sums = dtype.kind in "uib" and dtype.itemsize < 8
    want_sums = exact_sums and any(f.kind == "mean" for f in parsed)
    picked, sums = _select(keys, offsets, ranks, want_sums, dtype)

    out: dict = {}
    for f in parsed:
        if f.name in out:
            continue
        if keys.size == 0:
            col = np.zeros(n.size, dtype if f.kind in ("min", "max") else np.float64)
        elif f.kind == "mean" and not exact_sums:
            col = _means(keys, offsets, dtype)
        elif _needs_sort(f):  # the other percentile methods, counts, sums: group by group
            col = _per_group(keys, offsets, f, dtype, half)
        else:
            col = _ranked_column(f, picked, where, sums, n, dtype, half)
        if f.kind not in ("min", "max", "count") and not nonempty.all():
            col = np.where(nonempty, col, np.nan)  # an empty group counts 0 samples
        out[f.name] = col
    counts = n.copy()
    if groups.big:
        _read_big(groups, parsed, out, counts, refine, half)
    return counts, out


def _ranked_column(f, picked, where, sums, n, dtype, half: bool = False) -> np.ndarray:
    """``f`` of every group from the keys of its ranks (``picked``, columns as
    :func:`_rank_table`'s ``where`` says) and its exact integer sum (``sums``, for the mean of
    integers below 64 bits); ``half``: interpolated in float16 (see :func:`read_groups`)."""

    def picked_values(j):
        return keys_to_values(picked[:, j].astype(np.uint64), dtype)

    if half and f.kind == "percentile":
        dtype = np.dtype(np.float16)  # the float32 keys hold half floats: exact

        def picked_values(j):
            return keys_to_values(picked[:, j].astype(np.uint64), np.float32).astype(dtype)

    if f.kind in ("min", "max"):
        return picked_values(where[f.name][0])
    if f.kind == "mean":
        return _int_means(sums, n)
    if f.kind == "count":
        return n.astype(np.float64)
    if f.name == "median":
        return _medians(*(picked_values(j) for j in where[f.name]), n, dtype)
    j_lo, j_hi = where[f.name]
    return _lerp_groups(picked_values(j_lo), picked_values(j_hi), where[f.name, "t"], dtype)


def _needs_sort(f) -> bool:
    """Whether ``f`` is read from sorted keys (else from a few ranks of each group, or a sum)."""
    if f.kind == "percentile":
        return f.method != "linear"
    return f.kind not in ("min", "max", "mean", "count")


def _rank_table(parsed, n) -> tuple[np.ndarray, dict]:
    """``(ranks, where)``: the ranks each group's order statistics need (one column each,
    ``(groups, columns)``), and ``name -> columns`` (plus ``(name, "t") ->`` the weights of
    a linear percentile)."""
    safe = np.maximum(n, 1)
    columns: list = []
    where: dict = {}
    for f in parsed:
        if f.name in where or _needs_sort(f) or f.kind in ("mean", "count"):
            continue
        if f.kind == "min":
            cols = [np.zeros_like(safe)]
        elif f.kind == "max":
            cols = [safe - 1]
        elif f.name == "median":
            cols = [(safe - 1) // 2, safe // 2]
        else:
            lo, hi, t = _percentile_ranks(safe, f.q)
            cols = [lo, hi]
            where[f.name, "t"] = t
        where[f.name] = list(range(len(columns), len(columns) + len(cols)))
        columns.extend(cols)
    if not columns:
        return np.zeros((n.size, 0), np.int64), where
    return np.ascontiguousarray(np.stack(columns, axis=1), np.int64), where


def _group_runs(offsets, nkeys: int) -> list[tuple[int, int]]:
    """``(first, last)`` runs of groups of about equal samples, a few per core, for many."""
    ng = offsets.size - 1
    if ng <= 1 or nkeys <= 1 << 16 or _plan.workers() == 1:
        return [(0, ng)]
    runs = 4 * _plan.workers()
    cuts = np.unique(np.searchsorted(offsets, np.linspace(0, nkeys, runs + 1)[1:-1]))
    cuts = [0, *[int(c) for c in cuts if 0 < c < ng], ng]
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def _sort(keys, offsets) -> None:
    """Sort each group's keys in place, on every core for many groups."""
    _plan.on_threads(
        _k.radix_sort_groups, [(keys, offsets, a, b) for a, b in _group_runs(offsets, keys.size)]
    )


def _select(keys, offsets, ranks, want_sums: bool, dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(picked, sums)``: the key of each rank of ``ranks`` in each group, and each group's
    exact integer sum when ``want_sums`` (see :func:`imgstats._group_kernels.select_ranks`)."""
    ng = offsets.size - 1
    picked = np.zeros(ranks.shape, keys.dtype)
    sums = np.zeros(ng if want_sums else 0, np.int64)
    if not keys.size or (not ranks.shape[1] and not want_sums):
        return picked, sums
    flip = (1 << (dtype.itemsize * 8 - 1)) if want_sums and dtype.kind == "i" else 0
    jobs = [
        (keys, offsets, ranks, a, b, picked, sums, flip) for a, b in _group_runs(offsets, keys.size)
    ]
    _plan.on_threads(_k.select_ranks, jobs)
    return picked, sums


def _medians(a, b, n, dtype) -> np.ndarray:
    """numpy.median per group from its middle one or two samples ``a`` and ``b``: numpy's
    mean of them, element by element -- ``(0 + a) + b`` then divided, in float64 for integers
    and in the samples' type for floats (numpy's ``add.reduce`` starts from 0.0, so a lone
    -0.0 gives 0.0); float16 in float32, rounded to float16 (numpy's ``mean`` of float16)."""
    acc = np.dtype(np.float64) if dtype.kind in "uib" else dtype
    if dtype == np.float16:
        acc = np.dtype(np.float32)
    two = np.maximum(n, 1) % 2 == 0
    with np.errstate(all="ignore"):
        total = np.zeros(a.shape, acc) + a.astype(acc)
        total = np.where(two, total + b.astype(acc), total)
        mean = total / np.where(two, 2, 1).astype(acc)
        return mean.astype(dtype if dtype.kind == "f" else acc).astype(np.float64)


def _per_group(keys, offsets, f, dtype, half: bool = False) -> np.ndarray:
    """``f`` of each group's sorted keys, as :func:`imgstats.summary.value_of_sorted` reads
    one group: the functions without a vectorized reading here (``half``: see
    :func:`read_groups`). A percentile of numpy's discrete methods is one of the keys, kept
    in their type (every bit of a 64-bit one)."""
    from .summary import _DISCRETE, value_of_sorted

    sample = f.kind == "percentile" and f.name != "median" and f.method in _DISCRETE
    as_half = half and f.kind == "percentile" and not sample
    out = np.zeros(offsets.size - 1, dtype if sample else np.float64)
    for g in range(offsets.size - 1):
        a, b = int(offsets[g]), int(offsets[g + 1])
        if b > a:
            values = keys_to_values(keys[a:b].astype(np.uint64), dtype)
            out[g] = value_of_sorted(values.astype(np.float16) if as_half else values, f)
    return out


def _percentile_ranks(safe, q):
    """``(lo, hi, t)`` of numpy.percentile's linear method per group of ``safe`` (>= 1)
    samples: the ranks of the two order statistics and the weight between them, as
    :meth:`BandStats.ranks` computes them for one."""
    virtual = (safe - 1).astype(np.float64) * np.true_divide(q, 100)
    previous = np.floor(virtual)
    # above the last rank numpy's weight is virtual - (-1) (see summary.quantile_positions)
    t = np.where(virtual >= safe - 1, virtual + 1, virtual - previous)
    lo = previous.astype(np.int64)
    hi = np.where(virtual >= safe - 1, safe - 1, lo + 1)
    return np.minimum(lo, safe - 1), hi, t


def _lerp_groups(a, b, t, dtype) -> np.ndarray:
    """numpy.percentile's linear interpolation between the order statistics ``a`` and ``b``
    of each group, as :func:`imgstats.summary._lerp` computes it for one, element by
    element."""
    with np.errstate(all="ignore"):
        if dtype.kind in "uib":
            if dtype.itemsize < 8:
                diff = (b.astype(np.int64) - a.astype(np.int64)).astype(np.float64)
            else:
                diff = np.array(
                    [float(int(y) - int(x)) for x, y in zip(a, b, strict=True)], np.float64
                )
            a = a.astype(np.float64)
            b = b.astype(np.float64)
            ft = t
        else:
            diff = b - a
            ft = t.astype(dtype)  # numpy's weak Python-float scalar in the type of the samples
        upper = b - diff * (1 - t).astype(ft.dtype)
        lower = a + diff * ft
        return np.where(t >= 0.5, upper, lower).astype(np.float64)


def _int_means(sums, n) -> np.ndarray:
    """The exact mean of each group of integers from its exact sum, rounded once to float64
    (as :meth:`BandStats.mean`)."""
    n = np.maximum(n, 1)
    means = sums.astype(np.float64) / n
    for g in np.flatnonzero(np.abs(sums) >= 1 << 53):
        means[g] = float(Fraction(int(sums[g]), int(n[g])))
    return means


def _means(keys, offsets, dtype) -> np.ndarray:
    """The exact mean of each group of 64-bit integers or floats, rounded once to float64 (as
    :meth:`BandStats.mean`)."""
    ng = offsets.size - 1
    if dtype.kind in "uib":  # 64-bit integers: the keys' sums in 128 bits, one division each
        high = np.zeros(ng, np.int64)
        low = np.zeros(ng, np.uint64)
        _k.wide_sums(keys.astype(np.uint64, copy=False), offsets, high, low)
        flip = 1 << (dtype.itemsize * 8 - 1) if dtype.kind == "i" else 0
        n = np.diff(offsets)
        means = np.zeros(ng)
        for g, (h, lo, m) in enumerate(zip(high.tolist(), low.tolist(), n.tolist(), strict=True)):
            if m:
                means[g] = float(Fraction((h << 64) + lo - flip * m, m))
        return means
    means = np.zeros(ng)
    special = np.zeros((ng, 2), np.int64)
    fallback = np.zeros(ng, bool)
    _k.float_means(keys, offsets, means, special, fallback)
    pos, neg = special[:, 0] > 0, special[:, 1] > 0
    means[pos & neg] = np.nan
    means[pos & ~neg] = np.inf
    means[neg & ~pos] = -np.inf
    for g in np.flatnonzero(fallback):
        part = keys_to_values(keys[offsets[g] : offsets[g + 1]].astype(np.uint64), dtype)
        means[g] = summarize_block(part.reshape(-1, 1), ("0",), False).bands[0].mean()
    return means


def _read_big(groups: Groups, parsed, out: dict, counts: np.ndarray, refine, half=False) -> None:
    """Read the big groups' statistics from their summaries (after a refinement if needed;
    ``half``: see :func:`read_groups`)."""
    names = list(parsed)  # Functions: each keeps its percentile method
    summaries = {z: replace(s, half=True) if half else s for z, s in groups.big.items()}
    for _ in range(4):  # float64 bins too full to collect descend 16 bits per pass
        wanted = {}
        for z, s in summaries.items():
            if s.bands[0].count:
                nodes = s.missing(names)
                if nodes:
                    wanted[z] = nodes
        if not wanted:
            break
        if refine is None:
            raise NeedsRefinement([node[1:] for nodes in wanted.values() for node in nodes])
        found = refine(wanted)
        summaries = {
            z: s.with_refinements(finish_refinements(found[z])) if z in found else s
            for z, s in summaries.items()
        }
    index = np.searchsorted(groups.zones, np.fromiter(summaries, np.int64, len(summaries)))
    for j, s in zip(index, summaries.values(), strict=True):
        stats = s.bands[0]
        counts[j] = stats.count
        if not stats.count:
            for f in names:
                if out[f.name].dtype.kind == "f":
                    out[f.name][j] = np.nan
            continue
        try:
            got = s.compute(names)
        except NoValidSamples:  # pragma: no cover -- count > 0 above
            continue
        for name, v in got.items():
            out[name][j] = v


def groups_of_rows(values: np.ndarray, valid=None, in_place: bool = False) -> Groups:
    """The :class:`Groups` of a 2-D array whose row ``k`` is group ``k`` (a reduction along
    trailing axes: one group per remaining cell). No group ids are needed: the rows are the
    layout, with invalid samples (NaN, or False in ``valid``) squeezed out. ``in_place``:
    ``values`` (native, contiguous, the caller's to drop) become the keys, and the valid
    ones are squeezed to their front: no copy of the samples is made."""
    values = np.ascontiguousarray(values)
    ncell, m = values.shape
    keys, nan_ok = sample_keys(values.reshape(-1), in_place=in_place)
    if valid is not None:
        valid = np.broadcast_to(np.asarray(valid, bool), values.shape).reshape(-1)
        nan_ok = valid & nan_ok if nan_ok.size else valid
    zones = np.arange(ncell, dtype=np.int64)
    if not nan_ok.size or nan_ok.all():
        offsets = np.arange(ncell + 1, dtype=np.int64) * m
        return Groups(values.dtype, zones, offsets, keys)
    offsets = np.zeros(ncell + 1, np.int64)
    kept = int(np.count_nonzero(nan_ok))
    # in place, each kept key moves to a position at or before its own, already read
    out = keys[:kept] if in_place else np.empty(kept, keys.dtype)
    _k.compact_rows(keys.reshape(ncell, m), nan_ok.reshape(ncell, m), offsets, out)
    return Groups(values.dtype, zones, offsets, out)
