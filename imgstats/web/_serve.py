"""``imgstats serve``: the app under gunicorn (threaded workers), or Flask's dev server."""

from __future__ import annotations

import os
import re
import sys

__all__ = [
    "serve",
    "check_settings",
    "check_address",
    "gunicorn_options",
    "default_threads",
    "keep_freed_memory",
    "MALLOC_KEEP",
    "FAST_THREADS",
    "OTHER_THREADS",
]


#: Threads per worker kept free of slow work, for /health and cached answers.
FAST_THREADS = 4
#: Threads per worker beyond the slow-work slots under the buffering worker: cached answers,
#: /health, and requests on their way to the queue (which waits without threads).
OTHER_THREADS = 12


def default_threads(worker_class: str | None = None) -> int:
    """Threads per worker.

    Under :class:`~imgstats.web._worker.BufferingWorker` (the default), ``SLOW_WORKERS`` +
    :data:`OTHER_THREADS` (14 by default): requests waiting for slow work wait in the worker's
    queue of complete requests (``SLOW_QUEUE`` places), not in threads.

    Under plain ``gthread`` (``IMGSTATS_WORKER_CLASS=gthread``) every slow-work slot, queue
    place and single-flight waiter is a thread, plus :data:`FAST_THREADS`: the app refuses slow
    work beyond ``SLOW_WORKERS + SLOW_QUEUE`` per process, and more than ``SLOW_QUEUE``
    requests waiting for another's computation (503), so at least FAST_THREADS are never tied
    up by a hung store or a long decode.
    """
    from . import DEFAULTS

    slow = int(os.environ.get("IMGSTATS_SLOW_WORKERS") or DEFAULTS["SLOW_WORKERS"])
    if worker_class is None:
        worker_class = _worker_class()
    if worker_class.endswith("BufferingWorker"):
        return slow + OTHER_THREADS
    from ._worker import _queue_places

    return slow + 2 * _queue_places() + FAST_THREADS


def _worker_class() -> str:
    from ._worker import SUPPORTED

    default_worker = "imgstats.web._worker.BufferingWorker" if SUPPORTED else "gthread"
    # IMGSTATS_WORKER_CLASS=gthread: gunicorn's own threaded worker, which hands a
    # connection to a thread before its request has arrived (behind a buffering proxy)
    return os.environ.get("IMGSTATS_WORKER_CLASS") or default_worker


def gunicorn_options(
    host: str, port: int, workers: int | None = None, threads: int | None = None
) -> dict:
    """gunicorn settings: ``gthread`` workers that read each request whole in their event loop
    before a thread serves it (:class:`~imgstats.web._worker.BufferingWorker`: stalled
    clients cost a socket, not a thread; header and body timeouts), so keep-alive clients,
    slow clients and slow stores do not block a whole process; ``IMGSTATS_WORKERS`` /
    ``IMGSTATS_THREADS`` give the defaults (threads: :func:`default_threads`)."""
    worker_class = _worker_class()
    return {
        # an IPv6 literal in brackets: gunicorn read "::1:8181" as host "::1:8181", no port
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers or int(os.environ.get("IMGSTATS_WORKERS", "2")),
        "worker_class": worker_class,
        "threads": threads
        or int(os.environ.get("IMGSTATS_THREADS") or default_threads(worker_class)),
        "timeout": 120,
        "graceful_timeout": 10,
        "keepalive": 5,
        # connections each worker holds: requests being read, served, kept alive (gunicorn's
        # default); silent ones are closed to make room when all are taken
        "worker_connections": int(os.environ.get("IMGSTATS_WORKER_CONNECTIONS") or 1000),
        # Each worker builds its own app (caches, Redis pool, dask client) after the fork.
        "preload_app": False,
        # gunicorn >= 25.1 opens a control socket at one fixed path per user: several
        # servers (tests, benchmarks) would fight over it, and nothing here uses it.
        "control_socket_disable": True,
    }


