"""A data-only, versioned byte format for :class:`~imgstats.Summary`: its container.

Unlike a pickle, decoding these bytes cannot run code: :meth:`Summary.from_bytes` reads a JSON
header and
raw little-endian numbers, checks every field's type and range, and checks that the summary is
consistent (histograms add up to the counts, refinements to the bins they refine), so a
summary it returns cannot make :meth:`Summary.compute` fail in ways a real one would not.
A forged but consistent summary still gives wrong numbers: signing the bytes is the
caller's job (the web cache does it with ``IMGSTATS_CACHE_KEY``).

Layout (format version 4; versions 1 to 3 are still read)::

    b"IMGSTSUM"  magic, 8 bytes
    uint16       format version (little-endian)
    uint32       length H of the header
    H bytes      header: UTF-8 JSON (see imgstats.summary._flatten)
    payload      the arrays the header points to, back to back, nothing after them

Histograms are stored dense, or as (index, count) pairs when that is smaller: most bins of a
16-bit histogram of a small image are empty.

This module knows bytes, not summaries: everything that knows :class:`Summary`'s fields is in
``imgstats.summary`` (``_flatten`` and ``_build``, behind :meth:`Summary.to_bytes` and
:meth:`Summary.from_bytes`), so the summary depends on its format and not the other way round.

Versions: 1 had no ``masked`` field in a band (samples seen but not valid other than NaN);
a version-1 band reads as ``masked = 0``, which is what its summary counted. Version 2 adds it.
Version 3 adds two kinds of refinement that are no bin of keys (shift
:data:`~imgstats.summary.SQUARES` or :data:`~imgstats.summary.VALUES`, prefix 0): the exact
sum of the squares of a selection's samples (``"squares"``, a rational in the header), and
the count of each of its distinct values (``"values"``, keys then counts, or ``"too_many"``);
and each band's scale and offset (``"scales"``, float hex strings, or null). Version 4 adds
what decided which samples were counted (``"valid"``: ``{"mask", "nodata", "source"}`` or
null); a summary of an earlier version reads as ``valid = None`` (unknown), never as a
claim it did not make.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from .errors import ImgStatsError

__all__ = [
    "Writer",
    "Reader",
    "unpack",
    "CorruptSummary",
    "MAGIC",
    "FORMAT_VERSION",
    "READ_VERSIONS",
]

MAGIC = b"IMGSTSUM"
FORMAT_VERSION = 4
#: The versions :func:`unpack` reads: the current one and its predecessors.
READ_VERSIONS = (1, 2, 3, 4)
_PREAMBLE = struct.Struct("<8sHI")
#: Types an array of the format may have (histogram counts, collected keys, sparse indices).
_ARRAY_DTYPES = {"<i8": np.dtype("<i8"), "<u8": np.dtype("<u8"), "<u4": np.dtype("<u4")}
#: The largest header accepted: a few hundred bytes per band and refinement.
_MAX_HEADER = 64 << 20


class CorruptSummary(ImgStatsError, ValueError):
    """The bytes are not a summary of this format version (truncated, forged, or other data)."""


# -- bytes ----------------------------------------------------------------------------------
def unpack(data, max_nbytes: int | None = None) -> tuple[dict, Reader, int]:
    """``(header, arrays, version)`` of bytes a :class:`Writer` packed; nothing is executed.

    ``header`` is the parsed JSON header, unchecked; ``arrays`` reads the payload's arrays
    (call its :meth:`Reader.finish` after the last); ``version`` is the bytes' format version.
    ``max_nbytes`` refuses arrays that would take more memory than this once decoded (a few
    bytes of sparse histogram can stand for 512 KB of dense one). Raises
    :class:`CorruptSummary` for anything that is not this format.
    """
    try:
        view = memoryview(data).cast("B")
    except TypeError:
        raise CorruptSummary(f"not bytes but {type(data).__name__}") from None
    if len(view) < _PREAMBLE.size:
        raise CorruptSummary("too short for a summary")
    magic, version, size = _PREAMBLE.unpack_from(view)
    if magic != MAGIC:
        raise CorruptSummary("not an imgstats summary")
    if version not in READ_VERSIONS:
        raise CorruptSummary(f"summary format {version}, expected one of {READ_VERSIONS}")
    start = _PREAMBLE.size
    if size > min(_MAX_HEADER, len(view) - start):
        raise CorruptSummary("truncated summary header")
    try:
        header = json.loads(bytes(view[start : start + size]))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError too
        raise CorruptSummary("unreadable summary header") from None
    return header, Reader(view[start + size :], max_nbytes), version


class Writer:
    """Collects arrays for the payload; each becomes a small JSON reference."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.offset = 0

    def array(self, arr, dtype: str, sparse: bool = True) -> list:
        arr = np.ascontiguousarray(arr, dtype=dtype).reshape(-1)
        nz = np.flatnonzero(arr) if sparse else ()
        if sparse and arr.size > 64 and nz.size * 12 < arr.size * 8:  # sparse is smaller
            ref = ["sparse", self.offset, int(arr.size), int(nz.size)]
            self._add(nz.astype("<u4").tobytes())
            self._add(arr[nz].tobytes())
            return ref
        ref = ["dense", self.offset, int(arr.size)]
        self._add(arr.tobytes())
        return ref

    def pack(self, header: dict) -> bytes:
        """The bytes of ``header`` (JSON) and of the arrays it refers to."""
        head = json.dumps(header, separators=(",", ":")).encode()
        return b"".join([_PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(head)), head, *self.parts])

    def _add(self, raw: bytes) -> None:
        self.parts.append(raw)
        self.offset += len(raw)


