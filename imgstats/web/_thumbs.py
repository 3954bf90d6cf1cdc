"""Thumbnails and previews for the gallery: small WebP renderings, cached by image version.

Rendering reads the stored file through the service (never the pixels of another image) and
opens it as a read plan with :func:`imgstats.io.open_preview_plan`, which scales it down while
decoding where the format allows (JPEG draft mode, strided TIFF reads) with the same meaning,
header facts, bomb check and error mapping as the statistics' plans; nothing is decoded here.
Non-8-bit values are mapped to 0..255 by their own range, for display only. Statistics never
come from here.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from ..io import open_preview_plan

__all__ = ["RenderCache", "render", "MEDIA_TYPE"]

MEDIA_TYPE = "image/webp"


class RenderCache:
    """Rendered images by key: a thread-safe LRU bounded by bytes, over an optional folder.

    Keys carry the store, the image's name and version, so a changed file is rendered again and
    its old renderings age out; nothing is keyed by pixel contents. The folder, when given, is
    shared by every worker process of a server and outlives restarts, so an image is rendered
    once, not once per process; it is pruned, oldest files first, past ``max_disk_bytes``.
    """

    def __init__(self, max_bytes: int, folder=None, max_disk_bytes: int = 512 << 20):
        self.max_bytes = int(max_bytes)
        self.folder = Path(folder) if folder else None
        self.max_disk_bytes = int(max_disk_bytes)
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._writes = 0
        self.hits = self.misses = 0

    def get_or_render(self, key: tuple, make: Callable[[], bytes]) -> bytes:
        """Return the cached bytes for ``key``, rendering them with ``make()`` on a miss."""
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return data
        data = self._read(key)
        if data is None:
            with self._lock:
                self.misses += 1
            # Render outside the lock: two threads may race on one key; both results are equal.
            data = make()
            self._write(key, data)
        else:
            with self._lock:
                self.hits += 1
        with self._lock:
            if key not in self._items and len(data) <= self.max_bytes:
                self._items[key] = data
                self._bytes += len(data)
                while self._bytes > self.max_bytes:
                    _, old = self._items.popitem(last=False)
                    self._bytes -= len(old)
        return data

    def _path(self, key: tuple) -> Path:
        digest = hashlib.sha256(repr(key).encode()).hexdigest()
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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(data)
            os.replace(tmp.name, path)
        except OSError:  # a full or read-only disk costs renderings, not requests
            return
        with self._lock:
            self._writes += 1
            prune = self._writes % 64 == 0
        if prune:
            self.prune()

    def prune(self) -> None:
        """Delete the oldest files of the folder until it holds at most ``max_disk_bytes``."""
        if self.folder is None:
            return
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
            self._bytes = 0
            self.hits = self.misses = 0
        if self.folder is not None:
            for path in self.folder.glob("*/*.webp"):
                path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes


def render(
    fh, max_side: int, *, quality: int = 80, pixel_limit: int | None = None, page: int = 0
) -> bytes:
    """Render the image in binary file ``fh`` as a WebP whose longer side is at most ``max_side``.

    The pixels come from the read plan of :func:`imgstats.io.open_preview_plan`: the same
    meaning (palette colours, MINISWHITE inverted...), band names, bomb check and error mapping
    as the statistics.

    Raises
    ------
    UnreadableImage
        Not an image that can be decoded.
    ImageTooLarge
        The image declares more than ``pixel_limit`` pixels.
    """
    plan = open_preview_plan(fh, max_side, pixel_limit=pixel_limit, page=page)
    img = _displayed(plan.array(), plan.band_names)
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


def _displayed(arr: np.ndarray, bands: tuple[str, ...]) -> Image.Image:
    """An 8-bit Pillow image showing values ``arr`` with band names ``bands``."""
    mode = _COLOUR_SPACES.get(bands)
    if mode is not None and arr.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(arr), mode).convert("RGB")
    if bands == ("L", "A") and arr.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(arr), "LA")
    return _from_array(arr)


#: Float images are shown stretched between these percentiles of their finite values.
ROBUST_PERCENTILES = (2.0, 98.0)


def display_range(arr: np.ndarray) -> tuple[float, float]:
    """The values shown as black and white: min..max, or for float data p2..p98.

    Float data often holds a few extreme values (a no-data -3.4e38, a hot pixel, an
    infinity) that a min..max stretch maps everything else to one grey, or to black; its
    robust percentiles show the scene. Integers keep their own min..max.
    """
    work = np.asarray(arr, dtype=np.float64)
    finite = work[np.isfinite(work)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if arr.dtype.kind == "f" and hi > lo:
        p_lo, p_hi = (float(v) for v in np.percentile(finite, ROBUST_PERCENTILES))
        if p_hi > p_lo:
            return p_lo, p_hi
    return lo, hi


def _from_array(arr: np.ndarray) -> Image.Image:
    """An 8-bit Pillow image of a (y, x[, band]) array, stretched by :func:`display_range`."""
    if arr.ndim == 3 and arr.shape[2] not in (3, 4):
        arr = arr[..., 0]
    if arr.dtype != np.uint8:
        work = arr.astype(np.float64)
        lo, hi = display_range(arr)
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        work = np.nan_to_num(work, nan=lo, posinf=hi, neginf=lo)
        arr = np.clip((work - lo) * scale + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(arr))
