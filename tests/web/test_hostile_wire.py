"""Malformed HTTP on the wire, sent raw to a real ``imgstats serve`` (gunicorn) on 127.0.0.1.

What the Flask test client cannot send: bytes gunicorn parses before the app sees a request,
and bodies gunicorn decodes while the view reads them. Each gets a 4xx whose body is JSON
with a readable message (no HTML page, no traceback), and the server keeps serving.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import socket

import pytest
from web_helpers import http_get

from benchmarks.servers import start_server
from imgstats.data import gallery_path

pytestmark = [pytest.mark.hostile, pytest.mark.slow]

POST = (
    b"POST /stats/IMG_1.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One gunicorn worker over a store of one image, shared by this module's probes; a
    request has 1 s for its head and 4 s for its body."""
    folder = tmp_path_factory.mktemp("images")
    shutil.copyfile(gallery_path() / "IMG_1.jpg", folder / "IMG_1.jpg")
    log = tmp_path_factory.mktemp("log") / "gunicorn.log"
    env = {"IMGSTATS_WARMUP": "0", "IMGSTATS_HEADER_TIMEOUT": "1", "IMGSTATS_BODY_TIMEOUT": "4"}
    with start_server(folder, workers=1, env=env, log=log) as server:
        yield server


def _exchange(port: int, data: bytes) -> tuple[int, dict, bytes]:
    """Send ``data`` raw; ``(status, headers, body)`` of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(data)
        return _read_answer(s)


@contextlib.contextmanager
def _stalled(server, data: bytes, count: int):
    """``count`` connections that each send ``data`` and then nothing; closed on leaving."""
    socks = []
    try:
        for _ in range(count):
            socks.append(socket.create_connection(("127.0.0.1", server.port), timeout=15))
            socks[-1].sendall(data)
        yield socks
    finally:
        for s in socks:
            s.close()


def _read_answer(s: socket.socket) -> tuple[int, dict, bytes]:
    """``(status, headers, body)`` of the first answer on ``s``."""
    received = b""
    while chunk := s.recv(1 << 16):
        received += chunk
        head, sep, body = received.partition(b"\r\n\r\n")
        if sep:
            fields = dict(
                line.decode("latin-1").lower().split(": ", 1) for line in head.split(b"\r\n")[1:]
            )
            if len(body) >= int(fields.get("content-length", 1 << 30)):
                return int(head.split()[1]), fields, body
    raise AssertionError(f"no whole answer: {received[:300]!r}")


#: (request bytes, status): chunked bodies that gunicorn refuses while the view reads them.
BAD_CHUNKS = [
    (POST + b"zz\r\n", 400),  # not a hexadecimal size: it was a 500
    (POST + b"5\r\n{}{}{}{}\r\n0\r\n\r\n", 400),  # a chunk longer than its size
    (POST + b"-1\r\n{}\r\n0\r\n\r\n", 400),
]


@pytest.mark.parametrize(("data", "status"), BAD_CHUNKS, ids=range(len(BAD_CHUNKS)))
def test_a_malformed_chunked_body_is_a_400(server, data, status):
    got, headers, body = _exchange(server.port, data)
    assert got == status, body[:300]
    assert headers["content-type"] == "application/json"
    error = json.loads(body)
    assert "chunked body" in error["error"] and "Traceback" not in error["error"]
    assert http_get(server.url, "/health", timeout=10)[0] == 200


def _get(target: bytes, fields: bytes = b"", method: bytes = b"GET") -> bytes:
    return method + b" " + target + b" HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"


def test_a_body_over_the_limit_is_one_kind_of_413_chunked_or_not(server):
    """A client telling a 413's cause by its ``type`` saw two: Flask's "Request Entity Too
    Large" for a Content-Length over the limit (curl's POST of a file), the worker's "Content
    Too Large" for a chunked body over it."""
    body = b'{"funcs": ["min"], "pad": "' + b"a" * ((1 << 20) + 1024) + b'"}'
    # as curl sends it: the head, then the body only after a 100 Continue (never sent here)
    by_length = POST.replace(
        b"Transfer-Encoding: chunked", b"Content-Length: %d\r\nExpect: 100-continue" % len(body)
    )
    # a chunked body over the limit still arriving (no last chunk yet): the worker refuses it
    chunked = POST + b"%x\r\n" % len(body) + body
    kinds = set()
    for data in (by_length, chunked):
        got, headers, answer = _exchange(server.port, data)
        assert got == 413 and headers["content-type"] == "application/json", answer[:300]
        kinds.add(json.loads(answer)["type"])
    assert len(kinds) == 1, kinds


