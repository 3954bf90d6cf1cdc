"""A request's ``Host`` and target, sent raw to a real ``imgstats serve`` (gunicorn): an
HTTP/1.1 request without ``Host`` or with a malformed one is a 400 (RFC 9112, 3.2), ``OPTIONS
*`` is answered 204 with ``Allow`` (it was the gallery's HTML 404); ``OPTIONS`` on any route
and ``CONNECT`` are 405 with ``Allow``."""

from __future__ import annotations

import json
import shutil
import socket

import pytest

from benchmarks.servers import start_server
from imgstats.data import gallery_path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    shutil.copyfile(gallery_path() / "IMG_1.jpg", folder / "IMG_1.jpg")
    log = tmp_path_factory.mktemp("log") / "gunicorn.log"
    with start_server(folder, workers=1, env={"IMGSTATS_WARMUP": "0"}, log=log) as server:
        yield server


def _exchange(port: int, head: bytes) -> tuple[int, dict, bytes]:
    """Send one request head (``Connection: close`` added); ``(status, headers, body)``."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(head + b"Connection: close\r\n\r\n")
        received = b""
        while chunk := s.recv(1 << 16):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}
    return int(lines[0].split()[1]), fields, body


@pytest.mark.slow
@pytest.mark.parametrize(
    "head",
    [
        b"GET /health HTTP/1.1\r\n",
        b"GET /stats/IMG_1.jpg/median HTTP/1.1\r\n",
        b"GET /health HTTP/1.1\r\nHost: a b\r\n",
        b"GET /stats/IMG_1.jpg/median HTTP/1.1\r\nHost: <b>x</b>\r\n",
        b"GET /health HTTP/1.1\r\nHost: x:80:80\r\n",
    ],
)
def test_a_missing_or_malformed_host_is_a_400(server, head):
    status, fields, body = _exchange(server.port, head)
    assert status == 400, body[:300]
    assert fields["content-type"] == "application/json"
    assert "Host" in json.loads(body)["error"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "head",
    [
        b"GET /health HTTP/1.0\r\n",  # HTTP/1.0 needs no Host
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:8181\r\n",
        b"GET /health HTTP/1.1\r\nHost: [::1]:8181\r\n",
        b"GET /health HTTP/1.1\r\nHost: images.example.org\r\n",
        b"GET /health HTTP/1.1\r\nHost: \r\n",  # empty: allowed (RFC 9112, 3.2)
    ],
)
def test_a_good_host_or_none_in_http_1_0_is_served(server, head):
    assert _exchange(server.port, head)[0] == 200


@pytest.mark.slow
def test_options_asterisk_names_the_server_s_methods(server):
    status, fields, body = _exchange(server.port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n")
    assert status == 204, body[:300]
    assert fields["allow"] == "GET, HEAD, POST" and body == b""
    status, fields, body = _exchange(server.port, b"OPTIONS /health HTTP/1.1\r\nHost: x\r\n")
    assert status == 405 and "GET" in fields["allow"]


ROUTES = ["/", "/gallery", "/docs", "/health", "/stats/IMG_1.jpg/median", "/stats/IMG_1.jpg"]


@pytest.mark.slow
@pytest.mark.parametrize("path", [*ROUTES, "/assets/gallery/gallery.css"])
def test_options_on_any_route_is_a_405_naming_its_methods(server, path):
    # gallery pages and static files answered 200 (Flask's automatic OPTIONS), API routes 405
    preflight = b"Origin: http://other.example\r\nAccess-Control-Request-Method: GET\r\n"
    head = b"OPTIONS " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + preflight
    status, fields, body = _exchange(server.port, head)
    assert status == 405, body[:300]
    assert "OPTIONS" not in fields["allow"] and (
        "GET" in fields["allow"] or "POST" in fields["allow"]
    )
    assert not any(name.startswith("access-control-") for name in fields)


@pytest.mark.slow
@pytest.mark.parametrize(
    "target", [b"example.org:443", b"127.0.0.1:8181", *map(str.encode, ROUTES)]
)
def test_connect_is_a_405_naming_the_server_s_methods(server, target):
    # CONNECT host:port got the gallery's HTML 404: this server is no proxy
    head = b"CONNECT " + target + b" HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
    status, fields, body = _exchange(server.port, head)
    assert status == 405, body[:300]
    assert fields["allow"] == "GET, HEAD, POST"
    assert "proxies" in json.loads(body)["error"]


@pytest.mark.slow
def test_a_later_http_1_minor_is_answered_as_http_1_1(server):
    # gunicorn echoed the request's version: "HTTP/1.2 200 OK"
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as s:
        s.sendall(b"GET /health HTTP/1.2\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert s.recv(1 << 16).startswith(b"HTTP/1.1 200 ")
    assert _exchange(server.port, b"GET /health HTTP/1.2\r\n")[0] == 400  # no Host, as 1.1
