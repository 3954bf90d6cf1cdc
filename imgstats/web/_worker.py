"""gunicorn's ``gthread`` worker, with each request read whole by its event loop first.

gunicorn's threaded worker hands a connection to a thread as soon as it is readable, and
the thread then blocks until the request's headers and body have arrived. Thirty-two clients
that send half a request and stall held every thread of both workers, and ``/health`` timed
out. :class:`BufferingWorker` reads the request head and body in the worker's main loop
(non-blocking, like nginx's request buffering) and hands a thread a request that is
complete, so a stalled client costs a socket, never a thread. It also:

* closes a connection whose head has not arrived within ``IMGSTATS_HEADER_TIMEOUT`` seconds
  (10; answered ``408``), or whose body has not within ``IMGSTATS_BODY_TIMEOUT`` (30);
* reads a request pipelined behind another (bytes gunicorn's parser already holds) the same
  way, instead of handing half of one to a thread;
* hands over at once a body declared larger than ``IMGSTATS_MAX_CONTENT_LENGTH`` (the app
  answers 413 without reading it), and a head over :data:`MAX_HEAD` bytes is answered 431;
* accepts new connections only while a thread is free for them, so the connections a worker
  holds are the requests it is serving or reading: when a worker is killed, other requests
  wait in the listening socket's backlog for the other workers instead of dying with it;
  while connections wait there and no thread is free, its answers close their connections
  (``Connection: close``), so that busy kept-alive clients do not keep the others out.

Everything else (parsing, keep-alive, the WSGI call) is gunicorn's own.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import select
import selectors
import socket
import struct
import threading
import time
from collections import deque
from functools import partial

import gunicorn
from gunicorn import http
from gunicorn.http.errors import LimitRequestHeaders, ParseException
from gunicorn.workers.gthread import TConn, ThreadWorker

from . import _limits
from ._arbiter import mark_ready

__all__ = [
    "BufferingWorker",
    "HEADER_TIMEOUT",
    "BODY_TIMEOUT",
    "MAX_HEAD",
    "SEND_TIMEOUT",
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
        "_keepalive_after",
    )
)

#: Seconds for a request's head (from the connection's accept, or its first byte on a kept-alive
#: connection), and for its body after the head.
HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 30.0
#: Most bytes of a request head (request line and header fields).
MAX_HEAD = 64 << 10
#: Seconds a response may make no progress (its client reads nothing) before the connection
#: is reset.
SEND_TIMEOUT = 30.0
#: Bytes of one response the event loop may hold for a slow reader; past them the thread
#: sends the rest itself (blocking, up to SEND_TIMEOUT without progress: ``SO_SNDTIMEO``).
OUTPUT_LIMIT = 32 << 20
#: Most chunks of a chunked request body. The event loop walks each chunk's framing in Python
#: (about a microsecond), so forty bodies of one-byte chunks held it for seconds and /health
#: waited; a body of more chunks is refused (413) like one too large. Clients send chunks of
#: kilobytes: a megabyte in this many chunks is 64 bytes a chunk.
MAX_CHUNKS = 1 << 14
#: Seconds a connection may stay silent (no byte since its accept) while the worker has no
#: place left for another: then it is closed to make room.
SILENT_GRACE = 1.0
#: Connections still reading a request closed at once to make room for those waiting in the
#: listen backlog (:meth:`BufferingWorker._give_way`).
EVICT_BATCH = 16
#: What a connection closed to make room is told, when it had sent part of its request.
EVICTED = (
    "the request did not arrive whole before its place was needed by another connection "
    "(every connection of this worker taken): send the request at once, or retry"
)
#: Seconds a gracefully closed connection is drained for what its client still sends.
LINGER = 2.0
#: Seconds a request thread may wait for the rest of a body the app left unread (gunicorn
#: waits 5) before the connection is closed, and drained by the event loop (LINGER) instead.
DRAIN_SECONDS = 0.1
#: Requests retried from the queue at each wake-up (a slot freed, a request finished).
RETRY_BATCH = 2
#: Seconds before its graceful timeout at which a stopping worker answers the requests still
#: queued (503): the master kills it at that timeout, and its loop wakes once a second.
STOP_MARGIN = 1.5

_PARKED = object()  # handle()'s result for a request that went back to the queue

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding[ \t]*:[^\r\n]*chunked", re.IGNORECASE)
_EXPECT = re.compile(rb"\r\nexpect[ \t]*:([^\r\n]*)", re.IGNORECASE)
#: What a client that sent ``Expect: 100-continue`` waits for before it sends its body.
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def request_complete(
    buf: bytes | bytearray, max_body: int, scanned: list | None = None
) -> bool | None:
    """Whether ``buf`` holds a whole request (head and body), as far as buffering goes.

    Returns True when complete, or when a thread should take it as it is (a body declared
    larger than ``max_body``, a malformed length: gunicorn and the app refuse those); False
    while more is to come; None when the head is too large, or a chunked body passes
    ``max_body`` bytes (framing included) unended: its framing may hide how little data it
    holds ('1\\r\\na\\r\\n' is 6 bytes for 1), so the app would wait for the rest in a thread;
    None too for a chunked body of more than :data:`MAX_CHUNKS` chunks, or of a chunk that
    declares more than ``max_body`` bytes; :class:`BareLineFeed` for a chunked framing line
    that ends with a bare LF. ``scanned`` carries a
    chunked body's scan from one call to the next (see :func:`_chunked_complete`).
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if buf.find(b"\n\n", 0, MAX_HEAD) >= 0:
            # a head of bare LFs ends here, for its client: gunicorn says 400 ("bare LF as
            # line terminator") at once, where the wait for CRLF CRLF ended in a 408 after
            # HEADER_TIMEOUT
            return True
        return None if len(buf) > MAX_HEAD else False
    if end > MAX_HEAD:
        return None
    head = bytes(buf[: end + 2])
    body = end + 4
    if _CHUNKED.search(head):
        complete = _chunked_complete(buf, body, scanned, max_body)
        if complete is None:
            return None
        return None if not complete and len(buf) - body > max_body else complete
    lengths = _CONTENT_LENGTH.findall(head)
    if len(lengths) != 1:  # none; or two, which gunicorn refuses (400) once it has the head:
        return True  # waiting for a body by one of them held the client BODY_TIMEOUT first
    try:
        length = int(lengths[0].strip())
    except ValueError:
        return True
    if length < 0 or length > max_body:
        return True
    return len(buf) - body >= length


