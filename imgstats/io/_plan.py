"""Read plans: how an opened source's pixels arrive, and one map-reduce over them.

A :class:`ReadPlan` is what io hands to everything that reads pixels. It carries the header
facts (shape, dtype, band names, pages, format) and one of three ways in which the pixels
arrive:

* ``"pillow"``: an 8-bit L, RGB or RGBA image decoded by Pillow, kept in Pillow's memory so
  that it is counted there without a copy to numpy;
* ``"stream"``: a local TIFF's tiles or strips (all of a page, or those under a window),
  decoded on every core by :class:`~imgstats.io._tiff.TiffStream` and never held whole;
* ``"array"``: a numpy or dask array with dims ``(y, x[, band])``.

:meth:`ReadPlan.map_reduce` runs one function on every decoded block and merges the results,
on threads, the TIFF stream's decoding threads, or any dask scheduler (dask.distributed
included), whatever the kind. ``transform`` is applied to every decoded block first: this is
where a per-block meaning of the file (a palette, an inverted greyscale) slots in. A stream
plan's transform is its TIFF page's meaning: the stream hands over stored samples.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .._inputs import a_type, as_array, countable, is_half, unknown_shape, yx_first
from .._lazy import is_instance, is_masked_array
from ..errors import InvalidOption, NoValidSamples, UnreadableImage
from ..functions import did_you_mean
from ..summary import alpha_band
from ._geo import MAP_OPTIONS

__all__ = ["ReadPlan", "open_plan", "workers"]

#: numpy arrays with fewer samples than this are counted on one thread.
PARALLEL_SAMPLES = 1 << 20
#: ... and are cut into slices of at most this many samples (keeps int64 sums far from overflow).
PART_SAMPLES = 1 << 27
#: The most bytes of a slice of an array that is copied to be counted (not C-contiguous, as
#: a transpose or a strided view, or not in native byte order): the slices being counted are
#: copied, one per thread, never the whole image.
COPY_BYTES = 1 << 23


@dataclass(frozen=True)
class ReadPlan:
    """One opened source: its header facts and how its pixels arrive.

    Attributes
    ----------
    kind : {"pillow", "stream", "array"}
    pixels : PIL.Image.Image, TiffStream, numpy.ndarray or dask.array.Array
        The decoded Pillow image, the TIFF stream, or the array with dims ``(y, x[, band])``.
    shape : tuple of int
        ``(y, x[, band])`` of the decoded image.
    dtype : numpy.dtype
    band_names : tuple of str
    source : str or None
        Printable name of the source (``None`` for in-memory data).
    format : str
        ``"JPEG"``, ``"TIFF"``..., ``""`` for in-memory data.
    pages : int
        Pages (frames) in the file; the plan reads one of them.
    photometric : str
        The stored colour model, as TIFF names it (``"minisblack"``, ``"rgb"``, ``"palette"``...,
        as :func:`imgstats.io.read_header` gives it), ``""`` where nothing says it (plain
        arrays)
    transform : callable or None
        Applied to every decoded block before it is counted: ``(y, x[, band])`` blocks, or for
        a stream the ``(y, x, samples)`` stored samples, which its page's meaning turns into
        ``(y, x[, band])`` values.
    valid : Validity or None
        Which samples count (nodata, a dataset mask, alpha): every work runs through
        :meth:`~imgstats.io._valid.Validity.run`. With a dataset mask, the blocks arrive as
        ``(samples, mask)`` pairs: the mask's tile decoded beside the image's (a stream), or
        cut from ``mask`` beside the block (an array).
    mask : numpy.ndarray, dask.array.Array or None
        An array plan's dataset mask ``(y, x)``, True where valid (``None`` without one).
    """

    kind: str
    pixels: Any
    shape: tuple[int, ...]
    dtype: np.dtype
    band_names: tuple[str, ...]
    source: str | None = None
    format: str = ""
    pages: int = 1
    photometric: str = field(default="", kw_only=True)
    transform: Callable | None = field(default=None, compare=False)
    #: Which samples count (:class:`~imgstats.io._valid.Validity`), ``None``: all but NaN.
    valid: Any = field(default=None, compare=False, kw_only=True)
    #: Each band's ``(scale, offset)`` from GDAL's metadata, ``None`` without (the
    #: physical values of ``scaled=True``; the statistics stay of the stored values).
    scales: tuple | None = field(default=None, compare=False, kw_only=True)
    #: An array plan's dataset mask ``(y, x)`` (True: valid), cut beside every block.
    mask: Any = field(default=None, compare=False, kw_only=True)
    #: A Pillow plan's ``follow`` of :func:`open_plan` when it read every row as the image
    #: decoded (see :func:`imgstats.io._pillow_memory.load_single_block`), else ``None``.
    counted: Any = field(default=None, compare=False, kw_only=True)
    #: Whose rule ``valid`` is: the file's own (``"file"``; an array's attrs too), the
    #: caller's ``nodata=`` (``"option"``), or none (``"raw"``: every sample but NaN).
    valid_source: str = field(default="file", compare=False, kw_only=True)
    #: An in-memory ``float16`` array counted as float32 (exact), its percentiles
    #: interpolated as numpy interpolates a float16 array's (:attr:`Summary.half`). A
    #: half-float TIFF is not: its values are float32, as GDAL reads them.
    half: bool = field(default=False, compare=False, kw_only=True)

    @property
    def has_luma(self) -> bool:
        """Whether Pillow's 8-bit "L" luma of the first three bands can be counted."""
        return len(self.shape) == 3 and self.dtype == np.uint8 and self.shape[-1] in (3, 4)

    @property
    def local(self) -> bool:
        """Whether reading the pixels needs no dask scheduler (no dask array behind them)."""
        return self.kind != "array" or isinstance(self.pixels, np.ndarray)

    @property
    def header(self) -> dict:
        """Validity facts for the header: ``nodata``, ``mask``, ``alpha_band``."""
        from ._valid import Validity

        valid = self.valid or Validity(self.dtype, len(self.band_names))
        return valid.facts()

    def valid_samples(self):
        """What decides which samples count, as a summary reports it
        (:class:`~imgstats._valid_samples.ValidSamples`): a dataset mask, else the nodata
        value, else the alpha band (GDAL's order), else nothing; a masked array's mask
        (``"array"``) beside any nodata value, as both leave samples out, even ``raw``."""
        from .._valid_samples import ValidSamples

        if _is_masked_array(self.pixels):
            nodata = None if self.valid is None else self.valid.nodata
            return ValidSamples("array", nodata, self.valid_source)
        if self.valid_source == "raw":
            return ValidSamples(None, None, "raw")
        valid = self.valid
        if valid is None:
            return ValidSamples(None, None, self.valid_source)
        if valid.mask is not None:
            return ValidSamples(valid.mask, None, self.valid_source)
        if valid.band_nodata is not None:  # each band its own
            return ValidSamples("nodata", None, self.valid_source, valid.band_nodata)
        if valid.nodata is not None:
            return ValidSamples("nodata", valid.nodata, self.valid_source)
        if valid.alpha is not None:
            return ValidSamples("alpha", None, self.valid_source)
        return ValidSamples(None, None, self.valid_source)

    def array(self):
        """The whole image as a numpy or dask array ``(y, x[, band])`` (transform applied;
        every sample, valid or not: :meth:`dataset_mask` says which pixels the mask keeps)."""
        if self.kind == "pillow":
            arr = np.asarray(self.pixels)
        elif self.kind == "stream":
            from ._open import open_image

            stream = self.pixels
            if self.transform is None or self.transform != stream.facts.meaning.apply:
                # another transform in place of the page's meaning: it gets stored samples
                return _map_stored(stream.stored_array(), self.transform, self.shape, self.dtype)
            arr = open_image(
                stream.path, chunks="auto", page=stream.page, palette=stream.palette
            ).data
            if stream.window is not None:
                x0, y0, x1, y1 = stream.window
                arr = arr[y0:y1, x0:x1]
            return arr  # open_image applied the page's meaning: not the transform again
        else:
            arr = self.pixels
            if self.transform is not None and not isinstance(arr, np.ndarray):
                return arr.map_blocks(self.transform, dtype=self.dtype)
        return self.transform(arr) if self.transform is not None else arr

    def dataset_mask(self):
        """The dataset mask ``(y, x)`` (an internal mask page or a ``.msk`` sidecar; True:
        valid) as a numpy or dask array, or ``None`` without one (or with ``raw``).

        A file's mask is read lazily, chunk by chunk (a numpy array only beside numpy pixels):
        see :meth:`mask_reader` to cut blocks of it yourself."""
        reader = self.mask_reader()
        if reader is None or isinstance(reader, np.ndarray) or _is_dask(reader):
            return reader
        if self.kind == "array" and isinstance(self.pixels, np.ndarray):
            return np.asarray(reader, bool)  # beside pixels held whole: whole too
        import dask.array as da

        if self.kind == "array":
            chunks = self.pixels.chunks[:2]
        else:
            from . import _limits
            from ._tiff import dask_chunks

            tile = self.pixels.facts.tile
            chunks = dask_chunks(reader.shape, tile, self.dtype.itemsize, _limits.CHUNK_BYTES)
        return da.from_array(
            reader, chunks=chunks, asarray=False, meta=np.empty((0, 0), bool), name=False
        )

    def mask_reader(self):
        """The dataset mask ``(y, x)`` as it is held, for reading block by block:
        ``reader[y0:y1, x0:x1]`` is a numpy (or dask) bool array of that block alone; a
        file's mask is a :class:`~imgstats.io._mask.MaskArray`, which decodes only the mask
        segments under the block (and has :meth:`~imgstats.io._mask.MaskArray.crop`, a cut
        that reads nothing). ``None`` without a mask."""
        if self.valid is None or not self.valid.mask_channel:
            return None
        if self.kind != "stream":
            return self.mask
        from ._mask import mask_of

        stream = self.pixels
        mask = mask_of(stream.path, stream.facts)
        if stream.window is not None:
            x0, y0, x1, y1 = stream.window
            mask = mask.crop(y0, y1, x0, x1) if hasattr(mask, "crop") else mask[y0:y1, x0:x1]
        return mask

    def map_reduce(
        self, work: Callable, merge: Callable, *, scheduler=None, progress: bool = False
    ):
        """Return ``merge([...])`` of ``work(block)`` over the decoded blocks of the image.

        Parameters
        ----------
        work : callable
            ``(y, x[, band]) numpy block -> result``; it must release the GIL to use every core.
        merge : callable
            ``list of results -> result``, associative.
        scheduler : str or dask scheduler, optional
            For dask arrays: passed to ``dask.compute`` (by default the active one, a
            ``dask.distributed.Client`` if one is set up).
        progress : bool
            A progress bar on stderr (dask's, or the TIFF stream's).
        """
        work = self._transformed(work)
        if self.kind == "stream":
            return self.pixels.map_reduce(work, merge, workers(), progress=progress)
        arr = np.asarray(self.pixels) if self.kind == "pillow" else self.pixels
        mask = self.mask if self.kind == "array" else None
        if isinstance(arr, np.ndarray):
            return _threaded(arr, work, merge, _as_numpy(mask))
        return _dask_map_reduce(arr, work, merge, scheduler, progress, mask)

    def _transformed(self, work: Callable) -> Callable:
        if self.valid is not None and self.valid.active:
            valid, transform = self.valid, self.transform
            return lambda block: valid.run(work, block, transform)
        if self.transform is None:
            return work
        transform = self.transform
        return lambda block: work(transform(block))

    def with_pixels(self, kind: str, pixels) -> ReadPlan:
        """The same image with its pixels arriving another way."""
        return replace(self, kind=kind, pixels=pixels)


