"""Busy kept-alive clients do not keep new connections out: a worker takes new connections
only while a thread is free, and clients that send their next request as soon as each answer
comes kept every thread taken, so a new connection (a load balancer's ``/health``) waited in
the listen backlog for as long as they went on. Their answers now say ``Connection: close``
while others wait, and their clients reconnect behind them."""

from __future__ import annotations

import shutil
import socket
import threading

import pytest

from benchmarks.servers import start_server
from imgstats.data import gallery_path

pytestmark = [pytest.mark.hostile, pytest.mark.slow]

#: Answers the busy clients get in all before they stop: /health must come before that.
LIMIT = 4000
CLIENTS = 32
ASK = b"GET /stats/IMG_1.jpg/median HTTP/1.1\r\nHost: x\r\n\r\n"


def _answer(sock: socket.socket) -> bytes:
    """The head of one answer on ``sock`` (its body read and dropped)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("closed before an answer")
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(1 << 16)
    return head


def test_busy_kept_alive_clients_let_a_new_connection_in(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copyfile(gallery_path() / "IMG_1.jpg", folder / "IMG_1.jpg")
    env = {"IMGSTATS_WARMUP": "0", "IMGSTATS_THREADS": "2"}
    with start_server(folder, workers=1, env=env, log=tmp_path / "gunicorn.log") as server:
        answered = []
        lock = threading.Lock()
        stop = threading.Event()

        def busy() -> None:
            sock = None
            while not stop.is_set():
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
                sock.sendall(ASK)
                head = _answer(sock)
                with lock:
                    answered.append(1)
                    if len(answered) >= LIMIT:
                        stop.set()
                if b"connection: close" in head.lower():
                    sock.close()
                    sock = None
            if sock is not None:
                sock.close()

        clients = [threading.Thread(target=busy, daemon=True) for _ in range(CLIENTS)]
        for client in clients:
            client.start()
        while len(answered) < 100 and not stop.is_set():  # every client busy
            stop.wait(0.05)
        with socket.create_connection(("127.0.0.1", server.port), timeout=120) as probe:
            probe.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            head = _answer(probe)
            before = len(answered)
        stop.set()
        for client in clients:
            client.join(60)
        assert head.startswith(b"HTTP/1.1 200"), head
        # it waited for the busy clients to stop (LIMIT answers): it is let in among them now
        assert before < LIMIT, before
