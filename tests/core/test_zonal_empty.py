"""Features that hold no pixel keep their row: a null geometry (RFC 7946's unlocated
feature, geopandas' missing geometry) and an empty one (``POLYGON EMPTY``, which shapely and
GDAL write as ``"coordinates": []``) are zones of count 0, as a polygon off the image is.

They refused the whole layer ("feature 0: the feature has no geometry", "a GeoJSON Polygon
needs an exterior ring"), so one empty row of a GeoDataFrame lost every other zone's answer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import imgstats

IMG = np.arange(100, dtype=np.float32).reshape(10, 10)
SQUARE = {"type": "Polygon", "coordinates": [[[2, 2], [5, 2], [5, 5], [2, 5], [2, 2]]]}


def _feature(fid, geometry):
    return {"type": "Feature", "id": fid, "properties": {}, "geometry": geometry}


@pytest.mark.parametrize(
    "empty",
    [
        None,
        {"type": "Polygon", "coordinates": []},
        {"type": "MultiPolygon", "coordinates": []},
    ],
)
@pytest.mark.parametrize("chunks", [None, 4])
def test_a_feature_without_pixels_is_an_empty_zone(empty, chunks):
    img = IMG if chunks is None else pytest.importorskip("dask.array").from_array(IMG, chunks)
    layer = {
        "type": "FeatureCollection",
        "features": [_feature("a", SQUARE), _feature("b", empty), _feature("c", SQUARE)],
    }
    frame = imgstats.zonal(img, layer, ["min", "median"])
    assert list(frame.index) == ["a", "b", "c"]
    assert frame.loc["b", "count"] == 0 and math.isnan(frame.loc["b", "median"])
    inside = IMG[2:5, 2:5]
    for fid in "ac":
        assert frame.loc[fid, "count"] == inside.size
        assert frame.loc[fid, "median"] == np.median(inside)
        assert frame.loc[fid, "min"] == inside.min()


def test_a_layer_of_empty_features_only():
    layer = {"type": "FeatureCollection", "features": [_feature(1, None), _feature(2, None)]}
    frame = imgstats.zonal(IMG, layer, ["mean"])
    assert frame["count"].to_dict() == {1: 0, 2: 0}


def test_shapely_empty_geometries():
    shapely = pytest.importorskip("shapely")
    frame = imgstats.zonal(IMG, [shapely.Polygon(), shapely.MultiPolygon(), SQUARE], ["max"])
    assert frame["count"].tolist() == [0, 0, 9] and frame.loc[2, "max"] == 44.0
