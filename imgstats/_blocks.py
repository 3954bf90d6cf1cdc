"""Per-chunk work: summarize one in-memory block, or refine selected bins of one block.

These are the functions dask runs on every chunk (and threads on every slice of a numpy
array). Their results merge with :meth:`Summary.merge` and :func:`merge_refinements`.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np

from ._lazy import lazy_module
from .summary import COLLECT_LIMIT, BandStats, Summary, _bins, key_bits_of

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


def summarize_block(block, band_names, luma: bool, shape=()) -> Summary:
    """Summarize one in-memory block of shape ``(y, x[, band])``.

    Parameters
    ----------
    block : array_like
    band_names : tuple of str
    luma : bool
        Also count Pillow's 8-bit luma of bands 0..2 (uint8 only).
    shape : tuple of int
        The shape of the whole image, recorded in the summary.
    """
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
    else:
        bands = _scan_floats(px, dtype)
    return Summary(bands, tuple(band_names), luma_stats, tuple(shape))


def small_int_stats(dtype: np.dtype, hist: np.ndarray) -> BandStats:
    """The :class:`BandStats` of 8- or 16-bit integers from their full histogram."""
    nz = np.flatnonzero(hist)
    count = int(hist.sum())
    if count == 0:
        return BandStats.empty(dtype)
    base = int(np.iinfo(dtype).min)
    total = int(np.dot(hist[nz], nz)) + base * count
    return BandStats(dtype.str, count, 0, hist, int(nz[0]), int(nz[-1]), Fraction(total))


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
    nb = px.shape[1]
    hist = np.zeros((nb, 1 << 16), np.int64)
    kmin = np.full(nb, np.iinfo(np.uint64).max, np.uint64)
    kmax = np.zeros(nb, np.uint64)
    special = np.zeros((nb, 3), np.int64)
    esum_hi = np.zeros((nb, 2048), np.int64)
    esum_lo = np.zeros((nb, 2048), np.int64)
    _kernels.scan_float64(px.view(np.uint64), hist, kmin, kmax, esum_hi, esum_lo, special)
    sums = [
        _exact_sum(esum_hi[c], 1 << 26, 1074) + _exact_sum(esum_lo[c], 1, 1074)
        for c in range(nb)
    ]
    out = []
    for c in range(nb):
        nan, posinf, neginf = (int(v) for v in special[c])
        count = px.shape[0] - nan
        if count == 0:
            out.append(replace(BandStats.empty(dtype), nan=nan))
            continue
        out.append(
            BandStats(dtype.str, count, nan, hist[c], int(kmin[c]), int(kmax[c]), sums[c],
                      posinf, neginf)
        )
    return tuple(out)


def _scan_float32(px: np.ndarray) -> tuple[BandStats, ...]:
    nb = px.shape[1]
    dtype = np.dtype(np.float32)
    hist = np.zeros((nb, 1 << 16), np.int64)
    lows = np.zeros((nb, 1 << 16), np.int64)
    kmin = np.full(nb, 0xFFFFFFFF, np.uint64)
    kmax = np.zeros(nb, np.uint64)
    nan = np.zeros(nb, np.int64)
    _kernels.scan_float32(px.reshape(-1).view(np.uint32), nb, hist, lows, kmin, kmax, nan)
    out = []
    for c in range(nb):
        count = px.shape[0] - int(nan[c])
        if count == 0:
            out.append(replace(BandStats.empty(dtype), nan=int(nan[c])))
            continue
        posinf, neginf = int(hist[c, _F32_POSINF_BIN]), int(hist[c, _F32_NEGINF_BIN])
        out.append(BandStats(dtype.str, count, int(nan[c]), hist[c], int(kmin[c]), int(kmax[c]),
                             float32_sum(hist[c], lows[c]), posinf, neginf))
    return tuple(out)


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
    neg = _F32_BINS < 0x8000
    bits16 = np.where(neg, 0xFFFF ^ _F32_BINS, _F32_BINS ^ 0x8000)  # top 16 bits of the float
    exponent = (bits16 >> 7) & 0xFF
    base = ((bits16 & 0x7F) << 16) | np.where(exponent > 0, 1 << 23, 0)
    low = np.where(neg, hist * 0xFFFF - lows, lows)
    sig = np.where(_F32_FINITE, hist * base + low, 0)
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


def refine_block(block, bands_mask, nodes, dtype) -> dict:
    """Look at the keys of one block that fall into ``nodes``.

    Parameters
    ----------
    block : array_like
        ``(y, x[, band])`` pixels.
    bands_mask : numpy.ndarray of bool
        The bands of the selection.
    nodes : list of (shift, prefix, count)
        Bins to refine; ``count`` is the number of keys in the bin over the whole image, which
        decides between collecting keys (``count <= COLLECT_LIMIT``) and a 16-bit histogram.
    dtype : numpy.dtype

    Returns
    -------
    dict
        ``(shift, prefix) -> ("hist", counts) | ("keys", keys)`` for this block.
    """
    dtype = np.dtype(dtype)
    px = as_pixels(block)
    raw = px.view(f"u{dtype.itemsize}")
    kind = 2 if dtype.kind == "f" else (1 if dtype.kind == "i" else 0)
    width = dtype.itemsize * 8
    out = {}
    by_shift: dict[int, list] = {}
    for shift, prefix, count in nodes:
        by_shift.setdefault(shift, []).append((prefix, count))
    flat32 = dtype == np.float32 and list(by_shift) == [16]
    for shift, items in by_shift.items():
        items.sort()
        prefixes = np.array([p for p, _ in items], np.uint64)
        collect = np.array([c <= COLLECT_LIMIT for _, c in items], np.bool_)
        cap = min(px.size, max([c for _, c in items if c <= COLLECT_LIMIT], default=0))
        buf = np.zeros((len(items), cap), np.uint64)
        counts = np.zeros(len(items), np.int64)
        hist = np.zeros((len(items), 1 << 16), np.int64)
        if flat32:
            _kernels.refine_float32(raw.reshape(-1), raw.shape[1], bands_mask, prefixes, hist,
                                    collect, counts, buf)
        else:
            _kernels.refine_keys(
                raw, bands_mask, kind, width, prefixes, shift, hist, collect, counts, buf
            )
        for t, (prefix, _) in enumerate(items):
            if collect[t]:
                out[(shift, prefix)] = ("keys", buf[t, : counts[t]].copy())
            else:
                out[(shift, prefix)] = ("hist", hist[t])
    return out


def merge_refinements(a: dict, b: dict) -> dict:
    """Merge two blocks' refinements: histograms add up, collected keys concatenate."""
    out = dict(a)
    for node, (kind, data) in b.items():
        if node not in out:
            out[node] = (kind, data)
        elif kind == "hist":
            out[node] = (kind, out[node][1] + data)
        else:
            out[node] = (kind, np.concatenate([out[node][1], data]))
    return out


def finish_refinements(found: dict) -> dict:
    """Sort collected keys once all blocks are merged."""
    return {
        node: (kind, np.sort(data) if kind == "keys" else data)
        for node, (kind, data) in found.items()
    }

