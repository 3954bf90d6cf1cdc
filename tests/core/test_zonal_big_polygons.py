"""A polygon of more than 10,000 vertices (a coastline, a GADM boundary) is a zone of the
library's ``zonal``: it was refused ("a polygon has more than 10000 vertices"), a limit of
the service's request bodies that the scanline rasterizer does not need. The service keeps
it (``PolygonLayer.parse``). rasterio's ``geometry_mask`` and numpy are the oracle.
"""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.features import geometry_mask
from rasterio.transform import Affine

import imgstats
from imgstats.errors import InvalidOption
from imgstats.zones import PolygonLayer

shapely = pytest.importorskip("shapely")

IMG = np.random.default_rng(10).integers(0, 60000, (200, 220)).astype(np.uint16)


def _coastline(n: int):
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 80 + 9 * np.sin(ang * 997)
    return shapely.Polygon(np.column_stack((110.3 + r * np.cos(ang), 100.7 + r * np.sin(ang))))


def test_a_polygon_of_50000_vertices_is_a_zone():
    poly = _coastline(50_000)
    values = IMG[~geometry_mask([poly], IMG.shape, Affine.identity())]
    for zones in ([poly], [poly.__geo_interface__]):
        frame = imgstats.zonal(IMG, zones, ["median", "max"])
        assert frame.loc[0, "count"] == values.size
        assert frame.loc[0, "median"] == np.median(values) and frame.loc[0, "max"] == values.max()


def test_the_service_keeps_its_limit_per_polygon():
    layer = {"type": "FeatureCollection", "features": [_coastline(20_000).__geo_interface__]}
    with pytest.raises(InvalidOption, match="feature 0: a polygon has more than 10000 vertices"):
        PolygonLayer.parse(layer)
