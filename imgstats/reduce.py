"""The reductions: summarize an image in one pass, refine it in at most one more, compute.

Everything works from a read plan (:func:`imgstats.io.open_plan`): io says how the pixels
arrive, and :meth:`~imgstats.io.ReadPlan.map_reduce` runs the per-block work of
:mod:`imgstats._blocks` on them -- on threads, on a TIFF's decoding threads, or on any dask
scheduler. Summarizing and refining are two calls of that one map-reduce
(:mod:`imgstats._passes`, which :mod:`imgstats.collection` uses too). Here: the public entry
points, which send a list or pattern of images to :mod:`imgstats.collection` and a reduction
along dims to :mod:`imgstats.dims`.
"""

from __future__ import annotations

import numpy as np

from ._inputs import cf_decoded
from ._passes import _plan, _refine, _region, _summarize
from .errors import InvalidOption
from .summary import Summary, pooled_bands

__all__ = ["summarize", "refine", "compute", "as_image_array"]


def as_image_array(data, **io_options):
    """Normalize an input to ``(array, band_names)`` with dims ``(y, x[, band])``.

    ``array`` is numpy or dask. Accepted inputs are those of :func:`summarize`.
    """
    from .io._plan import check_io_options

    check_io_options(io_options, "as_image_array")
    plan = _plan(data, None, io_options)
    return plan.array(), plan.band_names


def summarize(
    data,
    *,
    scheduler=None,
    progress: bool = False,
    window=None,
    mask=None,
    polygon=None,
    **io_options,
) -> Summary:
    """Summarize an image's samples exactly, in one pass.

    Parameters
    ----------
    data : array_like, dask or xarray array, PIL.Image.Image, str, path or ReadPlan
        The image. Paths and URLs are opened with :func:`imgstats.io.open_plan`, by the
        rules of :func:`imgstats.open_image`.
    scheduler : str or dask scheduler, optional
        Passed to ``dask.compute`` for dask inputs; by default the active one (a
        ``dask.distributed.Client`` if one is set up).
    progress : bool or "auto"
        One progress bar for the whole question, every pass included (tqdm's: a widget in
        Jupyter, stderr in a terminal), ticking per block of a numpy array, segment of a
        streamed TIFF or task of a local dask scheduler; ``"auto"``: only when the pixels
        likely take over a second (:data:`imgstats._progress.AUTO_BYTES` per pass).
    window, mask, polygon : optional
        Summarize only these pixels; see :func:`imgstats.selection.select`.
    **io_options
        ``chunks``, ``pixel_limit``, ``storage_options``, ``page`` for
        :func:`imgstats.open_image`.

    Returns
    -------
    Summary
        Answers min, max, mean and (for 8- and 16-bit types) every percentile on its own;
        counts the luma of 8-bit RGB(A) images. A list of sources gives the merged summary
        of all their samples (:func:`imgstats.summarize_many`).

    Examples
    --------
    >>> import numpy as np
    >>> s = summarize(np.array([[1, 2], [3, 40]], dtype=np.uint8))
    >>> s.compute(["min", "median", "max"])
    {'min': 1, 'median': 2.5, 'max': 40}
    """
    from .io._plan import check_io_options

    check_io_options(io_options, "summarize", _SUMMARIZE_OPTIONS)
    data = cf_decoded(_expand_pattern(data, io_options), io_options)  # CF's, as xarray
    if isinstance(data, (list, tuple)):  # a collection (issue 11)
        from .collection import summarize_many

        return summarize_many(
            data, scheduler=scheduler, window=window, mask=mask, polygon=polygon, **io_options
        )
    if isinstance(data, Summary):  # already summarized: nothing to read
        if window is not None or mask is not None or polygon is not None:
            raise InvalidOption("a Summary has no pixels left to take a window, mask or polygon of")
        return data
    data, io_options = _region(data, window, mask, polygon, io_options, scheduler)
    plan = _plan(data, scheduler, io_options, count=not progress)
    from ._progress import question

    with question(progress, _nbytes(plan), plan.source):
        return _summarize(plan, plan.has_luma, scheduler, progress)


