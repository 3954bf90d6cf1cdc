"""Image stores: a local folder or an fsspec URL, read live, with names resolved safely.

A store answers five questions about a *name* (a file name such as ``IMG_1.jpg``, never a
path): which names exist (``list``), what version a name has now (``stat``), whether it still
has a version after its bytes were read (``unchanged``), where the core should read it from
(``source``), and its raw bytes (``open``). Names are
checked before anything touches the store: no separators, no ``..``, no URL pieces, no
percent signs, an image extension, at most 255 characters.

A version (:class:`Version`) is *settled* when a value computed from the bytes may be cached
under it. A file whose timestamp lies within ``racy_seconds`` of the moment it was looked at
may still be being written (git's "racily clean" entries), so its token carries a one-time
suffix (``~racy.<nonce>``): no cache, ETag or Redis key made from it is ever met again.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import secrets
import stat
import threading
import time
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, unquote, urljoin, urlsplit

import fsspec

from ..errors import (
    ImageNotFound,
    ImgStatsError,
    StoreTimeout,
    StoreUnavailable,
    UnreadableImage,
)
from ..io._beside import looked, looked_again
from ..io._guard import body_failure, checked_read, checked_readinto
from ..io._sources import SIDECAR_SUFFIXES, is_url, read_whole_if_streaming

__all__ = [
    "store_options",
    "missing_arguments",
    "IMAGE_EXTENSIONS",
    "RACY_SECONDS",
    "Version",
    "cacheable",
    "LocalStore",
    "FsspecStore",
    "open_store",
    "check_name",
    "store_error",
    "is_network_error",
]

#: Extensions (lower case) of the files a store lists and serves.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".jp2", ".j2k"}
)
_MAX_NAME = 255
# Printable, no separators or URL syntax: '/', '\\', '?', '#', '%', ':' and control characters
# (C0 and C1). Nor lone surrogates: Python's stand-ins for the bytes of a file name that is not
# UTF-8, which no URL can name and no page or JSON answer can write (a 500 on every gallery page).
# Nor '*': a name holding it is a pattern (as one holding '?'), so "a*b.png" was listed, and
# its thumbnail served, while its statistics were those of every name a*b.png matches.
_NAME = re.compile(r"[^/\\?*#%:\x00-\x1f\x7f-\x9f\ud800-\udfff]+")
#: Seconds after a change during which a file's content is not trusted to be final.
RACY_SECONDS = 2.0
_RACY = "~racy."


class Version(NamedTuple):
    """What a store says of an image now: ``(token, size)``, unpacked as a pair.

    ``token`` names the bytes (local: inode, ctime, mtime and size; remote: generation, ETag
    or Last-Modified with the size). A token that ends in ``~racy.<nonce>`` belongs to an
    image that may be changing right now: it is unique to this look, and :attr:`cacheable`
    is False.
    """

    token: str
    size: int

    @property
    def cacheable(self) -> bool:
        """Whether a value computed from these bytes may be cached under :attr:`token`."""
        return cacheable(self.token)


def cacheable(token: str) -> bool:
    """True unless the version ``token`` is racy (the image may be being written)."""
    return _RACY not in token


def racy(token: str) -> str:
    """A one-time version for ``token``'s bytes when they may be changing: never cached,
    never the same twice, so its ``ETag`` never validates."""
    # Random, not a counter: worker processes must never hand out the same racy token.
    return f"{token}{_RACY}{secrets.token_hex(8)}"


def check_name(name: str) -> str:
    """Return ``name`` if it is a plain image file name, else raise :class:`ImageNotFound`.

    Raises
    ------
    ImageNotFound
        For separators, ``..``, hidden files, URL pieces, percent signs, ``*`` (a name
        holding it is a pattern), control characters,
        names that are not UTF-8 (lone surrogates), names over 255 characters, and files
        without an image extension.
    """
    shown = name if len(name) <= 64 else name[:64] + "..."
    if (
        not isinstance(name, str)
        or len(name) > _MAX_NAME
        or not _NAME.fullmatch(name)
        or name.startswith(".")
        or name != name.strip()
        or "." + name.rpartition(".")[2].lower() not in IMAGE_EXTENSIONS
    ):
        raise ImageNotFound(f"no image named {shown!r} in the store")
    return name


def is_image_name(name: str) -> bool:
    """Return True when ``name`` would pass :func:`check_name`."""
    try:
        check_name(name)
    except ImageNotFound:
        return False
    return True


def store_error(exc: BaseException, what: str) -> StoreUnavailable:
    """Map a network or client error of a store to :class:`StoreTimeout` or StoreUnavailable."""
    if _is_timeout(exc):
        return StoreTimeout(f"the image store did not answer in time ({what})")
    return StoreUnavailable(f"the image store is unavailable ({what}: {type(exc).__name__})")


# Network errors of the clients under fsspec: aiohttp (http, gcsfs), botocore (s3fs), gcsfs.
_NETWORK = frozenset(
    {
        "ClientError",
        "HttpError",
        "BotoCoreError",
        "ConnectionError",
        "FSTimeoutError",
        "ChecksumError",
    }
)


def is_network_error(exc: BaseException | None) -> bool:
    """True if ``exc`` or any exception it was raised from is a store client's network error
    or timeout (a decoder may wrap one as a format error)."""
    seen = 0
    while exc is not None and seen < 10:
        if _is_timeout(exc) or {cls.__name__ for cls in type(exc).__mro__} & _NETWORK:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _is_timeout(exc: BaseException | None) -> bool:
    """True if ``exc`` or any exception it was raised from is a timeout."""
    seen = 0
    while exc is not None and seen < 10:
        names = {cls.__name__ for cls in type(exc).__mro__}
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or names & {
            "FSTimeoutError",
            "ReadTimeoutError",
            "ConnectTimeoutError",
            "ServerTimeoutError",
            "ReadTimeout",
            "ConnectTimeout",
        }:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


class LocalStore:
    """A folder on this machine, read live with ``os.stat``.

    A version token is ``"{mtime_ns}-{size}-{inode}-{ctime_ns}"``. The inode changes when a
    file is replaced by a rename or deleted and made again; the ctime changes on every write
    and cannot be set back (``cp -p``, ``rsync -t``, ``tar -x`` and ``touch -d`` restore the
    mtime only), so same-size replacements with the old mtime are noticed too.

    Parameters
    ----------
    root : str or os.PathLike
        The folder. It need not exist yet; a missing folder lists no images.
    racy_seconds : float
        A file changed (ctime or mtime) less than this many seconds before it is looked at
        gets a racy, uncacheable version (0 trusts every timestamp).
    """

    remote = False

    def __init__(self, root, racy_seconds: float = RACY_SECONDS):
        self.root = Path(root).expanduser().resolve()
        self.url = self.root.as_uri()
        self._root = os.fspath(self.root)
        self._prefix = os.path.join(self._root, "")
        self.storage_options: dict = {}
        self.racy_ns = int(float(racy_seconds) * 1e9)

    def list(self) -> list[str]:
        """Sorted names of the image files directly in the folder."""
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreUnavailable(f"cannot list the image folder: {exc.strerror}") from exc
        return sorted(
            e.name
            for e in entries
            if is_image_name(e.name)
            and _is_file(e)
            and (not e.is_symlink() or _inside(self.root, e.path))
        )

    def path(self, name: str) -> Path:
        """The path of ``name``, checked to lie directly inside the folder."""
        return Path(self._checked(name))

    def _checked(self, name: str) -> str:
        # check_name leaves no separator, so the join stays in the folder; a symlink may not
        # lead out of it. Plain strings: this runs on every request, pathlib costs ~10x more.
        path = self._prefix + check_name(name)
        if os.path.islink(path) and os.path.dirname(os.path.realpath(path)) != self._root:
            raise ImageNotFound(f"no image named {name!r} in the store")
        return path

    def stat(self, name: str) -> Version:
        """Return the :class:`Version` of ``name``; raises :class:`ImageNotFound` if absent.

        Within one request (:func:`imgstats.io._beside.one_look`) the image and its sidecars
        are looked at once: later calls give the same version, until :meth:`unchanged`
        looks again after the bytes were read (and keeps what it saw for the next asker).
        """
        return looked(("version", self._root, name), lambda: self._look(name))

    def _look(self, name: str) -> Version:
        """The :class:`Version` of ``name`` as the file system says it now."""
        path = self._prefix + check_name(name)
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                path = self._checked(name)
                st = os.stat(path)
        except ImageNotFound:  # a symlink out of the folder (an OSError too)
            raise
        except OSError as exc:
            raise _local_error(exc, name) from exc
        if not stat.S_ISREG(st.st_mode):
            raise ImageNotFound(f"no image named {name!r} in the store")
        token = f"{st.st_mtime_ns}-{st.st_size}-{st.st_ino}-{st.st_ctime_ns}"
        times = [st]
        # A ``.msk`` or ``.aux.xml`` sidecar is part of what the image means (GDAL's dataset
        # mask, its bands' nodata, scale and offset, which the statistics honour): adding,
        # replacing or removing one is a new version.
        for suffix in SIDECAR_SUFFIXES:
            try:
                side = os.stat(path + suffix)
            except OSError:
                continue
            if stat.S_ISREG(side.st_mode):
                token += f"+{suffix[1:]}:{side.st_mtime_ns}-{side.st_size}-{side.st_ino}"
                token += f"-{side.st_ctime_ns}"
                times.append(side)
        # The clock is read after the stat: a write that lands after it moves the ctime on.
        # Timestamps come from the kernel's coarse clock (a tick behind time.time_ns()), and
        # an mtime may be set to any time; the window covers both.
        now = time.time_ns()
        if any(
            now - t.st_ctime_ns < self.racy_ns or abs(now - t.st_mtime_ns) < self.racy_ns
            for t in times
        ):
            token = racy(token)
        return Version(token, st.st_size)

    def unchanged(self, name: str, version: str) -> bool:
        """Whether ``name`` still has the settled ``version``: True means a value computed
        from bytes read since ``version`` was taken may be cached under it."""
        if not cacheable(version):
            return False
        try:  # asked anew: the bytes may have changed while they were read
            now = looked_again(("version", self._root, name), lambda: self._look(name))
        except ImageNotFound:
            return False
        return now.token == version

    def source(self, name: str) -> str:
        """What the core reads: the file path (dask workers on this host read it too)."""
        return self._checked(name)

    def open(self, name: str, block_size: int | None = None):
        """Open ``name`` for binary reading (``block_size`` is for remote stores)."""
        try:
            return open(self._checked(name), "rb")  # noqa: SIM115 -- the caller closes it
        except PermissionError as exc:
            raise UnreadableImage(f"no permission to read {name!r}") from exc
        except ImageNotFound:
            raise
        except OSError as exc:
            raise _local_error(exc, name) from exc

    def redact(self, text: str) -> str:
        """Remove the folder's location from a message meant for clients."""
        return text.replace(os.fspath(self.root) + os.sep, "").replace(os.fspath(self.root), "")


