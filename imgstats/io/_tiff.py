"""TIFF and BigTIFF through tifffile: one page's facts, its lazy chunks, its streamed tiles.

Every path reads one page (the first unless ``page=`` says otherwise) and turns its stored
samples into the image's values with the page's :class:`~imgstats.io._meaning.Meaning`:
:func:`read_page` (eager), :class:`TiffArray` (lazy chunks through tifffile's zarr store) and
:func:`tiff_preview` (strided, for thumbnails) apply it themselves; :class:`TiffStream` (the
tiles or strips of a page or of a window of it, decoded on every core: the fast path of
:func:`imgstats.compute` on a local file) hands stored samples to its read plan, whose
``transform`` is the meaning.
"""

from __future__ import annotations

import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np

from .._lazy import lazy_module
from ..errors import ImageTooLarge, ImgStatsError, InvalidOption, UnreadableImage
from ._guard import GuardedFile, WorkFailed, check_pixels, decoding
from ._meaning import Meaning, tiff_meaning, value_dtype
from ._sources import MASK, describe, open_source, read_sidecar

tifffile = lazy_module("tifffile")  # its import costs more than a small JPEG's decode

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

#: Kept for callers of the former name: the one error mapping is :func:`decoding`.
tiff_errors = decoding
_WorkFailed = WorkFailed


def is_tiff(head: bytes) -> bool:
    """Return True when the first four bytes are a TIFF or BigTIFF signature."""
    return head[:4] in TIFF_MAGIC


def check_page(page) -> int:
    """Validate a ``page`` option: a whole number >= 0 (``None`` means 0).

    Raises
    ------
    InvalidOption
        Not an int, or negative.
    """
    if page is None:
        return 0
    if isinstance(page, bool) or not isinstance(page, (int, np.integer)) or page < 0:
        raise InvalidOption(f"page must be a whole number >= 0, not {page!r}")
    return int(page)


@dataclass(frozen=True)
class TiffFacts:
    """Header facts of one TIFF page, read from its tags (no pixel decoded).

    Attributes
    ----------
    page : int
        Index of the page in the file's main chain of IFDs (0 is the first).
    pages : int
        Number of pages in that chain.
    axes : str
        tifffile's axes of the stored page (``"YX"``, ``"YXS"``, ``"SYX"``...).
    shape : tuple of int
        Shape of the image's values: ``(y, x)`` or ``(y, x, band)``.
    tile : tuple of int
        ``(rows, columns)`` of one stored tile or strip.
    meaning : Meaning
        How stored samples become values (:func:`~imgstats.io._meaning.tiff_meaning`).
    """

    page: int
    pages: int
    axes: str
    shape: tuple[int, ...]
    tile: tuple[int, int]
    meaning: Meaning
    #: The GDAL_NODATA tag's number, ``None`` without one.
    nodata: float | None = None
    #: Index of the page's internal mask page (GDAL's per-dataset mask), ``None`` without one.
    mask_page: int | None = None
    #: The page's georeferencing (:func:`imgstats.io._geo.georeference`), ``None`` without.
    geo: object = None
    #: Each band's ``(scale, offset)`` (GDAL_METADATA), ``None`` without.
    scales: tuple | None = None
    #: Why no one nodata value applies (its bands differ), ``None`` when one does.
    problem: str | None = None
    #: The stored sample of a missing tile or strip (a sparse file's): the GDAL_NODATA tag's
    #: number cast as GDAL casts it (:func:`~imgstats.io._valid.filled_nodata`), else 0.
    fill: object = 0
    #: Where the page's ``.msk`` sidecar is (a path, or a URL beside a remote file), found
    #: once with the facts; ``None`` without one, or with an internal mask (which comes first).
    sidecar: str | None = None
    #: Each band's own nodata value (``None``: none), as its values hold it, when the
    #: bands have different ones (``problem``); ``None`` otherwise.
    band_nodata: tuple | None = None

    @property
    def dtype(self) -> np.dtype:
        return self.meaning.dtype

    @property
    def bands(self) -> tuple[str, ...]:
        return self.meaning.bands

    def header(self) -> dict:
        """The facts as :func:`imgstats.io.read_header` returns them."""
        from ._geo import geo_facts

        return {
            "width": self.shape[1],
            "height": self.shape[0],
            "bands": list(self.bands),
            "dtype": self.dtype.name,
            "format": "TIFF",
            "photometric": self.meaning.photometric,
            "pages": self.pages,
            "scales": None if self.scales is None else [list(pair) for pair in self.scales],
            **geo_facts(self.geo),
        }


