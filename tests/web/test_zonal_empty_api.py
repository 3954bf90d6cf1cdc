"""POST /zonal: a feature of null or empty geometry is answered as an empty zone (count 0,
null statistics) beside the others, not a 400 that loses every other feature's answer."""

from __future__ import annotations

import json

import imgstats

SQUARE = [[30, 30], [70, 30], [70, 60], [30, 60], [30, 30]]


def post(client, image, body):
    return client.post(f"/zonal/{image}", data=json.dumps(body), content_type="application/json")


def test_null_and_empty_geometries_are_empty_zones(client, images):
    square = {"type": "Polygon", "coordinates": [SQUARE]}
    zones = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": "s", "properties": {}, "geometry": square},
            {"type": "Feature", "id": "null", "properties": {}, "geometry": None},
            {
                "type": "Feature",
                "id": "empty",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": []},
            },
        ],
    }
    r = post(client, "IMG_12_uint16.tif", {"funcs": ["median"], "zones": zones})
    assert r.status_code == 200, r.json
    props = {f["id"]: f["properties"] for f in r.json["features"]}
    want = imgstats.compute(images / "IMG_12_uint16.tif", "median", polygon=SQUARE)
    assert props["s"]["median"] == want and props["s"]["count"] > 0
    assert props["null"] == {"median": None, "count": 0}
    assert props["empty"] == {"median": None, "count": 0}
    assert r.json["features"][1]["geometry"] is None
