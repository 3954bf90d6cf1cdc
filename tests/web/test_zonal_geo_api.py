"""POST /zonal with polygons in map coordinates: ``"crs": "raster"`` or a CRS reprojected
with pyproj; bad ``crs`` values are 400s, never 500s."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

import imgstats

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")
T = Affine(10.0, 0.0, 500000, 0.0, -10.0, 4000000)
RING = [[500103.3, 3999107.7], [501501.9, 3999303.1], [501207.2, 3999893.4], [500103.3, 3999107.7]]


@pytest.fixture
def geotiff(images):
    data = np.random.default_rng(3).integers(0, 1000, (1, 120, 200)).astype(np.uint16)
    with rasterio.open(
        images / "geo.tif", "w", driver="GTiff", width=200, height=120, count=1,
        dtype="uint16", crs="EPSG:32633", transform=T,
    ) as dst:  # fmt: skip
        dst.write(data)
    return images / "geo.tif"


def post(client, image, body):
    return client.post(f"/zonal/{image}", data=json.dumps(body), content_type="application/json")


def fc(ring):
    geometry = {"type": "Polygon", "coordinates": [ring]}
    return {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": geometry}]}


def test_map_coordinates_in_the_rasters_crs_and_in_lon_lat(client, geotiff):
    from pyproj import Transformer

    want = imgstats.compute(
        geotiff, ["median", "count"], geometry={"type": "Polygon", "coordinates": [RING]}
    )
    r = post(client, "geo.tif", {"funcs": ["median"], "zones": fc(RING), "crs": "raster"})
    assert r.status_code == 200, r.get_json()
    props = r.get_json()["features"][0]["properties"]
    assert props == want
    to_lonlat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    lonlat = [list(to_lonlat.transform(x, y)) for x, y in RING]
    r = post(client, "geo.tif", {"funcs": ["median"], "zones": fc(lonlat), "crs": "OGC:CRS84"})
    assert r.status_code == 200 and r.get_json()["features"][0]["properties"] == want


def test_a_feature_collection_that_names_its_crs_is_in_that_crs(client, geotiff):
    # before: its coordinates were read as pixels: every zone empty (count 0, null values)
    want = imgstats.compute(
        geotiff, ["median", "count"], geometry={"type": "Polygon", "coordinates": [RING]}
    )
    zones = fc(RING) | {"crs": {"type": "name", "properties": {"name": "EPSG:32633"}}}
    r = post(client, "geo.tif", {"funcs": ["median"], "zones": zones})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["features"][0]["properties"] == want
    r = post(client, "IMG_1.jpg", {"funcs": ["median"], "zones": zones})
    assert r.status_code == 400 and "georeferencing" in r.get_json()["error"]


@pytest.mark.parametrize(
    ("image", "extra", "match"),
    [
        ("IMG_1.jpg", {"crs": "raster"}, "georeferencing"),
        ("geo.tif", {"crs": "EPSG:nope"}, "unknown CRS"),
        ("geo.tif", {"crs": 4326}, "crs"),
        ("geo.tif", {"crs": ""}, "crs"),
        ("geo.tif", {"crs": "raster", "zones": {"labels": "geo.tif"}}, "polygons"),
    ],
)
def test_bad_crs_is_a_400(client, geotiff, image, extra, match):
    body = {"funcs": ["median"], "zones": fc(RING), **extra}
    r = post(client, image, body)
    assert r.status_code == 400 and match in r.get_json()["error"], r.get_json()
