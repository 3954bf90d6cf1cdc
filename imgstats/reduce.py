"""The reductions: summarize any image-like input in one pass, refine, and compute statistics.

numpy arrays are cut into row slices counted on every core; dask arrays (and xarray's
dask-backed DataArrays) are summarized chunk by chunk on whatever dask scheduler is active,
with a tree of merges, so no chunk is ever held together with another beyond the merge tree.
"""

from __future__ import annotations

import functools
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._blocks import (
    finish_refinements,
    merge_refinements,
    refine_block,
    small_int_stats,
    summarize_block,
)
from ._lazy import is_instance, lazy_module
from .errors import InvalidOption, NoValidSamples
from .io import open_image
from .io._sources import is_url, open_source
from .io._tiff import TiffStream, is_tiff
from .summary import Summary

# Imported on first use (dask and xarray with pandas cost seconds): a path or a numpy array
# never needs them.
dask = lazy_module("dask")

__all__ = ["summarize", "refine", "compute", "as_image_array"]

#: numpy arrays with fewer samples than this are counted on one thread.
_PARALLEL_SAMPLES = 1 << 20
#: ... and are cut into slices of at most this many samples.
_PART_SAMPLES = 1 << 27
_FAN_IN = 8
_MAX_REFINE_PASSES = 4


def as_image_array(data, **io_options):
    """Normalize an input to ``(array, band_names)`` with dims ``(y, x[, band])``.

    ``array`` is numpy or dask. Accepted inputs: numpy and dask arrays (a 3-D array's last axis
    is its bands, as ``numpy.asarray`` of a PIL image), xarray DataArrays (a ``band`` dim is
    moved last), PIL images, and paths or URLs, opened with :func:`imgstats.open_image`.
    Arrays of other ranks are read as one band of all their values.
    """
    if isinstance(data, (str, os.PathLike)):
        data = open_image(data, **io_options)
    if is_instance(data, "PIL.Image", "Image"):
        from .io._pillow import pillow_to_array

        arr, bands = pillow_to_array(data)
        return arr, bands
    if is_instance(data, "xarray", "DataArray"):
        return _from_dataarray(data)
    if is_instance(data, "dask.array", "Array"):
        arr = data
    elif isinstance(data, np.ndarray) or hasattr(data, "__array__"):
        arr = np.asarray(data)
    else:
        raise InvalidOption(f"cannot compute statistics of a {type(data).__name__}")
    if arr.dtype.kind == "c" or arr.dtype.kind not in "biuf":
        raise InvalidOption(f"unsupported pixel type {arr.dtype}: use integers or floats")
    return _ranked(arr)


def _ranked(arr):
    """Band names of a plain array: a 3-D array's last axis, else one band of every value."""
    if arr.ndim == 3:
        return arr, tuple(str(i) for i in range(arr.shape[-1]))
    if arr.ndim != 2:
        arr = arr.reshape(-1, 1)
    return arr, ("0",)


def _from_dataarray(arr):
    band_dim = next((d for d in ("band", "c", "channel") if d in arr.dims), None)
    if band_dim is not None and arr.ndim == 3:
        arr = arr.transpose(*[d for d in arr.dims if d != band_dim], band_dim)
        if band_dim in arr.coords:
            names = tuple(str(v) for v in arr.coords[band_dim].values)
        else:
            names = tuple(str(i) for i in range(arr.shape[-1]))
        return arr.data, names
    if arr.ndim == 2 and "source" in arr.attrs:  # a greyscale image from open_image
        return arr.data, (str(arr.attrs.get("band", "L")),)
    return _ranked(arr.data)


def _wants_luma(arr, band_names) -> bool:
    return arr.ndim == 3 and arr.dtype == np.uint8 and arr.shape[-1] in (3, 4)