def _expectations(head: bytes) -> list[bytes]:
    """The ``Expect`` fields of a request head, each trimmed and in lower case (none: an
    empty list). gunicorn reads them one by one: a request expects ``100-continue`` when
    every field is exactly that, and any other field is its 417. Joined, two fields of
    ``100-continue`` read as an expectation gunicorn refuses: the request went to a thread
    without its body, gunicorn met it and sent no ``100 Continue``, and the app's read of the
    body held the thread until the client left (25 such connections stopped ``/health``)."""
    return [value.strip().lower() for value in _EXPECT.findall(head)]


def _refused_unread(head: bytes) -> bool:
    """Whether the app refuses this request's body without reading it: a method that takes
    none, or a POST body it does not take (415 for a Content-Type that is not JSON, a
    ``Content-Encoding``; 501 for an unknown transfer coding). Such a body is not asked
    for: ``100 Continue`` invited a client to upload it only to be refused (RFC 9110,
    10.1.1: a final status instead)."""
    from werkzeug.datastructures import Headers

    from .api import body_refusal

    line, _, fields = head.partition(b"\r\n")
    if not line.startswith(b"POST "):
        return True
    pairs = []
    for field in fields.decode("latin-1").split("\r\n"):
        name, colon, value = field.partition(":")
        if colon:
            pairs.append((name.strip(), value.strip()))
    return body_refusal(Headers(pairs)) is not None


def _declared_length(req) -> int:
    """The Content-Length a parsed request declares (-1 without one)."""
    for name, value in req.headers:
        if name == "CONTENT-LENGTH":
            value = value.strip()
            return int(value) if value.isdigit() else -1
    return -1


_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]+")


class BareLineFeed(ValueError):
    """A chunked body's framing line (a chunk size, a trailer field) ends with a bare LF:
    gunicorn waits for its CRLF, in a thread, so the worker answers 400 itself."""


def _line_end(buf, pos: int) -> int:
    """Where the CRLF ending the framing line at ``pos`` starts (-1: not arrived yet).

    Raises
    ------
    BareLineFeed
        When an LF without its CR comes first.
    """
    end = buf.find(b"\n", pos)  # one search: the event loop walks every chunk's framing
    if end < 0:
        return -1
    if end == pos or buf[end - 1] != 13:
        raise BareLineFeed("a line of the chunked framing ends with a bare LF, not CRLF")
    return end - 1


def _chunked_complete(
    buf, pos: int, scanned: list | None = None, max_size: float = math.inf
) -> bool | None:
    """Whether a chunked body starting at ``pos`` ends (last chunk and trailer) in ``buf``;
    None once it has more than :data:`MAX_CHUNKS` chunks, or a chunk declares more than
    ``max_size`` bytes.

    ``scanned`` (``[offset, chunks]``, kept by the caller between calls on a growing ``buf``)
    is where the whole chunks seen so far end, and how many they are: each call walks only
    the new ones, so a body of 1-byte chunks costs its length once, not once per read.
    """
    chunks = 0
    if scanned is not None:
        pos = max(pos, scanned[0])
        chunks = scanned[1]
    while True:
        line_end = _line_end(buf, pos)
        if line_end < 0:
            return False
        token = bytes(buf[pos:line_end]).split(b";", 1)[0].strip(b" \t")
        if not _CHUNK_SIZE.fullmatch(token):
            return True  # malformed ('-64', 'zz'): gunicorn answers it
        size = int(token, 16)
        if size > max_size:
            # refused now: gunicorn takes a size of any length ('ffffffffffffffffff', or 16
            # with leading zeros), and a thread then waited on the socket for its data
            return None
        if size == 0:
            pos = line_end + 2
            break
        if line_end + 2 + size + 2 > len(buf):
            return False
        pos = line_end + 2 + size + 2
        if buf[pos - 2] != 13 or buf[pos - 1] != 10:
            return True  # data longer than its size: gunicorn answers it, all of it here
        chunks += 1
        if scanned is not None:
            scanned[0] = pos
            scanned[1] = chunks
        if chunks > MAX_CHUNKS:
            return None
    while True:  # trailer fields, then an empty line
        line_end = _line_end(buf, pos)
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


