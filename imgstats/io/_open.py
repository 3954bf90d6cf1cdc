"""Opening an image as an :class:`xarray.DataArray`: :func:`open_image` (re-exported by
:mod:`imgstats.io`), and the TIFF and Pillow readers behind it.

Its own module, beside the package face, so that the read plans (:mod:`._plan`) open an
image without importing :mod:`imgstats.io`, which imports them.
"""

from __future__ import annotations

import os

from .._lazy import lazy_module
from ..errors import ImageNotFound, InvalidOption, UnreadableImage
from . import _limits
from ._guard import GuardedFile, decoding
from ._mask import appended_mask
from ._pillow import grey_key, open_pillow, pillow_header, pillow_to_array
from ._sources import describe, is_url, open_source
from ._tiff import (
    TiffArray,
    check_page,
    check_sidecar,
    dask_chunks,
    is_tiff,
    read_page,
    tiff_facts,
)

# Imported on first use: xarray (with pandas) and dask cost seconds, a JPEG needs neither.
xr = lazy_module("xarray")

__all__ = ["open_image"]


def open_image(
    source,
    *,
    chunks=None,
    pixel_limit: int | None = None,
    storage_options: dict | None = None,
    page: int = 0,
    raw: bool = False,
    nodata=None,
    palette: str = "rgb",
) -> xr.DataArray:
    """Open an image as an :class:`xarray.DataArray` with dims ``(y, x[, band])``.

    The values are what the file's tags say the image is (README, "What an image means"):
    palettes become colours, bilevel images 0/255, MINISWHITE images are inverted so that
    black is the minimum; other samples keep their stored values and type.

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
    page : int
        The page of a multi-page TIFF, or the frame of an animated image: 0 (the first) by
        default. Other pages are never read.
    raw : bool
        Recorded in ``attrs["raw"]``: statistics of this array then count every sample.
    nodata : number, optional
        Recorded as ``attrs["nodata"]`` in place of the file's.
    palette : {"rgb", "index"}
        A palette image's colours (``R``, ``G``, ``B``[, ``A``], the default) or its class
        indices as stored (one band ``P``[, ``A``], as GDAL reads a paletted TIFF);
        ``"index"`` refuses an image without a palette with ``InvalidOption``.

    Returns
    -------
    xarray.DataArray
        Every sample as stored (after the file's meaning): which count is for the
        statistics to say ("Which pixels count" in the docs). ``attrs`` carry ``source``,
        ``format``, ``page``, ``pages`` and, for Pillow images, ``mode``; TIFFs carry
        ``photometric`` and, when the file has them, ``nodata`` (GDAL_NODATA),
        ``mask_page`` (an internal mask), ``crs``, ``transform`` and ``bounds``; a JPEG with
        the mask GDAL appends to it, ``mask_jpeg``; an image with a ``.msk`` beside it,
        ``mask_sidecar`` (where it is). A greyscale
        image (dims ``(y, x)``) carries its band's name in ``attrs["band"]``: Pillow's
        (``img.getbands()``: ``"L"``, ``"I"``, ``"F"``), or ``"L"`` for a TIFF, so that
        ``compute(path, func, band=name)`` accepts
        the same name as for the PIL image.

    Raises
    ------
    ImageNotFound, UnreadableImage, ImageTooLarge, StoreUnavailable
    InvalidOption
        ``page`` is not a whole number >= 0, or the image has no such page.

    Examples
    --------
    >>> from imgstats.data import gallery_path
    >>> img = open_image(gallery_path() / "IMG_1.jpg")
    >>> img.dims, img.shape
    (('y', 'x', 'band'), (512, 512, 3))
    """
    page = check_page(page)
    from ._meaning import check_palette

    palette = check_palette(palette)
    pixel_limit = _limits.check_pixel_limit(pixel_limit)
    if not is_url(source) and not isinstance(source, (str, os.PathLike)):
        raise ImageNotFound(f"not a path or URL: {type(source).__name__}")
    with open_source(source, storage_options) as opened:
        fh = GuardedFile(opened, source)
        if _is_tiff(fh, source):
            out = _open_tiff(fh, source, chunks, pixel_limit, storage_options, page, palette)
            return _with_options(out, raw, nodata, palette)
        img = open_pillow(fh, source, pixel_limit, page)
        key = grey_key(img) if palette == "rgb" else None  # before decoding: it needs the tile
        arr, bands = pillow_to_array(img, source, palette)
        attrs = {
            "source": describe(source),
            "format": img.format or "",
            "mode": img.mode,
            "page": page,
            "pages": pillow_header(img, source)["pages"],  # frames: as read_header counts them
        }
        # indices (palette="index") are the stored samples: the nodata applies to them
        mode = "L" if palette == "index" else img.mode
        file_validity(attrs, img, fh, source, mode, bands, arr.dtype, pixel_limit, storage_options)
        if key is not None:  # a PNG's own transparent grey comes before an .aux.xml's
            attrs["nodata"] = key  # where an image's nodata travels (see with_validity)
            attrs.pop("nodata_problem", None)
            attrs.pop("band_nodata", None)
    if chunks is not None:
        import dask.array as da

        arr = da.from_array(arr, chunks=checked_chunks(chunks, arr.shape, arr.dtype))
    return _with_options(_data_array(arr, bands, attrs), raw, nodata, palette)