class Reader:
    """Reads the payload's arrays in the order they were written, bounds checked."""

    def __init__(self, payload: memoryview, max_nbytes: int | None):
        self.payload = payload
        self.offset = 0
        self.budget = max_nbytes

    def array(self, ref, dtype: str, length: int | None = None) -> np.ndarray:
        """The array ``ref`` points to; ``length``, when known, is checked before allocating
        (only arrays of known length, histograms, may be sparse)."""
        dt = _ARRAY_DTYPES[dtype]
        if not (
            isinstance(ref, list)
            and ref
            and ref[0] in ("dense", "sparse")
            and all(is_int(v) and v >= 0 for v in ref[1:])
        ):
            raise CorruptSummary("bad array reference")
        if length is None and ref[0] == "sparse":
            raise CorruptSummary("only histograms may be sparse")
        if length is not None and len(ref) > 2 and ref[2] != length:
            raise CorruptSummary("an array of the wrong length")
        if ref[0] == "dense" and len(ref) == 3:
            _, offset, size = ref
            self._spend(size * dt.itemsize)
            return self._take(offset, size, dt).copy()
        if ref[0] == "sparse" and len(ref) == 4:
            _, offset, size, nnz = ref
            self._spend(size * dt.itemsize)
            index = self._take(offset, nnz, _ARRAY_DTYPES["<u4"])
            values = self._take(self.offset, nnz, dt)
            if nnz and (int(index.max()) >= size or (index[:-1] >= index[1:]).any()):
                raise CorruptSummary("bad sparse array")
            out = np.zeros(size, dt)
            out[index] = values
            return out
        raise CorruptSummary("bad array reference")

    def _spend(self, nbytes: int) -> None:
        if self.budget is not None:
            self.budget -= nbytes
            if self.budget < 0:
                raise CorruptSummary("the summary is larger than allowed")

    def _take(self, offset: int, count: int, dt: np.dtype) -> np.ndarray:
        end = offset + count * dt.itemsize
        if offset != self.offset or end > len(self.payload):
            raise CorruptSummary("truncated summary")
        self.offset = end
        return np.frombuffer(self.payload[offset:end], dtype=dt)

    def finish(self) -> None:
        """Refuse bytes left after the last array."""
        if self.offset != len(self.payload):
            raise CorruptSummary("trailing bytes after the summary")


def is_int(value) -> bool:
    """Whether a header field is an integer (JSON's ``true`` is not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def expect(value, kind: type, what: str):
    """``value`` if it is a ``kind``, else :class:`CorruptSummary` naming ``what``."""
    if not isinstance(value, kind):
        raise CorruptSummary(f"bad {what}")
    return value