def _map_stored(raw, transform, shape, dtype):
    """``transform`` on every chunk of a dask array of stored samples ``(y, x, samples)``."""
    if transform is None:
        return raw
    chunks = raw.chunks[:2] + ((shape[2],),) if len(shape) == 3 else raw.chunks[:2]
    return raw.map_blocks(
        transform, dtype=dtype, chunks=chunks, drop_axis=2 if len(shape) == 2 else None
    )


# -- building plans ----------------------------------------------------------------------------
#: The image options of :func:`open_plan`.
OPEN_OPTIONS = ("chunks", "pixel_limit", "storage_options", "page", "raw", "nodata", "palette")
#: The options that the library's entry points take as ``**io_options``: :data:`OPEN_OPTIONS`
#: and a region in map coordinates (:data:`imgstats.io._geo.MAP_OPTIONS`).
IO_OPTIONS = (*OPEN_OPTIONS, *MAP_OPTIONS)


def check_io_options(options: dict, caller: str, others=()) -> None:
    """Refuse a keyword that is neither one of :data:`IO_OPTIONS` nor ``others`` (the
    caller's own), with a ``TypeError`` that names ``caller`` and the closest name (the
    package's one rule, :func:`imgstats.functions.did_you_mean`): Python's own message named
    :func:`open_plan`, which the caller never called."""
    unknown = [key for key in options if key not in IO_OPTIONS]
    if not unknown:
        return
    known = [*others, *IO_OPTIONS]
    raise TypeError(
        f"{caller}() got an unexpected keyword argument {unknown[0]!r}"
        f"{did_you_mean(unknown[0], known)}; "
        f"it takes {', '.join(known)}"
    )


