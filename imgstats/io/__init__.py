"""Image io: decoders (Pillow, tifffile), lazy chunked readers and sources (paths, fsspec URLs).

:func:`open_image` is the entry point: it returns an :class:`xarray.DataArray` with dims
``(y, x[, band])``, dask-backed for large TIFFs so they are never decoded whole.
:func:`open_plan` gives the :class:`ReadPlan` the statistics work from (how the pixels
arrive, and the header facts). :func:`read_header` gives the header facts and
:func:`open_preview_plan` a plan over a reduced image for thumbnails (:func:`read_preview`
its pixels), with the same facts, the same meaning, the same bomb check and the same error
mapping (:func:`imgstats.io._guard.decoding`).

dask, xarray, fsspec and zarr are imported by the functions that need them, not here. The
limits (``EAGER_BYTES``, ``CHUNK_BYTES``, the pixel limit's default) live in
:mod:`imgstats.io._limits`, which the readers consult at call time.
"""

from __future__ import annotations

import contextlib
import logging
import os
from functools import partial

import numpy as np

from .._lazy import lazy_module
from ..errors import InvalidOption
from ..summary import alpha_band
from ._beside import looked, one_look
from ._guard import GuardedFile, check_pixels, decoding, telling_changes
from ._limits import DEFAULT_PIXEL_LIMIT, check_pixel_limit, pixel_limit_default
from ._mask import appended_mask, has_jpeg_mask
from ._meaning import Meaning, tiff_meaning
from ._open import _is_tiff, open_image
from ._pam import pillow_pam
from ._pillow import grey_key, open_pillow, pillow_header, pillow_preview
from ._plan import ReadPlan, open_plan, with_validity
from ._sources import describe, is_url, open_source
from ._tiff import TiffFacts, TiffStream, check_page, check_sidecar, tiff_facts, tiff_preview

tifffile = lazy_module("tifffile")  # 0.1-0.5 s: TIFFs only

__all__ = [
    "open_image",
    "open_plan",
    "ReadPlan",
    "read_header",
    "read_preview",
    "open_preview_plan",
    "open_source",
    "is_url",
    "DEFAULT_PIXEL_LIMIT",
    "pixel_limit_default",
    "decoding",
    "check_pixels",
    "check_page",
    "Meaning",
    "tiff_meaning",
    "TiffFacts",
    "tiff_facts",
    "TiffStream",
]

# tifffile logs a file's oddities (a GDAL_NODATA tag it cannot parse, a wrong strip count) as
# warnings; Python's last-resort handler would print them on every CLI call. What matters is
# raised as our errors or read from the tags; an application that wants the notes configures
# logging, and then gets them.
logging.getLogger("tifffile").addHandler(logging.NullHandler())


def read_header(fh, source, *, page: int = 0, storage_options: dict | None = None) -> dict:
    """Read an image's header facts from an open binary file, without decoding any pixel.

    The facts come from where the plans' come from: the file is opened the way
    :func:`open_preview_plan` opens it, and the facts are those of
    :func:`~imgstats.io._tiff.tiff_facts` (which :func:`open_image` and the TIFF stream use too)
    or :func:`~imgstats.io._pillow.pillow_header`, so the service's info, the previews and the
    statistics agree on every fact.

    Returns
    -------
    dict
        ``width``, ``height``, ``bands`` (the band names :func:`open_image` gives), ``dtype``
        (numpy name of the values), ``format`` (``"JPEG"``, ``"PNG"``, ``"TIFF"``...),
        ``photometric`` (the stored colour model, as TIFF names it: ``"minisblack"``,
        ``"miniswhite"``, ``"rgb"``, ``"palette"``, ``"separated"``...), ``pages`` (pages
        of a TIFF, frames of an animated image), which pixels count -- ``nodata`` (the
        value the statistics apply: an ``.aux.xml`` beside ``source``'s, else the
        GDAL_NODATA tag's or a PNG's transparent grey, ``None`` without; ``"nan"``/``"inf"``
        as text), ``mask``
        (``"internal"``, ``"sidecar"``, ``"nodata"``, ``"alpha"`` or ``None``, GDAL's
        order) and ``nodata_problem`` (why the statistics refuse the image: an ``.aux.xml``
        gives its bands different nodata values; ``None`` when they do not) --, ``scales``
        (each band's ``[scale, offset]`` from GDAL_METADATA or an ``.aux.xml``, what
        ``scaled=True`` applies; ``None`` without), and where it lies -- ``crs``
        (``"EPSG:32633"``), ``transform`` (rasterio's ``a, b, c, d, e, f``) and ``bounds``
        (``left, bottom, right, top``), each ``None`` without georeferencing. GDAL's
        sidecars beside ``source`` (a path, or a URL read with ``storage_options``) count:
        its ``.msk`` and its ``.aux.xml``.

    Raises
    ------
    UnreadableImage
        Empty, not an image, or a malformed header.
    InvalidOption
        No page ``page``.
    StoreUnavailable, StoreTimeout
        The store of a URL's sidecar failed.
    """
    page = check_page(page)
    # no bomb check: the facts of an image too large to decode are still worth telling
    with one_look(), _opened(fh, source, None, page, storage_options) as (header, _):
        return header