def tiff_facts(
    tif,
    source,
    page: int = 0,
    pixel_limit: int | None = None,
    palette="rgb",
    storage_options: dict | None = None,
):
    """Return ``(tiff_page, facts)`` of page ``page`` of an open ``tifffile.TiffFile``.

    The bomb check runs here, on the page's declared size, before anything is allocated.
    GDAL's sidecars beside ``source`` (a path or URL; ``storage_options`` for the URL's
    store) are read here too: its ``.aux.xml`` once, the place of its ``.msk`` kept in the
    facts.

    Raises
    ------
    InvalidOption
        The file has no page ``page``.
    UnreadableImage
        Malformed tags, or an empty page.
    ImageTooLarge
        The page declares more than ``pixel_limit`` pixels.
    """
    page = check_page(page)
    with decoding(source, "is not a readable TIFF"):
        count = len(tif.pages)
        if count == 0:
            raise UnreadableImage(f"{describe(source)} holds no image (no page)")
        if page >= count:
            raise InvalidOption(
                f"page {page} does not exist: {describe(source)} has {count} page(s)"
            )
        from ._geo import subfile_type

        tpage = tif.pages[page]
        if page and subfile_type(tpage) & 4:
            # GDAL's internal mask (NewSubfileType 4; 5 for a mask's overview): which pixels
            # of another page count, not an image: its statistics would be of 0 and 255
            images = [i for i in range(count) if not subfile_type(tif.pages[i]) & 4]
            named = ", ".join(str(i) for i in images[:8]) + (", ..." if len(images) > 8 else "")
            raise InvalidOption(
                f"page {page} of {describe(source)} is a mask of another page, not an image "
                f"(its pixels are left out of that page's statistics): its images (and "
                f"overviews) are pages {named}"
            )
        if not hasattr(tpage, "axes") or tpage.dtype is None:
            raise UnreadableImage(f"{describe(source)}: page {page} has no decodable samples")
        axes, stored = tpage.axes, tuple(int(s) for s in tpage.shape)
        if "Y" not in axes or "X" not in axes:
            raise UnreadableImage(f"{describe(source)} has no image axes (axes {axes!r})")
        height, width = stored[axes.index("Y")], stored[axes.index("X")]
        rows = tpage.tilelength if tpage.is_tiled else min(tpage.rowsperstrip, height)
        cols = tpage.tilewidth if tpage.is_tiled else width
        if 0 in stored or not rows or not cols:
            raise UnreadableImage(
                f"{describe(source)} declares an empty image or tile "
                f"(shape {stored}, tile {(rows, cols)})"
            )
        check_pixels(width, height, pixel_limit, source)
        _check_tile(tpage, rows, cols, pixel_limit, source)
        meaning = tiff_meaning(tpage, palette)
        others = math.prod(s for s, a in zip(stored, axes, strict=True) if a not in "YX")
        if int(tpage.imagedepth) > 1 or others != int(tpage.samplesperpixel):
            # volumes (ImageDepth): every slice and sample is a numbered band, as stored
            names = tuple(str(i) for i in range(others))
            meaning = Meaning(
                meaning.photometric,
                meaning.bits,
                names,
                value_dtype(tpage.dtype),
            )
        if meaning.dtype.kind not in "uif":  # refused here, so that every route refuses it
            raise UnreadableImage(
                f"unsupported pixel type {stored_type(tpage)} in {describe(source)}: complex "
                "samples have no order and are not supported (imgstats reads integer and real "
                "float images); read the image (rasterio, tifffile) and pass numpy.abs of its "
                "array, or its .real or .imag, instead"
            )
        nbands = len(meaning.bands)
        shape = (height, width) + ((nbands,) if nbands > 1 else ())
        pam = _pam_of(tif, tpage, page, source, storage_options)
        nodata, problem, mask_page, geo, each = _gdal_facts(tif, tpage, page, source, meaning, pam)
        mask_sidecar = None
        if mask_page is not None:  # decoded tile by tile beside the image
            _check_mask(tif.pages[mask_page], (height, width), pixel_limit, source)
        else:
            mask_sidecar = check_sidecar(source, (height, width), pixel_limit, storage_options)
        from ._valid import filled_nodata, stored_nodata

        fill = filled_nodata(nodata, tpage.dtype)
        # GDAL's tag names a stored sample, truncated to an integer type's as GDAL casts it
        index = stored_nodata(nodata, tpage.dtype)
        expanded = meaning.with_transparent_index(index)
        if expanded is not meaning:  # a palette's nodata index: its pixels, by an alpha band
            meaning, nodata = expanded, None
            nbands = len(meaning.bands)
            shape = (height, width, nbands)
        else:
            nodata = meaning.value_of_stored(index)
        if each is not None:  # each band's own, as its values hold it
            each = tuple(meaning.value_of_stored(stored_nodata(v, tpage.dtype)) for v in each)
        scales = None
        if meaning.photometric != "palette":  # a palette's colours have no scale
            from ._meaning import gdal_scales

            tag = tpage.tags.get(42112)  # GDAL_METADATA
            scales = None if tag is None else gdal_scales(tag.value, nbands)
            scales = _pam_scales(tpage, scales, nbands, pam)
    tile = (int(rows), int(cols))
    return tpage, TiffFacts(
        page,
        count,
        axes,
        shape,
        tile,
        meaning,
        nodata,
        mask_page,
        geo,
        scales,
        problem,
        fill,
        mask_sidecar,
        each,
    )


#: Pixels a tile may hold whatever its image's size (a 2048 x 2048 tile): beyond, a tile may
#: hold at most four times its image's pixels.
TILE_SLACK = 1 << 22


#: TIFF's SampleFormat of complex samples: its words for them, and GDAL's type names.
_COMPLEX = {5: ("complex int", "CInt"), 6: ("complex float", "CFloat")}


def stored_type(tpage) -> str:
    """The type of ``tpage``'s samples as the file declares it: ``"complex int16 (GDAL's
    CInt16)"`` for SampleFormat 5 of 32 bits, where tifffile's dtype says complex64."""
    words = _COMPLEX.get(int(tpage.sampleformat))
    if words is None:
        return str(tpage.dtype)
    half = int(tpage.bitspersample) // 2  # a complex sample is two numbers of half its bits
    return f"{words[0]}{half} (GDAL's {words[1]}{half})"