#: Bytes of freed memory a process may keep for reuse (``IMGSTATS_MALLOC_KEEP``; 0: glibc's
#: defaults). A 12 MP image is decoded into buffers of ~40 MB; glibc hands buffers over
#: 32 MB straight back to the kernel, so the next image pays ~10,000 page faults again --
#: about a third of a cold request. Keeping them costs up to this much resident memory per
#: process.
MALLOC_KEEP = 256 << 20


def keep_freed_memory(limit: int | None = None) -> bool:
    """Let glibc reuse freed buffers up to ``limit`` bytes instead of unmapping them.

    Returns False where this is not glibc (nothing is changed there).
    """
    import ctypes
    import ctypes.util

    if limit is None:
        limit = int(os.environ.get("IMGSTATS_MALLOC_KEEP") or MALLOC_KEEP)
    name = ctypes.util.find_library("c")
    if limit <= 0 or not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
    # One arena: gunicorn's request threads would otherwise allocate from per-thread heaps,
    # which glibc unmaps when they empty, whatever the thresholds. Python's small objects
    # come from its own allocator, so threads hardly contend for this one.
    return all(
        mallopt(option, value)
        for option, value in [
            (m_mmap_threshold, limit),
            (m_trim_threshold, limit),
            (m_arena_max, 1),
        ]
    )


#: Settings read by ``imgstats serve`` and its workers outside the app: (least value, kind).
_SERVER_NUMBERS = {
    "WORKERS": (1, int),
    "THREADS": (1, int),
    "WORKER_CONNECTIONS": (1, int),
    "MALLOC_KEEP": (0, int),
    "HEADER_TIMEOUT": (0.0, float),
    "BODY_TIMEOUT": (0.0, float),
    "SEND_TIMEOUT": (0.0, float),
    # "inf" was a traceback in every worker's log (its timer's OverflowError), "abc" ignored
    "WARM_NOTICE": (0, float),
}


def check_settings(
    config=None, workers: int | None = None, threads: int | None = None, dev: bool = False
) -> None:
    """Check every setting before gunicorn starts, so that a bad one ends ``imgstats serve``
    at once with one message naming it, instead of a traceback in each worker that fails to
    boot (or a server that answers every request 408, with a negative timeout).

    Raises
    ------
    imgstats.InvalidOption
        For a setting (``IMGSTATS_*``) or an argument of the wrong type or out of range.
    """
    from ..errors import InvalidOption
    from . import settings
    from ._settings import check_range, number

    checked = settings(config)
    _check_store(checked["IMAGES"], checked["STORAGE_OPTIONS"])
    _check_render_folder(checked["GALLERY_CACHE_DIR"])
    for name, value in (("workers", workers), ("threads", threads)):
        if value is not None and value < 1:
            raise InvalidOption(f"--{name} must be at least 1, not {value}")
    for key, (lowest, kind) in _SERVER_NUMBERS.items():
        text = os.environ.get(f"IMGSTATS_{key}", "").strip()
        if text:
            check_range(key, number({key: text}, key, kind), lowest)
    _check_workers(workers)
    jit = os.environ.get("IMGSTATS_JIT", "").strip().lower()
    if jit and jit not in ("auto", "always", "never"):
        raise InvalidOption(
            f"invalid imgstats setting: IMGSTATS_JIT must be auto, always or never, not {jit!r}"
        )
    if not dev:  # Flask's development server needs no gunicorn
        _check_worker_class(_worker_class())


#: Worker processes per CPU that ``imgstats serve`` starts at most (and never fewer than
#: :data:`MIN_WORKER_LIMIT`): each is a process with its own decoding memory (about 175 MB
#: idle, up to the decode budget busy), and gunicorn forks them all at start, so
#: ``--workers 100000`` (a typo) forked until the machine stalled.
WORKERS_PER_CPU = 8
MIN_WORKER_LIMIT = 16


def worker_limit() -> int:
    """The most worker processes ``imgstats serve`` starts on this machine."""
    return max(MIN_WORKER_LIMIT, WORKERS_PER_CPU * (os.cpu_count() or 1))


