"""The fault tier: Redis killed and restarted, a gunicorn worker killed, under a bounded load.

Clients on 127.0.0.1 send a bounded number of requests (and stop at a time bound) while the
test kills Redis with SIGKILL, restarts it on the same port, and kills one gunicorn worker
with SIGKILL. Only requests in flight when the worker died may fail; nothing else may be a
5xx, and the service answers normally afterwards.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from web_helpers import fill_store, free_port, http_get, start_redis, stop, wait_for_http

pytestmark = [pytest.mark.faults, pytest.mark.slow]

REQUESTS = 600  # in all, across the clients
TIME_LIMIT = 45.0  # seconds of load at most
CLIENTS = 4
PATHS = [
    f"/stats/{name}/{func}"
    for name in ("IMG_1.jpg", "IMG_11.png", "IMG_12_uint16.tif")
    for func in ("min", "median", "p99", "mean")
]


def _workers(master: int) -> list[int]:
    """Pids of the gunicorn master's worker processes."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                pids.append(int(entry.name))
    return pids


class Load:
    """Clients sending PATHS round-robin; each request's (start, end, status or error)."""

    def __init__(self, base: str):
        self.base = base
        self.records: list[tuple[float, float, object]] = []
        self._lock = threading.Lock()
        self._sent = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(CLIENTS)]

    def _run(self, offset: int) -> None:
        deadline = time.monotonic() + TIME_LIMIT
        i = offset
        while not self._stop.is_set() and time.monotonic() < deadline:
            with self._lock:
                if self._sent >= REQUESTS:
                    return
                self._sent += 1
            start = time.monotonic()
            try:
                outcome = http_get(self.base, PATHS[i % len(PATHS)], timeout=20)[0]
            except (OSError, http.client.HTTPException) as exc:  # reset by the killed worker
                outcome = exc
            with self._lock:
                self.records.append((start, time.monotonic(), outcome))
            i += 1

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def count(self) -> int:
        with self._lock:
            return len(self.records)

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < count and time.monotonic() < deadline:
            time.sleep(0.02)


def test_redis_and_worker_deaths_under_load(tmp_path):
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        pytest.skip("redis-server is not installed")
    images = fill_store(tmp_path / "images")
    redis_port = free_port()
    redis, _ = start_redis(binary, tmp_path, port=redis_port)
    port = free_port()
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 -- closed below
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imgstats.cli",
            "serve",
            "--images",
            str(images),
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env={
            **os.environ,
            "IMGSTATS_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "IMGSTATS_REDIS_BACKOFF": "0.5",
            "IMGSTATS_WARMUP": "0",
        },
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base, proc=server)
        with Load(base) as load:
            load.wait_for(60)
            redis.send_signal(signal.SIGKILL)  # Redis dies: the service carries on without it
            redis.wait(10)
            load.wait_for(160)
            redis, _ = start_redis(binary, tmp_path, port=redis_port)  # back on the same port
            load.wait_for(260)
            victim = _workers(server.pid)[0]
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)  # a worker dies mid-request
            load.wait_for(REQUESTS)
        records = list(load.records)
        assert len(records) >= 300  # the load really ran past every fault
        in_flight = [r for r in records if r[0] <= killed_at <= r[1]]
        failed = [r for r in records if r[2] != 200]
        # only requests in flight when the worker died may fail, and never with a 500
        assert all(r in in_flight for r in failed), failed[:5]
        assert not [r for r in failed if r[2] == 500]
        assert len(failed) <= 2 * 16  # at most every thread of the killed worker
        after = [r for r in records if r[0] > killed_at + 0.01]
        assert after and all(r[2] == 200 for r in after)
        # recovered: a replacement worker, and the restarted Redis in use again
        deadline = time.monotonic() + 20
        while len(_workers(server.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert victim not in _workers(server.pid) and len(_workers(server.pid)) == 2
        for path in PATHS:
            assert http_get(base, path, timeout=20)[0] == 200
        assert http_get(base, "/health", timeout=10)[0] == 200
    finally:
        stop(server)
        log.close()
        stop(redis)