def file_validity(
    attrs: dict, img, fh, source, mode, bands, dtype, pixel_limit=None, storage_options=None
) -> None:
    """Record in ``attrs`` what GDAL reads beside or after the picture of ``img``, an image
    Pillow opened from ``fh`` (``source``): its ``.aux.xml``'s nodata and scales
    (:func:`_with_pam`), and for the first frame its dataset mask, the mask GDAL appends to a
    JPEG (``mask_jpeg``) before a ``.msk`` beside it (``mask_sidecar``)."""
    _with_pam(attrs, source, mode, bands, dtype, storage_options)
    if img.mode in ("P", "PA"):
        attrs.pop("scales", None)  # a palette has no scale, its indices neither
    if img.tell() != 0:
        return
    if img.format == "JPEG" and appended_mask(fh, source):
        attrs["mask_jpeg"] = 1  # GDAL's mask after the picture, before any .msk
        return
    where = check_sidecar(source, (img.height, img.width), pixel_limit, storage_options)
    if where is not None:  # a .msk beside a PNG or JPEG is its dataset mask, as in GDAL
        attrs["mask_sidecar"] = where


def _with_pam(attrs: dict, source, mode: str, bands, dtype, storage_options) -> None:
    """Record in ``attrs`` the nodata value and the scales of an ``.aux.xml`` beside an image
    decoded by Pillow (:func:`~._pam.pillow_pam`), or why no nodata value applies."""
    from ._pam import pillow_pam

    nodata, problem, scales, each = pillow_pam(mode, source, bands, dtype, storage_options)
    if nodata is not None:
        attrs["nodata"] = nodata
    if problem is not None:
        attrs["nodata_problem"] = problem
        attrs["band_nodata"] = list(each)  # each band's own, which GDAL applies
    if scales is not None:  # each band's (scale, offset), as GDAL's metadata
        attrs["scales"] = [list(pair) for pair in scales]


def checked_chunks(chunks, shape, dtype) -> tuple:
    """``chunks`` as dask reads them for an image of ``shape``.

    Raises
    ------
    InvalidOption
        Chunks dask cannot use for it (a size per axis for other axes, a 0, a fraction, a
        word), which reached dask as a ValueError or ZeroDivisionError traceback.
    """
    from dask.array.core import normalize_chunks

    try:
        if isinstance(chunks, bool):  # an int to dask: chunks of one pixel
            raise ValueError("chunks is a bool")
        return normalize_chunks(chunks, shape, dtype=dtype)
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        raise InvalidOption(
            f"invalid chunks {str(chunks)[:64]} for an image of shape {tuple(shape)}: use "
            "'auto', a size like 512, bytes like '64MiB', one size per axis (y, x[, band]) "
            f"or sizes by axis like {{0: 512, 1: 512}} ({str(exc).splitlines()[0]})"
        ) from None