def _check_tile(tpage, rows: int, cols: int, pixel_limit: int | None, source) -> None:
    """Refuse a tile that holds more pixels than its image can use: each tile is decoded
    whole, whatever the image's size, so a 10 x 10 image of one 65520 x 65520 tile of
    compressed zeros (a 4 MB file) asked for 4 GB, and the service's decode budget, which
    counts the image's declared pixels, would let several such reads run at once.

    A tile may hold up to :data:`TILE_SLACK` pixels, or four times its image's pixels
    (tiles overhang the image's edges: GDAL's 256 x 256 or 512 x 512 blocks on a small
    image), and never more than ``pixel_limit``.

    Raises
    ------
    ImageTooLarge
        For a tiled page whose tiles hold more (``pixel_limit`` ``None``: no limit of its own).
    """
    if not tpage.is_tiled:
        return
    tile = int(rows) * int(cols)
    image = int(tpage.imagewidth) * int(tpage.imagelength)
    if pixel_limit is not None and tile > pixel_limit:
        raise ImageTooLarge(
            f"{describe(source)} declares tiles of {cols}x{rows} = {tile:,} "
            f"pixels, each decoded whole, over the limit of {pixel_limit:,}"
        )
    if tile > max(4 * image, TILE_SLACK):
        raise ImageTooLarge(
            f"{describe(source)} declares tiles of {cols}x{rows} = {tile:,} pixels for an "
            f"image of {image:,}: each tile is decoded whole (a decompression bomb)"
        )


def _check_mask(mpage, shape, pixel_limit: int | None, source) -> None:
    """Hold a mask page to the image's bomb rules: its tiles to :func:`_check_tile` (they are
    decoded tile by tile beside the image's), and its samples to four times the image's
    pixels (a mask of many planes is decoded whole)."""
    if mpage.is_tiled:
        _check_tile(mpage, mpage.tilelength, mpage.tilewidth, pixel_limit, source)
    samples = math.prod(int(s) for s in mpage.shape)
    if samples > 4 * shape[0] * shape[1]:
        raise ImageTooLarge(
            f"{describe(source)} has a mask of {samples:,} samples for an image of "
            f"{shape[0] * shape[1]:,} pixels (a decompression bomb)"
        )


def check_sidecar(source, shape, pixel_limit: int | None, storage_options=None) -> str | None:
    """Where ``source``'s ``.msk`` sidecar is (``None`` without one), after
    :func:`_check_mask` of its first page, which must also be the image's size (checked
    before any of it is decoded). A ``.msk`` whose GDAL_METADATA holds no
    ``INTERNAL_MASK_FLAGS_1`` (what GDAL writes beside a mask it makes) is none: GDAL reads
    no mask from it."""
    from ._meaning import gdal_mask_flags

    found = _tiff_sidecar(source, storage_options)
    if found is None:
        return None
    with mask_file(found, storage_options, _SIDECAR_FAULT) as tif:
        if not len(tif.pages) or not hasattr(tif.pages[0], "axes"):
            raise UnreadableImage(f"{describe(found)} holds no mask (no page)")
        mpage = tif.pages[0]
        tag = mpage.tags.get(42112)  # GDAL_METADATA
        if tag is None or gdal_mask_flags(tag.value) is None:
            return None  # GDAL reads a .msk only with its mask flags (what it writes there)
        height, width = _yx(mpage) if "Y" in mpage.axes and "X" in mpage.axes else (0, 0)
        if (height, width) != tuple(shape):
            raise UnreadableImage(
                f"{describe(source)}: its mask is {(width, height)} pixels, "
                f"the image {(shape[1], shape[0])}"
            )
        _check_mask(mpage, shape, pixel_limit, found)
    return found


#: The first bytes of a TIFF (classic and BigTIFF, in either byte order).
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _tiff_sidecar(source, storage_options=None) -> str | None:
    """Where ``source``'s ``.msk`` sidecar is when it is a TIFF, else ``None``.

    GDAL opens a ``.msk`` as a dataset and has no mask when it is none: an empty file, or
    the HTML page a web server answers with 200 for a path it does not have. Its first bytes
    are read in the one request that looks for it.
    """
    found = read_sidecar(source, MASK, len(_TIFF_MAGIC[0]) - 1, storage_options)
    if found is None or not found[1].startswith(_TIFF_MAGIC):
        return None
    return found[0]


#: What a mask's decoding failure says of the file that holds it.
_PAGE_FAULT, _SIDECAR_FAULT = "has a corrupt mask", "is not a readable mask"


def mask_place(path, facts: TiffFacts) -> tuple[str, int, str] | None:
    """``(where, page, fault)``: the file holding a TIFF page's dataset mask (``path`` for
    an internal mask page, else its ``.msk`` sidecar, ``facts.sidecar``), the mask's page
    in it, and what a decoding failure says of that file; ``None`` without a mask."""
    if facts.mask_page is not None:
        return path, facts.mask_page, _PAGE_FAULT
    if facts.sidecar is None:
        return None
    return facts.sidecar, 0, _SIDECAR_FAULT


@contextmanager
def mask_file(where, storage_options, fault: str):
    """The file ``where`` that holds a mask (a path or URL, :func:`mask_place`) open as a
    ``tifffile.TiffFile``, its failures mapped (``fault``: a corrupt mask, or a store's
    error while it is read)."""
    import tifffile

    with (
        open_source(where, storage_options) as fh,
        decoding(where, fault),
        tifffile.TiffFile(GuardedFile(fh, where)) as tif,
    ):
        yield tif