def open_plan(
    data,
    *,
    local: bool = True,
    chunks=None,
    pixel_limit: int | None = None,
    storage_options: dict | None = None,
    page: int = 0,
    raw: bool = False,
    nodata=None,
    palette: str = "rgb",
    follow=None,
) -> ReadPlan:
    """Open anything imgstats reads as a :class:`ReadPlan`.

    Parameters
    ----------
    data : numpy.ndarray, dask.array.Array, xarray.DataArray, PIL.Image.Image, str or path
        Arrays with 3 dims have their bands last (as ``numpy.asarray`` of a PIL image); an
        xarray ``band`` (or ``c``, ``channel``) dim is moved last; arrays of other ranks are
        one band of all their values. Paths and URLs are opened with
        :func:`imgstats.open_image`'s rules.
    local : bool
        Whether the pixels will be counted in this process: only then are local files
        streamed (TIFF) or counted in Pillow's memory; otherwise a path becomes a dask array
        that workers read themselves.
    chunks, pixel_limit, storage_options, page
        As for :func:`imgstats.open_image`.
    raw : bool
        Count every sample (NaN aside), ignoring the file's nodata, mask and alpha.
    nodata : number, optional
        The nodata value, in place of the file's (and of its mask); for arrays too.
    palette : {"rgb", "index"}
        A palette image's colours (the default) or its class indices (files only).
    follow : callable, optional
        For a local image file decoded by Pillow: called with its rows while it decodes,
        where it can be (see :func:`imgstats.io._pillow_memory.load_single_block`); the
        plan's ``counted`` is then ``follow``, and the caller's reading of the rows is done
        when the plan is.

    Raises
    ------
    InvalidOption
        For an unsupported type of pixels or of input; a bad ``nodata``; ``palette="index"``
        for an image without a palette.
    NoValidSamples
        For an image with zero bands.
    ImageNotFound, UnreadableImage, ImageTooLarge, StoreUnavailable
        From opening a path or URL.
    """
    from ._meaning import check_palette, not_a_palette

    if check_palette(palette) == "index" and not isinstance(data, (str, os.PathLike)):
        if not (_is_dataarray(data) and data.attrs.get("palette") == "index"):
            raise not_a_palette(a_type(data))  # an array's values are its own
    if isinstance(data, ReadPlan):
        return data if nodata is None and not raw else with_validity(data, raw, nodata)
    if isinstance(data, (str, os.PathLike)):
        from ._beside import one_look

        with one_look():  # what lies beside the file, looked at once (see _beside)
            plan = _open_path(
                data,
                local,
                chunks,
                pixel_limit,
                storage_options,
                page,
                raw,
                nodata,
                palette,
                follow,
            )
    else:
        attrs = dict(data.attrs) if _is_dataarray(data) else _pil_attrs(data)
        raw = raw or bool(attrs.get("raw"))
        plan = with_validity(_plan_of_object(data), raw, nodata, attrs=attrs)
    if len(plan.shape) == 3 and plan.shape[-1] == 0:
        # a summary needs one band at least (its dtype, its selections)
        raise NoValidSamples(f"no valid samples: the image has no bands (shape {plan.shape})")
    return plan


def _pil_attrs(data) -> dict:
    """The attrs of a PIL image as :func:`imgstats.open_image` gives its file's: a grey PNG's
    transparent grey (its tRNS key) is its nodata value, as GDAL reads it, and an image
    opened from a local file has what GDAL reads beside it (:func:`_pil_file_attrs`); ``{}``
    for anything else. An RGB PNG's key becomes an alpha band
    (:func:`._pillow.expanded_mode`)."""
    if not is_instance(data, "PIL.Image", "Image"):
        return {}
    from ._pillow import grey_key

    attrs = _pil_file_attrs(data)
    key = grey_key(data)  # a loaded 2- or 4-bit PNG has no tile: its key is left unscaled
    if key is not None:  # a PNG's own transparent grey comes before an .aux.xml's
        attrs["nodata"] = key
        attrs.pop("nodata_problem", None)
        attrs.pop("band_nodata", None)
    return attrs


def _pil_file_attrs(img) -> dict:
    """What GDAL reads beside (or after) the local file a PIL image was opened from, its
    ``.aux.xml`` and, for its first frame, its dataset mask (:func:`._open.file_validity`),
    as attrs; ``{}`` for an image of no file (made, converted, or opened from bytes)."""
    from ._open import file_validity
    from ._pillow import pillow_bands
    from ._sources import is_url

    path = getattr(img, "filename", None)
    if not isinstance(path, str) or not path or is_url(path) or not os.path.isfile(path):
        return {}
    if img.format == "TIFF":  # read as pixels, its GDAL tags and masks too: pass the path
        return {}
    bands, dtype = pillow_bands(img)
    attrs: dict = {}
    with open(path, "rb") as fh:
        file_validity(attrs, img, fh, path, img.mode, bands, dtype)
    if attrs.get("mask_jpeg") or attrs.get("mask_sidecar"):
        attrs["source"] = path  # where with_validity reads the mask again
    return attrs


def _plan_of_object(data, source=None, fmt="") -> ReadPlan:
    from PIL import Image

    from ._pillow import pillow_to_array

    if isinstance(data, Image.Image):
        arr, bands = pillow_to_array(data)
        plan = _array_plan(arr, bands, source, fmt or (data.format or ""))
        return replace(plan, photometric=_photometric_of({"mode": data.mode}))
    if _is_dataarray(data):
        arr, bands = _from_dataarray(data)
        plan = _array_plan(
            arr, bands, data.attrs.get("source", source), data.attrs.get("format", fmt)
        )
        return replace(plan, photometric=_photometric_of(data.attrs))
    if _is_dask(data):
        arr = data
    elif is_masked_array(data):
        arr = data  # its mask says which samples are valid (see imgstats._inputs)
    elif isinstance(data, np.ndarray) or hasattr(data, "__array__"):
        arr = as_array(data, "an image")
    elif isinstance(data, (numbers.Number, list)):  # [1, 2, 3]: a list is a collection
        raise InvalidOption(
            f"cannot compute statistics of {a_type(data)}: a list is a collection of images; "
            "numpy.asarray(values) makes numbers one image"
        )
    else:
        raise InvalidOption(f"cannot compute statistics of {a_type(data)}")
    half = is_half(arr.dtype)
    arr, bands = _ranked(countable(arr))
    return _array_plan(arr, bands, source, fmt, half)


def _array_plan(arr, bands, source, fmt, half: bool = False) -> ReadPlan:
    half = half or is_half(arr.dtype)
    arr = countable(arr)  # float16 of a DataArray or an image too
    dtype = np.dtype(arr.dtype)
    if dtype.kind not in "biuf":
        raise InvalidOption(f"unsupported pixel type {dtype}: use integers or floats")
    # () is an unknown shape (a dask array of unknown chunk sizes), as in Summary.shape
    shape = () if unknown_shape(arr) else tuple(int(s) for s in arr.shape)
    return ReadPlan("array", arr, shape, dtype, tuple(bands), source, fmt, half=half)


def _ranked(arr):
    """Band names of a plain array: a 3-D array's last axis, else one band of every value."""
    if arr.ndim == 3:
        return arr, tuple(str(i) for i in range(arr.shape[-1]))
    if arr.ndim != 2:
        arr = arr.reshape(-1, 1)
    return arr, ("0",)


#: The names a DataArray's band dim goes by, the first one present taken.
BAND_DIMS = ("band", "c", "channel")


def band_dim_of(arr):
    """The name of ``arr``'s band dim (:data:`BAND_DIMS`), ``None`` without one."""
    return next((d for d in BAND_DIMS if d in arr.dims), None)


