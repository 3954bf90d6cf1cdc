"""A DataArray imgstats builds over a dask array is not named after the array's graph key.

xarray names a DataArray built with ``name=None`` after its data's ``.name``, and a dask
array's name is its key: ``open_image(path, chunks=...)`` was named ``"tiff-0766..."``,
``compute(..., dim=)`` of several functions ``"concatenate-..."``, and the names went on into
``to_dataset()``, reprs and the accessor's results.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import tifffile
import xarray as xr

import imgstats
from imgstats.selection import select


def test_compute_along_of_several_functions_over_dask_is_unnamed():
    arr = xr.DataArray(
        da.zeros((4, 5, 6), chunks=2, dtype=np.uint8), dims=("time", "y", "x"), name="ndvi"
    )
    assert imgstats.compute(arr, ["median", "max"], dim="time").name is None
    assert imgstats.compute(arr.compute(), ["median", "max"], dim="time").name is None
    assert imgstats.compute(arr, "median", dim="time").name == "median"


def test_a_lazily_opened_image_and_its_regions_are_unnamed(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.arange(60 * 80, dtype=np.uint16).reshape(60, 80))
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((60, 80, 3), np.uint8), photometric="rgb")
    for name in ("a.tif", "rgb.tif"):
        img = imgstats.open_image(tmp_path / name, chunks=20)
        assert hasattr(img.data, "dask") and img.name is None
        assert select(img, window=(0, 0, 10, 10)).name is None
        assert img.imgstats.quantile(0.5, dim=("y", "x")).name is None
