"""Collections: the samples of many images as one set, exactly.

Each image is summarized once (one task per image, on threads or on a dask.distributed
cluster), and the summaries are merged. The answer equals numpy's on the concatenation of all
the images' samples (``numpy.concatenate([a.ravel() for a in arrays])``), whatever their shapes.

Rules
-----
* **Types.** Every image must have the same pixel type: a mixed collection raises
  :class:`~imgstats.InvalidOption` naming two images of different types. numpy's promotion
  (uint8 with float32 gives float32) is not applied, as it would need every image decoded again
  into the promoted type; convert the images first if that is what you want.
* **Bands.** Images with the same band names keep them (``band="R"`` works across a set of RGB
  photographs). When they differ (RGB with greyscale), each image's samples of all bands count
  and the collection has one band named ``"all"``; only ``band=None`` (or ``"luma"`` when every
  image has a luma) can then be asked.
* **Refinement.** 32- and 64-bit percentiles need exact order statistics inside one or two
  histogram bins of the *merged* histogram. Each refinement pass reads again, one task per
  image, only the images whose own summary has samples in those bins, and their findings merge
  into the collection's summary: exact, and a float32 collection needs one pass at most.
* **Errors.** An image that cannot be read raises its usual error (ImageNotFound,
  UnreadableImage...) with the image's name in the message.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .errors import ImgStatsError, InvalidOption
from .summary import Summary

__all__ = ["summarize_many", "compute_many", "merge_summaries", "refine_many"]

_MAX_REFINE_PASSES = 4


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
    try:
        return type(exc)(f"{label}: {text}")
    except TypeError:  # pragma: no cover -- an error class with another signature
        return exc


def _summarize_one(source, index, region, io_options, nested: bool) -> Summary:
    """Summarize one image of a collection (a task of its own)."""
    from .reduce import summarize

    try:
        return summarize(source, scheduler="sync" if nested else None, **region, **io_options)
    except ImgStatsError as exc:
        raise _named(exc, _label(source, index)) from exc


def _found_one(source, index, region, io_options, bands_mask, nodes, dtype, nested) -> dict:
    """One image's refinement of the collection's ``nodes`` (a task of its own).

    The image's blocks are refined one after the other (``nested`` or not): the images
    themselves run in parallel.
    """
    import dask

    from ._blocks import refine_block as _refine_block
    from .reduce import _region, as_image_array
    from .summary import collect_limit

    try:
        data, options = _region(
            source, region.get("window"), region.get("mask"), region.get("polygon"), io_options
        )
        arr, _ = as_image_array(data, **options)
        if np.dtype(arr.dtype) != dtype:
            raise InvalidOption(f"the image's type changed to {arr.dtype} since it was summarized")
        # refine_block takes (selection, shift, prefix, count) targets; this image's selection
        # is all its bands or one of them, and its keys are keyed back to (shift, prefix)
        sel = "all" if bands_mask.all() else f"b{int(np.flatnonzero(bands_mask)[0])}"
        targets = [(sel, *node) for node in nodes]
        limit = collect_limit(dtype)

        def refine_block(block, _mask, _nodes, dtype):
            found = _refine_block(block, targets, dtype, limit)
            return {(shift, prefix): node for (_, shift, prefix), node in found.items()}

        if not hasattr(arr, "to_delayed"):
            return refine_block(arr, bands_mask, nodes, dtype)
        from ._blocks import merge_refinements

        if arr.ndim == 3 and arr.numblocks[-1] > 1:
            arr = arr.rechunk({2: -1})
        parts = [
            dask.delayed(refine_block, pure=True)(block, bands_mask, nodes, dtype)
            for block in arr.to_delayed().ravel()
        ]
        out = {}
        for part in dask.compute(*parts, scheduler="sync"):
            out = merge_refinements(out, part)
        return out
    except ImgStatsError as exc:
        raise _named(exc, _label(source, index)) from exc


def _run(fn, jobs, scheduler, max_workers):
    """Run ``fn(*job)`` for every job: on threads, or one dask task per job.

    Threads unless ``scheduler`` is given or a dask.distributed client is active; the jobs
    then run on that scheduler (``nested=True`` tells them not to start dask work of their
    own on it).
    """
    from .io._plan import has_distributed_client as _has_distributed_client

    if scheduler is None and not _has_distributed_client():
        workers = max_workers or min(len(jobs), 2 * (os.cpu_count() or 1))
        if workers <= 1 or len(jobs) == 1:
            return [fn(*job, False) for job in jobs]
        with ThreadPoolExecutor(workers, thread_name_prefix="imgstats-images") as pool:
            return list(pool.map(lambda job: fn(*job, False), jobs))
    import dask

    tasks = [dask.delayed(fn, pure=False)(*job, True) for job in jobs]
    return list(dask.compute(*tasks, scheduler=scheduler))


def merge_summaries(summaries, labels=None) -> Summary:
    """Merge the summaries of several images into the summary of all their samples.

    Parameters
    ----------
    summaries : sequence of Summary
    labels : sequence of str, optional
        The images' names, for error messages.

    Returns
    -------
    Summary
        Band names kept when every image has the same; otherwise one band ``"all"`` holding
        every sample of every band. ``shape`` is ``()``.

    Raises
    ------
    InvalidOption
        No summaries, or images of different pixel types (named in the message).
    """
    summaries = list(summaries)
    if not summaries:
        raise InvalidOption("an empty collection has no statistics: give at least one image")
    labels = list(labels) if labels is not None else [f"image {i}" for i in range(len(summaries))]
    first = summaries[0]
    for s, label in zip(summaries, labels, strict=True):
        if s.dtype != first.dtype:
            raise InvalidOption(
                f"images of different pixel types cannot be merged: {labels[0]} is "
                f"{first.dtype.name}, {label} is {s.dtype.name} (convert them to one type first)"
            )
    same_bands = all(s.band_names == first.band_names for s in summaries)
    parts = summaries if same_bands else [_collapse(s) for s in summaries]
    out = parts[0]
    for p in parts[1:]:
        out = out.merge(p)
    return Summary(out.bands, out.band_names, out.luma, ())


def _collapse(summary: Summary) -> Summary:
    """One band, ``"all"``, holding every sample of every band (and the luma, if any)."""
    return Summary((summary.stats(None),), ("all",), summary.luma, ())


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
    parts : sequence of Summary
        Each image's own summary, in the order of ``sources``; they say which images hold
        samples in the bins to refine, so only those are read again.
    sources : sequence
        The images, as :func:`imgstats.summarize` takes them.
    func, band, scheduler, max_workers, window, mask, polygon, **io_options
        As for :func:`compute_many`.

    Returns
    -------
    Summary
    """
    merged.selection(band)  # refuse an unknown band before reading anything
    region = {"window": window, "mask": mask, "polygon": polygon}
    for _ in range(_MAX_REFINE_PASSES):
        missing = merged.missing(func, band)  # (selection, shift, prefix, count)
        if not missing:
            return merged
        # the selection whose refinements answer ``band``: a one-band image's band 0 is "all"
        sel = missing[0][0]
        nodes = [node for _, *node in missing]
        jobs = []
        for i, (part, source) in enumerate(zip(parts, sources, strict=True)):
            own = _own_selection(part, merged, band)
            if _holds(part._stats(own), nodes):
                jobs.append(
                    (source, i, region, io_options, part.bands_of(own), nodes, merged.dtype)
                )
        found = {}
        from ._blocks import finish_refinements, merge_refinements

        for part_found in _run(_found_one, jobs, scheduler, max_workers):
            found = merge_refinements(found, part_found)
        merged = merged.with_refinements(
            {
                (sel, shift, prefix): node
                for (shift, prefix), node in finish_refinements(found).items()
            }
        )
    if merged.missing(func, band):  # pragma: no cover
        raise RuntimeError("radix selection did not converge; this is a bug")
    return merged


