"""Histograms of an image's valid samples, equal to :func:`numpy.histogram`'s.

``numpy.histogram(valid, bins, range)`` places each sample by itself (its bin follows from
the sample, the two outer edges, the number of bins and the edges' type), so counts summed
over blocks equal the counts of the whole, and counts weighted by a value's multiplicity
equal the counts of the samples themselves. Hence two ways, both exact:

* 8- and 16-bit integers: the summary's exact histogram (one count per value) is binned by
  numpy with the counts as weights -- no pixel is read;
* 32/64-bit integers and floats: one pass over the pixels, each block's valid samples binned
  by numpy with the same outer edges (given, or the exact min and max from the summary, of
  the samples' type as ``numpy.histogram`` takes them), and the counts summed.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ._lazy import is_masked_array
from .errors import InvalidOption, NoValidSamples

__all__ = [
    "MAX_BINS",
    "check_bins",
    "check_range",
    "histogram",
    "needs_pixels",
    "of_summary",
    "of_pixels",
]

#: The most bins of one histogram (a larger ``bins`` is refused).
MAX_BINS = 4096
#: numpy's default number of bins.
DEFAULT_BINS = 10

_BINS = re.compile(r"[0-9]{1,6}")


def check_bins(bins) -> int:
    """``bins`` as an int from 1 to :data:`MAX_BINS` (digits in a query string, or an int).

    Raises
    ------
    InvalidOption
        Anything else.
    """
    if bins is None:
        return DEFAULT_BINS
    if isinstance(bins, str) and _BINS.fullmatch(bins):
        bins = int(bins)
    if isinstance(bins, int) and not isinstance(bins, bool) and 1 <= bins <= MAX_BINS:
        return bins
    raise InvalidOption(f"invalid bins {str(bins)[:32]!r}: use a whole number from 1 to {MAX_BINS}")


def check_range(text) -> tuple[float, float] | None:
    """``"lo,hi"`` (or a pair) as two finite floats with ``lo <= hi``; None stays None.

    Raises
    ------
    InvalidOption
        Not two finite numbers, or ``lo > hi`` (numpy refuses both too).
    """
    if text is None:
        return None
    parts = text.split(",") if isinstance(text, str) and len(text) <= 128 else None
    if isinstance(text, (list, tuple)):
        parts = list(text)
    try:
        if parts is None or len(parts) != 2:
            raise ValueError
        lo, hi = (_finite(p) for p in parts)
    except (TypeError, ValueError, OverflowError):
        raise InvalidOption(
            f"invalid range {str(text)[:40]!r}: use two finite numbers lo,hi"
        ) from None
    if lo > hi:
        raise InvalidOption(f"invalid range {lo!r},{hi!r}: lo must not be greater than hi")
    return lo, hi


def _finite(value) -> float:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, str) and ("_" in value or not value.isascii()):
        # float() takes "1_0" and other scripts' digits ("٣" is 3.0): typos or another
        # reading than the client's, refused as every other number of a query is
        raise ValueError
    out = float(value)
    if not math.isfinite(out):
        raise ValueError
    return out


def needs_pixels(summary) -> bool:
    """Whether a histogram of ``summary``'s image needs a pass over the pixels (32/64-bit
    integers and floats), rather than its exact 8/16-bit histogram."""
    return not (summary.dtype.kind in "uib" and summary.dtype.itemsize <= 2)


def _edges(summary, sel, rng):
    """The outer edges as ``numpy.histogram`` takes them: ``rng`` as given, else the
    selection's exact min and max as scalars of the samples' type (numpy's own)."""
    stats = summary._stats(sel)
    if stats.count == 0:
        raise NoValidSamples("no valid samples: the selection is empty, or NaN, nodata or masked")
    if rng is not None:
        return rng
    dtype = _sample_type(summary, sel)
    band = _band(sel)
    lo, hi = summary.compute(["min", "max"], band).values()
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidOption(
            f"the samples range over [{lo}, {hi}], which is not finite: give range=lo,hi"
        )
    return dtype.type(lo), dtype.type(hi)


def _sample_type(summary, sel) -> np.dtype:
    """The type numpy bins the samples of a selection in: the luma's uint8, a float16
    array's float16 (its edges are float16 in numpy), else the summary's."""
    if sel == "luma":
        return np.dtype(np.uint8)
    return np.dtype(np.float16) if summary.half else summary.dtype


def _checked_edges(dtype, bins: int, edges) -> np.ndarray:
    """The bin edges numpy makes for samples of ``dtype``; a range too narrow for ``bins``
    bins of that type (numpy refuses it too) is an :class:`InvalidOption`."""
    shown = f"{float(edges[0])!r},{float(edges[1])!r}"
    try:
        with np.errstate(all="ignore"):
            out = np.histogram_bin_edges(np.empty(0, dtype), bins, range=edges)
    except ValueError as exc:  # "Too many bins for data range"
        raise InvalidOption(
            f"range {shown} cannot be cut into {bins} bins with {np.dtype(dtype).name} "
            f"edges (numpy.histogram refuses it: {exc}): give another range=lo,hi or fewer bins"
        ) from None
    if not np.isfinite(out).all():  # the width overflows the type (float32 -3e38..3e38)
        raise InvalidOption(
            f"range {shown} is too wide for {np.dtype(dtype).name} bin edges: give a narrower "
            "range=lo,hi"
        )
    return out


def _histogram(values, bins, edges, weights=None):
    """numpy.histogram, its floating-point warnings aside (an overflow in its arithmetic
    gives numpy's own answer; the warnings would only reach the service's log)."""
    try:
        with np.errstate(all="ignore"):
            return np.histogram(values, bins, range=edges, weights=weights)
    except (IndexError, ValueError):  # numpy's own arithmetic overflows (float64 near max)
        raise InvalidOption(
            f"numpy.histogram cannot bin these samples over {float(edges[0])!r},"
            f"{float(edges[1])!r}: the range's width overflows; give a narrower range=lo,hi"
        ) from None


def _band(sel):
    return None if sel == "all" else "luma" if sel == "luma" else int(sel[1:])


def of_summary(summary, sel: str, bins: int, rng=None) -> dict:
    """``{"counts", "edges"}`` of an 8/16-bit selection from its exact histogram.

    Raises
    ------
    NoValidSamples
        The selection holds no valid sample.
    """
    edges = _edges(summary, sel, rng)
    values, counts = summary.histogram(_band(sel))
    dtype = _sample_type(summary, sel)
    _checked_edges(dtype, bins, edges)
    hist, out = _histogram(values.astype(dtype), bins, edges, weights=counts)
    return {"counts": [int(c) for c in hist], "edges": [float(e) for e in out]}


def of_pixels(summary, plan, sels, bins: int, rng=None) -> dict:
    """``{sel: {"counts", "edges"}}`` of 32/64-bit or float selections, in one pass over
    ``plan``'s blocks (their invalid samples are NaN or picked out by the plan's validity).

    A selection without valid samples maps to None.
    """
    ranges, out = {}, {}
    for sel in sels:
        try:
            ranges[sel] = _edges(summary, sel, rng)
        except NoValidSamples:
            out[sel] = None
            continue
        _checked_edges(_sample_type(summary, sel), bins, ranges[sel])  # before any pixel
    todo = [s for s in sels if s in ranges]
    if not todo:
        return out
    pooled = np.flatnonzero(summary.pooled)
    dtype = _sample_type(summary, "all")

    def work(block):
        masked = is_masked_array(block)
        data = np.ma.getdata(block) if masked else np.asanyarray(block)
        mask = np.ma.getmaskarray(block) if masked else None
        px = data.reshape(-1, data.shape[-1] if data.ndim == 3 else 1)
        ok = None if mask is None else ~mask.reshape(px.shape[0], -1)
        result = np.zeros((len(todo), bins), np.int64)
        for i, sel in enumerate(todo):
            cols = pooled if sel == "all" else [int(sel[1:])]
            if ok is None and len(cols) == px.shape[1]:
                values = px.ravel()  # every band (or the one band): no copy
            else:
                values = px[:, cols]
                if ok is not None:
                    values = values[ok[:, cols]]
            values = values.astype(dtype, copy=False).ravel()
            result[i] = _histogram(values, bins, ranges[sel])[0]
        return result

    total = plan.map_reduce(work, lambda parts: sum(parts[1:], parts[0]))
    for i, sel in enumerate(todo):
        edges = _checked_edges(dtype, bins, ranges[sel])
        out[sel] = {"counts": [int(c) for c in total[i]], "edges": [float(e) for e in edges]}
    return out


def histogram(
    data,
    bins: int | None = None,
    range=None,  # noqa: A002 -- numpy.histogram's name
    band=None,
    *,
    scheduler=None,
    window=None,
    mask=None,
    polygon=None,
    **io_options,
) -> dict:
    """``numpy.histogram(valid samples, bins, range)`` of an image: its counts and edges.

    Parameters
    ----------
    data : array_like, dask or xarray array, PIL.Image.Image, str or path
        One image, as :func:`imgstats.compute` takes it (not a list or a pattern).
    bins : int, optional
        1 to :data:`MAX_BINS` equal bins (numpy's default, 10).
    range : (float, float) or str, optional
        The outer edges ``(lo, hi)`` (or ``"lo,hi"``); by default the valid samples' min and
        max, as numpy's.
    band : None, int or str
        The selection (see :meth:`imgstats.Summary.selection`): every sample of every band but
        alpha, one band, or ``"luma"``.
    scheduler, window, mask, polygon, **io_options
        As for :func:`imgstats.compute`.

    Returns
    -------
    dict
        ``{"counts": [bins ints], "edges": [bins + 1 floats]}``, equal to
        ``numpy.histogram(valid, bins, range)`` on the valid samples (of the image's type:
        an 8- or 16-bit image's from its exact summary, other types in one more pass over
        the pixels; a float16 array's edges are float16, as numpy's).

    Raises
    ------
    InvalidOption
        A bad ``bins`` or ``range``, a range numpy cannot cut into ``bins`` bins, samples
        whose range is not finite without ``range``, or a bad band.
    NoValidSamples
        The selection has no valid sample.

    Examples
    --------
    >>> import numpy as np
    >>> histogram(np.array([1, 2, 2, 3, 9], np.uint8), bins=4)
    {'counts': [3, 1, 0, 1], 'edges': [1.0, 3.0, 5.0, 7.0, 9.0]}
    """
    from ._passes import _plan, _region, _summarize
    from .io._plan import check_io_options

    bins, rng = check_bins(bins), check_range(range)
    if isinstance(data, (list, tuple)):
        raise InvalidOption("histogram takes one image, not a list: ask each image on its own")
    check_io_options(io_options, "histogram", ("scheduler", "window", "mask", "polygon"))
    data, io_options = _region(data, window, mask, polygon, io_options, scheduler)
    plan = _plan(data, scheduler, io_options)
    summary = _summarize(plan, plan.has_luma, scheduler, False)
    sel = summary.selection(band)
    if sel == "luma" or not needs_pixels(summary):
        return of_summary(summary, sel, bins, rng)
    found = of_pixels(summary, plan, [sel], bins, rng)[sel]
    if found is None:
        raise NoValidSamples("no valid samples: the selection is empty, or NaN, nodata or masked")
    return found
