"""Thumbnails and previews for the gallery: small WebP renderings, cached by image version.

Rendering reads the stored file through the service (never the pixels of another image) and
opens it as a read plan with :func:`imgstats.io.open_preview_plan`, which scales it down while
decoding where the format allows (JPEG draft mode, strided TIFF reads) with the same meaning,
header facts, bomb check and error mapping as the statistics' plans; nothing is decoded here.
Non-8-bit values are mapped to 0..255 by their own range, for display only. Statistics never
come from here.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import io
import math
import os
import tempfile
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import numpy as np
from PIL import Image

from ..io import open_preview_plan

__all__ = [
    "RenderCache",
    "BackgroundRenders",
    "render",
    "MEDIA_TYPE",
    "private_folder",
    "default_folder",
]

MEDIA_TYPE = "image/webp"


def private_folder(folder) -> Path:
    """``folder``, created private to this user (mode 0700) if missing, and checked.

    The render cache's files are served as they are found, so nobody else may write there:
    the folder must be a real directory (not a symlink), owned by this process's user, and
    not writable by its group or others. An existing folder that others may only read is
    made private (0700).

    Raises
    ------
    InvalidOption
        When the folder is a symlink, not a directory, someone else's, writable by others,
        or cannot be created; the service refuses to start rather than serve what it holds.
    """
    import stat

    from ..errors import InvalidOption

    path = Path(folder)
    try:
        if not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        info = os.lstat(path)
    except OSError as exc:
        raise InvalidOption(f"cannot create the gallery's render cache folder: {exc}") from exc
    problem = None
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        problem = f"belongs to another user (uid {info.st_uid})"
    elif info.st_mode & 0o022:
        problem = f"is writable by other users (mode {stat.S_IMODE(info.st_mode):o})"
    if problem:
        raise InvalidOption(
            f"the gallery's render cache folder {path} {problem}: its files would be served "
            "as thumbnails. Remove it, or set IMGSTATS_GALLERY_CACHE_DIR to a private folder"
        )
    if info.st_mode & 0o077:
        try:
            os.chmod(path, 0o700)
        except OSError as exc:  # a read-only disk: it was a traceback at start
            raise InvalidOption(
                f"cannot make the gallery's render cache folder private (mode 700): {exc}"
            ) from exc
    return path


def default_folder() -> Path:
    """The default render cache folder, shared by the worker processes of one user:
    ``imgstats-gallery-<uid>`` in the temporary folder, private (:func:`private_folder`).

    When another user planted that name (a predictable path in a shared folder), a fresh
    private folder of this process is used instead, with a warning: renderings are then not
    shared between worker processes, but none of that user's files is served.
    """
    import logging

    from ..errors import InvalidOption

    uid = os.geteuid() if hasattr(os, "geteuid") else "user"
    path = Path(tempfile.gettempdir()) / f"imgstats-gallery-{uid}"
    try:
        return private_folder(path)
    except InvalidOption as exc:
        logging.getLogger(__name__).warning("%s; using a private temporary folder instead", exc)
        return Path(tempfile.mkdtemp(prefix="imgstats-gallery-"))


def _folder_secret(folder: Path, secret: bytes | None) -> bytes:
    """The key naming the folder's files: from ``secret`` (CACHE_KEY), else a random key
    kept in the private folder (``key``, 0600; the first process writes it, atomically)."""
    if secret:
        return hashlib.sha256(b"imgstats render cache\0" + secret).digest()
    path = folder / "key"
    try:
        data = path.read_bytes()
        if len(data) == 32:
            return data
    except OSError:
        pass
    fresh = os.urandom(32)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(fresh)
        try:
            os.link(tmp, path)  # fails if another process wrote it first: read theirs
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        data = path.read_bytes()
        return data if len(data) == 32 else fresh
    except OSError:  # a read-only folder: this process's own key
        return fresh


#: A temporary file of the folder this old is of a write that never ended: no rendering takes
#: an hour to write, and a killed worker left its file behind, unseen by the size budget.
_STALE_WRITE_SECONDS = 3600.0


class _Flight:
    """One rendering in progress: the callers of the same key wait for its outcome."""

    __slots__ = ("done", "data", "error", "waiters")

    def __init__(self):
        self.done = threading.Event()
        self.waiters = 0
        self.data: bytes | None = None
        self.error: BaseException | None = None


class RenderCache:
    """Rendered images by key: a thread-safe LRU bounded by bytes, over an optional folder.

    Keys carry the store, the image's name and version, so a changed file is rendered again and
    its old renderings age out; nothing is keyed by pixel contents. The folder, when given, is
    shared by every worker process of a server and outlives restarts, so an image is rendered
    once, not once per process; it is pruned, oldest files first, past ``max_disk_bytes``.

    A key is rendered once at a time (single flight): a caller that asks for a key being
    rendered waits for that rendering and gets its bytes, or its error; across the processes
    sharing the folder, a lock file per key (see :meth:`_folder_lock`) makes the others wait
    and then read the folder, for at most ``lock_wait`` seconds. Errors of the classes
    in ``remember`` (those that a version always gives, such as an unreadable file) are kept,
    the last ``max_failures`` of them, and raised again without rendering; others (a busy
    service, a store timeout) are not kept.
    """

    def __init__(
        self,
        max_bytes: int,
        folder=None,
        max_disk_bytes: int = 512 << 20,
        *,
        remember: tuple[type[BaseException], ...] = (),
        max_failures: int = 1024,
        lock_wait: float = 30.0,
        secret: bytes | str | None = None,
    ):
        if isinstance(secret, str):
            secret = secret.encode()
        self.max_bytes = int(max_bytes)
        self.folder = private_folder(folder) if folder else None
        # files are named by a keyed digest: a name cannot be worked out from the key
        self._secret = _folder_secret(self.folder, secret) if self.folder else b""
        self.max_disk_bytes = int(max_disk_bytes)
        self.remember = tuple(remember)
        self.max_failures = int(max_failures)
        self.lock_wait = float(lock_wait)
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._failures: OrderedDict[tuple, BaseException] = OrderedDict()
        self._flights: dict[tuple, _Flight] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self._writes = 0
        #: Answers from memory or the folder, renderings made (``make()`` calls), and callers
        #: that waited for another caller's rendering of the same key.
        self.hits = self.misses = self.joined = 0

    def peek(self, key: tuple) -> bytes | None:
        """The bytes of ``key`` if held in memory (its error if one is kept), else None."""
        with self._lock:
            failure = self._failures.get(key)
            if failure is not None:
                raise _fresh(failure)
            return self._items.get(key)

    def get_or_render(self, key: tuple, make: Callable[[], bytes]) -> bytes:
        """Return the cached bytes for ``key``, rendering them with ``make()`` on a miss.

        Raises
        ------
        Exception
            What ``make()`` raised, for this caller and those that waited for it; a kept
            failure (see ``remember``) is raised again without calling ``make()``.
        """
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return data
            failure = self._failures.get(key)
            if failure is not None:
                raise _fresh(failure)
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = self._flights[key] = _Flight()
            else:
                flight.waiters += 1
        if not leader:
            flight.done.wait()
            with self._lock:
                self.joined += 1
            if flight.error is not None:
                raise _fresh(flight.error)
            return flight.data
        try:
            data = self._read(key)
            made = False
            if data is None:
                with self._folder_lock(key):
                    data = self._read(key)  # another process may have rendered it meanwhile
                    if data is None:
                        with self._lock:
                            self.misses += 1
                        made = True
                        data = make()
                        self._write(key, data)
            if not made:
                with self._lock:
                    self.hits += 1
            flight.data = data
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
                if flight.error is None:
                    self._keep(key, flight.data)
                elif isinstance(flight.error, self.remember) and self.max_failures > 0:
                    self._failures[key] = _fresh(flight.error)  # without its frames
                    while len(self._failures) > self.max_failures:
                        self._failures.popitem(last=False)
            flight.done.set()
        return data

    def _keep(self, key: tuple, data: bytes) -> None:
        """Hold ``data`` in memory, dropping the least recently used (under the lock)."""
        if key not in self._items and len(data) <= self.max_bytes:
            self._items[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old)

    @contextlib.contextmanager
    def _folder_lock(self, key: tuple):
        """Hold the folder's lock of ``key`` (one of 4096 ``locks/XXX.lock`` files, by the key's
        digest), so the worker processes sharing the folder render a key once at a time.

        ``flock`` locks are released by the kernel when their process dies, so none goes
        stale; after ``lock_wait`` seconds a caller renders without it. Without a folder (or
        ``fcntl``, or a writable folder) there is nothing to share and nothing is locked.
        """
        if self.folder is None:
            yield
            return
        try:
            import fcntl
        except ImportError:  # not on POSIX: each process renders on its own
            yield
            return
        digest = self._digest(key)
        path = self.folder / "locks" / f"{digest[:3]}.lock"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            yield
            return
        try:
            deadline = time.monotonic() + self.lock_wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.01)
                except OSError:  # a file system without locks
                    break
            yield
        finally:
            os.close(fd)  # releases the lock

    def _digest(self, key: tuple) -> str:
        return hmac.new(self._secret, repr(key).encode(), hashlib.sha256).hexdigest()

    def _path(self, key: tuple) -> Path:
        digest = self._digest(key)
        return self.folder / digest[:2] / f"{digest}.webp"

    def _read(self, key: tuple) -> bytes | None:
        if self.folder is None:
            return None
        try:
            return self._path(key).read_bytes()
        except OSError:
            return None

    def _write(self, key: tuple, data: bytes) -> None:
        """Store ``data`` in the folder atomically (a reader never sees half a file)."""
        if self.folder is None:
            return
        path = self._path(key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(data)
            os.replace(tmp.name, path)
        except OSError:  # a full or read-only disk costs renderings, not requests
            if tmp is not None:  # nor the space of a partial file, which prune() never sees
                with contextlib.suppress(OSError):
                    os.unlink(tmp.name)
            return
        with self._lock:
            self._writes += 1
            prune = self._writes % 64 == 0
        if prune:
            self.prune()

    def prune(self) -> None:
        """Delete the oldest files of the folder until it holds at most ``max_disk_bytes``,
        and the temporary files of writes that never ended (a worker killed mid-write)."""
        if self.folder is None:
            return
        stale = time.time() - _STALE_WRITE_SECONDS
        for path in self.folder.glob("*/tmp*"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < stale:
                    path.unlink()
        files = []
        for path in self.folder.glob("*/*.webp"):
            try:
                st = path.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.max_disk_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size

    def cache_clear(self) -> None:
        """Forget every rendering, in memory and in the folder."""
        with self._lock:
            self._items.clear()
            self._failures.clear()
            self._bytes = 0
            self.hits = self.misses = self.joined = 0
        if self.folder is not None:
            for path in self.folder.glob("*/*.webp"):
                path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes


def _fresh(exc: BaseException) -> BaseException:
    """A copy of ``exc`` without traceback, so threads raising it do not share one, and a kept
    failure holds no frames (nor the arrays they reference)."""
    try:
        return copy.copy(exc).with_traceback(None)
    except Exception:  # an exception class that cannot be rebuilt from its args
        return exc


class BackgroundRenders:
    """A few daemon threads that run renderings for the gallery's pages, from a bounded queue.

    A gallery page hands its cards' renderings here and waits for them at most
    ``GALLERY_PAGE_WAIT``; those not done by then keep running, so the browser's thumbnail
    request that follows finds them in the :class:`RenderCache` or joins them there. The
    threads only schedule: each rendering still takes a slot of the service's slow work and
    its pixels in the decode budget, so ``workers`` is at most the number of slow-work slots.
    At most ``max_pending`` jobs are queued or running; :meth:`submit` refuses more (returns
    None) rather than queue without bound. Threads start on demand (after a fork too) and
    leave after ``idle`` seconds without work.
    """

    def __init__(self, workers: int, max_pending: int, *, idle: float = 30.0):
        self.workers = max(1, int(workers))
        self.max_pending = max(0, int(max_pending))
        self.idle = float(idle)
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._jobs: deque[tuple[Future, Callable[[], object]]] = deque()
        self._threads = self._waiting = self._running = 0

    def submit(self, job: Callable[[], object]) -> Future | None:
        """Queue ``job``; a future of its result, or None when the queue is full."""
        if os.getpid() != self._pid:  # a forked worker: the parent's threads are not here
            self._reset()
        with self._cond:
            if len(self._jobs) + self._running >= self.max_pending:
                return None
            future: Future = Future()
            self._jobs.append((future, job))
            if self._threads < self.workers and len(self._jobs) > self._waiting:
                self._threads += 1
                threading.Thread(target=self._work, name="imgstats-render", daemon=True).start()
            self._cond.notify()
        return future

    @property
    def pending(self) -> int:
        """Jobs queued or running."""
        with self._cond:
            return len(self._jobs) + self._running

    def _work(self) -> None:
        while True:
            with self._cond:
                self._waiting += 1
                found = self._cond.wait_for(lambda: self._jobs, timeout=self.idle)
                self._waiting -= 1
                if not found:
                    self._threads -= 1
                    return
                future, job = self._jobs.popleft()
                self._running += 1
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(job())
                    except BaseException as exc:  # the page that waits decides what it means
                        future.set_exception(exc)
            finally:
                with self._cond:
                    self._running -= 1


def render(
    fh,
    max_side: int,
    *,
    quality: int = 80,
    pixel_limit: int | None = None,
    page: int = 0,
    nodata=None,
    mask=None,
) -> bytes:
    """Render the image in binary file ``fh`` as a WebP whose longer side is at most ``max_side``.

    The pixels come from the read plan of :func:`imgstats.io.open_preview_plan`: the same
    meaning (palette colours, MINISWHITE inverted...), band names, bomb check and error mapping
    as the statistics. Pixels without a valid sample (NaN, or ``nodata`` -- by default the
    one the plan knows -- in every band, or masked by ``mask``: the dataset mask at full
    resolution, ``(y, x)`` bool, True where valid) are transparent.

    Raises
    ------
    UnreadableImage
        Not an image that can be decoded.
    ImageTooLarge
        The image declares more than ``pixel_limit`` pixels.
    """
    plan = open_preview_plan(fh, max_side, pixel_limit=pixel_limit, page=page)
    if nodata is None:
        nodata = _nodata_of(plan)
    arr = plan.array()
    masked = None if mask is None else ~_resized(mask, arr.shape[:2])
    img = _displayed(arr, plan.band_names, nodata, masked)
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    img.save(out, "WEBP", quality=quality, method=4)
    return out.getvalue()


#: Pillow's colour spaces by their band names: converted to RGB for display.
_COLOUR_SPACES = {
    ("C", "M", "Y", "K"): "CMYK",
    ("Y", "Cb", "Cr"): "YCbCr",
    ("L", "A", "B"): "LAB",
    ("H", "S", "V"): "HSV",
}


def _nodata_of(plan):
    """The nodata value a read plan knows from its file (GDAL_NODATA), or None."""
    for holder in (plan, getattr(plan, "valid", None), getattr(plan, "validity", None)):
        value = getattr(holder, "nodata", None)
        if value is not None and not callable(value):
            return value
    header = getattr(plan, "header", None)
    facts = header() if callable(header) else header
    if isinstance(facts, dict):
        return facts.get("nodata")
    return None


def invalid_pixels(arr: np.ndarray, nodata=None) -> np.ndarray | None:
    """``(y, x)`` bool: the pixels with no valid sample (NaN, or equal to ``nodata``, in
    every band), which a rendering shows as transparent; None when every pixel has one."""
    if arr.dtype.kind not in "fiu" or arr.ndim not in (2, 3):
        return None
    from ..io._valid import nodata_hits

    bad = np.zeros(arr.shape, dtype=bool)
    if arr.dtype.kind == "f":
        bad |= np.isnan(arr)
    if nodata is not None:
        try:
            value = float(nodata)
        except (TypeError, ValueError):
            value = None
        if value is not None and math.isnan(value):
            pass  # NaN is never valid anyway
        elif value is not None:  # as the statistics compare it (GDAL's tolerance)
            bad |= nodata_hits(arr, value)
    if arr.ndim == 3:
        bad = bad.all(axis=2)
    return bad if bad.any() else None


def _resized(mask, shape) -> np.ndarray:
    """``mask`` sampled at the centres of a ``shape`` grid over it (nearest: a preview's).

    ``mask`` is a bool array or a lazy :class:`~imgstats.io._mask.MaskArray`, read one
    sampled row at a time: a preview of a 32768 x 32768 masked TIFF then holds one row of
    its mask (and the mask reader's bounded cache), not 1 GiB of it.
    """
    if mask.shape == tuple(shape):
        return np.asarray(mask, bool)
    rows = ((np.arange(shape[0]) + 0.5) * mask.shape[0] / shape[0]).astype(np.intp)
    cols = ((np.arange(shape[1]) + 0.5) * mask.shape[1] / shape[1]).astype(np.intp)
    rows, cols = np.minimum(rows, mask.shape[0] - 1), np.minimum(cols, mask.shape[1] - 1)
    if isinstance(mask, np.ndarray):
        return mask[np.ix_(rows, cols)].astype(bool, copy=False)
    out = np.empty((rows.size, cols.size), bool)
    for i, r in enumerate(rows):
        out[i] = np.asarray(mask[r : r + 1, :], bool)[0, cols]
    return out


def dataset_mask(fh, source, kind, pixel_limit=None, storage_options=None):
    """The dataset mask of an image (``kind``: the header's ``mask``, ``"internal"`` or
    ``"sidecar"``), ``(y, x)`` and True where valid: lazy where it can be read segment by
    segment (:func:`imgstats.io._mask.mask_of`), else a bool array; None for any other kind.
    ``fh`` is left at its start."""
    if kind not in ("internal", "sidecar"):
        return None
    import tifffile

    from ..io._mask import mask_of, pillow_mask
    from ..io._tiff import is_tiff, tiff_facts

    fh.seek(0)
    head = fh.read(4)
    fh.seek(0)
    if not is_tiff(head):  # a PNG's or JPEG's: its .msk, or the mask GDAL appends to a JPEG
        return pillow_mask(fh, source, kind, pixel_limit, storage_options)
    with tifffile.TiffFile(fh) as tif:
        _, facts = tiff_facts(tif, source, 0, pixel_limit, storage_options=storage_options)
    fh.seek(0)
    return mask_of(source, facts, storage_options)


def _displayed(arr: np.ndarray, bands: tuple[str, ...], nodata=None, masked=None) -> Image.Image:
    """An 8-bit Pillow image showing values ``arr`` with band names ``bands``; the pixels
    without a valid sample (NaN, nodata, and ``masked``: ``(y, x)`` bool, True where the
    dataset mask hides the pixel) are transparent, so the page's checkerboard shows."""
    invalid = invalid_pixels(arr, nodata)
    if masked is not None and masked.any():
        invalid = masked if invalid is None else invalid | masked
    mode = _COLOUR_SPACES.get(bands)
    if mode is not None and arr.dtype == np.uint8:
        img = Image.fromarray(np.ascontiguousarray(arr), mode).convert("RGB")
    elif bands == ("L", "A") and arr.dtype == np.uint8:
        img = Image.fromarray(np.ascontiguousarray(arr), "LA")
    elif bands in (("R", "G", "B", "A"), ("L", "A")):  # a wider alpha: kept apart, see below
        img = _from_array(arr[..., :-1], None if invalid is None else ~invalid)
        img = img.convert("RGBA" if img.mode == "RGB" else "LA")
        img.putalpha(Image.fromarray(_alpha8(arr[..., -1])))
    else:
        img = _from_array(arr, None if invalid is None else ~invalid)
    if invalid is None:
        return img
    if img.mode not in ("LA", "RGBA"):
        img = img.convert("RGBA" if img.mode == "RGB" else "LA")
    alpha = np.asarray(img.getchannel("A")).copy()
    alpha[invalid] = 0
    img.putalpha(Image.fromarray(alpha))
    return img


def _alpha8(alpha: np.ndarray) -> np.ndarray:
    """A 16-bit (or wider) alpha band on 0..255 for display, as the statistics read it: 0
    transparent, any other value at least 1 (``100`` of 65535 counts, so it shows); it was
    stretched with the colours, and rounded to 0."""
    if alpha.dtype.kind == "u":
        top = float(np.iinfo(alpha.dtype).max)
    else:
        top = 255.0
    work = np.nan_to_num(alpha.astype(np.float64), nan=0.0)
    out = np.clip(np.ceil(work * (255.0 / top)), 0, 255).astype(np.uint8)
    out[work > 0] = np.maximum(out[work > 0], 1)
    out[work <= 0] = 0
    return out


#: Float images are shown stretched between these percentiles of their finite values.
ROBUST_PERCENTILES = (2.0, 98.0)


def display_range(arr: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
    """The values shown as black and white: min..max, or for float data p2..p98.

    Float data often holds a few extreme values (a no-data -3.4e38, a hot pixel, an
    infinity) that a min..max stretch maps everything else to one grey, or to black; its
    robust percentiles show the scene. Integers keep their own min..max.
    """
    work = np.asarray(arr, dtype=np.float64)
    if valid is not None:  # (y, x) pixels with a valid sample: nodata stretches nothing
        work = work[valid]
    finite = work[np.isfinite(work)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if arr.dtype.kind == "f" and hi > lo:
        p_lo, p_hi = (float(v) for v in np.percentile(finite, ROBUST_PERCENTILES))
        if p_hi > p_lo:
            return p_lo, p_hi
    return lo, hi


def _from_array(arr: np.ndarray, valid: np.ndarray | None = None) -> Image.Image:
    """An 8-bit Pillow image of a (y, x[, band]) array, stretched by :func:`display_range`
    over the ``valid`` pixels (all by default)."""
    if arr.ndim == 3 and arr.shape[2] not in (3, 4):
        arr = arr[..., 0]
    if arr.dtype != np.uint8:
        work = arr.astype(np.float64)
        lo, hi = display_range(arr, valid)
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        work = np.nan_to_num(work, nan=lo, posinf=hi, neginf=lo)
        arr = np.clip((work - lo) * scale + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(arr))
