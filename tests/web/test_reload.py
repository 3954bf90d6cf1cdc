"""``SIGHUP`` to a real ``imgstats serve``: the old workers serve until their replacements are
ready. gunicorn stopped them at once, and a new worker answers nothing before its app is made
and warmed (seconds), so every request of a reload waited in the listen backlog meanwhile."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from benchmarks.servers import start_server
from imgstats.data import gallery_path

pytestmark = pytest.mark.slow


def _workers(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return {int(pid) for pid in children.read_text().split()}


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(condition, seconds: float = 120.0) -> None:
    """Poll ``condition`` until it holds (a bound on the wait, not an assertion on time)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the server did not get there")
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_old_workers_stop_only_once_their_replacements_are_ready(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copyfile(gallery_path() / "IMG_1.jpg", folder / "IMG_1.jpg")
    log = tmp_path / "gunicorn.log"
    with start_server(folder, workers=2, log=log) as server:
        master = server.process.pid
        _wait_for(lambda: len(_workers(master)) == 2)
        old = _workers(master)
        os.kill(master, signal.SIGHUP)
        _wait_for(lambda: not any(_alive(pid) for pid in old))
        lines = log.read_text().splitlines()
        ready = [
            i
            for i, line in enumerate(lines)
            if (m := re.search(r"Worker ready \(pid: (\d+)\)", line)) and int(m[1]) not in old
        ]
        exits = [
            i
            for i, line in enumerate(lines)
            if (m := re.search(r"Worker exiting \(pid: (\d+)\)", line)) and int(m[1]) in old
        ]
        assert len(ready) == 2 and len(exits) == 2, "\n".join(lines[-30:])
        assert max(ready) < min(exits), "\n".join(lines[-30:])
        assert server.get("/stats/IMG_1.jpg/median")[0] == 200
        _wait_for(lambda: len(_workers(master)) == 2)  # and no more than 2 stay


def test_a_worker_slow_to_warm_up_says_why_in_the_log(tmp_path):
    """A first start compiles the kernels for about a minute per worker: the log must not
    read "Booting worker" and then nothing. Here the notice is due at once."""
    log = tmp_path / "gunicorn.log"
    env = {"IMGSTATS_WARM_NOTICE": "0"}
    with start_server(workers=1, log=log, env=env) as server:
        assert server.get("/health")[0] == 200
        text = log.read_text()
    warming = re.search(r"Worker (\d+) is warming up: a first start compiles the counting", text)
    assert warming, text[-2000:]
    assert re.search(rf"Worker {warming[1]} warmed up in \d+ s", text), text[-2000:]
    assert text.index("is warming up") < text.index("Worker ready"), text[-2000:]


def _ask(conn, url: str):
    """``(status, value)`` of ``GET url`` on ``conn`` (the error body for a status not 200)."""
    conn.request("GET", url)
    response = conn.getresponse()
    body = response.read()
    return response.status, json.loads(body).get("value") if response.status == 200 else body


def _ask_until(port: int, urls: list[str], offset: int, stop, answers: list) -> None:
    """Ask ``urls`` in turn on one keep-alive connection until ``stop``; each answer is
    kept as ``(url, status, value)``. A request that meets a connection the server closed
    between two requests is sent again once on a new one, as an HTTP client does with an
    idempotent request (RFC 9112, 9.3.1); a second failure is kept as the error it is."""

    def connect():
        return http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    conn, n = connect(), offset
    while not stop.is_set():
        url = urls[n % len(urls)]
        n += 1
        try:
            answer = _ask(conn, url)
        except (ConnectionError, http.client.HTTPException):
            conn.close()
            conn = connect()
            try:
                answer = _ask(conn, url)
            except (OSError, http.client.HTTPException) as exc:
                answer = (repr(exc), None)
        answers.append((url, *answer))
    conn.close()


@contextlib.contextmanager
def _asking(port: int, urls: list[str], clients: int = 4):
    """``clients`` threads of :func:`_ask_until` while the block runs: their answers."""
    answers: list = []
    stop = threading.Event()
    with ThreadPoolExecutor(clients) as pool:
        done = [pool.submit(_ask_until, port, urls, i, stop, answers) for i in range(clients)]
        try:
            yield answers
        finally:
            stop.set()
    for future in done:
        future.result()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_a_reload_under_load_answers_every_request_rightly(tmp_path):
    """SIGHUP while keep-alive clients ask cached and cold questions: every answer is a
    200 with the value asked before the reload, from the old workers or the new."""
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copyfile(gallery_path() / "IMG_1.jpg", folder / "IMG_1.jpg")
    cached = [f"/stats/IMG_1.jpg/{func}" for func in ("median", "p99", "mean", "max")]
    # cold on every worker, old and new: a window each, summarized once per process
    cold = [f"/stats/IMG_1.jpg/mean?window={x},0,{x + 64},64" for x in range(0, 448, 7)]
    with start_server(folder, workers=2) as server:
        master = server.process.pid
        _wait_for(lambda: len(_workers(master)) == 2)
        expected = {url: server.get_json(url)["value"] for url in cached + cold}
        old = _workers(master)
        with _asking(server.port, cached + cold) as answers:
            _wait_for(lambda: len(answers) >= 20)
            os.kill(master, signal.SIGHUP)
            _wait_for(lambda: not any(_alive(pid) for pid in old))
            after = len(answers)
            _wait_for(lambda: len(answers) >= after + 50)  # served by the new ones
    wrong = [a for a in answers if a[1] != 200 or a[2] != expected[a[0]]]
    assert not wrong, wrong[:5]
