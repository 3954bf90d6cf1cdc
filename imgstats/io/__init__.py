"""Image io: decoders (Pillow, tifffile), lazy chunked readers and sources (paths, fsspec URLs).

:func:`open_image` is the entry point: it returns an :class:`xarray.DataArray` with dims
``(y, x[, band])``, dask-backed for large TIFFs so they are never decoded whole.
"""

from __future__ import annotations

import math
import os

import dask.array as da
import numpy as np
import tifffile
import xarray as xr
from dask.base import tokenize

from ..errors import ImageNotFound, InvalidOption, UnreadableImage
from ._pillow import check_pixels, open_pillow, pillow_header, pillow_to_array
from ._sources import describe, is_url, open_source
from ._tiff import TiffArray, dask_chunks, is_tiff, tiff_errors, tiff_layout

__all__ = [
    "open_image", "read_header", "open_source", "is_url", "DEFAULT_PIXEL_LIMIT",
    "pixel_limit_default",
]

#: Default decompression-bomb guard: images declaring more pixels (width x height) are refused.
DEFAULT_PIXEL_LIMIT = 1 << 30
#: TIFFs larger than this many bytes are read lazily through dask, chunk by chunk.
EAGER_BYTES = 64 << 20
CHUNK_BYTES = 32 << 20


def pixel_limit_default() -> int:
    """The pixel limit from ``IMGSTATS_PIXEL_LIMIT``, else :data:`DEFAULT_PIXEL_LIMIT`."""
    value = os.environ.get("IMGSTATS_PIXEL_LIMIT")
    if not value:
        return DEFAULT_PIXEL_LIMIT
    try:
        return int(value)
    except ValueError:  # e.g. "1e9": our error (the CLI prints it), not a bare ValueError
        raise InvalidOption(
            f"IMGSTATS_PIXEL_LIMIT must be a whole number of pixels, not {value!r}"
        ) from None


def open_image(
    source,
    *,
    chunks=None,
    pixel_limit: int | None = None,
    storage_options: dict | None = None,
) -> xr.DataArray:
    """Open an image as an :class:`xarray.DataArray` with dims ``(y, x[, band])``.

    Parameters
    ----------
    source : str or os.PathLike
        A local path or an fsspec URL (``file://``, ``http(s)://``, ``s3://``, ``gs://``).
    chunks : None, "auto", int, tuple or dict
        ``None`` reads TIFFs over 64 MB lazily in chunks aligned to their tiles or strips and
        smaller ones at once; anything else forces a dask array with these chunks. Pillow
        formats are always decoded whole (their decoders cannot seek).
    pixel_limit : int, optional
        Refuse images declaring more pixels than this before allocating anything. Defaults to
        ``IMGSTATS_PIXEL_LIMIT`` or 2**30.
    storage_options : dict, optional
        Passed to fsspec for URLs (credentials, endpoint, timeouts).

    Returns
    -------
    xarray.DataArray
        ``attrs`` carry ``source``, ``format`` and, for Pillow images, ``mode``. A greyscale
        image (dims ``(y, x)``) carries its band's name in ``attrs["band"]``: Pillow's
        (``img.getbands()``: ``"L"``, ``"I"``, ``"F"``), or ``"L"`` for a TIFF, so that
        ``compute(path, func, band=name)`` accepts the same name as for the PIL image.

    Raises
    ------
    ImageNotFound, UnreadableImage, ImageTooLarge, StoreUnavailable

    Examples
    --------
    >>> from imgstats.data import gallery_path
    >>> img = open_image(gallery_path() / "IMG_1.jpg")
    >>> img.dims, img.shape
    (('y', 'x', 'band'), (512, 512, 3))
    """
    if pixel_limit is None:
        pixel_limit = pixel_limit_default()
    if not is_url(source) and not isinstance(source, (str, os.PathLike)):
        raise ImageNotFound(f"not a path or URL: {type(source).__name__}")
    with open_source(source, storage_options) as fh:
        head = fh.read(4)
        fh.seek(0)
        if len(head) == 0:
            raise UnreadableImage(f"{describe(source)} is empty")
        if is_tiff(head):
            return _open_tiff(fh, source, chunks, pixel_limit, storage_options)
        img = open_pillow(fh, source, pixel_limit)
        arr, bands = pillow_to_array(img, source)
        attrs = {"source": describe(source), "format": img.format or "", "mode": img.mode}
    data = da.from_array(arr, chunks=chunks) if chunks is not None else arr
    return _data_array(data, bands, attrs)


