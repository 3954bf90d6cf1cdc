"""Shapely layers read whole: GeoDataFrames, GeoSeries, arrays and lists of shapely geometries
go through ``shapely.to_ragged_array`` in one call, not ``__geo_interface__`` per geometry.

Each answer must equal what the GeoJSON path gives of the same layer (ids included), and
rasterio's ``geometry_mask`` (pixel centres) with numpy is the oracle of the numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rasterio.features import geometry_mask
from rasterio.transform import Affine

import imgstats
from imgstats.errors import InvalidOption

shapely = pytest.importorskip("shapely")

IMG = np.random.default_rng(1414).integers(0, 60000, (70, 90)).astype(np.uint16)


def _oracle(geom):
    if geom is None or geom.is_empty:
        return IMG[:0, 0]
    if geom.geom_type == "MultiPolygon":  # rasterio skips one with an empty part whole
        geom = shapely.MultiPolygon([part for part in geom.geoms if not part.is_empty])
    return IMG[~geometry_mask([geom], IMG.shape, Affine.identity())]


def _check(frame, geoms, ids=None):
    ids = list(range(len(geoms))) if ids is None else ids
    assert frame.index.tolist() == ids
    for zid, geom in zip(ids, geoms, strict=True):
        values = _oracle(geom)
        assert frame.loc[zid, "count"] == values.size
        if values.size:
            assert frame.loc[zid, "median"] == np.median(values)
            assert frame.loc[zid, "max"] == values.max()
        else:
            assert np.isnan(frame.loc[zid, "median"])


def _mixed():
    """Polygons, MultiPolygons, holes, Z, empty and missing geometries, one outside the image
    and one larger than it."""
    outer = shapely.box(5.2, 6.1, 40.7, 50.3)
    return [
        shapely.Polygon(outer.exterior, [shapely.box(10.5, 12.5, 20.5, 30.5).exterior]),
        None,
        shapely.MultiPolygon(
            [shapely.box(50.3, 2.2, 60.8, 9.9), shapely.box(70.1, 40.2, 85.9, 66)]
        ),
        shapely.Polygon(),
        shapely.Polygon([(30.4, 30.2, 7.0), (66.1, 35.3, 8.0), (45.5, 60.7, 9.0)]),
        shapely.box(200, 200, 300, 300),
        shapely.box(-50, -50, 500, 500),
        shapely.from_wkt("MULTIPOLYGON (EMPTY, ((1 60, 30 60, 30 69, 1 60)))"),
    ]


def test_a_mixed_list_and_array_equal_the_oracle():
    geoms = _mixed()
    _check(imgstats.zonal(IMG, geoms, ["median", "max"]), geoms)
    _check(imgstats.zonal(IMG, np.array(geoms, dtype=object), ["median", "max"]), geoms)


def test_the_answers_equal_the_geojson_path():
    geoms = [g for g in _mixed() if g is not None]
    fast = imgstats.zonal(IMG, geoms, ["mean", "p90", "min"])
    slow = imgstats.zonal(IMG, [g.__geo_interface__ for g in geoms], ["mean", "p90", "min"])
    pd.testing.assert_frame_equal(fast, slow)


def test_many_random_polygons_equal_the_oracle():
    rng = np.random.default_rng(7)
    n = 300
    pts = shapely.points(rng.uniform(-5, 95, n), rng.uniform(-5, 75, n))
    geoms = list(shapely.buffer(pts, rng.uniform(0.3, 9, n), quad_segs=rng.integers(1, 4)))
    geoms[::7] = [shapely.box(x, y, x + 3.3, y + 2.7) for x, y in rng.uniform(0, 60, (43, 2))]
    _check(imgstats.zonal(IMG, geoms, ["median", "max"]), geoms)


def test_a_degenerate_or_non_polygon_geometry_names_its_index():
    geoms = [shapely.box(1, 1, 5, 5), shapely.Polygon([(1, 1), (2, 2), (3, 3)])]
    with pytest.raises(InvalidOption, match="feature 1: degenerate polygon"):
        imgstats.zonal(IMG, geoms, ["mean"])
    with pytest.raises(InvalidOption, match="feature 1: unsupported geometry type 'Point'"):
        imgstats.zonal(IMG, np.array([geoms[0], shapely.Point(1, 1)]), ["mean"])
    with pytest.raises(InvalidOption, match="feature 2: coordinates must be finite"):
        imgstats.zonal(IMG, [geoms[0], None, shapely.box(1, 1, np.inf, 4)], ["mean"])


class TestGeopandas:
    gpd = pytest.importorskip("geopandas")

    def frame(self):
        geoms = _mixed()
        names = [f"n{i}" for i in range(len(geoms))]
        return self.gpd.GeoDataFrame({"name": names}, geometry=geoms, index=range(10, 18))

    def test_a_frame_and_its_series_are_read_whole_with_their_index_as_ids(self):
        gdf = self.frame()
        ids = [str(i) for i in range(10, 18)]  # geopandas' __geo_interface__ ids
        _check(imgstats.zonal(IMG, gdf, ["median", "max"]), list(gdf.geometry), ids)
        _check(imgstats.zonal(IMG, gdf.geometry, ["median", "max"]), list(gdf.geometry), ids)
        _check(imgstats.zonal(IMG, gdf.geometry.values, ["median", "max"]), list(gdf.geometry))

    def test_the_frame_equals_its_geojson(self):
        gdf = self.frame()
        for kwargs in ({}, {"id_property": "name"}):
            fast = imgstats.zonal(IMG, gdf, ["mean", "p25"], **kwargs)
            slow = imgstats.zonal(IMG, gdf.__geo_interface__, ["mean", "p25"], **kwargs)
            pd.testing.assert_frame_equal(fast, slow)

    def test_a_missing_id_property_is_refused(self):
        with pytest.raises(InvalidOption, match="feature 0: the feature has no property 'nom'"):
            imgstats.zonal(IMG, self.frame(), ["mean"], id_property="nom")
        gdf = self.frame()
        gdf["name"] = [1.0, np.nan] + [float(i) for i in range(2, 8)]
        with pytest.raises(InvalidOption, match="feature 1: a zone id is"):
            imgstats.zonal(IMG, gdf, ["mean"], id_property="name")


def test_a_layer_of_missing_geometries_only_is_empty_zones():
    # shapely.to_ragged_array finds no geometry type in [None, None]: a ValueError escaped
    frame = imgstats.zonal(IMG, np.array([None, None], dtype=object), ["median"])
    assert frame.index.tolist() == [0, 1] and frame["count"].tolist() == [0, 0]
    assert frame["median"].isna().all()


def test_pandas_missing_value_is_a_missing_geometry():
    # an object Series holds NaN for a missing value: it was "not a GeoJSON object but a float"
    geoms = pd.Series([np.nan, shapely.box(1, 1, 5, 5)], dtype=object)
    frame = imgstats.zonal(IMG, geoms, ["median"])
    assert frame["count"].tolist() == [0, 16]
    assert frame.loc[1, "median"] == np.median(IMG[1:5, 1:5])


def test_a_geodataframe_without_any_geometry_is_empty_zones():
    gpd = pytest.importorskip("geopandas")
    frame = imgstats.zonal(IMG, gpd.GeoDataFrame(geometry=[None, None]), ["median"])
    assert frame.index.tolist() == ["0", "1"] and frame["count"].tolist() == [0, 0]
