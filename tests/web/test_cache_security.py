"""What the service does with values in Redis that it did not write: never run them, never 500.

Each test writes a hostile or broken value under the Redis key of an image, through a real
redis-server, then asks for a statistic: the answer must be numpy's, the value ignored (logged
once) and replaced by a good one.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import redis

import imgstats
from imgstats._codec import CorruptSummary
from imgstats.web import create_app
from imgstats.web.cache import RedisLayer

NAME = "IMG_14_int16.tif"
OTHER = "IMG_12_uint16.tif"
SECRET = "a test secret of enough length"


class _Touch:
    """A pickle whose loading creates ``marker``: what an attacker would plant."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _hostile_pickle(marker, raw, other):
    return pickle.dumps(_Touch(marker))


def _hostile_zlib_pickle(marker, raw, other):
    return zlib.compress(pickle.dumps(_Touch(marker)))  # the format the cache used to read


def _garbage(marker, raw, other):
    return bytes(range(256)) * 8


def _plain_integer(marker, raw, other):
    return 42


def _other_image(marker, raw, other):
    return other  # a valid entry, written for another image's key


def _truncated(marker, raw, other):
    return raw[: len(raw) - 7]


def _half(marker, raw, other):
    return raw[: len(raw) // 2]


def _inflating(raw: bytes) -> bytes:
    """The unsigned envelope of ``raw`` around a body that inflates to 64 MB of zeros."""
    head = struct.calcsize("<4sBBH")
    ident = struct.unpack_from("<4sBBH", raw)[3]
    return raw[: head + ident] + zlib.compress(b"\0" * (64 << 20), 9)


HOSTILE = [
    _hostile_pickle,
    _hostile_zlib_pickle,
    _garbage,
    _plain_integer,
    _other_image,
    _truncated,
    _half,
]


@pytest.fixture(params=[None, SECRET], ids=["unsigned", "signed"])
def app_with_redis(request, images, redis_url):
    url, _ = redis_url
    app = create_app(
        {"IMAGES": str(images), "REDIS_URL": url, "CACHE_KEY": request.param, "WARMUP": False}
    )
    yield app
    app.extensions["imgstats"].close()


def _redis_key(service, name: str) -> str:
    """The Redis key of ``name``'s summary (as recorded by :func:`_good_entries`)."""
    return service.redis.key(_cache_key(service, name))


def _cache_key(service, name: str) -> tuple:
    """The cache key the service used for ``name``'s summary, whatever its fields."""
    (key,) = [k for k in service.redis.keys_seen if name in k]
    return key


def _good_entries(app, client):
    """The raw Redis values of NAME and OTHER, as the service writes them."""
    service = app.extensions["imgstats"]
    layer = service.redis
    layer.keys_seen = set()
    real_set = layer.set
    layer.set = lambda key, value: layer.keys_seen.add(key) or real_set(key, value)
    try:
        for name in (NAME, OTHER):
            assert client.get(f"/stats/{name}/min").status_code == 200
    finally:
        del layer.set
    raw = redis.Redis.from_url(service.config["REDIS_URL"])
    entries = raw.get(_redis_key(service, NAME)), raw.get(_redis_key(service, OTHER))
    assert all(entries)
    service.cache_clear()  # from now on the summaries come from Redis or the pixels
    return raw, entries


@pytest.mark.parametrize("make", HOSTILE, ids=lambda f: f.__name__.strip("_"))
def test_a_hostile_value_in_redis_is_ignored_and_replaced(
    app_with_redis, images, tmp_path, make, caplog
):
    app = app_with_redis
    service, client = app.extensions["imgstats"], app.test_client()
    raw, (good, other) = _good_entries(app, client)
    marker = tmp_path / "pwned"
    key = _redis_key(service, NAME)
    raw.set(key, make(marker, good, other))
    with caplog.at_level(logging.WARNING, logger="imgstats.web.cache"):
        r = client.get(f"/stats/{NAME}/p5")
    assert r.status_code == 200
    assert r.get_json()["value"] == imgstats.compute(str(images / NAME), "p5")
    assert not marker.exists()  # the pickle's payload never ran
    warnings = [rec for rec in caplog.records if "not a valid summary" in rec.getMessage()]
    assert len(warnings) == 1  # logged once, however many times the request looked
    assert service.redis.rejected >= 1
    assert raw.get(key) != make(marker, good, other)  # replaced by a good entry
    assert service.redis.get(_cache_key(service, NAME)) is not None


def test_a_value_of_another_redis_type_is_ignored(app_with_redis, images):
    app = app_with_redis
    service, client = app.extensions["imgstats"], app.test_client()
    raw, _ = _good_entries(app, client)
    key = _redis_key(service, NAME)
    raw.delete(key)
    raw.rpush(key, b"a list, not a string")
    r = client.get(f"/stats/{NAME}/max")
    assert r.status_code == 200
    assert r.get_json()["value"] == imgstats.compute(str(images / NAME), "max")
    assert service.redis.available  # a wrong type is not a Redis outage
    assert service.redis.rejected >= 1
    assert raw.type(key) == b"string"  # replaced by a good entry


def test_a_body_that_inflates_past_the_budget_is_refused(images, redis_url):
    url, _ = redis_url
    app = create_app(
        {"IMAGES": str(images), "REDIS_URL": url, "CACHE_BYTES": 8 << 20, "WARMUP": False}
    )
    service, client = app.extensions["imgstats"], app.test_client()
    try:
        raw, (good, _) = _good_entries(app, client)
        key = _redis_key(service, NAME)
        raw.set(key, _inflating(good))
        with pytest.raises(CorruptSummary, match="oversized"):  # stops inflating at 8 MB
            service.redis._decode(key, raw.get(key))
        r = client.get(f"/stats/{NAME}/median")
        assert r.status_code == 200
        assert r.get_json()["value"] == imgstats.compute(str(images / NAME), "median")
        assert service.redis.rejected >= 1
    finally:
        service.close()


def test_with_a_cache_key_unsigned_or_foreign_values_are_refused(images, redis_url):
    """A writer without the key can neither plant an unsigned entry nor sign one."""
    url, _ = redis_url
    app = create_app(
        {"IMAGES": str(images), "REDIS_URL": url, "CACHE_KEY": SECRET, "WARMUP": False}
    )
    service, client = app.extensions["imgstats"], app.test_client()
    try:
        raw, _ = _good_entries(app, client)
        cache_key = _cache_key(service, NAME)
        name = _redis_key(service, NAME)
        wrong = imgstats.summarize(imgstats.open_image(str(images / OTHER)))
        for forger in (RedisLayer(url), RedisLayer(url, secret="another secret of some length")):
            # the forger knows the Redis key (say it listed them) and writes a wrong summary
            raw.set(name, forger._encode(name, wrong))
            assert service.redis.get(cache_key) is None
            forger.close()
        r = client.get(f"/stats/{NAME}/max")
        assert r.get_json()["value"] == imgstats.compute(str(images / NAME), "max")
        assert service.redis.rejected >= 3  # two get()s above, then the request's
    finally:
        service.close()


def test_redis_keys_cannot_be_guessed_from_what_the_api_prints(images, redis_url):
    url, _ = redis_url
    apps = [
        create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False}),
        create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False}),
        create_app({"IMAGES": str(images), "REDIS_URL": url, "CACHE_KEY": SECRET, "WARMUP": False}),
    ]
    try:
        body = apps[0].test_client().get(f"/stats/{NAME}/min").get_json()
        service = apps[0].extensions["imgstats"]
        key = (service.store.url, NAME, body["version"])  # all public
        names = [a.extensions["imgstats"].redis.key(key) for a in apps]
        public = repr(key).encode()
        assert hashlib.sha256(public).hexdigest() not in names[0]  # the old, public naming
        assert names[0] == names[1]  # workers of one deployment agree (salt in Redis)...
        assert names[2] != names[0]  # ...and a CACHE_KEY names them differently
    finally:
        for a in apps:
            a.extensions["imgstats"].close()