def read_header(fh, source) -> dict:
    """Read an image's header from an open binary file, without decoding any pixel.

    Returns
    -------
    dict
        ``width``, ``height``, ``bands`` (the band names :func:`open_image` gives), ``dtype``
        (numpy name) and ``format`` (``"JPEG"``, ``"PNG"``, ``"TIFF"``...).

    Raises
    ------
    UnreadableImage
        Empty, not an image, or a malformed header.
    """
    head = fh.read(4)
    fh.seek(0)
    if not head:
        raise UnreadableImage(f"{describe(source)} is empty")
    if not is_tiff(head):
        with open_pillow(fh, source, pixel_limit=None) as img:
            return pillow_header(img)
    with tiff_errors(source):
        tif = tifffile.TiffFile(fh)
    with tif:
        series, shape, dtype, axes, _ = tiff_layout(tif, source)
        with tiff_errors(source):
            rgb = series.keyframe.photometric == tifffile.PHOTOMETRIC.RGB
    count = math.prod(s for s, a in zip(shape, axes, strict=True) if a not in "YX")
    others = [a for a in axes if a not in "YX"]
    return {"width": int(shape[axes.index("X")]), "height": int(shape[axes.index("Y")]),
            "bands": list(_band_names(others, count, rgb) or ("L",)), "dtype": dtype.name,
            "format": "TIFF"}


def _open_tiff(fh, source, chunks, pixel_limit, storage_options) -> xr.DataArray:
    with tiff_errors(source):
        tif = tifffile.TiffFile(fh)
    with tif:
        series, shape, dtype, axes, chunk = tiff_layout(tif, source)
        # Before anything is allocated: a forged header may declare any size.
        check_pixels(shape[axes.index("X")], shape[axes.index("Y")], pixel_limit, source)
        nbytes = math.prod(shape) * dtype.itemsize
        attrs = {"source": describe(source), "format": "TIFF", "axes": axes}
        with tiff_errors(source):
            rgb = series.keyframe.photometric == tifffile.PHOTOMETRIC.RGB
        if chunks is None and nbytes <= EAGER_BYTES:
            with tiff_errors(source, "is corrupt"):
                data = series.asarray()
        else:
            lazy = TiffArray(source, storage_options, shape, dtype)
            if chunks is None or chunks == "auto":
                chunks = dask_chunks(shape, chunk, dtype.itemsize, CHUNK_BYTES)
            name = "tiff-" + tokenize(describe(source), shape, dtype.str, chunks)
            data = da.from_array(
                # fancy=True (the default): dask fuses a later slice into this getter only
                # then (its optimize_slices refuses getter_nofancy), so a window reads just
                # the tiles it touches. Our slices are basic; zarr also takes lists.
                lazy, chunks=chunks, name=name, asarray=False,
                meta=np.empty((0,) * len(shape), dtype),
            )
    data, bands = _to_yx_band(data, axes, rgb)
    return _data_array(data, bands, attrs)


def _to_yx_band(data, axes: str, rgb: bool = False):
    """Move Y and X first and fold every other axis (samples, channels, pages) into ``band``.

    The bands are named R, G, B[, A] when the only other axis holds the 3 or 4 samples of an
    RGB image, interleaved (``YXS``) or planar (``SYX``, or ``CYX`` from tifffile metadata).
    """
    order = [axes.index("Y"), axes.index("X")] + [
        i for i, a in enumerate(axes) if a not in "YX"
    ]
    if order != list(range(len(axes))):
        data = data.transpose(order)
    if data.ndim > 3:
        data = data.reshape(data.shape[0], data.shape[1], -1)
    others = [a for a in axes if a not in "YX"]
    return data, _band_names(others, data.shape[2] if data.ndim == 3 else 1, rgb)


def _band_names(others: list[str], count: int, rgb: bool):
    """R, G, B[, A] for the 3 or 4 samples of an RGB TIFF; ``None`` (numbered) otherwise."""
    if rgb and others in (["S"], ["C"]) and count in (3, 4):
        return ("R", "G", "B", "A")[:count]
    if not others:
        return None
    return tuple(str(i) for i in range(count))


def _data_array(data, bands, attrs) -> xr.DataArray:
    if data.ndim == 2:
        attrs = {**attrs, "band": bands[0] if bands else "L"}
        return xr.DataArray(data, dims=("y", "x"), attrs=attrs)
    if bands is None:
        bands = tuple(str(i) for i in range(data.shape[2]))
    return xr.DataArray(
        data, dims=("y", "x", "band"), coords={"band": list(bands)}, attrs=attrs,
    )
