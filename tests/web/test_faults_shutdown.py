"""The fault tier: gunicorn told to stop (SIGTERM) or to reload (SIGHUP) while serving.

A real ``imgstats serve`` on loopback. A worker that stops answers the requests it was sent
before (those waiting in the listen backlog too) within its graceful timeout, closes what it
still holds (a connection it drains after a ``Connection: close`` response) and exits
cleanly: no traceback in the log, exit status 0.
"""

from __future__ import annotations

import shutil
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from web_helpers import fill_store, http_get, serve_folder, stalling_handler

from benchmarks.servers import start_server
from imgstats.data import gallery_path

pytestmark = [pytest.mark.faults]


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except OSError as exc:  # reset: the old code closed the listener on them
        data += f"<{type(exc).__name__}>".encode()
    sock.close()
    return data


def _serve_hung(store: str, tmp_path, **env):
    """``imgstats serve``, one worker with one slot of slow work, over ``store`` (whose
    ``slow_*`` files hang until released)."""
    env = {
        "IMGSTATS_SLOW_WORKERS": "1",
        "IMGSTATS_STORE_TIMEOUT": "60",
        "IMGSTATS_DECODE_WAIT": "60",
        "IMGSTATS_WARMUP": "0",
        **env,
    }
    return start_server(f"{store}/", workers=1, env=env, log=tmp_path / "gunicorn.log")


def _until_hung(hung: list, path: str) -> None:
    """Wait until the store holds a GET of ``path``: the request asking for it holds the
    worker's slot (the sleeps that stood for this lost to a loaded machine)."""
    deadline = time.monotonic() + 60  # far past any stall; the test fails if it never comes
    while path not in hung:
        assert time.monotonic() < deadline, (path, hung)
        time.sleep(0.02)


def _parsed(answer: bytes) -> tuple[int, dict, bytes]:
    """``(status, headers, body)`` of a whole answer read from a socket (lower-case field
    names); status 0 when there was no answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        return 0, {}, answer
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _answered_and_held(url: str) -> socket.socket:
    """A connection whose response was read, but which the client keeps open: the worker
    drains it for a while (its LINGER) before closing it."""
    sock = _connect(url)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    data = b""
    while b"OK" not in data:
        data += sock.recv(4096)
    return sock


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["term", "hup"])
def test_a_worker_stops_cleanly_while_draining_a_connection(tmp_path, sig):
    images = fill_store(tmp_path / "images")
    log = tmp_path / "gunicorn.log"
    server = start_server(images, workers=1, env={"IMGSTATS_WARMUP": "0"}, log=log)
    try:
        held = _answered_and_held(server.url)
        server.process.send_signal(sig)
        if sig == signal.SIGHUP:  # the old worker stops; a new one serves
            deadline = time.monotonic() + 20
            while "Worker exiting" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.get("/health", timeout=10)[0] == 200
            server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(20) == 0
        held.close()
    finally:
        server.stop()
    text = log.read_text()
    # was: KeyError "... is not registered" from the closed poller, exit status 255
    assert "Exception in worker process" not in text and "Traceback" not in text, text[-3000:]
    assert "exited with code" not in text, text[-3000:]


def _ask_health(url: str):
    """A new connection that sent ``GET /health`` (to read with :func:`_read_all`), or
    ``b"<refused>"``: the client then knows that nothing was sent."""
    try:
        sock = _connect(url)
    except ConnectionRefusedError:
        return b"<refused>"
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    return sock


def test_requests_in_the_backlog_at_sigterm_are_answered_later_ones_refused(tmp_path):
    folder = tmp_path / "remote"
    folder.mkdir()
    shutil.copyfile(gallery_path() / "IMG_1.jpg", folder / "slow_1.jpg")
    release, stalled = threading.Event(), []
    with serve_folder(folder, stalling_handler(folder, release, stalled)) as store:
        # one thread: it hangs on the store, none is free
        server = _serve_hung(store, tmp_path, IMGSTATS_THREADS="1")
        pool = ThreadPoolExecutor(1)
        try:
            hung = pool.submit(http_get, server.url, "/stats/slow_1.jpg/mean", timeout=60)
            _until_hung(stalled, "/slow_1.jpg")  # it holds the thread: none is free
            waiting = [_connect(server.url) for _ in range(5)]
            for sock in waiting:  # in the listen backlog, not yet accepted
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            time.sleep(0.3)
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            late = [_ask_health(server.url) for _ in range(3)]  # after the backlog's drain
            release.set()  # the hung request finishes within the graceful timeout
            answers = [_read_all(sock) for sock in waiting]
            assert hung.result(30)[0] == 200
            late = [a if isinstance(a, bytes) else _read_all(a) for a in late]
        finally:
            release.set()
            pool.shutdown(wait=True)
            server.stop()
    # were reset when the stopping worker closed the listener, none of them accepted
    assert all(a.startswith(b"HTTP/1.1 200") and a.endswith(b"OK") for a in answers), answers
    # were let into the backlog of a listener no one accepted from any more, sent their
    # request, and were reset when the worker exited: refused at once, nothing sent
    assert all(a == b"<refused>" or a.startswith(b"HTTP/1.1 ") for a in late), late
    assert server.process.returncode == 0


@pytest.mark.slow  # the graceful timeout (10 s) runs out
def test_requests_still_queued_when_the_graceful_timeout_ends_get_a_503(tmp_path):
    folder = tmp_path / "remote"
    folder.mkdir()
    for name in ("slow_1.jpg", "slow_2.jpg", "slow_3.jpg"):
        shutil.copyfile(gallery_path() / "IMG_1.jpg", folder / name)
    release, hung = threading.Event(), []
    with serve_folder(folder, stalling_handler(folder, release, hung)) as store:
        server = _serve_hung(store, tmp_path)  # slow_1 takes the slot and hangs; the others queue
        pool = ThreadPoolExecutor(1)
        try:
            pool.submit(http_get, server.url, "/stats/slow_1.jpg/mean", timeout=30)
            _until_hung(hung, "/slow_1.jpg")  # slow_1 takes the slot first
            waiting = [_connect(server.url) for _ in range(2)]
            for sock, name in zip(waiting, ("slow_2.jpg", "slow_3.jpg"), strict=True):
                # sent before the signal: accepted and queued, or in the backlog (answered too)
                sock.sendall(
                    b"GET /stats/%s/mean HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                    % name.encode()
                )
            server.process.send_signal(signal.SIGTERM)  # the store never answers in time
            queued = [_parsed(_read_all(sock)) for sock in waiting]
        finally:
            release.set()
            pool.shutdown(wait=True)
            server.stop()
    # were closed without an answer (RemoteDisconnected) when the worker exited
    assert [status for status, _, _ in queued] == [503, 503], queued
    assert all(int(headers["retry-after"]) >= 1 for _, headers, _ in queued)
    assert all(b"stopping" in body for _, _, body in queued)