@pytest.mark.parametrize("value", ["short", 12345])
def test_a_short_cache_key_is_refused(images, value):
    with pytest.raises(imgstats.InvalidOption):
        create_app({"IMAGES": str(images), "CACHE_KEY": value, "WARMUP": False})


def test_an_evicted_salt_is_put_back_so_new_workers_agree(redis_url):
    url, _ = redis_url
    old = RedisLayer(url)
    raw = redis.Redis.from_url(url)
    try:
        key = ("store", "image.png", "v1")
        name = old.key(key)
        raw.delete("imgstats:salt")  # evicted (allkeys-lru) or flushed
        old.compute_once(key, lambda: imgstats.summarize(np.zeros(4, np.uint8)), 10)
        new = RedisLayer(url)  # a worker started after the eviction
        assert new.key(key) == name
        assert new.get(key).compute("max") == 0
        new.close()
    finally:
        old.close()


def test_other_code_never_reads_the_summaries_of_this_one(redis_url, monkeypatch):
    # Redis outlives the workers: a release that counts other samples read the summaries
    # the release before had written under the same key; so did any unreleased change
    from imgstats.web import cache

    url, _ = redis_url
    layer = RedisLayer(url)
    try:
        key = ("store", "image.png", "v1")
        layer.compute_once(key, lambda: imgstats.summarize(np.zeros(4, np.uint8)), 10)
        name = layer.key(key)
        monkeypatch.setattr(cache, "fingerprint", lambda: "0.1.0+another")
        assert layer.key(key) != name and layer.get(key) is None
    finally:
        layer.close()