def refine(
    summary: Summary,
    data,
    func,
    band=None,
    *,
    scheduler=None,
    progress: bool = False,
    window=None,
    mask=None,
    polygon=None,
    method: str | None = None,
    **io_options,
) -> Summary:
    """Return ``summary`` refined so that it answers ``func`` for every ``band`` on its own.

    Only 32- and 64-bit types ever need this. One pass over the pixels looks at the keys in
    every histogram bin that holds a wanted order statistic of any of the selections, and
    answers them all (float64 bins of over :data:`~imgstats.summary.WIDE_COLLECT_LIMIT` keys
    may need another pass per 16 bits).

    Parameters
    ----------
    summary : Summary
        A summary of ``data`` (from :func:`summarize`).
    data
        The same image, as anything :func:`summarize` takes.
    func : str or list of str
    band : None, int, str, or a list of them
        The selections (see :meth:`Summary.selection`), refined together.
    scheduler, progress, **io_options
        As for :func:`summarize`.
    window, mask, polygon : optional
        The region ``summary`` was made of (see :func:`summarize`).
    method : str, optional
        The percentile method whose ranks to refine (see :func:`compute`).

    Returns
    -------
    Summary

    Examples
    --------
    A float image's summary finds most of a percentile's rank; one look at the pixels, for
    the keys in its bin, finds the rest:

    >>> import numpy as np, imgstats
    >>> a = np.arange(100_000, dtype=np.float64).reshape(250, 400)
    >>> summary = imgstats.summarize(a)
    >>> bool(summary.missing("p99"))  # summary.compute("p99") would raise NeedsRefinement
    True
    >>> summary = imgstats.refine(summary, a, ["p99", "median"])
    >>> summary.compute(["p99", "median"]) == {"p99": np.percentile(a, 99), "median": np.median(a)}
    True
    """
    from .functions import with_method
    from .io._plan import check_io_options

    check_io_options(io_options, "refine", (*_SUMMARIZE_OPTIONS, "band", "method"))
    func = with_method(func, method)
    if not summary.missing(func, band):
        return summary
    data, io_options = _region(data, window, mask, polygon, io_options, scheduler)
    plan = _plan(data, scheduler, io_options)
    from ._progress import question

    with question(progress, _nbytes(plan), plan.source):
        return _refine(summary, plan, func, band, scheduler, progress)


#: The keywords of :func:`summarize` and :func:`compute` themselves, for the hint of a typo.
_SUMMARIZE_OPTIONS = ("scheduler", "progress", "window", "mask", "polygon")
_COMPUTE_OPTIONS = (*_SUMMARIZE_OPTIONS, "band", "dim", "method", "scaled", "scale", "offset")


def _dim_region(data, window, polygon, io_options):
    """``(window, polygon, io_options)`` for ``dim=``: a region in map coordinates (``bbox``,
    ``geometry``) turned into pixels by the DataArray's georeferencing, and the options of
    opening a file refused, which an array already read has no use for (they were dropped,
    and ``geometry=`` with them: every pixel counted)."""
    from .io._geo import pixel_region

    window, polygon, io_options = pixel_region(data, window, polygon, io_options)
    unused = [k for k, v in io_options.items() if k not in ("raw", "nodata") and v is not None]
    if unused:
        raise InvalidOption(
            f"{unused[0]}= does not go with dim=, which reduces a DataArray already read: "
            "open the file with imgstats.open_image(..., "
            f"{unused[0]}=...) and reduce that"
        )
    return window, polygon, io_options