class _Output:
    """The socket a request thread writes to: it sends what the kernel takes at once and
    keeps the rest (``pending``: views of the response's own bytes, not copies) for the event
    loop, unless that passes ``limit`` bytes."""

    def __init__(self, sock, limit: int, timeout: float):
        self._sock = sock
        self._limit = limit
        self._timeout = timeout
        self.pending: deque = deque()
        self.size = 0

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def sendall(self, data) -> None:
        view = memoryview(data).cast("B")
        if not self.pending:
            try:
                while view:
                    view = view[self._sock.send(view, socket.MSG_DONTWAIT) :]
            except (BlockingIOError, InterruptedError):
                pass
        if not view:
            return
        if self.size + len(view) <= self._limit:
            if not isinstance(data, bytes):  # bytes cannot change under the loop; others can
                view = memoryview(bytes(view))
            self.pending.append(view)
            self.size += len(view)
            return
        # too much to hold: this thread sends, as gunicorn's own worker does, but gives up
        # after the send timeout without progress
        while self.pending:
            self._send_waiting(self.pending.popleft())
        self.size = 0
        self._send_waiting(view)

    def send(self, data, flags=0) -> int:
        self.sendall(data)
        return len(data)

    def sendfile(self, file, offset=0, count=None) -> int:
        """gunicorn's sendfile path (static files): read, then as ``sendall`` (in order)."""
        file.seek(offset)
        data = file.read(count) if count else file.read()
        self.sendall(data)
        return len(data)

    def _send_waiting(self, view) -> None:
        timeout = self._timeout if self._timeout > 0 else None
        with selectors.DefaultSelector() as ready:
            ready.register(self._sock, selectors.EVENT_WRITE)
            while view:
                try:
                    view = view[self._sock.send(view, socket.MSG_DONTWAIT) :]
                    continue
                except (BlockingIOError, InterruptedError):
                    pass
                if not ready.select(timeout):
                    raise TimeoutError("the client read none of its response")


def json_error(status: bytes, message: str, retry_after: int | None = None) -> bytes:
    """A whole ``Connection: close`` response of ``status`` (``b"408 Request Timeout"``) whose
    body is the app's JSON error object ``{"error": message, "status": n, "type": reason}``
    (with ``Retry-After`` when given)."""
    code, _, reason = status.decode("latin-1").partition(" ")
    body = json.dumps({"error": message, "status": int(code), "type": reason}).encode() + b"\n"
    retry = b"" if retry_after is None else b"\r\nRetry-After: " + str(retry_after).encode()
    head = (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nConnection: close"
        b"\r\nCache-Control: no-store"
        + retry
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
    )
    return head + body


class _ErrorPage:
    """Stands for the client's socket while gunicorn writes its HTML error page, and keeps
    the page's status line: gunicorn still decides the status and logs the error."""

    def __init__(self):
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0  # non-blocking: gunicorn's write_nonblock leaves it as it is

    def setblocking(self, flag) -> None:
        pass

    def sendall(self, data) -> None:
        self.data += bytes(data)

    def status(self) -> bytes | None:
        """``b"414 URI Too Long"``, or None when gunicorn wrote nothing."""
        line = self.data.split(b"\r\n", 1)[0]
        return line.split(b" ", 1)[1] if line.startswith(b"HTTP/") and b" " in line else None


class _Conn(TConn):
    """A connection whose graceful close does not block the event loop (the worker drains
    it), and which remembers its request for a retry."""

    worker = None  # set by the worker
    raw = b""  # the complete request, for a retry from the queue
    arrived = 0.0
    retry = False
    follower = False  # parked waiting for another request's computation, not for a slot
    abort = False
    pending = None  # views of the response bytes the event loop still has to send
    body_unsent = False  # handed over before its body, which it waits to be invited to send

    def close(self, graceful=False):
        if self.abort:  # a client that does not read: reset, drop what is unsent
            with _suppress_oserror():
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            graceful = False
        if graceful and self.worker is not None:
            self.worker._linger(self.sock)
            return
        super().close(graceful=graceful)


class _suppress_oserror:
    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        return kind is not None and issubclass(kind, OSError)


def _queue_places() -> int:
    """``SLOW_QUEUE`` as the app reads it (its default follows the decode budget): read by
    the app's own :func:`~imgstats.web.settings`, since ``int()`` of the environment's text
    failed on ``IMGSTATS_PIXEL_LIMIT=1e9``, which the app takes, with a traceback."""
    from . import settings

    return max(0, int(settings()["SLOW_QUEUE"]))


