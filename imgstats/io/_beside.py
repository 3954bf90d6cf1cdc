"""What lies beside or after a local picture, looked at once per request.

A cold request reads an image's header facts (:func:`imgstats.io.read_header`) and then its
plan (:func:`imgstats.io.open_plan`): both ask whether a ``.msk``, ``.MSK`` or ``.aux.xml``
lies beside the file, whether it is a TIFF, and whether GDAL's mask follows a JPEG's picture.
Within :func:`one_look`, each such question about a local path is answered once and the
answer serves every later asker in the same context (thread or task); outside it, every
question is asked anew, as before. A request is short, and the service asks the store whether
the image (and its sidecars) changed after reading it, keeping nothing if it did.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Hashable, Iterator
from contextvars import ContextVar
from typing import TypeVar

__all__ = ["one_look", "looked", "looked_again", "reading_since"]

T = TypeVar("T")

#: The key of the moment the outermost :func:`one_look` began (``time.time_ns()``).
_SINCE = ("since",)
#: The answers of the innermost :func:`one_look` of this context, ``None`` outside one.
_ANSWERS: ContextVar[dict | None] = ContextVar("imgstats_looks", default=None)


@contextlib.contextmanager
def one_look() -> Iterator[None]:
    """Within this block, each question about what lies beside or after a local file is
    answered once (nested blocks share the outermost one's answers)."""
    if _ANSWERS.get() is not None:
        yield
        return
    token = _ANSWERS.set({_SINCE: time.time_ns()})
    try:
        yield
    finally:
        _ANSWERS.reset(token)


def looked(key: Hashable, look: Callable[[], T]) -> T:
    """``look()``, or its answer already given for ``key`` within this :func:`one_look`
    (an exception is not kept: the next asker looks again)."""
    answers = _ANSWERS.get()
    if answers is None:
        return look()
    if key not in answers:
        answers[key] = look()
    return answers[key]


def looked_again(key: Hashable, look: Callable[[], T]) -> T:
    """``look()``, asked anew, its answer kept for ``key``'s later askers within this
    :func:`one_look` (a question whose answer may have changed: a store's version, asked
    again after the bytes were read)."""
    answer = look()
    answers = _ANSWERS.get()
    if answers is not None:
        answers[key] = answer
    return answer


def reading_since(default: int) -> int:
    """When this :func:`one_look` began (a request, an :func:`imgstats.io.open_plan`), in
    ``time.time_ns()``; ``default`` outside one. A file whose ctime is later changed while
    it was read."""
    answers = _ANSWERS.get()
    return default if answers is None else answers[_SINCE]
