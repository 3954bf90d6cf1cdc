"""The buffering worker's parts that need no server: request framing, the non-blocking
response writer, and where a request parks instead of waiting in its thread."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from imgstats.errors import Busy
from imgstats.web import _limits
from imgstats.web._worker import (
    MAX_CHUNKS,
    MAX_HEAD,
    BareLineFeed,
    _Output,
    request_complete,
)

CHUNKED = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n", False),  # head not over
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc", False),
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde", True),
        (b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", True),  # the app says 413
        (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", True),  # gunicorn says 400
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", False),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEAD + 1), None),  # 431
        # past the limit unended (1 data byte per 6): 413 in the worker; it was handed to a
        # thread, where the app waited on the socket for the data the framing hid
        (CHUNKED + b"1\r\na\r\n" * 200_000, None),
        # ended, and within MAX_CHUNKS: the app reads it; one chunk more is refused (413) --
        # the event loop walks every chunk's framing in Python
        (CHUNKED + b"1\r\na\r\n" * MAX_CHUNKS + b"0\r\n\r\n", True),
        (CHUNKED + b"1\r\na\r\n" * (MAX_CHUNKS + 1) + b"0\r\n\r\n", None),
        (CHUNKED + b"-64\r\n", True),  # a signed size: gunicorn says 400
        # a chunk that declares more than the limit: 413 in the worker. gunicorn takes a size
        # of any length, and a thread waited on the socket for its data
        (CHUNKED + b"f" * 18 + b"\r\n", None),
        (CHUNKED + b"100001\r\n", None),
        (CHUNKED + b"0" * 20 + b"10\r\nabc", False),  # 16, leading zeros: the data is to come
        (CHUNKED + b"1\r\nab\r\n0\r\n\r\n", True),  # data past its size: gunicorn says 400
        # bare LFs end the head for the client: gunicorn says 400, not a 408 after 10 s
        (b"GET / HTTP/1.1\nHost: x\n\n", True),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\n", True),
        (b"GET / HTTP/1.1\nHost: x\n", False),
    ],
)
def test_request_complete(data, expected):
    assert request_complete(data, 1 << 20) is expected


@pytest.mark.parametrize(
    "body", [b"1\na\n0\n\n", b"1\r\na\r\n0\n\n", b"1\r\na\r\n0\r\nX: 1\n", b"1;x\n"]
)
def test_a_bare_line_feed_in_the_chunked_framing_is_refused(body):
    # gunicorn waits for the CRLF in a thread; the worker waited too, and answered 408 after
    # the body timeout: it refuses it now (400)
    with pytest.raises(BareLineFeed):
        request_complete(CHUNKED + body, 1 << 20)


def test_a_chunked_body_read_in_pieces_is_scanned_once():
    """Fed 1000 bytes at a time, a body of 1-byte chunks gives the answers of a fresh scan,
    and each call walks only the new chunks: the kept offset only grows."""
    data = CHUNKED + b"1\r\na\r\n" * 3000 + b"0\r\n\r\n"
    scanned, offsets = [0, 0], []
    for end in range(len(CHUNKED), len(data) + 1000, 1000):
        piece = data[:end]
        assert request_complete(piece, 1 << 20, scanned) is request_complete(piece, 1 << 20)
        offsets.append(scanned[0])
    assert offsets == sorted(offsets) and offsets[-1] == len(data) - 5
    assert scanned[1] == 3000  # the chunks counted once each, across the calls


def _pair(sndbuf: int = 4096):
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, sndbuf)
    return a, b


def test_output_keeps_what_the_socket_does_not_take():
    server, client = _pair()
    try:
        out = _Output(server, limit=1 << 20, timeout=1.0)
        payload = bytes(range(256)) * 2000  # 512 KB: far more than the buffers
        start = time.monotonic()
        out.sendall(b"head:")
        out.sendall(payload)
        assert time.monotonic() - start < 5  # returned without a reader (not a timing claim:
        # a blocking send would never return here)
        assert 0 < out.size < len(payload) + 5
        # what was sent plus what is pending is the whole response, in order
        client.setblocking(False)
        received = bytearray()
        while True:
            try:
                chunk = client.recv(1 << 16)
            except BlockingIOError:
                break
            received += chunk
        assert bytes(received) + b"".join(out.pending) == b"head:" + payload
    finally:
        server.close()
        client.close()


def test_output_past_its_limit_waits_and_then_gives_up():
    server, client = _pair()
    try:
        out = _Output(server, limit=1024, timeout=0.2)
        with pytest.raises((TimeoutError, BlockingIOError)):
            out.sendall(b"x" * (1 << 20))  # nobody reads: the thread's wait is bounded
    finally:
        server.close()
        client.close()


def test_output_past_its_limit_sends_all_to_a_reader():
    server, client = _pair()
    received = bytearray()

    def read():
        while len(received) < (1 << 20):
            received.extend(client.recv(1 << 16))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        out = _Output(server, limit=1024, timeout=5.0)
        out.sendall(b"y" * (1 << 20))
        reader.join(10)
        assert bytes(received) == b"y" * (1 << 20) and not out.pending
    finally:
        server.close()
        client.close()


class _Holder:
    """Another request's thread holding ``gate`` for the ``with`` block."""

    def __init__(self, gate):
        self.gate = gate
        self.held = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        with self.gate.hold():
            self.held.set()
            self.done.wait(10)

    def __enter__(self):
        self.thread.start()
        assert self.held.wait(10)
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(10)


