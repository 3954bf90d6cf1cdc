"""Collections: the samples of many images as one set, exactly.

Each image is summarized once (one task per image, on threads or on a dask.distributed
cluster), and the summaries are merged. The answer equals numpy's on the concatenation of all
the images' samples (``numpy.concatenate([a.ravel() for a in arrays])``), whatever their shapes.

Rules
-----
* **Types.** numpy's promotion: the collection's type is :func:`numpy.result_type` of the
  images' types, the type of ``numpy.concatenate`` of their arrays (uint8 with float32 gives
  float32, uint16 with int16 gives int32, int32 with float32 gives float64), and every sample
  counts as that type, as ``numpy.concatenate([a.astype(t).ravel() for a in arrays])`` would.
  An 8- or 16-bit integer image (or a boolean one) is promoted from its summary, which holds
  every value it has: its pixels are not read again. A 32- or 64-bit image of another type
  than the collection's is decoded again as that type (a float32 image in a float64
  collection has other keys): :func:`summarize_many` and :func:`compute_many` have the
  sources, so they do it, once, one task per such image; an image whose type is known before
  decoding (an array, a local file's header) is converted in its first pass instead, so it
  is read once as a rule. Only :func:`merge_summaries`,
  which has no pixels, refuses such a mix, naming the images (so does the HTTP service, which
  answers from each image's own summary).
* **Bands.** Images with the same band names keep them (``band="R"`` works across a set of RGB
  photographs). When they differ (RGB with greyscale), each image's samples of all bands count
  and the collection has one band named ``"all"``: numpy's ``concatenate`` of every sample of
  every image. Only ``band=None`` (or ``"luma"`` when every image has a luma) can then be
  asked; a promoted image has no luma.
* **Refinement.** 32- and 64-bit percentiles need exact order statistics inside one or two
  histogram bins of the *merged* histogram. Each refinement pass reads again, one task per
  image, only the images whose own summary has samples in those bins (as the collection's
  type), and their findings merge into the collection's summary: exact, and a float32
  collection needs one pass at most. Promoted 8/16-bit images answer from their summaries.
* **Errors.** An image that cannot be read raises its usual error (ImageNotFound,
  UnreadableImage...) with the image's name in the message. A file that a pattern matched
  and that is no image at all (:class:`~imgstats.errors.NotAnImage`: a ``LICENSES.md``
  beside the pictures) is left out, and named in a :class:`~imgstats.errors.SkippedFiles`
  warning; named on its own, it fails as any other.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial

import numpy as np

from .errors import (
    ImageNotFound,
    ImgStatsError,
    InvalidOption,
    NotAnImage,
    SkippedFiles,
    with_message,
)
from .functions import shown_name
from .summary import (
    BandStats,
    Summary,
    _bins,
    _top_shift,
    collect_limit,
    key_bits_of,
    keys_to_values,
    special_of_counts,
)

__all__ = [
    "summarize_many",
    "compute_many",
    "merge_summaries",
    "refine_many",
    "promoted_type",
    "promote",
    "PromotedPart",
]

_MAX_REFINE_PASSES = 4


#: The keywords of the collection functions themselves, for the hint of a typo.
_MANY_OPTIONS = ("scheduler", "max_workers", "window", "mask", "polygon")


def _check_options(io_options: dict, caller: str, own=()) -> None:
    """Refuse a misspelt keyword of ``caller`` (see :func:`imgstats.io._plan.check_io_options`)."""
    from .io._plan import check_io_options

    check_io_options(io_options, caller, (*own, *_MANY_OPTIONS))


def _label(source, index: int) -> str:
    if isinstance(source, (str, os.PathLike)):
        from .io._sources import describe

        return describe(source)
    return f"image {index} ({type(source).__name__})"


def _named(exc: ImgStatsError, label: str) -> ImgStatsError:
    """The same error, with the image's name in its message when it lacks it."""
    text = str(exc)
    if label in text:
        return exc
    return with_message(exc, f"{label}: {text}")


# -- numpy's promotion -------------------------------------------------------------------------
def _from_summary(dtype) -> bool:
    """Whether a summary of ``dtype`` holds every value (8/16-bit integers, booleans), so that
    it can be promoted to a wider type without its pixels."""
    dtype = np.dtype(dtype)
    return dtype.kind == "b" or (dtype.kind in "ui" and dtype.itemsize <= 2)


