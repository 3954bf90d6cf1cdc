"""``polygon=`` and ``geometry=`` take a MultiPolygon (the union of its parts), as zonal does.

A field of several parcels, a shapely MultiPolygon, a geopandas row's geometry: it was
refused by ``compute`` ("a GeoJSON polygon must be {'type': 'Polygon', ...}, not type
'MultiPolygon'") while ``zonal`` took it. rasterio's ``geometry_mask`` (pixel centres) is the
oracle of the pixels, numpy of the numbers.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import tifffile
import xarray as xr
from rasterio.features import geometry_mask
from rasterio.transform import Affine

import imgstats
from imgstats.errors import InvalidOption

shapely = pytest.importorskip("shapely")
from shapely.geometry import MultiPolygon, Polygon, box  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

IMG = np.random.default_rng(1313).integers(0, 9000, (64, 80)).astype(np.uint16)
HOLED = Polygon(
    [(40.1, 10.2), (79.3, 12.7), (60.2, 60.1)], [[(55.1, 20.3), (65.2, 22.1), (60.3, 35.4)]]
)
PARTS = MultiPolygon([box(3.3, 2.1, 20.7, 30.2), HOLED, box(10.2, 20.3, 30.6, 40.1)])  # overlap


def _values(geom, transform=None, window=None):
    inside = ~geometry_mask([geom], IMG.shape, transform or Affine.identity())
    if window is not None:
        x0, y0, x1, y1 = window
        cut = np.zeros_like(inside)
        cut[y0:y1, x0:x1] = True
        inside &= cut
    return IMG[inside]


@pytest.mark.parametrize("as_", ["shapely", "geojson", "feature"])
@pytest.mark.parametrize("data", ["numpy", "dask", "tiff"])
def test_a_multipolygon_is_the_union_of_its_parts(tmp_path, as_, data):
    geo = PARTS.__geo_interface__
    polygon = {
        "shapely": PARTS,
        "geojson": geo,
        "feature": {"type": "Feature", "geometry": geo, "properties": {}},
    }[as_]
    source = {"numpy": IMG, "dask": da.from_array(IMG, chunks=(17, 23))}.get(data)
    if source is None:
        source = tmp_path / "img.tif"
        tifffile.imwrite(source, IMG, tile=(16, 16))
    v = _values(PARTS)
    got = imgstats.compute(source, ["count", "median", "p90"], polygon=polygon)
    assert got == {"count": v.size, "median": np.median(v), "p90": np.percentile(v, 90)}
    window = (10, 5, 70, 50)
    v = _values(PARTS, window=window)
    got = imgstats.compute(source, ["count", "median"], polygon=polygon, window=window)
    assert got == {"count": v.size, "median": np.median(v)}


def test_with_dim_and_a_window():
    arr = xr.DataArray(np.stack([IMG, IMG // 2]), dims=("time", "y", "x"))
    window = (10, 5, 70, 50)
    got = imgstats.compute(arr, "median", dim=("y", "x"), polygon=PARTS, window=window)
    v = _values(PARTS, window=window)
    assert got.values.tolist() == [np.median(v), np.median(v // 2)]


def test_a_multipolygon_in_map_coordinates():
    transform = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)
    arr = xr.DataArray(
        IMG, dims=("y", "x"), attrs={"transform": tuple(transform)[:6], "crs": "EPSG:32633"}
    )
    parts = shapely.affinity.affine_transform(PARTS, transform.to_shapely())
    got = imgstats.compute(arr, ["count", "median"], geometry=parts.__geo_interface__)
    v = _values(parts, transform)
    assert got == {"count": v.size, "median": np.median(v)}


@pytest.mark.parametrize(
    "polygon, match",
    [
        ({"type": "MultiPolygon", "coordinates": []}, "non-empty list of polygons"),
        (
            {"type": "MultiPolygon", "coordinates": [[[[0, 0], [5, 0], [0, 5]]], [[[0, 0]]]]},
            "MultiPolygon part 1: .*3 distinct vertices",
        ),
    ],
)
def test_bad_multipolygons(polygon, match):
    with pytest.raises(InvalidOption, match=match):
        imgstats.compute(IMG, "count", polygon=polygon)
