"""Where image bytes come from: local paths and fsspec URLs, with errors mapped to our own."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import stat
from collections.abc import Iterator
from typing import IO

from .._lazy import imported, lazy_module
from ..errors import (
    ImageChanged,
    ImageNotFound,
    ImageTooLarge,
    ImgStatsError,
    StoreTimeout,
    StoreUnavailable,
    UnreadableImage,
)
from ._beside import looked

fsspec = lazy_module("fsspec")  # only URLs need it

#: A URL: a scheme, then ``://`` (the one definition; the web stores use it too).
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
#: Protocols whose fsspec filesystem takes the URL's host as a required argument: without
#: one, its constructor fails half-way and its ``__del__`` prints a traceback at exit.
_HOSTED = frozenset({"ftp", "sftp", "ssh", "smb", "webhdfs"})
#: Most bytes read whole from a server that refuses range requests (``IMGSTATS_STREAM_BYTES``).
STREAM_BYTES = 256 << 20
#: GDAL's sidecar of a dataset mask: ``<file>.msk``.
MASK = ".msk"
#: GDAL's sidecar of Persistent Auxiliary Metadata (per-band nodata, scale, offset).
PAM = ".aux.xml"
#: The spellings GDAL looks for of each sidecar, in order: a mask's in upper case too when
#: there is no ``.msk`` (GDAL's ``HaveMaskFile``, where file names have a case).
_SPELLINGS = {MASK: (MASK, MASK.upper()), PAM: (PAM,)}
#: The sidecars GDAL reads beside an image, which change what its samples mean, as they
#: are spelled (the one list: the web store's version token counts them too).
SIDECAR_SUFFIXES = tuple(spelling for spellings in _SPELLINGS.values() for spelling in spellings)


def is_url(source) -> bool:
    """Return True when ``source`` is an fsspec URL (``s3://``, ``https://``, ``file://``...)."""
    return isinstance(source, str) and _URL.match(source) is not None


def describe(source) -> str:
    """Return a short printable name of a source for error messages."""
    text = os.fspath(source) if isinstance(source, os.PathLike) else str(source)
    return text if len(text) <= 200 else text[:200] + "..."


#: HTTP statuses that mean "no sidecar there": 404 and 410, and 403, which S3 answers for a
#: missing key to a reader without the right to list the bucket (GDAL takes all three so).
_NO_SIDECAR = frozenset({403, 404, 410})


def sidecar(source, suffix: str, storage_options: dict | None = None) -> str | None:
    """Where GDAL would read ``source``'s ``suffix`` sidecar (:data:`MASK` or :data:`PAM`):
    the file beside a local path, the object beside a URL (its path with ``suffix``
    appended, as ``/vsicurl/`` and ``/vsis3/`` look for it), a mask's ``.MSK`` when there is
    no ``.msk``; ``None`` when there is none.

    A URL costs one request per spelling, for its first byte (:func:`read_sidecar`).

    Raises
    ------
    StoreUnavailable, StoreTimeout
        The store failed otherwise than by having no such object (a 500, a stall).
    """
    if not isinstance(source, (str, os.PathLike)):
        return None
    if not is_url(source):
        path = os.fspath(source)
        return looked(("sidecar", path, suffix), lambda: _local_sidecar(path, suffix))
    found = read_sidecar(source, suffix, 0, storage_options)
    return None if found is None else found[0]


def _local_sidecar(path: str, suffix: str) -> str | None:
    """The first spelling of ``path``'s ``suffix`` sidecar that is a file, or ``None``."""
    for spelling in _SPELLINGS.get(suffix, (suffix,)):
        if os.path.isfile(path + spelling):
            return path + spelling
    return None


def read_sidecar(
    source, suffix: str, limit: int, storage_options: dict | None = None
) -> tuple[str, bytes] | None:
    """``(where, data)`` of ``source``'s ``suffix`` sidecar (see :func:`sidecar`): its first
    ``limit + 1`` bytes at most, so that a caller refusing a sidecar over ``limit`` never
    holds more; ``None`` without one. A URL is read by one ranged request (of a server
    that ignores the range, no more than ``limit + 1`` bytes are read off the wire);
    HTTP 403, 404 and 410 mean none.

    Raises
    ------
    UnreadableImage
        A local sidecar that cannot be read.
    StoreUnavailable, StoreTimeout
        The store failed otherwise than by having no such object.
    """
    if not isinstance(source, (str, os.PathLike)):
        return None
    if not is_url(source):
        found = sidecar(source, suffix)
        if found is None:
            return None
        return looked(("read", found, limit), lambda: _read_local(found, limit))
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(source)
    for spelling in _SPELLINGS.get(suffix, (suffix,)):
        url = urlunsplit(parts._replace(path=parts.path + spelling))  # before any query
        data = _read_head(url, limit + 1, storage_options)
        if data is not None:
            return url, data
    return None


def _read_local(found: str, limit: int) -> tuple[str, bytes]:
    """``(found, its first limit + 1 bytes)``: a local sidecar's (:func:`read_sidecar`)."""
    try:
        with open(found, "rb") as fh:
            return found, fh.read(limit + 1)
    except OSError as exc:
        raise UnreadableImage(f"{describe(found)} cannot be read: {exc.strerror}") from None


def _read_head(url: str, size: int, storage_options: dict | None) -> bytes | None:
    """The first ``size`` bytes (or fewer) of the object at ``url`` in one request; ``None``
    when there is none."""
    options = with_stall_timeout(url, storage_options)
    try:
        import fsspec  # only URLs need it

        check_host(url)
        fs, path = fsspec.core.url_to_fs(url, **options)
        if url.split("://", 1)[0].lower() in ("http", "https"):
            return _read_http_head(fs, url, size)
        return fs.cat_file(path, start=0, end=size)
    except FileNotFoundError as exc:
        if _store_failed(exc):
            raise StoreUnavailable(
                f"could not read {describe(url)}: {_reason(exc.__cause__ or exc)}"
            ) from exc
        return None
    except PermissionError:  # s3fs's 403: a missing key, to a reader who may not list
        return None
    except ImgStatsError:
        raise
    except ImportError as exc:
        raise not_installed(describe(url), exc) from exc
    except TimeoutError as exc:  # aiohttp's and fsspec's are TimeoutErrors
        raise timed_out(url, exc) from exc
    except Exception as exc:  # network clients raise their own types (aiohttp, botocore)
        if isinstance(exc, OSError) and exc.errno == errno.EINVAL and "range" in str(exc):
            return b""  # s3fs's HTTP 416: an empty object has no first byte
        raise StoreUnavailable(
            f"could not read {describe(url)}: {type(exc).__name__}: {_reason(exc)}"
        ) from exc


def _read_http_head(fs, url: str, size: int) -> bytes | None:
    """:func:`_read_head` of an HTTP(S) URL through fsspec's session (its options and
    timeouts): one GET of ``Range: bytes=0-(size-1)``, read no further than ``size`` bytes
    whether the server honours the range or sends the whole file."""
    from fsspec.asyn import sync

    headers = {**fs.kwargs.get("headers", {}), "Accept-Encoding": "identity"}
    headers["Range"] = f"bytes=0-{max(size - 1, 0)}"
    options = {**fs.kwargs, "headers": headers}

    async def get():
        session = await fs.set_session()
        async with session.get(fs.encode_url(url), **options) as response:
            if response.status in _NO_SIDECAR:
                return None
            if response.status == 416:  # an empty file has no first byte
                return b""
            response.raise_for_status()
            data = bytearray()
            while len(data) < size:
                part = await response.content.read(min(1 << 16, size - len(data)))
                if not part:
                    break
                data += part
            return bytes(data)

    return sync(fs.loop, get)


def _store_failed(exc: BaseException) -> bool:
    """Whether a FileNotFoundError only wraps a store failure (fsspec's HTTP filesystem wraps
    every error, a 500 or a refused connection included, in FileNotFoundError)."""
    cause = exc.__cause__
    if cause is None or isinstance(cause, FileNotFoundError):
        return False
    status = getattr(cause, "status", None)
    if type(cause).__name__ == "TooManyRedirects":  # aiohttp's, of a redirect loop
        return True
    if isinstance(status, int):
        return status >= 500 or status == 429
    return isinstance(cause, (OSError, TimeoutError))


def timed_out(source, exc: BaseException) -> StoreTimeout:
    """The error of a read of ``source`` that timed out: aiohttp's and fsspec's timeouts
    often say nothing ("timed out: " and no more), so an empty one says what happened."""
    said = str(exc).strip() or "the store sent nothing within its timeout (a stalled server)"
    return StoreTimeout(f"reading {describe(source)} timed out: {said}")


def _reason(exc: BaseException) -> str:
    """What a store's failure says (aiohttp's redirect loop says "0, message=''")."""
    if type(exc).__name__ == "TooManyRedirects":
        return "the server redirects in a loop (too many redirects)"
    return str(exc)


#: Seconds an HTTP(S) read waits for a connection or for the server's next bytes before it
#: fails (``StoreTimeout``), unless ``storage_options`` gives its own ``client_kwargs``:
#: aiohttp's default waited 5 minutes for a server that stalls mid-body.
HTTP_STALL_SECONDS = 30.0


def with_stall_timeout(source, storage_options: dict | None) -> dict:
    """``storage_options`` for ``source``, bounding an HTTP(S) server's silence by
    :data:`HTTP_STALL_SECONDS` (not the whole read: a large file may take longer)."""
    options = dict(storage_options or {})
    scheme = source.split("://", 1)[0].lower() if is_url(source) else ""
    if scheme not in ("http", "https") or "client_kwargs" in options:
        return options
    import aiohttp

    stall = HTTP_STALL_SECONDS
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=stall, sock_read=stall)
    return {**options, "client_kwargs": {"timeout": timeout}}