def _pam_of(tif, tpage, page: int, source, storage_options) -> dict:
    """The bands of the ``.aux.xml`` beside ``source`` (:func:`~._pam.pam_bands`) when
    ``page`` is the first image or one of its overviews (GDAL's PAM is the dataset's),
    else ``{}``."""
    from ._geo import base_page, subfile_type
    from ._pam import pam_bands

    base = base_page(tif, page) if subfile_type(tpage) & 1 else page
    return pam_bands(source, storage_options) if base == 0 else {}


def _gdal_facts(tif, tpage, page: int, source, meaning: Meaning, pam: dict):
    """``(nodata, problem, mask page, georeference, each)`` of a page, from GDAL's tags (no
    pixel read); ``problem`` says why no one nodata value applies, ``None`` when one does,
    and ``each`` is then each band's own (:func:`~._pam.pam_nodata`).

    A reduced-resolution page (NewSubfileType 1: a COG's overview) is read as GDAL reads its
    overview: with the mask of its own size (NewSubfileType 5) among its image's masks, and
    its image's nodata value and georeferencing (scaled) when it carries none of its own.
    The first image's bands take their nodata value from the bands of the ``.aux.xml``
    beside it, ``pam`` (:func:`_pam_of`), when it gives one (:func:`_pam_nodata`).
    """
    from ._geo import base_page, page_georeference, subfile_type
    from ._pam import nodata_number

    reduced = subfile_type(tpage) & 1
    base = base_page(tif, page) if reduced else page
    tag = tpage.tags.get(42113)  # GDAL_NODATA, ASCII
    if tag is None and base != page:
        tag = tif.pages[base].tags.get(42113)
    nodata = None if tag is None else nodata_number(_raw_ascii(tif, tag), tpage.dtype)
    problem = each = None
    if base == 0:
        nodata, problem, each = _pam_nodata(pam, source, tpage, meaning, nodata)
    mask_page = None
    height, width = _yx(tpage)
    for index in range(base + 1, len(tif.pages)):
        candidate = tif.pages[index]
        kind = subfile_type(candidate)
        if kind & 4 and (kind & 1) == reduced and _yx(candidate) == (height, width):
            mask_page = index  # FILETYPE_MASK of the page's resolution: GDAL's internal mask
            break
        if not kind & 5:
            break  # the next image: masks follow their image (and its overviews)
    return nodata, problem, mask_page, page_georeference(tif, page, source), each


def _pam_nodata(pam: dict, source, tpage, meaning: Meaning, nodata):
    """``(nodata, problem, each)`` of a page's bands (its alpha band's too) once the bands
    of an ``.aux.xml`` beside it, ``pam``, are read (:func:`~._pam.pam_nodata`)."""
    from ._pam import pam_nodata

    return pam_nodata(pam, source, int(tpage.samplesperpixel), tpage.dtype, nodata)


def _pam_scales(tpage, scales, nbands: int, pam: dict):
    """Each band's ``(scale, offset)`` once the bands of an ``.aux.xml`` beside the first
    image, ``pam`` (:func:`_pam_of`), are read (:func:`~._pam.pam_scales`), for a page whose
    bands are its samples; ``scales`` as it is otherwise."""
    from ._pam import pam_scales

    if nbands != int(tpage.samplesperpixel):
        return scales
    return pam_scales(pam, nbands, scales)


def _raw_ascii(tif, tag, limit: int = 4096):
    """An ASCII tag's bytes as stored (tifffile strips its blanks, which GDAL reads: it takes
    ``"inf "`` for no infinity); its first ``limit`` bytes at most."""
    fh = tif.filehandle
    where = fh.tell()
    try:
        fh.seek(tag.valueoffset)
        return fh.read(min(int(tag.count), limit))
    except (OSError, ValueError):
        return tag.value
    finally:
        fh.seek(where)


def to_samples(block: np.ndarray, axes: str) -> np.ndarray:
    """A block in a page's stored ``axes`` as ``(y, x, samples)``."""
    order = [axes.index("Y"), axes.index("X")] + [i for i, a in enumerate(axes) if a not in "YX"]
    if order != list(range(len(axes))):
        block = block.transpose(order)
    return block.reshape(block.shape[0], block.shape[1], -1)


@contextmanager
def truncation_told(tpage, source):
    """Within this block, a decoder's failure on the TIFF page ``tpage`` whose strips or
    tiles reach past the end of its file says "is truncated", as a PNG's or JPEG 2000's
    does (tifffile said "failed to read 8388608 bytes, got 4194048", or "corrupted strip
    cannot be reshaped", which imgstats called corrupt). Errors of imgstats' own work pass."""
    try:
        yield
    except Exception as exc:
        ours = isinstance(exc, (WorkFailed, ImgStatsError)) and type(exc) is not UnreadableImage
        told = None if ours else _cut_short(tpage, source)
        if told is None:
            raise
        raise told from exc


