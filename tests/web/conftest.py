"""Fixtures of the web tests: an app over a temporary image folder, and real servers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from web_helpers import fill_store, start_redis, stop

from benchmarks.servers import start_server
from imgstats.web import create_app


@pytest.fixture
def images(tmp_path) -> Path:
    """A temporary image folder (the store of the ``app`` fixture)."""
    return fill_store(tmp_path / "images")


@pytest.fixture
def app(images):
    """The app over ``images``; its caches are cleared and its clients closed afterwards."""
    app = create_app({"IMAGES": str(images), "TESTING": True, "WARMUP": False})
    yield app
    service = app.extensions["imgstats"]
    service.cache_clear()
    service.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def service(app):
    return app.extensions["imgstats"]


@pytest.fixture
def patient_redis(monkeypatch):
    """Apps talk to Redis with a 5 s socket timeout, not the default 0.25 s. For tests that
    count computations and Redis reads exactly: a stall of the test process over a quarter
    second (a loaded machine) failed a Redis call, backed the layer off, and made the counts
    come out wrong with no bug. The timeout is not what they test."""
    monkeypatch.setenv("IMGSTATS_REDIS_TIMEOUT", "5")


@pytest.fixture
def redis_url(tmp_path):
    """A real redis-server on a free loopback port, with its own temp dir."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    proc, url = start_redis(binary, tmp_path)
    try:
        yield url, proc
    finally:
        stop(proc)


@pytest.fixture
def gunicorn_server(tmp_path):
    """``start(images, workers=2, env=None) -> (base_url, proc)``: ``imgstats serve``
    (gunicorn) on a free port; every server started is stopped afterwards."""
    started = []

    def start(images: Path, workers: int = 2, env=None):
        server = start_server(
            images, workers=workers, env=env, log=tmp_path / f"gunicorn-{len(started)}.log"
        )
        started.append(server)
        return server.url, server.process

    yield start
    for server in started:
        server.stop()
