"""The caches: LRUs bounded in bytes, single-flight, and a real redis-server shared and killed."""

from __future__ import annotations

import gc
import threading
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np
import pytest
import tifffile
from web_helpers import free_port, stop

import imgstats
import imgstats.web.service as service_module
from imgstats.web import create_app
from imgstats.web.cache import ENTRY_OVERHEAD, ByteCache, CacheBudget, RedisLayer, weigh

# Redis with a 5 s socket timeout (see the fixture): these tests count exactly
pytestmark = pytest.mark.usefixtures("patient_redis")


def test_byte_cache_is_an_lru_bounded_in_bytes():
    item = ENTRY_OVERHEAD + weigh("a") + weigh(b"x" * 3000)
    cache = ByteCache(3 * item)
    for key in "abc":
        cache.get_or_fill(key, lambda: b"x" * 3000)
    assert cache.cache_info().currsize == 3
    assert cache.get_or_fill("a", lambda: b"new") == b"x" * 3000  # hit: "a" is the most recent
    cache.get_or_fill("d", lambda: b"y" * 3000)  # evicts "b", the least recently used
    assert cache.peek("b") is None and cache.peek("a") is not None
    info = cache.cache_info()
    assert info.currsize == 3 and info.nbytes <= info.maxbytes == 3 * item
    assert (info.hits, info.misses) == (1, 4)
    cache.cache_clear()
    assert cache.peek("a") is None and cache.cache_info().nbytes == 0


def test_an_entry_heavier_than_the_budget_is_answered_not_kept():
    cache = ByteCache(10_000)
    cache.get_or_fill("small", lambda: b"s" * 100)
    calls = []

    def big():
        calls.append(1)
        return b"b" * 20_000

    assert cache.get_or_fill("big", big) == b"b" * 20_000
    assert cache.get_or_fill("big", big) == b"b" * 20_000
    assert len(calls) == 2  # computed each time, never kept
    assert cache.peek("small") == b"s" * 100  # and it evicted nothing to make room
    assert cache.cache_info().nbytes <= 10_000


def test_caches_sharing_a_budget_share_one_bound_and_one_order():
    item = ENTRY_OVERHEAD + weigh(("k", 0)) + weigh(b"x" * 5000)
    budget = CacheBudget(3 * item)
    first, second = ByteCache(budget), ByteCache(budget)
    first.get_or_fill(("k", 0), lambda: b"x" * 5000)
    second.get_or_fill(("k", 1), lambda: b"x" * 5000)
    second.get_or_fill(("k", 2), lambda: b"x" * 5000)
    first.get_or_fill(("k", 3), lambda: b"x" * 5000)  # the oldest entry of both goes
    assert first.peek(("k", 0)) is None and second.peek(("k", 1)) is not None
    assert budget.nbytes <= budget.maxbytes
    second.cache_clear()  # clears its own entries only
    assert first.peek(("k", 3)) is not None and second.cache_info().currsize == 0


def test_replacing_a_value_reweighs_its_entry():
    cache = ByteCache(100_000)
    slot = cache.slot("k")
    with slot.lock:
        slot.value = b"x" * 1000
    light = cache.cache_info().nbytes
    with slot.lock:
        slot.value = b"x" * 50_000  # e.g. a summary replaced by its refined copy
    assert cache.cache_info().nbytes - light == weigh(b"x" * 50_000) - weigh(b"x" * 1000)
    with slot.lock:
        slot.value = b"x" * 200_000  # now heavier than the budget: dropped
    assert cache.peek("k") is None and cache.cache_info().nbytes == 0


def test_an_entry_being_filled_is_not_evicted():
    cache = ByteCache(4 * ENTRY_OVERHEAD + 4000)
    slot = cache.slot("filling")
    with slot.lock:  # a fill in progress
        for i in range(20):
            cache.get_or_fill(i, lambda: b"x" * 1000)
        assert cache.slot("filling") is slot  # still the same slot: single-flight holds
        slot.value = b"done"
    assert cache.peek("filling") == b"done"


@pytest.mark.parametrize("bands", [1, 8, 32])
def test_the_weight_of_a_summary_is_the_memory_it_holds(bands):
    arr = np.random.default_rng(0).integers(0, 65535, (16, 16, bands), dtype=np.uint16)
    imgstats.summarize(arr)  # compile and warm up outside the measurement
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        summary = imgstats.summarize(arr)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held >= bands * (1 << 16) * 8  # a 16-bit histogram per band
    assert 0.9 * held <= weigh(summary) <= 1.1 * held + 64 * 1024


def test_what_a_summary_keeps_besides_its_fields_is_weighed_too():
    summary = imgstats.summarize(np.arange(1000, dtype=np.uint16).reshape(10, 10, 10))
    before = weigh(summary)
    band = summary.bands[0]
    object.__setattr__(band, "_cumulative", np.cumsum(band.hist))  # e.g. a memoized result
    assert weigh(summary) - before >= band.hist.nbytes
    cache = ByteCache(1 << 30)
    slot = cache.slot("k")
    with slot.lock:
        slot.value = summary
        slot.value = summary  # assigning again re-weighs what it holds now
    assert cache.cache_info().nbytes >= weigh(summary)


def test_a_view_is_weighed_with_the_array_it_keeps_alive():
    base = np.zeros((8, 1 << 16), np.int64)
    assert weigh(base[0]) >= base.nbytes
    assert weigh([base[0], base[1]]) < 2 * base.nbytes  # one buffer, counted once


def test_other_objects_are_weighed_by_their_attributes():
    class Answer:
        def __init__(self):
            self.values = {"all": {"median": 1.0}}
            self.histogram = np.zeros(1 << 16, np.int64)

    @dataclass(frozen=True, slots=True)
    class Slotted:
        hist: np.ndarray

    assert weigh(Answer()) > (1 << 16) * 8
    assert weigh(Slotted(np.zeros(1 << 16, np.int64))) > (1 << 16) * 8