def compute(
    data,
    func,
    band=None,
    *,
    scheduler=None,
    progress: bool = False,
    window=None,
    mask=None,
    polygon=None,
    dim=None,
    method: str | None = None,
    scaled: bool = False,
    scale=None,
    offset=None,
    **io_options,
):
    """Compute one or several exact statistics of an image, for one or several selections.

    Parameters
    ----------
    data : array_like, dask or xarray array, PIL.Image.Image, str, path, ReadPlan or Summary
        The image. Paths and fsspec URLs are opened with :func:`imgstats.io.open_plan`. A
        summary answers what it can without pixels. A path or URL pattern
        (``"photos/*.jpg"``, ``"s3://bucket/*.tif"``; see :mod:`imgstats._patterns`) or a
        list of sources counts the samples of all its images as one set.
    func : str or list of str
        A name of :data:`imgstats.functions.NAMED_FUNCTIONS` or ``pXXX`` (``p0`` ... ``p100``,
        ``p99.9``).
    band : None, int, str, or a list of them
        ``None`` for all samples of all bands, a band index or name (``"R"``), or ``"luma"``
        (Pillow's "L" conversion, for 8-bit RGB images). A list asks for each of them: the
        image is read at most twice whatever the list (one summarizing pass, and one
        refinement pass for 32- and 64-bit percentiles).
    scheduler, progress, **io_options
        As for :func:`summarize`.
    window, mask, polygon : optional
        Only these pixels count: a half-open window ``(x0, y0, x1, y1)``, a boolean ``(y, x)``
        mask, a polygon of pixel centres; see :func:`imgstats.selection.select`.
    dim : str or tuple of str, optional
        Reduce a DataArray along these dims only: the result is a DataArray over the others
        (see :func:`imgstats.dims.compute_along`).
    method : str, optional
        numpy's percentile method of every ``pXXX`` (``numpy.percentile(..., method=)``): one
        of the 13 of :data:`imgstats.functions.QUANTILE_METHODS`; ``"linear"`` by default.
        ``median`` is ``numpy.median`` whatever the method.
    scaled : bool
        Statistics of the physical values ``value * scale + offset`` (float64), with each
        band's scale and offset from the file's GDAL metadata (1 and 0 without): read from
        the exact statistics of the stored values, mapped once (see
        ``docs/statistics.md``). ``False`` (the default) gives the stored values, as
        rasterio's ``read()`` does.
    scale, offset : float, optional
        These in place of the file's (and ``scaled`` implied); a missing one is 1 or 0.

    Returns
    -------
    int, float or dict
        A plain Python number, or ``{name: number}`` when ``func`` is a list; when ``band``
        is a list, ``{band: that}`` for each of its items. min and max keep the image's type
        (int for integer images); percentiles equal ``numpy.percentile(values, q,
        method=method)`` on the valid samples (ints for the discrete methods of integer
        images), ``median`` equals ``numpy.median``; the mean is the exact mean rounded to
        float64 (see ``docs/statistics.md`` for each name). ``data`` may be
        a list of images, whose samples then count as one set
        (:func:`imgstats.collection.compute_many`).

    Raises
    ------
    UnknownFunction
        ``func`` is not a supported name.
    InvalidOption
        ``band`` is not a band of the image, or ``data`` is a summary that needs its
        pixels for ``func`` (a 32- or 64-bit percentile or std: see :func:`refine`).
    NoValidSamples
        The selection is empty or all NaN.
    ImageNotFound, UnreadableImage, ImageTooLarge, StoreUnavailable
        From opening a path or URL.

    Examples
    --------
    >>> import numpy as np
    >>> compute(np.arange(10, dtype=np.float32), ["p25", "mean"])
    {'p25': 2.25, 'mean': 4.5}
    >>> compute(np.arange(12, dtype=np.uint8).reshape(2, 3, 2), "max", band=[None, 0])
    {None: 11, 0: 10}
    """
    own = {name: value for name, value in locals().items() if name in _COMPUTE_DEFAULTS}
    answer, _ = _compute(data, func, band, own, io_options)
    return answer


#: :func:`compute`'s own keywords and their defaults (read from its signature, so that the
#: two never differ); the others are io options.
_COMPUTE_DEFAULTS = dict(compute.__kwdefaults__)