def _from_dataarray(arr):
    """``(samples, band names)`` of a DataArray, its bands last; a region's samples of a
    masked array (:func:`imgstats.selection.select`) masked again by their ``sample_mask``."""
    mask = arr.attrs.get("sample_mask")
    if mask is None:
        return _dataarray_samples(arr)
    if tuple(mask.shape) != tuple(arr.shape):
        raise InvalidOption(f"the sample mask in attrs is {mask.shape}, the image {arr.shape}")
    data, names = _dataarray_samples(arr)
    mask, _ = _dataarray_samples(arr.copy(data=mask))  # moved as the samples are
    if _is_dask(data) or _is_dask(mask):
        import dask.array as da

        return da.ma.masked_array(data, mask=mask), names
    return np.ma.masked_array(data, mask=mask), names


def _dataarray_samples(arr):
    band_dim = band_dim_of(arr)
    if band_dim is not None and arr.ndim >= 3:
        arr = yx_first(arr, band_dim)
        if band_dim in arr.coords:
            names = tuple(str(v) for v in arr.coords[band_dim].values)
        else:
            names = tuple(str(i) for i in range(arr.shape[-1]))
        return _three_dims(arr.data), names
    arr = yx_first(arr)
    if arr.ndim == 2 and "source" in arr.attrs:  # a greyscale image from open_image
        return arr.data, (str(arr.attrs.get("band", "L")),)
    return _ranked(arr.data)


def _three_dims(data):
    """An ``(..., y, x, band)`` array as ``(rows, columns, band)``: every sample of a band
    pooled, whatever its other dims (a ``(time, band, y, x)`` DataArray's bands are each
    counted over every time). Adjacent dims are merged where the samples' strides allow a
    view; only when no two do is a numpy array copied (a dask array is reshaped lazily)."""
    while data.ndim > 3:
        if _is_dask(data):
            if unknown_shape(data):  # a boolean-indexed stack: dask cannot reshape it so
                data = data.compute_chunk_sizes()
            return data.reshape(-1, data.shape[-2], data.shape[-1])
        shape, strides = data.shape, data.strides
        for i in range(data.ndim - 2):  # never the band's dim
            if shape[i] == 1 or shape[i + 1] == 1 or strides[i] == shape[i + 1] * strides[i + 1]:
                data = data.reshape(shape[:i] + (shape[i] * shape[i + 1],) + shape[i + 2 :])
                break
        else:
            data = data.reshape(-1, shape[-2], shape[-1])
    return data


def _is_dask(obj) -> bool:
    return is_instance(obj, "dask.array", "Array")


def _is_dataarray(obj) -> bool:
    return is_instance(obj, "xarray", "DataArray")


def _open_path(
    source,
    local,
    chunks,
    pixel_limit,
    storage_options,
    page,
    raw=False,
    nodata=None,
    palette="rgb",
    follow=None,
) -> ReadPlan:
    """Open a path or URL: Pillow's memory or a TIFF stream when counted here, else an array."""
    from ._open import open_image
    from ._sources import MASK, PAM, is_url, sidecar
    from ._tiff import check_page

    page = check_page(page)
    fast = local and chunks is None and not is_url(source)
    tiff, masked = _head_and_tail(source) if fast else (False, False)
    sidecars = fast and (sidecar(source, PAM) or sidecar(source, MASK) or masked)
    if fast and not page and not tiff and palette == "rgb" and not sidecars:
        plan = _pillow_plan(source, pixel_limit, follow)
        if plan is not None:
            return with_validity(plan, raw, nodata)
    if tiff:
        plan = _stream_plan(source, page, pixel_limit, raw, nodata, palette)
        if plan is not None:
            return plan
    img = open_image(
        source,
        chunks=chunks,
        pixel_limit=pixel_limit,
        storage_options=storage_options,
        page=page,
        palette=palette,
    )  # the pixel limit, the bands
    plan = replace(_plan_of_object(img), pages=int(img.attrs.get("pages", 1)))
    if fast and not isinstance(plan.pixels, np.ndarray) and img.attrs.get("format") == "TIFF":
        from ._tiff import TiffStream

        # Decoding the tiles straight into the work on every core is faster than dask and
        # never holds more than a few tiles.
        stream = TiffStream.open(source, page=page, palette=palette)
        if stream is not None and stream.shape == plan.shape:
            plan = replace(plan.with_pixels("stream", stream), transform=stream.facts.meaning.apply)
    return with_validity(plan, raw, nodata, source, storage_options, img.attrs)


def _head_and_tail(path) -> tuple[bool, bool]:
    """``(tiff, masked)``: whether a local file is a TIFF (its first 4 bytes) and whether it
    ends with the mask GDAL appends to a JPEG (its last 6 bytes), from one open of it; both
    False when it cannot be opened (open_image says why). Looked at once within
    :func:`._beside.one_look`, where :func:`imgstats.io.read_header` may have answered."""
    from ._beside import looked

    path = os.fspath(path)
    return looked(("head-tail", path), lambda: _read_head_and_tail(path))


def _read_head_and_tail(path: str) -> tuple[bool, bool]:
    from ._mask import has_jpeg_mask
    from ._sources import open_local
    from ._tiff import is_tiff

    try:
        with open_local(path) as fh:  # a pipe: UnreadableImage, not a wait for its writer
            if is_tiff(fh.read(4)):
                return True, False  # a TIFF's masks are pages or a .msk, never appended
            return False, has_jpeg_mask(fh)
    except OSError:
        return False, False  # open_image raises the right error


def plan_of_image(img, source, raw: bool = False, nodata=None, storage_options=None) -> ReadPlan:
    """The array plan of ``img``, what :func:`imgstats.open_image` gave for ``source``, with
    the file's validity: its nodata, alpha, and dataset mask (read from ``source``)."""
    plan = replace(_plan_of_object(img), pages=int(img.attrs.get("pages", 1)))
    raw = raw or bool(img.attrs.get("raw"))
    return with_validity(plan, raw, nodata, source, storage_options, img.attrs)