def stream_bytes_default() -> int:
    """``IMGSTATS_STREAM_BYTES`` if set, else :data:`STREAM_BYTES`."""
    value = os.environ.get("IMGSTATS_STREAM_BYTES", "")
    return int(value) if value.strip().isdigit() else STREAM_BYTES


def read_whole_if_streaming(fh, source, limit: int | None = None):
    """``fh``, or its bytes in memory when it cannot seek: fsspec hands out a streaming file
    for an HTTP server that answers ``Accept-Ranges: none`` or gives no ``Content-Length``,
    and decoders must seek.

    Raises
    ------
    ImageTooLarge
        The stream holds more than ``limit`` bytes (default :func:`stream_bytes_default`).
    """
    http = imported("fsspec.implementations.http")  # loaded if fh came from it
    if http is not None and isinstance(fh, http.HTTPFile) and _ignores_ranges(fh, source):
        fh.close()
        fh = fh.fs.open(fh.path, "rb", block_size=0, size=fh.size)  # HTTPStreamFile
    if http is None or not isinstance(fh, http.HTTPStreamFile):
        return fh
    limit = stream_bytes_default() if limit is None else limit
    parts, size = [], 0
    declared = _content_length(fh)
    try:
        while size <= limit:  # a stream's read(n) gives what has arrived, up to n bytes
            part = fh.read(min(1 << 20, limit + 1 - size))
            if not part:
                break
            parts.append(part)
            size += len(part)
    except Exception as exc:
        if declared is not None and cut_short(exc):
            raise body_ended(source, size, declared) from exc
        raise
    finally:
        fh.close()
    if declared is not None and size < min(declared, limit + 1):
        raise body_ended(source, size, declared)
    told = _told_size(fh) if size <= limit else None
    if told is not None and told > size:  # a HEAD of 0 (or of a gzip's encoded bytes) is no
        raise body_ended(source, size, told)  # promise of more: only a body short of it is
    data = b"".join(parts)
    if len(data) > limit:
        raise ImageTooLarge(
            f"{describe(source)} is served without range requests and holds more than "
            f"{limit} bytes (IMGSTATS_STREAM_BYTES); serve it with ranges or raise the limit"
        )
    # read-only like a file opened "rb": tifffile's zarr store refuses a writable BytesIO
    return io.BufferedReader(io.BytesIO(data))