def answer_and_valid(data, func, band=None, **options):
    """:func:`compute`'s answer, and what decided which samples it counted (the CLI's
    ``--with-valid``), from the same single read.

    Parameters
    ----------
    data, func, band, **options
        As for :func:`compute`.

    Returns
    -------
    tuple
        ``(answer, valid)``: the answer as :func:`compute` gives it, and the
        :class:`~imgstats._valid_samples.ValidSamples` of the selection answered
        (``Summary.valid_for(band)``: no rule for the alpha band alone; ``None`` when the
        images of a collection count by different rules, and for ``dim=``, whose answer is a
        DataArray of cells).
    """
    own = {name: options.pop(name, default) for name, default in _COMPUTE_DEFAULTS.items()}
    return _compute(data, func, band, own, options)


def _compute(data, func, band, own: dict, io_options: dict):
    """``(answer, valid)`` of :func:`answer_and_valid`; ``own``: compute's keywords."""
    names = "scheduler progress window mask polygon dim method scaled scale offset".split()
    scheduler, progress, window, mask, polygon, dim, method, scaled, scale, offset = map(
        own.__getitem__, names
    )
    tried = False  # whether the select (see _range_selected) has had its go
    options = (progress, window, mask, polygon, dim, method, scaled, scale, offset)
    if _plain_array_question(data, band, scheduler, io_options, *options):
        from . import _range_select

        tried, value = _range_select.of_array(data, func)
        if value is not None:
            from ._valid_samples import ValidSamples

            return value, ValidSamples(None, None, "file")  # a plain array: nothing but NaN
    from .io._plan import check_io_options

    check_io_options(io_options, "compute", _COMPUTE_OPTIONS)
    from .functions import parse_function, with_method, with_scaled

    for name in func if isinstance(func, (list, tuple)) else [func]:
        parse_function(name)  # refuse a bad name before reading any pixel
    func = with_method(func, method)  # each function carries its method from here on
    func = with_scaled(func, scaled, scale, offset)  # and whether it reads physical values
    data = cf_decoded(_expand_pattern(data, io_options), io_options)  # CF's, as xarray
    if dim is not None:  # issue 11: along chosen dims, collections, regions
        from .dims import compute_along

        window, polygon, io_options = _dim_region(data, window, polygon, io_options)
        along = compute_along(
            data,
            func,
            dim,
            band=band,
            scheduler=scheduler,
            window=window,
            mask=mask,
            polygon=polygon,
            progress=progress,
            raw=io_options.get("raw", False),
            nodata=io_options.get("nodata"),
        )
        return along, None
    if isinstance(data, (list, tuple)):
        from .collection import answering_many

        region = {"window": window, "mask": mask, "polygon": polygon}
        merged = answering_many(data, func, band, scheduler, None, region, io_options)
        return merged.compute(func, band), merged.valid_for(band)
    data, io_options = _region(data, window, mask, polygon, io_options, scheduler)
    bands = list(band) if isinstance(band, (list, tuple)) else [band]
    if not isinstance(data, Summary):
        plan = _plan(data, scheduler, io_options, count=not progress)
        selected = None if progress or tried else _range_selected(plan, func, band, bands)
        if selected is not None:
            return selected, plan.valid_samples()
        data = _summarize_for(plan, func, bands, scheduler, progress)
    return _answers(data, func, band, bands), data.valid_for(band)


def _plain_array_question(data, band, scheduler, io_options, *options) -> bool:
    """Whether :func:`compute` is asked of a plain numpy array, for all its bands, locally,
    with every other option (``progress``, a region, ``dim``, a method, a scale, an io
    option) at its default: :func:`imgstats._range_select.of_array` may answer it."""
    progress, window, mask, polygon, dim, method, scaled, scale, offset = options
    return (
        type(data) is np.ndarray
        and not io_options
        and band is None
        and scheduler is None
        and progress is False
        and scaled is False
        and all(x is None for x in (window, mask, polygon, dim, method, scale, offset))
    )