def with_validity(
    plan: ReadPlan, raw: bool = False, nodata=None, source=None, storage_options=None, attrs=None
) -> ReadPlan:
    """``plan`` with the samples that count (GDAL's rules, see :mod:`imgstats.io._valid`).

    The file's own: its mask (an internal mask page or a ``.msk`` sidecar), else its nodata,
    else its alpha band -- GDAL's order --, unless ``raw``; ``nodata`` takes the place of all
    three (the alpha band stays out of the pooled bands whatever: it is no colour).
    """
    from ._valid import Validity, check_nodata

    if plan.kind == "stream" and plan.pixels.facts.scales is not None:
        plan = replace(plan, scales=plan.pixels.facts.scales)
    elif attrs and attrs.get("scales") is not None:
        plan = replace(plan, scales=tuple(tuple(p) for p in attrs["scales"]))
    elif attrs and (packing := attr_scale(attrs)) is not None:
        plan = replace(plan, scales=(packing,) * len(plan.band_names))
    if raw and nodata is not None:
        raise InvalidOption("raw=True counts every sample: it takes no nodata")
    nbands = len(plan.band_names)
    alpha = alpha_band(plan.band_names)  # the alpha whose 0s leave pixels out, or None
    # a stream's tiles are decoded anew for each work: NaN can be written into them in place
    base = Validity(plan.dtype, nbands, fresh=plan.kind == "stream")
    if raw:
        return replace(plan, valid=None, valid_source="raw")
    if nodata is not None:
        valid = replace(base, nodata=check_nodata(nodata, plan.dtype))
        return _as_counted(replace(plan, valid=valid, valid_source="option"))
    attrs = attrs or {}
    # a region's array keeps whose rule its nodata is (see imgstats.selection.select)
    plan = replace(plan, valid_source="option" if attrs.get("valid_source") == "option" else "file")
    passed_on = False  # open_image's array, passed on without its path
    if plan.kind == "stream":
        facts, source = plan.pixels.facts, plan.pixels.path
    elif source is not None and (
        attrs.get("format") == "TIFF" or attrs.get("mask_sidecar") or attrs.get("mask_jpeg")
    ):
        facts = _attr_facts(plan, attrs)
    elif attrs.get("dataset_mask") is not None:  # a region of a masked image (selection)
        mask = attrs["dataset_mask"]  # a region's: dask (read per block) or numpy
        if not _is_dask(mask):
            mask = np.asarray(mask, bool)
        elif mask.dtype != np.bool_:
            mask = mask.astype(bool)
        if mask.shape != tuple(plan.shape[:2]):
            raise InvalidOption(
                f"the dataset mask in attrs is {mask.shape}, the image {tuple(plan.shape[:2])}"
            )
        valid = replace(base, mask=str(attrs.get("mask_kind", "internal")), mask_channel=True)
        return _as_counted(replace(plan, mask=mask, valid=valid))
    elif _masked_tiff(attrs):  # open_image's array of a file with a mask, passed on as it is
        facts = _attr_facts(plan, attrs)
        source, passed_on = attrs["source"], True
    else:  # an array, or a region of an image: its nodata travels in its attrs
        facts = _AttrFacts(
            plan.shape,
            attr_nodata(attrs),
            None,
            attrs.get("nodata_problem"),
            band_nodata=_band_nodata(attrs, plan),
        )
        source = None
    if source is not None:
        try:
            masked = _with_dataset_mask(plan, base, facts, source, storage_options)
        except UnreadableImage:
            if not passed_on:
                raise
            masked = None  # the mask does not fit the array: a slice
        if passed_on and masked is None:
            raise InvalidOption(
                f"this array of {source} is not the whole image, so its dataset mask has no "
                "place on it: pass the path with window= (or raw=True) instead"
            )
        if masked is not None:
            return masked
    if facts.band_nodata is not None:  # each band's own nodata value, as GDAL applies them
        from ._pam import band_nodata_refused

        each = tuple(facts.band_nodata)[:nbands]
        each += (None,) * (nbands - len(each))
        refused = band_nodata_refused(facts.problem, each, plan.band_names)
        if refused is not None:
            raise UnreadableImage(refused)
        return _as_counted(replace(plan, valid=replace(base, band_nodata=each)))
    if facts.problem is not None:  # a nodata value per band, without the values
        raise UnreadableImage(facts.problem)
    if facts.nodata is not None:
        return _as_counted(replace(plan, valid=replace(base, nodata=facts.nodata)))
    if alpha is not None:
        return _as_counted(replace(plan, valid=replace(base, alpha=alpha)))
    return plan


#: The attrs that say an array's nodata value, the first present wins: imgstats' own (and
#: ``open_image``'s), then CF's, which xarray leaves in attrs when it does not decode them
#: (``mask_and_scale=False``) and rioxarray writes (``open_rasterio(masked=False)``).
NODATA_ATTRS = ("nodata", "_FillValue", "missing_value")


def attr_nodata(attrs):
    """The nodata value of an array's ``attrs`` (:data:`NODATA_ATTRS`), or ``None``.

    Each must be one real number (a one-element array counts), and ``nodata`` may also be
    the text of one (``"-9999"``, as a GDAL_NODATA tag holds it): a list of several missing
    values, other text or a boolean is not a nodata value, and is left alone -- by
    :func:`imgstats.compute`, ``zonal`` and ``dim=`` alike.
    """
    value = attrs.get("nodata")
    if isinstance(value, (str, bytes)):
        value = _number_of_text(value)
    else:
        value = _one_number(value)
    if value is not None:
        return value
    for key in NODATA_ATTRS[1:]:
        value = _one_number(attrs.get(key))
        if value is not None:
            return value
    return None


def _number_of_text(text):
    """The int or float a nodata text holds (an int kept whole, beyond float's 2**53), or
    ``None``."""
    from ._valid import number_of_text

    number = number_of_text(text)
    try:
        whole = int(text.decode("ascii") if isinstance(text, bytes) else text)
    except (ValueError, UnicodeDecodeError):
        return number
    return whole if number is not None else None


def _one_number(value):
    """``value`` as one Python int or float (a one-element array or list counts), else
    ``None``: several values, a string or a boolean are no number of an attr."""
    if isinstance(value, (np.ndarray, list, tuple)):
        value = np.asarray(value).reshape(-1)[0] if np.size(value) == 1 else None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None


#: CF's packing of an array's values, which xarray leaves in attrs when it does not decode
#: them (``mask_and_scale=False``) and rioxarray writes (``open_rasterio(mask_and_scale=False)``):
#: the physical value is ``value * scale_factor + add_offset``.
SCALE_ATTRS = ("scale_factor", "add_offset")


def attr_scale(attrs) -> tuple[float, float] | None:
    """``(scale, offset)`` of an array's CF ``scale_factor`` and ``add_offset`` attrs (a
    missing one is 1 or 0), or ``None`` without either. Each must be one finite number (a
    one-element array counts) and the scale not zero, as :func:`attr_nodata` reads a fill
    value: anything else is not a packing, and is left alone."""
    if not any(key in attrs for key in SCALE_ATTRS):
        return None
    pair = []
    for key, default in zip(SCALE_ATTRS, (1.0, 0.0), strict=True):
        value = _one_number(attrs.get(key, default))
        if value is None or not math.isfinite(value):
            return None
        pair.append(float(value))
    return None if pair[0] == 0 else (pair[0], pair[1])


def _masked_tiff(attrs) -> bool:
    """Whether ``attrs`` are those of an image with a dataset mask (open_image's): a local
    file or a URL with an internal mask (a TIFF) or a sidecar, which is read again (a URL's
    with the call's ``storage_options``)."""
    if not attrs.get("source"):
        return False
    if attrs.get("mask_page") is None and not attrs.get("mask_sidecar"):
        if not attrs.get("mask_jpeg"):
            return False
    from ._sources import is_url

    source = str(attrs["source"])
    return is_url(source) or os.path.isfile(source)


@dataclass(frozen=True)
class _AttrFacts:
    """The validity facts of a TIFF read into an array, from ``open_image``'s attrs."""

    shape: tuple
    nodata: float | None
    mask_page: int | None
    problem: str | None = None
    #: Where its ``.msk`` sidecar is (:attr:`~._tiff.TiffFacts.sidecar`).
    sidecar: str | None = None
    #: Whether it is a JPEG with the mask GDAL appends to it (:func:`~._mask.jpeg_mask`).
    jpeg: bool = False
    #: Each band's own nodata value (:attr:`~._tiff.TiffFacts.band_nodata`), or ``None``.
    band_nodata: tuple | None = None


