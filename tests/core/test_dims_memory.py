"""A reduction along ``time`` of a stack chunked one plane per step holds the stack once.

Each remaining cell (a pixel) keeps its samples, so the task holds the whole stack: it is
filled chunk by chunk into one array whose samples become their keys in place, where
``.compute()`` held every chunk and then their concatenation, and the keys beside it
(tracemalloc's peak for a (365, 500, 500) float32 stack: 698 MiB before, 356 MiB now; 2.3x
to 3.3x this test's stacks before). No time is asserted.
"""

from __future__ import annotations

import gc

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import imgstats

from .test_polygon_memory import _peak  # tracemalloc's peak of a second call

T, SIDE = 200, 100


def _stack(dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        src = rng.normal(size=(T, SIDE, SIDE)).astype(dtype)
        src[rng.random(src.shape) < 0.05] = np.nan
    else:
        src = rng.integers(-1000, 1000, (T, SIDE, SIDE)).astype(dtype)
    # np.copy: each chunk is new memory, as one read from a file is, not a view of src
    lazy = da.from_array(src, chunks=(1, SIDE, SIDE)).map_blocks(np.copy)
    return src, xr.DataArray(lazy, dims=("time", "y", "x"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.int32])
def test_a_stack_chunked_by_plane_is_held_once(dtype):
    src, arr = _stack(dtype)
    gc.collect()  # an earlier test's garbage is no part of this peak
    funcs = ["median", "min", "p90"]
    got, peak = _peak(
        lambda: imgstats.compute(arr, funcs, dim="time").compute(scheduler="sync").values
    )
    # 1.2x to 1.3x alone; other tests' leftovers (threads of a closed cluster) may add a
    # little, and the old code's 2.3x to 3.3x stays well above
    assert peak < 1.8 * src.nbytes, f"peak {peak / src.nbytes:.2f}x the stack"
    np.testing.assert_array_equal(got[..., 0], np.nanmedian(src, axis=0))
    np.testing.assert_array_equal(got[..., 1], np.nanmin(src, axis=0))
    np.testing.assert_array_equal(got[..., 2], np.nanpercentile(src, 90, axis=0))


def test_filling_in_place_keeps_each_cells_valid_samples():
    """NaN, the nodata value and a mask leave the same samples out as numpy's oracle."""
    src, arr = _stack(np.float32, seed=1)
    src[:, :5, :5] = np.nan  # cells without any valid sample
    src[3, 10:20, 10:20] = -9999.0
    lazy = da.from_array(src, chunks=(1, SIDE, SIDE)).map_blocks(np.copy)
    arr = xr.DataArray(lazy, dims=("time", "y", "x"), attrs={"nodata": -9999.0})
    mask = np.ones((SIDE, SIDE), bool)
    mask[40:, 40:] = False
    got = imgstats.compute(arr, ["median", "p10", "count"], dim="time", mask=mask)
    got = got.compute(scheduler="sync").values
    oracle = np.where(src == -9999.0, np.float32(np.nan), src)
    oracle[:, ~mask] = np.nan
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        np.testing.assert_array_equal(got[..., 0], np.nanmedian(oracle, axis=0))
        np.testing.assert_array_equal(got[..., 1], np.nanpercentile(oracle, 10, axis=0))
    np.testing.assert_array_equal(got[..., 2], np.isfinite(oracle).sum(axis=0))