#: (request bytes, status): requests gunicorn refuses before the app sees them. They were
#: answered with gunicorn's HTML page ("<html>...<h1><p>URI Too Long</p></h1>...").
UNPARSED = [
    (_get(b"/stats/" + b"a" * 10_000 + b"/median"), 414),  # a 10 kB image name
    (_get(b"/stats/IMG_1.jpg/" + b"p1," * 3000 + b"p2"), 414),  # a long function list
    (_get(b"/health", method=b"get"), 400),  # a lower-case method
    (_get(b"/stats/\xff\xfe/median"), 400),  # raw bytes that are not ASCII
    (_get(b"*"), 400),
    (_get(b"/health", b"X-Big: " + b"a" * 9000 + b"\r\n"), 431),  # one field over 8 kB
    (_get(b"/health", b"".join(b"X-%d: v\r\n" % i for i in range(120))), 431),  # 120 fields
    (_get(b"/health", b"Host: y\r\n"), 400),  # two Host fields
    (_get(b"/health", b"X: a\r\n b\r\n"), 400),  # obsolete line folding
    (b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 400),
    (
        _get(
            b"/stats/IMG_1.jpg",
            b"Content-Type: application/json\r\nExpect: bogus\r\nContent-Length: 2\r\n",
            b"POST",
        )
        + b"{}",
        417,
    ),
    (
        _get(
            b"/stats/IMG_1.jpg",
            b"Content-Type: application/json\r\nContent-Length: -1\r\n",
            b"POST",
        ),
        400,
    ),
    (
        _get(
            b"/stats/IMG_1.jpg",
            b"Content-Type: application/json\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n",
            b"POST",
        )
        + b"0\r\n\r\n",
        400,
    ),  # both lengths: request smuggling
]


@pytest.mark.parametrize(("data", "status"), UNPARSED, ids=range(len(UNPARSED)))
def test_a_request_gunicorn_refuses_is_answered_as_json(server, data, status):
    got, headers, body = _exchange(server.port, data)
    assert got == status, body[:300]
    assert headers["content-type"] == "application/json", body[:300]
    error = json.loads(body)
    assert error["status"] == status and error["error"] and "<" not in error["error"]
    assert http_get(server.url, "/stats/IMG_1.jpg/max", timeout=30)[0] == 200


#: (request bytes, status, what the message says): requests the worker refuses itself. Their
#: message was only the reason phrase ("Request Timeout"), which says nothing of the cause.
REFUSED = [
    (b"GET /health HTTP/1.1\nHost: x\n", 408, "IMGSTATS_HEADER_TIMEOUT"),  # no end of the head
    (b"\x16\x03\x01\x00\xa5\x01\x00", 408, "head (up to an empty line"),  # a TLS hello
    (
        POST.replace(b"Transfer-Encoding: chunked", b"Content-Length: 100") + b'{"funcs":',
        408,
        "IMGSTATS_BODY_TIMEOUT",
    ),
    (_get(b"/health", b"X-Big: " + b"a" * (70 << 10) + b"\r\n"), 431, "65536 bytes"),
    # gunicorn's own limits said "limit request headers fields (size)": its settings' words
    (_get(b"/health", b"X-Big: " + b"a" * 9000 + b"\r\n"), 431, "longer than 8190 bytes"),
    (_get(b"/health", b"".join(b"X-%d: v\r\n" % i for i in range(120))), 431, "100 header"),
]


