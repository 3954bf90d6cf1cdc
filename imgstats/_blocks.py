"""Per-chunk work: summarize one in-memory block, or refine selected bins of one block.

These are the functions :meth:`imgstats.io.ReadPlan.map_reduce` runs on every decoded block
(a numpy slice, a TIFF tile, a dask chunk). Their results merge with :meth:`Summary.merge`
and :func:`merge_refinements`.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np

from ._lazy import is_masked_array, lazy_module
from .summary import (
    SPECIAL_KINDS,
    SQUARES,
    VALUES_LIMIT,
    BandStats,
    Summary,
    _bins,
    float_keys,
    key_bits_of,
    merge_special,
)

# numba and its kernels load on the first count (0.65 s), not with imgstats: an 8-bit JPEG
# is counted by Pillow and never needs them.
_kernels = lazy_module("imgstats._kernels")


def as_pixels(block: np.ndarray) -> np.ndarray:
    """Return a C-contiguous ``(pixels, bands)`` view (or copy) of a 2-D or 3-D block."""
    block = np.asarray(block)
    if block.dtype.kind == "b":
        block = block.view(np.uint8)
    if not block.dtype.isnative:  # the kernels read native bit patterns (FITS-style '>f4')
        block = block.astype(block.dtype.newbyteorder("="))
    if block.ndim == 3:
        out = block.reshape(-1, block.shape[-1])
    else:
        out = block.reshape(-1, 1)
    return np.ascontiguousarray(out)


def summarize_block(block, band_names, luma: bool, shape=(), candidates=()) -> Summary:
    """Summarize one in-memory block of shape ``(y, x[, band])``.

    Parameters
    ----------
    block : array_like
    band_names : tuple of str
    luma : bool
        Also count Pillow's 8-bit luma of bands 0..2 (uint8 only).
    shape : tuple of int
        The shape of the whole image, recorded in the summary.
    candidates : sequence of (selection, bins)
        float32 only: top-16-bit bins predicted to hold wanted order statistics of a
        selection (``"all"``, ``"b<i>"``); they are refined in this same pass, and the
        summary holds their refinements.
    """
    if is_masked_array(block):  # a masked array's block: its mask counts
        from ._inputs import summarize_masked

        return summarize_masked(block, band_names, luma, shape, summarize_block)
    px = as_pixels(block)
    dtype = px.dtype  # uint8 for bool, native byte order
    nb = px.shape[1]
    bits = key_bits_of(dtype)
    luma_stats = None
    if bits <= 16:
        offset = -int(np.iinfo(dtype).min)
        hist = np.zeros((nb, _bins(bits)), np.int64)
        if luma:
            lhist = np.zeros(256, np.int64)
            _kernels.hist_small_luma(px, offset, hist, lhist)
            luma_stats = small_int_stats(np.dtype(np.uint8), lhist)
        elif px.size:
            kernel = _kernels.hist8 if bits == 8 else _kernels.hist16
            kernel(px.reshape(-1).view(f"u{dtype.itemsize}"), nb, offset, hist)
        bands = tuple(small_int_stats(dtype, h) for h in hist)
    elif dtype.kind in "ui":
        bands = _scan_ints(px, dtype)
    elif dtype.itemsize == 4 and candidates:
        bands, refined = _scan_float32(px, candidates)
        return Summary(bands, tuple(band_names), None, tuple(shape), refined)
    elif candidates and nb == 1:
        bands, refined = _scan_float64(px, candidates)
        return Summary(bands, tuple(band_names), None, tuple(shape), refined)
    else:
        bands = _scan_floats(px, dtype)
    return Summary(bands, tuple(band_names), luma_stats, tuple(shape))


#: The keys 0 .. 2**16 - 1, read-only: the weights of a 16-bit histogram's sum.
_KEYS16 = np.arange(1 << 16, dtype=np.int64)
_KEYS16.flags.writeable = False


def small_int_stats(dtype: np.dtype, hist: np.ndarray) -> BandStats:
    """The :class:`BandStats` of 8- or 16-bit integers from their full histogram.

    Without ``numpy.flatnonzero`` and its index copy: a 16-bit histogram took 0.20 ms,
    now 0.08 ms (one core, the gallery's uint16 photograph resized to 12 MP: about a third
    of what ``compute`` spends outside the counting pass). The keys' sum is exact in int64
    below 2**47 samples (each key < 2**16); more are summed as Python ints.
    """
    count = int(hist.sum())
    if count == 0:
        return BandStats.empty(dtype)
    seen = hist != 0
    first = int(seen.argmax())
    last = hist.size - 1 - int(seen[::-1].argmax())
    keys = _KEYS16[: hist.size]
    if count < 1 << 47:
        ksum = int(hist @ keys)
    else:
        ksum = sum(int(c) * k for k, c in enumerate(hist.tolist()) if c)
    total = ksum + int(np.iinfo(dtype).min) * count
    return BandStats(dtype.str, count, 0, hist, first, last, Fraction(total))


def _scan_ints(px: np.ndarray, dtype: np.dtype) -> tuple[BandStats, ...]:
    nb = px.shape[1]
    bits = dtype.itemsize * 8
    raw = px.view(f"u{dtype.itemsize}")
    flip = (1 << (bits - 1)) if dtype.kind == "i" else 0
    hist = np.zeros((nb, 1 << 16), np.int64)
    kmin = np.full(nb, np.iinfo(np.uint64).max, np.uint64)
    kmax = np.zeros(nb, np.uint64)
    ksum_hi = np.zeros(nb, np.int64)
    ksum_lo = np.zeros(nb, np.int64)
    # flip as uint64 always: a Python int 2**63 (int64) and 0 (uint64) would type differently,
    # and numba then reuses the int64-flip overload for int64 images and overflows.
    _kernels.scan_int_keys(raw, np.uint64(flip), bits - 16, hist, kmin, kmax, ksum_hi, ksum_lo)
    n = px.shape[0]
    out = []
    for c in range(nb):
        if n == 0:
            out.append(BandStats.empty(dtype))
            continue
        keysum = (int(ksum_hi[c]) << 32) + int(ksum_lo[c])
        total = keysum - flip * n
        out.append(BandStats(dtype.str, n, 0, hist[c], int(kmin[c]), int(kmax[c]), Fraction(total)))
    return tuple(out)


def _scan_floats(px: np.ndarray, dtype: np.dtype) -> tuple[BandStats, ...]:
    if dtype.itemsize == 4:
        return _scan_float32(px)
    return _scan_float64(px)


def _scan_float64(px: np.ndarray, candidates=()):
    """The float64 band statistics; with ``candidates`` (one band), also ``(bands,
    refinements)``: the predicted bins' keys, collected in the same pass, sorted."""
    dtype = np.dtype(np.float64)
    nb = px.shape[1]
    acc = np.zeros((nb, 1 << 16, 2), np.uint64)
    kmin = np.full(nb, np.iinfo(np.uint64).max, np.uint64)
    kmax = np.zeros(nb, np.uint64)
    nan = np.zeros(nb, np.int64)
    bits = px.reshape(-1).view(np.uint64)
    if candidates:
        cand = np.full(1 << 16, -1, np.int16)  # the slot of each candidate bin
        slots = sorted({j for _, bins in candidates for j in bins})
        cand[slots] = np.arange(len(slots))
        # bins holding a few percent of the keys (a median's) have the next 16 bits of their
        # keys counted, and a second pass collects the one sub-bin wanted: sorting the
        # collected keys of such bins here cost more than that pass (600 000 keys, 12 MP DEM)
        dense = _dense(bits, cand)
        drop = 32 if dense else 0
        hits = np.empty(max(1 << 16, bits.size // CANDIDATE_SHARE) + 1, f"u{8 - drop // 8}")
        nhits = np.zeros(1, np.int64)
        _kernels.scan_float64_candidates(
            bits, acc, kmin, kmax, nan, cand >= 0, hits, nhits, dense, drop
        )
    else:
        _kernels.scan_float64(bits, nb, acc, kmin, kmax, nan)
    out = []
    for c in range(nb):
        count = px.shape[0] - int(nan[c])
        if count == 0:
            out.append(replace(BandStats.empty(dtype), nan=int(nan[c])))
            continue
        hist = (acc[c, :, 1] >> np.uint64(32)).astype(np.int64)
        posinf, neginf = int(hist[_F64_POSINF_BIN]), int(hist[_F64_NEGINF_BIN])
        lo, hi = int(kmin[c]), int(kmax[c])
        total = float64_sum(hist, acc[c])
        out.append(BandStats(dtype.str, count, int(nan[c]), hist, lo, hi, total, posinf, neginf))
    if not candidates:
        return tuple(out)
    if nhits[0] >= hits.size:  # the predicted bins hold too many keys: a refinement pass will
        return tuple(out), {}
    refined = {}
    if drop:  # each hit is the top 32 bits of a key: count their low 16 bits per bin
        sub = np.zeros((len(slots), 1 << 16), np.uint32)
        _kernels.count_hits(hits[: nhits[0]], cand, sub)
        for sel, bins in candidates:
            for j in bins:
                refined[(sel, 48, int(j))] = ("hist", sub[cand[j]].astype(np.int64))
        return tuple(out), refined
    keys = _sorted(hits[: nhits[0]], 64)
    tops = keys >> np.uint64(48)
    for sel, bins in candidates:
        for j in bins:
            lo, hi = np.searchsorted(tops, [j, j + 1])
            refined[(sel, 48, int(j))] = ("keys", keys[lo:hi])
    return tuple(out), refined


#: The top-16-bit key bins of +inf and -inf: no finite float64 shares them (NaN is not counted).
_F64_POSINF_BIN, _F64_NEGINF_BIN = 0xFFF0, 0x000F


def float64_sum(hist: np.ndarray, acc: np.ndarray) -> Fraction:
    """The exact sum of the finite float64 samples counted by :func:`_kernels.scan_float64`.

    Bin ``j`` holds one sign, one biased exponent ``E`` and the top 4 significand bits;
    ``acc[j]`` holds the wrapped sum of the keys' low 48 bits and its carries. A positive
    bin's significands sum to ``n * base * 2**48 + low``; a negative one's keys are the
    complement, which makes its signed sum ``-n * (base + 1) * 2**48 + n + low``. The terms
    are added per exponent in int64 (at most 32 bins each), then as Python ints.
    """
    nz = np.flatnonzero(hist)
    nz = nz[(nz != _F64_POSINF_BIN) & (nz != _F64_NEGINF_BIN)]
    if nz.size == 0:
        return Fraction(0)
    cnt = hist[nz]
    neg = nz < 0x8000
    bits16 = np.where(neg, 0xFFFF ^ nz, nz ^ 0x8000)
    exponent = (bits16 >> 4) & 0x7FF
    base = (bits16 & 0xF) | np.where(exponent > 0, 16, 0)
    lows = acc[nz, 0]
    carries = (acc[nz, 1] & np.uint64(0xFFFFFFFF)).astype(np.int64)
    terms = (
        (48, np.where(neg, -cnt * (base + 1), cnt * base)),
        (0, np.where(neg, cnt, 0)),
        (64, carries),
        (32, (lows >> np.uint64(32)).astype(np.int64)),
        (0, (lows & np.uint64(0xFFFFFFFF)).astype(np.int64)),
    )
    e = np.maximum(exponent, 1)
    total = 0
    for shift, term in terms:
        esum = np.zeros(2048, np.int64)
        np.add.at(esum, e, term)
        for x in np.flatnonzero(esum):
            total += int(esum[x]) << (shift + int(x) - 1)
    return Fraction(total, 1 << 1074)


#: Predicted bins may hold up to 1/this of a float32 block's samples (4 bytes each are kept).
CANDIDATE_SHARE = 8


def _scan_float32(px: np.ndarray, candidates=()):
    """The float32 band statistics; with ``candidates``, also ``(bands, refinements)``."""
    nb = px.shape[1]
    dtype = np.dtype(np.float32)
    hist = np.zeros((nb, 1 << 16), np.int64)
    lows = np.zeros((nb, 1 << 16), np.int64)
    kmin = np.full(nb, 0xFFFFFFFF, np.uint64)
    kmax = np.zeros(nb, np.uint64)
    nan = np.zeros(nb, np.int64)
    bits = px.reshape(-1).view(np.uint32)
    if candidates:
        # one slot per (band, bin): the image's refinement of a bin is the sum of its bands'
        cand = np.full((nb, 1 << 16), -1, np.int16)
        slots: dict = {}
        for sel, bins in candidates:
            for c in range(nb) if sel == "all" else [int(sel[1:])]:
                for j in bins:
                    if (c, j) not in slots:
                        cand[c, j] = slots[(c, j)] = len(slots)
        hits = np.empty(max(1 << 16, bits.size // CANDIDATE_SHARE) + 1, np.uint32)
        nhits = np.zeros(1, np.int64)
        dense = nb == 1 and _dense(bits, cand[0])
        _kernels.scan_float32_candidates(
            bits, nb, hist, lows, kmin, kmax, nan, cand, hits, nhits, dense
        )
    else:
        _kernels.scan_float32(bits, nb, hist, lows, kmin, kmax, nan)
    out = []
    for c in range(nb):
        count = px.shape[0] - int(nan[c])
        if count == 0:
            out.append(replace(BandStats.empty(dtype), nan=int(nan[c])))
            continue
        posinf, neginf = int(hist[c, _F32_POSINF_BIN]), int(hist[c, _F32_NEGINF_BIN])
        out.append(
            BandStats(
                dtype.str,
                count,
                int(nan[c]),
                hist[c],
                int(kmin[c]),
                int(kmax[c]),
                float32_sum(hist[c], lows[c]),
                posinf,
                neginf,
            )
        )
    if not candidates:
        return tuple(out)
    if nhits[0] >= hits.size:  # the predicted bins hold too many keys: a refinement pass will
        return tuple(out), {}
    sub = np.zeros((len(slots), 1 << 16), np.uint32)  # at most hits.size < 2**32 each
    table = cand[0] if nb == 1 else cand[:0, 0]
    _kernels.count_hits(hits[: nhits[0]], table, sub)
    refined = {}
    for sel, bins in candidates:
        for j in bins:
            rows = [slots[(c, j)] for c in (range(nb) if sel == "all" else [int(sel[1:])])]
            counts = sub[rows].sum(axis=0, dtype=np.int64)
            refined[(sel, 16, int(j))] = ("hist", counts)
    return tuple(out), refined


#: Candidate bins holding at least this share of a look at the samples are counted without a
#: branch per sample (see :func:`_kernels.scan_float32_candidates`).
DENSE_SHARE = 0.02


def _dense(bits: np.ndarray, cand0: np.ndarray) -> bool:
    """Whether the candidate bins of a one-band block hold :data:`DENSE_SHARE` of a strided
    look at 4096 of its samples (NaN fall in no candidate bin: their keys are above +inf's,
    or below -inf's). ``cand0``: the slot (``-1``: none) of each top-16-bit bin."""
    look = bits[:: max(1, bits.size // 4096)]
    if not look.size:
        return False
    top = float_keys(look) >> np.uint64(8 * look.itemsize - 16)
    return bool(np.mean(cand0[top] >= 0) >= DENSE_SHARE)


#: The top-16-bit key bins of +inf and -inf: no finite float32 shares them (NaN is not counted).
_F32_POSINF_BIN, _F32_NEGINF_BIN = 0xFF80, 0x007F
_F32_BINS = np.arange(1 << 16, dtype=np.int64)
_F32_FINITE = (_F32_BINS != _F32_POSINF_BIN) & (_F32_BINS != _F32_NEGINF_BIN)


def float32_sum(hist: np.ndarray, lows: np.ndarray) -> Fraction:
    """The exact sum of the finite float32 samples counted by :func:`_kernels.scan_float32`.

    Bin ``j`` of a key holds one sign, one biased exponent ``E`` and the top 7 significand bits;
    ``lows[j]`` sums the other 16 bits of the keys. The significands (with the implicit bit)
    therefore sum to ``n * base + low bits``, times ``2**(max(E, 1) - 150)``, exactly in int64
    below 2**31 samples.
    """
    nz = np.flatnonzero((hist != 0) & _F32_FINITE)  # a few hundred bins of 65536, as a rule
    bins, hist, lows = _F32_BINS[nz], hist[nz], lows[nz]
    neg = bins < 0x8000
    bits16 = np.where(neg, 0xFFFF ^ bins, bins ^ 0x8000)  # top 16 bits of the float
    exponent = (bits16 >> 7) & 0xFF
    base = ((bits16 & 0x7F) << 16) | np.where(exponent > 0, 1 << 23, 0)
    low = np.where(neg, hist * 0xFFFF - lows, lows)
    sig = hist * base + low
    sig = np.where(neg, -sig, sig)
    esum = np.zeros(256, np.int64)
    np.add.at(esum, np.maximum(exponent, 1), sig)
    return _exact_sum(esum, 1, 149)


def _exact_sum(esum: np.ndarray, scale: int, denormal_shift: int) -> Fraction:
    """Sum ``esum[e] * scale * 2**(e - 1 - denormal_shift)`` exactly (per-exponent partials)."""
    total = 0
    for e in np.flatnonzero(esum):
        total += (int(esum[e]) * scale) << (int(e) - 1)
    return Fraction(total, 1 << denormal_shift)


def refine_block(block, targets, dtype, limit: int, pooled=None) -> dict:
    """Look at the keys of one block that fall into any of ``targets``, in one pass.

    Parameters
    ----------
    block : array_like
        ``(y, x[, band])`` pixels.
    targets : list of (selection, shift, prefix, count)
        Bins to refine (as :meth:`Summary.missing` gives them), of any selections (``"all"``,
        ``"b<i>"``) and levels: the keys of the selection's bands with
        ``key >> shift == prefix``, ``count`` of them over the whole image.
    dtype : numpy.dtype
    limit : int
        A bin of at most this many keys has them collected; a fuller one has the next 16
        bits of its keys counted into a histogram.
    pooled : numpy.ndarray of bool, optional
        The bands that ``"all"`` pools (:attr:`Summary.pooled`: alpha is not); all of them
        by default.

    Returns
    -------
    dict
        ``(selection, shift, prefix) -> ("hist", counts) | ("keys", keys)`` for this block.
    """
    if is_masked_array(block):
        from ._inputs import refine_masked

        return refine_masked(block, targets, dtype, limit, refine_block, merge_refinements, pooled)
    dtype = np.dtype(dtype)
    px = as_pixels(block)
    if any(t[1] < 0 for t in targets):  # squares, values: readings of every sample
        special = {t[:3]: _special(px, t, dtype, pooled) for t in targets if t[1] < 0}
        rest = [t for t in targets if t[1] >= 0]
        # the block as given: as_pixels reads a 2-D array as one band of (y, x)
        return {**special, **(refine_block(block, rest, dtype, limit, pooled) if rest else {})}
    npix, nb = px.shape
    flat = px.reshape(-1).view(f"u{dtype.itemsize}")
    width = dtype.itemsize * 8
    kind = 2 if dtype.kind == "f" else (1 if dtype.kind == "i" else 0)
    nt = len(targets)
    shifts = np.array([t[1] for t in targets], np.uint64)
    prefixes = np.array([t[2] for t in targets], np.uint64)
    bands = np.zeros((nt, nb), np.bool_)
    for t, (sel, *_) in enumerate(targets):
        if sel == "all":
            bands[t] = True if pooled is None else pooled
        else:
            bands[t, int(sel[1:])] = True
    collect = np.array([t[3] <= limit for t in targets], np.bool_)
    # the top-16-bit bins any target of each band lies in: one look-up rejects most samples
    top = width - 16
    table = np.zeros((nb, 1 << 16), np.bool_)
    for t in range(nt):
        table[bands[t], int(prefixes[t]) >> (top - int(shifts[t]))] = True
    caps = np.array(
        [min(npix * int(bands[t].sum()), targets[t][3]) if collect[t] else 0 for t in range(nt)],
        np.int64,
    )
    offsets = np.concatenate([[0], np.cumsum(caps)]).astype(np.int64)
    buf = np.empty(int(offsets[-1]), np.uint64)
    counts = np.zeros(nt, np.int64)
    slots = np.cumsum(~collect) - 1
    hist = np.zeros((int((~collect).sum()), 1 << 16), np.int64)
    if flat.size:
        if len(set(shifts.tolist())) == 1:  # one level: the ranges of the prefixes themselves
            rshift, tops = int(shifts[0]), [int(p) for p in prefixes]
        else:
            tops = [int(p) >> (top - int(sh)) for p, sh in zip(prefixes, shifts, strict=True)]
            rshift = top
        _kernels.refine_targets(
            flat,
            nb,
            kind,
            width,
            _ranges(tops),
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
        )
    out = {}
    for t, (sel, shift, prefix, _) in enumerate(targets):
        if collect[t]:
            out[(sel, shift, prefix)] = ("keys", buf[offsets[t] : offsets[t] + counts[t]])
        else:
            out[(sel, shift, prefix)] = ("hist", hist[slots[t]])
    return out


def _special(px: np.ndarray, target, dtype: np.dtype, pooled) -> tuple:
    """A block's ``("squares", Fraction)`` or ``("values", (2, k) keys and counts)`` node of
    the samples of a target's selection (see :data:`imgstats.summary.SQUARES`)."""
    sel, shift = target[0], target[1]
    if sel == "all":
        cols = np.ones(px.shape[1], bool) if pooled is None else np.asarray(pooled, bool)
    else:
        cols = np.zeros(px.shape[1], bool)
        cols[int(sel[1:])] = True
    samples = px[:, cols].reshape(-1) if not cols.all() else px.reshape(-1)
    if shift == SQUARES:
        return "squares", exact_squares(samples)
    keys = _int_keys(samples)
    uniq, counts = np.unique(keys, return_counts=True)
    if uniq.size > VALUES_LIMIT:
        return "too_many", np.zeros((2, 0), np.uint64)
    return "values", np.stack([uniq, counts.astype(np.uint64)])


def _int_keys(samples: np.ndarray) -> np.ndarray:
    """The order-preserving uint64 keys of integer samples (the summary's)."""
    bits = samples.dtype.itemsize * 8
    raw = samples.view(f"u{samples.dtype.itemsize}").astype(np.uint64)
    if samples.dtype.kind == "i":
        raw ^= np.uint64(1 << (bits - 1))
    return raw


#: |x| between these has an exact square as a float64 pair (Dekker's product): no overflow
#: of ``x * x`` or of Veltkamp's split, no underflow of the error term.
_DEKKER_LOW, _DEKKER_HIGH = 2.0**-450, 2.0**450


#: Samples squared at a time: the exact squares take about ten temporaries of their size (a
#: block of 2**27 float64 samples, a whole in-memory image's slice, would take 10 GB).
SQUARES_CHUNK = 1 << 20


def exact_squares(samples: np.ndarray) -> Fraction:
    """The exact sum of the squares of the finite 1-D samples (NaN and infinities left out).

    Integers: their keys in 16-bit limbs, every limb product summed in uint64 (exact below
    2**32 samples). Floats: each square as an exact float64 pair (float32 squares are exact
    in float64; float64 ones by Dekker's product, after an exact power-of-two scaling of the
    tiny and the huge), summed exactly by the float64 summing kernel. Taken
    :data:`SQUARES_CHUNK` samples at a time, the exact sums of the chunks added.
    """
    return sum(
        (
            _chunk_squares(samples[i : i + SQUARES_CHUNK])
            for i in range(0, samples.size, SQUARES_CHUNK)
        ),
        Fraction(0),
    )


def _chunk_squares(samples: np.ndarray) -> Fraction:
    """:func:`exact_squares` of at most :data:`SQUARES_CHUNK` samples."""
    if samples.dtype.kind in "uib":
        return Fraction(_int_squares(samples))
    x = samples[np.isfinite(samples)]
    if x.dtype == np.float32:
        sq = x.astype(np.float64)
        return _float64_total(sq * sq)
    out = Fraction(0)
    mag = np.abs(x)
    mid = (mag >= _DEKKER_LOW) & (mag <= _DEKKER_HIGH)
    for part, scale in (
        (x[mid], 0),
        (x[(mag < _DEKKER_LOW) & (mag > 0)], 700),
        (x[mag > _DEKKER_HIGH], -600),
    ):
        if part.size:
            y = np.ldexp(part, scale) if scale else part
            out += _two_squares(y) / Fraction(2) ** (2 * scale)
    return out


def _two_squares(x: np.ndarray) -> Fraction:
    """The exact sum of ``x * x`` (float64, within the Dekker range) as ``p + e`` pairs."""
    p = x * x
    c = 134217729.0 * x  # Veltkamp's split: 2**27 + 1
    hi = c - (c - x)
    lo = x - hi
    e = ((hi * hi - p) + 2.0 * hi * lo) + lo * lo
    return _float64_total(np.concatenate([p, e]))


def _float64_total(values: np.ndarray) -> Fraction:
    """The exact sum of finite float64 values (the summary's own exact sum)."""
    return _scan_floats(np.ascontiguousarray(values, np.float64).reshape(-1, 1), _F64)[0].total


_F64 = np.dtype(np.float64)


def _int_squares(samples: np.ndarray) -> int:
    """The exact sum of the squares of integer samples, from their keys' 16-bit limbs."""
    bits = samples.dtype.itemsize * 8
    keys = _int_keys(samples)
    flip = (1 << (bits - 1)) if samples.dtype.kind == "i" else 0
    n = keys.size
    limbs = [(keys >> np.uint64(16 * i)) & np.uint64(0xFFFF) for i in range(bits // 16)]
    sum_k = sum(int(limb.sum(dtype=np.uint64)) << (16 * i) for i, limb in enumerate(limbs))
    sum_k2 = 0
    for i, a in enumerate(limbs):
        for j in range(i, len(limbs)):
            term = int(np.dot(a, limbs[j]))  # each product < 2**32: exact below 2**32 of them
            sum_k2 += (term << (16 * (i + j))) * (1 if i == j else 2)
    # x = k - flip: sum x**2 = sum k**2 - 2 flip sum k + n flip**2
    return sum_k2 - 2 * flip * sum_k + n * flip * flip


def _ranges(tops, n: int = 4) -> np.ndarray:
    """At most ``n`` ranges ``(first, last - first)`` that cover the bins ``tops``: the widest
    gaps between them are left out (unused ranges start at 2**63 and match no bin)."""
    tops = sorted(set(tops))
    gaps = sorted(range(1, len(tops)), key=lambda i: tops[i] - tops[i - 1])[-(n - 1) :]
    cuts = [0, *sorted(gaps), len(tops)] if len(tops) > 1 else [0, len(tops)]
    out = np.zeros((n, 2), np.uint64)
    out[:, 0] = np.uint64(1 << 63)
    for r, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        out[r] = (tops[a], tops[b - 1] - tops[a])
    return out


def merge_refinements(a: dict, b: dict) -> dict:
    """Merge two blocks' refinements: histograms add up, collected keys concatenate."""
    out = dict(a)
    for node, (kind, data) in b.items():
        if node not in out:
            out[node] = (kind, data)
        elif kind in SPECIAL_KINDS:
            out[node] = merge_special(out[node], (kind, data))
        elif kind == "hist":
            out[node] = (kind, out[node][1] + data)
        else:
            out[node] = (kind, np.concatenate([out[node][1], data]))
    return out


def finish_refinements(found: dict) -> dict:
    """Sort collected keys once all blocks are merged."""
    return {
        node: (kind, _sorted(data, node[1]) if kind == "keys" else data)
        for node, (kind, data) in found.items()
    }


#: Collected keys from which a radix sort of their low bits beats ``numpy.sort``.
RADIX_SORT_FROM = 1 << 12


def _sorted(keys: np.ndarray, shift: int) -> np.ndarray:
    """``keys`` (that share every bit above ``shift``) sorted, as a new array."""
    if keys.size < RADIX_SORT_FROM:
        return np.sort(keys)
    out = np.array(keys, np.uint64)
    _kernels.sort_low_bits(out, shift)
    return out
