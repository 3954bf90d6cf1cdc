"""One progress bar per question: ``compute(..., progress=True)`` draws a single bar.

A question (one :func:`imgstats.compute`, :func:`~imgstats.summarize` or
:func:`~imgstats.refine` call) may read the pixels twice -- a summarizing pass, then a
refinement pass for 32- and 64-bit percentiles -- and a collection reads several images.
:func:`question` opens one bar for all of it; each pass adds its blocks to the bar's total
(:func:`steps`) and ticks them off, whatever runs them: the threads counting a numpy array,
the decoding threads of a streamed TIFF, or dask's tasks (:func:`dask_callback`).

``progress`` is ``True`` (always a bar), ``False`` (never) or ``"auto"``: a bar when the pixels
are likely to take more than about a second, :data:`AUTO_BYTES` per pass. The bar is
``tqdm.auto``'s: a widget in Jupyter, text on stderr in a terminal.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import threading

__all__ = ["question", "steps", "dask_callback", "AUTO_BYTES"]

#: Bytes of pixels from which ``progress="auto"`` shows a bar: about a second of one pass.
AUTO_BYTES = 256 << 20

_current: contextvars.ContextVar = contextvars.ContextVar("imgstats_progress", default=None)


class _Bar:
    """A tqdm bar whose total grows as passes are added; thread-safe updates."""

    def __init__(self, desc: str | None):
        from tqdm.auto import tqdm

        self._lock = threading.Lock()
        self._tqdm = tqdm(total=0, desc=desc or "imgstats", unit="block", file=sys.stderr)

    def add(self, n: int) -> None:
        with self._lock:
            self._tqdm.total += n
            self._tqdm.refresh()

    def update(self, n: int = 1) -> None:
        with self._lock:
            self._tqdm.update(n)

    def close(self) -> None:
        self._tqdm.close()


class _Steps:
    """The blocks of one pass on the question's bar (all no-ops without a bar)."""

    def __init__(self, bar: _Bar | None, total: int):
        self._bar = bar
        if bar is not None:
            bar.add(total)

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)


def _wanted(progress, nbytes: int | None) -> bool:
    if progress == "auto":
        return nbytes is not None and nbytes >= AUTO_BYTES
    return bool(progress)


@contextlib.contextmanager
def question(progress, nbytes: int | None = None, desc: str | None = None):
    """Open the question's bar (when ``progress`` asks for one) unless one is open already:
    an inner call (a collection's images, a refinement after a summary) adds to it."""
    if _current.get() is not None or not _wanted(progress, nbytes):
        yield
        return
    bar = _Bar(desc)
    token = _current.set(bar)
    try:
        yield
    finally:
        _current.reset(token)
        bar.close()


def active() -> bool:
    """Whether a question's bar is open in this context."""
    return _current.get() is not None


def steps(total: int) -> _Steps:
    """Add a pass of ``total`` blocks to the open bar; ``update()`` ticks one off."""
    return _Steps(_current.get(), total)


@contextlib.contextmanager
def dask_callback():
    """Tick the open bar once per finished dask task of the computation run inside."""
    bar = _current.get()
    if bar is None:
        yield
        return
    from dask.callbacks import Callback

    class _Ticks(Callback):
        def _start_state(self, dsk, state):
            bar.add(sum(len(state[k]) for k in ("ready", "waiting", "running")))

        def _posttask(self, key, result, dsk, state, worker_id):
            bar.update()

    with _Ticks():
        yield