def test_single_flight():
    cache = ByteCache(1 << 20)
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return "value"

    out = []
    threads = [
        threading.Thread(target=lambda: out.append(cache.get_or_fill("k", slow))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert out == ["value"] * 8 and len(calls) == 1


def test_a_failed_fill_is_not_cached():
    cache = ByteCache(1 << 20)
    with pytest.raises(ZeroDivisionError):
        cache.get_or_fill("k", lambda: 1 / 0)
    assert cache.get_or_fill("k", lambda: 5) == 5


def _many_bands(folder, count: int, bands: int):
    rng = np.random.default_rng(1)
    names = []
    for i in range(count):
        arr = rng.integers(0, 65535, (16, 16, bands), dtype=np.uint16)
        names.append(f"bands_{i}.tif")
        tifffile.imwrite(folder / names[-1], arr, photometric="minisblack", planarconfig="contig")
    return names


def test_the_service_keeps_summaries_within_cache_bytes(images, monkeypatch):
    names = _many_bands(images, 5, 32)  # a summary of ~16.8 MB each
    app = create_app({"IMAGES": str(images), "CACHE_BYTES": 40 << 20, "WARMUP": False})
    service = app.extensions["imgstats"]
    client = app.test_client()
    calls = []
    real = service_module.summarize
    monkeypatch.setattr(
        service_module, "summarize", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    try:
        for name in names:
            r = client.get(f"/stats/{name}/median")
            assert r.status_code == 200
            assert r.get_json()["value"] == imgstats.compute(str(images / name), "median")
            info = service.summaries.cache_info()
            assert info.nbytes <= 40 << 20 and info.currsize <= 2
        assert info.nbytes >= 2 * 32 * (1 << 16) * 8  # weighed for real: two full summaries
        client.get(f"/stats/{names[-1]}/p10")  # the most recent is still cached
        assert len(calls) == len(names)
        client.get(f"/stats/{names[0]}/p10")  # the oldest was evicted: computed again
        assert len(calls) == len(names) + 1
    finally:
        service.close()


def test_a_summary_heavier_than_cache_bytes_is_answered_each_time(images, monkeypatch):
    (name,) = _many_bands(images, 1, 32)
    app = create_app({"IMAGES": str(images), "CACHE_BYTES": 8 << 20, "WARMUP": False})
    calls = []
    real = service_module.summarize
    monkeypatch.setattr(
        service_module, "summarize", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    client = app.test_client()
    expected = imgstats.compute(str(images / name), "max")
    try:
        for func in ["max", "min"]:
            r = client.get(f"/stats/{name}/{func}")
            assert r.status_code == 200
        assert r.get_json()["value"] == imgstats.compute(str(images / name), "min")
        assert client.get(f"/stats/{name}/max").get_json()["value"] == expected  # answer cached
        assert len(calls) == 2
        assert app.extensions["imgstats"].cache_budget.nbytes <= 8 << 20
    finally:
        app.extensions["imgstats"].close()


@pytest.mark.parametrize("value", ["-1", "lots"])
def test_cache_bytes_is_checked(images, value):
    with pytest.raises(imgstats.InvalidOption):
        create_app({"IMAGES": str(images), "CACHE_BYTES": value, "WARMUP": False})


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
    apps = [
        create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False}) for _ in range(3)
    ]  # three "gunicorn workers"
    calls = []
    real = service_module.summarize

    def slow(*args, **kwargs):
        calls.append(1)
        time.sleep(0.4)
        return real(*args, **kwargs)

    monkeypatch.setattr(service_module, "summarize", slow)
    values = []
    threads = [
        threading.Thread(
            target=lambda a=a: values.append(
                a.test_client().get("/stats/IMG_14_int16.tif/p5").get_json()["value"]
            )
        )
        for a in apps
    ]
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
    app = create_app(
        {"IMAGES": str(images), "REDIS_URL": url, "REDIS_BACKOFF": 0.5, "WARMUP": False}
    )
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
    layer = RedisLayer(url, ttl=60, timeout=5.0)
    summary = imgstats.summarize(
        imgstats.open_image(imgstats.data.gallery_path() / "IMG_12_uint16.tif")
    )
    layer.set(("s", "n", "v"), summary)
    back = layer.get(("s", "n", "v"))
    assert back.compute(["min", "p50", "max"]) == summary.compute(["min", "p50", "max"])
    assert layer.get(("s", "n", "other")) is None
    layer.close()


def test_a_zero_budget_keeps_nothing_but_still_computes_once_per_flight():
    """The fill is held until the second caller has found its slot (a hit), not for a time:
    after a 0.3 s fill a second caller delayed by a busy machine found nothing kept, and
    filled again."""
    cache = ByteCache(0)
    calls = []
    started, release = threading.Event(), threading.Event()

    def slow():
        calls.append(1)
        started.set()
        release.wait(30)
        return b"v"

    first = threading.Thread(target=cache.get_or_fill, args=("k", slow))
    first.start()
    started.wait(30)
    second = []
    follower = threading.Thread(target=lambda: second.append(cache.get_or_fill("k", slow)))
    follower.start()
    deadline = time.monotonic() + 30
    while cache.cache_info().hits < 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # the second caller finds the slot of the fill in flight
    release.set()
    follower.join(30)
    first.join(30)
    assert second == [b"v"]  # waited for the fill in flight
    assert len(calls) == 1
    assert cache.peek("k") is None and cache.cache_info().nbytes == 0
    assert cache.get_or_fill("k", lambda: b"w") == b"w"  # nothing kept
