"""Request heads a real ``imgstats serve`` (gunicorn) refuses at once, sent raw: two
``Content-Length`` fields are a 400 before any body (it was a 408 after BODY_TIMEOUT)."""

from __future__ import annotations

import json
import shutil
import socket

import pytest

from benchmarks.servers import start_server
from imgstats.data import gallery_path

pytestmark = [pytest.mark.hostile, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    shutil.copyfile(gallery_path() / "IMG_1.jpg", folder / "IMG_1.jpg")
    log = tmp_path_factory.mktemp("log") / "gunicorn.log"
    # a body has a minute: an answer before that is the refusal, not the body's timeout (408)
    env = {"IMGSTATS_WARMUP": "0", "IMGSTATS_BODY_TIMEOUT": "60"}
    with start_server(folder, workers=1, env=env, log=log) as server:
        yield server


def _answer(port: int, data: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=50) as s:
        s.sendall(data)
        received = b""
        while chunk := s.recv(1 << 16):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("second", [b"6", b"5"])
def test_two_content_lengths_are_a_400_before_any_body(server, second):
    head = (
        b"POST /stats/IMG_1.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5\r\nContent-Length: " + second + b"\r\n\r\n"
    )
    status, body = _answer(server.port, head)  # and no body
    assert status == 400, body[:200]
    assert "CONTENT-LENGTH" in json.loads(body)["error"]
    health = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    status, body = _answer(server.port, health)
    assert status == 200
