"""POST /zonal answers cached in Redis (issue 17): shared by workers, keyed by the image's
version, the zones' digest, the functions and options; a replaced image is noticed.

The Redis tests run a real redis-server (slow tier), as the summary cache's tests do.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
import tifffile

import imgstats
import imgstats.zones
from imgstats.web import create_app

# Redis with a 5 s socket timeout (see the fixture): these tests count exactly
pytestmark = pytest.mark.usefixtures("patient_redis")


TRIANGLE = [[1.5, 2.0], [60.2, 10.7], [20.1, 45.9], [1.5, 2.0]]
SQUARE = [[30, 30], [70, 30], [70, 60], [30, 60], [30, 30]]


def layer(*rings):
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [r]},
            }
            for r in rings
        ],
    }


def post(client, image, body):
    return client.post(f"/zonal/{image}", data=json.dumps(body), content_type="application/json")


def _count_reads(monkeypatch):
    calls = []
    real = imgstats.zones.zonal

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(imgstats.zones, "zonal", counting)
    return calls


def _props(r):
    assert r.status_code == 200, r.get_json()
    return [f["properties"] for f in r.get_json()["features"]]


@pytest.mark.slow
def test_workers_share_zonal_answers_through_redis(images, redis_url, monkeypatch):
    url, _ = redis_url
    apps = [
        create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False}) for _ in range(3)
    ]
    try:
        body = {"funcs": ["median", "p99"], "zones": layer(TRIANGLE, SQUARE)}
        reads = _count_reads(monkeypatch)
        first = _props(post(apps[0].test_client(), "IMG_12_uint16.tif", body))
        assert len(reads) == 1
        # another worker, and a restarted one: the answer comes from Redis, no pixel read
        for app in apps[1:]:
            assert _props(post(app.test_client(), "IMG_12_uint16.tif", body)) == first
        assert len(reads) == 1
        want = imgstats.compute(images / "IMG_12_uint16.tif", ["median", "p99"], polygon=SQUARE)
        assert first[1]["median"] == want["median"] and first[1]["p99"] == want["p99"]
        # other functions, zones or options are other keys
        other = {"funcs": ["median"], "zones": layer(SQUARE)}
        post(apps[1].test_client(), "IMG_12_uint16.tif", other)
        post(apps[1].test_client(), "IMG_12_uint16.tif", {**body, "band": 0})
        assert len(reads) == 3
    finally:
        for app in apps:
            app.extensions["imgstats"].close()


@pytest.mark.slow
def test_a_replaced_image_is_noticed_through_redis(images, redis_url, monkeypatch):
    url, _ = redis_url
    path = images / "z.tif"
    tifffile.imwrite(path, np.full((80, 90), 7, np.uint16))
    apps = [
        create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False}) for _ in range(2)
    ]
    try:
        body = {"funcs": ["max"], "zones": layer(SQUARE)}
        assert _props(post(apps[0].test_client(), "z.tif", body))[0]["max"] == 7
        st = path.stat()
        tifffile.imwrite(path, np.full((80, 90), 9, np.uint16))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        reads = _count_reads(monkeypatch)
        for app in apps:
            assert _props(post(app.test_client(), "z.tif", body))[0]["max"] == 9
        assert len(reads) == 1  # read once, then shared
    finally:
        for app in apps:
            app.extensions["imgstats"].close()


def test_second_identical_request_reads_no_pixels(client, monkeypatch):
    body = {"funcs": ["mean"], "zones": layer(TRIANGLE)}
    reads = _count_reads(monkeypatch)
    a = _props(post(client, "IMG_12_uint16.tif", body))
    b = _props(post(client, "IMG_12_uint16.tif", body))
    assert a == b and len(reads) == 1


def test_a_big_chunked_body_is_a_413(app, client):
    """The app-wide limit bounds /zonal bodies, with or without a Content-Length."""
    app.config["MAX_CONTENT_LENGTH"] = 1000
    data = json.dumps({"funcs": ["median"], "zones": layer(*[TRIANGLE] * 40)}).encode()
    r = client.post(
        "/zonal/IMG_1.jpg",
        input_stream=io.BytesIO(data),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
        headers={"Transfer-Encoding": "chunked"},
    )
    assert r.status_code == 413 and "MAX_CONTENT_LENGTH" in r.get_json()["error"]
    small = json.dumps({"funcs": ["median"], "zones": layer(TRIANGLE)}).encode()
    r = client.post(
        "/zonal/IMG_1.jpg",
        input_stream=io.BytesIO(small),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
        headers={"Transfer-Encoding": "chunked"},
    )
    assert r.status_code == 200


@pytest.mark.slow
def test_an_answer_of_an_earlier_rasterization_rule_is_not_served(images, redis_url, monkeypatch):
    # the rule of a centre on an edge changed (GDAL's): zones answered under the earlier rule,
    # kept in Redis for days, would have been served for the new one
    import imgstats.web.zonal as zonal_module

    url, _ = redis_url
    body = {"funcs": ["median"], "zones": layer(SQUARE)}
    first = create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False})
    assert _props(post(first.test_client(), "IMG_12_uint16.tif", body))
    reads = _count_reads(monkeypatch)
    later = create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False})
    assert _props(post(later.test_client(), "IMG_12_uint16.tif", body))
    assert not reads  # the same rule: read from Redis
    monkeypatch.setattr(zonal_module, "RULE", "a later rule")
    latest = create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False})
    assert _props(post(latest.test_client(), "IMG_12_uint16.tif", body))
    assert len(reads) == 1  # another rule: computed again