def _range_selected(plan, func, band, bands):
    """The answer of a one-question array by a predicted-range select, without a
    summary (see :mod:`imgstats._range_select`), or ``None`` when the summary must answer.

    A numpy array has no cache: every ``compute`` call reads it again, so a summary built
    for one question would never be reused. When the question asks only for min, max,
    count, percentiles, mean and sum, one pass that keeps the few keys around the predicted
    ranks (and sums the samples exactly on the way) answers it, to the same bit. Files,
    streams and dask blocks keep the mergeable summary.
    """
    from . import _range_select
    from .functions import parse_function

    names = func if isinstance(func, (list, tuple)) else [func]
    funcs = [parse_function(f) for f in names]
    if not _range_select.eligible(plan, funcs):
        return None
    sels = []
    for b in bands:
        sel = _band_indices(plan, b)
        if sel is None:  # luma, or a band the summary path refuses in its own words
            return None
        sels.append(sel)
    values = _range_select.answer(plan.pixels, funcs, sels)
    if values is None:
        return None

    def one(row):
        if isinstance(func, (list, tuple)):
            return {f.name: v for f, v in zip(funcs, row, strict=True)}
        return row[0]

    if isinstance(band, (list, tuple)):
        return {b: one(row) for b, row in zip(bands, values, strict=True)}
    return one(values[0])


def _band_indices(plan, band) -> tuple[int, ...] | None:
    """The bands a selection pools (``None`` and ``"all"``: every band but alpha, as
    :attr:`Summary.pooled`), or ``None`` for the luma and unknown bands."""
    if band is None or (isinstance(band, str) and band == "all"):
        return tuple(np.flatnonzero(pooled_bands(len(plan.band_names), plan.band_names)).tolist())
    sel = _band_selection(plan, band)
    return None if sel is None else (int(sel[1:]),)


def _expand_pattern(data, io_options):
    """The sources a path or URL pattern matches (see :mod:`imgstats._patterns`), else
    ``data``: the samples of a pattern's matches count as one set, as for a list."""
    if isinstance(data, str) or hasattr(data, "__fspath__"):
        from ._patterns import expand, is_pattern

        if is_pattern(data):
            return expand(data, io_options.get("storage_options"))
    return data


def _answers(summary: Summary, func, band, bands):
    """:func:`compute`'s answer from a summary: the one it made, or the one it was given.

    Raises
    ------
    InvalidOption
        A given summary cannot answer a 32- or 64-bit percentile (or std) without a
        refinement pass over its pixels: ``NeedsRefinement`` in the words of ``compute``'s
        caller, who gave no pixels to refine with.
    """
    from .summary import NeedsRefinement

    try:
        if isinstance(band, (list, tuple)):
            return {b: summary.compute(func, b) for b in bands}
        return summary.compute(func, band)
    except NeedsRefinement:
        funcs = list(func) if isinstance(func, (list, tuple)) else [func]
        names = ", ".join(getattr(f, "name", f) for f in funcs if summary.missing(f, bands))
        raise InvalidOption(
            f"this {summary.dtype} summary cannot answer {names} without its pixels: refine "
            "it first, imgstats.refine(summary, data, funcs), or compute from the image"
        ) from None


def _summarize_for(plan, func, bands, scheduler, progress) -> Summary:
    """A summary of ``plan`` that answers ``func`` for ``bands``: at most two passes, on one
    progress bar (see :mod:`imgstats._progress`)."""
    from ._progress import question

    with question(progress, _nbytes(plan), plan.source):
        return _summarize_answering(plan, func, bands, scheduler, progress)


def _nbytes(plan) -> int:
    """The bytes of a plan's decoded pixels."""
    return int(np.prod(plan.shape, dtype=np.int64)) * plan.dtype.itemsize


def _summarize_answering(plan, func, bands, scheduler, progress) -> Summary:
    # The luma costs a multiply-add per pixel: count it only when it is asked for.
    luma = plan.has_luma and any(isinstance(b, str) and b == "luma" for b in bands)
    summary = _summarize(plan, luma, scheduler, progress, _candidates(plan, func, bands))
    for b in bands:
        summary.selection(b)  # refuse an unknown band before a refinement pass
    return _refine(summary, plan, func, bands, scheduler, progress)


