"""POST /zonal writes numbers by /stats's rules: an integer image's min and max are JSON
integers (``3``, not ``3.0``) even when another zone is empty, and an empty zone is null."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

FUNCS = ["min", "max", "median", "count"]


def box(x0, y0, x1, y1):
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def post(client, image, zones):
    body = json.dumps({"funcs": FUNCS, "zones": zones})
    r = client.post(f"/zonal/{image}", data=body, content_type="application/json")
    assert r.status_code == 200, r.json
    return r.json


@pytest.fixture
def grey(images):
    """A uint8 image whose top-left quarter is its nodata (0), and a label raster."""
    img = (np.arange(100, dtype=np.uint8).reshape(10, 10) + 3).astype(np.uint8)
    img[:5, :5] = 0
    tifffile.imwrite(images / "nd.tif", img, extratags=[(42113, "s", 0, "0", True)])
    labels = np.zeros((10, 10), np.uint8)
    labels[:5, :5], labels[5:, 5:] = 1, 2
    tifffile.imwrite(images / "labels.tif", labels)
    return img


@pytest.mark.parametrize("empty", ["nodata only", "outside the image"])
def test_polygons_min_max_are_integers_beside_an_empty_zone(client, grey, empty):
    hollow = box(0, 0, 5, 5) if empty == "nodata only" else box(50, 50, 60, 60)
    zones = {"type": "FeatureCollection", "features": [box(5, 5, 10, 10), hollow]}
    full, none = (f["properties"] for f in post(client, "nd.tif", zones)["features"])
    stats = client.get("/stats/nd.tif/min?window=5,5,10,10").json
    want = grey[5:, 5:]
    assert full["min"] == stats["value"] == int(want.min())
    assert type(full["min"]) is type(stats["value"]) is int
    assert full["max"] == int(want.max()) and type(full["max"]) is int
    assert full["median"] == float(np.median(want)) and full["count"] == want.size
    assert none == {"min": None, "max": None, "median": None, "count": 0}


def test_labels_min_max_are_integers_beside_an_empty_zone(client, grey):
    rows = post(client, "nd.tif", {"labels": "labels.tif"})["rows"]
    assert rows[0] == {"zone": 1, "min": None, "max": None, "median": None, "count": 0}
    want = grey[5:, 5:]
    assert rows[1] == {
        "zone": 2,
        "min": int(want.min()),
        "max": int(want.max()),
        "median": float(np.median(want)),
        "count": want.size,
    }
    assert type(rows[1]["min"]) is int and type(rows[1]["max"]) is int


def test_float_images_keep_float_min_max(client, images):
    img = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)
    tifffile.imwrite(images / "f.tif", img)
    zones = {"type": "FeatureCollection", "features": [box(0, 0, 10, 10), box(50, 50, 60, 60)]}
    full, none = (f["properties"] for f in post(client, "f.tif", zones)["features"])
    assert full["min"] == 0.0 and type(full["min"]) is float and full["max"] == 1.0
    assert none["min"] is None
