"""Thumbnails and previews for the gallery: small WebP renderings, cached by image version.

Rendering reads the stored file through the service (never the pixels of another image), scales
it down while decoding where the format allows (JPEG draft mode, strided TIFF reads) and maps
non-8-bit samples to 0..255 by their own range, for display only. Statistics never come from here.
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
import tifffile
import zarr
from PIL import Image, UnidentifiedImageError

from ..errors import ImageTooLarge, UnreadableImage
from ..io import pixel_limit_default
from ..io._tiff import is_tiff, tiff_errors

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


def render(fh, max_side: int, *, quality: int = 80, pixel_limit: int | None = None) -> bytes:
    """Render the image in binary file ``fh`` as a WebP whose longer side is at most ``max_side``.

    Raises
    ------
    UnreadableImage
        Not an image that can be decoded.
    ImageTooLarge
        The image declares more than ``pixel_limit`` pixels.
    """
    if pixel_limit is None:
        pixel_limit = pixel_limit_default()
    head = fh.read(4)
    fh.seek(0)
    if is_tiff(head):
        img = _from_array(_tiff_reduced(fh, max_side, pixel_limit))
    else:
        img = _pillow_reduced(fh, max_side, pixel_limit)
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    img.save(out, "WEBP", quality=quality, method=4)
    return out.getvalue()


def _pillow_reduced(fh, max_side: int, pixel_limit: int) -> Image.Image:
    """Decode with Pillow, letting JPEG decode at 1/2, 1/4 or 1/8 scale when that is enough."""
    try:
        img = Image.open(fh)
        if img.width * img.height > pixel_limit:
            raise ImageTooLarge(f"{img.width}x{img.height} pixels is over the limit")
        img.draft(None, (max_side, max_side))
        if img.mode in ("RGB", "RGBA", "L", "LA"):
            img.load()
            return img
        if img.mode in ("P", "PA", "1", "CMYK", "YCbCr", "LAB", "HSV"):
            has_alpha = img.mode == "PA" or "transparency" in img.info
            return img.convert("RGBA" if has_alpha else "RGB")
        return _from_array(np.asarray(img))
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(str(exc)) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnreadableImage(f"cannot render the image: {exc}") from exc


def _tiff_reduced(fh, max_side: int, pixel_limit: int) -> np.ndarray:
    """Read every n-th row and column of a TIFF's first series (its smallest fitting level)."""
    # any tifffile error on a malformed file is an UnreadableImage (io._tiff.tiff_errors)
    with tiff_errors("the TIFF", "cannot be rendered"), tifffile.TiffFile(fh) as tif:
        series = tif.series[0]
        axes = series.axes
        if "Y" not in axes or "X" not in axes:
            raise UnreadableImage(f"TIFF without image axes ({axes!r})")
        yi, xi = axes.index("Y"), axes.index("X")
        if series.shape[yi] * series.shape[xi] > pixel_limit:
            raise ImageTooLarge(
                f"{series.shape[xi]}x{series.shape[yi]} pixels is over the limit"
            )
        level = 0
        for i, lvl in enumerate(series.levels):
            if min(lvl.shape[yi], lvl.shape[xi]) >= max_side:
                level = i
        shape = series.levels[level].shape
        step = max(1, max(shape[yi], shape[xi]) // (2 * max_side))
        key = tuple(
            slice(None, None, step) if i in (yi, xi) else (slice(None) if a == "S" else 0)
            for i, a in enumerate(axes)
        )
        arr = np.asarray(zarr.open(series.aszarr(level=level), mode="r")[key])
    kept = [a for a in axes if a in "YXS"]
    if kept.index("Y") > kept.index("X"):
        arr = np.swapaxes(arr, kept.index("Y"), kept.index("X"))
    if arr.ndim == 3 and kept[0] == "S":
        arr = np.moveaxis(arr, 0, -1)
    return arr


def _from_array(arr: np.ndarray) -> Image.Image:
    """An 8-bit Pillow image of a (y, x[, band]) array, stretched from its own min..max."""
    if arr.ndim == 3 and arr.shape[2] not in (3, 4):
        arr = arr[..., 0]
    if arr.dtype != np.uint8:
        work = arr.astype(np.float64)
        finite = work[np.isfinite(work)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        work = np.nan_to_num(work, nan=lo, posinf=hi, neginf=lo)
        arr = np.clip((work - lo) * scale + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(arr))
