"""Collections of mixed pixel types: numpy's promotion, from the summaries alone.

``numpy.concatenate`` of a uint8, a uint16, an int16 and a float32 image is float32
(:func:`numpy.result_type`), and every 8- or 16-bit integer is exactly a float32 (or an int32,
a float64). An 8/16-bit summary holds the full histogram of its values, so it can be rewritten
as a summary of the promoted type without reading its pixels, and it answers that type's
refinement passes from the same histogram. Images already of the promoted type are refined
from their pixels as usual (:mod:`imgstats.collection`). A collection whose promotion would
change a 32/64-bit image's values or type (int32 with float32 is float64) is refused: that
would need the image decoded again.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidOption
from ..summary import (
    BandStats,
    Summary,
    _bins,
    _top_shift,
    collect_limit,
    key_bits_of,
    keys_to_values,
)

__all__ = ["promoted_type", "promote", "PromotedPart", "refine_mixed"]


def promoted_type(dtypes, names) -> np.dtype:
    """numpy's type of the concatenation, when every image can reach it from its summary.

    Raises
    ------
    InvalidOption
        When a 32/64-bit image's type differs from the promoted one (two images named).
    """
    dtypes = [np.dtype(d) for d in dtypes]
    target = np.result_type(*dtypes)
    for dtype, name in zip(dtypes, names, strict=True):
        if dtype != target and (dtype.itemsize > 2 or dtype.kind not in "ui"):
            other = next(n for d, n in zip(dtypes, names, strict=True) if d != dtype)
            raise InvalidOption(
                f"images of these pixel types cannot be one collection: {name} is {dtype}, "
                f"{other} is not, and numpy would promote them to {target}, which needs "
                f"{name} decoded again (narrow the pattern)"
            )
    return target


def _keys(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Order-preserving keys (uint64) of ``values`` of ``dtype`` (see imgstats.summary)."""
    bits = dtype.itemsize * 8
    raw = values.astype(dtype).view(f"u{dtype.itemsize}").astype(np.uint64)
    sign = np.uint64(1 << (bits - 1))
    if dtype.kind == "u":
        return raw
    if dtype.kind == "i":
        return raw ^ sign
    mask = np.uint64((1 << bits) - 1)
    return np.where(raw & sign, ~raw & mask, raw | sign)


class PromotedPart:
    """An 8/16-bit image's summary rewritten in a wider type, with its values kept.

    Attributes
    ----------
    summary : Summary
        The same samples as a summary of the promoted type (no luma).
    keys : list of (numpy.ndarray, numpy.ndarray)
        Per band: the promoted keys of its distinct values, and their counts.
    """

    def __init__(self, part: Summary, dtype: np.dtype):
        self.keys = []
        bands = []
        bits = key_bits_of(dtype)
        for stats in part.bands:
            nz = np.flatnonzero(stats.hist)
            keys = _keys(keys_to_values(nz, stats.dtype), dtype)
            counts = stats.hist[nz].astype(np.int64)
            self.keys.append((keys, counts))
            if not stats.count:
                bands.append(BandStats.empty(dtype))
                continue
            hist = _counts(keys >> np.uint64(_top_shift(bits)), counts, _bins(bits))
            bands.append(
                BandStats(
                    dtype.str, stats.count, 0, hist, int(keys.min()), int(keys.max()), stats.total
                )
            )
        self.summary = Summary(tuple(bands), part.band_names, None, part.shape)

    def found(self, bands_mask: np.ndarray, nodes) -> dict:
        """This image's refinement of ``nodes``, as :func:`imgstats._blocks.refine_block` gives
        it, from the kept values: ``(shift, prefix) -> ("hist", counts) | ("keys", keys)``."""
        parts = [kc for kc, on in zip(self.keys, bands_mask, strict=True) if on]
        keys = np.concatenate([k for k, _ in parts])
        counts = np.concatenate([c for _, c in parts])
        out = {}
        limit = collect_limit(self.summary.dtype)
        for shift, prefix, count in nodes:
            inside = (keys >> np.uint64(shift)) == np.uint64(prefix)
            k, c = keys[inside], counts[inside]
            if count <= limit:
                out[(shift, prefix)] = ("keys", np.repeat(k, c))
            else:
                low = (k >> np.uint64(shift - 16)) & np.uint64(0xFFFF)
                out[(shift, prefix)] = ("hist", _counts(low, c, 1 << 16))
        return out


def _counts(bins: np.ndarray, counts: np.ndarray, size: int) -> np.ndarray:
    """``counts`` summed per bin, as int64 (bincount's float64 is exact below 2**53)."""
    return np.bincount(bins.astype(np.intp), weights=counts, minlength=size).astype(np.int64)


def promote(parts, dtype: np.dtype) -> list:
    """Each part as is when of ``dtype``, else a :class:`PromotedPart`."""
    return [p if p.dtype == dtype else PromotedPart(p, dtype) for p in parts]


def refine_mixed(merged: Summary, parts, sources, funcs, band, io_options) -> Summary:
    """Refine a collection's summary until it answers ``funcs`` for ``band``.

    ``parts`` holds each image's summary of the collection's type, or its
    :class:`PromotedPart`; only images of that type holding samples in the bins are read
    again, one after the other. Refinements are stored under the selection that
    :meth:`Summary.missing` names (a single band's are the image's, ``"all"``).
    """
    from .._blocks import finish_refinements, merge_refinements
    from ..collection import _found_one, _holds, _own_selection

    io_options = dict(io_options)
    region = {
        "window": io_options.pop("window", None),
        "mask": None,
        "polygon": io_options.pop("polygon", None),
    }
    for _ in range(4):
        missing = merged.missing(funcs, band)  # (selection, shift, prefix, count)
        if not missing:
            return merged
        nodes = [(shift, prefix, count) for _, shift, prefix, count in missing]
        sel_of = {(shift, prefix): sel for sel, shift, prefix, _ in missing}
        found = {}
        for i, (part, source) in enumerate(zip(parts, sources, strict=True)):
            summary = part.summary if isinstance(part, PromotedPart) else part
            own = _own_selection(summary, merged, band)
            if not _holds(summary._stats(own), nodes):
                continue
            mask = summary.bands_of(own)
            if isinstance(part, PromotedPart):
                mine = part.found(mask, nodes)
            else:
                mine = _found_one(source, i, region, io_options, mask, nodes, merged.dtype, False)
            found = merge_refinements(found, mine)
        merged = merged.with_refinements(
            {(sel_of[node], *node): data for node, data in finish_refinements(found).items()}
        )
    if merged.missing(funcs, band):  # pragma: no cover
        raise RuntimeError("radix selection did not converge; this is a bug")
    return merged