def _attr_facts(plan, attrs) -> _AttrFacts:
    """The validity facts of ``open_image``'s TIFF array, from its ``attrs``."""
    where = attrs.get("mask_sidecar")
    return _AttrFacts(
        plan.shape,
        attr_nodata(attrs),
        attrs.get("mask_page"),
        attrs.get("nodata_problem"),
        where if isinstance(where, str) else None,
        bool(attrs.get("mask_jpeg")),
        _band_nodata(attrs, plan),
    )


def _band_nodata(attrs, plan) -> tuple | None:
    """Each band's own nodata value in an image's ``attrs`` (``band_nodata``: a list, one
    number or ``None`` per colour band, which io writes for an ``.aux.xml`` that gives the
    bands different ones), or ``None``. A list that does not fit the image's bands is no
    such thing (the bands were cut since), and is left alone."""
    from ._pam import band_nodata_of_bands

    each = band_nodata_of_bands(attrs, plan.band_names)
    if not isinstance(each, (list, tuple)) or not each:
        return None
    nbands = len(plan.band_names)
    if len(each) not in (nbands, nbands - (alpha_band(plan.band_names) is not None)):
        return None
    if not all(v is None or isinstance(v, numbers.Real) for v in each):
        return None
    return tuple(each) + (None,) * (nbands - len(each))


def _with_dataset_mask(plan, base, facts, source, storage_options) -> ReadPlan | None:
    """``plan`` with its page's dataset mask travelling beside its blocks, or ``None``."""
    from ._mask import mask_of, read_jpeg_mask, stream_mask
    from ._tiff import read_mask

    jpeg = getattr(facts, "jpeg", False)  # a TIFF's facts have no such mask
    if facts.mask_page is None and facts.sidecar is None and not jpeg:
        return None
    kind = "internal" if facts.mask_page is not None or jpeg else "sidecar"
    valid = replace(base, mask=kind, mask_channel=True)
    if jpeg:  # decoded whole with its picture, so its mask too: a bit a pixel, inflated
        mask = read_jpeg_mask(source, plan.shape[:2], storage_options)
        return None if mask is None else replace(plan, mask=mask, valid=valid)
    if plan.kind == "stream":
        mask = stream_mask(facts, plan.pixels.path)
        return replace(plan, pixels=plan.pixels.with_mask(mask), valid=valid)
    if isinstance(plan.pixels, np.ndarray):
        mask = read_mask(source, facts, storage_options)  # it fits the image, or raises
    else:
        # lazy pixels, a lazy mask: each chunk's task decodes the mask segments under it
        mask = mask_of(source, facts, storage_options)  # it fits the image, or raises
    if mask is None:
        return None
    # beside the pixels, cut beside every block: never appended to them (a copy of the image)
    return replace(plan, mask=mask, valid=valid)


def _is_masked_array(pixels) -> bool:
    """Whether ``pixels`` are a numpy masked array, or a dask array of them."""
    return is_masked_array(pixels) or is_masked_array(getattr(pixels, "_meta", None))


def _as_counted(plan: ReadPlan) -> ReadPlan:
    """A Pillow plan whose samples do not all count is counted as an array (the validity
    runs on numpy blocks); other plans as they are."""
    if plan.kind == "pillow":
        return plan.with_pixels("array", np.asarray(plan.pixels))
    return plan


def _stream_plan(path, page, pixel_limit, raw=False, nodata=None, palette="rgb"):
    """A plan over a large local TIFF streamed tile by tile, built from its header alone.

    Without dask or xarray (importing them costs more than a second, and a whole
    ``imgstats stats big.tif`` process paid it only to name the bands); ``None`` for a TIFF
    that cannot be streamed, is over the pixel limit or is small enough to be read whole,
    which :func:`imgstats.open_image` then handles (and refuses with the right error).
    """
    from . import _limits
    from ._sources import describe
    from ._tiff import TiffStream

    pixel_limit = _limits.check_pixel_limit(pixel_limit)
    stream = TiffStream.open(path, page=page, pixel_limit=pixel_limit, palette=palette)
    if stream is None:
        return None
    facts = stream.facts
    plan = _plan_of_stream(stream, describe(path))
    if facts.dtype.itemsize * math.prod(facts.shape) <= _limits.EAGER_BYTES:
        # read whole: its validity from the page's facts, as open_image's attrs give them
        attrs = {"format": "TIFF", "nodata": facts.nodata, "mask_page": facts.mask_page}
        attrs.update(scales=facts.scales, nodata_problem=facts.problem, mask_sidecar=facts.sidecar)
        if facts.band_nodata is not None:
            attrs["band_nodata"] = list(facts.band_nodata)
        return with_validity(_read_whole(plan, stream), raw, nodata, path, None, attrs)
    return with_validity(plan, raw, nodata)


def _read_whole(plan: ReadPlan, stream) -> ReadPlan:
    """``plan`` with its small TIFF's page decoded whole into numpy, as open_image would, but
    without xarray and dask: their imports cost ``imgstats stats tiny.tif`` a second or more."""
    import tifffile

    from ._guard import decoding
    from ._tiff import read_page

    with decoding(stream.path, "is not a readable TIFF"), tifffile.TiffFile(stream.path) as tif:
        values = read_page(tif.pages[stream.page], stream.facts, stream.path)
    return replace(plan, kind="array", pixels=values, transform=None)


def window_plan(
    source,
    window,
    *,
    chunks=None,
    pixel_limit: int | None = None,
    storage_options: dict | None = None,
    page: int = 0,
    raw: bool = False,
    nodata=None,
    palette: str = "rgb",
) -> ReadPlan | None:
    """A stream plan over a window of a local TIFF: it decodes only the segments it touches.

    ``window`` is checked and clipped to the page as :func:`imgstats.selection.select` does
    (the same errors). ``None`` for anything else -- not a local TIFF file, a ``chunks=``
    (dask asked for), a page that cannot be streamed or over ``pixel_limit`` --, which then
    takes :func:`imgstats.selection.select`'s route (and gets its errors).

    Raises
    ------
    InvalidOption
        A bad window, one outside the image, or a bad page.
    """
    from ._limits import check_pixel_limit
    from ._sources import describe, is_url
    from ._tiff import TiffStream, check_page

    if chunks is not None or storage_options or not isinstance(source, (str, os.PathLike)):
        return None
    if is_url(source) or not _head_and_tail(source)[0]:
        return None
    from ..regions import clip_window, parse_window

    window = parse_window(window)  # refused before anything is read
    page = check_page(page)
    pixel_limit = check_pixel_limit(pixel_limit)
    stream = TiffStream.open(source, page=page, pixel_limit=pixel_limit, palette=palette)
    if stream is None:
        return None
    height, width = stream.shape[:2]
    plan = _plan_of_stream(stream.windowed(clip_window(window, height, width)), describe(source))
    return with_validity(plan, raw, nodata)