#: What a failed stat or open of a local name means: no file there to read. A symlink
#: loop (ELOOP) names no file either; it would otherwise be an OSError, a 500.
_NO_IMAGE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP})


def _local_error(exc: OSError, name: str) -> ImgStatsError:
    """The domain error of an OSError met looking at ``name`` in a local folder."""
    if exc.errno in _NO_IMAGE:
        return ImageNotFound(f"no image named {name!r} in the store")
    return StoreUnavailable(f"cannot read {name!r} in the image folder: {exc.strerror}")


def _inside(root: Path, path: str) -> bool:
    return Path(os.path.realpath(path)).parent == root


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


class FsspecStore:
    """A remote prefix read through fsspec: ``s3://bucket/prefix``, ``gs://bucket``, ``https://``.

    Versions come from ``fs.info``: the GCS ``generation``, else the ``ETag``, else
    ``Last-Modified``/``mtime`` with the size, the image's and its GDAL sidecars' (which
    the core reads beside the URL). They are remembered for ``version_ttl`` seconds so
    that a burst of requests costs one round of metadata calls; a changed image is noticed
    after at most that long. :meth:`unchanged` asks again after the bytes were read, so that nothing
    read while the object changed is cached. An HTTP version known only by a
    ``Last-Modified`` within ``racy_seconds`` (plus its one-second resolution) of now is racy.
    Every call is bounded by ``timeout`` seconds. Once an HTTP server serves an image without
    ``Accept-Ranges: bytes`` and a size, its images are read whole (up to the byte limit of
    :func:`imgstats.io.open_source`), here and by the core (:attr:`storage_options`).

    Parameters
    ----------
    url : str
        The store's URL; a trailing slash is added.
    timeout : float
        Seconds for any one call to the store.
    version_ttl : float
        Seconds a version read from the store is reused (0 asks every time).
    storage_options : dict, optional
        Extra fsspec options (credentials, ``endpoint_url``...).
    racy_seconds : float
        See above (0 trusts every timestamp).

    Notes
    -----
    For ``gs://`` with ``STORAGE_EMULATOR_HOST`` or an ``endpoint_url`` option (an emulator
    or a proxy rather than Google's servers), the store sets
    ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` unless it is set already: otherwise gcsfs
    spends a minute per bucket trying gRPC, which emulators do not serve. Against Google's
    own servers the variable is left alone.
    """

    remote = True

    def __init__(
        self,
        url: str,
        timeout: float = 10.0,
        version_ttl: float = 2.0,
        storage_options: dict | None = None,
        racy_seconds: float = RACY_SECONDS,
    ):
        self.protocol = urlsplit(url).scheme.lower()
        self.url = url.rstrip("/") + "/"
        self.timeout = float(timeout)
        self.version_ttl = float(version_ttl)
        self.racy_seconds = float(racy_seconds)
        self.storage_options = store_options(url, self.timeout, storage_options)
        self._versions: dict[str, tuple[float, str, int]] = {}
        self._lock = threading.Lock()
        if self.protocol in ("gs", "gcs") and (
            os.environ.get("STORAGE_EMULATOR_HOST") or self.storage_options.get("endpoint_url")
        ):
            # read when gcsfs is imported, i.e. on the first use of fs below
            os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

    @property
    def fs(self):
        """The fsspec filesystem (fsspec caches instances, so this is cheap)."""
        try:
            return fsspec.filesystem(self.protocol, **self.storage_options)
        except ImportError as exc:
            raise StoreUnavailable(
                f"no filesystem for {self.protocol}:// is installed: install imgstats[s3] "
                "or imgstats[gcs]"
            ) from exc

    def address(self, name: str) -> str:
        """The URL of ``name``."""
        check_name(name)
        if self.protocol in ("http", "https"):
            return self.url + quote(name)
        return self.url + name

    def list(self) -> list[str]:
        """Sorted names of the image files directly under the prefix."""
        try:
            if self.protocol in ("http", "https"):
                names = self._list_http()
            else:
                self.fs.invalidate_cache(self.url)
                names = [
                    p.rstrip("/").rsplit("/", 1)[-1]
                    for p in self._call("ls", self.url, detail=False)
                ]
        except FileNotFoundError:
            return []
        except Exception as exc:  # network clients raise their own types
            raise store_error(exc, "listing") from exc
        return sorted({n for n in names if is_image_name(n)})

    def _list_http(self) -> list[str]:
        """Links of an HTML index page, or the keys of an S3/GCS XML bucket listing."""
        text = self._call("cat_file", self.url).decode("utf-8", "replace")
        if "<ListBucketResult" in text:
            prefix = unquote(urlsplit(self.url).path).lstrip("/")
            prefix = prefix.split("/", 1)[1] if "/" in prefix.rstrip("/") else ""
            keys = re.findall(r"<Key>([^<]+)</Key>", text)
            return [
                k[len(prefix) :]
                for k in keys
                if k.startswith(prefix) and "/" not in k[len(prefix) :]
            ]
        names = []
        for href in re.findall(r"""href\s*=\s*["']([^"']+)["']""", text, flags=re.I):
            full = urljoin(self.url, href)
            if full.startswith(self.url) and "?" not in full and "#" not in full:
                rest = full[len(self.url) :]
                if rest and "/" not in rest:
                    names.append(unquote(rest))
        return names

    def stat(self, name: str, fresh: bool = False) -> Version:
        """Return the :class:`Version` of ``name``, reusing one younger than ``version_ttl``
        unless ``fresh``."""
        address = self.address(name)
        now = time.monotonic()
        with self._lock:
            hit = None if fresh else self._versions.get(name)
        if hit is not None and hit[0] > now:
            return Version(hit[1], hit[2])
        try:
            info = self._info(address)
        except FileNotFoundError as exc:
            raise ImageNotFound(f"no image named {name!r} in the store") from exc
        except Exception as exc:
            if _http_status(exc) in (403, 404, 410):
                raise ImageNotFound(f"no image named {name!r} in the store") from exc
            raise store_error(exc, "metadata") from exc
        if info.get("type", "file") != "file":
            raise ImageNotFound(f"no image named {name!r} in the store")
        if info.get("partial") is False:
            self._read_whole()
        size = int(info.get("size") or 0)
        version = _version_of(info, size)
        sides = self._sidecars(address)
        version += "".join(f"+{suffix[1:]}:{_version_of(i, i['size'])}" for suffix, i in sides)
        if any(self._is_racy(i) for i in [info, *(i for _, i in sides)]):
            return Version(racy(version), size)  # never remembered: each look is its own
        if self.version_ttl > 0:
            with self._lock:
                if len(self._versions) > 4096:
                    self._versions.clear()
                self._versions[name] = (now + self.version_ttl, version, size)
        return Version(version, size)

    def _sidecars(self, address: str) -> list[tuple[str, dict]]:
        """``(suffix, info)`` of each GDAL sidecar beside ``address`` (the core reads them
        beside a URL as beside a path: adding, replacing or removing one is a new version);
        a missing one (HTTP 403, 404 or 410, as for the core) is left out."""
        found = []
        for suffix in SIDECAR_SUFFIXES:
            try:
                info = self._info(address + suffix)
            except FileNotFoundError as exc:
                if _store_failure(exc):
                    raise store_error(exc.__cause__, "metadata") from exc
                continue
            except PermissionError:  # s3fs's 403: a missing key, to a reader who may not list
                continue
            except Exception as exc:
                if _http_status(exc) in (403, 404, 410):
                    continue
                raise store_error(exc, "metadata") from exc
            if info.get("type", "file") == "file":
                found.append((suffix, {**info, "size": int(info.get("size") or 0)}))
        return found

    def unchanged(self, name: str, version: str) -> bool:
        """Whether the store, asked now, still has the settled ``version`` of ``name``: True
        means bytes read since ``version`` was taken may be cached under it."""
        if not cacheable(version):
            return False
        try:
            return self.stat(name, fresh=True).token == version
        except (ImageNotFound, StoreUnavailable):
            return False

    def _read_whole(self) -> None:
        """From now on open this HTTP server's files as streams, read whole (fsspec's
        ``block_size=0``): it has served a file without promising range requests."""
        if "block_size" not in self.storage_options:
            self.storage_options = {**self.storage_options, "block_size": 0}

    def _is_racy(self, info: dict) -> bool:
        """An HTTP or FTP server's file changed within ``racy_seconds`` (it may be being
        written); object stores replace objects whole, and :meth:`unchanged` catches a
        replacement."""
        if self.racy_seconds <= 0 or self.protocol not in ("http", "https", "ftp"):
            return False
        stamp = info.get("Last-Modified") or info.get("modify")
        if not stamp:
            return False
        try:
            if "modify" in info:  # FTP's MLSD fact: YYYYMMDDHHMMSS[.sss] in UTC (RFC 3659)
                changed = _ftp_time(str(stamp))
            else:
                changed = parsedate_to_datetime(stamp).timestamp()
        except (TypeError, ValueError):
            return True  # unreadable: do not trust it
        return abs(time.time() - changed) < self.racy_seconds + 1  # 1 s resolution

    def _info(self, address: str) -> dict:
        if self.protocol not in ("http", "https"):
            self.fs.invalidate_cache(address)
            return self._call("info", address)
        # fsspec's HTTP info retries HEAD with GET and reports any failure, a timeout too, as
        # FileNotFoundError; one HEAD keeps the time bound and tells the failures apart.
        try:
            return self._http_head(address, "HEAD")
        except Exception as exc:
            if _http_status(exc) in (405, 501):  # no HEAD here: GET, and read headers only
                return self._http_head(address, "GET")
            raise

    def _http_head(self, address: str, method: str) -> dict:
        """The metadata of an HTTP ``address`` from the headers of one request."""
        from fsspec.asyn import sync

        fs = self.fs

        options = {**fs.kwargs, "allow_redirects": True}  # the request options of fsspec's
        options["headers"] = {**options.get("headers", {}), "Accept-Encoding": "identity"}

        async def ask():
            session = await fs.set_session()
            async with session.request(method, fs.encode_url(address), **options) as response:
                response.raise_for_status()
                return _http_info(response.headers)

        return sync(fs.loop, ask, timeout=self.timeout + 1)

    def _call(self, method: str, *args, **kwargs):
        """Call a filesystem method within ``timeout`` seconds overall, retries included
        (s3fs and gcsfs retry failed calls with back-off on their own)."""
        fs = self.fs
        if getattr(fs, "async_impl", False) and hasattr(fs, "_" + method):
            from fsspec.asyn import sync

            return sync(fs.loop, getattr(fs, "_" + method), *args, timeout=self.timeout, **kwargs)
        return getattr(fs, method)(*args, **kwargs)

    def source(self, name: str) -> str:
        """What the core reads: the URL (dask workers read it themselves)."""
        return self.address(name)

    def open(self, name: str, block_size: int | None = None):
        """Open ``name`` for binary reading (``block_size``: bytes per remote read).

        A server that refuses range requests (``Accept-Ranges: none``, or no
        ``Content-Length``) is read whole, up to the byte limit of
        :func:`imgstats.io.open_source`. Network errors met while reading come out as
        :class:`StoreUnavailable` or :class:`StoreTimeout`.
        """
        address = self.address(name)
        whole = self.storage_options.get("block_size") == 0
        options = {} if block_size is None or whole else {"block_size": block_size}
        try:
            fh = read_whole_if_streaming(self.fs.open(address, "rb", **options), address)
        except FileNotFoundError as exc:
            if _store_failure(exc):
                raise store_error(exc.__cause__, "open") from exc
            raise ImageNotFound(f"no image named {name!r} in the store") from exc
        except ImgStatsError:  # ImageTooLarge: over the byte limit without ranges
            raise
        except Exception as exc:
            raise store_error(exc, "open") from exc
        return _StoreFile(fh, address)

    def redact(self, text: str) -> str:
        """Messages may name the store's URL: it is public to clients anyway."""
        return text