def promoted_type(dtypes, labels=None, *, decode_again: bool = True) -> np.dtype:
    """numpy's type of the concatenation of images of ``dtypes`` (:func:`numpy.result_type`).

    Parameters
    ----------
    dtypes : sequence of numpy dtypes
        The images' pixel types.
    labels : sequence of str, optional
        The images' names, for error messages.
    decode_again : bool
        Whether a 32/64-bit image whose type differs from the promoted one may be decoded
        again as that type. When not (only summaries at hand), such a mix is refused.

    Returns
    -------
    numpy.dtype

    Raises
    ------
    InvalidOption
        No types, types numpy cannot promote or imgstats cannot order, or (without
        ``decode_again``) a 32/64-bit image of another type than the promoted one: two
        images are named.

    Examples
    --------
    >>> promoted_type(["uint8", "int16", "float32"])
    dtype('float32')
    >>> promoted_type(["int32", "float32"])
    dtype('float64')
    """
    dtypes = [np.dtype(d) for d in dtypes]
    if not dtypes:
        raise InvalidOption("an empty collection has no statistics: give at least one image")
    labels = list(labels) if labels is not None else [f"image {i}" for i in range(len(dtypes))]
    try:
        target = np.result_type(*dtypes)
    except TypeError as exc:
        raise InvalidOption(f"numpy cannot promote these pixel types together: {exc}") from exc
    key_bits_of(target)  # a type without an order (complex...) is refused here
    if decode_again:
        return target
    for dtype, label in zip(dtypes, labels, strict=True):
        if dtype != target and not _from_summary(dtype):
            # name an image that forces the promotion: uint32 is widened by int16, not uint8
            others = [(d, n) for d, n in zip(dtypes, labels, strict=True) if d != dtype]
            other_type, other = next(
                ((d, n) for d, n in others if np.result_type(dtype, d) != dtype), others[0]
            )
            raise InvalidOption(
                f"images of these pixel types cannot be one collection from their summaries: "
                f"{label} is {dtype}, {other} is {other_type}, and numpy promotes them to "
                f"{target}, which needs {label} decoded again as {target} (narrow the "
                f"selection, or give the images to imgstats.compute, which decodes it again)"
            )
    return target


