"""``compute(..., dim=...)`` with a region in map coordinates counts the region's pixels only.

``bbox=`` and ``geometry=`` (and every option of opening a file) were dropped silently with
``dim=``: each cell counted every pixel of the image. The same region without ``dim=``, band
by band, is the oracle (its own tests compare it with rasterio's pixels and numpy).
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import imgstats
from imgstats.errors import InvalidOption

RNG = np.random.default_rng(1313)
DATA = RNG.integers(0, 1000, (2, 60, 80)).astype(np.int16)
ATTRS = {"transform": (30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0), "crs": "EPSG:32633"}
GEOMETRY = {
    "type": "Polygon",
    "coordinates": [[[500100, 4199900], [501500, 4199900], [500100, 4198500], [500100, 4199900]]],
}
BBOX = (500311.7, 4198807.1, 501013.3, 4199702.9)


def _array():
    return xr.DataArray(
        DATA.transpose(1, 2, 0), dims=("y", "x", "band"), coords={"band": ["a", "b"]}, attrs=ATTRS
    )


@pytest.mark.parametrize("region", [{"geometry": GEOMETRY}, {"bbox": BBOX}])
def test_a_map_region_with_dim_counts_its_pixels(region):
    arr = _array()
    got = imgstats.compute(arr, ["count", "median"], dim=("y", "x"), **region)
    for band in ("a", "b"):
        want = imgstats.compute(arr, ["count", "median"], band=band, **region)
        assert got.sel(band=band, func="count") == want["count"] < 60 * 80
        assert got.sel(band=band, func="median") == want["median"]
    lazy = arr.chunk({"x": 17}).imgstats.compute("count", dim=("y", "x"), **region)
    assert lazy.values.tolist() == got.sel(func="count").values.tolist()


def test_the_dataset_accessor_takes_a_map_region():
    ds = xr.Dataset({b: _array().sel(band=b, drop=True) for b in ("a", "b")})
    got = ds.imgstats.compute("median", dim=("y", "x"), geometry=GEOMETRY)
    assert float(got["a"]) == imgstats.compute(_array(), "median", band="a", geometry=GEOMETRY)


@pytest.mark.parametrize("option", [{"page": 1}, {"chunks": 10}, {"palette": "index"}])
def test_options_of_opening_a_file_are_refused_with_dim(option):
    with pytest.raises(InvalidOption, match=r"does not go with dim="):
        imgstats.compute(_array(), "median", dim="band", **option)
