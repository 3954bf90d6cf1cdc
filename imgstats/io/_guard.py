"""The one bomb check and the one error mapping of every decoder (Pillow, tifffile, imagecodecs).

Every read path (eager, lazy chunks, streamed tiles, headers, previews) decodes inside
:func:`decoding` and checks the declared size with :func:`check_pixels`, so a file gives the same
domain error whichever path reads it.
"""

from __future__ import annotations

import contextlib
import os
import time
from functools import partial

from .._lazy import imported
from ..errors import (
    ImageChanged,
    ImageTooLarge,
    ImgStatsError,
    StoreUnavailable,
    UnreadableImage,
)
from ._beside import reading_since
from ._sources import body_ended, cut_short, describe, is_url, timed_out


class WorkFailed(Exception):
    """Carries an error of the caller's own work (a reduction run on decoded blocks) through
    :func:`decoding` unchanged: it is not the file's fault."""

    def __init__(self, error: BaseException):
        super().__init__(error)
        self.error = error


def check_pixels(width: int, height: int, pixel_limit: int | None, source) -> None:
    """Refuse an image that declares more than ``pixel_limit`` pixels (the bomb check).

    Raises
    ------
    ImageTooLarge
        ``width * height > pixel_limit``; ``None`` means no limit.
    """
    if pixel_limit is not None and width * height > pixel_limit:
        raise ImageTooLarge(
            f"{describe(source)} declares {width}x{height} = {width * height:,} pixels, "
            f"over the limit of {pixel_limit:,}"
        )


@contextlib.contextmanager
def decoding(source, what: str = "cannot be decoded"):
    """Map any exception a decoder raises to :class:`UnreadableImage` or :class:`ImageTooLarge`.

    Decoders parse whatever a file holds, so a malformed file surfaces as whatever their
    arithmetic trips on: tifffile's ZeroDivisionError, TypeError, IndexError or KeyError,
    Pillow's NotImplementedError for a DDS pixel format it does not know, a codec's
    RuntimeError... No list of types is complete, so every :class:`Exception` is mapped:

    - imgstats' own errors (and :class:`WorkFailed`) pass through unchanged;
    - Pillow's ``DecompressionBombError`` (raised while opening *or* loading) and
      :class:`MemoryError` (a decoder asking for more memory than the process has, whatever
      the header declared) become :class:`ImageTooLarge`;
    - everything else becomes :class:`UnreadableImage`,
    - unless ``source`` is a local file changed (rewritten or truncated) since the read
      began (:func:`changed_since`): then it is :class:`ImageChanged`, for an
      :class:`UnreadableImage` raised inside the block too.

    ``KeyboardInterrupt`` and ``SystemExit`` are not exceptions of the file and pass.
    The original exception is kept as ``__cause__``.
    """
    since = reading_since(time.time_ns())
    try:
        yield
    except UnreadableImage as exc:
        changed = changed_since(source, since)
        if changed is None:
            raise
        raise changed from exc
    except (ImgStatsError, WorkFailed):
        raise
    except MemoryError as exc:
        raise ImageTooLarge(
            f"{describe(source)} needs more memory to decode than is available: {exc}"
        ) from exc
    except Exception as exc:
        if _is_bomb(exc):
            raise ImageTooLarge(f"{describe(source)}: {exc}") from exc
        changed = changed_since(source, since)
        if changed is not None:
            raise changed from exc
        name = type(exc).__name__
        raise UnreadableImage(f"{describe(source)} {what}: {name}: {exc}") from exc


def changed_since(source, since: int, fh=None) -> ImageChanged | None:
    """The error of a local file changed after ``since`` (``time.time_ns()``), ``None`` when
    it did not (or is not a local file), asked once its decode failed: the file at path
    ``source``, or the open file ``fh`` (named ``source`` in the message).

    Its ctime says so: the kernel stamps it from a clock no later than ``time.time_ns()``
    and nothing sets it back, so a ctime after ``since`` is a write after the read began.
    """
    try:
        if fh is not None:
            st = os.fstat(fh.fileno())
        elif isinstance(source, (str, os.PathLike)) and not is_url(source):
            st = os.stat(source)
        else:
            return None
    except (OSError, ValueError, AttributeError):  # no such file, or no descriptor
        return None
    if st.st_ctime_ns <= since:
        return None
    return ImageChanged(
        f"{describe(source)} changed while it was read (rewritten or truncated: it now "
        f"holds {st.st_size} bytes), so its bytes no longer fit its header; read it again"
    )


@contextlib.contextmanager
def telling_changes(fh, source):
    """Within this block, an :class:`UnreadableImage` of the open local file ``fh`` that
    changed since the read began is :class:`ImageChanged` (:func:`decoding` tells it of a
    path; this, of a file opened by the caller)."""
    since = reading_since(time.time_ns())
    try:
        yield
    except UnreadableImage as exc:
        changed = changed_since(source, since, fh)
        if changed is None:
            raise
        raise changed from exc


def _is_bomb(exc: BaseException) -> bool:
    from PIL import Image

    return isinstance(exc, Image.DecompressionBombError)


def _store_size(fh) -> int | None:
    """The size an fsspec file of a store declared (its HEAD or listing), ``None`` for
    another file: a read of it that comes back short is the store's failure. A wrapper
    (the service's store file, a :class:`GuardedFile`) is seen through by its
    ``__wrapped__``, so that every path of a read is checked alike."""
    fh = getattr(fh, "__wrapped__", fh)
    spec = imported("fsspec.spec")
    if spec is None or not isinstance(fh, spec.AbstractBufferedFile):
        return None
    size = getattr(fh, "size", None)
    return size if isinstance(size, int) and size >= 0 else None


