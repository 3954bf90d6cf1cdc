"""Connections opened and left silent, as many as a worker holds: it accepted nothing more,
/health included, until ``HEADER_TIMEOUT`` closed them (10 s by default; 2,000 silent
sockets stopped two workers, again and again). At capacity, a connection silent since its
accept for a second is closed to make room, then those still sending their request, oldest
first: 10,000 connections that each sent half a head held a new client's /stats 12.5 s."""

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
        silent = [
            stack.enter_context(socket.create_connection(("127.0.0.1", server.port)))
            for _ in range(PLACES + 10)
        ]
        partial = stack.enter_context(socket.create_connection(("127.0.0.1", server.port)))
        partial.sendall(b"GET /health HTTP/1.1\r\n")  # a slow client, behind silent ones
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


#: What a client stalled in its request sent: half a head, or a head and part of its body.
STALLED = {
    "head": b"GET /health HTTP/1.1\r\nHost: x\r\nX-a: ",
    "body": b"POST /stats/IMG_1.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b'Content-Length: 1000\r\n\r\n{"funcs":',
}


@pytest.mark.parametrize("kind", sorted(STALLED))
def test_stalled_requests_give_way_oldest_first(server, kind):
    """Three times as many stalled clients as places, the rest in the listen backlog: a
    newcomer waited behind them for the head timeout (120 s here; 10,000 half heads held a
    client's /stats 12.5 s by default). The oldest give way, told why (408)."""
    with contextlib.ExitStack() as stack:
        stalled = []
        for _ in range(3 * PLACES):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", server.port)))
            sock.sendall(STALLED[kind])
            stalled.append(sock)
        for _ in range(3):
            assert http_get(server.url, "/health", timeout=30)[0] == 200
        oldest = stalled[0]
        oldest.settimeout(30)
        answer = oldest.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"before its place was needed by another connection" in answer


def test_one_newcomer_cuts_one_upload_at_most(server):
    """Every place taken by clients still sending a body, then one newcomer: 16 of 20 were
    cut for it (408), closed before the worker knew that anyone waited. One gives way now."""
    with contextlib.ExitStack() as stack:
        uploads = []
        for _ in range(PLACES):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", server.port)))
            sock.sendall(STALLED["body"])
            uploads.append(sock)
        assert http_get(server.url, "/health", timeout=30)[0] == 200
        cut = 0
        for sock in uploads:
            sock.settimeout(0.5)
            try:
                sock.recv(1)  # a 408, or the close of one cut without a word
                cut += 1
            except (ConnectionResetError, BrokenPipeError):
                cut += 1
            except TimeoutError:
                pass
        assert cut <= 1
