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

import imgstats
import imgstats.io
from benchmarks.masked_tiff import mask_rows, triangle_counts, write_big_masked

SIDE = 8192
TRIANGLE = [[0, 0], [SIDE, 0], [0, SIDE]]
#: The triangle's pixels: a centre (x + .5, y + .5) is inside when x + y + 1 <= SIDE (a centre
#: on the hypotenuse, the right edge of its row, is inside, as GDAL fills a scanline).
INSIDE = SIDE * (SIDE + 1) // 2
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
    write_big_masked(path, SIDE, "plain", dtype)
    got, peak = _peak(
        lambda: imgstats.compute(
            str(path), ["max", "count"], polygon=TRIANGLE, chunks=(1024, 1024), scheduler="sync"
        )
    )
    assert got["count"] == INSIDE and got["max"] == 250
    item = np.dtype(dtype).itemsize
    assert peak < BOX_BYTES * item / 4, f"peak {peak / 2**20:.1f} MiB"


# -- files with a dataset mask (round 3): the mask is read block by block too ------------------
@pytest.mark.parametrize("kind", ["internal", "sidecar"])
def test_a_polygon_over_a_masked_tiff_allocates_chunks_not_its_box(tmp_path, kind):
    """The dataset mask, tiled unlike the image, is read block by block beside the pixels:
    no mask of the whole image or of the box (64 MiB of bool each), no picked mask of the
    triangle's half of it."""
    path = tmp_path / "masked.tif"
    write_big_masked(path, SIDE, kind)
    got, peak = _peak(
        lambda: imgstats.compute(
            str(path),
            ["max", "count", "masked_pixels"],
            polygon=TRIANGLE,
            chunks=(1024, 1024),
            scheduler="sync",
        )
    )
    valid, masked = triangle_counts(SIDE)
    assert (got["count"], got["masked_pixels"], got["max"]) == (valid, masked, 250)
    assert peak < BOX_BYTES / 2, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("kind", ["internal", "sidecar"])
def test_the_stream_reads_a_mask_tiled_otherwise_tile_by_tile(tmp_path, kind, monkeypatch):
    """The whole masked image through the tile stream: each tile's mask decoded from the
    mask's own tiles or strips, never the whole mask (64 MiB of bool)."""
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)
    path = tmp_path / "masked.tif"
    # uint8: the tile stream's per-tile summaries are small, so only the mask can be large
    write_big_masked(path, SIDE, kind, np.uint8)
    got, peak = _peak(lambda: imgstats.compute(str(path), ["count", "masked_pixels"]))
    rows = int(mask_rows(range(SIDE)).sum())
    assert (got["count"], got["masked_pixels"]) == (rows * SIDE, (SIDE - rows) * SIDE)
    assert peak < BOX_BYTES / 2, f"peak {peak / 2**20:.1f} MiB"


BIG = 32768


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["internal", "sidecar"])
def test_a_triangle_over_a_32768_masked_tiff_stays_far_below_its_box(tmp_path, kind):
    """Issue 18's file with a dataset mask: 32768 x 32768 uint8 (1 GiB of pixels, a 1 GiB
    bool box), its mask tiled unlike it; opened as ``POST /stats`` opens it (chunks "auto")."""
    path = tmp_path / "big.tif"
    write_big_masked(path, BIG, kind, np.uint8)
    triangle = [[0, 0], [BIG, 0], [0, BIG]]
    got, peak = _peak(
        lambda: imgstats.compute(
            str(path), ["max", "count", "masked_pixels"], polygon=triangle, scheduler="sync"
        )
    )
    valid, masked = triangle_counts(BIG)
    assert (got["count"], got["masked_pixels"], got["max"]) == (valid, masked, 250)
    assert peak < BIG * BIG / 4, f"peak {peak / 2**20:.1f} MiB"


def test_a_polygon_with_dim_paints_chunks_not_its_box():
    """``compute(..., dim=, polygon=)`` over a dask-backed DataArray: the samples the
    polygon keeps are painted chunk by chunk in the tasks, never as a (y, x) plane."""
    import xarray as xr

    arr = xr.DataArray(
        da.full((2, SIDE, SIDE), 7, dtype=np.uint8, chunks=(1, 1024, 1024)),
        dims=("time", "y", "x"),
    )
    got, peak = _peak(
        lambda: (
            imgstats.compute(arr, ["max", "median"], dim=("y", "x"), polygon=TRIANGLE)
            .compute(scheduler="sync")
            .values
        )
    )
    assert got.tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert peak < BOX_BYTES / 4, f"peak {peak / 2**20:.1f} MiB"