class _StoreFile:
    """A remote file whose network errors, raised while it is read, are the store's, and
    whose reads that come back shorter than its size (a cut body, a refused range) are
    :class:`~imgstats.errors.ImageChanged`, as through the decoders' ``GuardedFile``: the
    gallery's previews read it directly, and rendered or served what a cut body gave."""

    def __init__(self, fh, address: str):
        self._fh = fh
        self._address = address
        self.__wrapped__ = fh  # what imgstats.io's checks of a store's file look at

    def __getattr__(self, attr):
        return getattr(self._fh, attr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        return iter(self._fh)

    def _mapped(self, method, *args):
        try:
            return method(*args)
        except (ImgStatsError, EOFError):
            raise
        except Exception as exc:
            failure = body_failure(self._fh, self._address, exc)
            if failure is not None:  # the body ended early: said so, as a decoder's read
                raise failure from exc
            if isinstance(exc, ValueError):
                raise  # a seek out of range is the decoder's business
            raise store_error(exc, "read") from exc

    def read(self, *args):
        read = partial(self._mapped, self._fh.read)
        return checked_read(self._fh, self._address, read, self._fh.tell, *args)

    def readinto(self, buffer):
        readinto = partial(self._mapped, self._fh.readinto)
        return checked_readinto(self._fh, self._address, readinto, self._fh.tell, buffer)

    def readline(self, *args):
        return self._mapped(self._fh.readline, *args)

    def seek(self, *args):
        return self._mapped(self._fh.seek, *args)

    def close(self):
        try:
            self._fh.close()
        except Exception:  # noqa: BLE001 -- closing a broken connection must not fail a request
            pass


def _store_failure(exc: BaseException) -> bool:
    """fsspec's HTTP filesystem reports every failure of its info call as FileNotFoundError:
    tell a missing file from a failing store by the cause."""
    cause = exc.__cause__
    if cause is None or isinstance(cause, FileNotFoundError):
        return False
    status = _http_status(cause)
    if status is not None:
        return status >= 500 or status == 429
    return True


def _http_info(headers) -> dict:
    """fsspec-style info of an HTTP response's headers."""
    info: dict = {"type": "file", "size": None}
    if headers.get("Content-Encoding", "identity") in ("identity", ""):
        size = headers.get("Content-Length") or headers.get("Content-Range", "").rpartition("/")[2]
        info["size"] = int(size) if size.isdigit() else None
    for key in ("ETag", "Last-Modified"):
        if headers.get(key):
            info[key] = headers[key]
    # Only an explicit "bytes" promises ranges: Python's http.server, for one, sends no
    # Accept-Ranges and ignores Range, and fsspec then fails past its first block.
    info["partial"] = headers.get("Accept-Ranges", "").lower() == "bytes" and bool(info["size"])
    return info


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status of a client's error (aiohttp, botocore), if it carries one."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code if isinstance(code, int) else None
    return None


def _version_of(info: dict, size: int) -> str:
    for key in ("generation", "ETag", "etag", "VersionId"):
        value = info.get(key)
        if value:
            return f"{key}:{str(value).strip(chr(34))}-{size}"
    for key in ("LastModified", "Last-Modified", "mtime", "updated", "last_modified", "modify"):
        value = info.get(key)
        if value:
            return f"mtime:{value}-{size}"
    return f"size:{size}"


def _ftp_time(stamp: str) -> float:
    """Seconds since the epoch of an FTP ``modify`` fact (``20261206212941``, UTC)."""
    import calendar

    whole, _, fraction = stamp.partition(".")
    parsed = time.strptime(whole, "%Y%m%d%H%M%S")
    return calendar.timegm(parsed) + (float("0." + fraction) if fraction.isdigit() else 0.0)


def store_options(url: str, timeout: float, storage_options: dict | None = None) -> dict:
    """The fsspec options of the store at ``url``: those its URL gives (``ftp://host:port/``:
    the host and port, which fsspec's FTP filesystem takes only as arguments: a listing
    failed with ``TypeError``), the timeouts, then ``storage_options``."""
    protocol = urlsplit(url).scheme.lower()
    try:
        from_url = fsspec.get_filesystem_class(protocol)._get_kwargs_from_urls(url)
    except (ValueError, ImportError):  # unknown, or not installed: the store says so
        from_url = {}
    return {**from_url, **_timeout_options(protocol, timeout), **(storage_options or {})}


def missing_arguments(url: str, storage_options: dict | None = None) -> list[str]:
    """The arguments the filesystem of ``url`` requires that neither the URL nor
    ``storage_options`` give (``zip://`` its archive ``fo``, ``ftp:///`` its ``host``), read
    from its signature without making one (an FTP filesystem connects when it is made)."""
    import inspect

    cls = fsspec.get_filesystem_class(urlsplit(url).scheme.lower())
    given = store_options(url, 0.0, storage_options)
    return [
        name
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if name != "self"
        and parameter.default is inspect.Parameter.empty
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        and given.get(name) in (None, "")
    ]


def _timeout_options(protocol: str, timeout: float) -> dict:
    """fsspec options bounding every call of each backend by ``timeout`` seconds."""
    if protocol in ("http", "https"):
        import aiohttp

        return {"client_kwargs": {"timeout": aiohttp.ClientTimeout(total=timeout)}}
    if protocol in ("s3", "s3a"):
        return {
            "config_kwargs": {
                "connect_timeout": timeout,
                "read_timeout": timeout,
                "retries": {"max_attempts": 1},
            }
        }
    if protocol in ("gs", "gcs"):
        return {"timeout": timeout}
    return {}


def open_store(
    images,
    *,
    timeout: float = 10.0,
    version_ttl: float = 2.0,
    storage_options: dict | None = None,
    racy_seconds: float = RACY_SECONDS,
):
    """Return the store for a folder path or an fsspec URL (``file://`` is a folder)."""
    text = os.fspath(images)
    if is_url(text):
        if text.startswith("file://"):
            return LocalStore(urlsplit(text).path, racy_seconds)
        return FsspecStore(text, timeout, version_ttl, storage_options, racy_seconds)
    return LocalStore(text, racy_seconds)