def _ignores_ranges(fh, source) -> bool:
    """Whether the server of fsspec's random-access HTTP file ``fh`` answers a range request
    with its whole file (Python's ``http.server``), asked once, for the first byte, of a file
    larger than one block. fsspec reads the first block of such a server, then refuses every
    later part ("does not answer HTTP range requests"); a file of one block is read whole by
    its first fetch. Any failure but a timeout is left to the reads to meet and tell.

    Raises
    ------
    StoreTimeout
        The server sent nothing within its stall timeout.
    """
    if not isinstance(fh.size, int) or fh.size <= fh.blocksize:
        return False
    from fsspec.asyn import sync

    kwargs = dict(fh.kwargs)
    headers = {**kwargs.pop("headers", {}), "Range": "bytes=0-0"}

    async def probe():
        async with fh.session.get(fh.fs.encode_url(fh.url), headers=headers, **kwargs) as r:
            return r.status == 200 and "Content-Range" not in r.headers  # body left unread

    try:
        return sync(fh.loop, probe)
    except TimeoutError as exc:  # aiohttp's and fsspec's are TimeoutErrors
        raise timed_out(source, exc) from exc
    except Exception:  # a failing server: the reads that follow say how
        return False


def body_ended(source, held: int | None, size: int) -> ImageChanged:
    """The error of a download of ``source`` whose body ended after ``held`` (``None``:
    some) of its ``size`` bytes (the server or a proxy cut it short, or the file shrank
    meanwhile)."""
    when = f"after {held} of its" if held is not None else "before the end of its"
    return ImageChanged(
        f"the body of {describe(source)} ended {when} {size} bytes: the server cut the "
        "download short (or the file changed while it was read); reading it again is "
        "reasonable"
    )


