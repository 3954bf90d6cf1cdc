"""Admission control for slow work (bounded slots, a pixel budget for decodes in flight), and
each request's time budget and cancellation.

A worker process serves ``/health`` and cached answers from its request threads. Anything
that may block on a store or on pixels (a cold summary, a refinement, a header read, a
thumbnail) first takes a :class:`Gate` unit: a few run at once, a few more wait their turn,
and the rest are refused at once with :class:`~imgstats.errors.Busy` (HTTP 503 with
``Retry-After``). So at most ``capacity + max_waiting`` request threads are ever tied up by
slow work, and the others stay free for quick answers. The same class, weighted by pixels,
bounds the decodes in flight (``IMGSTATS_DECODE_PIXELS``).

A request's :class:`RequestBudget` (installed by the app around each view) ends its slow work
when its time is up (:class:`~imgstats.errors.RequestTimeout`, a 503) or when its client has
closed the connection (:class:`~imgstats.errors.ClientGone`): :func:`check_request` is called
between the steps of slow work (each image of a collection, each refinement pass, every
quarter second of a wait for a slot, the decode budget or another request's computation).
One step (one image's decode) is not interrupted, so work stops within one step.

Under ``imgstats serve`` (:class:`~imgstats.web._worker.BufferingWorker`) a request that
would wait for a slot of slow work, or for another request's identical computation, while
holding no gate, does not wait in its thread: it raises :class:`Park`, the worker keeps the
complete request in its queue (``SLOW_QUEUE`` places) and serves it again from the start
when a slot frees. So the queue costs memory, not threads (:func:`parking`).
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time

from ..errors import Busy, ClientGone, RequestTimeout

__all__ = [
    "Gate",
    "RequestBudget",
    "check_request",
    "current_budget",
    "slow_queue_default",
    "QUEUE_PIXELS",
    "POLL_SECONDS",
    "Park",
    "Parking",
    "parking",
]

#: Seconds between two looks at the deadline and the client while waiting.
POLL_SECONDS = 0.25
#: Pixels per place of the default slow-work queue: a queue of DECODE_PIXELS / QUEUE_PIXELS
#: places (at least 8), so that a burst of cold photographs the decode budget can take in a
#: few seconds waits for its turn instead of being refused.
QUEUE_PIXELS = 1 << 25


def slow_queue_default(decode_pixels: int) -> int:
    """The default ``SLOW_QUEUE``: ``decode_pixels / QUEUE_PIXELS``, at least 8 (64 with the
    default budget of 2**31 pixels)."""
    return max(8, int(decode_pixels) // QUEUE_PIXELS)


_local = threading.local()


class Park(BaseException):  # noqa: N818 -- not an error: the worker's signal to hold the request
    """Raised instead of waiting in a thread: the worker keeps the request and serves it again.

    A ``BaseException`` so that no ``except Exception`` of the app or of Flask answers it.
    ``follower`` is True for a request waiting for another request's computation, not for a
    slot: it takes no place in the order of those waiting for slots.
    """

    def __init__(self, follower: bool = False):
        super().__init__()
        self.follower = follower


class Parking:
    """What the worker tells the thread serving a request (see :func:`parking`).

    Parameters
    ----------
    arrived : float
        ``time.monotonic()`` when the request was complete (its waits count from there).
    room : bool
        Whether the worker's queue has a place: False means refuse (Busy) rather than wait.
    retry : bool
        Whether the request comes back from the queue (it may take the room it finds even
        when others are queued).
    queued : int
        Requests in the worker's queue waiting for a slot now (followers of another
        request's computation are not counted: they wait for it, not for a slot).
    """

    __slots__ = ("arrived", "room", "retry", "queued")

    def __init__(self, arrived: float, room: bool, retry: bool = False, queued: int = 0):
        self.arrived = arrived
        self.room = room
        self.retry = retry
        self.queued = queued


@contextlib.contextmanager
def parking(state: Parking | None):
    """Let the requests this thread serves in the ``with`` block park (``None``: never)."""
    previous = getattr(_local, "parking", None)
    _local.parking = state
    try:
        yield state
    finally:
        _local.parking = previous


def _park_or_refuse(wait: float, message: str, retry_after: int, follower: bool = False) -> None:
    """Where a request would wait in its thread: raise Park when the worker can hold it, Busy
    when its queue is full or the request has waited ``wait`` seconds already; return when
    the caller should wait in its thread as before (no buffering worker, or a gate held)."""
    state = getattr(_local, "parking", None)
    if state is None or getattr(_local, "holding", 0):
        return
    if not state.room or time.monotonic() - state.arrived >= wait:
        raise Busy(message, retry_after=retry_after)
    raise Park(follower)


#: Called (with no argument) whenever a gate frees room: the worker retries its queue.
on_release = None


class RequestBudget:
    """A request's deadline, and a probe of whether its client is still connected.

    Parameters
    ----------
    seconds : float
        The time budget (0 or less: none).
    sock : socket.socket, optional
        The client's connection (gunicorn's ``environ["gunicorn.socket"]``); a peek that
        reads end-of-file means the client closed it.
    """

    def __init__(self, seconds: float, sock=None):
        self.seconds = float(seconds)
        state = getattr(_local, "parking", None)  # a request from the worker's queue: its
        self.start = time.monotonic() if state is None else state.arrived  # time counts

        self.deadline = self.start + self.seconds if self.seconds > 0 else math.inf
        self.sock = sock
        self._next_probe = 0.0

    def remaining(self) -> float:
        """Seconds left (``inf`` without a budget)."""
        return self.deadline - time.monotonic()

    def client_gone(self) -> bool:
        """Whether the client closed its connection (looked at most every 0.1 s)."""
        if self.sock is None:
            return False
        now = time.monotonic()
        if now < self._next_probe:
            return False
        self._next_probe = now + 0.1
        try:
            data = self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False  # connected, nothing sent: the usual case
        except OSError:
            return True  # reset, or closed
        return data == b""

    def check(self) -> None:
        """Raise when the time is up or the client is gone.

        Raises
        ------
        RequestTimeout
            The budget is spent (HTTP 503 with Retry-After).
        ClientGone
            The client closed the connection.
        """
        if time.monotonic() > self.deadline:
            raise RequestTimeout(
                f"the request took longer than its budget of {self.seconds:g} s "
                "(REQUEST_SECONDS): what it computed is kept, so a retry goes further",
                retry_after=1,
            )
        if self.client_gone():
            raise ClientGone("the client closed the connection")


def current_budget() -> RequestBudget | None:
    """The budget of the request this thread serves, if any."""
    return getattr(_local, "budget", None)


@contextlib.contextmanager
def request_budget(budget: RequestBudget | None):
    """Install ``budget`` for this thread for the ``with`` block."""
    previous = current_budget()
    _local.budget = budget
    try:
        yield budget
    finally:
        _local.budget = previous


def check_request() -> None:
    """Stop the current request's work if its time is up or its client left (else nothing).

    Raises
    ------
    RequestTimeout, ClientGone
        See :meth:`RequestBudget.check`.
    """
    budget = current_budget()
    if budget is not None:
        budget.check()


def wait_for(cond: threading.Condition, predicate, timeout: float) -> bool:
    """``cond.wait_for(predicate, timeout)`` in short steps, checking the request between them
    (``cond`` held by the caller)."""
    end = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        left = end - time.monotonic()
        if left <= 0:
            return predicate()
        cond.wait(min(left, POLL_SECONDS))
        check_request()


def acquire(lock, timeout: float | None = None) -> bool:
    """Take ``lock``, waiting at most ``timeout`` seconds (None: until the request's budget
    ends), checking the request every :data:`POLL_SECONDS`."""
    if lock.acquire(blocking=False):
        return True
    check_request()  # past its budget: RequestTimeout rather than a place in the queue
    _park_or_refuse(
        math.inf if timeout is None else timeout,
        "the service is busy (too many requests waiting for the same computations): retry later",
        1,
        follower=True,
    )
    end = math.inf if timeout is None else time.monotonic() + timeout
    while True:
        if lock.acquire(timeout=POLL_SECONDS):
            return True
        check_request()
        if time.monotonic() >= end:
            return False


class Gate:
    """A weighted semaphore whose waiters are bounded in number and in time.

    Parameters
    ----------
    capacity : int
        Units that may be held at once (slots, or pixels).
    wait : float
        Seconds a caller waits for its turn before :class:`~imgstats.errors.Busy`.
    max_waiting : int or None
        Callers allowed to wait at once; one more is refused at once (None: no bound).
    what : str
        What the units are, for the error message (``"decode budget"``).
    retry_after : int
        Seconds the refused client is told to wait (``Retry-After``).

    Notes
    -----
    A request heavier than ``capacity`` (an image larger than the whole pixel budget, but
    within the pixel limit) is admitted alone, when nothing else holds the gate. A thread
    that already holds the gate enters it again without waiting, so nested slow calls (a
    summary reading the header for its weight) cannot deadlock.

    Examples
    --------
    >>> gate = Gate(100, wait=0.0, what="decode budget")
    >>> with gate.hold(60):
    ...     gate.in_flight
    60
    """

    def __init__(
        self,
        capacity: int,
        *,
        wait: float,
        max_waiting: int | None = None,
        what: str = "slow work slots",
        retry_after: int = 1,
    ):
        if capacity < 1:
            raise ValueError(f"the capacity of the {what} must be at least 1")
        self.capacity = int(capacity)
        self.wait = max(0.0, float(wait))
        self.max_waiting = max_waiting
        self.what = what
        self.retry_after = max(1, int(math.ceil(retry_after)))
        self.in_flight = 0
        self.waiting = 0
        self._cond = threading.Condition()
        self._held = threading.local()

    @contextlib.contextmanager
    def hold(self, weight: int = 1):
        """Hold ``weight`` units for the ``with`` block (capped at the capacity).

        Raises
        ------
        Busy
            When ``max_waiting`` callers already wait, or the turn did not come in ``wait``
            seconds.
        """
        depth = getattr(self._held, "depth", 0)
        if depth:  # this thread is already inside: the outer hold covers the inner work
            self._held.depth = depth + 1
            try:
                yield
            finally:
                self._held.depth = depth
            return
        weight = min(max(int(weight), 1), self.capacity)
        self._acquire(weight)
        self._held.depth = 1
        _local.holding = getattr(_local, "holding", 0) + 1
        try:
            yield
        finally:
            _local.holding -= 1
            self._held.depth = 0
            with self._cond:
                self.in_flight -= weight
                self._cond.notify_all()
            if on_release is not None and not _local.holding:  # the outer gate: a slot
                on_release()  # parked requests only ever wait for an outer gate

    def _acquire(self, weight: int) -> None:
        state = getattr(_local, "parking", None)
        with self._cond:
            if self.in_flight + weight <= self.capacity and not self.waiting:
                # requests queued in the worker go first, unless this is one of them
                if state is None or state.retry or not state.queued:
                    self.in_flight += weight
                    return
            _park_or_refuse(
                self.wait,
                f"the service is busy (no room in the {self.what} within {self.wait:g} s, "
                "or its queue is full): retry later",
                self.retry_after,
            )
            if self.max_waiting is not None and self.waiting >= self.max_waiting:
                raise Busy(
                    f"the service is busy ({self.what} full): retry later",
                    retry_after=self.retry_after,
                )
            self.waiting += 1
            try:  # the client may leave, or the request's budget end, while it waits
                fits = wait_for(
                    self._cond, lambda: self.in_flight + weight <= self.capacity, self.wait
                )
            finally:
                self.waiting -= 1
            if not fits:
                raise Busy(
                    f"the service is busy (no room in the {self.what} within "
                    f"{self.wait:g} s): retry later",
                    retry_after=self.retry_after,
                )
            self.in_flight += weight
