"""The summary cache: LRU slots, single-flight, and a real redis-server shared and killed."""

from __future__ import annotations

import threading
import time

import pytest
from web_helpers import free_port, stop

import imgstats
import imgstats.web.service as service_module
from imgstats.web import create_app
from imgstats.web.cache import RedisLayer, SlotCache


def test_slot_cache_is_a_bounded_lru():
    cache = SlotCache(2)
    assert cache.get_or_fill("a", lambda: 1) == 1
    assert cache.get_or_fill("b", lambda: 2) == 2
    assert cache.get_or_fill("a", lambda: 0) == 1  # hit: "a" becomes the most recent
    assert cache.get_or_fill("c", lambda: 3) == 3  # evicts "b"
    assert cache.get_or_fill("b", lambda: 20) == 20
    assert cache.cache_info().currsize == 2
    cache.cache_clear()
    assert cache.peek("a") is None


def test_single_flight():
    cache = SlotCache(8)
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return "value"

    out = []
    threads = [threading.Thread(target=lambda: out.append(cache.get_or_fill("k", slow)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert out == ["value"] * 8 and len(calls) == 1


def test_a_failed_fill_is_not_cached():
    cache = SlotCache(2)
    with pytest.raises(ZeroDivisionError):
        cache.get_or_fill("k", lambda: 1 / 0)
    assert cache.get_or_fill("k", lambda: 5) == 5


def test_redis_down_from_the_start_is_tolerated(images):
    url = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False})
    client = app.test_client()
    for func in ["mean", "p10", "max"]:
        assert client.get(f"/stats/IMG_11.png/{func}").status_code == 200
    assert not app.extensions["imgstats"].redis.available  # backing off
    app.extensions["imgstats"].close()


@pytest.mark.slow
def test_workers_share_summaries_through_redis(images, redis_url, monkeypatch):
    url, _ = redis_url
    first = create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False})
    second = create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False})
    try:
        value = first.test_client().get("/stats/IMG_13_float32.tif/p10").get_json()["value"]

        def no_pixels(*args, **kwargs):
            raise AssertionError("the second worker read pixels")

        monkeypatch.setattr(service_module, "summarize", no_pixels)
        monkeypatch.setattr(service_module, "refine", no_pixels)
        # the refined summary was stored back: the second process needs no pixel at all
        r = second.test_client().get("/stats/IMG_13_float32.tif/p10")
        assert r.status_code == 200 and r.get_json()["value"] == value
        assert value == imgstats.compute(str(images / "IMG_13_float32.tif"), "p10")
        # survives a "restart": a brand-new app finds it too
        third = create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False})
        assert third.test_client().get("/stats/IMG_13_float32.tif/min").status_code == 200
        third.extensions["imgstats"].close()
    finally:
        first.extensions["imgstats"].close()
        second.extensions["imgstats"].close()


@pytest.mark.slow
def test_single_flight_across_processes_through_redis(images, redis_url, monkeypatch):
    url, _ = redis_url
    apps = [create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False})
            for _ in range(3)]  # three "gunicorn workers"
    calls = []
    real = service_module.summarize

    def slow(*args, **kwargs):
        calls.append(1)
        time.sleep(0.4)
        return real(*args, **kwargs)

    monkeypatch.setattr(service_module, "summarize", slow)
    values = []
    threads = [threading.Thread(target=lambda a=a: values.append(
        a.test_client().get("/stats/IMG_14_int16.tif/p5").get_json()["value"])) for a in apps]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        expected = imgstats.compute(str(images / "IMG_14_int16.tif"), "p5")
        assert values == [expected] * 3
        assert len(calls) == 1
    finally:
        for a in apps:
            a.extensions["imgstats"].close()


@pytest.mark.slow
def test_redis_killed_mid_run(images, redis_url):
    url, proc = redis_url
    app = create_app({"IMAGES": str(images), "REDIS_URL": url, "REDIS_BACKOFF": 0.5,
                      "WARMUP": False})
    client = app.test_client()
    try:
        assert client.get("/stats/IMG_1.jpg/mean").status_code == 200
        stop(proc)
        app.extensions["imgstats"].cache_clear()  # force the Redis path
        for name in ["IMG_1.jpg", "IMG_11.png", "IMG_14_int16.tif"]:
            r = client.get(f"/stats/{name}/median")
            assert r.status_code == 200
            assert r.get_json()["value"] == imgstats.compute(str(images / name), "median")
        time.sleep(0.6)  # after the back-off Redis is tried again, and still fails quietly
        app.extensions["imgstats"].cache_clear()
        assert client.get("/stats/IMG_11.png/max").status_code == 200
    finally:
        app.extensions["imgstats"].close()


@pytest.mark.slow
def test_redis_layer_roundtrip(redis_url):
    url, _ = redis_url
    layer = RedisLayer(url, ttl=60)
    summary = imgstats.summarize(imgstats.open_image(
        imgstats.data.gallery_path() / "IMG_12_uint16.tif"))
    layer.set(("s", "n", "v"), summary)
    back = layer.get(("s", "n", "v"))
    assert back.compute(["min", "p50", "max"]) == summary.compute(["min", "p50", "max"])
    assert layer.get(("s", "n", "other")) is None
    layer.close()
