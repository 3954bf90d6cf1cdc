"""gunicorn's ``gthread`` worker, with each request read whole by its event loop first.

gunicorn's threaded worker hands a connection to a thread as soon as it is readable, and
the thread then blocks until the request's headers and body have arrived. Thirty-two clients
that send half a request and stall held every thread of both workers, and ``/health`` timed
out. :class:`BufferingWorker` reads the request head and body in the worker's main loop
(non-blocking, like nginx's request buffering) and hands a thread a request that is
complete, so a stalled client costs a socket, never a thread. It also:

* closes a connection whose head has not arrived within ``IMGSTATS_HEADER_TIMEOUT`` seconds
  (10; answered ``408``), or whose body has not within ``IMGSTATS_BODY_TIMEOUT`` (30);
* hands over at once a body declared larger than ``IMGSTATS_MAX_CONTENT_LENGTH`` (the app
  answers 413 without reading it), and a head over :data:`MAX_HEAD` bytes is answered 431;
* accepts new connections only while a thread is free for them, so the connections a worker
  holds are the requests it is serving or reading: when a worker is killed, other requests
  wait in the listening socket's backlog for the other workers instead of dying with it.

Everything else (parsing, keep-alive, the WSGI call) is gunicorn's own.
"""

from __future__ import annotations

import errno
import os
import re
import selectors
import socket
import time
from functools import partial

import gunicorn
from gunicorn.workers.gthread import TConn, ThreadWorker

__all__ = [
    "BufferingWorker",
    "HEADER_TIMEOUT",
    "BODY_TIMEOUT",
    "MAX_HEAD",
    "SUPPORTED",
    "request_complete",
]

#: Whether this gunicorn's threaded worker is the one this class extends (gunicorn 27: its
#: event loop, ``enqueue_req``, ``finish_request``, ``murder_pending``); ``imgstats serve``
#: falls back to plain ``gthread`` otherwise.
SUPPORTED = getattr(gunicorn, "version_info", (0,)) >= (27, 0) and all(
    hasattr(ThreadWorker, name)
    for name in (
        "accept",
        "enqueue_req",
        "finish_request",
        "on_client_socket_readable",
        "murder_pending",
        "set_accept_enabled",
        "handle",
    )
)

#: Seconds for a request's head (from the connection's accept, or its first byte on a kept-alive
#: connection), and for its body after the head.
HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 30.0
#: Most bytes of a request head (request line and header fields).
MAX_HEAD = 64 << 10

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding[ \t]*:[^\r\n]*chunked", re.IGNORECASE)


