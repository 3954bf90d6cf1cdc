"""The hostile tier: issue 18's attacks on a real ``imgstats serve``, on 127.0.0.1 only.

Each attack is bounded in count (a few dozen connections or requests) and in time (every
socket has a timeout, every wait a bound). The assertions are about outcomes (statuses,
answers, what the server logged), never wall-clock times: the latencies are measured by
``benchmarks/bench_hostile.py``.
"""

from __future__ import annotations

import http.client
import http.server
import json
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from web_helpers import http_get, serve_folder, stalling_handler

from imgstats.data import gallery_path

pytestmark = [pytest.mark.hostile, pytest.mark.slow]

STALLED = 32


def _raw(port: int, data: bytes, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    return s


def _status(sock: socket.socket) -> int | None:
    """The status of the answer on ``sock``, or None when it was closed without one."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    if not data.startswith(b"HTTP/1."):
        return None
    return int(data.split()[1])


def _post(base: str, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ["IMG_1.jpg", "IMG_12_uint16.tif"]:
        shutil.copyfile(gallery_path() / name, folder / name)
    return folder


def test_stalled_clients_cost_no_thread_and_are_closed(store, gunicorn_server):
    """32 connections stalled mid-head and 32 mid-body (Content-Length: 1000, 9 bytes sent)
    against two workers of 14 threads: /health answers every probe, and the stalled
    connections get 408 once their timeouts pass."""
    base, _ = gunicorn_server(
        store,
        workers=2,
        env={
            "IMGSTATS_THREADS": "14",
            "IMGSTATS_HEADER_TIMEOUT": "2",
            "IMGSTATS_BODY_TIMEOUT": "2",
            "IMGSTATS_WARMUP": "0",
        },
    )
    port = int(base.rsplit(":", 1)[1])
    heads = [_raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ") for _ in range(STALLED)]
    bodies = [
        _raw(
            port,
            b"POST /stats/IMG_1.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"funcs":',
        )
        for _ in range(STALLED)
    ]
    try:
        statuses = [http_get(base, "/health", timeout=5)[0] for _ in range(20)]
        assert statuses == [200] * 20
        assert http_get(base, "/stats/IMG_1.jpg/max", timeout=30)[0] == 200
        closed = [_status(s) for s in heads + bodies]  # each socket times out after 10 s
        assert set(closed) <= {408, None} and closed.count(408) >= len(closed) // 2
    finally:
        for s in heads + bodies:
            s.close()
    assert http_get(base, "/health", timeout=5)[0] == 200


def test_oversized_heads_and_bodies_through_gunicorn(store, gunicorn_server):
    base, _ = gunicorn_server(store, workers=1, env={"IMGSTATS_WARMUP": "0"})
    port = int(base.rsplit(":", 1)[1])
    # a chunked body over 1 MiB: 413, not "invalid JSON at column 1048577"
    payload = b'{"funcs": ["min"], "polygon": [' + b"[1, 2]," * 160_000 + b"[1, 2]]}"
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(payload[i : i + 65536]), payload[i : i + 65536])
        for i in range(0, len(payload), 65536)
    )
    s = _raw(
        port,
        b"POST /stats/IMG_1.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n",
    )
    try:
        assert _status(s) == 413
    finally:
        s.close()
    s = _raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (70 << 10) + b"\r\n\r\n")
    try:
        assert _status(s) in (431, 400, None)
    finally:
        s.close()
    # hostile bodies and queries: 4xx, never a 5xx
    hostile = [
        (b'{"funcs":["min"],"polygon":[[' + b"9" * 400 + b",0],[9,0],[0,9]]}", 400),
        (b'{"funcs":["min"],"polygon":{"type":"Feature","geometry":[1,2]}}', 400),
        (b'{"funcs":["min"],"polygon":[["1","2"],["9","0"],["0","9"]]}', 400),
    ]
    for body, status in hostile:
        got, text = _post(base, "/stats/IMG_1.jpg", body, {"Content-Type": "application/json"})
        assert got == status, text[:200]
    got, _ = _post(base, "/stats/IMG_1.jpg", b'{"funcs":["min"]}', {"Content-Type": "text/plain"})
    assert got == 415
    assert http_get(base, "/stats/IMG_1.jpg/median?bands=R")[0] == 400
    assert http_get(base, "/stats/" + "*a" * 40 + "/median")[0] == 400


def test_bursts_are_absorbed(store, gunicorn_server):
    """32 identical cold requests wait for one computation; 40 distinct cold requests on
    two workers fit the queue the decode budget sizes (the fixed queue of 8 refused some)."""
    for i in range(40):
        shutil.copyfile(store / "IMG_1.jpg", store / f"copy_{i:02d}.jpg")
    base, _ = gunicorn_server(store, workers=2, env={"IMGSTATS_WARMUP": "0"})
    with ThreadPoolExecutor(40) as pool:
        same = list(
            pool.map(
                lambda _: http_get(base, "/stats/IMG_12_uint16.tif/p99", timeout=120)[0],
                range(32),
            )
        )
        distinct = list(
            pool.map(
                lambda i: http_get(base, f"/stats/copy_{i:02d}.jpg/median", timeout=120)[0],
                range(40),
            )
        )
    assert same == [200] * 32
    assert distinct == [200] * 40


@pytest.fixture
def heavy_store(store) -> Path:
    """24 copies of a 2000 x 1500 noisy PNG: a collection of them takes seconds."""
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 255, (1500, 2000, 3), dtype=np.uint8)
    Image.fromarray(arr).save(store / "heavy_00.png", compress_level=1)
    for i in range(1, 24):
        shutil.copyfile(store / "heavy_00.png", store / f"heavy_{i:02d}.png")
    return store


def test_an_abandoned_request_stops(heavy_store, gunicorn_server, tmp_path):
    base, _ = gunicorn_server(heavy_store, workers=1, env={"IMGSTATS_WARMUP": "0"})
    port = int(base.rsplit(":", 1)[1])
    s = _raw(port, b"GET /stats/heavy_*/p99?window=0,0,10,10 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)  # the work has started
    s.close()
    log = next(tmp_path.glob("gunicorn-*.log"))
    deadline = time.monotonic() + 60
    while "the client closed the connection" not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
        time.sleep(0.2)
    assert "GET /stats/heavy_*/p99" in log.read_text(errors="replace")
    assert http_get(base, "/health", timeout=5)[0] == 200


def test_a_request_past_its_budget_gets_503_and_a_retry_goes_further(heavy_store, gunicorn_server):
    base, _ = gunicorn_server(
        heavy_store, workers=1, env={"IMGSTATS_WARMUP": "0", "IMGSTATS_REQUEST_SECONDS": "0.5"}
    )
    status, headers, body = http_get(base, "/stats/heavy_*/median", timeout=60)
    assert status == 503 and json.loads(body)["type"] == "RequestTimeout"
    assert int(headers["Retry-After"]) >= 1
    for _ in range(60):  # each retry keeps what it computed: the answer comes
        status, _, body = http_get(base, "/stats/heavy_*/median", timeout=60)
        if status == 200:
            break
    assert status == 200 and json.loads(body)["image_count"] == 24


def _reader_that_never_reads(port: int, path: str) -> socket.socket:
    """A client with a small receive buffer that asks for ``path`` and reads nothing."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return s


def _read_all(sock: socket.socket) -> int:
    """Bytes the server sent on ``sock`` before it closed or reset the connection."""
    total = 0
    while True:
        try:
            chunk = sock.recv(1 << 16)
        except (ConnectionResetError, TimeoutError):
            return total
        if not chunk:
            return total
        total += len(chunk)


def test_clients_that_never_read_their_response_are_dropped(tmp_path, gunicorn_server):
    """Twice as many clients as threads ask for a large thumbnail and read nothing: their
    responses wait in the event loop, not in threads, so /health and other requests are
    answered meanwhile; after IMGSTATS_SEND_TIMEOUT without progress each is reset, with
    only part of its response sent."""
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copyfile(gallery_path() / "IMG_1.jpg", folder / "IMG_1.jpg")
    noise = np.random.default_rng(2).integers(0, 255, (3600, 3600, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "noise.png", compress_level=1)
    threads = 4
    base, _ = gunicorn_server(
        folder,
        workers=1,
        env={
            "IMGSTATS_THREADS": str(threads),
            "IMGSTATS_SEND_TIMEOUT": "1",
            "IMGSTATS_GALLERY_THUMB_SIZE": "3600",
            "IMGSTATS_WARMUP": "0",
        },
    )
    port = int(base.rsplit(":", 1)[1])
    status, _, full = http_get(base, "/thumbs/noise.png", timeout=60)  # rendered and cached
    assert status == 200 and len(full) > 6 << 20  # more than the socket buffers hold
    readers = [_reader_that_never_reads(port, "/thumbs/noise.png") for _ in range(2 * threads)]
    try:
        time.sleep(0.5)  # every thread is now blocked sending
        for _ in range(5):
            assert http_get(base, "/health", timeout=10)[0] == 200
        assert http_get(base, "/stats/IMG_1.jpg/max", timeout=30)[0] == 200
        log = next(tmp_path.glob("gunicorn-*.log"))
        deadline = time.monotonic() + 30
        while log.read_text(errors="replace").count("read none of its response") < len(readers):
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
            time.sleep(0.2)
        received = [_read_all(s) for s in readers]
    finally:
        for s in readers:
            s.close()
    assert all(n < len(full) for n in received), (received, len(full))  # reset, not served
    assert http_get(base, "/thumbs/noise.png", timeout=60)[2] == full  # a reader is served


def _tasks(master: int) -> dict[int, int]:
    """OS threads of each worker process of the gunicorn ``master``."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == master:
                    out[int(entry.name)] = len(list((entry / "task").iterdir()))
            except (OSError, ValueError):
                continue
    return out


def test_a_cold_burst_waits_in_the_queue_not_in_threads(tmp_path, gunicorn_server):
    """16 distinct cold requests on a hung store, on one worker of 4 threads and 1 slot of
    slow work: one hangs in the slot, the 15 others wait in the worker's queue without a
    thread, so /health is answered while all of them still wait (a thread per waiting request
    would leave none), the worker runs no more than its 4 request threads, and all 16 answer
    200 once the store answers."""
    folder = tmp_path / "remote"
    folder.mkdir()
    names = [f"slow_{i:02d}.jpg" for i in range(16)]
    for name in names:
        shutil.copyfile(gallery_path() / "IMG_1.jpg", folder / name)
    release = threading.Event()
    handler = stalling_handler(folder, release)
    with serve_folder(folder, handler) as store:
        base, proc = gunicorn_server(
            f"{store}/",
            workers=1,
            env={
                "IMGSTATS_THREADS": "4",
                "IMGSTATS_SLOW_WORKERS": "1",
                "IMGSTATS_STORE_TIMEOUT": "60",
                "IMGSTATS_DECODE_WAIT": "60",
                "IMGSTATS_WARMUP": "0",
            },
        )
        idle = _tasks(proc.pid)
        pool = ThreadPoolExecutor(len(names))
        try:
            burst = [
                pool.submit(http_get, base, f"/stats/{name}/median", timeout=120) for name in names
            ]
            time.sleep(1.0)  # the burst has arrived: one hangs in the slot, the others queue
            for _ in range(3):
                assert http_get(base, "/health", timeout=10)[0] == 200
            assert not any(f.done() for f in burst)  # answered while every one still waits
            busy = _tasks(proc.pid)
        finally:
            release.set()
            statuses = [f.result()[0] for f in burst]
            pool.shutdown()
    assert statuses == [200] * len(names)
    # the request threads are the configured 4 at most, whatever the queue held
    (worker,) = busy
    assert busy[worker] - idle.get(worker, 0) <= 4, (idle, busy)