def summarize(
    data, *, scheduler=None, progress: bool = False, window=None, mask=None, polygon=None,
    **io_options,
) -> Summary:
    """Summarize an image's samples exactly, in one pass.

    Parameters
    ----------
    data : numpy.ndarray, dask.array.Array, xarray.DataArray, PIL.Image.Image, str or path
        The image. Paths and URLs are opened with :func:`imgstats.open_image`.
    scheduler : str or dask scheduler, optional
        Passed to ``dask.compute`` for dask inputs; by default the active one (a
        ``dask.distributed.Client`` if one is set up).
    progress : bool
        Show a progress bar on stderr: dask's for dask inputs on local schedulers, tqdm's
        for a large local TIFF streamed tile by tile.
    window, mask, polygon : optional
        Summarize only these pixels; see :func:`imgstats.regions.select`.
    **io_options
        ``chunks``, ``pixel_limit``, ``storage_options`` for :func:`imgstats.open_image`.

    Returns
    -------
    Summary
        Answers min, max, mean and (for 8- and 16-bit types) every percentile on its own.
        A list of sources gives the merged summary of all their samples
        (:func:`imgstats.summarize_many`).

    Examples
    --------
    >>> import numpy as np
    >>> s = summarize(np.array([[1, 2], [3, 40]], dtype=np.uint8))
    >>> s.compute(["min", "median", "max"])
    {'min': 1, 'median': 2.5, 'max': 40}
    """
    if isinstance(data, (list, tuple)):  # a collection (issue 11)
        from .collection import summarize_many

        return summarize_many(data, scheduler=scheduler, window=window, mask=mask,
                              polygon=polygon, **io_options)
    data, io_options = _region(data, window, mask, polygon, io_options)
    data, stream, io_options = _open_path(data, scheduler, io_options, luma=True)
    return _summarize(data, None, scheduler, progress, io_options, stream)


def _open_path(data, scheduler, io_options, luma: bool):
    """Open a path with :func:`open_image`; return ``(data, stream, io_options)``.

    Two fast paths for local files when no dask scheduler was asked for: ``data`` is already
    the :class:`Summary` of an 8-bit L, RGB or RGBA image decoded by Pillow (counted by Pillow's
    own histogram, without converting the image to numpy); ``stream`` is a :class:`TiffStream`
    for a TIFF that ``open_image`` would read lazily: decoding its tiles straight into the
    kernels on every core is faster than dask and never holds more than a few tiles.
    """
    if not isinstance(data, (str, os.PathLike)):
        return data, None, io_options
    stream = None
    if (
        scheduler is None
        and not is_url(data)
        and io_options.get("chunks") is None
        and set(io_options) <= {"chunks", "pixel_limit", "storage_options", "page"}
        and not _has_distributed_client()
    ):
        if _is_tiff_file(data):
            stream = TiffStream.open(data, page=io_options.get("page") or 0)
        elif not io_options.get("page"):
            summary = _pillow_summary(data, luma, io_options.get("pixel_limit"))
            if summary is not None:
                return summary, None, {}
    data = open_image(data, **io_options)  # checks the pixel limit, names the bands
    if stream is not None and (
        not is_instance(data.data, "dask.array", "Array") or tuple(data.shape) != stream.shape
    ):
        stream = None
    return data, stream, {}


def _pillow_summary(path, luma: bool, pixel_limit) -> Summary | None:
    """Summarize an 8-bit L, RGB or RGBA image file with Pillow's histogram, else ``None``.

    The same pixels as ``numpy.asarray(Image.open(path))``, counted in Pillow's own memory:
    converting a 12 MP photograph to numpy costs a third of decoding it.
    """
    from .io import decoding, pixel_limit_default
    from .io._pillow import open_pillow

    if pixel_limit is None:
        pixel_limit = pixel_limit_default()
    with open_source(path) as fh:
        if not fh.read(4):
            return None  # open_image says it is empty
        fh.seek(0)
        img = open_pillow(fh, path, pixel_limit)
        if img.mode not in ("L", "RGB", "RGBA"):
            return None
        with decoding(path):  # io's one error mapping, whatever Pillow raises while loading
            img.load()
            counts, lhist = _pillow_histograms(img, luma and img.mode != "L")
            counts = counts.reshape(-1, 256)
    u8 = np.dtype(np.uint8)
    bands = tuple(small_int_stats(u8, h) for h in counts)
    shape = (img.height, img.width) + ((len(bands),) if len(bands) > 1 else ())
    luma_stats = None if lhist is None else small_int_stats(u8, lhist)
    return Summary(bands, tuple(img.getbands()), luma_stats, shape)


