"""A GeoDataFrame or GeoSeries names its CRS: its coordinates are in it, not pixels.

A frame in lon/lat (or the raster's UTM zone) was read as pixel coordinates, whatever its
``crs``: its zones fell off the image (count 0) or, worse, on other pixels. It is now
reprojected as a FeatureCollection's ``crs`` member is; the oracle is what a rasterio user
does: ``gdf.to_crs(raster.crs)`` then ``geometry_mask`` and numpy.
"""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.features import geometry_mask
from rasterio.transform import Affine

import imgstats
from imgstats.errors import InvalidOption

from .test_meaning_geo import H, W, _write

gpd = pytest.importorskip("geopandas")
shapely = pytest.importorskip("shapely")

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")
TRANSFORM = Affine(10.0, 0.0, 500000, 0.0, -10.0, 4000000)
UTM = [
    shapely.Polygon([(500103.3, 3999107.7), (501501.9, 3999303.1), (501207.2, 3999893.4)]),
    shapely.box(500400.1, 3998903.3, 501900.7, 3999504.9),
    None,
    shapely.box(400000.3, 3000000.1, 400100.3, 3000100.1),  # off the image
]


def _check(frame, data, utm_frame):
    assert frame.index.tolist() == [str(i) for i in utm_frame.index]
    for zid, geom in zip(frame.index, utm_frame.geometry, strict=True):
        if geom is None:
            assert frame.loc[zid, "count"] == 0
            continue
        v = data[~geometry_mask([geom], (H, W), TRANSFORM)]
        assert frame.loc[zid, "count"] == v.size
        if v.size:
            assert frame.loc[zid, "median"] == np.median(v)
            assert frame.loc[zid, "max"] == v.max()


@pytest.mark.parametrize("crs", ["EPSG:32633", "EPSG:4326", "EPSG:3857"])
def test_a_frame_is_in_its_crs(tmp_path, crs):
    path, data = _write(tmp_path / "g.tif", TRANSFORM)
    utm = gpd.GeoDataFrame({"name": list("abcd")}, geometry=UTM, crs="EPSG:32633")
    frame = utm.to_crs(crs)
    back = frame.to_crs("EPSG:32633")  # the vertices as pyproj places them on the raster
    _check(imgstats.zonal(str(path), frame, ["median", "max"]), data, back)
    _check(imgstats.zonal(str(path), frame.geometry, ["median", "max"]), data, back)
    # crs= overrides the frame's, as it overrides a FeatureCollection's crs member
    same = imgstats.zonal(str(path), frame.set_crs(None, allow_override=True), ["median"], crs=crs)
    assert same.equals(imgstats.zonal(str(path), frame, ["median"]))


def test_a_frame_in_a_crs_on_an_image_with_no_georeferencing_is_refused():
    frame = gpd.GeoDataFrame(geometry=[shapely.box(1, 1, 5, 5)], crs="EPSG:4326")
    with pytest.raises(InvalidOption, match="no georeferencing"):
        imgstats.zonal(np.zeros((10, 10), np.uint8), frame, ["mean"])
    plain = frame.set_crs(None, allow_override=True)  # pixel coordinates: a frame of no CRS
    assert imgstats.zonal(np.zeros((10, 10), np.uint8), plain, ["mean"])["count"].tolist() == [16]


def test_a_ring_that_collapses_once_reprojected_says_so(tmp_path):
    # a lon/lat box from -180 to 180: both sides are one meridian in UTM, so its ring has
    # two distinct vertices on the image; the refusal said "degenerate polygon" alone
    path, _ = _write(tmp_path / "g.tif", TRANSFORM)
    world = shapely.box(-180, -89, 180, 89)
    layer = {"type": "FeatureCollection", "features": [world.__geo_interface__]}
    for zones, kwargs in (
        (gpd.GeoDataFrame(geometry=[world], crs="EPSG:4326"), {}),
        (layer, {"crs": "EPSG:4326"}),
    ):
        with pytest.raises(InvalidOption, match="feature 0: degenerate.*once reprojected"):
            imgstats.zonal(str(path), zones, ["mean"], **kwargs)