def test_a_full_gate_parks_a_worker_request_and_refuses_when_the_queue_is_full():
    gate = _limits.Gate(1, wait=5.0, max_waiting=4)
    with _Holder(gate):
        now = time.monotonic()
        with _limits.parking(_limits.Parking(now, room=True)), pytest.raises(_limits.Park):
            with gate.hold():
                pass
        with _limits.parking(_limits.Parking(now, room=False)), pytest.raises(Busy):
            with gate.hold():
                pass
        # waited its DECODE_WAIT already (counted from its arrival): refused, not parked
        with _limits.parking(_limits.Parking(now - 10, room=True)), pytest.raises(Busy):
            with gate.hold():
                pass
        assert gate.waiting == 0  # none of them waited in its thread
    assert gate.in_flight == 0


def test_a_request_holding_a_gate_waits_in_its_thread_rather_than_parking():
    slots = _limits.Gate(2, wait=5.0)
    decodes = _limits.Gate(1, wait=0.3)
    with _Holder(decodes):
        with _limits.parking(_limits.Parking(time.monotonic(), room=True)), slots.hold():
            # inside a slot, parking would give its work up: it waits, then Busy
            with pytest.raises(Busy), decodes.hold():
                pass
    assert slots.in_flight == 0 and decodes.in_flight == 0


def test_queued_requests_go_first():
    gate = _limits.Gate(1, wait=5.0)
    now = time.monotonic()
    # room, but others are queued: a newcomer parks behind them; one of them takes it
    with _limits.parking(_limits.Parking(now, room=True, queued=2)), pytest.raises(_limits.Park):
        with gate.hold():
            pass
    with _limits.parking(_limits.Parking(now, room=True, retry=True, queued=1)):
        with gate.hold():
            assert gate.in_flight == 1


def test_a_follower_parks_instead_of_waiting_for_the_lock():
    lock = threading.Lock()
    with lock:
        with _limits.parking(_limits.Parking(time.monotonic(), room=True)):
            with pytest.raises(_limits.Park):
                _limits.acquire(lock)
    assert _limits.acquire(lock)  # outside the worker: taken at once when free
    lock.release()


def test_a_listener_closed_at_stop_is_not_accepted_from():
    # on SIGTERM the worker drains and closes its listeners; a readiness event of one polled
    # in the same batch then called accept() on the closed socket, and the worker died with
    # "'NoneType' object has no attribute 'accept'" (seen on a reload under load)
    from gunicorn.sock import TCPSocket

    from imgstats.web._worker import BufferingWorker

    listener = TCPSocket.__new__(TCPSocket)
    listener.sock = None  # as BaseSocket.close() leaves it
    assert BufferingWorker.accept(object(), listener) is None