@pytest.mark.parametrize(("data", "status", "says"), REFUSED, ids=range(len(REFUSED)))
def test_a_request_the_worker_refuses_says_why(server, data, status, says):
    got, headers, body = _exchange(server.port, data)
    assert got == status and headers["content-type"] == "application/json", body[:300]
    assert says in json.loads(body)["error"]
    if status == 415:  # which codings are taken (RFC 9110, 15.5.16): it said none
        assert headers["accept-encoding"] == "identity"
    assert http_get(server.url, "/health", timeout=10)[0] == 200


def test_half_a_pipelined_request_holds_no_thread(server):
    """32 connections (more than the worker's 14 threads) each send a whole request and,
    pipelined behind it, half of the next ('GET /he'). gunicorn handed the half to a thread,
    which blocked on the socket for good: /health timed out. Now the half waits in the event
    loop: /health answers, and each half gets a 408 once the head timeout passes."""
    with _stalled(server, _get(b"/health") + b"GET /he", 32) as socks:
        for _ in range(3):
            assert http_get(server.url, "/health", timeout=5)[0] == 200
        for s in socks:
            received = b""
            while chunk := s.recv(1 << 16):
                received += chunk
            assert received.startswith(b"HTTP/1.1 200 ")
            assert b"HTTP/1.1 408 " in received and b"IMGSTATS_HEADER_TIMEOUT" in received