#: Seconds a worker warms up (makes its app, loads or compiles the kernels) before it says
#: in the log why it is not ready yet: a first start on a machine compiles the kernels
#: (``IMGSTATS_WARM_NOTICE``).
WARM_NOTICE = 10.0


class BufferingWorker(ThreadWorker):
    """``gthread`` with request buffering in the event loop (see the module's notes)."""

    def load_wsgi(self):
        """Make the app (and warm it up), saying in the log when that takes a while: on a
        first start the kernels are compiled (about a minute of CPU per worker; numba
        caches them, and later starts take seconds), and a log that says only "Booting
        worker" for a minute reads as a hang."""
        started = time.monotonic()
        after = _float_env("IMGSTATS_WARM_NOTICE", WARM_NOTICE)
        notice = threading.Timer(after, self._still_warming)
        notice.daemon = True
        notice.start()
        try:
            super().load_wsgi()
        finally:
            notice.cancel()
        took = time.monotonic() - started
        if took >= after:
            self.log.info("Worker %s warmed up in %.0f s", self.pid, took)

    def _still_warming(self) -> None:
        self.log.info(
            "Worker %s is warming up: a first start compiles the counting kernels (about a "
            "minute of CPU per worker; cached for later starts). It answers once ready.",
            self.pid,
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timeout = _float_env("IMGSTATS_HEADER_TIMEOUT", HEADER_TIMEOUT)
        self.body_timeout = _float_env("IMGSTATS_BODY_TIMEOUT", BODY_TIMEOUT)
        from . import DEFAULTS

        self.max_body = int(
            _float_env("IMGSTATS_MAX_CONTENT_LENGTH", DEFAULTS["MAX_CONTENT_LENGTH"])
        )
        self.send_timeout = _float_env("IMGSTATS_SEND_TIMEOUT", SEND_TIMEOUT)
        #: connections whose request is being read: conn -> (buffer, deadline, head seen)
        self.reading: dict = {}
        self.in_threads = 0
        #: complete requests waiting for slow work, without a thread (SLOW_QUEUE places)
        self.parked: deque = deque()
        #: those waiting for another request's computation (they share the places): kept
        #: apart, so that they are never ahead of a request that a free slot could serve
        self.following: deque = deque()
        self.queue_places = _queue_places()
        self._last_retry = 0.0
        #: closed connections being drained: sock -> deadline
        self.lingering: dict = {}
        #: connections whose response the event loop is sending: conn -> [future, deadline]
        self.flushing: dict = {}
        #: when a stopping worker answers what is still queued (set on SIGTERM)
        self._stop_deadline = math.inf

    # -- accepting only while a thread is free -------------------------------------------------
    def _room(self) -> bool:
        return self.nr_conns < self.worker_connections and self.in_threads < self.cfg.threads

    def _takes_connections(self) -> bool:
        """Whether the listeners are polled: while a thread is free and there is a place, or
        a connection still reading its request that can give way (:meth:`_give_way`)."""
        if self.in_threads >= self.cfg.threads:
            return False
        return self.nr_conns < self.worker_connections or bool(self.reading)

    def set_accept_enabled(self, enabled):
        # gunicorn's loop asks to stop at worker_connections; this worker decides, but a
        # stopping worker's "stop" stands
        super().set_accept_enabled((enabled or self.alive) and self._takes_connections())

    def _update_accepting(self) -> None:
        if self.alive:
            super().set_accept_enabled(self._takes_connections())

    def accept(self, listener, readable: bool = False):
        """gunicorn's accept, the request then read by the event loop (at once when
        ``readable``: what has arrived already is read before the poller hears of it).
        With every place taken, a connection still reading gives way to each newcomer
        actually taken from the backlog (:meth:`_give_way`)."""
        if getattr(listener, "sock", True) is None:
            # closed by _drain_backlog while its readiness, polled with the stop's wake-up,
            # was still to be dispatched: the worker died on None.accept
            return
        if self.nr_conns >= self.worker_connections:
            self._give_way(listener)
            return
        taken = self._accept_one(listener)
        if taken is not None:
            self._take(listener, *taken, readable=readable)

    @staticmethod
    def _accept_one(listener):
        """``(socket, address)`` of the next connection in ``listener``'s backlog, or ``None``."""
        try:
            return listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return None

    def _take(self, listener, client_sock, client_addr, readable: bool) -> None:
        """Start reading the request of a connection just accepted."""
        self.nr_conns += 1
        if self.send_timeout > 0:
            seconds = int(self.send_timeout)
            micro = int((self.send_timeout - seconds) * 1e6)
            with _suppress_oserror():
                client_sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", seconds, micro)
                )
        conn = _Conn(self.cfg, client_sock, client_addr, listener.getsockname())
        conn.worker = self
        self._start_reading(conn, time.monotonic() + self.header_timeout, readable=readable)

    def handle_exit(self, sig, frame):
        """SIGTERM (a stop, or the old workers of a reload): stop gracefully, but first
        take the connections already waiting in the listen backlog."""
        if self.alive:
            self.method_queue.defer(self._drain_backlog)
            self._stop_deadline = time.monotonic() + self.cfg.graceful_timeout - STOP_MARGIN
        super().handle_exit(sig, frame)

    def _refuse_waiting(self) -> None:
        """Answer the whole requests still queued (503, ``Retry-After``): this worker stops
        before their turn comes. Closed without a word, their clients saw a disconnect."""
        while self.parked or self.following:
            self._refuse_stopping((self.parked or self.following).popleft())

    def _refuse_stopping(self, conn) -> None:
        self._refuse(
            conn,
            b"503 Service Unavailable",
            "the server is stopping before this request's turn: retry",
            retry_after=1,
        )

    def _drain_backlog(self) -> None:
        """Accept every connection the listen backlog holds now, to be answered within the
        graceful timeout like those in hand, then close the listeners. This worker accepts
        only while a thread is free, so under load its clients wait there, already
        connected, their requests sent; when the stopping worker closes the listener the
        kernel resets each of them. Closed at once, not when the worker exits: until then a
        client's new connection went into the backlog too, sent its request and was reset
        (a reloading master's new workers hold their own copy and go on listening)."""
        super().set_accept_enabled(False)  # the listeners leave the poller before they close
        for listener in self.sockets:
            while self.nr_conns < self.worker_connections:
                before = self.nr_conns
                self.accept(listener)
                if self.nr_conns == before:  # EAGAIN: the backlog is empty
                    break
            listener.close()

    def enqueue_req(self, conn):
        self.in_threads += 1
        self._update_accepting()
        super().enqueue_req(conn)

    def finish_request(self, conn, fs):
        self.in_threads -= 1
        retry = True
        try:
            if not fs.cancelled() and fs.exception() is None and fs.result() is _PARKED:
                # a request back from the queue that found no room: no wake-up (it would
                # spin); one that just arrived may have parked behind the queue with room free
                retry = not conn.retry
                self._park(conn)
            elif conn.pending:  # the rest of the response first, then keep-alive or close
                self._flush(conn, fs)
            else:
                self._keep_alive_or_close(conn, fs)
        finally:
            if retry:
                self._retry_parked()
            self._update_accepting()

    # -- the rest of a response, sent by the event loop ----------------------------------------
    def _flush(self, conn, fs) -> None:
        conn.sock.setblocking(False)
        self.flushing[conn] = [fs, time.monotonic() + self._send_window()]
        self.poller.register(conn.sock, selectors.EVENT_WRITE, partial(self._on_writable, conn))

    def _send_window(self) -> float:
        return self.send_timeout if self.send_timeout > 0 else float("inf")

    def _on_writable(self, conn, _sock) -> None:
        entry = self.flushing.get(conn)
        if entry is None:
            return
        try:
            sent = conn.sock.send(conn.pending[0], socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # the client left
            self._end_flush(conn)
            self.nr_conns -= 1
            conn.close()
            self._update_accepting()
            return
        head = conn.pending[0]
        if sent < len(head):
            conn.pending[0] = head[sent:]
        else:
            conn.pending.popleft()
        entry[1] = time.monotonic() + self._send_window()  # progress: the timeout restarts
        if not conn.pending:
            self._end_flush(conn)
            self._keep_alive_or_close(conn, entry[0])

    def _keep_alive_or_close(self, conn, fs) -> None:
        """gunicorn's keep-alive or close once a response is sent; but a next request the
        client pipelined behind it, already read into the parser, is read whole here too.
        gunicorn hands it to a thread as it is, and half a request ('GET /he') then blocked
        that thread on the socket for good: 40 such connections left none for /health."""
        parser = getattr(conn, "parser", None)
        ahead = b""
        if parser is not None and not fs.cancelled() and fs.exception() is None and fs.result():
            # empty lines before a request are ignored (RFC 9112 2.2): a client's stray CRLF
            # after a body is no request to wait for
            ahead = parser.unreader.take_buffered().lstrip(b"\r\n")
        if not ahead:
            super().finish_request(conn, fs)
            return
        self._start_reading(conn, time.monotonic() + self.header_timeout, ahead=ahead)

    def _end_flush(self, conn) -> None:
        self.flushing.pop(conn, None)
        conn.pending = None
        self._unregister(conn.sock)

    # -- the queue of complete requests waiting for slow work -----------------------------------
    def _park(self, conn) -> None:
        if time.monotonic() >= self._stop_deadline:  # back from a retry, too late to wait
            self._refuse_stopping(conn)
        elif conn.follower:  # waits for a computation, not a slot: no place in their order
            self.following.append(conn)
        elif conn.retry:  # it keeps its place at the head
            self.parked.appendleft(conn)
        else:
            self.parked.append(conn)

    def _retry_parked(self) -> None:
        """Serve the first queued requests again (a slot may have freed)."""
        self._last_retry = time.monotonic()
        for queue in (self.parked, self.following):  # a batch of each: neither starves
            sent = 0
            while queue and sent < RETRY_BATCH and self.in_threads < self.cfg.threads:
                conn = queue.popleft()
                conn.retry = True
                conn.buffered = conn.raw
                self.enqueue_req(conn)
                sent += 1

    def _wake(self) -> None:
        """A gate freed room (any thread): retry the queue from the event loop."""
        if self.parked or self.following:
            self.method_queue.defer(self._retry_parked)

    # -- reading requests in the event loop ----------------------------------------------------
    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection sends its next request: read it here too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn, time.monotonic() + self.header_timeout, readable=True)

    def _start_reading(
        self, conn, deadline: float, readable: bool = False, ahead: bytes = b""
    ) -> None:
        """Read ``conn``'s next request in the event loop, starting from the bytes already
        read ``ahead`` of it (pipelined behind the last one)."""
        conn.sock.setblocking(False)
        conn.body_unsent = False
        self.reading[conn] = [bytearray(ahead), deadline, False, [0, 0]]
        if ahead:
            self._received(conn, self.reading[conn])
            if conn not in self.reading:
                return
        if readable:  # read now: a whole small request is usually there already, and then
            self._on_readable(conn, None)  # the poller need not hear of it (two syscalls)
            if conn not in self.reading:
                return
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

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
        state[0] += data
        self._received(conn, state)

    def _received(self, conn, state) -> None:
        """Hand ``conn``'s request to a thread once it is whole (431 when its head is too
        large); until then it stays with the event loop."""
        buf = state[0]
        try:
            complete = request_complete(buf, self.max_body, state[3])
        except BareLineFeed as exc:  # a 408 after BODY_TIMEOUT, or a thread held, otherwise
            self._stop_reading(conn)
            self._refuse(conn, b"400 Bad Request", f"the chunked body is malformed: {exc}")
            return
        if complete is None:
            self._stop_reading(conn)
            if state[3][1] > MAX_CHUNKS:
                status = b"413 Request Entity Too Large"
                message = f"the chunked body has more than {MAX_CHUNKS} chunks"
            elif 0 <= buf.find(b"\r\n\r\n") <= MAX_HEAD:  # the head is in: the body is too large
                status = b"413 Request Entity Too Large"
                message = (
                    f"the chunked body, framing included, is larger than {self.max_body} bytes "
                    "(MAX_CONTENT_LENGTH)"
                )
            else:
                status = b"431 Request Header Fields Too Large"
                message = f"the request line and header fields take more than {MAX_HEAD} bytes"
            self._refuse(conn, status, message)
            return
        if not state[2] and (end := buf.find(b"\r\n\r\n")) >= 0:  # the head is in: the body's
            state[2] = True
            state[1] = time.monotonic() + self.body_timeout
            if not complete and (expect := _expectations(head := bytes(buf[: end + 2]))):
                if any(e != b"100-continue" for e in expect) or _refused_unread(head):
                    # answered now (417 for an expectation gunicorn does not meet): its
                    # client may wait for an answer before it sends the body
                    complete = conn.body_unsent = True
                elif head.partition(b"\r\n")[0].endswith(b"HTTP/1.1"):
                    self._continue(conn)  # an HTTP/1.0 client's is ignored (RFC 9110 10.1.1)
        if complete:
            self._stop_reading(conn)
            conn.raw = conn.buffered = bytes(buf)
            conn.arrived = time.monotonic()
            conn.retry = False
            conn.data_ready = True
            self.enqueue_req(conn)

    def _continue(self, conn) -> None:
        """Send ``100 Continue`` to a client that waits for it before sending its body: the
        body is read here, before gunicorn (which would send it) sees the request, so such a
        client waited its own timeout first (curl: 1 s on every POST of more than 1 KB)."""
        try:
            conn.sock.send(CONTINUE, socket.MSG_DONTWAIT)
        except OSError:
            pass  # a full or broken socket: the body or the timeout decides

    def _stop_reading(self, conn) -> None:
        self.reading.pop(conn, None)
        self._unregister(conn.sock)  # or read at once, never registered

    def _unregister(self, sock) -> None:
        """Stop polling ``sock``; nothing if it is not polled, or the poller is closed (a
        stopping worker closes it, then its run() closes what it still holds)."""
        try:
            self.poller.unregister(sock)
        except (KeyError, ValueError, OSError):
            pass

    def murder_pending(self):
        """Also close the connections whose request did not arrive in time (408)."""
        super().murder_pending()
        now = time.monotonic()
        late = [
            (c, head_in) for c, (_, deadline, head_in, _) in self.reading.items() if deadline <= now
        ]
        for conn, head_in in late:
            self._stop_reading(conn)
            part, seconds, name = (
                ("body", self.body_timeout, "BODY")
                if head_in
                else ("head (up to an empty line, CRLF CRLF)", self.header_timeout, "HEADER")
            )
            self._refuse(
                conn,
                b"408 Request Timeout",
                f"the request's {part} did not arrive within {seconds:g} s "
                f"(IMGSTATS_{name}_TIMEOUT)",
            )
        for conn in [c for c, (_, deadline) in self.flushing.items() if deadline <= now]:
            self.log.warning(
                "reset a connection from %s: its client read none of its response for %g s "
                "(IMGSTATS_SEND_TIMEOUT)",
                conn.client[0] if conn.client else "?",
                self.send_timeout,
            )
            self._end_flush(conn)
            conn.abort = True
            self.nr_conns -= 1
            conn.close()
            self._update_accepting()
        for sock, deadline in list(self.lingering.items()):
            if deadline <= now:
                self._end_linger(sock)
        if not self.alive and now >= self._stop_deadline:
            self._refuse_waiting()  # the master kills this worker at its graceful timeout
        if (self.parked or self.following) and now - self._last_retry >= _limits.POLL_SECONDS:
            self._retry_parked()  # a slot freed without a request finishing here

    def _give_way(self, listener) -> None:
        """With every place taken: for each connection waiting in ``listener``'s backlog
        (up to :data:`EVICT_BATCH` a wake-up), take it and close one still reading a request
        (:meth:`_to_evict`) in its place; none is closed before a newcomer is in hand, nor
        while no thread is free for one. 2,000 silent connections took every place of two
        workers, which then accepted nothing, /health included, until ``HEADER_TIMEOUT``
        (10 s) closed them; 10,000 that each sent half a head (``GET /health
        HTTP/1.1\\r\\nHost: x\\r\\nX-a: ``) held a new client's ``/stats`` 17.8 s, then 10.4 s,
        while the backlog behind them waited for those timeouts. Closing 16 before knowing
        that anyone waited cut 16 of 20 honest uploads for one newcomer, and every worker
        woken by the shared listener did so."""
        for _ in range(EVICT_BATCH):
            if self.in_threads >= self.cfg.threads:
                break  # no thread to hand a newcomer to: nobody is closed for it
            evicted = self._to_evict(1)
            if not evicted:
                break
            taken = self._accept_one(listener)
            if taken is None:  # the backlog is empty (another worker took it)
                break
            conn, told = evicted[0]
            self._stop_reading(conn)
            if told:  # it sent part of its request: say why it is closed
                self._refuse(conn, b"408 Request Timeout", EVICTED)
            else:
                self._close(conn)
            # read at once: a request already sent is handed over before the next round
            # of eviction, where a connection not heard of yet counts as silent
            self._take(listener, *taken, readable=True)
        self._update_accepting()

    def _to_evict(self, count: int) -> list:
        """Up to ``count`` connections still reading, ``(conn, sent part of a request)``, in
        the order they give way: those silent for :data:`SILENT_GRACE` seconds since their
        accept, oldest first; then those whose head is not in (silent or sent in part),
        oldest first; then those whose body is not, oldest first. A client that sends its
        head at once is handed to a thread as it arrives and is never among them; one
        trickling its head in is closed only while newcomers wait and the older ones have
        gone (nginx, full, reuses its idle connections the same way)."""
        accepted_before = time.monotonic() - SILENT_GRACE + self.header_timeout
        silent, heads, bodies = [], [], []
        for conn, (buf, deadline, head_in, _) in self.reading.items():  # oldest first
            if head_in:
                if len(bodies) < count:
                    bodies.append((conn, True))
            elif not buf and deadline <= accepted_before:
                silent.append((conn, False))
                if len(silent) == count:
                    break
            elif len(heads) < count:
                heads.append((conn, bool(buf)))
            elif deadline > accepted_before:  # in the order of their accepts: the rest are
                break  # younger still, never silent long enough to come first
        return (silent + heads + bodies)[:count]

    # -- graceful closes, drained in the event loop ---------------------------------------------
    def _linger(self, sock) -> None:
        """Half-close ``sock`` and drain what its client still sends, for LINGER seconds at
        most, without blocking (gunicorn's close_graceful blocks its caller, here the loop)."""
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            self.poller.register(sock, selectors.EVENT_READ, self._on_linger_readable)
        except (OSError, ValueError, KeyError):
            with _suppress_oserror():
                sock.close()
            return
        self.lingering[sock] = time.monotonic() + LINGER

    def _on_linger_readable(self, sock) -> None:
        try:
            data = sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._end_linger(sock)

    def _end_linger(self, sock) -> None:
        self.lingering.pop(sock, None)
        self._unregister(sock)
        with _suppress_oserror():
            sock.close()

    def _refuse(self, conn, status: bytes, message: str, retry_after: int | None = None) -> None:
        try:
            conn.sock.send(json_error(status, message, retry_after), socket.MSG_DONTWAIT)
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
            if conn.retry and not conn.is_http2:  # a fresh parser: the last one read it
                conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            if not conn.is_http2:
                conn.parser.unreader.unread(buffered)
        state = None
        if getattr(conn, "arrived", 0.0):
            queued = len(self.parked)
            room = queued + len(self.following) < self.queue_places
            state = _limits.Parking(conn.arrived, room, bool(conn.retry), queued)
        raw_sock = conn.sock
        output = None
        if not self.cfg.is_ssl:
            output = conn.sock = _Output(raw_sock, OUTPUT_LIMIT, self.send_timeout)
        try:
            with _limits.parking(state):
                return super().handle(conn)
        except _limits.Park as park:
            conn.follower = park.follower
            return _PARKED
        finally:
            conn.sock = raw_sock
            if output is not None and output.pending and not conn.abort:
                conn.pending = output.pending  # an aborted connection sends nothing more

    def handle_error(self, req, client, addr, exc):
        """gunicorn's answer to a request it cannot parse (a 10 kB request line: 414, a
        lower-case method: 400, ``Expect: bogus``: 417 ...) as JSON, like the app's errors,
        not gunicorn's HTML page; gunicorn still picks the status and logs it."""
        page = _ErrorPage()
        super().handle_error(req, page, addr, exc)
        status = page.status()
        if status is None:
            return
        # a parse error names the client's fault; a 5xx of anything else is ours (logged above)
        client_fault = isinstance(exc, ParseException) or status.startswith(b"4")
        message = self._parse_words(exc)[:300] if client_fault else "internal server error"
        try:
            client.send(json_error(status, message), socket.MSG_DONTWAIT)
        except OSError:
            self.log.debug("Failed to send error message.")

    def _parse_words(self, exc) -> str:
        """What was wrong with a request gunicorn cannot parse, in the client's terms:
        gunicorn's own words for its header limits (``limit request headers fields size``)
        name its settings, not the request."""
        if isinstance(exc, LimitRequestHeaders):
            if str(exc) == "limit request headers fields":
                return f"more than {self.cfg.limit_request_fields} header fields"
            if str(exc) == "limit request headers fields size":
                size = self.cfg.limit_request_field_size
                return f"a header field (name, value and CRLF) is longer than {size} bytes"
        return str(exc)

    def _others_waiting(self) -> bool:
        """Whether connections wait in the listen backlog while this worker takes none (no
        thread free); called from request threads, so it only looks."""
        if not self.alive or self._room():  # a stopping worker closed its listeners
            return False
        try:
            ready, _, _ = select.select(self.sockets, [], [], 0)
        except (OSError, ValueError, AttributeError):  # closed meanwhile (its sock None)
            return False
        return bool(ready)

    def _keepalive_after(self, conn, keepalive):
        """Keep the connection only if the body the app left unread is here already: gunicorn
        waits up to 5 s in this thread for the rest of it, so 40 clients that declared a
        10 MB body (refused with 413, unread) and stalled left no thread for /health."""
        if not keepalive:
            return False
        return bool(conn.parser.finish_body(deadline=time.monotonic() + DRAIN_SECONDS))

    def handle_request(self, req, conn):
        # the body is here already (read by the event loop, which sent 100 Continue if the
        # client waited for it), or over the limit and refused unread: gunicorn's own 100
        # Continue, sent now, would come late, or invite an upload only to answer 413
        req._expected_100_continue = False
        if req.version[0] == 1 and req.version[1] > 1:
            # HTTP/1.2 and later minors: answered as the HTTP/1.1 they understand (RFC 9110,
            # 6.2), not echoed in a status line no client knows ("HTTP/1.2 200 OK")
            req.version = (1, 1)
        if self._others_waiting():
            # busy kept-alive clients took every thread as each answer went out, so accept
            # never opened again: 150 of them kept new connections (/health too) waiting
            # past 15 s. Closing this one, said in the answer, sends its client behind them
            req.must_close = True
        if conn.body_unsent:
            # refused without its body, which its client still holds: the connection closes
            # after this answer, which says so (RFC 9110, 10.1.1)
            req.must_close = True
        if _declared_length(req) > self.max_body:
            # the app answers 413 without reading the body, and the connection then closes
            # (_keepalive_after): the answer says "Connection: close", not "keep-alive", so
            # that a client does not send its next request into a closing connection
            req.must_close = True
        try:
            return super().handle_request(req, conn)
        except (BlockingIOError, TimeoutError):  # SO_SNDTIMEO: the client reads nothing
            self.log.warning(
                "reset a connection from %s: its client read none of its response for %g s "
                "(IMGSTATS_SEND_TIMEOUT)",
                conn.client[0] if conn.client else "?",
                self.send_timeout,
            )
            conn.abort = True
            raise StopIteration() from None

    def run(self):
        _limits.on_release = self._wake
        # the app is made and warmed: the master may now stop the workers this one replaces
        mark_ready(self)
        self.log.info("Worker ready (pid: %s)", self.pid)
        try:
            super().run()
        finally:
            _limits.on_release = None
            for conn in list(self.reading):
                self._stop_reading(conn)
                conn.close()
            self._refuse_waiting()
            for sock in list(self.lingering):
                self._end_linger(sock)
            for conn in list(self.flushing):
                self._end_flush(conn)
                conn.close()
