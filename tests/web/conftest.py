"""Fixtures of the web tests: an app over a temporary image folder, and real servers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from web_helpers import fill_store, free_port, start_redis, stop, wait_for_http

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
        port = free_port()
        log = open(tmp_path / f"gunicorn-{port}.log", "wb")  # noqa: SIM115 -- closed below
        proc = subprocess.Popen(
            [sys.executable, "-m", "imgstats.cli", "serve", "--images", str(images),
             "--port", str(port), "--workers", str(workers)],
            env={**os.environ, **(env or {})}, stdout=log, stderr=log,
        )
        started.append((proc, log))
        base = f"http://127.0.0.1:{port}"
        wait_for_http(base, proc=proc)
        return base, proc

    yield start
    for proc, log in started:
        stop(proc)
        log.close()
