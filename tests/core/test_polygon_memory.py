"""Issue 18, defect 1: a polygon's memory follows the chunk, never its bounding box.

A triangle over half of a 8192 x 8192 image has a 64 MiB bounding box. Rasterized block by
block (:class:`imgstats.regions.PolygonRegion`), the selection never holds an array of that
box: tracemalloc's peak stays a few chunks. No time is asserted.
"""

from __future__ import annotations

import tracemalloc

import dask.array as da
import numpy as np
import pytest
import tifffile

import imgstats

SIDE = 8192
TRIANGLE = [[0, 0], [SIDE, 0], [0, SIDE]]
#: The triangle's pixels: a centre (x + .5, y + .5) is inside when x + y + 1 < SIDE.
INSIDE = SIDE * (SIDE - 1) // 2
BOX_BYTES = SIDE * SIDE  # one byte per pixel of the bounding box: what a bool mask takes


def _peak(fn):
    from imgstats import _jit

    _jit.load()  # numba's own objects (tens of MB) are no part of the polygon's cost
    fn()  # and neither are the first call's compilations or caches
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_polygon_over_a_dask_array_allocates_chunks_not_its_box():
    # a constant image, so the answer is known without reading it back into memory
    arr = da.full((SIDE, SIDE), 7, dtype=np.uint8, chunks=(1024, 1024))
    got, peak = _peak(
        lambda: imgstats.compute(arr, ["median", "count"], polygon=TRIANGLE, scheduler="sync")
    )
    assert got == {"median": 7.0, "count": INSIDE}
    assert peak < BOX_BYTES / 4, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_a_polygon_over_a_tiled_tiff_allocates_chunks_not_its_box(tmp_path, dtype):
    """The path of POST /stats {"polygon": ...}: a tiled TIFF opened lazily, chunk by chunk."""
    path = tmp_path / "big.tif"
    tile = np.arange(256 * 256, dtype=dtype).reshape(256, 256) % 251
    with tifffile.TiffWriter(path) as tw:
        tw.write(
            (tile for _ in range((SIDE // 256) ** 2)),
            shape=(SIDE, SIDE),
            dtype=dtype,
            tile=(256, 256),
            compression="zlib",
        )
    got, peak = _peak(
        lambda: imgstats.compute(
            str(path), ["max", "count"], polygon=TRIANGLE, chunks=(1024, 1024), scheduler="sync"
        )
    )
    assert got["count"] == INSIDE and got["max"] == 250
    item = np.dtype(dtype).itemsize
    assert peak < BOX_BYTES * item / 4, f"peak {peak / 2**20:.1f} MiB"