def _check_workers(workers: int | None) -> None:
    """Refuse more worker processes than :func:`worker_limit`, from ``--workers`` or
    ``IMGSTATS_WORKERS``, before gunicorn forks any."""
    from ..errors import InvalidOption
    from ._settings import number

    text = os.environ.get("IMGSTATS_WORKERS", "").strip()
    count = (
        workers
        if workers is not None
        else (number({"WORKERS": text}, "WORKERS", int) if text else None)
    )
    limit = worker_limit()
    if count is not None and count > limit:
        given = "--workers" if workers is not None else "IMGSTATS_WORKERS"
        raise InvalidOption(
            f"{given} {count} is more worker processes than this machine takes ({limit}: "
            f"{WORKERS_PER_CPU} per CPU); each holds its own decoding memory"
        )


#: Protocols whose URL names its bucket or server first (``s3://BUCKET/...``): without one
#: the service started, and every request was a 502.
_NAMED_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "http", "https"})


def _check_store(images, storage_options=None) -> None:
    """A store the service could never read is refused before it starts: a local one that is
    a file (every image a 404, the gallery a 502 "Not a directory"), a URL whose protocol
    fsspec does not know or lacks a package for (``foo://``, ``az://`` without adlfs: a 502
    "listing: ValueError" on every request), or whose filesystem needs an argument that
    neither the URL nor ``IMGSTATS_STORAGE_OPTIONS`` gives (``zip://``, ``ftp:///``: a 502
    "listing: TypeError"). A folder that does not exist yet serves nothing until it is
    made."""
    from urllib.parse import urlsplit

    from ..errors import InvalidOption
    from .store import is_url, missing_arguments

    if images is None:
        return
    if is_url(images) and not images.startswith("file://"):
        protocol = images.split("://", 1)[0]
        if protocol.lower() in _NAMED_STORES and not urlsplit(images).netloc:
            raise InvalidOption(
                f"the image store {images[:200]!r} cannot be read: it names no bucket or "
                f"host: write {protocol}://BUCKET/PREFIX (--images)"
            )
        try:
            missing = missing_arguments(images, storage_options)
        except (ValueError, ImportError) as exc:
            raise InvalidOption(
                f"the image store {images[:200]!r} cannot be read: {str(exc)[:200]} (--images)"
            ) from None
        if missing:
            raise InvalidOption(
                f"the image store {images[:200]!r} cannot be read: fsspec's {protocol}:// "
                f"filesystem needs {' and '.join(missing)}, which neither the URL nor "
                "IMGSTATS_STORAGE_OPTIONS gives (--images)"
            )
        return
    path = urlsplit(images).path if images.startswith("file://") else images
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]+):/?(?!/)", images)
    if scheme and scheme[1].lower() in _NAMED_STORES and not os.path.exists(path):
        # "s3:/bucket" or "gs:bucket" served a local folder named "s3:" that is not there:
        # an empty gallery and every image a 404, with no word of the typo
        raise InvalidOption(
            f"the image store {images[:200]!r} is no URL (write {scheme[1]}://BUCKET/PREFIX) "
            "and no folder (--images)"
        )
    if os.path.exists(path) and not os.path.isdir(path):
        raise InvalidOption(f"the image store {images!r} is a file, not a folder (--images)")


def _check_render_folder(folder) -> None:
    """Make or check the gallery's render folder (``IMGSTATS_GALLERY_CACHE_DIR``) before the
    workers do: one it refuses (a symbolic link, writable by others) or cannot make (on a
    read-only disk, under a file) failed every worker's boot with a traceback."""
    from ..errors import InvalidOption
    from ._thumbs import private_folder

    if not folder:  # None: the default folder, or a private one; "": no folder
        return
    try:
        private_folder(folder)
    except InvalidOption as exc:
        raise InvalidOption(
            f"invalid imgstats setting: GALLERY_CACHE_DIR (IMGSTATS_GALLERY_CACHE_DIR): {exc}"
        ) from None


