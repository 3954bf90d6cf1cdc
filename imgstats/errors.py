"""Domain errors of imgstats.

They know nothing of HTTP: the web layer maps each class to a status code in one table
(:data:`imgstats.web.errors.STATUS_CODES`).
"""

from __future__ import annotations


class ImgStatsError(Exception):
    """Base class of every error imgstats raises on purpose.

    Pickled (a dask worker's error, a copy made by :func:`with_message`), each keeps its
    class, its message and its attributes, whatever its ``__init__`` takes.
    """

    def __reduce__(self):
        args = self.args
        if isinstance(self, OSError) and self.filename is not None:  # not in args, nor vars
            args = (self.errno, self.strerror, self.filename)
        return _restored, (type(self), args, dict(vars(self)))


class UnknownFunction(ImgStatsError, ValueError):
    """The statistic's name is not ``min``, ``max``, ``mean``, ``median`` or ``pXXX``."""


class InvalidOption(ImgStatsError, ValueError):
    """An option such as ``band`` does not fit the image."""


class ImageNotFound(ImgStatsError, FileNotFoundError):
    """No image exists at the given path, URL or store name."""


class UnreadableImage(ImgStatsError):
    """The file exists but is not an image imgstats can decode (corrupt, truncated, not one)."""


class NotAnImage(UnreadableImage):
    """The file is of no image format imgstats reads (a text, a document): a file a pattern
    matched is then left out of the collection (:class:`SkippedFiles` names it), one named
    on its own fails."""


class SkippedFiles(UserWarning):
    """Files a pattern matched were left out of its collection, as they are not images
    (:class:`NotAnImage`); the message names each. An image that fails fails the whole
    question, whether a pattern matched it or not."""


class ImageTooLarge(ImgStatsError):
    """The image declares more pixels than the configured limit (decompression-bomb guard)."""


class StoreUnavailable(ImgStatsError):
    """The image store did not answer, or answered with an error, within the timeout."""


class ImageChanged(StoreUnavailable):
    """The image changed, or its store gave fewer bytes than its size, while it was read (a
    file rewritten or truncated mid-read, an object replaced): not a corrupt image; reading
    it again is reasonable."""


class NoValidSamples(ImgStatsError, ValueError):
    """The selection holds no valid sample (empty, or NaN only): no statistic exists."""


class WorkersDied(ImgStatsError):
    """The dask.distributed workers died running a task of the question, as often as the
    scheduler allows (dask's ``KilledWorker``): the question has no answer."""


class WorkersPaused(WorkersDied):
    """Every dask.distributed worker stayed paused for memory (past its pause threshold), so
    no task of the question could run: smaller chunks or more memory per worker are needed.
    A :class:`WorkersDied`, as the question's workers are lost to it all the same."""


class NeedsRefinement(ImgStatsError):
    """A summary cannot answer a 32- or 64-bit percentile (or ``std``) before a refinement
    pass over the pixels: ``summary = imgstats.refine(summary, data, funcs)`` makes it, or
    ``imgstats.compute(data, funcs)`` makes both passes. (Importable from
    :mod:`imgstats.summary` too, where :meth:`~imgstats.Summary.compute` raises it.)

    ``nodes`` lists ``(shift, prefix, count)``: the keys with ``key >> shift == prefix``.
    Inside imgstats it is a signal, caught where a refinement pass is made; the service never
    lets it reach a client (it has no HTTP status: one that escaped would be a bug, a 500).
    """

    def __init__(self, nodes):
        if isinstance(nodes, str):  # not a message: a re-worded copy would list its letters
            raise TypeError("NeedsRefinement takes the (shift, prefix, count) nodes, not a text")
        self.nodes = sorted(set(nodes))
        super().__init__(
            f"{len(self.nodes)} histogram bins need a refinement pass over the pixels (a 32- "
            "or 64-bit percentile): summary = imgstats.refine(summary, data, funcs) reads "
            "them once, or imgstats.compute(data, funcs) makes both passes"
        )


class StoreTimeout(StoreUnavailable):
    """The image store did not answer within the configured timeout."""


class Busy(ImgStatsError):
    """The service has no room for this work now (slots or decode budget full): retry later.

    ``retry_after`` is the number of seconds after which a retry may succeed.
    """

    def __init__(self, message: str = "the service is busy: retry later", retry_after: int = 1):
        super().__init__(message)
        self.retry_after = int(retry_after)


class RequestTimeout(Busy):
    """The request used up its time budget: what it computed so far stays cached, so a retry
    goes further (the HTTP service's ``IMGSTATS_REQUEST_SECONDS``)."""


class ClientGone(ImgStatsError):
    """The client closed its connection: the work done for it stops."""


def reword(message: str, words) -> str:
    """A library message in another interface's words: each ``(python, other)`` pair of
    ``words`` replaced in order (the CLI's ``--band luma`` for ``band='luma'``, the
    service's ``leave band out`` for ``band=None``)."""
    for python, other in words:
        message = message.replace(python, other)
    return message


def with_message(exc: ImgStatsError, message: str) -> ImgStatsError:
    """A copy of ``exc`` that says ``message``: the same class, and the same attributes (a
    :class:`Busy`'s ``retry_after``, a :class:`NeedsRefinement`'s ``nodes``).

    Made without calling the class's ``__init__``, whose signature differs by class:
    ``type(exc)(message)`` made a ``NeedsRefinement`` a ``TypeError``."""
    return _restored(type(exc), (message,), vars(exc))


def _restored(cls, args, state: dict) -> ImgStatsError:
    """An error of class ``cls`` with ``args`` and the attributes ``state``, made without
    calling ``cls.__init__`` (see :func:`with_message` and :meth:`ImgStatsError.__reduce__`)."""
    new = cls.__new__(cls, *args)  # BaseException.__new__ sets args
    new.__dict__.update(state)
    return new