#: float32 arrays from this many samples have their wanted bins predicted from a sample.
_PREDICT_SAMPLES = 1 << 18
#: Samples looked at for the prediction, and the most bins refined in the summarizing pass.
_SAMPLE, _MAX_CANDIDATES = 1 << 15, 64


def _candidates(plan, func, bands) -> tuple:
    """Predict the top-16-bit bins that hold the wanted percentiles of each selection.

    Only for in-memory float32 arrays (and one-band float64 ones), where a strided sample
    costs next to nothing: the summarizing pass then also refines these bins (float64:
    collects their keys), and when the prediction holds (the exact
    histogram says whether it did) no refinement pass follows. Each wanted rank gets the
    bins between the sample's order statistics 3.5 standard deviations (of a binomial rank)
    on either side of it.
    """
    from .functions import parse_function

    arr = plan.pixels
    # a masked array's mask counts, which the strided look's kernel cannot read
    if plan.kind != "array" or type(arr) is not np.ndarray or plan.dtype.kind != "f":
        return ()
    nb = plan.shape[2] if len(plan.shape) == 3 else 1
    if plan.dtype != np.float32 and (plan.dtype != np.float64 or nb != 1):
        return ()
    if arr.size < _PREDICT_SAMPLES or plan.transform is not None:
        return ()
    # a negative scale reads the stored ranks from the other end (see Summary._scaled_value)
    qs = [
        100 - f.q if isinstance(f.scaled, tuple) and f.scaled[0] < 0 else f.q
        for f in map(parse_function, func if isinstance(func, (list, tuple)) else [func])
        if f.q is not None
    ]
    if not qs:
        return ()
    if not arr.dtype.isnative:
        return ()
    from . import _range_select

    stride = max(1, arr.size // nb // _SAMPLE)
    shift = 8 * arr.dtype.itemsize - 16
    out, total = [], 0
    sels = []
    for b in bands:
        sel = "all" if b is None or nb == 1 else None
        if sel is None and not (isinstance(b, str) and b == "luma"):
            sel = _band_selection(plan, b)
        if sel is not None and sel not in sels:
            sels.append(sel)
    for sel in sels:
        # the look's valid keys in one strided pass, and the few order statistics wanted by
        # a radix select: a copy of the strided look, its NaN test (a cache miss per sample,
        # twice) and a sort of it cost a 12 MP float64 about 1.5 ms before its pass
        picked = tuple(range(nb)) if sel == "all" else (int(sel[1:]),)
        k = _range_select._sample(arr, nb, stride, picked)
        m = k.size
        if m < 2:
            continue
        bounds = []
        for q in qs:
            p = min(max(q / 100, 0.0), 1.0)
            r = p * (m - 1)
            half = 3.5 * np.sqrt(m * p * (1 - p)) + 2
            bounds.append((max(0, int(np.floor(r - half))), min(m - 1, int(np.ceil(r + half)))))
        at = _range_select.order_statistics(k, {i for ab in bounds for i in ab})
        bins = set()
        for a, b in bounds:
            lo, hi = at[a] >> shift, at[b] >> shift
            if hi - lo < 16:  # a wider window: too spread to count, left to a refinement
                bins.update(range(lo, hi + 1))
        per_band = len(bins) * (nb if sel == "all" else 1)
        if bins and total + per_band <= _MAX_CANDIDATES:
            out.append((sel, tuple(sorted(bins))))
            total += per_band
    return tuple(out)


def _band_selection(plan, band):
    """``"b<i>"`` for a band index or name of ``plan``, else ``None`` (refused later)."""
    n = len(plan.band_names)
    if isinstance(band, (int, np.integer)) and not isinstance(band, bool) and -n <= band < n:
        return f"b{int(band) % n}"
    if isinstance(band, str) and band in plan.band_names:
        return f"b{plan.band_names.index(band)}"
    return None
