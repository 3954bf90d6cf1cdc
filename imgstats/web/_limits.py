"""Admission control for slow work: bounded slots, and a pixel budget for decodes in flight.

A worker process serves ``/health`` and cached answers from its request threads. Anything
that may block on a store or on pixels (a cold summary, a refinement, a header read, a
thumbnail) first takes a :class:`Gate` unit: a few run at once, a few more wait their turn,
and the rest are refused at once with :class:`~imgstats.errors.Busy` (HTTP 503 with
``Retry-After``). So at most ``capacity + max_waiting`` request threads are ever tied up by
slow work, and the others stay free for quick answers. The same class, weighted by pixels,
bounds the decodes in flight (``IMGSTATS_DECODE_PIXELS``).
"""

from __future__ import annotations

import contextlib
import math
import threading

from ..errors import Busy

__all__ = ["Gate"]


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
        try:
            yield
        finally:
            self._held.depth = 0
            with self._cond:
                self.in_flight -= weight
                self._cond.notify_all()

    def _acquire(self, weight: int) -> None:
        with self._cond:
            if self.in_flight + weight <= self.capacity and not self.waiting:
                self.in_flight += weight
                return
            if self.max_waiting is not None and self.waiting >= self.max_waiting:
                raise Busy(
                    f"the service is busy ({self.what} full): retry later",
                    retry_after=self.retry_after,
                )
            self.waiting += 1
            try:
                fits = self._cond.wait_for(
                    lambda: self.in_flight + weight <= self.capacity, timeout=self.wait
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
