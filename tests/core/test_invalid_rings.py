"""Invalid polygons (bow ties, holes outside their exterior, overlapping holes and parts),
rasterized as rasterio rasterizes them, and edge pixels as GDAL fills them on a north-up
raster.

rasterio's ``geometry_mask`` (GDAL's scanline, by pixel centre) is the oracle. GDAL fills a
polygon even-odd over *all* its rings, each part of a MultiPolygon on its own: a hole outside
its exterior is filled, where two holes overlap is inside. imgstats subtracted each hole
(60 pixels of a shape rasterio gives 105) and kept only the exterior's box. GDAL also fills
the horizontal edges that run towards smaller x once it turns each ring clockwise *in map
coordinates*: on a north-up raster a box whose edges lie on rows of pixel centres has both
edge rows (30 pixels where imgstats counted 24), and a self-intersecting ring's edge pixels
follow GDAL's choice of its orientation (its lowest, then rightmost vertex).
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from rasterio.features import geometry_mask
from rasterio.transform import Affine

import imgstats
from imgstats.errors import InvalidOption
from imgstats.regions import point_in_part, polygon_rings

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
H, W = 24, 26
DATA = np.random.default_rng(0).normal(size=(H, W))


def _box(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


SHAPES = {
    "bow tie": {"type": "Polygon", "coordinates": [[[2, 2], [18, 18], [18, 2], [2, 18], [2, 2]]]},
    "hole across the exterior": {
        "type": "Polygon",
        "coordinates": [_box(2, 2, 10, 10), _box(8, 8, 15, 15)],
    },
    "hole outside": {"type": "Polygon", "coordinates": [_box(2, 2, 10, 10), _box(12, 12, 15, 15)]},
    "overlapping holes": {
        "type": "Polygon",
        "coordinates": [_box(1, 1, 19, 19), _box(3, 3, 10, 10), _box(6, 6, 14, 14)],
    },
    "overlapping parts": {
        "type": "MultiPolygon",
        "coordinates": [[_box(2, 2, 10, 10)], [_box(6, 6, 15, 15)]],
    },
    "spiral": {
        "type": "Polygon",
        "coordinates": [[[2, 2], [16, 2], [16, 16], [4, 16], [4, 4], [12, 4], [12, 12], [2, 12]]],
    },
    "traced twice": {
        "type": "Polygon",
        "coordinates": [[[2, 2], [14, 2], [14, 14], [2, 14], [2, 2], [14, 2], [14, 14], [2, 14]]],
    },
    "edges on centre rows": {
        "type": "Polygon",
        "coordinates": [[[3, 2.5], [20, 2.5], [20, 4.5], [-1, 4.5], [9, 2.5], [9, 9.5], [3, 9.5]]],
    },
}


IDENTITY = Affine.identity()


def _check(table, geoms, transform=IDENTITY):
    for i, geom in enumerate(geoms):
        want = DATA[~geometry_mask([geom], (H, W), transform)]
        assert table.loc[i, "count"] == want.size, (i, geom)
        if want.size:
            assert table.loc[i, "median"] == np.median(want)
            assert table.loc[i, "max"] == want.max()


@pytest.mark.parametrize("name", list(SHAPES))
def test_an_invalid_polygon_is_filled_as_rasterio_fills_it(name):
    geom = SHAPES[name]
    want = DATA[~geometry_mask([geom], (H, W), Affine.identity())]
    chunked = da.from_array(DATA, chunks=((5, 11, 8), (7, 19)))
    for image in (DATA, chunked):
        _check(imgstats.zonal(image, [geom], ["median", "max"]), [geom])
        if want.size:
            got = imgstats.compute(image, ["count", "median"], polygon=geom)
            assert got == {"count": want.size, "median": np.median(want)}


def _coord(rng, lo, hi):
    kind = rng.integers(0, 3)
    if kind == 0:
        return float(rng.integers(lo, hi))
    if kind == 1:
        return rng.integers(2 * lo, 2 * hi) / 2  # on rows and columns of pixel centres
    return round(float(rng.uniform(lo, hi)), 2)


def _ring(rng):
    """A ring of 3 to 8 vertices, most edges horizontal: zigzags that cross themselves and
    run back along a row of centres."""
    pts = []
    for _ in range(int(rng.integers(3, 9))):
        y = pts[-1][1] if pts and rng.random() < 0.6 else _coord(rng, -2, H + 2)
        pts.append([_coord(rng, -2, W + 2), y])
    return pts + pts[:1]


def _layer(seed, n=80):
    rng = np.random.default_rng(seed)
    layer = []
    while len(layer) < n:
        rings = [_ring(rng) for _ in range(int(rng.integers(1, 4)))]
        geom = {"type": "Polygon", "coordinates": rings}
        try:
            polygon_rings(geom)
        except InvalidOption:
            continue  # degenerate: refused, as tests/core/test_zonal_polygons.py checks
        layer.append(geom)
    return layer


@pytest.mark.parametrize("seed", range(3))
def test_self_intersecting_rings_on_rows_of_centres_equal_rasterio(seed):
    layer = _layer(seed)
    _check(imgstats.zonal(DATA, layer, ["median", "max"]), layer)
    # the oracle of the property tests says the same
    yy, xx = np.mgrid[0:H, 0:W]
    for geom in layer:
        inside = point_in_part(polygon_rings(geom), xx + 0.5, yy + 0.5)
        np.testing.assert_array_equal(inside, ~geometry_mask([geom], (H, W), Affine.identity()))


@pytest.mark.parametrize("seed", range(2))
def test_on_a_north_up_raster_edge_pixels_are_gdals(seed):
    t = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)
    img = xr.DataArray(
        DATA, dims=("y", "x"), attrs={"transform": tuple(t)[:6], "crs": "EPSG:32633"}
    )
    layer = [
        {
            "type": "Polygon",
            "coordinates": [[list(t @ tuple(p)) for p in r] for r in g["coordinates"]],
        }
        for g in _layer(seed, 40)
    ]
    box = {
        "type": "Polygon",
        "coordinates": [[list(t @ p) for p in [(2.5, 2.5), (8.5, 2.5), (8.5, 6.5), (2.5, 6.5)]]],
    }
    layer.append(box)  # a valid box, its edges on rows 2 and 6 of centres: both rows count
    _check(imgstats.zonal(img, layer, ["median", "max"], crs="raster"), layer, t)
    assert (~geometry_mask([box], (H, W), t)).sum() == 30
    for geom in layer[-6:]:
        want = DATA[~geometry_mask([geom], (H, W), t)]
        if want.size:
            got = imgstats.compute(img, ["count", "max"], geometry=geom, crs="raster")
            assert got == {"count": want.size, "max": want.max()}


@pytest.mark.parametrize(
    "t",
    [
        Affine(0.3, 0.0, 7.1, 0.0, 0.3, 3.0),  # south-up
        Affine.translation(10.1, 40.3) @ Affine.rotation(-70) @ Affine.scale(0.3, 0.3),
    ],
    ids=["south-up", "rotated"],
)
def test_map_vertices_land_on_the_pixels_gdal_computes(t):
    """A vertex on a row of pixel centres, placed with affine's ``~t`` rather than GDAL's
    inverse geotransform, landed a last bit off the row: a whole edge row other than
    rasterio's (64 pixels where it gives 56 on the south-up raster)."""
    img = xr.DataArray(
        DATA, dims=("y", "x"), attrs={"transform": tuple(t)[:6], "crs": "EPSG:32633"}
    )
    boxes = [
        [(1.5, 3.5), (9.5, 3.5), (9.5, 11.5), (1.5, 11.5)],
        [(2, 2.5), (8, 2.5), (8, 6.5), (2, 6.5)],
    ]
    layer = [{"type": "Polygon", "coordinates": [[list(t @ p) for p in b + b[:1]]]} for b in boxes]
    _check(imgstats.zonal(img, layer, ["median", "max"], crs="raster"), layer, t)
    for geom in layer:
        want = DATA[~geometry_mask([geom], (H, W), t)]
        got = imgstats.compute(img, ["count", "max"], geometry=geom, crs="raster")
        assert got == {"count": want.size, "max": want.max()}


def test_a_crossing_at_a_vertex_is_computed_from_the_lower_end_as_gdal_does():
    """GDAL computes an edge's crossing from its lower-y end: at that end's own row it is the
    vertex's x exactly. From the other end it came out a last bit left of a centre at
    ``x = 0.5`` (pixel 0 of row 11 counted, which rasterio leaves out)."""
    geom = {
        "type": "Polygon",
        "coordinates": [[[24.0, 24.999999999999996], [0.5, 11.5], [5.0, 11.5], [16.0, 11.5]]],
    }
    closed = {
        "type": "Polygon",
        "coordinates": [geom["coordinates"][0] + [[24.0, 24.999999999999996]]],
    }
    _check(imgstats.zonal(DATA, [geom], ["median", "max"]), [closed])
    yy, xx = np.mgrid[0:H, 0:W]
    inside = point_in_part(polygon_rings(geom), xx + 0.5, yy + 0.5)
    np.testing.assert_array_equal(inside, ~geometry_mask([closed], (H, W), IDENTITY))
