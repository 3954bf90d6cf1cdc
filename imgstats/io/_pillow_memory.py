"""Pillow's decoded pixels seen in place by numpy, without a copy.

``numpy.asarray(img)`` copies: Pillow keeps an RGB image as 4-byte RGBX pixels in blocks of
16 MB, and numpy wants packed RGB in one buffer. The copy of a 12 MP photograph costs more
than counting it on two cores saves over Pillow's single-threaded ``histogram()``.

Two interfaces of recent Pillow avoid it (where one is missing, nothing changes):

* ``Image.core.new_block(mode, size)`` makes an image whose rows are one contiguous block;
  given to an image file before ``load()``, the decoder writes into it (``ImageFile``'s
  ``load_prepare`` keeps an image memory that is already there);
* ``Image.__arrow_c_array__`` (and the same method of the image core, for the block before
  it is decoded) exports that memory through the Arrow C Data Interface, a stable C ABI: an
  ``ArrowArray`` struct in a capsule, whose release callback keeps Pillow's memory alive
  until the capsule is dropped. Pillow refuses it for an image in several blocks.

:func:`load_single_block` decodes into one block (advised for huge pages on Linux, which
saves most of the decode's page faults); :func:`pixel_view` reads the Arrow struct
with ctypes and returns a numpy view of the pixels that holds the capsule (and so the memory)
for as long as the view lives. Anything unexpected gives ``None``, and the caller counts with
Pillow as before.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np

__all__ = ["load_single_block", "pixel_view"]

#: Modes whose memory is viewed: the Arrow format string, bytes per pixel, bands kept.
_LAYOUTS = {
    "L": ("C", 1, 1),
    "RGB": ("+w:4", 4, 3),  # RGBX: the pad byte is skipped by the kernels
    "RGBA": ("+w:4", 4, 4),
}


class _ArrowSchema(ctypes.Structure):
    pass


_ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p),
    ("name", ctypes.c_char_p),
    ("metadata", ctypes.c_char_p),
    ("flags", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowSchema))),
    ("dictionary", ctypes.POINTER(_ArrowSchema)),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]


class _ArrowArray(ctypes.Structure):
    pass


_ArrowArray._fields_ = [
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowArray))),
    ("dictionary", ctypes.POINTER(_ArrowArray)),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]


def load_single_block(img, follow=None) -> bool:
    """Decode ``img`` (not yet loaded) into one contiguous block when Pillow can, then load it.

    Only for the modes :func:`pixel_view` reads; the image is the same either way. On Linux,
    the block is first advised to the kernel for transparent huge pages, as numpy does for
    its large arrays: a 12 MP RGB decode otherwise takes about 12,000 page faults, 14 of its
    65 ms of CPU time in one measurement (1,000 faults and 51 ms with the advice).

    With ``follow``, a callable, a large RGB JPEG is read while it decodes
    (:func:`_load_followed`): ``follow(rows)`` gets every row of the image exactly once, as
    read-only ``(n, width * 4)`` views of whole decoded rows, from two threads (at once
    once the decode has ended).

    Returns
    -------
    bool
        Whether ``follow`` got every row (else it got none that counts: the caller reads the
        loaded image as usual, and drops what ``follow`` may have kept).
    """
    from PIL import Image

    new_block = getattr(Image.core, "new_block", None)
    fresh = bool(getattr(img, "tile", None))  # an image file not decoded yet
    if fresh and img.mode in _LAYOUTS and new_block and hasattr(img, "__arrow_c_array__"):
        block = new_block(img.mode, img.size)
        view = _block_view(img.mode, img.size, block)
        _advise_huge_pages(view)
        img.im = block
        if follow is not None and view is not None and _followable(img):
            return _load_followed(img, block, view, follow)
    img.load()
    return False


#: Images of fewer pixels are not read while they decode: too short a decode to share.
FOLLOW_PIXELS = 1 << 20


def _followable(img) -> bool:
    """Whether ``img`` may be read while it decodes: a large RGB JPEG, on x86.

    Pillow's JPEG decoder writes one whole row per call, top to bottom, each pixel's pad
    byte (255) with its colours. A row is taken once the *next* row's last pad byte (0
    before the decode) reads 255: that byte was stored by a later call than every byte of
    the row, and x86 shows one core's stores to another in the order made (the stores of a
    fast string copy among themselves may be seen out of order, not after a later store),
    so the row is wholly there. The last row waits for the decode's end. Other formats may
    not write rows in order (an interlaced PNG writes a row's last pixel in an early pass),
    RGBA has no pad byte, and weaker memory models (ARM) may show a later store before an
    earlier one: those are read once decoded, as always.
    """
    import platform

    return (
        img.format == "JPEG"
        and img.mode == "RGB"
        and img.width * img.height >= FOLLOW_PIXELS
        and platform.machine().lower() in ("x86_64", "amd64")
    )


def _load_followed(img, block, view, follow) -> bool:
    """``img.load()`` in this thread, and on another the reading of each row as soon as the
    decoder has written it (see :func:`_followable`); the rows left when the decode ends are
    read by both threads. ``True`` when ``follow`` got every row of the decoded image;
    ``False`` (and ``follow``'s reads do not count) if Pillow decoded elsewhere."""
    import threading

    view[:, -1] = 0  # each row's last pad byte: 0 until the decoder writes the row
    reader = _RowReader(view, follow)
    thread = threading.Thread(target=reader.guarded, name="imgstats-rows", daemon=True)
    thread.start()
    try:
        img.load()
        if img.im is not block:  # pragma: no cover -- Pillow replaced it: read as usual
            return False
        reader.decoded.set()
        reader.run()  # this thread helps with the rows left
    finally:
        reader.stop()
        thread.join()
    if reader.error is not None:
        raise reader.error  # the reader's thread failed: its rows are not all counted
    return True


#: Rows :class:`_RowReader` takes at once at most (a millisecond or two of counting).
_FOLLOW_ROWS = 256


class _RowReader:
    """The rows of :func:`_load_followed`, each given to ``follow`` once: while the image
    decodes, those whose last pad byte the decoder has written, in order; once ``decoded``
    is set, any left, by every thread that runs :meth:`run`."""

    def __init__(self, view, follow):
        import threading

        self.view = view
        self.follow = follow
        self.decoded = threading.Event()
        self.stopped = False
        self.error: BaseException | None = None
        self.next = 0  # the first row no thread has taken
        self._lock = threading.Lock()

    def stop(self) -> None:
        """No more rows (the decode failed, or every row is taken)."""
        self.stopped = True
        self.decoded.set()

    def guarded(self) -> None:
        """:meth:`run` on the reader's thread, keeping what it raises for the caller."""
        try:
            self.run()
        except BaseException as exc:  # re-raised by _load_followed in the decoding thread
            self.error = exc
            self.stop()

    def run(self) -> None:
        while not self.stopped:
            whole = self.decoded.is_set()  # read first: then every row it takes is written
            taken = self._take(whole)
            if taken is None:
                return
            a, b = taken
            if a == b:
                self.decoded.wait(0.0002)  # the decoder is on the next rows
                continue
            rows = self.view[a:b]
            rows.flags.writeable = False
            self.follow(rows)

    def _take(self, whole: bool):
        """``(a, b)``: the next rows this thread reads (``a == b``: none written yet), or
        ``None`` when every row is taken."""
        with self._lock:
            a = self.next
            if a >= self.view.shape[0]:
                return None
            b = min(self.view.shape[0], a + _FOLLOW_ROWS)
            if not whole:  # the rows below the last written one (see _followable)
                ends = self.view[a : b + 1, -1]
                waiting = np.flatnonzero(ends != 255)
                written = int(waiting[0]) if waiting.size else ends.size
                b = min(b, a + max(0, written - 1))
            self.next = b
            return a, b


def pixel_view(img) -> np.ndarray | None:
    """A read-only numpy view of a loaded L, RGB or RGBA image's memory, else ``None``.

    Returns
    -------
    numpy.ndarray or None
        ``(height, width * 4)`` uint8 for RGB (RGBX: every 4th byte is padding) and RGBA,
        ``(height, width)`` for L. The view keeps Pillow's memory alive; it is ``None`` when
        the image is in several blocks, its mode or Arrow export is not the expected one, or
        this Python or Pillow cannot export it.
    """
    if not hasattr(img, "__arrow_c_array__"):
        return None
    view = _view(img.mode, img.size, img.__arrow_c_array__, img)
    if view is not None:
        view.flags.writeable = False
    return view


def _view(mode: str, size, export, owner) -> np.ndarray | None:
    """The numpy view of the memory that ``export()`` gives as Arrow capsules, else ``None``."""
    layout = _LAYOUTS.get(mode)
    if layout is None:
        return None
    fmt, step, _ = layout
    width, height = size
    try:
        schema_capsule, array_capsule = export()
        schema = _ArrowSchema.from_address(_capsule_pointer(schema_capsule, b"arrow_schema"))
        array = _ArrowArray.from_address(_capsule_pointer(array_capsule, b"arrow_array"))
    except Exception:  # e.g. "Image rows are not contiguous in memory", or no ctypes.pythonapi
        return None
    n = width * height
    if schema.format != fmt.encode() or array.length != n or array.offset or array.null_count:
        return None
    if step > 1:  # a fixed-size list of `step` uint8 per pixel
        if schema.n_children != 1 or array.n_children != 1:
            return None
        if schema.children[0].contents.format != b"C":
            return None
        array = array.children[0].contents
        if array.length != n * step or array.offset or array.null_count:
            return None
    if array.n_buffers != 2 or n == 0:
        return None
    address = array.buffers[1]
    if not address:
        return None
    memory = (ctypes.c_uint8 * (n * step)).from_address(address)
    memory._owners = (schema_capsule, array_capsule, owner)  # alive as long as the view
    return np.frombuffer(memory, np.uint8).reshape(height, width * step)


#: Blocks smaller than this are left alone (numpy's threshold for the same advice).
_HUGE_PAGE_BYTES = 4 << 20
_HUGE_PAGE = 2 << 20


def _advise_huge_pages(view) -> None:
    """``madvise(MADV_HUGEPAGE)`` over the 2 MB pages inside a fresh, untouched block (its
    :func:`_block_view`, or ``None``).

    A hint: nothing happens where the kernel, the platform or the block does not allow it.
    """
    import mmap
    import sys

    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if advice is None or not sys.platform.startswith("linux"):
        return
    if view is None or view.nbytes < _HUGE_PAGE_BYTES:
        return
    start = -(-view.ctypes.data // _HUGE_PAGE) * _HUGE_PAGE
    length = (view.ctypes.data + view.nbytes - start) // _HUGE_PAGE * _HUGE_PAGE
    if length > 0:
        _madvise()(start, length, advice)  # its result is only a hint's: not checked


def _block_view(mode: str, size, block) -> np.ndarray | None:
    """A writable numpy view of a fresh block of ``Image.core.new_block`` (its core exports
    the schema and the array apart), else ``None``."""
    export = getattr(block, "__arrow_c_array__", None)
    schema = getattr(block, "__arrow_c_schema__", None)
    if export is None or schema is None:
        return None
    return _view(mode, size, lambda: (schema(), export()), block)


@functools.cache
def _madvise():
    libc = ctypes.CDLL(None, use_errno=True)
    fn = libc.madvise
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def _capsule_pointer(capsule, name: bytes) -> int:
    """``PyCapsule_GetPointer``, through a prototype of our own (``ctypes.pythonapi``'s
    functions are shared, and setting their ``restype`` would change them for everyone)."""
    proto = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)
    return proto(("PyCapsule_GetPointer", ctypes.pythonapi))(capsule, name)
