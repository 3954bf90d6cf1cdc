"""A pixel polygon's ``map_axes`` member (which way map north lies, set by a map region) is
checked as any member a caller may send: a bad one is an InvalidOption (a 400 over HTTP),
never a ValueError from deep in the rasterizer (a 500)."""

import json

import numpy as np
import pytest

import imgstats
from imgstats.errors import InvalidOption

RING = [[0.5, 0.5], [30, 0.5], [30, 20.5], [0.5, 20.5], [0.5, 0.5]]
BAD = [
    "abc",
    [1, 2],
    [1, 2, 3],
    [0, 0, 0, 0],
    [1, 2, 2, 4],
    [1, 0, 0, float("nan")],
    [True, 0, 0, 1],
]


def polygon(axes):
    return {"type": "Polygon", "coordinates": [RING], "map_axes": axes}


@pytest.mark.parametrize("axes", BAD, ids=repr)
def test_a_bad_map_axes_is_refused_by_name(axes):
    data = np.arange(40 * 50, dtype=np.uint16).reshape(40, 50)
    with pytest.raises(InvalidOption, match="map_axes"):
        imgstats.compute(data, "count", polygon=polygon(axes))


@pytest.mark.parametrize("scale", [1e-300, 1.0, 1e300])
def test_only_the_axes_directions_count(scale):
    """Huge or tiny axes (a transform in degrees or in micrometres) give the pixels of the
    same directions: no overflow, no refusal."""
    data = np.arange(40 * 50, dtype=np.uint16).reshape(40, 50)
    want = imgstats.compute(data, ["count", "sum"], polygon=polygon([1, 0, 0, -1]))
    got = imgstats.compute(data, ["count", "sum"], polygon=polygon([scale, 0, 0, -scale]))
    assert got == want


def test_a_bad_map_axes_over_http_is_a_400_and_the_server_keeps_serving():
    from imgstats.data import gallery_path
    from imgstats.web import create_app

    client = create_app({"IMAGES": str(gallery_path()), "WARMUP": False}).test_client()
    for axes in BAD[:4]:
        body = {"funcs": ["count"], "polygon": polygon(axes)}
        r = client.post("/stats/IMG_1.jpg", data=json.dumps(body), content_type="application/json")
        assert r.status_code == 400, r.get_data(as_text=True)
        assert "map_axes" in r.json["error"]
    r = client.get("/stats/IMG_1.jpg/count")
    assert r.status_code == 200 and r.json["count"] > 0