def _told_size(fh) -> int | None:
    """The size the server's HEAD gives the stream's URL (None: it gives none, or the HEAD
    fails). fsspec asks for it before it opens a stream, then drops it: a server whose HEAD
    said N bytes and whose GET declared and sent N/2 was read as an image cut short (422,
    "PNG data ends early"), where it is the store's body, or a file changed meanwhile."""
    try:
        size = fh.fs.info(fh.url).get("size")
    except Exception:  # the read itself succeeded: no second opinion, not an error
        return None
    return size if isinstance(size, int) and size >= 0 else None


def _content_length(fh) -> int | None:
    """The ``Content-Length`` of an fsspec HTTP stream's response, if it gave one and it
    counts the bytes read: not for a body with a ``Content-Encoding`` (gzip), whose length
    is that of the encoded bytes while aiohttp hands out the decoded ones (a gzipped PNG,
    a little larger than the PNG, read as a download cut short every time)."""
    response = getattr(fh, "r", None)
    length = getattr(response, "content_length", None)
    headers = getattr(response, "headers", None) or {}
    if headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        return None
    return length if isinstance(length, int) and length >= 0 else None


def cut_short(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what it was raised from) is aiohttp's body that ended before its
    ``Content-Length`` (``ClientPayloadError``, ``ContentLengthError``)."""
    for _ in range(10):
        if exc is None:
            return False
        if {"ClientPayloadError", "ContentLengthError"} & {c.__name__ for c in type(exc).__mro__}:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


#: The extra that installs a protocol's filesystem.
_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}


def not_installed(url: str, exc: ImportError) -> StoreUnavailable:
    """The error for a URL whose fsspec filesystem lacks its package: the extra to install
    for ``s3://`` and ``gs://``, else the package fsspec names (``sftp://`` needs paramiko,
    which no extra of ours gives)."""
    extra = _EXTRAS.get(url.split("://", 1)[0].lower())
    hint = f"install imgstats[{extra}]" if extra else "install the package it names"
    return StoreUnavailable(f"the filesystem for {url} is not installed ({exc}); {hint}")


def check_host(url: str) -> None:
    """Refuse a URL of a :data:`_HOSTED` protocol that names no host (``ftp:///a.png``)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        host = parts.hostname
    except ValueError:  # a malformed port or bracket: fsspec words it
        return
    if parts.scheme.lower() in _HOSTED and not host:
        raise ValueError(f"the URL names no host (write {parts.scheme}://HOST/PATH)")


def open_local(path) -> IO[bytes]:
    """Open a local file for binary reading, as ``open(path, "rb")``; a pipe is refused.

    ``open()`` of a named pipe waits for a writer for ever, and a pipe's bytes cannot be
    read out of order as a decoder does (``/dev/stdin`` of ``cat a.tif |``): "not seekable".

    Raises
    ------
    UnreadableImage
        ``path`` is a pipe; ``OSError`` as ``open()`` raises it otherwise.
    """
    if stat.S_ISFIFO(os.stat(path).st_mode):
        raise UnreadableImage(
            f"{describe(path)} is a pipe, not a file: an image is read out of order, "
            "save what the pipe gives to a file first"
        )
    return open(path, "rb")  # noqa: SIM115 -- the caller closes it


#: What a failed open of a local path means: no file there, for good (a loop of symbolic
#: links, a name or path too long), as the service's local store takes them.
_NO_FILE = frozenset({errno.ELOOP, errno.ENAMETOOLONG})


@contextlib.contextmanager
def open_source(source, storage_options: dict | None = None) -> Iterator[IO[bytes]]:
    """Open a local path or fsspec URL for binary reading.

    Raises
    ------
    ImageNotFound
        Nothing exists there.
    UnreadableImage
        It is a folder, or cannot be read for a reason other than the network.
    StoreUnavailable
        The remote store did not answer or answered with an error; or a read from the open
        file failed (an ``OSError`` in the ``with`` block that no decoder made ours).
    """
    try:
        if is_url(source):
            import fsspec  # only URLs need it

            check_host(source)
            opened = fsspec.open(source, "rb", **with_stall_timeout(source, storage_options))
            fh = read_whole_if_streaming(opened.open(), source)
        else:
            fh = open_local(os.fspath(source))
    except (FileNotFoundError, NotADirectoryError) as exc:
        if _store_failed(exc):
            raise StoreUnavailable(
                f"could not open {describe(source)}: {_reason(exc.__cause__ or exc)}"
            ) from exc
        raise ImageNotFound(f"no image at {describe(source)}") from exc
    except ImgStatsError:  # too large, unreadable, a body cut short
        raise
    except IsADirectoryError as exc:
        raise UnreadableImage(f"{describe(source)} is a folder, not an image") from exc
    except PermissionError as exc:
        raise UnreadableImage(f"no permission to read {describe(source)}") from exc
    except OSError as exc:
        if exc.errno not in _NO_FILE:
            raise StoreUnavailable(f"could not open {describe(source)}: {exc}") from exc
        # a path that names no file, for good: not a store's failure that a retry may mend
        raise ImageNotFound(f"no image at {describe(source)}: {exc.strerror}") from exc
    except ValueError as exc:  # e.g. an unknown protocol, or a path with a NUL byte
        raise ImageNotFound(f"cannot resolve {describe(source)}: {exc}") from exc
    except ImportError as exc:
        raise not_installed(describe(source), exc) from exc
    except Exception as exc:  # network clients raise their own types (aiohttp, botocore)
        raise StoreUnavailable(f"could not open {describe(source)}: {exc}") from exc
    try:
        yield fh
    except OSError as exc:
        if isinstance(exc, ImgStatsError):  # ImageNotFound is a FileNotFoundError too
            raise
        # a read that fails after the open, outside a GuardedFile (a first look at the magic
        # bytes, a GeoJSON's text): EIO of a failing disk or network mount; its words
        raise StoreUnavailable(
            f"reading {describe(source)} failed: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        fh.close()
