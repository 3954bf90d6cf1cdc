"""Redis compute locks that cannot stall the service: renewed while held, taken over when the
holder dies (a real redis-server, a real process killed with SIGKILL)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import redis

import imgstats
import imgstats.web.service as service_module
from imgstats.web import create_app
from imgstats.web.cache import RedisLayer

KEY = ("store", "image.tif", "v1")
#: What the old code waited for a dead holder, and what a waiter still waits for a live one.
LOCK_TIMEOUT = 60.0
#: The lock's life where renewal is what is shown: renewed every third of it, so the heartbeat
#: thread may be late by two seconds on a loaded machine and still keep the lock. (With 1 s it
#: lost the lock to any stall over 0.67 s, and the test failed with no bug.)
TTL = 3.0
#: The Redis socket timeout of the layers here: a stall past the default 0.25 s made a renewal
#: or a read fail and the layer back off, which these tests would take for a lost lock.
REDIS_TIMEOUT = 10.0

_HOLDER = """
import ast, sys, time
from imgstats.web.cache import RedisLayer
layer = RedisLayer(sys.argv[1], lock_ttl=float(sys.argv[2]), timeout=float(sys.argv[4]))
token = layer.lock(ast.literal_eval(sys.argv[3]))
print("locked" if token else "busy", flush=True)
time.sleep(600)  # "working" until killed; the heartbeat thread renews the lock meanwhile
"""


def _summary():
    return imgstats.summarize(np.arange(100, dtype=np.uint8))


@pytest.fixture
def holder(redis_url):
    """``start(key, lock_ttl) -> Popen``: another process that takes ``key``'s lock and works
    until it is killed."""
    url, _ = redis_url
    started = []

    def start(key, lock_ttl: float):
        proc = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, url, str(lock_ttl), repr(key), str(REDIS_TIMEOUT)],
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdout.close()


def test_a_held_lock_outlives_its_ttl_while_its_holder_works(redis_url):
    url, _ = redis_url
    layer = RedisLayer(url, lock_ttl=TTL, timeout=REDIS_TIMEOUT)
    try:
        token = layer.lock(KEY)
        assert token
        name = layer.key(KEY) + ":lock"
        time.sleep(TTL + 0.5)  # over a TTL: without renewal it would be gone
        assert redis.Redis.from_url(url).get(name) == token.encode()
        assert layer.lock(KEY) == ""  # still held
        layer.unlock(KEY, token)
        assert not redis.Redis.from_url(url).exists(name)
    finally:
        layer.close()


def test_a_waiter_gets_the_value_its_live_holder_computed(redis_url):
    url, _ = redis_url
    first = RedisLayer(url, lock_ttl=TTL, timeout=REDIS_TIMEOUT)
    second = RedisLayer(url, lock_ttl=TTL, timeout=REDIS_TIMEOUT)
    events = []
    summary = _summary()

    def compute_slowly():
        events.append("first computes")
        time.sleep(TTL + 1.0)  # over a TTL: the heartbeat must keep the lock meanwhile
        return summary

    try:
        thread = threading.Thread(target=lambda: first.compute_once(KEY, compute_slowly, 30))
        thread.start()
        while not events:
            time.sleep(0.01)
        got = second.compute_once(KEY, lambda: events.append("second computes"), LOCK_TIMEOUT)
        thread.join(LOCK_TIMEOUT)
        assert events == ["first computes"]
        assert got.compute(["min", "max", "median"]) == summary.compute(["min", "max", "median"])
    finally:
        first.close()
        second.close()


def test_a_waiter_takes_over_from_a_holder_that_stopped_renewing(redis_url):
    url, _ = redis_url
    dead = RedisLayer(url, lock_ttl=0.5, timeout=REDIS_TIMEOUT)
    waiter = RedisLayer(url, lock_ttl=0.5, timeout=REDIS_TIMEOUT)
    try:
        assert dead.lock(KEY)
        dead._heartbeat.stop()  # the holder "dies": nothing renews its lock any more
        start = time.monotonic()
        got = waiter.compute_once(KEY, _summary, LOCK_TIMEOUT)
        assert got.compute("max") == 99
        assert time.monotonic() - start < LOCK_TIMEOUT / 2  # about one TTL, not LOCK_TIMEOUT
        assert dead.get(KEY) is not None  # and the waiter shared what it computed
    finally:
        dead.close()
        waiter.close()


@pytest.mark.slow
def test_a_request_takes_over_from_a_worker_killed_while_holding_the_lock(
    images, redis_url, holder, monkeypatch
):
    url, _ = redis_url
    app = create_app(
        {
            "IMAGES": str(images),
            "REDIS_URL": url,
            "LOCK_TTL": TTL,
            "LOCK_TIMEOUT": LOCK_TIMEOUT,
            "REDIS_TIMEOUT": REDIS_TIMEOUT,
            "WARMUP": False,
        }
    )
    service = app.extensions["imgstats"]
    name = "IMG_14_int16.tif"
    events = []
    real = service_module.summarize
    monkeypatch.setattr(
        service_module, "summarize", lambda *a, **k: events.append("summarized") or real(*a, **k)
    )
    # learn the image's cache key as the service builds it, from one request
    keys = []
    service.redis.compute_once = lambda key, compute, timeout, **kw: keys.append(key) or compute()
    assert app.test_client().get(f"/stats/{name}/p5").status_code == 200
    del service.redis.compute_once
    service.cache_clear()
    events.clear()
    proc = holder(keys[0], TTL)
    answers = []
    thread = threading.Thread(
        target=lambda: answers.append(app.test_client().get(f"/stats/{name}/p5"))
    )
    try:
        thread.start()
        time.sleep(TTL + 1.0)  # over a TTL: a live holder keeps the lock, the request waits
        assert events == [] and thread.is_alive()
        proc.send_signal(signal.SIGKILL)  # the worker dies holding the lock
        events.append("killed")
        thread.join(LOCK_TIMEOUT / 2)  # it takes over within seconds, long before LOCK_TIMEOUT
        assert not thread.is_alive()
        assert events == ["killed", "summarized"]
        assert answers[0].status_code == 200
        assert answers[0].get_json()["value"] == imgstats.compute(str(images / name), "p5")
    finally:
        thread.join(LOCK_TIMEOUT)
        service.close()