def _plan_of_stream(stream, source) -> ReadPlan:
    """The plan of a TIFF stream: its values' facts, and its page's meaning as ``transform``."""
    facts = stream.facts
    bands = tuple(facts.bands or ())
    if len(facts.shape) == 2:
        names = (bands[0] if bands else "L",)  # as open_image names a greyscale image
    elif len(bands) == facts.shape[2]:
        names = bands
    else:
        names = tuple(str(i) for i in range(facts.shape[2]))
    return ReadPlan(
        "stream",
        stream,
        stream.shape,
        facts.dtype,
        names,
        source,
        "TIFF",
        facts.pages,
        photometric=facts.meaning.photometric,
        transform=facts.meaning.apply,
    )


def _pillow_plan(path, pixel_limit, follow=None) -> ReadPlan | None:
    """A plan over an 8-bit L, RGB or RGBA image file decoded by Pillow, else ``None``.

    The same pixels as ``numpy.asarray(Image.open(path))``, left in Pillow's memory (in one
    block where Pillow can, see :mod:`._pillow_memory`): converting a 12 MP photograph to
    numpy costs a third of decoding it. ``follow``: as :func:`open_plan` says.
    """
    from ._guard import decoding
    from ._limits import check_pixel_limit
    from ._pillow import (
        expanded_mode,
        grey_key,
        open_pillow,
        pillow_header,
        png16_bands,
        pnm_tile,
        truncation_told,
    )
    from ._pillow_memory import load_single_block
    from ._sources import describe, open_source

    pixel_limit = check_pixel_limit(pixel_limit)
    with open_source(path) as fh:
        if not fh.read(4):
            return None  # open_image says it is empty
        fh.seek(0)
        img = open_pillow(fh, path, pixel_limit)
        if img.mode not in ("L", "RGB", "RGBA") or grey_key(img) is not None:
            return None  # open_image's array carries the key as its nodata
        if expanded_mode(img) != img.mode:
            return None  # a transparent colour: open_image's array has its alpha
        if png16_bands(img) is not None or pnm_tile(img) is not None:
            return None  # 16 bits, which Pillow's memory holds as 8; a PNM numpy reads
        # Every fact that reads the file is read here, while it is open: the plan keeps the
        # decoded pixels, never the file (a PSD's or GIF's frame count seeks in it).
        header = pillow_header(img, path)
        # io's one error mapping, whatever Pillow raises while loading
        with truncation_told(img, path), decoding(path):
            followed = load_single_block(img, follow)  # one block: counted in place
    bands = tuple(img.getbands())  # once loaded: an ICNS file opens as RGBA, loads as RGB
    if img.format == "JPEG2000":  # its header's boxes say which last component is alpha
        bands = tuple(header["bands"])
    shape = (img.height, img.width) + ((len(bands),) if len(bands) > 1 else ())
    return ReadPlan(
        "pillow",
        img,
        shape,
        np.dtype(np.uint8),
        bands,
        describe(path),
        img.format or "",
        header["pages"],
        photometric=header["photometric"],
        counted=follow if followed else None,
    )


# -- running -----------------------------------------------------------------------------------
def workers() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """The threads that count numpy arrays, started once (the kernels release the GIL)."""
    return ThreadPoolExecutor(max(2, workers()), thread_name_prefix="imgstats")


def submit(fn, *args):
    """Run ``fn(*args)`` on the shared pool (e.g. Pillow's GIL-free work beside this thread)."""
    return _pool().submit(fn, *args)


def on_threads(fn, jobs) -> list:
    """``[fn(*job) for job in jobs]`` on the shared pool (the kernels release the GIL): this
    thread and one pool thread per further core take the next job as each finishes theirs,
    so that a core slowed by another process takes fewer jobs; every job in this thread when
    there is one job or one core, or when this is one of the pool's threads (which must not
    wait on the pool). The first error is raised here, once every thread has stopped."""
    import threading

    n = len(jobs)
    helpers = min(n, workers()) - 1
    if helpers < 1 or threading.current_thread().name.startswith("imgstats_"):
        return [fn(*job) for job in jobs]
    results: list = [None] * n
    errors: list = []
    turn = iter(range(n))
    lock = threading.Lock()

    def take() -> None:
        while not errors:
            with lock:  # a shared iterator: one job per taker
                i = next(turn, None)
            if i is None:
                return
            try:
                results[i] = fn(*jobs[i])
            except BaseException as exc:  # raised in the caller, below
                errors.append(exc)

    futures = [submit(take) for _ in range(helpers)]
    take()
    for f in futures:
        f.result()
    if errors:
        raise errors[0]
    return results


def _as_numpy(mask):
    return None if mask is None else np.asarray(mask)


