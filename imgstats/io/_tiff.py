"""TIFF and BigTIFF through tifffile, read lazily chunk by chunk through its zarr store."""

from __future__ import annotations

import math

import numpy as np
import tifffile
import zarr

from ..errors import UnreadableImage
from ._sources import describe, open_source

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def is_tiff(head: bytes) -> bool:
    """Return True when the first four bytes are a TIFF or BigTIFF signature."""
    return head[:4] in TIFF_MAGIC


def tiff_layout(tif: tifffile.TiffFile, source):
    """Return ``(series, shape, dtype, axes, chunk)`` of the first image series.

    ``chunk`` is the shape of one stored tile or strip.
    """
    try:
        series = tif.series[0]
        shape, dtype, axes = tuple(series.shape), np.dtype(series.dtype), series.axes
        page = series.keyframe
        chunk = tuple(page.chunks) if hasattr(page, "chunks") else shape
    except (IndexError, ValueError, tifffile.TiffFileError, KeyError) as exc:
        raise UnreadableImage(f"{describe(source)} is not a readable TIFF: {exc}") from exc
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
        try:
            with open_source(self.source, self.storage_options) as fh, tifffile.TiffFile(fh) as tif:
                store = tif.series[0].aszarr()
                return np.asarray(zarr.open(store, mode="r")[key])
        except (ValueError, KeyError, tifffile.TiffFileError, RuntimeError) as exc:
            raise UnreadableImage(f"{describe(self.source)} is corrupt: {exc}") from exc


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