def open_preview_plan(
    source,
    max_side: int,
    *,
    pixel_limit: int | None = None,
    page: int = 0,
    storage_options: dict | None = None,
) -> ReadPlan:
    """Open an image at reduced size, for thumbnails and previews, as a :class:`ReadPlan`.

    The plan is of kind ``"array"`` over the reduced numpy pixels, with the header facts of
    the full image's plan: band names, dtype, format, pages and photometric meaning (its
    ``shape`` is the reduced one). The values mean what :func:`open_image`'s do (palette
    colours, MINISWHITE inverted...) and the bomb check and error mapping are the same;
    only the size differs: JPEGs decode at 1/2, 1/4 or 1/8 scale, TIFFs are read from their
    smallest fitting pyramid level, every n-th row and column, other images are box-reduced
    by Pillow. The longer side is between ``max_side`` and about ``4 * max_side`` (or the
    image's own size when smaller): the caller resamples to its final size.

    Parameters
    ----------
    source : str, os.PathLike or binary file
        A path, an fsspec URL, or a file already opened for binary reading.
    max_side : int
        At least 1.
    pixel_limit : int, optional
        As for :func:`open_image`.
    page : int
        As for :func:`open_image`.
    storage_options : dict, optional
        For URLs.

    Returns
    -------
    ReadPlan

    Raises
    ------
    ImageNotFound, UnreadableImage, ImageTooLarge, StoreUnavailable
    InvalidOption
        ``max_side`` is not a whole number >= 1, or ``page`` is invalid.

    Examples
    --------
    >>> from imgstats.data import gallery_path
    >>> plan = open_preview_plan(gallery_path() / "IMG_1.jpg", 64)
    >>> plan.kind, plan.shape, plan.band_names, plan.format
    ('array', (64, 64, 3), ('R', 'G', 'B'), 'JPEG')
    """
    page = check_page(page)
    if isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) or max_side < 1:
        raise InvalidOption(f"max_side must be a whole number >= 1, not {max_side!r}")
    pixel_limit = check_pixel_limit(pixel_limit)
    if hasattr(source, "read"):
        plan, header = _preview_plan(source, None, int(max_side), pixel_limit, page)
    else:
        with one_look(), open_source(source, storage_options) as fh:
            plan, header = _preview_plan(
                fh, source, int(max_side), pixel_limit, page, storage_options
            )
    # the statistics of a preview leave out what the image's do: its nodata value (a
    # GDAL_NODATA tag, a grey PNG's transparent grey), else its alpha 0 pixels; a dataset
    # mask, which GDAL takes before the nodata value, is not read at reduced size
    nodata = header.get("nodata") if header.get("mask") == "nodata" else None
    if isinstance(nodata, str):  # JSON's spelling of a non-finite value: "nan", "-inf"
        nodata = float(nodata)
    return with_validity(plan, nodata=nodata)


def read_preview(
    source,
    max_side: int,
    *,
    pixel_limit: int | None = None,
    page: int = 0,
    storage_options: dict | None = None,
):
    """Decode an image at reduced size, for thumbnails and previews.

    The values mean what :func:`open_image`'s do (palette colours, MINISWHITE inverted...);
    only the size differs: JPEGs decode at 1/2, 1/4 or 1/8 scale, TIFFs are read from their
    smallest fitting pyramid level, every n-th row and column. The longer side is between
    ``max_side`` and about ``4 * max_side`` (or the image's own size when smaller): the caller
    resamples to its final size. The pixels and band names of :func:`open_preview_plan`.

    Parameters
    ----------
    source : str, os.PathLike or binary file
        A path, an fsspec URL, or a file already opened for binary reading.
    max_side : int
    pixel_limit : int, optional
        As for :func:`open_image`.
    page : int
        As for :func:`open_image`.
    storage_options : dict, optional
        For URLs.

    Returns
    -------
    tuple
        ``(array, bands)``: a numpy array ``(y, x[, band])`` and the band names.

    Raises
    ------
    ImageNotFound, UnreadableImage, ImageTooLarge, StoreUnavailable, InvalidOption
    """
    plan = open_preview_plan(
        source, max_side, pixel_limit=pixel_limit, page=page, storage_options=storage_options
    )
    return plan.array(), plan.band_names


def _preview_plan(
    raw, source, max_side, pixel_limit, page, storage_options=None
) -> tuple[ReadPlan, dict]:
    """``(plan, header)``: the preview plan of a file opened for binary reading (``source``
    ``None``: unnamed), and the image's header facts."""
    name = "the image" if source is None else source
    with (
        telling_changes(raw, name),
        _opened(raw, name, pixel_limit, page, storage_options) as (header, reduced),
    ):
        arr, bands = reduced(max_side)
    shape = tuple(int(s) for s in arr.shape)
    if len(shape) == 2:
        names = (bands[0] if bands else "L",)  # as open_image names a greyscale image
    elif bands is not None and len(bands) == shape[2]:
        names = tuple(bands)
    else:
        names = tuple(str(i) for i in range(shape[2]))
    plan = ReadPlan(
        "array",
        arr,
        shape,
        np.dtype(arr.dtype),
        names,
        None if source is None else describe(source),
        header["format"],
        header["pages"],
        photometric=header["photometric"],
    )
    return plan, header


