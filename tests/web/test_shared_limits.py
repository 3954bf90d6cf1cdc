"""Servers sharing one Redis with different ``PIXEL_LIMIT``s: each refuses what it would refuse
alone, whatever another server has already stored (a real redis-server)."""

from __future__ import annotations

import json

import pytest

from imgstats.web import create_app

pytestmark = pytest.mark.slow

SQUARE = [[10, 10], [60, 10], [60, 40], [10, 40], [10, 10]]
ZONES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
        }
    ],
}


def _app(images, url, **config):
    return create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False, **config})


def _zonal(client, body):
    return client.post("/zonal/IMG_1.jpg", data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    "ask",
    [
        lambda c: c.get("/stats/IMG_1.jpg/median"),
        lambda c: c.get("/stats/IMG_1.jpg/median?page=0"),
        lambda c: c.get("/stats/IMG_1.jpg/median?window=0,0,8,8"),
        lambda c: c.get("/stats/IMG_1*/median"),
        lambda c: _zonal(c, {"funcs": ["median"], "zones": ZONES}),
    ],
    ids=["whole", "page", "window", "collection", "zonal"],
)
def test_a_lower_limit_refuses_what_another_server_stored(images, redis_url, ask):
    url, _ = redis_url
    generous, strict = _app(images, url), _app(images, url, PIXEL_LIMIT=1000)
    try:
        assert ask(generous.test_client()).status_code == 200  # now in Redis
        r = ask(strict.test_client())  # was 200: the other server's summary or answer
        assert r.status_code == 413, r.get_json()
        assert r.get_json()["type"] == "ImageTooLarge"
        assert "over the limit of 1,000" in r.get_json()["error"]
    finally:
        for app in (generous, strict):
            app.extensions["imgstats"].close()
