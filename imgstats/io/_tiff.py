"""TIFF and BigTIFF through tifffile, read lazily chunk by chunk through its zarr store.

:class:`TiffStream` is the fast path of :func:`imgstats.compute` on a local file: it decodes the
tiles or strips on every core and hands each one, cropped to the image, to a reduction, so the
image is never held whole and no dask graph is built.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys

import numpy as np

from .._lazy import lazy_module
from ..errors import ImgStatsError, UnreadableImage
from ._sources import describe, open_source

tifffile = lazy_module("tifffile")  # its import costs more than a small JPEG's decode

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def is_tiff(head: bytes) -> bool:
    """Return True when the first four bytes are a TIFF or BigTIFF signature."""
    return head[:4] in TIFF_MAGIC


class _WorkFailed(Exception):
    """Carries an error of our own reduction through :func:`tiff_errors` unchanged."""

    def __init__(self, error: BaseException):
        super().__init__(error)
        self.error = error


@contextlib.contextmanager
def tiff_errors(source, what: str = "is not a readable TIFF"):
    """Turn any error tifffile raises on a malformed file into :class:`UnreadableImage`.

    tifffile parses every IFD value it is handed, so a corrupt header surfaces as whatever
    its arithmetic trips on (ZeroDivisionError, TypeError, IndexError, struct.error, a
    MemoryError for a huge declared buffer...): no list of types is complete. Our own errors
    (ImageTooLarge, StoreUnavailable, ImageNotFound...) pass through unchanged.
    """
    try:
        yield
    except (ImgStatsError, _WorkFailed):
        raise
    except Exception as exc:  # see above; MemoryError is an Exception too
        name = type(exc).__name__
        raise UnreadableImage(f"{describe(source)} {what}: {name}: {exc}") from exc


def tiff_layout(tif: tifffile.TiffFile, source):
    """Return ``(series, shape, dtype, axes, chunk)`` of the first image series.

    ``chunk`` is the shape of one stored tile or strip.
    """
    with tiff_errors(source):
        series = tif.series[0]
        shape, dtype, axes = tuple(series.shape), np.dtype(series.dtype), series.axes
        page = series.keyframe
        chunk = tuple(page.chunks) if hasattr(page, "chunks") else shape
        if 0 in shape or 0 in chunk:
            raise UnreadableImage(f"{describe(source)} declares an empty image or tile "
                                  f"(shape {shape}, tile {chunk})")
    if "Y" not in axes or "X" not in axes:
        raise UnreadableImage(f"{describe(source)} has no image axes (axes {axes!r})")
    return series, shape, dtype, axes, chunk


class TiffArray:
    """An array-like over one TIFF series that reads only the requested region.

    It holds the source's address, not an open file, so it pickles to dask.distributed
    workers, which then read their chunks from the store themselves.
    """

    def __init__(self, source, storage_options, shape, dtype):
        self.source = source
        self.storage_options = storage_options
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        import zarr  # only the dask path needs it

        with open_source(self.source, self.storage_options) as fh, \
                tiff_errors(self.source, "is corrupt"), tifffile.TiffFile(fh) as tif:
            store = tif.series[0].aszarr()
            return np.asarray(zarr.open(store, mode="r")[key])


def dask_chunks(shape, chunk, itemsize: int, target_bytes: int) -> tuple[int, ...]:
    """Multiples of the stored tile or strip shape holding about ``target_bytes`` each."""
    chunk = tuple(min(c, s) for c, s in zip(chunk, shape, strict=False))
    chunk = chunk + tuple(shape[len(chunk):])
    if len(chunk) < 2:
        return tuple(shape)
    # The last axes hold y, x (and samples); grow the two spatial axes evenly.
    per = itemsize * math.prod(chunk)
    factor = max(1, int(math.sqrt(target_bytes / max(per, 1))))
    out = list(chunk)
    yi, xi = _yx(len(shape), shape, chunk)
    out[yi] = min(shape[yi], chunk[yi] * factor)
    if chunk[xi] < shape[xi]:
        out[xi] = min(shape[xi], chunk[xi] * factor)
    else:
        out[yi] = min(shape[yi], chunk[yi] * factor * factor)
    return tuple(out)


def _yx(ndim, shape, chunk):
    # tifffile puts Y and X right before an optional trailing sample axis
    if ndim >= 3 and chunk[-1] == shape[-1] and shape[-1] <= 8:
        return ndim - 3, ndim - 2
    return ndim - 2, ndim - 1


class TiffStream:
    """The tiles or strips of a local TIFF's first image, decoded on every core.

    Only single-image series whose samples are interleaved (or single) are streamed; use
    :meth:`open` to get ``None`` for anything else, which then goes through dask.

    Attributes
    ----------
    path : str
    shape : tuple of int
        ``(y, x[, samples])``.
    dtype : numpy.dtype
    """

    #: Compressed bytes read from the file per batch of segments: this bounds the memory held.
    BUFFER_BYTES = 4 << 20

    def __init__(self, path, shape, dtype):
        self.path = os.fspath(path)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    @classmethod
    def open(cls, path) -> TiffStream | None:
        """Return a stream over the TIFF at ``path``, or ``None`` when it cannot be streamed."""
        try:
            with tifffile.TiffFile(os.fspath(path)) as tif:
                series = tif.series[0]
                page = series.keyframe
                if (
                    len(series.pages) != 1
                    or series.axes not in ("YX", "YXS")
                    or page.imagedepth != 1
                    or (page.samplesperpixel > 1 and page.planarconfig != 1)
                    or page.dtype is None
                    or tuple(series.shape) != tuple(page.shape)
                    or getattr(page, "subsampling", None) not in (None, (1, 1))
                ):
                    return None
                return cls(path, series.shape, series.dtype)
        except Exception:  # any malformed file: open_image reports what is wrong
            return None

    def map_reduce(self, work, merge, workers: int, progress: bool = False):
        """Return ``merge([...])`` of ``work(block)`` over every tile or strip.

        ``work`` runs in the decoding threads on ``(y, x[, samples])`` blocks cropped to the
        image (missing segments read as zeros, as tifffile does); results are merged as they
        arrive, so memory stays at a few segments and one batch of compressed bytes.
        ``progress`` shows a bar of the segments done on stderr.
        """
        height, width = self.shape[:2]

        def decoded(result):
            data, index, shape = result
            y, x = index[2], index[3]
            rows, cols = min(shape[1], height - y), min(shape[2], width - x)
            if data is None:
                block = np.zeros((rows, cols, shape[3]), self.dtype)
            else:
                block = data.reshape(data.shape[-3:])[:rows, :cols]
            if len(self.shape) == 2:
                block = block[..., 0]
            try:
                return work(block)
            except BaseException as exc:  # ours, not the file's: re-raised as is below
                raise _WorkFailed(exc) from exc

        out = None
        try:
            with tiff_errors(self.path, "is corrupt"), tifffile.TiffFile(self.path) as tif:
                page = tif.series[0].pages[0]
                segments = page.segments(func=decoded, maxworkers=workers,
                                         buffersize=self.BUFFER_BYTES)
                with _progress_bar(progress, len(page.dataoffsets), self.path) as bar:
                    for part in segments:
                        try:
                            out = part if out is None else merge([out, part])
                        except BaseException as exc:
                            raise _WorkFailed(exc) from exc
                        bar.update()
        except _WorkFailed as exc:
            raise exc.error from None
        return out


def _progress_bar(show: bool, total: int, path):
    """A tqdm bar of ``total`` segments on stderr, or one that draws nothing."""
    from tqdm import tqdm

    return tqdm(total=total, desc=os.path.basename(path), unit="segment", file=sys.stderr,
                disable=not show)