def _keys(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Order-preserving keys (uint64) of ``values`` as ``dtype`` (see imgstats.summary)."""
    bits = dtype.itemsize * 8
    raw = values.astype(dtype).view(f"u{dtype.itemsize}").astype(np.uint64)
    sign = np.uint64(1 << (bits - 1))
    if dtype.kind == "u":
        return raw
    if dtype.kind == "i":
        return raw ^ sign
    mask = np.uint64((1 << bits) - 1)
    return np.where(raw & sign, ~raw & mask, raw | sign)


def _counts(bins: np.ndarray, counts: np.ndarray, size: int) -> np.ndarray:
    """``counts`` summed per bin, as int64 (bincount's float64 is exact below 2**53)."""
    return np.bincount(bins.astype(np.intp), weights=counts, minlength=size).astype(np.int64)


class PromotedPart:
    """An 8/16-bit image's summary rewritten in a wider type, with its values kept.

    Every 8/16-bit integer is exactly representable in the types numpy promotes it to, and
    the summary's histogram holds each distinct value with its count: the promoted summary,
    and any refinement of it, come from those values without reading a pixel.

    Parameters
    ----------
    part : Summary
        The image's own summary (8/16-bit integers or booleans).
    dtype : numpy.dtype
        The collection's type.

    Attributes
    ----------
    part : Summary
        The image's own summary.
    summary : Summary
        The same samples as a summary of ``dtype`` (no luma).
    keys : list of (numpy.ndarray, numpy.ndarray)
        Per band: the promoted keys of its distinct values, and their counts.
    """

    def __init__(self, part: Summary, dtype):
        dtype = np.dtype(dtype)
        if not _from_summary(part.dtype) or np.result_type(part.dtype, dtype) != dtype:
            raise InvalidOption(f"a {part.dtype} summary cannot be promoted to {dtype}")
        self.part = part
        self.keys = []
        bands = []
        bits = key_bits_of(dtype)
        for stats in part.bands:
            nz = np.flatnonzero(stats.hist)
            keys = _keys(keys_to_values(nz, stats.dtype), dtype)
            counts = stats.hist[nz].astype(np.int64)
            self.keys.append((keys, counts))
            if not stats.count:
                bands.append(replace(BandStats.empty(dtype), masked=stats.masked))
                continue
            hist = _counts(keys >> np.uint64(_top_shift(bits)), counts, _bins(bits))
            bands.append(
                BandStats(
                    dtype.str,
                    stats.count,
                    0,
                    hist,
                    int(keys.min()),
                    int(keys.max()),
                    stats.total,
                    masked=stats.masked,
                )
            )
        self.summary = Summary(tuple(bands), part.band_names, None, part.shape, valid=part.valid)

    @property
    def dtype(self) -> np.dtype:
        return self.summary.dtype

    def found(self, bands_mask: np.ndarray, nodes) -> dict:
        """This image's refinement of ``nodes``, as :func:`imgstats._blocks.refine_block` gives
        it, from the kept values: ``(shift, prefix) -> ("hist", counts) | ("keys", keys)``."""
        parts = [kc for kc, on in zip(self.keys, bands_mask, strict=True) if on]
        keys = np.concatenate([k for k, _ in parts])
        counts = np.concatenate([c for _, c in parts])
        out = {}
        limit = collect_limit(self.summary.dtype)
        for shift, prefix, count in nodes:
            if shift < 0:  # the sum of squares, or the count of each value, of every sample
                out[(shift, prefix)] = special_of_counts(keys, counts, self.summary.dtype, shift)
                continue
            inside = (keys >> np.uint64(shift)) == np.uint64(prefix)
            k, c = keys[inside], counts[inside]
            if count <= limit:
                out[(shift, prefix)] = ("keys", np.repeat(k, c))
            else:
                low = (k >> np.uint64(shift - 16)) & np.uint64(0xFFFF)
                out[(shift, prefix)] = ("hist", _counts(low, c, 1 << 16))
        return out


def _summary_of(part) -> Summary:
    return part.summary if isinstance(part, PromotedPart) else part


def promote(parts, dtype, labels=None) -> list:
    """Each image's summary as one of the collection's type ``dtype``.

    Parameters
    ----------
    parts : sequence of Summary or PromotedPart
    dtype : numpy.dtype
        From :func:`promoted_type`.
    labels : sequence of str, optional
        The images' names, for error messages.

    Returns
    -------
    list of Summary or PromotedPart
        A summary of ``dtype`` as is; an 8/16-bit one as a :class:`PromotedPart`.

    Raises
    ------
    InvalidOption
        A 32/64-bit summary of another type (it needs its image decoded again).

    Examples
    --------
    >>> import numpy as np
    >>> from imgstats import summarize
    >>> parts = [summarize(np.zeros((2, 2), np.uint8)), summarize(np.ones((2, 2), np.int16))]
    >>> dtype = promoted_type([p.dtype for p in parts])
    >>> [p.dtype for p in promote(parts, dtype)]
    [dtype('int16'), dtype('int16')]
    """
    dtype = np.dtype(dtype)
    parts = list(parts)
    labels = list(labels) if labels is not None else [f"image {i}" for i in range(len(parts))]
    out = []
    for part, label in zip(parts, labels, strict=True):
        own = part.part if isinstance(part, PromotedPart) else part
        if own.dtype == dtype:
            out.append(own)
        elif _from_summary(own.dtype) and np.result_type(own.dtype, dtype) == dtype:
            out.append(part if part.dtype == dtype else PromotedPart(own, dtype))
        else:
            raise InvalidOption(
                f"{label}'s {own.dtype} summary cannot be promoted to {dtype} without decoding "
                f"{label} again as {dtype}"
            )
    return out


def _to_type(block, inner, dtype):
    """A decoded block as ``dtype`` (after the plan's own transform, if any)."""
    if inner is not None:
        block = inner(block)
    return block.astype(dtype)


def _as_type(plan, dtype):
    """``plan`` decoding its pixels as ``dtype``, numpy's promotion of its own type."""
    from dataclasses import replace

    dtype = np.dtype(dtype)
    if plan.dtype == dtype:
        return plan
    if np.result_type(plan.dtype, dtype) != dtype:
        raise InvalidOption(f"{plan.dtype} pixels do not promote to {dtype}")
    to_type = partial(_to_type, inner=plan.transform, dtype=dtype)
    return replace(plan, dtype=dtype, transform=to_type)


def _region_plan(source, region, io_options, scheduler):
    """The read plan of ``source``'s region (all of it when ``region`` holds only ``None``)."""
    from ._passes import _plan, _region

    data, options = _region(
        source,
        region.get("window"),
        region.get("mask"),
        region.get("polygon"),
        io_options,
        scheduler,
    )
    return _plan(data, scheduler, options)


def _known_dtype(source, io_options):
    """The pixel type of an image, known before decoding it: an in-memory array's, or a local
    file's header (a fraction of a millisecond); else ``None`` (URLs: no extra request)."""
    if isinstance(source, Summary):
        return None
    if isinstance(source, (str, os.PathLike)):
        from .io import read_header
        from .io._sources import is_url, open_local

        if is_url(source):
            return None
        try:
            with open_local(source) as fh:  # a pipe: refused, not waited on
                header = read_header(fh, str(source), page=io_options.get("page", 0))
            return np.dtype(header["dtype"])
        except (OSError, ImgStatsError, TypeError, KeyError):
            return None  # the summarizing pass reports it, or finds the type
    dtype = getattr(source, "dtype", None)
    try:
        return None if dtype is None else np.dtype(dtype)
    except TypeError:
        return None


# -- the tasks ---------------------------------------------------------------------------------
def _summarize_one(source, index, region, io_options, dtype, nested: bool) -> Summary:
    """Summarize one image of a collection (a task of its own), as ``dtype`` when given."""
    from ._passes import _summarize

    scheduler = "sync" if nested else None
    try:
        if isinstance(source, Summary):  # already summarized: nothing to read
            if any(v is not None for v in region.values()):
                raise InvalidOption(
                    "a Summary has no pixels left to take a window, mask or polygon of"
                )
            return source
        plan = _region_plan(source, region, io_options, scheduler)
        if dtype is None:
            return _summarize(plan, plan.has_luma, scheduler, False)
        # a type guessed before reading (a header) is only a hint: 8/16-bit images are
        # promoted from their summaries, and one that does not promote to it keeps its own
        if not _from_summary(plan.dtype) and np.result_type(plan.dtype, dtype) == dtype:
            plan = _as_type(plan, dtype)
        return _summarize(plan, plan.has_luma, scheduler, False)
    except ImgStatsError as exc:
        if isinstance(exc, NotAnImage) and _matched(source):
            return _Skipped(_label(source, index), str(exc))
        raise _named(exc, _label(source, index)) from exc


class _Skipped:
    """A pattern's match that is no image: left out of the collection, named."""

    def __init__(self, label: str, reason: str):
        self.label, self.reason = label, reason


def _matched(source) -> bool:
    """Whether ``source`` is a pattern's match (:class:`imgstats._patterns.Matched`)."""
    from ._patterns import Matched

    return isinstance(source, Matched)


def _without_skipped(sources, parts, labels, known):
    """The sources, parts, labels and known types without the pattern's matches that are
    no image, which a :class:`~imgstats.errors.SkippedFiles` warning names."""
    skipped = [p for p in parts if isinstance(p, _Skipped)]
    if not skipped:
        return sources, parts, labels, known
    kept = [i for i, p in enumerate(parts) if not isinstance(p, _Skipped)]
    if not kept:
        raise ImageNotFound(
            "no image among the files matched: " + "; ".join(p.reason for p in skipped)
        )
    warnings.warn(
        f"left out {len(skipped)} file(s) the pattern matched that are not images: "
        + ", ".join(p.label for p in skipped),
        SkippedFiles,
        stacklevel=2,
    )
    return tuple([x[i] for i in kept] for x in (sources, parts, labels, known))


def _found_one(source, index, region, io_options, bands_mask, nodes, dtype, nested) -> dict:
    """One image's refinement of the collection's ``nodes`` (a task of its own).

    The image is read as the collection's type ``dtype`` (a 32/64-bit image of another type
    was summarized that way). Its blocks are refined one after the other (``nested`` or not):
    the images themselves run in parallel.
    """
    from ._blocks import refine_block as _refine_block

    scheduler = "sync" if nested else None
    try:
        plan = _region_plan(source, region, io_options, scheduler)
        if plan.dtype != dtype and _from_summary(plan.dtype):  # it was promoted from its summary
            raise InvalidOption(f"the image's type changed to {plan.dtype} since it was summarized")
        # refine_block takes (selection, shift, prefix, count) targets; this image's selection
        # is the bands ``bands_mask`` pools (alpha never) or one band, and its keys are keyed
        # back to (shift, prefix)
        on = np.flatnonzero(bands_mask)
        sel = f"b{int(on[0])}" if len(on) == 1 else "all"
        targets = [(sel, *node) for node in nodes]
        work = partial(
            _refine_found,
            targets=targets,
            dtype=dtype,
            limit=collect_limit(dtype),
            pooled=np.asarray(bands_mask, bool),
            refine=_refine_block,
        )
        # through the plan, so that its validity (nodata, mask, alpha) leaves out the samples
        # that its summary left out: the same samples in both passes
        return _as_type(plan, dtype).map_reduce(work, _merge_found, scheduler=scheduler)
    except ImgStatsError as exc:
        raise _named(exc, _label(source, index)) from exc


def _refine_found(block, targets, dtype, limit, pooled, refine) -> dict:
    """One block's refinement, keyed by ``(shift, prefix)``: the collection's nodes."""
    found = refine(block, targets, dtype, limit, pooled)
    return {(shift, prefix): node for (_, shift, prefix), node in found.items()}


def _merge_found(parts) -> dict:
    from ._blocks import merge_refinements

    out = {}
    for part in parts:
        out = merge_refinements(out, part)
    return out


def _run(fn, jobs, scheduler, max_workers):
    """Run ``fn(*job)`` for every job: on threads, or one dask task per job.

    Threads unless ``scheduler`` is given or a dask.distributed client is active; the jobs
    then run on that scheduler (``nested=True`` tells them not to start dask work of their
    own on it).
    """
    from .io._plan import is_local

    if not jobs:
        return []
    if is_local(scheduler):
        workers = max_workers or min(len(jobs), 2 * (os.cpu_count() or 1))
        if workers <= 1 or len(jobs) == 1:
            return [fn(*job, False) for job in jobs]
        with ThreadPoolExecutor(workers, thread_name_prefix="imgstats-images") as pool:
            return list(pool.map(lambda job: fn(*job, False), jobs))
    import dask

    from ._cluster import dask_compute

    tasks = [dask.delayed(fn, pure=False)(*job, True) for job in jobs]
    return list(dask_compute(*tasks, scheduler=scheduler))


# -- merging and refining ----------------------------------------------------------------------
def merge_summaries(summaries, labels=None) -> Summary:
    """Merge the summaries of several images into the summary of all their samples.

    Parameters
    ----------
    summaries : sequence of Summary or PromotedPart
    labels : sequence of str, optional
        The images' names, for error messages.

    Returns
    -------
    Summary
        Of numpy's promoted type (:func:`promoted_type`): 8/16-bit summaries are promoted
        without pixels. Band names kept when every image has the same; otherwise one band
        ``"all"`` holding every sample of every band. ``shape`` is ``()``.

    Raises
    ------
    InvalidOption
        No summaries, or a 32/64-bit summary of another type than the promoted one: that
        image must be decoded again (:func:`summarize_many` does it), so both are named.

    Examples
    --------
    >>> import numpy as np
    >>> from imgstats import summarize
    >>> a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    >>> b = np.full((2, 3), 1000, np.uint16)
    >>> merged = merge_summaries([summarize(a), summarize(b)])
    >>> merged.dtype, merged.compute(["count", "median", "max"])
    (dtype('uint16'), {'count': 18, 'median': 8.5, 'max': 1000})
    """
    summaries = list(summaries)
    if not summaries:
        raise InvalidOption("an empty collection has no statistics: give at least one image")
    labels = list(labels) if labels is not None else [f"image {i}" for i in range(len(summaries))]
    own = [s.part if isinstance(s, PromotedPart) else s for s in summaries]
    dtype = promoted_type([s.dtype for s in own], labels, decode_again=False)
    parts = [_summary_of(p) for p in promote(summaries, dtype, labels)]
    first = parts[0]
    same_bands = all(s.band_names == first.band_names for s in parts)
    parts = parts if same_bands else [_collapse(s) for s in parts]
    out = parts[0]
    for p in parts[1:]:
        out = out.merge(p)  # valid kept when every image counted by the same rule
    return Summary(out.bands, out.band_names, out.luma, (), valid=out.valid, half=out.half)


def _collapse(summary: Summary) -> Summary:
    """One band, ``"all"``, holding every sample of every band (and the luma, if any)."""
    return Summary(
        (summary.stats(None),), ("all",), summary.luma, (), valid=summary.valid, half=summary.half
    )


def _own_selection(part: Summary, merged: Summary, band) -> str:
    """The selection in one image's summary that matches ``band`` in the collection's."""
    if merged.band_names == ("all",) and part.band_names != ("all",) and band != "luma":
        return "all"
    return part.selection(band)


def refine_many(
    merged: Summary,
    parts,
    sources,
    func,
    band=None,
    *,
    scheduler=None,
    max_workers=None,
    window=None,
    mask=None,
    polygon=None,
    **io_options,
) -> Summary:
    """Refine a collection's summary until it answers ``func`` for ``band`` on its own.

    Parameters
    ----------
    merged : Summary
        From :func:`merge_summaries` of ``parts``.
    parts : sequence of Summary or PromotedPart, or callable
        Each image's own summary, in the order of ``sources``; they say which images hold
        samples in the bins to refine, so only those are read again. 8/16-bit summaries of
        a narrower type than ``merged``'s answer from their values (:class:`PromotedPart`),
        without pixels; the others are of ``merged``'s type, and their images are read as it.
        A callable ``parts(i)`` gives image ``i``'s summary when it is needed, once per image
        and pass: only one is then held at a time (the HTTP service fetches them from its
        bounded cache).
    sources : sequence
        The images, as :func:`imgstats.summarize` takes them.
    func : str or list of str
    band : None, int, str, or a list of them
        The selections, refined one after the other.
    scheduler, max_workers, window, mask, polygon, **io_options
        As for :func:`compute_many` (``max_workers=1`` reads one image at a time).

    Returns
    -------
    Summary

    Examples
    --------
    >>> import numpy as np
    >>> from imgstats.collection import merge_summaries, refine_many
    >>> from imgstats import summarize
    >>> images = [np.linspace(0, 1, 40_000).reshape(200, 200), np.full((50, 60), 0.5)]
    >>> parts = [summarize(a) for a in images]
    >>> merged = refine_many(merge_summaries(parts), parts, images, "p99")
    >>> every = np.concatenate([a.ravel() for a in images])
    >>> bool(merged.compute("p99") == np.percentile(every, 99))
    True
    """
    _check_options(io_options, "refine_many", ("band",))
    bands = list(band) if isinstance(band, (list, tuple)) else [band]
    for b in bands:
        merged.selection(b)  # refuse an unknown band before reading anything
    labels = [_label(s, i) for i, s in enumerate(sources)]
    if callable(parts):

        def part_of(i):
            return promote([parts(i)], merged.dtype, [labels[i]])[0]

    else:
        parts = promote(parts, merged.dtype, labels)
        if len(parts) != len(sources):
            raise ValueError(f"{len(parts)} summaries for {len(sources)} images")
        part_of = parts.__getitem__
    region = {"window": window, "mask": mask, "polygon": polygon}
    from ._blocks import finish_refinements, merge_refinements

    for b in bands:
        for _ in range(_MAX_REFINE_PASSES):
            missing = merged.missing(func, b)  # (selection, shift, prefix, count)
            if not missing:
                break
            # the selection whose refinements answer ``b``: a one-band image's band 0 is "all"
            sel_of = {(shift, prefix): sel for sel, shift, prefix, _ in missing}
            nodes = [node for _, *node in missing]
            jobs, found = [], {}
            for i, source in enumerate(sources):
                part = part_of(i)
                summary = _summary_of(part)
                own = _own_selection(summary, merged, b)
                if not _holds(summary._stats(own), nodes):
                    continue
                mask_of = summary.bands_of(own)
                if isinstance(part, PromotedPart):
                    found = merge_refinements(found, part.found(mask_of, nodes))
                else:
                    jobs.append((source, i, region, io_options, mask_of, nodes, merged.dtype))
            for part_found in _run(_found_one, jobs, scheduler, max_workers):
                found = merge_refinements(found, part_found)
            # keyed (selection, shift, prefix) before they are finished: finish_refinements
            # sorts collected keys below the node's shift, its second element
            merged = merged.with_refinements(
                finish_refinements({(sel_of[node], *node): data for node, data in found.items()})
            )
        if merged.missing(func, b):  # pragma: no cover
            raise RuntimeError("radix selection did not converge; this is a bug")
    return merged


def _check_band(merged: Summary, parts, band) -> None:
    """Refuse a band the collection lacks, saying why when the images' bands or types differ.

    A band index of a collection whose images have different bands, some of several, is
    refused too: the merged summary has one band, ``all`` (every sample), so ``band=0`` read
    it and pooled an RGB image's G and B with a grey image's samples, as band 0 of each.
    """
    try:
        merged.selection(band)
        mixed = _mixed_bands(merged, parts)
        if band not in (None, "all") and mixed is not None and any(len(n) > 1 for n in mixed):
            raise InvalidOption(f"unknown band {shown_name(band)}")
    except InvalidOption as exc:
        mixed = _mixed_bands(merged, parts)
        if mixed is not None:
            names = " and ".join(str(list(n)) for n in mixed)
            raise InvalidOption(
                f"the images have different bands ({names}), so all their samples count as "
                f"one band, 'all': ask for band=None, or give images with the same bands"
            ) from exc
        if band == "luma" and any(isinstance(p, PromotedPart) for p in parts):
            raise InvalidOption(
                f"band='luma' needs 8-bit RGB images; this collection is {merged.dtype}, "
                f"numpy's promotion of its images' types, and has no luma"
            ) from exc
        raise


def _mixed_bands(merged: Summary, parts) -> list | None:
    """The images' distinct band names when they differ (the merged summary's one band is
    then ``all``), else ``None``."""
    if merged.band_names != ("all",):
        return None
    names = list(dict.fromkeys(_summary_of(p).band_names for p in parts))
    return names if len(names) > 1 else None


def _holds(stats, nodes) -> bool:
    """Whether an image's statistics have samples in the top-level bins of ``nodes``."""
    top = _top_shift(stats.key_bits)
    return any(
        stats.count if shift < 0 else stats.hist[prefix >> (top - shift)]  # squares, values
        for shift, prefix, _ in nodes
    )


def _summaries(sources, scheduler, max_workers, region, io_options):
    """``(sources, parts, merged)``: each image's summary of the collection's type (8/16-bit
    ones as :class:`PromotedPart`), and their merge."""
    from ._patterns import expand, is_pattern

    if isinstance(sources, (str, os.PathLike)):  # one path, URL or pattern: not its letters
        sources = [sources]
    # a pattern among the sources stands for the images it matches, each one of the set
    storage = io_options.get("storage_options")
    sources = [m for s in sources for m in (expand(s, storage) if is_pattern(s) else [s])]
    if not sources:
        raise InvalidOption("an empty collection has no statistics: give at least one image")
    labels = [_label(src, i) for i, src in enumerate(sources)]
    # images whose type is known before decoding (arrays, local files' headers) are
    # summarized as the promoted type of those types at once, rather than decoded again once
    # every image's type is known
    known = [_known_dtype(src, io_options) for src in sources]
    try:
        guess = np.result_type(*[d for d in known if d is not None])
    except (TypeError, ValueError):  # none known, or types numpy cannot promote
        guess = None
    jobs = [
        (src, i, region, io_options, None if d is None or _from_summary(d) else guess)
        for i, (src, d) in enumerate(zip(sources, known, strict=True))
    ]
    parts = _run(_summarize_one, jobs, scheduler, max_workers)
    sources, parts, labels, known = _without_skipped(sources, parts, labels, known)
    dtype = promoted_type([p.dtype for p in parts], labels)
    again = [i for i, p in enumerate(parts) if p.dtype != dtype and not _from_summary(p.dtype)]
    for i in again:
        if isinstance(sources[i], Summary):
            raise InvalidOption(
                f"{labels[i]} is a {parts[i].dtype} summary, and numpy promotes the collection "
                f"to {dtype}: give its image instead, to be decoded again as {dtype}"
            )
    redo = [(sources[i], i, region, io_options, dtype) for i in again]
    for i, part in zip(again, _run(_summarize_one, redo, scheduler, max_workers), strict=True):
        parts[i] = part
    parts = promote(parts, dtype, labels)
    return sources, parts, merge_summaries(parts, labels)


def summarize_many(
    sources, *, scheduler=None, max_workers=None, window=None, mask=None, polygon=None, **io_options
) -> Summary:
    """Summarize the samples of several images as one set.

    Parameters
    ----------
    sources : sequence, str or os.PathLike
        Images as :func:`imgstats.summarize` takes them (paths, URLs, arrays, DataArrays),
        of any shapes, band counts and pixel types; or one path, URL or glob pattern.
    scheduler : str or dask scheduler, optional
        ``None``: a thread per image at a time, or the active dask.distributed client (one
        task per image). Any dask scheduler name or client runs one task per image there.
    max_workers : int, optional
        Threads when running on threads (default: twice the CPUs, at most one per image).
    window, mask, polygon : optional
        The same region of every image (see :func:`imgstats.selection.select`).
    **io_options
        For :func:`imgstats.open_image`.

    Returns
    -------
    Summary
        Of numpy's promoted type (:func:`numpy.result_type` of the images' types): a 32/64-bit
        image of another type is decoded again as that type (see the module's notes). See
        :func:`merge_summaries` for the bands. A 32- or 64-bit percentile needs
        :func:`compute_many` (or :func:`refine_many` with each image's summary).

    Raises
    ------
    InvalidOption
        Empty, or pixel types without an order (complex...).
    ImageNotFound, UnreadableImage, ImageTooLarge, StoreUnavailable
        For the first image that fails, named in the message.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[1, 2], [3, 4]], np.uint8)
    >>> b = np.array([10, 20, 30], np.uint8)
    >>> summarize_many([a, b]).compute(["min", "median", "max"])
    {'min': 1, 'median': 4.0, 'max': 30}
    >>> summarize_many([a, np.array([0.5], np.float32)]).dtype
    dtype('float32')
    """
    _check_options(io_options, "summarize_many")
    region = {"window": window, "mask": mask, "polygon": polygon}
    return _summaries(sources, scheduler, max_workers, region, io_options)[2]


def compute_many(
    sources,
    func,
    band=None,
    *,
    scheduler=None,
    max_workers=None,
    window=None,
    mask=None,
    polygon=None,
    **io_options,
):
    """Compute exact statistics of the samples of several images taken as one set.

    Equal to numpy on ``numpy.concatenate`` of every image's (selected) samples, each
    promoted to :func:`numpy.result_type` of the images' types, as concatenate does
    (``int32`` with ``float32`` counts as ``float64``). Also reached by
    :func:`imgstats.compute` with a list of sources.

    Parameters
    ----------
    sources, scheduler, max_workers, window, mask, polygon, **io_options
        As for :func:`summarize_many`.
    func : str or list of str
    band : None, int or str

    Returns
    -------
    int, float or dict
        As :func:`imgstats.compute`, of the promoted type (min and max of a uint8 + float32
        collection are floats).

    Examples
    --------
    >>> import numpy as np
    >>> compute_many([np.arange(4.0), np.arange(10.0, 13.0)], "median")
    3.0
    >>> compute_many([np.array([1, 2], np.uint8), np.array([-0.5], np.float32)], "min")
    -0.5
    """
    region = {"window": window, "mask": mask, "polygon": polygon}
    merged = answering_many(sources, func, band, scheduler, max_workers, region, io_options)
    return merged.compute(func, band)


def answering_many(sources, func, band, scheduler, max_workers, region, io_options) -> Summary:
    """The collection's merged summary, refined until it answers ``func`` for ``band``
    (:func:`compute_many`'s; its ``valid`` says which samples it counted)."""
    from .functions import parse_function

    _check_options(io_options, "compute_many", ("band",))
    for name in func if isinstance(func, (list, tuple)) else [func]:
        parse_function(name)
    sources, parts, merged = _summaries(sources, scheduler, max_workers, region, io_options)
    _check_band(merged, parts, band)
    if merged.missing(func, band):
        merged = refine_many(
            merged,
            parts,
            sources,
            func,
            band,
            scheduler=scheduler,
            max_workers=max_workers,
            **region,
            **io_options,
        )
    return merged
