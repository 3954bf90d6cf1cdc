"""``compute(polygon=...)`` of a polygon of more than 10,000 vertices (a coastline, a
MultiPolygon of 10,000 small parts): the library refused it ("the polygon has more than
10000 vertices", the service's limit) while ``zonal`` took it. rasterio's
``geometry_mask`` and numpy are the oracle; the service keeps its limit.
"""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.features import geometry_mask
from rasterio.transform import Affine

import imgstats
from imgstats.errors import InvalidOption
from imgstats.regions import MAX_POLYGON_VERTICES, polygon_parts

IMG = np.random.default_rng(11).random((300, 320)).astype(np.float32)
FUNCS = ["median", "p99", "max", "count"]


def _coastline(n: int) -> dict:
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 120 + 9 * np.sin(ang * 997)
    ring = np.column_stack((160.3 + r * np.cos(ang), 150.7 + r * np.sin(ang)))
    return {"type": "Polygon", "coordinates": [np.vstack([ring, ring[:1]]).tolist()]}


def _squares() -> dict:  # 10,000 parts of 5 vertices
    return {
        "type": "MultiPolygon",
        "coordinates": [
            [[[x, y], [x + 1.7, y], [x + 1.7, y + 1.3], [x, y + 1.3], [x, y]]]
            for x in np.arange(0, 300, 3.0)
            for y in np.arange(0, 300, 3.0)
        ],
    }


@pytest.mark.parametrize("shape", [_coastline(60_000), _squares()], ids=["coast", "parts"])
def test_a_polygon_of_many_vertices_is_a_region(shape):
    values = IMG[~geometry_mask([shape], IMG.shape, Affine.identity())]
    got = imgstats.compute(IMG, FUNCS, polygon=shape)
    assert got == {
        "median": float(np.median(values)),
        "p99": float(np.percentile(values, 99)),
        "max": float(values.max()),
        "count": values.size,
    }
    xr = pytest.importorskip("xarray")
    stack = xr.DataArray(np.stack([IMG, IMG * 2]), dims=("t", "y", "x"))
    along = imgstats.compute(stack, "median", dim=("y", "x"), polygon=shape)
    assert along.values.tolist() == [np.median(values), np.median(values * 2)]


def test_the_service_keeps_its_limit():
    with pytest.raises(InvalidOption, match="more than 10000 vertices"):
        polygon_parts(_coastline(20_000))
    many = {
        "type": "Polygon",
        "coordinates": [[(i, i % 7) for i in range(MAX_POLYGON_VERTICES + 1)]],
    }
    with pytest.raises(InvalidOption, match="more than 10000 vertices"):
        polygon_parts(many)  # as tests/core/test_regions.py refused it of compute