def _cut_short(tpage, source) -> UnreadableImage | None:
    """The error of a TIFF page whose strips or tiles end past the end of its file, else
    ``None``."""
    try:
        size = tpage.parent.filehandle.size
        pairs = zip(tpage.dataoffsets, tpage.databytecounts, strict=False)  # a corrupt file's
        ends = [offset + count for offset, count in pairs if offset and count]  # may differ
    except (AttributeError, TypeError, ValueError, OSError):
        return None
    if not ends or max(ends) <= size:
        return None
    return UnreadableImage(
        f"{describe(source)} is truncated: its TIFF data ends early, after {size} bytes "
        f"(its strips or tiles reach byte {max(ends)})"
    )


def read_page(tpage, facts: TiffFacts, source) -> np.ndarray:
    """Decode a whole page and return its values ``(y, x[, band])``."""
    with decoding(source, "is corrupt"), truncation_told(tpage, source):
        tpage.keyframe.nodata = facts.fill  # a missing tile's samples, as GDAL reads them
        samples = with_lerc_nan(tpage).asarray()
        return facts.meaning.apply(to_samples(samples, facts.axes))


class TiffArray:
    """An array-like over one TIFF page's values that reads only the requested region.

    Indexed in the image's ``(y, x[, band])`` space; each read decodes the stored tiles under
    the region and applies the page's meaning. It holds the source's address, not an open
    file, so it pickles to dask.distributed workers, which then read their chunks from the
    store themselves.
    """

    def __init__(self, source, storage_options, facts: TiffFacts):
        self.source = source
        self.storage_options = storage_options
        self.facts = facts
        self.shape = facts.shape
        self.dtype = facts.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        import tifffile
        import zarr  # only the lazy path needs it

        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        ky, kx = key[0], key[1]
        stored = tuple(ky if a == "Y" else kx if a == "X" else slice(None) for a in self.facts.axes)
        with (
            open_source(self.source, self.storage_options) as fh,
            decoding(self.source, "is corrupt"),
            tifffile.TiffFile(GuardedFile(fh, self.source)) as tif,
        ):
            # a missing tile's samples as GDAL reads them, not tifffile's reading of the tag
            page = with_lerc_nan(tif.pages[self.facts.page])
            with truncation_told(page, self.source):
                store = page.aszarr(fillvalue=self.facts.fill)
                block = np.asarray(zarr.open(store, mode="r")[stored])
            return self._finish(to_samples(block, self.facts.axes), key)

    def _finish(self, samples: np.ndarray, key) -> np.ndarray:
        """The requested values of a ``(y, x, samples)`` block of stored samples."""
        values = self.facts.meaning.apply(samples)
        return values[..., key[2]] if self.ndim == 3 else values


class StoredTiffArray(TiffArray):
    """A :class:`TiffArray` of the page's stored samples ``(y, x, samples)``, meaning not
    applied: what a :class:`TiffStream` hands to its work."""

    def __init__(self, source, storage_options, facts: TiffFacts, samples: int, dtype):
        super().__init__(source, storage_options, facts)
        self.shape = (*facts.shape[:2], int(samples))
        self.dtype = np.dtype(dtype)
        self.ndim = 3

    def _finish(self, samples: np.ndarray, key) -> np.ndarray:
        return samples[..., key[2]]


def dask_chunks(shape, tile, itemsize: int, target_bytes: int) -> tuple[int, ...]:
    """Chunks of a ``(y, x[, band])`` image: multiples of the stored ``(rows, columns)`` tile
    holding about ``target_bytes`` each, with every band in one chunk."""
    rows, cols = min(tile[0], shape[0]), min(tile[1], shape[1])
    bands = shape[2] if len(shape) == 3 else 1
    per = itemsize * rows * cols * bands
    factor = max(1, int(math.sqrt(target_bytes / max(per, 1))))
    if cols < shape[1]:
        out = [min(shape[0], rows * factor), min(shape[1], cols * factor)]
    else:  # strips span the width: grow the rows only
        out = [min(shape[0], rows * factor * factor), shape[1]]
    return tuple(out + list(shape[2:]))


