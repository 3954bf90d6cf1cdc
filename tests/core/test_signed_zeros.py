"""``min`` and ``max`` of ``-0.0`` beside ``0.0``: one sign on every path, whatever the order."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import imgstats


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("first", [-0.0, 0.0])
def test_min_is_negative_zero_and_max_positive_zero_on_every_path(dtype, first):
    # numpy's answers depend on the order and its lanes (np.max of [-0.0, 0.0] is 0.0 and
    # of [0.0, -0.0] is -0.0); imgstats takes -0.0 < 0.0 on every path
    img = np.tile(np.array([first, -first, first, -first], dtype), (6, 1))
    paths = {
        "whole": imgstats.compute(img, ["min", "max"]),
        "chunks": imgstats.compute(da.from_array(img, chunks=(5, 3)), ["min", "max"]),
        "summary": imgstats.summarize(img).compute(["min", "max"]),
    }
    table = imgstats.zonal(img, np.ones(img.shape, np.uint8), ["min", "max"])
    paths["zonal"] = {"min": table.loc[1, "min"], "max": table.loc[1, "max"]}
    cube = xr.DataArray(np.stack([img, -img]), dims=("t", "y", "x"))
    along = imgstats.compute(cube, ["min", "max"], dim="t")
    for name, got in paths.items():
        assert np.signbit(got["min"]) and not np.signbit(got["max"]), name
    assert np.signbit(along.sel(func="min").values).all()
    assert not np.signbit(along.sel(func="max").values).any()
