"""A GeoDataFrame that names its CRS, and a ``crs=`` that names another, contradict each other.

A frame in EPSG:4326 passed with ``crs="raster"`` on a UTM raster had its degrees read as
metres: every zone fell off the image and answered count 0, silently. geopandas refuses to
replace a frame's CRS (``set_crs`` without ``allow_override=True``); so does imgstats, saying
both ways out. A ``crs=`` that agrees with the frame (``"raster"`` on a frame in the image's
CRS, the frame's own name, or its name in axis order aside) is taken.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import imgstats
from imgstats.errors import InvalidOption

gpd = pytest.importorskip("geopandas")
shapely = pytest.importorskip("shapely")

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")
DATA = np.arange(10000, dtype=np.uint16).reshape(100, 100)
IMG = xr.DataArray(
    DATA,
    dims=("y", "x"),
    attrs={"transform": (10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0), "crs": "EPSG:32633"},
)
UTM = gpd.GeoDataFrame(geometry=[shapely.box(500100, 3999100, 500500, 3999500)], crs="EPSG:32633")
WANT = DATA[50:90, 10:50]  # rows from the top (4,000,000 - 3,999,500) / 10, columns 100 / 10


@pytest.mark.parametrize("crs", ["raster", "EPSG:3857"])
def test_a_crs_that_contradicts_the_frame_is_refused(crs):
    lonlat = UTM.to_crs("EPSG:4326")
    for layer in (lonlat, lonlat.geometry):
        with pytest.raises(InvalidOption, match=r"is in EPSG:4326, but crs=.*set_crs\("):
            imgstats.zonal(IMG, layer, ["mean"], crs=crs)
    # before: count 0 for crs="raster"; without crs= the frame is reprojected from its own
    assert imgstats.zonal(IMG, lonlat, ["count"])["count"].tolist() == [WANT.size]


@pytest.mark.parametrize("crs", ["raster", "EPSG:32633", "epsg:32633", "EPSG:4326"])
def test_a_crs_that_agrees_with_the_frame_is_taken(crs):
    frame = UTM if crs != "EPSG:4326" else UTM.to_crs("OGC:CRS84")  # lon/lat both ways round
    table = imgstats.zonal(IMG, frame, ["mean", "max"], crs=crs)
    assert table["count"].tolist() == [WANT.size]
    assert table.loc["0", "mean"] == WANT.mean() and table.loc["0", "max"] == WANT.max()


def test_set_crs_says_the_caller_means_it():
    # the refusal's way out: the frame says the CRS its numbers are in, and is believed
    relabelled = UTM.set_crs("EPSG:3857", allow_override=True)
    with pytest.raises(InvalidOption, match="is in EPSG:3857, but crs='raster'"):
        imgstats.zonal(IMG, relabelled, ["mean"], crs="raster")
    back = relabelled.set_crs("EPSG:32633", allow_override=True)
    assert imgstats.zonal(IMG, back, ["count"], crs="raster")["count"].tolist() == [WANT.size]


def test_an_image_of_no_known_crs_trusts_crs_raster():
    # x/y coordinates alone place polygons with crs="raster": there is no CRS to contradict
    plain = xr.DataArray(
        DATA,
        dims=("y", "x"),
        coords={"x": 500005.0 + 10 * np.arange(100), "y": 3999995.0 - 10 * np.arange(100)},
    )
    table = imgstats.zonal(plain, UTM, ["count"], crs="raster")
    assert table["count"].tolist() == [WANT.size]
