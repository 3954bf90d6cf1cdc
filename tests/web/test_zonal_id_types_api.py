"""POST /zonal: zone ids ``1`` and ``"1"`` are two features, each answered with its own id
(see tests/core/test_zonal_id_types.py)."""

from __future__ import annotations

import json

import numpy as np

import imgstats


def _square(x0, y0):
    ring = [[x0, y0], [x0 + 9, y0], [x0 + 9, y0 + 9], [x0, y0 + 9], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def test_a_number_and_its_text_are_two_features(client, images):
    zones = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": 1, "geometry": _square(0, 0), "properties": {}},
            {"type": "Feature", "id": "1", "geometry": _square(20, 20), "properties": {}},
        ],
    }
    body = {"funcs": ["max"], "zones": zones}
    r = client.post("/zonal/IMG_1.jpg", data=json.dumps(body), content_type="application/json")
    assert r.status_code == 200, r.json
    features = r.json["features"]
    assert [f["id"] for f in features] == [1, "1"]
    for f in features:
        ring = f["geometry"]["coordinates"][0]
        assert f["properties"]["max"] == imgstats.compute(images / "IMG_1.jpg", "max", polygon=ring)
        assert np.isfinite(f["properties"]["max"])