def copy_rows(arr: np.ndarray) -> int:
    """The rows of ``arr`` in a slice of :data:`COPY_BYTES` (at least one) when its slices
    are copied to be counted (not C-contiguous, or not in native byte order); else all."""
    rows = arr.shape[0] if arr.ndim else 1
    if arr.flags.c_contiguous and arr.dtype.isnative:
        return max(1, rows)
    return max(1, min(rows, COPY_BYTES * rows // max(1, arr.nbytes)))


def row_stripes(arr: np.ndarray, copies: bool = True) -> list[tuple[int, int]]:
    """The row slices ``(start, stop)`` that an in-memory array is counted in, one at a time
    on the shared pool: one per :data:`PART_SAMPLES` samples, and at least one per core from
    :data:`PARALLEL_SAMPLES` samples; one slice for a small array. With ``copies``, an array
    whose slices are copied to be counted takes slices of :data:`COPY_BYTES` at most (the
    caller that copies smaller pieces of its slices itself passes ``False``)."""
    rows = arr.shape[0] if arr.ndim else 1
    nparts = -(-arr.size // PART_SAMPLES)
    if arr.size >= PARALLEL_SAMPLES:
        nparts = max(nparts, workers())
    if copies:  # the slices of an array that is copied: at most copy_rows() each
        nparts = max(nparts, -(-rows // copy_rows(arr)))
    nparts = max(1, min(nparts, rows))
    # integers, not numpy.linspace: a one-question select asks this on every call (40 us)
    bounds = [rows * i // nparts for i in range(nparts + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _threaded(arr: np.ndarray, work, merge, mask=None):
    """Run ``work`` on row slices of ``arr`` on every core and merge the results; with a
    ``mask`` ``(y, x)``, on ``(slice, its rows of the mask)`` pairs."""
    from .._progress import steps

    stripes = row_stripes(arr)
    ticks = steps(len(stripes))  # on the question's bar, when one is open
    if len(stripes) == 1:
        out = work(arr if mask is None else (arr, mask))
        ticks.update()
        return out
    parts = [arr[a:b] if mask is None else (arr[a:b], mask[a:b]) for a, b in stripes]
    # merged as they come: an array copied slice by slice has many, each with its tables
    merged = None
    for result in _pool().map(work, parts):
        merged = result if merged is None else merge([merged, result])
        ticks.update()
    return merged


def _dask_map_reduce(arr, work, merge, scheduler, progress: bool, mask=None):
    """``work`` on every chunk, in the task that reads it, then a tree of merges; with a
    ``mask`` ``(y, x)``, on ``(chunk, its part of the mask)`` pairs.

    ``map_blocks`` lets dask fuse the chunk's read and its work into one task, so a worker
    of a cluster reads its chunk and sends only the result (a separate task per ``work``
    would let the scheduler move whole chunks between workers).
    """
    from dask.base import tokenize

    from .._cluster import dask_compute

    if arr.ndim == 3 and arr.numblocks[-1] > 1:
        arr = arr.rechunk({2: -1})  # the work sees whole pixels
    local = not on_a_cluster(scheduler)
    if local:  # a cluster's workers read their own chunks: none travels between them
        arr = _coarser(arr)
    if mask is None:
        cells = arr.map_blocks(
            _in_a_cell,
            work,
            dtype=object,
            chunks=(1,) * arr.ndim,
            name="imgstats-" + tokenize(arr.name, work),
        )
    else:
        import dask.array as da

        m = mask if isinstance(mask, da.Array) else da.from_array(mask, chunks=arr.chunks[:2])
        m = m.rechunk(arr.chunks[:2])
        if arr.ndim == 3:
            m = m[..., None]
        cells = da.map_blocks(
            _in_a_cell_masked,
            arr,
            m,
            work,
            dtype=object,
            chunks=(1,) * arr.ndim,
            name="imgstats-" + tokenize(arr.name, m.name, work),
        )
    from .._tree import block_keys, tree_reduce

    # one graph, built in time linear in the chunks (10,000 of them: see imgstats._tree)
    dsk: dict = {}
    leaves = list(block_keys(dsk, cells).ravel())
    name = "imgstats-merge-" + tokenize(cells.name, merge)
    first = functools.partial(_merge_cells, merge=merge)
    parts = [tree_reduce(dsk, leaves, merge, name, first=first)]
    from .._progress import active, dask_callback

    if local and active():  # the question's one bar
        with dask_callback():
            return dask_compute(parts[0], scheduler=scheduler)[0]
    if progress and local:
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr):
            return dask_compute(parts[0], scheduler=scheduler)[0]
    return dask_compute(parts[0], scheduler=scheduler)[0]


#: Samples below which a chunk is read with its neighbours: its summary (a 65,536-bin
#: histogram, for 16 bits and more) and its task cost far more than its samples.
SMALL_CHUNK = 1 << 16
#: Bytes of the chunks that small ones are gathered into.
GATHERED_BYTES = 8 << 20


def _coarser(arr, pixels: int | None = None):
    """``arr`` with chunks of fewer than :data:`SMALL_CHUNK` samples gathered into chunks of
    about :data:`GATHERED_BYTES` (and about ``pixels`` at most, when given), whole chunks
    along every axis."""
    if arr.npartitions < 2 or np.isnan(arr.size) or arr.size / arr.npartitions >= SMALL_CHUNK:
        return arr  # few, large, or of unknown sizes (rechunk needs them)
    per_pixel = arr.dtype.itemsize * (arr.shape[2] if arr.ndim == 3 else 1)
    target = max(1, GATHERED_BYTES // per_pixel)  # pixels per gathered chunk
    if pixels is not None:
        target = min(target, max(1, pixels))
    # the columns as wide as the tallest chunk leaves room for, then as many rows as the
    # widest gathered column does: gathered to about a square, chunks (1, 65000) became
    # 1024 x 65000 (508 MiB) and chunks (65000, 1) 65000 x 1024
    cols = _whole(arr.chunks[1], max(1, target // max(1, *arr.chunks[0])))
    rows = _whole(arr.chunks[0], max(1, target // max(1, *cols)))  # chunks of 0 rows: 1
    return arr.rechunk({0: rows, 1: cols})


def _coarser_along(arr, first: int):
    """``arr`` with chunks of fewer than :data:`SMALL_CHUNK` samples gathered along its axes
    from ``first`` on (the others left as they are) into chunks of about
    :data:`GATHERED_BYTES`: the last axis first, as wide as the others' largest chunks leave
    room for, then each axis before it (:func:`_coarser` for an n-d array whose leading
    axes are kept whole, as a ``dim=`` task's are)."""
    if arr.npartitions < 2 or np.isnan(arr.size) or arr.size / arr.npartitions >= SMALL_CHUNK:
        return arr
    target = max(1, GATHERED_BYTES // arr.dtype.itemsize)  # samples per gathered chunk
    chunks = list(arr.chunks)
    for axis in reversed(range(first, arr.ndim)):
        others = math.prod(max(1, *c) for a, c in enumerate(chunks) if a != axis)
        chunks[axis] = _whole(chunks[axis], max(1, target // others))
    return arr.rechunk(tuple(chunks))


def _whole(chunks, size: int) -> tuple:
    """``chunks`` gathered into runs of about ``size`` (at least one chunk each)."""
    out, run = [], 0
    for c in chunks:
        if run and run + c > size:
            out.append(run)
            run = 0
        run += c
    out.append(run)
    return tuple(out)


def _in_a_cell(block, work):
    """``work(block)`` in a one-element object array: a chunk of ``map_blocks``'s output."""
    out = np.empty((1,) * block.ndim, object)
    out.flat[0] = work(block)
    return out


def _in_a_cell_masked(block, m, work):
    """``work((block, mask))`` in a one-element object array (``m`` ``(y, x[, 1])``)."""
    out = np.empty((1,) * block.ndim, object)
    out.flat[0] = work((block, m[..., 0] if m.ndim == 3 else m))
    return out


def _merge_cells(cells, merge):
    return merge([c.flat[0] for c in cells])


def is_local(scheduler) -> bool:
    """Whether pixels are counted in this process: no ``scheduler`` given, and no
    ``dask.distributed`` client set up.

    Raises
    ------
    InvalidOption
        ``scheduler`` a name dask does not know (``"thread"``): dask's ValueError would only
        come from the first dask computation, and a numpy input would ignore the typo.
    """
    if isinstance(scheduler, str):
        import dask.base

        known = {*dask.base.named_schedulers, "distributed"}
        if scheduler not in known:
            raise InvalidOption(
                f"unknown scheduler {scheduler[:64]!r}: use one of {', '.join(sorted(known))}, "
                "or a dask.distributed Client"
            )
    return scheduler is None and not has_distributed_client()


def on_a_cluster(scheduler) -> bool:
    """Whether a dask graph runs on a ``dask.distributed`` cluster: ``scheduler`` a client
    (the service's, which is not the process's default one), ``"distributed"``, or any
    ``scheduler`` while a default client is set up."""
    from .._cluster import distributed_client

    named = isinstance(scheduler, str) and scheduler == "distributed"
    return named or has_distributed_client() or distributed_client(scheduler) is not None


def has_distributed_client() -> bool:
    """Whether a ``dask.distributed`` client is the default scheduler of this process (no
    client without ``distributed`` imported; importing it costs 0.8 s, 60 MB)."""
    from .._cluster import distributed_client

    return distributed_client("distributed") is not None


# -- header facts ------------------------------------------------------------------------------
def _photometric_of(attrs) -> str:
    """The stored colour model named by ``open_image``'s attrs (a TIFF's ``photometric``, a
    Pillow image's ``mode``), as :func:`imgstats.io.read_header` names it; ``""`` for neither."""
    from ._pillow import pillow_photometric

    if attrs.get("photometric"):
        return str(attrs["photometric"])
    return pillow_photometric(str(attrs["mode"])) if attrs.get("mode") else ""