def _pillow_histograms(img, luma: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Pillow's band histograms of a loaded image (and its "L" histogram when ``luma``).

    Pillow releases the GIL in ``convert()`` and ``histogram()``, so the luma is counted on
    the second core beside the bands (12 MP RGB: 20 -> 10 ms). Splitting the bands' count
    into two cropped halves was measured too: the crops' copies and page faults cost more
    than the second core saves (57 -> 60 ms per 12 MP JPEG in one run).
    """
    if not luma:
        return np.asarray(img.histogram(), np.int64), None
    future = _pool().submit(lambda: img.convert("L").histogram())
    counts = img.histogram()
    return np.asarray(counts, np.int64), np.asarray(future.result(), np.int64)


def _is_tiff_file(path) -> bool:
    try:
        with open(path, "rb") as fh:
            return is_tiff(fh.read(4))
    except OSError:
        return False  # open_image raises the right error


def _summarize(data, luma, scheduler, progress, io_options, stream=None) -> Summary:
    """:func:`summarize`, counting the luma when ``luma`` (``None``: whenever there is one)."""
    if isinstance(data, Summary):
        return data
    arr, band_names = as_image_array(data, **io_options)
    if arr.ndim == 3 and arr.shape[-1] == 0:
        # a summary needs one band at least (its dtype, its selections)
        raise NoValidSamples(f"no valid samples: the image has no bands (shape {arr.shape})")
    luma = _wants_luma(arr, band_names) and luma is not False
    shape = tuple(int(s) for s in arr.shape)
    if stream is not None:
        return stream.map_reduce(
            lambda block: summarize_block(block, band_names, luma, shape), _merge_summaries,
            _workers(), progress=progress,
        )
    if is_instance(arr, "dask.array", "Array"):
        if arr.ndim == 3 and arr.numblocks[-1] > 1:
            arr = arr.rechunk({2: -1})
        parts = [
            dask.delayed(summarize_block, pure=True)(block, band_names, luma, shape)
            for block in arr.to_delayed().ravel()
        ]
        return _dask_compute(_tree(parts, _merge_summaries), scheduler, progress)
    return _threaded(arr, lambda part: summarize_block(part, band_names, luma, shape),
                     _merge_summaries)


def refine(
    summary: Summary, data, func, band=None, *, scheduler=None, window=None, mask=None,
    polygon=None, **io_options,
) -> Summary:
    """Return ``summary`` refined so that it answers ``func`` for ``band`` on its own.

    Only 32- and 64-bit types ever need this: each pass reads the pixels once more and looks
    only at the keys in the histogram bins that hold the wanted order statistics. A float32
    image needs at most one pass, float64 at most three.

    Parameters
    ----------
    summary : Summary
        A summary of ``data`` (from :func:`summarize`).
    data
        The same image, as anything :func:`summarize` takes.
    func : str or list of str
    band : None, int or str
    window, mask, polygon : optional
        The region ``summary`` was made of (see :func:`summarize`).

    Returns
    -------
    Summary
    """
    if not summary.missing(func, band):
        return summary
    data, io_options = _region(data, window, mask, polygon, io_options)
    data, stream, io_options = _open_path(data, scheduler, io_options, luma=False)
    return _refine(summary, data, func, band, scheduler, io_options, stream)


def _refine(summary, data, func, band, scheduler, io_options, stream=None) -> Summary:
    nodes = summary.missing(func, band)
    if not nodes:
        return summary
    sel = summary.selection(band)
    mask = summary.bands_of(sel)
    arr, _ = as_image_array(data, **io_options)
    dtype = summary.dtype
    for _ in range(_MAX_REFINE_PASSES):
        if stream is not None:
            found = stream.map_reduce(
                lambda block, nodes=nodes: refine_block(block, mask, nodes, dtype),
                _merge_found, _workers(),
            )
        elif is_instance(arr, "dask.array", "Array"):
            if arr.ndim == 3 and arr.numblocks[-1] > 1:
                arr = arr.rechunk({2: -1})
            parts = [
                dask.delayed(refine_block, pure=True)(block, mask, nodes, dtype)
                for block in arr.to_delayed().ravel()
            ]
            found = _dask_compute(_tree(parts, _merge_found), scheduler, False)
        else:
            found = _threaded(
                arr, lambda part, nodes=nodes: refine_block(part, mask, nodes, dtype), _merge_found
            )
        summary = summary.with_refinements(sel, finish_refinements(found))
        nodes = summary.missing(func, band)
        if not nodes:
            return summary
    raise RuntimeError("radix selection did not converge; this is a bug")  # pragma: no cover


def compute(
    data, func, band=None, *, scheduler=None, progress: bool = False, window=None, mask=None,
    polygon=None, dim=None, **io_options,
):
    """Compute one or several exact statistics of an image.

    Parameters
    ----------
    data : numpy.ndarray, dask.array.Array, xarray.DataArray, PIL.Image.Image, str, path or Summary
        The image. Paths and fsspec URLs are opened with :func:`imgstats.open_image`.
    func : str or list of str
        ``min``, ``max``, ``mean``, ``median`` or ``pXXX`` (``p0`` ... ``p100``, ``p99.9``).
    band : None, int or str
        ``None`` for all samples of all bands, a band index or name (``"R"``), or ``"luma"``
        (Pillow's "L" conversion, for 8-bit RGB images).
    scheduler, progress, **io_options
        As for :func:`summarize`.
    window, mask, polygon : optional
        Only these pixels count: a half-open window ``(x0, y0, x1, y1)``, a boolean ``(y, x)``
        mask, a polygon of pixel centres; see :func:`imgstats.regions.select`.
    dim : str or tuple of str, optional
        Reduce a DataArray along these dims only: the result is a DataArray over the others
        (see :func:`imgstats.dims.compute_along`).

    Returns
    -------
    int, float or dict
        A plain Python number, or ``{name: number}`` when ``func`` is a list. min and max keep
        the image's type (int for integer images); percentiles equal ``numpy.percentile``
        (linear method) on the valid samples; the mean is the exact mean rounded to float64.
        ``data`` may be a list of images, whose samples then count as one set
        (:func:`imgstats.collection.compute_many`).

    Raises
    ------
    UnknownFunction
        ``func`` is not a supported name.
    InvalidOption
        ``band`` is not a band of the image.
    NoValidSamples
        The selection is empty or all NaN.
    ImageNotFound, UnreadableImage, ImageTooLarge, StoreUnavailable
        From opening a path or URL.

    Examples
    --------
    >>> import numpy as np
    >>> compute(np.arange(10, dtype=np.float32), ["p25", "mean"])
    {'p25': 2.25, 'mean': 4.5}
    """
    from .functions import parse_function

    for name in func if isinstance(func, (list, tuple)) else [func]:
        parse_function(name)  # refuse a bad name before reading any pixel
    if dim is not None:  # issue 11: along chosen dims, collections, regions
        from .dims import compute_along

        return compute_along(data, func, dim, band=band, scheduler=scheduler)
    if isinstance(data, (list, tuple)):
        from .collection import compute_many

        return compute_many(data, func, band, scheduler=scheduler, window=window, mask=mask,
                            polygon=polygon, **io_options)
    data, io_options = _region(data, window, mask, polygon, io_options)
    data, stream, io_options = _open_path(data, scheduler, io_options, luma=band == "luma")
    # The luma costs a multiply-add per pixel: count it only when it is asked for.
    summary = _summarize(data, band == "luma", scheduler, progress, io_options, stream)
    summary.selection(band)
    if summary.missing(func, band):
        summary = _refine(summary, data, func, band, scheduler, io_options, stream)
    return summary.compute(func, band)


# -- plumbing ---------------------------------------------------------------------------------
def _region(data, window, mask, polygon, io_options):
    """The samples of ``data`` in a region (see :mod:`imgstats.regions`), else ``data``."""
    if window is None and mask is None and polygon is None:
        return data, io_options
    from .regions import select

    return select(data, window=window, mask=mask, polygon=polygon, **io_options), {}


def _merge_summaries(parts):
    out = parts[0]
    for p in parts[1:]:
        out = out.merge(p)
    return out


def _merge_found(parts):
    out = parts[0]
    for p in parts[1:]:
        out = merge_refinements(out, p)
    return out


def _tree(parts, merge):
    """Merge dask delayed results in a tree of fan-in :data:`_FAN_IN`."""
    while len(parts) > 1:
        parts = [
            dask.delayed(merge, pure=True)(parts[i : i + _FAN_IN])
            for i in range(0, len(parts), _FAN_IN)
        ]
    return parts[0]


def _dask_compute(obj, scheduler, progress: bool):
    if progress and scheduler != "distributed" and not _has_distributed_client():
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr):
            return dask.compute(obj, scheduler=scheduler)[0]
    return dask.compute(obj, scheduler=scheduler)[0]


def _has_distributed_client() -> bool:
    if "distributed" not in sys.modules:  # no client without it; importing it costs 0.8 s, 60 MB
        return False
    try:
        from distributed import default_client

        default_client()
    except (ImportError, ValueError):
        return False
    return True


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """The threads that count numpy arrays, started once (the kernels release the GIL)."""
    return ThreadPoolExecutor(_workers(), thread_name_prefix="imgstats")


def _workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _threaded(arr: np.ndarray, work, merge):
    """Run ``work`` on row slices of ``arr`` on every core and merge the results.

    Slices hold at most :data:`_PART_SAMPLES` samples, which also keeps every kernel's int64
    sums far from overflowing.
    """
    rows = arr.shape[0] if arr.ndim else 1
    nparts = -(-arr.size // _PART_SAMPLES)
    if arr.size >= _PARALLEL_SAMPLES:
        nparts = max(nparts, _workers())
    nparts = min(nparts, rows)
    if nparts <= 1:
        return work(arr)
    bounds = np.linspace(0, rows, nparts + 1).astype(int)
    parts = [arr[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return merge(list(_pool().map(work, parts)))