def request_complete(buf: bytes | bytearray, max_body: int) -> bool | None:
    """Whether ``buf`` holds a whole request (head and body), as far as buffering goes.

    Returns True when complete, or when a thread should take it as it is (a body declared
    larger than ``max_body``, a malformed length, a chunked body past ``max_body``: gunicorn
    and the app refuse those); False while more is to come; None when the head is too large.
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None if len(buf) > MAX_HEAD else False
    if end > MAX_HEAD:
        return None
    head = bytes(buf[: end + 2])
    body = end + 4
    if _CHUNKED.search(head):
        if len(buf) - body > max_body:
            return True
        return _chunked_complete(buf, body)
    match = _CONTENT_LENGTH.search(head)
    if match is None:
        return True
    try:
        length = int(match.group(1).strip())
    except ValueError:
        return True
    if length < 0 or length > max_body:
        return True
    return len(buf) - body >= length


def _chunked_complete(buf, pos: int) -> bool:
    """Whether a chunked body starting at ``pos`` ends (last chunk and trailer) in ``buf``."""
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return False
        try:
            size = int(bytes(buf[pos:line_end]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            return True  # malformed: gunicorn answers it
        pos = line_end + 2
        if size == 0:
            break
        pos += size + 2
        if pos > len(buf):
            return False
    while True:  # trailer fields, then an empty line
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return False
        if line_end == pos:
            return True
        pos = line_end + 2


def _float_env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


class BufferingWorker(ThreadWorker):
    """``gthread`` with request buffering in the event loop (see the module's notes)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timeout = _float_env("IMGSTATS_HEADER_TIMEOUT", HEADER_TIMEOUT)
        self.body_timeout = _float_env("IMGSTATS_BODY_TIMEOUT", BODY_TIMEOUT)
        from . import DEFAULTS

        self.max_body = int(
            _float_env("IMGSTATS_MAX_CONTENT_LENGTH", DEFAULTS["MAX_CONTENT_LENGTH"])
        )
        #: connections whose request is being read: conn -> (buffer, deadline, head seen)
        self.reading: dict = {}
        self.in_threads = 0

    # -- accepting only while a thread is free -------------------------------------------------
    def _room(self) -> bool:
        return self.nr_conns < self.worker_connections and self.in_threads < self.cfg.threads

    def set_accept_enabled(self, enabled):
        super().set_accept_enabled(enabled and self._room())

    def _update_accepting(self) -> None:
        if self.alive:
            super().set_accept_enabled(self._room())

    def accept(self, listener):
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())
        self._start_reading(conn, time.monotonic() + self.header_timeout)

    def enqueue_req(self, conn):
        self.in_threads += 1
        self._update_accepting()
        super().enqueue_req(conn)

    def finish_request(self, conn, fs):
        self.in_threads -= 1
        try:
            super().finish_request(conn, fs)
        finally:
            self._update_accepting()

    # -- reading requests in the event loop ----------------------------------------------------
    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection sends its next request: read it here too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn, time.monotonic() + self.header_timeout, readable=True)

    def _start_reading(self, conn, deadline: float, readable: bool = False) -> None:
        conn.sock.setblocking(False)
        self.reading[conn] = [bytearray(), deadline, False]
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        if readable:  # read now: a whole small request is usually there already
            self._on_readable(conn, None)

    def _on_readable(self, conn, _client) -> None:
        state = self.reading.get(conn)
        if state is None:
            return
        try:
            data = conn.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client left before sending a whole request
            self._stop_reading(conn)
            self._close(conn)
            return
        buf = state[0]
        buf += data
        complete = request_complete(buf, self.max_body)
        if complete is None:
            self._stop_reading(conn)
            self._refuse(conn, b"431 Request Header Fields Too Large")
            return
        if not state[2] and buf.find(b"\r\n\r\n") >= 0:  # the head is in: the body's turn
            state[2] = True
            state[1] = time.monotonic() + self.body_timeout
        if complete:
            self._stop_reading(conn)
            conn.buffered = bytes(buf)
            conn.data_ready = True
            self.enqueue_req(conn)

    def _stop_reading(self, conn) -> None:
        self.reading.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def murder_pending(self):
        """Also close the connections whose request did not arrive in time (408)."""
        super().murder_pending()
        now = time.monotonic()
        late = [conn for conn, (_, deadline, _) in self.reading.items() if deadline <= now]
        for conn in late:
            self._stop_reading(conn)
            self._refuse(conn, b"408 Request Timeout")

    def _refuse(self, conn, status: bytes) -> None:
        body = b'{"error": "' + status[4:] + b'", "status": ' + status[:3] + b"}\n"
        head = (
            b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nConnection: close"
            b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        try:
            conn.sock.send(head + body, socket.MSG_DONTWAIT)
        except OSError:
            pass
        self._close(conn)

    def _close(self, conn) -> None:
        self.nr_conns -= 1
        conn.close()
        self._update_accepting()

    # -- a thread serves the buffered request --------------------------------------------------
    def handle(self, conn):
        buffered = getattr(conn, "buffered", None)
        if buffered:
            conn.buffered = None
            conn.sock.setblocking(True)
            conn.init()
            if not conn.is_http2:
                conn.parser.unreader.unread(buffered)
        return super().handle(conn)

    def run(self):
        try:
            super().run()
        finally:
            for conn in list(self.reading):
                self._stop_reading(conn)
                conn.close()