def check_address(host: str, port: int) -> None:
    """Raise :class:`~imgstats.InvalidOption` unless ``host:port`` can be listened on now: a
    port in use, or an address of no interface, is one line, not gunicorn's five retries
    and a traceback or "Can't connect"."""
    import socket

    from gunicorn.util import is_ipv6

    from ..errors import InvalidOption

    where = f"cannot listen on {host}:{port}"
    if not 0 <= port <= 65535:
        raise InvalidOption(f"{where}: --port must be 0 to 65535")
    # the family gunicorn binds with: IPv6 for an IPv6 literal only ("localhost" is IPv4
    # there, even where it resolves to ::1 first)
    family = socket.AF_INET6 if is_ipv6(host) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            sock.bind((host, port))
        except (OSError, UnicodeError) as exc:  # gaierror: a name that does not resolve
            raise InvalidOption(f"{where}: {getattr(exc, 'strerror', None) or exc}") from None


def _check_worker_class(name: str) -> None:
    from gunicorn.util import load_class

    from ..errors import InvalidOption

    try:
        load_class(name, default="gthread", section="gunicorn.workers")
    except (RuntimeError, ImportError):
        raise InvalidOption(
            f"invalid imgstats setting: IMGSTATS_WORKER_CLASS {name[:80]!r} is not a gunicorn "
            "worker class (gthread, or imgstats.web._worker.BufferingWorker: the default)"
        ) from None


def _log_as_gunicorn() -> None:
    """Send imgstats' log records (Flask's app logger is ``imgstats.web``, a child) to
    gunicorn's error log, formatted as its own lines: without a handler of their own, Python
    printed them bare (no time, process or level), and Flask's handler without the process."""
    import logging

    gunicorn = logging.getLogger("gunicorn.error")
    package = logging.getLogger("imgstats")
    if not gunicorn.handlers or package.handlers:
        return  # another setup (a test, an operator's logging config) decides
    for handler in gunicorn.handlers:
        package.addHandler(handler)
    package.setLevel(gunicorn.level)
    package.propagate = False


def serve(
    images=None,
    host: str = "127.0.0.1",
    port: int = 8181,
    workers: int | None = None,
    dev: bool = False,
    threads: int | None = None,
) -> int:
    """Run the imgstats HTTP service until interrupted.

    Parameters
    ----------
    images : str, optional
        A folder or fsspec URL; default ``IMGSTATS_IMAGES`` or the bundled gallery.
    host, port : str, int
        Where to listen.
    workers, threads : int, optional
        gunicorn worker processes and threads per worker.
    dev : bool
        Use Flask's development server (one process, for local work only).

    Returns
    -------
    int
        The exit status.

    Raises
    ------
    imgstats.InvalidOption
        For a bad setting (:func:`check_settings`), before anything starts.
    """
    from . import create_app

    config = {"IMAGES": os.fspath(images)} if images else {}
    check_settings(config, workers, threads, dev)
    check_address(host, port)
    keep_freed_memory()  # before gunicorn forks: the workers inherit the setting
    if dev:
        create_app(config).run(host=host, port=port, threaded=True, debug=False)
        return 0
    from gunicorn.app.base import BaseApplication

    class Application(BaseApplication):
        def load_config(self):
            for key, value in gunicorn_options(host, port, workers, threads).items():
                if key in self.cfg.settings:  # older gunicorns lack some settings
                    self.cfg.set(key, value)

        def load(self):
            _log_as_gunicorn()
            return create_app(config)

        def run(self):
            if not _worker_class().endswith("BufferingWorker"):  # no readiness mark
                return super().run()
            from ._arbiter import ReloadingArbiter

            try:
                ReloadingArbiter(self).run()
            except RuntimeError as exc:  # as BaseApplication.run: a message, status 1
                print(f"\nError: {exc}\n", file=sys.stderr)
                sys.exit(1)

    Application().run()
    return 0
