"""The fault tier: gunicorn told to stop (SIGTERM) or to reload (SIGHUP) while serving.

A real ``imgstats serve`` on loopback. A worker that stops closes what it still holds (a
connection it is draining after a response sent with ``Connection: close``) and exits
cleanly: no traceback in the log, exit status 0.
"""

from __future__ import annotations

import signal
import socket
import time

import pytest
from web_helpers import fill_store

from benchmarks.servers import start_server

pytestmark = [pytest.mark.faults]


def _answered_and_held(url: str) -> socket.socket:
    """A connection whose response was read, but which the client keeps open: the worker
    drains it for a while (its LINGER) before closing it."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
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