def test_pipelined_requests_are_all_answered_in_order(server):
    data = (
        _get(b"/health")
        + b"\r\n"  # a stray empty line between requests is ignored
        + _get(b"/stats/IMG_1.jpg/max")
        + _get(b"/stats/nope.jpg/max", b"Connection: close\r\n")
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as s:
        s.sendall(data)
        received = b""
        while chunk := s.recv(1 << 16):
            received += chunk
    statuses = [int(part[:3]) for part in received.split(b"HTTP/1.1 ")[1:]]
    assert statuses == [200, 200, 404], received[-500:]


def test_a_refused_body_that_never_comes_holds_no_thread(tmp_path):
    """40 clients (the worker has 2 threads) declare a 10 MB body, send 1000 bytes of it
    and stall. The app answers 413 without reading it; gunicorn then waited 5 s in the
    thread for the rest, so /health waited for a thread: here 20 rounds of 5 s, 100 s. Now
    the connection is closed after the 413 and the event loop drains it: /health comes
    within its 30 s, and a stall of the machine shorter than that fails nothing (with the
    module's 14 threads the old code's wait was 5 s and the bound had to be 3 s)."""
    shutil.copyfile(gallery_path() / "IMG_1.jpg", tmp_path / "IMG_1.jpg")
    env = {"IMGSTATS_WARMUP": "0", "IMGSTATS_THREADS": "2", "IMGSTATS_BODY_TIMEOUT": "4"}
    with start_server(tmp_path, workers=1, env=env, log=tmp_path / "gunicorn.log") as server:
        head = POST.replace(b"Transfer-Encoding: chunked", b"Content-Length: 10000000")
        with _stalled(server, head + b"a" * 1000, 40) as socks:
            assert http_get(server.url, "/health", timeout=30)[0] == 200
            for s in socks:
                assert s.recv(1 << 16).startswith(b"HTTP/1.1 413 ")


def test_a_chunked_body_of_tiny_chunks_holds_no_thread(server):
    """20 clients send 1.2 MB of 1-byte chunks (200 kB of data) and stall. Past 1 MiB the
    worker handed each to a thread, where the app waited on the socket for the data the
    framing hid: /health timed out for as long as they stayed. The worker now answers 413
    itself."""
    with _stalled(server, POST + b"1\r\na\r\n" * 200_000, 20) as socks:
        assert http_get(server.url, "/health", timeout=5)[0] == 200
        for s in socks:
            status, headers, body = _read_answer(s)
            # 408 when the loaded loop read too slowly to see the chunks within 4 s
            message = json.loads(body)["error"]
            assert (status, "chunks" in message or "framing included" in message) in {
                (413, True),
                (408, False),
            }


@pytest.mark.parametrize("size", [b"f" * 18, b"0" * 20 + b"10"], ids=["huge", "zeros"])
def test_a_chunk_size_of_many_digits_holds_no_thread(server, size):
    """20 clients (the worker has 14 threads) send a chunk size of more than 16 hex digits
    and stall. The worker took such a size for malformed and handed the request to a thread,
    but gunicorn reads a size of any length, and the thread waited on the socket for the
    chunk's data: /health timed out. A chunk larger than the body limit is now refused (413)
    at once, and one within it (16 after 20 zeros) waits in the event loop (408)."""
    with _stalled(server, POST + size + b"\r\n", 20) as socks:
        assert http_get(server.url, "/health", timeout=5)[0] == 200
        for s in socks:
            status, _, answer = _read_answer(s)
            assert status == (413 if size.startswith(b"f") else 408), answer


def test_a_bare_line_feed_in_the_chunked_framing_is_a_400_at_once(server):
    # the event loop waited for a CRLF that never came, and answered 408 after the body
    # timeout (4 s here, 30 by default); gunicorn would have waited in a thread
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as s:
        s.sendall(POST + b"1\nx\n0\n\n")
        status, headers, body = _read_answer(s)
    assert status == 400 and "bare LF" in json.loads(body)["error"]


def test_bodies_of_many_tiny_chunks_are_refused_and_health_answers(server):
    """40 clients each send a whole body of 20,000 one-byte chunks. The event loop walks each
    chunk's framing in Python: 40 such bodies of a megabyte held it for seconds, and /health
    waited. Past MAX_CHUNKS chunks a body is refused (413), the rest not read."""
    body = b"1\r\na\r\n" * 20_000 + b"0\r\n\r\n"
    with _stalled(server, POST + body, 40) as socks:
        assert http_get(server.url, "/health", timeout=5)[0] == 200
        for s in socks:
            status, _, answer = _read_answer(s)
            assert status == 413 and "more than 16384 chunks" in json.loads(answer)["error"]


#: (request bytes, status, words of the message): compressed bodies, refused by name.
ENCODED = [
    # a coding gunicorn does not decode: it was ignored, and the body read as it came (200)
    (
        b"POST /stats/IMG_1.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: gzip, chunked\r\n\r\n11\r\n"
        b'{"funcs":["min"]}\r\n0\r\n\r\n',
        501,
        "transfer coding 'gzip'",
    ),
    # it was a 400 "the body is not valid JSON: 'utf-8' codec can't decode byte 0x8b"
    (
        b"POST /stats/IMG_1.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Encoding: gzip\r\nContent-Length: 37\r\n\r\n"
        + gzip.compress(b'{"funcs":["min"]}', mtime=0),
        415,
        "send it as plain JSON",
    ),
]


@pytest.mark.parametrize(("data", "status", "says"), ENCODED, ids=["transfer", "content"])
def test_a_compressed_body_is_refused_by_name(server, data, status, says):
    if b"Content-Length: 37" in data:
        assert len(data.partition(b"\r\n\r\n")[2]) == 37
    got, headers, body = _exchange(server.port, data)
    assert got == status, body[:300]
    assert headers["content-type"] == "application/json"
    assert says in json.loads(body)["error"]
    if status == 415:  # which codings are taken (RFC 9110, 15.5.16): it said none
        assert headers["accept-encoding"] == "identity"
    assert http_get(server.url, "/health", timeout=10)[0] == 200


def test_a_body_over_the_limit_is_answered_with_connection_close(server):
    # the 413 said "Connection: keep-alive" and the server then closed the connection: a
    # client reusing it for its next request found it closed
    body = b'{"funcs": ["min"], "x": "' + b"a" * (1 << 21) + b'"}'
    head = (
        b"POST /stats/IMG_1.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as s:
        s.sendall(head + body)
        status, headers, answer = _read_answer(s)
        assert status == 413, answer[:300]
        assert headers["connection"] == "close"
        with contextlib.suppress(ConnectionResetError):
            assert s.recv(1 << 16) == b""  # closed, as it says
    assert http_get(server.url, "/health", timeout=10)[0] == 200


@pytest.mark.parametrize(
    "data", [b"GET /health HTTP/1.1\nHost: x\n\n", b"GET /health HTTP/1.1\r\nHost: x\r\n\n"]
)
def test_bare_line_feeds_are_a_400_at_once(server, data):
    # the worker waited for CRLF CRLF, and answered 408 after the header timeout
    got, headers, body = _exchange(server.port, data)
    assert got == 400, body[:300]
    assert "bare LF" in json.loads(body)["error"]


def test_a_client_that_expects_100_continue_gets_it_before_its_body(server):
    # the event loop read the body before gunicorn (which sends 100 Continue) saw the
    # request: such a client waited its own timeout (curl: 1 s), or the body timeout
    body = b'{"funcs": ["max"]}'
    head = (
        b"POST /stats/IMG_1.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as s:
        s.sendall(head)
        assert s.recv(1 << 16) == b"HTTP/1.1 100 Continue\r\n\r\n"  # before the body
        s.sendall(body)
        status, _, answer = _read_answer(s)  # and no second, late 100 Continue
    assert status == 200 and json.loads(answer)["values"]["max"] == 255


def test_a_body_over_the_limit_gets_no_100_continue(server):
    # gunicorn sent 100 Continue, inviting the upload of a body then refused unread (413)
    head = (
        b"POST /stats/IMG_1.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: 5000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as s:
        s.sendall(head)
        status, headers, _ = _read_answer(s)
    assert status == 413 and headers["connection"] == "close"


#: Heads whose client waits for an answer before its body, which the server refuses unread;
#: and the status that answers them at once.
WAITING = b"Expect: 100-continue\r\n"
REFUSED_UNREAD = [
    (b"POST /stats/IMG_1.jpg", b"Content-Type: text/plain\r\n" + WAITING, 415),
    (b"POST /zonal/IMG_1.jpg", WAITING, 415),  # no Content-Type at all
    (
        b"POST /stats/IMG_1.jpg",
        b"Content-Type: application/json\r\nContent-Encoding: gzip\r\n" + WAITING,
        415,
    ),
    (b"PUT /stats/IMG_1.jpg", b"Content-Type: application/json\r\n" + WAITING, 405),
    (b"POST /stats/IMG_1.jpg", b"Content-Type: application/json\r\nExpect: bogus\r\n", 417),
    (
        b"POST /stats/IMG_1.jpg",
        b"Content-Type: application/json\r\nExpect: 100-continue, x\r\n",
        417,
    ),
]


@pytest.mark.parametrize(("target", "fields", "status"), REFUSED_UNREAD)
def test_a_body_refused_unread_is_answered_before_it_comes(server, target, fields, status):
    # the event loop sent 100 Continue to every head that waited for it, inviting the upload
    # of a body then refused unread; and it waited for the body of an expectation gunicorn
    # refuses (417), which such a client may hold back until it hears: 408 after the body
    # timeout. The final status comes at once instead (RFC 9110, 10.1.1)
    head = target + b" HTTP/1.1\r\nHost: x\r\n" + fields + b"Content-Length: 300000\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as s:
        s.sendall(head)
        got, headers, body = _read_answer(s)
    assert got == status and headers["connection"] == "close"
    assert json.loads(body)["status"] == status
    assert http_get(server.url, "/health", timeout=10)[0] == 200


@pytest.mark.parametrize(
    "fields", [WAITING * 2, b"Expect: 100-continue\r\nExpect: 100-Continue \r\n"]
)
def test_two_expect_fields_of_100_continue_are_invited_as_one(server, fields):
    # joined by commas, two fields of 100-continue read as an expectation gunicorn refuses:
    # the request went to a thread without its body, nobody sent 100 Continue, and the app's
    # read of the body held the thread until the client left (25 such connections stopped
    # /health). gunicorn reads them one by one: the client is invited, and answered
    body = json.dumps({"funcs": ["max"]}).encode()
    head = (
        b"POST /stats/IMG_1.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + fields
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head)
        assert s.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n")
        s.sendall(body)
        got, _, answer = _read_answer(s)
    assert got == 200, answer
    assert "error" not in json.loads(answer), answer