def _holds(stats, nodes) -> bool:
    """Whether an image's statistics have samples in the top-level bins of ``nodes``."""
    from .summary import _top_shift

    top = _top_shift(stats.key_bits)
    return any(stats.hist[prefix >> (top - shift)] for shift, prefix, _ in nodes)


def _summaries(sources, scheduler, max_workers, region, io_options):
    sources = list(sources)
    if not sources:
        raise InvalidOption("an empty collection has no statistics: give at least one image")
    jobs = [(src, i, region, io_options) for i, src in enumerate(sources)]
    parts = _run(_summarize_one, jobs, scheduler, max_workers)
    labels = [_label(src, i) for i, src in enumerate(sources)]
    return sources, parts, merge_summaries(parts, labels)


def summarize_many(
    sources, *, scheduler=None, max_workers=None, window=None, mask=None, polygon=None, **io_options
) -> Summary:
    """Summarize the samples of several images as one set.

    Parameters
    ----------
    sources : sequence
        Images as :func:`imgstats.summarize` takes them (paths, URLs, arrays, DataArrays),
        of any shapes, all of one pixel type.
    scheduler : str or dask scheduler, optional
        ``None``: a thread per image at a time, or the active dask.distributed client (one
        task per image). Any dask scheduler name or client runs one task per image there.
    max_workers : int, optional
        Threads when running on threads (default: twice the CPUs, at most one per image).
    window, mask, polygon : optional
        The same region of every image (see :func:`imgstats.regions.select`).
    **io_options
        For :func:`imgstats.open_image`.

    Returns
    -------
    Summary
        See :func:`merge_summaries`. A 32- or 64-bit percentile needs
        :func:`compute_many` (or :func:`refine_many` with each image's summary).

    Raises
    ------
    InvalidOption
        Empty, or mixed pixel types.
    ImageNotFound, UnreadableImage, ImageTooLarge, StoreUnavailable
        For the first image that fails, named in the message.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[1, 2], [3, 4]], np.uint8)
    >>> b = np.array([10, 20, 30], np.uint8)
    >>> summarize_many([a, b]).compute(["min", "median", "max"])
    {'min': 1, 'median': 4.0, 'max': 30}
    """
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

    Equal to numpy on ``numpy.concatenate`` of every image's (selected) samples. Also reached
    by :func:`imgstats.compute` with a list of sources.

    Parameters
    ----------
    sources, scheduler, max_workers, window, mask, polygon, **io_options
        As for :func:`summarize_many`.
    func : str or list of str
    band : None, int or str

    Returns
    -------
    int, float or dict
        As :func:`imgstats.compute`.

    Examples
    --------
    >>> import numpy as np
    >>> compute_many([np.arange(4.0), np.arange(10.0, 13.0)], "median")
    3.0
    """
    from .functions import parse_function

    for name in func if isinstance(func, (list, tuple)) else [func]:
        parse_function(name)
    region = {"window": window, "mask": mask, "polygon": polygon}
    sources, parts, merged = _summaries(sources, scheduler, max_workers, region, io_options)
    merged.selection(band)
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
    return merged.compute(func, band)