def _cut_body(fh) -> tuple[int, int] | None:
    """``(held, size)`` when fsspec's HTTP file ``fh`` holds the start of its file from a
    whole-file answer (a server without range requests) that ended after ``held`` of its
    ``size`` bytes, before the bytes asked of it; else ``None``."""
    fh = getattr(fh, "__wrapped__", fh)
    cache, size = getattr(fh, "cache", None), _store_size(fh)
    data, block = getattr(cache, "cache", None), getattr(cache, "blocksize", None)
    if size is None or not isinstance(data, bytes) or not isinstance(block, int):
        return None
    if getattr(cache, "start", None) != 0:
        return None
    # its first fetch asked for a block (or the whole file) from byte 0 and got less
    return (len(data), size) if len(data) < min(block, size) else None


def body_failure(fh, source, exc: BaseException) -> ImgStatsError | None:
    """The store's error when ``exc``, raised by a read of the store's file ``fh``, is its
    body failing, else ``None``: fsspec's "range requests" ``ValueError`` past the bytes of
    a whole-file answer (that ended early, or of a server without range requests), or
    aiohttp's body cut before its ``Content-Length``."""
    if isinstance(exc, ValueError) and "range requests" in str(exc):  # fsspec's HTTP file
        cut = _cut_body(fh)
        if cut is not None:  # its whole-file answer ended early: that is what failed
            return body_ended(source, *cut)
        return StoreUnavailable(
            f"the server of {describe(source)} does not answer HTTP range requests, which "
            "reading a part of a file needs"
        )
    size = _store_size(fh)
    if size is not None and cut_short(exc):  # aiohttp's: before its Content-Length
        return body_ended(source, None, size)
    return None


def checked_read(fh, source, read, tell, *args) -> bytes:
    """``read(*args)`` of ``fh`` (``read`` and ``tell`` map its errors as their caller
    does), refused as :class:`ImageChanged` when ``fh`` is a store's file that gave fewer
    bytes than its declared size leaves after where the read began: fsspec reads a refused
    range (HTTP 416) as no bytes, and a range or whole-file answer cut short as fewer."""
    size = _store_size(fh)
    if size is None:
        return read(*args)
    start = tell()
    data = read(*args)
    asked = args[0] if args and args[0] is not None and args[0] >= 0 else size
    _refuse_short(source, start, len(data), asked, size)
    return data


def checked_readinto(fh, source, readinto, tell, buffer) -> int:
    """``readinto(buffer)`` of ``fh``, refused as :func:`checked_read` refuses a short read
    (tifffile reads an uncompressed TIFF's strips into their array with ``readinto``)."""
    size = _store_size(fh)
    if size is None:
        return readinto(buffer)
    start = tell()
    got = readinto(buffer)
    _refuse_short(source, start, got or 0, memoryview(buffer).nbytes, size)
    return got


def _refuse_short(source, start: int, got: int, asked: int, size: int) -> None:
    """Raise :class:`ImageChanged` when a read of ``asked`` bytes at ``start`` of a store's
    file of ``size`` bytes gave ``got``, fewer than the file holds there."""
    wanted = min(asked, max(size - start, 0))
    if got < wanted:
        raise ImageChanged(
            f"the store of {describe(source)} gave {got} of the {wanted} bytes asked "
            f"at offset {start} of its {size}: it refused or cut the range (the object "
            "changed, or came back shorter than its size, while it was read); reading it "
            "again is reasonable"
        )


class GuardedFile:
    """A binary file whose own read errors are store errors, not decoder errors.

    A decoder reads through this wrapper; when the *file* fails (a remote store times out or
    drops the connection mid-read), the error is :class:`StoreUnavailable` (or
    :class:`StoreTimeout`), which :func:`decoding` passes through, instead of being taken for
    a corrupt image.
    """

    def __init__(self, fh, source):
        self._fh = fh
        self._source = source

    def _call(self, name, *args):
        try:
            return getattr(self._fh, name)(*args)
        except (ImgStatsError, EOFError):
            raise
        except TimeoutError as exc:  # fsspec's FSTimeoutError and asyncio's are TimeoutErrors
            raise timed_out(self._source, exc) from exc
        except Exception as exc:
            failure = body_failure(self._fh, self._source, exc)
            if failure is not None:
                raise failure from exc
            if isinstance(exc, ValueError):
                raise  # a decoder seeking to a negative offset: its bug, not the store's
            raise StoreUnavailable(
                f"reading {describe(self._source)} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def read(self, *args):
        call = self._call
        return checked_read(
            self._fh, self._source, partial(call, "read"), partial(call, "tell"), *args
        )

    def seek(self, *args):
        return self._call("seek", *args)

    def tell(self):
        return self._call("tell")

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        """False: decoders only read (tifffile's zarr store refuses a writable file in mode "r",
        which an in-memory file such as ``io.BytesIO`` would otherwise say it is)."""
        return False

    def close(self) -> None:
        """Leave the file open: its opener closes it."""

    def __getattr__(self, name):
        if name == "fileno":  # no memory maps or raw descriptors behind the guard
            raise AttributeError(name)
        attr = getattr(self._fh, name)
        if name == "readinto":
            call = self._call
            return lambda buffer: checked_readinto(
                self._fh, self._source, partial(call, "readinto"), partial(call, "tell"), buffer
            )
        if name in ("readline", "read1"):
            return lambda *args: self._call(name, *args)
        return attr