@contextlib.contextmanager
def _opened(raw, source, pixel_limit, page, storage_options=None):
    """Open a binary file once, with the decoder its first bytes call for.

    The bomb check (``pixel_limit``, ``None`` for none) and the page check run here, on the
    declared size, before any pixel is decoded. Yields ``(header, reduced)``: the header facts
    as :func:`read_header` gives them, and ``reduced(max_side) -> (array, bands)``, the
    image's values at reduced size, decoded from the same open file. ``storage_options``
    reach the sidecars of a URL ``source``.
    """
    fh = GuardedFile(raw, source)
    local = isinstance(source, (str, os.PathLike)) and not is_url(source)
    tiff = _is_tiff(fh, source)
    if local:  # what open_plan asks of the file, answered while it is open (see _beside)
        looked(("head-tail", os.fspath(source)), lambda: (tiff, not tiff and has_jpeg_mask(fh)))
    if tiff:
        with decoding(source, "is not a readable TIFF"):
            tif = tifffile.TiffFile(fh)
        with tif:
            tpage, facts = tiff_facts(
                tif, source, page, pixel_limit, storage_options=storage_options
            )
            header = {**facts.header(), **_validity_header(facts, facts.bands, source)}
            yield header, partial(tiff_preview, tif, tpage, facts, source)
        return
    with open_pillow(fh, source, pixel_limit, page) as img:
        header = pillow_header(img, source)
        bands, dtype = header["bands"], header["dtype"]
        nodata, problem, scales, each = pillow_pam(img.mode, source, bands, dtype, storage_options)
        if grey_key(img) is not None:  # a PNG's own grey comes before an .aux.xml's
            nodata, problem, each = grey_key(img), None, None
        shape = (img.height, img.width)
        jpeg = not page and img.format == "JPEG" and appended_mask(fh, source)  # before .msk
        where = check_sidecar(source, shape, pixel_limit, storage_options) if not page else None
        where = "internal" if jpeg else where
        header.update(_validity_header(None, header["bands"], source, nodata, problem, where, each))
        scales = None if scales is None else [list(pair) for pair in scales]
        header.update({"crs": None, "transform": None, "bounds": None, "scales": scales})
        yield header, partial(pillow_preview, img, source)


def _validity_header(
    facts, bands, source, nodata=None, problem=None, sidecar=None, each=None
) -> dict:
    """``nodata``, ``mask`` (what says which pixels count, in GDAL's order: ``"internal"``
    or ``"sidecar"`` mask, ``"nodata"``, ``"alpha"``, or ``None``) and ``nodata_problem`` of
    an image's header, and ``band_nodata`` when each band has its own; a TIFF's nodata,
    problem, mask and each band's nodata are in its ``facts``, a Pillow image's are
    ``nodata``, ``problem``, ``sidecar`` (where its ``.msk`` is, or ``None``; ``"internal"``
    for a JPEG with the mask GDAL appends to it) and ``each``.

    When the bands have different nodata values, each applies to its band: ``mask`` is
    ``"nodata"``, ``nodata`` ``None`` and ``band_nodata`` lists them. ``nodata_problem`` is
    why the statistics refuse the image, ``None`` when they do not: a colour band without a
    nodata value beside ones with and an alpha band (GDAL masks it by the alpha band); a
    mask, which GDAL takes before any nodata value, leaves it ``None``.
    """
    extra = {}
    if facts is not None:
        nodata, problem, each = facts.nodata, facts.problem, facts.band_nodata
    if sidecar == "internal" or (facts is not None and facts.mask_page is not None):
        kind, problem = "internal", None
    elif sidecar is not None or (facts is not None and facts.sidecar is not None):
        kind, problem = "sidecar", None
    elif problem is not None and each is not None:
        from ._pam import band_nodata_refused

        problem = band_nodata_refused(problem, each, bands)
        kind = None if problem is not None else "nodata"
        if problem is None:
            extra["band_nodata"] = [_header_number(v) for v in each]
    elif problem is not None:
        kind = None
    elif nodata is not None:
        kind = "nodata"
    elif alpha_band(bands) is not None:
        kind = "alpha"
    else:
        kind = None
    return {"nodata": _header_number(nodata), "mask": kind, "nodata_problem": problem, **extra}


def _header_number(nodata):
    """A nodata value as the header writes it: a whole number as an int, NaN and the
    infinities as text (JSON has none of them), ``None`` as it is."""
    if nodata is not None and not np.isfinite(nodata):
        return str(nodata)  # "nan", "inf", "-inf"
    if nodata is not None and float(nodata).is_integer():
        return int(nodata)
    return nodata
