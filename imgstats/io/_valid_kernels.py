"""numba kernels of validity (:mod:`imgstats.io._valid`): a block's invalid samples taken
out of its histogram, or made NaN, in one pass over the block and its mask, without the
copies and boolean indexing that numpy would make. They release the GIL (the TIFF stream
runs them on its decoding threads) and take 2-D ``(y, x)`` views of any strides (a tile
cropped to a window, one band of an interleaved block).
"""

from __future__ import annotations

import numpy as np

from .._jit import njit


@njit(nogil=True, cache=True)
def unhist(band, valid, flip, hist):
    """Subtract the samples of ``band`` where ``valid`` is 0 from ``hist[key]`` (``key`` =
    sample XOR ``flip``: unsigned 8- or 16-bit views); return how many were subtracted and
    the sum of their keys."""
    f = np.uint64(flip)
    n = 0
    keys = 0
    for y in range(band.shape[0]):
        for x in range(band.shape[1]):
            if valid[y, x] == 0:
                k = np.uint64(band[y, x]) ^ f
                hist[k] -= 1
                n += 1
                keys += np.int64(k)
    return n, keys


@njit(nogil=True, cache=True)
def nan_fill(band, valid, nodata, eps, two, use_valid, use_nodata):
    """Write NaN into ``band`` where ``valid`` is 0 (``use_valid``) or the sample is the
    ``nodata`` value as GDAL compares them (``use_nodata``: equal, or within GDAL's
    ``ARE_REAL_EQUAL`` tolerance, ``eps`` and ``two`` of the band's type so that the sums
    are the band's, overflow included); return how many samples that were not NaN became
    NaN."""
    n = 0
    for y in range(band.shape[0]):
        for x in range(band.shape[1]):
            v = band[y, x]
            if v != v:
                continue
            if (use_valid and valid[y, x] == 0) or (
                use_nodata and (v == nodata or abs(v - nodata) < eps * abs(v + nodata) * two)
            ):
                band[y, x] = np.nan
                n += 1
    return n
