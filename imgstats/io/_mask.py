"""A TIFF page's dataset mask, read lazily: only the tiles or strips under a block.

A dataset mask (an internal mask page, or page 0 of a ``.msk`` sidecar) may be tiled unlike
its image, and a region of a large image (a polygon's box, a window) must never hold the mask
of its whole box. :class:`MaskArray` is a ``(y, x)`` bool array-like over such a page: each
``mask[y0:y1, x0:x1]`` decodes the mask segments under those rows and columns and nothing
else, so a reader of one block (a dask chunk, a stream's tile, a region's pick task) holds
the mask of that block only. Decoded segments are kept in a small cache bounded by bytes, so
that the tiles of a row of the image, read one after another, decode a mask strip spanning
them once.

It holds the file's address, not an open file, so it pickles to dask workers (without its
cache), which read their blocks themselves.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import numpy as np

from ..errors import UnreadableImage
from ._guard import GuardedFile, decoding
from ._sources import describe, open_source

__all__ = [
    "MaskArray",
    "has_jpeg_mask",
    "jpeg_mask",
    "mask_of",
    "open_mask",
    "pillow_mask",
    "read_jpeg_mask",
    "stream_mask",
]

#: Bytes of decoded mask segments a :class:`MaskArray` keeps, packed a bit a pixel: 4096 rows
#: of a 32768-pixel-wide mask in strips, more than the rows of a region's chunk, so that the
#: chunks (or the image tiles) along those rows decode each strip once.
CACHE_BYTES = 16 << 20


class MaskArray:
    """The ``(y, x)`` dataset mask of a TIFF page (True: valid), decoded block by block.

    Parameters
    ----------
    path : str
        The file holding the mask page (the image for an internal mask, the ``.msk``).
    storage_options : dict or None
        For a URL (as :func:`imgstats.open_image`).
    page : int
        Index of the mask page in the file.
    grid : (rows, cols, width, height)
        One stored segment's ``(rows, columns)`` and the page's ``(width, height)``.
    window : (x0, y0, x1, y1), optional
        The part of the page this array covers (the whole page by default).
    """

    dtype = np.dtype(bool)
    ndim = 2

    def __init__(self, path, storage_options, page: int, grid, window=None):
        self.path = path
        self.storage_options = storage_options
        self.page = int(page)
        self.grid = tuple(int(v) for v in grid)
        width, height = self.grid[2], self.grid[3]
        self.window = tuple(window) if window is not None else (0, 0, width, height)
        x0, y0, x1, y1 = self.window
        self.shape = (y1 - y0, x1 - x0)
        self._cache: OrderedDict = OrderedDict()
        self._cached = 0
        self._lock = threading.Lock()
        #: ``[(offsets, byte counts, decoder)]`` of the page once read: the file's header is
        #: parsed once, and each read seeks to its segments only
        self._meta: list = [None]

    # -- pickling and dask's tokens: the address, never the cache ------------------------------
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cache"], state["_cached"], state["_lock"] = OrderedDict(), 0, None
        state["_meta"] = [None]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __dask_tokenize__(self):
        return ("imgstats-mask", str(self.path), self.page, self.grid, self.window)

    def __len__(self) -> int:
        return self.shape[0]

    def crop(self, y0: int, y1: int, x0: int, x1: int) -> MaskArray:
        """The same mask cut to rows ``[y0, y1)`` and columns ``[x0, x1)`` (nothing read)."""
        wx, wy = self.window[0], self.window[1]
        out = MaskArray(
            self.path,
            self.storage_options,
            self.page,
            self.grid,
            (wx + x0, wy + y0, wx + x1, wy + y1),
        )
        # one cache (and one parse of the header) for the views of a mask
        out._cache, out._lock, out._meta = self._cache, self._lock, self._meta
        return out

    def __array__(self, dtype=None, copy=None):
        out = self[:, :]
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (2 - len(key))
        if len(key) != 2 or not all(isinstance(k, slice) for k in key):
            return np.asarray(self)[key]  # rare: any other index, from the whole mask
        (ya, yb, ys), (xa, xb, xs) = (k.indices(n) for k, n in zip(key, self.shape, strict=True))
        if ys != 1 or xs != 1:
            return self[ya : max(ya, yb), xa : max(xa, xb)][::ys, ::xs]
        yb, xb = max(ya, yb), max(xa, xb)
        wx, wy = self.window[0], self.window[1]
        return self._read(wy + ya, wy + yb, wx + xa, wx + xb)

    def _read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Rows ``[y0, y1)`` x columns ``[x0, x1)`` of the page, decoding what is not cached."""
        out = np.zeros((y1 - y0, x1 - x0), bool)
        if out.size == 0:
            return out
        rows, cols, width, _ = self.grid
        across = -(-width // cols)
        wanted = [
            r * across + c
            for r in range(y0 // rows, (y1 - 1) // rows + 1)
            for c in range(x0 // cols, (x1 - 1) // cols + 1)
        ]
        found = []
        with self._lock:
            for i in wanted:
                if i in self._cache:
                    self._cache.move_to_end(i)
                    found.append(self._cache[i])
            missing = [i for i in wanted if i not in self._cache]
        for y, x, packed, w in found:
            _paste_packed(out, y0, x0, y, x, packed, w)
        # one decoded segment at a time: a strip spanning a wide image is pasted, then kept
        # packed (a bit a pixel) while the cache has room, never every strip under a tall
        # block at once
        for index, (y, x, seg) in self._decode(missing):
            _paste(out, y0, x0, y, x, seg)
            packed = np.packbits(seg, axis=1)
            if packed.nbytes > CACHE_BYTES // 4:
                continue
            with self._lock:
                if index not in self._cache:
                    self._cache[index] = (y, x, packed, seg.shape[1])
                    self._cached += packed.nbytes
                while self._cached > CACHE_BYTES and self._cache:
                    _, old = self._cache.popitem(last=False)
                    self._cached -= old[2].nbytes
        return out

    def _page_meta(self):
        """``(offsets, byte counts, decoder)`` of the mask page, read once per mask."""
        meta = self._meta[0]
        if meta is not None:
            return meta
        import tifffile

        from ._tiff import _segment_decoder

        with (
            open_source(self.path, self.storage_options) as fh,
            decoding(self.path, "has a corrupt mask"),
            tifffile.TiffFile(GuardedFile(fh, self.path)) as tif,
        ):
            page = tif.pages[self.page]
            offsets, counts = tuple(page.dataoffsets), tuple(page.databytecounts)
            meta = (offsets, counts, _segment_decoder(page))
        self._meta[0] = meta
        return meta

    def _decode(self, indices: list[int]):
        """``(index, (y, x, bool segment))`` of the mask segments ``indices``, one by one."""
        if not indices:
            return
        offsets, counts, decode = self._page_meta()
        have = min(len(offsets), len(counts))
        rows, cols, width, height = self.grid
        across = -(-width // cols)
        with (
            open_source(self.path, self.storage_options) as raw,
            decoding(self.path, "has a corrupt mask"),
        ):
            fh = GuardedFile(raw, self.path)  # the store's failures are the store's
            for index in indices:
                y, x = (index // across) * rows, (index % across) * cols
                h, w = min(rows, height - y), min(cols, width - x)
                data = None
                if index < have and offsets[index] and counts[index]:
                    fh.seek(offsets[index])
                    data = fh.read(counts[index])
                if data is None:  # a missing mask segment: GDAL reads it as 0, masked
                    seg = np.zeros((h, w), bool)
                else:
                    decoded, _, _ = decode((data, index))
                    tile = decoded.reshape(decoded.shape[-3:])[..., 0][:h, :w]
                    seg = tile if tile.dtype == np.bool_ else tile != 0
                    if seg.shape != (h, w):
                        raise ValueError("a mask segment of the wrong size")
                yield index, (y, x, np.ascontiguousarray(seg))


def _paste_packed(out, y0: int, x0: int, y: int, x: int, packed: np.ndarray, w: int) -> None:
    """:func:`_paste` of a segment packed a bit a pixel along x (``w`` pixels wide)."""
    left, right = max(x, x0), min(x + w, x0 + out.shape[1])
    top = max(y, y0)
    bottom = min(y + packed.shape[0], y0 + out.shape[0])
    if bottom <= top or right <= left:
        return
    a, b = left - x, right - x  # the columns wanted, in the segment
    bits = np.unpackbits(packed[top - y : bottom - y, a // 8 : -(-b // 8)], axis=1)
    out[top - y0 : bottom - y0, left - x0 : right - x0] = bits[:, a % 8 : a % 8 + (b - a)]


def _paste(out: np.ndarray, y0: int, x0: int, y: int, x: int, seg: np.ndarray) -> None:
    """Copy the part of ``seg`` (at ``(y, x)`` of the page) inside ``out`` (at ``(y0, x0)``)."""
    top, left = max(y, y0), max(x, x0)
    bottom = min(y + seg.shape[0], y0 + out.shape[0])
    right = min(x + seg.shape[1], x0 + out.shape[1])
    if bottom > top and right > left:
        out[top - y0 : bottom - y0, left - x0 : right - x0] = seg[
            top - y : bottom - y, left - x : right - x
        ]


def open_mask(path, facts, storage_options=None) -> MaskArray | None:
    """The dataset mask of a TIFF page (its internal mask page, else a ``.msk`` sidecar) as a
    lazy :class:`MaskArray`, from the mask page's header alone; ``None`` without a mask, or
    with one that cannot be read segment by segment (then :func:`~._tiff.read_mask` reads it
    whole).

    Raises
    ------
    UnreadableImage
        A mask whose header cannot be read, or which does not fit the image.
    """
    from ._tiff import mask_file, mask_place

    height, width = facts.shape[:2]
    place = mask_place(path, facts)
    if place is None:
        return None
    where, index, fault = place
    with mask_file(where, storage_options, fault) as tif:
        mpage = tif.pages[index]
        axes = mpage.axes
        shape = dict(zip(axes, mpage.shape, strict=True))
        mheight, mwidth = int(shape.get("Y", 0)), int(shape.get("X", 0))
        if (mheight, mwidth) != (height, width):
            raise UnreadableImage(
                f"{describe(path)}: its mask is {(mwidth, mheight)} pixels, "
                f"the image {(width, height)}"
            )
        if mpage.imagedepth != 1 or getattr(mpage, "subsampling", None) not in (None, (1, 1)):
            return None
        if set(axes) - set("YXS") or (mpage.samplesperpixel > 1 and mpage.planarconfig != 1):
            return None  # planes or pages of masks: read whole, as read_mask does
        if mpage.is_tiled:
            rows, cols = int(mpage.tilelength), int(mpage.tilewidth)
        else:
            rows, cols = min(int(mpage.rowsperstrip), height), width
    return MaskArray(os.fspath(where), storage_options, index, (rows, cols, width, height))


def mask_of(path, facts, storage_options=None):
    """The dataset mask of a TIFF page, lazy (:func:`open_mask`) where it can be, else read
    whole (:func:`~._tiff.read_mask`); ``None`` without one."""
    from ._tiff import read_mask

    mask = open_mask(path, facts, storage_options)
    return read_mask(path, facts, storage_options) if mask is None else mask


def stream_mask(facts, path):
    """The :attr:`~._tiff.TiffStream.mask` of a page: its mask page when tiled as the image,
    else the mask read lazily (a sidecar, or a mask tiled otherwise: a :class:`MaskArray`,
    which decodes the mask segments under each tile); ``None`` without a mask."""
    import tifffile

    if facts.mask_page is not None:
        with decoding(path, "has a corrupt mask"), tifffile.TiffFile(os.fspath(path)) as tif:
            mpage = tif.pages[facts.mask_page]
            rows = mpage.tilelength if mpage.is_tiled else min(mpage.rowsperstrip, facts.shape[0])
            cols = mpage.tilewidth if mpage.is_tiled else facts.shape[1]
            same = (int(rows), int(cols)) == tuple(facts.tile) and mpage.planarconfig == 1
        if same:
            return ("page", facts.mask_page)
    mask = mask_of(path, facts)
    return None if mask is None else ("array", mask)


#: The largest compressed JPEG mask read: GDAL's is a zlib bit mask, a few KB for most
#: images; a trailer this large beside a picture is not one (and is not held).
MAX_JPEG_MASK_BYTES = 64 << 20


def jpeg_mask(fh, source, shape) -> np.ndarray | None:
    """The dataset mask GDAL's JPEG driver appends after the picture (``INTERNAL_MASK``,
    GDAL's ``JPGMaskBand``), ``(y, x)`` bool (True: valid); ``None`` without one.

    Read as GDAL reads it: the file's last 4 bytes (little-endian) give the picture's size,
    at least half the file, whose last two bytes are JPEG's end marker; between them and
    those 4 bytes, a zlib (or gzip) stream of one bit a pixel, rows unpadded, least
    significant bit first unless the first two rows say otherwise (GDAL's guess of an
    ``MSB`` mask, :func:`_msb_mask`). ``fh`` is a seekable binary file.

    Raises
    ------
    UnreadableImage
        A mask that does not inflate (GDAL's reading fails), or over
        :data:`MAX_JPEG_MASK_BYTES`.
    """
    import zlib

    height, width = (int(v) for v in shape)
    place = _jpeg_mask_place(fh)
    if place is None:
        return None
    start, end = place
    if end - start > MAX_JPEG_MASK_BYTES:
        raise UnreadableImage(f"{describe(source)}: its JPEG mask is over 64 MB")
    fh.seek(start)
    packed = fh.read(end - start)
    fh.seek(0)
    wanted = height * ((width + 7) // 8)  # GDAL's buffer: whatever inflates past it is left
    try:
        bits = zlib.decompressobj(zlib.MAX_WBITS | 32).decompress(packed, wanted)
    except zlib.error as exc:
        raise UnreadableImage(f"{describe(source)}: its JPEG mask does not inflate") from exc
    buf = np.zeros(wanted, np.uint8)  # what does not inflate is masked
    buf[: len(bits)] = np.frombuffer(bits, np.uint8)
    order = "big" if _msb_mask(buf, height, width) else "little"
    flat = np.unpackbits(buf, count=height * width, bitorder=order)
    return flat.reshape(height, width).astype(bool)


def _jpeg_mask_place(fh) -> tuple[int, int] | None:
    """``(start, end)`` of the compressed mask GDAL appends to a JPEG, from its last 6 bytes
    as GDAL's ``CheckForMask`` finds it; ``None`` without one. ``fh`` is left at its start."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    place = None
    if size >= 6:
        fh.seek(size - 4)
        picture = int.from_bytes(fh.read(4), "little")
        if size // 2 <= picture < size - 4 and picture >= 2:
            fh.seek(picture - 2)
            if fh.read(2) == b"\xff\xd9":
                place = (picture, size - 4)
    fh.seek(0)
    return place


def has_jpeg_mask(fh) -> bool:
    """Whether a JPEG ends with the mask GDAL's JPEG driver appends (:func:`jpeg_mask`)."""
    return _jpeg_mask_place(fh) is not None


def appended_mask(fh, source) -> bool:
    """:func:`has_jpeg_mask` of ``fh``, opened from ``source``: a local path's is looked at
    once within :func:`._beside.one_look` (open_plan may have looked already)."""
    from ._beside import looked
    from ._sources import is_url

    if not isinstance(source, (str, os.PathLike)) or is_url(source):
        return has_jpeg_mask(fh)
    head_tail = looked(("head-tail", os.fspath(source)), lambda: (False, has_jpeg_mask(fh)))
    return head_tail[1]


def read_jpeg_mask(source, shape, storage_options=None) -> np.ndarray | None:
    """:func:`jpeg_mask` of the JPEG at a local path or URL ``source``. A URL's is read
    whole, as its picture was: a server that ignores HTTP ranges cannot give its end first."""
    import io

    from ._sources import is_url

    with (
        open_source(source, storage_options) as raw,
        decoding(source, "has a corrupt mask"),
    ):
        fh = GuardedFile(raw, source)
        return jpeg_mask(io.BytesIO(fh.read()) if is_url(source) else fh, source, shape)


def pillow_mask(fh, source, kind, pixel_limit=None, storage_options=None):
    """The dataset mask of an image Pillow decodes (``kind``: its header's ``mask``): the
    mask GDAL appends to a JPEG (``"internal"``, a bool array) or its ``.msk`` (``"sidecar"``,
    lazy), ``(y, x)`` and True where valid; ``None`` for any other kind. ``fh`` (the image,
    whose header alone is read) is left at its start."""
    from types import SimpleNamespace

    from PIL import Image

    from ._tiff import check_sidecar

    if kind not in ("internal", "sidecar"):
        return None
    fh.seek(0)
    with decoding(source, "cannot be decoded"), Image.open(fh) as img:
        shape = (img.height, img.width)
    fh.seek(0)
    if kind == "internal":
        return jpeg_mask(fh, source, shape)
    where = check_sidecar(source, shape, pixel_limit, storage_options)
    if where is None:
        return None
    return mask_of(source, SimpleNamespace(shape=shape, mask_page=None, sidecar=where))


def _msb_mask(buf: np.ndarray, height: int, width: int) -> bool:
    """GDAL's guess that a JPEG mask's bits are most significant first (its
    ``JPEG_MASK_BIT_ORDER=AUTO``, GDAL 3.10): read so, the first two rows are equal and
    change value exactly once, not on a byte boundary of a width of whole bytes."""
    if width <= 8 or height <= 1:
        return False
    rows = np.unpackbits(buf, count=2 * width, bitorder="big")
    first, second = rows[:width], rows[width:]
    changes = np.flatnonzero(first[1:] != first[:-1]) + 1
    if len(changes) != 1:
        return False
    on_byte = changes[0] % 8 == 0 and width % 8 == 0  # GDAL cannot tell the order there
    return not on_byte and bool((first == second).all())
