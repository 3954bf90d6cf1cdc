"""Connections opened and left silent, as many as a worker holds: it accepted nothing more,
/health included, until ``HEADER_TIMEOUT`` closed them (10 s by default; 2,000 silent
sockets stopped two workers, again and again). At capacity, a connection silent since its
accept for a second is closed to make room; one that has sent part of a request keeps it."""

from __future__ import annotations

import contextlib
import shutil
import socket

import pytest
from web_helpers import http_get

from benchmarks.servers import start_server
from imgstats.data import gallery_path

pytestmark = [pytest.mark.hostile, pytest.mark.slow]

PLACES = 40


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One worker of PLACES connections, whose head timeout (120 s) outlasts every wait here."""
    folder = tmp_path_factory.mktemp("images")
    shutil.copyfile(gallery_path() / "IMG_1.jpg", folder / "IMG_1.jpg")
    log = tmp_path_factory.mktemp("log") / "gunicorn.log"
    env = {
        "IMGSTATS_WARMUP": "0",
        "IMGSTATS_WORKER_CONNECTIONS": str(PLACES),
        "IMGSTATS_HEADER_TIMEOUT": "120",
    }
    with start_server(folder, workers=1, env=env, log=log) as server:
        yield server


def test_silent_connections_give_way_to_requests(server):
    with contextlib.ExitStack() as stack:
        partial = stack.enter_context(socket.create_connection(("127.0.0.1", server.port)))
        partial.sendall(b"GET /health HTTP/1.1\r\n")  # a slow client, not a silent one
        silent = [
            stack.enter_context(socket.create_connection(("127.0.0.1", server.port)))
            for _ in range(PLACES + 10)
        ]
        for _ in range(3):  # each answered before the head timeout would free a place
            assert http_get(server.url, "/health", timeout=30)[0] == 200
        partial.settimeout(30)
        partial.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
        assert partial.recv(12) == b"HTTP/1.1 200"
        closed = 0
        for sock in silent:
            sock.settimeout(0.2)
            try:
                closed += sock.recv(1) == b""
            except ConnectionResetError:
                closed += 1
            except TimeoutError:
                pass
        assert closed >= 10  # the silent ones made room