def _with_options(img, raw: bool, nodata, palette: str = "rgb"):
    """Record ``raw`` and ``nodata`` in an image's attrs, where its statistics find them."""
    if raw and nodata is not None:
        raise InvalidOption("raw=True counts every sample: it takes no nodata")
    if raw:
        img.attrs["raw"] = True
    if palette == "index":
        img.attrs["palette"] = "index"
    if nodata is not None:
        from ._valid import check_nodata

        img.attrs["nodata"] = check_nodata(nodata, img.dtype)
        img.attrs.pop("mask_page", None)  # nodata= takes the place of the file's mask
        img.attrs.pop("mask_sidecar", None)
        img.attrs.pop("mask_jpeg", None)
        img.attrs.pop("nodata_problem", None)
        img.attrs.pop("band_nodata", None)
        img.attrs.pop("band_nodata_bands", None)
    return img


def _is_tiff(fh, source) -> bool:
    """Whether ``fh`` holds a TIFF; refuses an empty file."""
    head = fh.read(4)
    fh.seek(0)
    if not head:
        raise UnreadableImage(f"{describe(source)} is empty")
    return is_tiff(head)


def _open_tiff(
    fh, source, chunks, pixel_limit, storage_options, page, palette="rgb"
) -> xr.DataArray:
    import tifffile

    with decoding(source, "is not a readable TIFF"), tifffile.TiffFile(fh) as tif:
        # the bomb check runs in tiff_facts, before anything is allocated
        tpage, facts = tiff_facts(tif, source, page, pixel_limit, palette, storage_options)
        attrs = {
            "source": describe(source),
            "format": "TIFF",
            "axes": facts.axes,
            "page": facts.page,
            "pages": facts.pages,
            "photometric": facts.meaning.photometric,
        }
        if facts.nodata is not None:
            attrs["nodata"] = facts.nodata
        if facts.problem is not None:
            attrs["nodata_problem"] = facts.problem
            attrs["band_nodata"] = list(facts.band_nodata)  # applied band by band
        if facts.mask_page is not None:
            attrs["mask_page"] = facts.mask_page
        elif facts.sidecar is not None:
            attrs["mask_sidecar"] = facts.sidecar  # a .msk beside it: GDAL's dataset mask
        if facts.scales is not None:  # each band's (scale, offset), as GDAL's metadata
            attrs["scales"] = [list(pair) for pair in facts.scales]
        if facts.geo is not None:
            from ._geo import geo_facts

            attrs.update(geo_facts(facts.geo))
        nbytes = facts.dtype.itemsize
        for size in facts.shape:
            nbytes *= size
        if chunks is None and nbytes <= _limits.EAGER_BYTES:
            return _data_array(read_page(tpage, facts, source), facts.bands, attrs)
    import dask.array as da
    import numpy as np
    from dask.base import tokenize

    lazy = TiffArray(source, storage_options, facts)
    if chunks is None or chunks == "auto":
        chunks = dask_chunks(facts.shape, facts.tile, facts.dtype.itemsize, _limits.CHUNK_BYTES)
    chunks = checked_chunks(chunks, facts.shape, facts.dtype)
    name = "tiff-" + tokenize(describe(source), facts, chunks)
    data = da.from_array(
        # fancy=True (the default): dask fuses a later slice into this getter only then (its
        # optimize_slices refuses getter_nofancy), so a window reads just the tiles it
        # touches. Our slices are basic; zarr also takes lists.
        lazy,
        chunks=chunks,
        name=name,
        asarray=False,
        meta=np.empty((0,) * len(facts.shape), facts.dtype),
    )
    return _data_array(data, facts.bands, attrs)


def _data_array(data, bands, attrs) -> xr.DataArray:
    import xarray as xr

    if data.ndim == 2:
        attrs = {**attrs, "band": bands[0] if bands else "L"}
        out = xr.DataArray(data, dims=("y", "x"), attrs=attrs)
    else:
        if bands is None or len(bands) != data.shape[2]:
            bands = tuple(str(i) for i in range(data.shape[2]))
        if "band_nodata" in attrs:  # whose each value is, for a selection of the bands
            attrs = {**attrs, "band_nodata_bands": [str(b) for b in bands]}
        out = xr.DataArray(data, dims=("y", "x", "band"), coords={"band": list(bands)}, attrs=attrs)
    out.name = None  # not the key of its dask array ("tiff-..."), which xarray takes for a name
    return out