class TiffStream:
    """The tiles or strips of one page of a local TIFF, decoded on every core.

    Only pages whose samples are interleaved (or single) are streamed; use :meth:`open` to get
    ``None`` for anything else, which then goes through dask. A stream may cover a window of
    the page (:meth:`windowed`): it then decodes only the tiles or strips that the window
    touches.

    The blocks it hands to the work are the page's *stored* samples ``(y, x, samples)``; the
    page's meaning (``facts.meaning.apply``) turns them into the image's values, and the read
    plan applies it (its ``transform``), so that meaning is applied to blocks in one place.

    Attributes
    ----------
    path : str
    page : int
    window : tuple of int or None
        ``(x0, y0, x1, y1)``, half-open and inside the page, or ``None`` for the whole page.
    shape : tuple of int
        ``(y, x[, band])`` of the values (after the page's meaning) of the window or page.
    dtype : numpy.dtype
        Of the values.
    """

    #: Compressed bytes read from the file per batch of segments: this bounds the memory held.
    BUFFER_BYTES = 4 << 20

    def __init__(
        self,
        path,
        facts: TiffFacts,
        window: tuple[int, int, int, int] | None = None,
        mask=None,
    ):
        self.path = os.fspath(path)
        self.facts = facts
        self.page = facts.page
        #: ``None``, ``("page", index)`` (a mask page tiled as the image: its tiles are decoded
        #: beside the image's) or ``("array", bool array (y, x))``; with one, every block gets
        #: the mask beside its samples: ``(samples, (y, x) bool mask)``, True valid.
        self.mask = mask
        self.window = None if window is None else tuple(int(v) for v in window)
        if self.window is None:
            self.shape = facts.shape
        else:
            x0, y0, x1, y1 = self.window
            height, width = facts.shape[:2]
            if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
                raise InvalidOption(
                    f"window {self.window} is not inside the page ({width} x {height} pixels)"
                )
            self.shape = (y1 - y0, x1 - x0) + tuple(facts.shape[2:])
        self.dtype = facts.dtype

    @classmethod
    def open(
        cls, path, page: int = 0, pixel_limit: int | None = None, palette: str = "rgb"
    ) -> TiffStream | None:
        """Return a stream over page ``page`` of the TIFF at ``path``, or ``None`` when it
        cannot be streamed (open_image then reports what is wrong, or reads it through dask):
        a page over ``pixel_limit`` pixels gives ``None`` too, so open_image refuses it."""
        import tifffile

        try:
            with tifffile.TiffFile(os.fspath(path)) as tif:
                tpage, facts = tiff_facts(tif, path, page, pixel_limit, palette)
                if (
                    tpage.imagedepth != 1
                    or (tpage.samplesperpixel > 1 and tpage.planarconfig != 1)
                    or getattr(tpage, "subsampling", None) not in (None, (1, 1))
                ):
                    return None
                return cls(path, facts)
        except Exception:  # any malformed file or bad page: open_image says what is wrong
            return None

    @property
    def palette(self) -> str:
        """How the stream reads a palette page: ``"index"`` (no colour table) or ``"rgb"``."""
        meaning = self.facts.meaning
        return "index" if meaning.photometric == "palette" and meaning.lut is None else "rgb"

    def windowed(self, window: tuple[int, int, int, int]) -> TiffStream:
        """The same page, cut to ``window`` ``(x0, y0, x1, y1)`` (half-open, inside the page)."""
        return TiffStream(self.path, self.facts, window, self.mask)

    def with_mask(self, mask) -> TiffStream:
        """The same stream, its blocks carrying ``mask`` (see :attr:`mask`) beside them."""
        return TiffStream(self.path, self.facts, self.window, mask)

    def stored_array(self):
        """The stored samples ``(y, x, samples)`` under the window, as a lazy dask array."""
        import dask.array as da
        import tifffile

        from . import _limits

        with decoding(self.path, "is corrupt"), tifffile.TiffFile(self.path) as tif:
            tpage = tif.pages[self.page]
            dtype = tpage.dtype
            samples = math.prod(
                int(n) for n, a in zip(tpage.shape, tpage.axes, strict=True) if a not in "YX"
            )
        raw = StoredTiffArray(self.path, None, self.facts, samples, dtype)
        chunks = dask_chunks(raw.shape, self.facts.tile, raw.dtype.itemsize, _limits.CHUNK_BYTES)
        arr = da.from_array(raw, chunks=chunks, asarray=False, meta=np.empty((0, 0, 0), dtype))
        if self.window is None:
            return arr
        x0, y0, x1, y1 = self.window
        return arr[y0:y1, x0:x1]

    def segment_indices(self) -> list[int]:
        """Indices (in the page's offsets) of the tiles or strips under the window or page.

        Tile ``(row r, column c)`` is segment ``r * columns + c`` (row-major, as TIFF stores
        them); strip ``r`` covers rows ``r * rowsperstrip`` onward, across the whole width.
        """
        height, width = self.facts.shape[:2]
        rows, cols = self.facts.tile  # a strip's "tile" spans the width: one column
        x0, y0, x1, y1 = self.window or (0, 0, width, height)
        across = -(-width // cols)
        return [
            r * across + c
            for r in range(y0 // rows, (y1 - 1) // rows + 1)
            for c in range(x0 // cols, (x1 - 1) // cols + 1)
        ]

    def map_reduce(self, work, merge, workers: int, progress: bool = False):
        """Return ``merge([...])`` of ``work(block)`` over the tiles or strips under the window.

        ``work`` runs in ``workers`` decoding threads on ``(y, x, samples)`` blocks of stored
        samples, each cropped to the window (or the page); a missing segment (no offset, or a
        byte count of 0: a sparse file's empty tile) reads as its page's nodata value, else 0,
        as tifffile and GDAL read it. Only the segments that the window touches are read and
        decoded. Results are merged as they arrive, so memory stays at a few segments and one
        batch of compressed bytes. ``progress`` shows a bar of the segments done on stderr.
        """
        import tifffile

        height, width = self.facts.shape[:2]
        x0, y0, x1, y1 = self.window or (0, 0, width, height)
        indices = self.segment_indices()
        out = None
        try:
            with decoding(self.path, "is corrupt"), tifffile.TiffFile(self.path) as tif:
                page = with_lerc_nan(tif.pages[self.page])
                stored_dtype = page.dtype
                fill = self.facts.fill  # GDAL's reading of GDAL_NODATA, cast as GDAL casts it
                decode = _segment_decoder(page)
                mask_kind, mask = self.mask or (None, None)
                if mask_kind == "page":
                    mask_page = tif.pages[mask]
                    mask_decode = _segment_decoder(mask_page)

                def one(item):
                    segment, mask_segment = item
                    data, index, shape = decode(segment)
                    y, x = index[2], index[3]
                    top, left = max(y, y0), max(x, x0)
                    bottom, right = min(y + shape[1], y1), min(x + shape[2], x1)
                    if data is None:
                        box = (bottom - top, right - left, shape[3])
                        samples = np.full(box, fill, stored_dtype)
                    else:
                        block = data.reshape(data.shape[-3:])
                        samples = block[top - y : bottom - y, left - x : right - x]
                    if mask_kind is not None:
                        valid = _mask_block(
                            mask_kind,
                            mask,
                            mask_decode if mask_kind == "page" else None,
                            mask_segment,
                            (top, left, bottom, right),
                            (y, x),
                        )
                        # beside the tile, not appended to it: no copy of the samples
                        samples = (samples, valid)
                    try:
                        return work(samples)
                    except BaseException as exc:  # ours, not the file's: re-raised as is below
                        raise WorkFailed(exc) from exc

                with (
                    truncation_told(page, self.path),
                    _progress_bar(progress, len(indices), self.path) as bar,
                    _decoding_threads(workers) as pool_map,
                ):
                    for batch in _read_batches(tif.filehandle, page, indices, self.BUFFER_BYTES):
                        if mask_kind == "page":
                            # the mask's tiles of this batch, read beside the image's (1 bit a
                            # pixel, compressed: a few percent of the image's bytes)
                            wanted = [index for _, index in batch]
                            found = {
                                index: (data, index)
                                for part in _read_batches(
                                    tif.filehandle, mask_page, wanted, 1 << 62
                                )
                                for data, index in part
                            }
                            items = [(seg, found[seg[1]]) for seg in batch]
                        else:
                            items = [(seg, None) for seg in batch]
                        for part in pool_map(one, items):
                            try:
                                out = part if out is None else merge([out, part])
                            except BaseException as exc:
                                raise WorkFailed(exc) from exc
                            bar.update()
        except WorkFailed as exc:
            raise exc.error from None
        return out


def _mask_block(kind, mask, decode, segment, box, origin) -> np.ndarray:
    """The ``(y, x)`` bool validity of one cropped block: from the mask page's tile of the
    same index (``decode``), or cut from a whole mask array."""
    top, left, bottom, right = box
    if kind == "array":
        return np.asarray(mask[top:bottom, left:right], bool)
    y, x = origin
    data, _, _ = decode(segment)
    if data is None:  # a missing mask tile: GDAL reads it as 0, masked
        return np.zeros((bottom - top, right - left), bool)
    tile = data.reshape(data.shape[-3:])[..., 0][top - y : bottom - y, left - x : right - x]
    return tile if tile.dtype == np.bool_ else tile != 0  # GDAL's 1-bit masks decode to bool


def read_mask(path, facts: TiffFacts, storage_options=None) -> np.ndarray | None:
    """The page's dataset mask as a ``(y, x)`` bool array (True: valid): its internal mask
    page, else its ``.msk`` sidecar (``facts.sidecar``, a path or URL); ``None`` without
    either.

    Raises
    ------
    UnreadableImage
        A mask that cannot be decoded or does not fit the image.
    """
    height, width = facts.shape[:2]
    place = mask_place(path, facts)
    if place is None:
        return None
    where, index, fault = place
    with mask_file(where, storage_options, fault) as tif:
        mask = np.asarray(tif.pages[index].asarray())
    if mask.ndim == 3:
        mask = mask[..., 0] if mask.shape[-1] <= 4 else mask[0]
    if mask.shape != (height, width):
        raise UnreadableImage(
            f"{describe(path)}: its mask is {mask.shape[::-1]} pixels, the image {(width, height)}"
        )
    return mask != 0


#: TIFF's LERC compression, which GDAL writes for float rasters (ESRI's, COGs).
_LERC = 34887


def with_lerc_nan(page):
    """``page``, its LERC tiles' invalid pixels NaN when its samples are floats.

    LERC keeps a float raster's NaN out of its values, in a mask of valid pixels, which
    GDAL (libtiff's LERC codec) makes NaN again; tifffile gives those pixels 0, which would
    count as data, and reads a pixel-interleaved tile that GDAL stored band by band (its
    bands' NaN in different places) as interleaved. A tile with no 0 has no invalid pixel,
    so only tiles with 0s are decoded a second time, with their mask. The decoder is
    installed on the page's keyframe (:func:`_install_decoder`), so every read of it --
    whole, in zarr chunks, segment by segment -- gets it.
    """
    keyframe = page.keyframe
    dtype = keyframe.dtype
    if keyframe.compression != _LERC or dtype is None or np.dtype(dtype).kind != "f":
        return page
    decode = keyframe.decode
    if getattr(decode, "lerc_nan", False):
        return page

    def decode_with_nan(data, index, **kwargs):
        segment, position, shape = decode(data, index, **kwargs)
        if data is None or segment is None or np.all(segment):
            return segment, position, shape
        import imagecodecs

        values, valid = imagecodecs.lerc_decode(data, masks=True)
        if valid is None:
            return segment, position, shape
        samples = segment.shape[-1]
        if samples > 1 and values.ndim == 3 and values.shape[0] == samples == valid.shape[0]:
            # a pixel-interleaved tile whose bands have masks of their own is stored band by
            # band (tifffile would read its bytes as interleaved samples)
            values, valid = np.moveaxis(values, 0, -1), np.moveaxis(valid, 0, -1)
        if valid.ndim < values.ndim:
            valid = valid[..., None]  # one mask for every sample of a pixel
        if values.size != segment.size:
            raise ValueError("a LERC tile holds other samples than its page")  # UnreadableImage
        values = np.where(valid, values, np.nan).astype(segment.dtype, copy=False)
        return values.reshape(segment.shape), position, shape

    decode_with_nan.lerc_nan = True
    _install_decoder(keyframe, decode_with_nan)
    return page


def _install_decoder(keyframe, decode) -> None:
    """Make ``decode`` the segment decoder of ``keyframe``, and of the other page objects of
    its open file with the same layout (tifffile's ``hash``): the one place where imgstats
    reaches into tifffile.

    tifffile has no public way to decode one file's segments another way: its codecs
    (``TIFF.DECOMPRESSORS``) are one table for the whole process, which the caller's own
    tifffile reads would see too. So two things are set, on this open file only:

    * ``TiffPage.decode``, a ``functools.cached_property``, whose cache is the instance's
      ``__dict__`` (Python's documented mechanism, not tifffile's internals);
    * tifffile's private cache of decoders by layout (``TiffFile._decoders``, a dict keyed
      by ``TiffPage.hash`` in tifffile 2026.3), where another page object of the same layout
      (a frame, a page loaded again) looks first. Written only when it is a dict: without
      it, this page object still decodes with ``decode``.
    """
    vars(keyframe)["decode"] = decode
    decoders = getattr(getattr(keyframe.parent, "root", None), "_decoders", None)
    if isinstance(decoders, dict):
        decoders[keyframe.hash] = decode


def _segment_decoder(page):
    """``(data, index) -> (segment, position, shape)``: tifffile's decoder of ``page``, with
    the arguments that ``TiffPage.segments`` gives it (JPEG tables, full-size tiles)."""
    keyframe = page.keyframe
    decode = keyframe.decode
    kwargs = {"_fullsize": keyframe.is_tiled}
    if keyframe.compression in {6, 7, 34892, 33007}:  # JPEG
        kwargs["jpegtables"] = page.jpegtables
        kwargs["jpegheader"] = keyframe.jpegheader
    return lambda segment: decode(*segment, **kwargs)


def _read_batches(fh, page, indices: list[int], buffersize: int):
    """Lists of ``(compressed bytes or None, index)`` of the segments ``indices`` of ``page``,
    read about ``buffersize`` bytes at a time (tifffile's ``FileHandle.read_segments``)."""
    offsets, counts = page.dataoffsets, page.databytecounts
    have = min(len(offsets), len(counts))
    if not have:
        raise ValueError("the page has no segment offsets or byte counts")  # -> UnreadableImage
    # a corrupt file may lack some offsets: those segments read as missing (zeros), as
    # tifffile reads them
    seg_offsets = [offsets[i] if i < have else 0 for i in indices]
    seg_counts = [counts[i] if i < have else 0 for i in indices]
    yield from fh.read_segments(
        seg_offsets,
        seg_counts,
        indices=indices,
        length=len(indices),
        lock=fh.lock,
        sort=False,
        buffersize=buffersize,
        flat=False,
    )


@contextmanager
def _decoding_threads(workers: int):
    """A ``map(fn, items)`` that runs on ``workers`` threads (in this thread when 1)."""
    if workers < 2:
        yield map
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="imgstats-tiff") as pool:
        yield pool.map


def _progress_bar(show: bool, total: int, path):
    """The question's bar (see :mod:`imgstats._progress`) when one is open, else a tqdm bar
    of ``total`` segments on stderr, or one that draws nothing."""
    from .._progress import active, steps

    if active():
        return nullcontext(steps(total))
    from tqdm import tqdm

    return tqdm(
        total=total, desc=os.path.basename(path), unit="segment", file=sys.stderr, disable=not show
    )


def tiff_preview(tif, tpage, facts: TiffFacts, source, max_side: int):
    """Every n-th row and column of page ``tpage`` of an open ``tifffile.TiffFile`` (from its
    smallest pyramid level that still has ``max_side`` pixels), as values; returns
    ``(array, bands)``. ``tpage`` and ``facts`` come from :func:`tiff_facts`, which did the bomb
    check."""
    import zarr

    with decoding(source, "cannot be previewed"):
        level = tpage
        for candidate in _levels(tif, tpage)[1:]:
            if (
                candidate.axes == tpage.axes
                and _same_kind(candidate, tpage)
                and min(_yx(candidate)) >= max_side
            ):
                level = candidate
        height, width = _yx(level)
        step = max(1, max(height, width) // (2 * max_side))
        key = tuple(slice(None, None, step) if a in "YX" else slice(None) for a in level.axes)
        block = np.asarray(zarr.open(with_lerc_nan(level).aszarr(), mode="r")[key])
        values = facts.meaning.apply(to_samples(block, level.axes))
    return values, facts.bands


def _levels(tif, tpage) -> list:
    """The first pages of the pyramid levels whose base is ``tpage`` (just ``[tpage]`` when
    it is no pyramid's base)."""
    try:
        series = tif.series[0]
        if series.keyframe.offset != tpage.offset or len(series.levels) < 2:
            return [tpage]
        return [tpage] + [level.keyframe for level in series.levels[1:]]
    except Exception:  # a series tifffile cannot make sense of: the page itself is enough
        return [tpage]


def _yx(page) -> tuple[int, int]:
    return int(page.shape[page.axes.index("Y")]), int(page.shape[page.axes.index("X")])


def _same_kind(level, page) -> bool:
    return (level.photometric, level.bitspersample, level.samplesperpixel) == (
        page.photometric,
        page.bitspersample,
        page.samplesperpixel,
    )
