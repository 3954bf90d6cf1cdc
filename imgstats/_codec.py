"""A data-only, versioned byte format for :class:`~imgstats.Summary`.

Unlike a pickle, decoding these bytes cannot run code: :func:`loads` reads a JSON header and
raw little-endian numbers, checks every field's type and range, and checks that the summary is
consistent (histograms add up to the counts, refinements to the bins they refine), so a
summary it returns cannot make :meth:`Summary.compute` fail in ways a real one would not.
A forged but consistent summary still gives wrong numbers: signing the bytes is the
caller's job (the web cache does it with ``IMGSTATS_CACHE_KEY``).

Layout (format version 3; versions 1 and 2 are still read)::

    b"IMGSTSUM"  magic, 8 bytes
    uint16       format version (little-endian)
    uint32       length H of the header
    H bytes      header: UTF-8 JSON (see _flatten)
    payload      the arrays the header points to, back to back, nothing after them

Histograms are stored dense, or as (index, count) pairs when that is smaller: most bins of a
16-bit histogram of a small image are empty.

Everything that knows :class:`Summary`'s fields is in :func:`_flatten` and :func:`_build`.

Versions: 1 had no ``masked`` field in a band (samples seen but not valid other than NaN);
a version-1 band reads as ``masked = 0``, which is what its summary counted. Version 2 adds it.
Version 3 adds two kinds of refinement that are no bin of keys (shift
:data:`~imgstats.summary.SQUARES` or :data:`~imgstats.summary.VALUES`, prefix 0): the exact
sum of the squares of a selection's samples (``"squares"``, a rational in the header), and
the count of each of its distinct values (``"values"``, keys then counts, or ``"too_many"``);
and each band's scale and offset (``"scales"``, float hex strings, or null).
"""

from __future__ import annotations

import json
import struct
from fractions import Fraction

import numpy as np

from .summary import (
    SQUARES,
    VALUES,
    VALUES_LIMIT,
    BandStats,
    Summary,
    _bins,
    _top_shift,
    key_bits_of,
)

__all__ = [
    "dumps",
    "loads",
    "summary_arrays",
    "CorruptSummary",
    "MAGIC",
    "FORMAT_VERSION",
    "READ_VERSIONS",
]

MAGIC = b"IMGSTSUM"
FORMAT_VERSION = 3
#: The versions :func:`loads` reads: the current one and its predecessors.
READ_VERSIONS = (1, 2, 3)
_PREAMBLE = struct.Struct("<8sHI")
#: Types an array of the format may have (histogram counts, collected keys, sparse indices).
_ARRAY_DTYPES = {"<i8": np.dtype("<i8"), "<u8": np.dtype("<u8"), "<u4": np.dtype("<u4")}
#: The largest header accepted: a few hundred bytes per band and refinement.
_MAX_HEADER = 64 << 20


class CorruptSummary(ValueError):
    """The bytes are not a summary of this format version (truncated, forged, or other data)."""


# -- Summary's structure, in one place ------------------------------------------------------
def _flatten(summary: Summary, out: _Writer) -> dict:
    """The JSON header of ``summary``; its arrays go to ``out``."""
    return {
        "band_names": [str(n) for n in summary.band_names],
        "shape": [int(n) for n in summary.shape],
        "bands": [_flatten_band(b, out) for b in summary.bands],
        "luma": None if summary.luma is None else _flatten_band(summary.luma, out),
        "refined": [
            [
                sel,
                int(shift),
                int(prefix),
                kind,
                _flatten_node(kind, data, out),
            ]
            for (sel, shift, prefix), (kind, data) in sorted(summary.refined.items())
        ],
        # floats as hex: exact, and NaN (a file's unusable scale) has a spelling
        "scales": None
        if summary.scales is None
        else [[float(v).hex() for v in pair] for pair in summary.scales],
    }


def _flatten_node(kind: str, data, out: _Writer):
    if kind == "keys":
        return out.array(data, "<u8", sparse=False)
    if kind == "squares":
        return [hex(data.numerator), hex(data.denominator)]
    if kind == "values":
        return out.array(data, "<u8", sparse=False)
    if kind == "too_many":
        return None
    return out.array(data, "<i8")


def _flatten_band(band: BandStats, out: _Writer) -> dict:
    total = Fraction(band.total)
    return {
        "dtype": np.dtype(band.dtype).str,
        "count": int(band.count),
        "nan": int(band.nan),
        "kmin": int(band.kmin),
        "kmax": int(band.kmax),
        # hex: int() of a long decimal string is capped (sys.set_int_max_str_digits)
        "total": [hex(total.numerator), hex(total.denominator)],
        "posinf": int(band.posinf),
        "neginf": int(band.neginf),
        "masked": int(band.masked),
        "hist": out.array(band.hist, "<i8"),
    }


def _build(header: dict, arrays: _Reader, version: int = FORMAT_VERSION) -> Summary:
    """The Summary a header describes, every field checked (``version``: of the bytes)."""
    _expect(header, dict, "header")
    names = _expect(header.get("band_names"), list, "band_names")
    bands = _expect(header.get("bands"), list, "bands")
    if not bands or len(names) != len(bands) or not all(isinstance(n, str) for n in names):
        raise CorruptSummary("bands and band names do not match")
    shape = _expect(header.get("shape"), list, "shape")
    if not all(_is_int(n) and n >= 0 for n in shape):
        raise CorruptSummary("bad shape")
    stats = tuple(_build_band(b, arrays, version) for b in bands)
    if len({b.dtype for b in stats}) != 1:
        raise CorruptSummary("bands of different types")
    luma = header.get("luma")
    luma = None if luma is None else _build_band(luma, arrays, version)
    summary = Summary(stats, tuple(names), luma, tuple(shape))
    refined = {}
    for node in _expect(header.get("refined"), list, "refined"):
        if not (isinstance(node, list) and len(node) == 5):
            raise CorruptSummary("bad refinement")
        sel, shift, prefix, kind, ref = node
        if (
            kind not in ("hist", "keys", "squares", "values", "too_many")
            or not isinstance(sel, str)
            or not (_is_int(shift) and _is_int(prefix))
        ):
            raise CorruptSummary("bad refinement")
        if (shift < 0) != (kind in ("squares", "values", "too_many")) or (
            shift < 0 and version < 3
        ):
            raise CorruptSummary("bad refinement")
        if kind == "squares":
            data = _fraction(ref)
        elif kind == "values":
            flat = arrays.array(ref, "<u8")
            if flat.size % 2 or flat.size > 2 * VALUES_LIMIT:
                raise CorruptSummary("bad value counts")
            data = flat.reshape(2, -1)
        elif kind == "too_many":
            if ref is not None:
                raise CorruptSummary("bad refinement")
            data = np.zeros((2, 0), np.uint64)
        elif kind == "keys":  # their number is checked against the parent bin below
            data = arrays.array(ref, "<u8")
        else:
            data = arrays.array(ref, "<i8", length=1 << 16)
        refined[(sel, shift, prefix)] = (kind, data)
    scales = _scales(header.get("scales"), len(stats)) if version >= 3 else None
    summary = Summary(stats, tuple(names), luma, tuple(shape), refined, scales)
    _check_refinements(summary)
    return summary


def _scales(value, nbands: int):
    """Each band's ``(scale, offset)`` of a version-3 header, or ``None``."""
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == nbands):
        raise CorruptSummary("bad scales")
    out = []
    for pair in value:
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, str) for v in pair)
        ):
            raise CorruptSummary("bad scales")
        try:
            out.append(tuple(float.fromhex(v) for v in pair))
        except (ValueError, OverflowError):
            raise CorruptSummary("bad scales") from None
    return tuple(out)


def _build_band(fields, arrays: _Reader, version: int = FORMAT_VERSION) -> BandStats:
    _expect(fields, dict, "band")
    try:
        dtype = np.dtype(_expect(fields.get("dtype"), str, "dtype"))
        bits = key_bits_of(dtype)
    except (TypeError, ValueError) as exc:  # InvalidOption is a ValueError
        raise CorruptSummary(f"bad band type: {exc}") from None
    names = ("count", "nan", "kmin", "kmax", "posinf", "neginf")
    ints = {k: fields.get(k) for k in names}
    ints["masked"] = fields.get("masked") if version >= 2 else 0
    if (
        not all(_is_int(v) for v in ints.values())
        or min(ints["count"], ints["nan"], ints["posinf"], ints["neginf"], ints["masked"]) < 0
    ):
        raise CorruptSummary("bad band counts")
    total = _expect(fields.get("total"), list, "total")
    try:
        num, den = (int(part, 16) for part in total)
        total = Fraction(num, den)
    except (TypeError, ValueError, ZeroDivisionError):
        raise CorruptSummary("bad band sum") from None
    hist = arrays.array(fields.get("hist"), "<i8", length=_bins(bits))
    count = ints["count"]
    if hist.shape != (_bins(bits),) or (hist < 0).any() or int(hist.sum()) != count:
        raise CorruptSummary("the histogram does not add up to the count")
    kmin, kmax, shift = ints["kmin"], ints["kmax"], _top_shift(bits)
    if count and not (
        0 <= kmin <= kmax < 1 << bits and hist[kmin >> shift] and hist[kmax >> shift]
    ):
        raise CorruptSummary("the key range and the histogram disagree")
    if not count and not (abs(kmin) <= 1 << bits and abs(kmax) <= 1 << bits):
        raise CorruptSummary("bad key range")
    if ints["posinf"] + ints["neginf"] > count:
        raise CorruptSummary("more infinities than samples")
    return BandStats(
        dtype.str,
        count,
        ints["nan"],
        hist,
        ints["kmin"],
        ints["kmax"],
        total,
        ints["posinf"],
        ints["neginf"],
        ints["masked"],
    )


def _check_refinements(summary: Summary) -> None:
    """Each refinement must split exactly the keys of the bin it refines."""
    bits = summary.bands[0].key_bits
    top = _top_shift(bits)
    for (sel, shift, prefix), (kind, data) in summary.refined.items():
        if shift < 0:
            _check_special(summary, sel, shift, prefix, kind, data)
            continue
        if sel not in ("all", "luma") and not (
            isinstance(sel, str)
            and sel[1:].isdecimal()
            and sel[0] == "b"
            and int(sel[1:]) < len(summary.bands)
        ):
            raise CorruptSummary("a refinement of an unknown selection")
        if sel == "luma" and summary.luma is None:
            raise CorruptSummary("a refinement of a missing luma")
        # nodes refine bins of 16 bits or more below them (see Summary._order_statistic)
        if not (16 <= shift <= top and shift % 16 == 0 and 0 <= prefix < 1 << (bits - shift)):
            raise CorruptSummary("a refinement of an impossible bin")
        if shift == top:
            parent = summary._stats(sel).hist
        else:
            node = summary.refined.get((sel, shift + 16, prefix >> 16))
            if node is None or node[0] != "hist":
                raise CorruptSummary("a refinement whose parent bin is not refined")
            parent = node[1]
        expected = int(parent[prefix & 0xFFFF])
        if kind == "hist":
            if data.shape != (1 << 16,) or (data < 0).any() or int(data.sum()) != expected:
                raise CorruptSummary("a refinement that does not add up to its bin")
        else:
            if data.shape != (expected,) or (data[:-1] > data[1:]).any():
                raise CorruptSummary("collected keys that are not the bin's, sorted")
            if len(data) and (int(data[0]) >> shift != prefix or int(data[-1]) >> shift != prefix):
                raise CorruptSummary("collected keys outside their bin")


def _check_special(summary: Summary, sel, shift, prefix, kind, data) -> None:
    """A squares or values node must be possible for the samples of its selection."""
    if prefix != 0 or shift not in (SQUARES, VALUES) or (kind == "squares") != (shift == SQUARES):
        raise CorruptSummary("a refinement of an impossible kind")
    if not (sel == "all" or (isinstance(sel, str) and sel[:1] == "b" and sel[1:].isdecimal())):
        raise CorruptSummary("a refinement of an unknown selection")
    try:
        stats = summary._stats(summary.selection(None if sel == "all" else int(sel[1:])))
    except (ValueError, IndexError):
        raise CorruptSummary("a refinement of an unknown selection") from None
    if kind == "squares":
        total = Fraction(stats.total)
        if data < 0 or stats.count * data < total * total:
            raise CorruptSummary("a sum of squares below the square of the sum")
    elif kind == "values":
        keys, counts = data
        if (keys[:-1] >= keys[1:]).any() or (counts == 0).any():
            raise CorruptSummary("value counts that are not sorted and positive")
        if int(counts.sum(dtype=np.uint64)) != stats.count:
            raise CorruptSummary("value counts that do not add up to the count")


def _fraction(ref) -> Fraction:
    if not (isinstance(ref, list) and len(ref) == 2 and all(isinstance(v, str) for v in ref)):
        raise CorruptSummary("bad sum of squares")
    try:
        num, den = (int(v, 16) for v in ref)
    except ValueError:
        raise CorruptSummary("bad sum of squares") from None
    if den <= 0:
        raise CorruptSummary("bad sum of squares")
    return Fraction(num, den)


def summary_arrays(summary: Summary) -> list[np.ndarray]:
    """Every array a summary holds (histograms, refinements), e.g. to weigh it."""
    arrays = [b.hist for b in summary.bands]
    if summary.luma is not None:
        arrays.append(summary.luma.hist)
    arrays += [data for _, data in summary.refined.values() if isinstance(data, np.ndarray)]
    return arrays


# -- bytes ----------------------------------------------------------------------------------
def dumps(summary: Summary) -> bytes:
    """Encode a summary as data-only bytes that :func:`loads` reads back.

    Parameters
    ----------
    summary : Summary

    Returns
    -------
    bytes

    Examples
    --------
    >>> import numpy as np, imgstats
    >>> s = imgstats.summarize(np.arange(12, dtype=np.uint8).reshape(3, 4))
    >>> loads(dumps(s)).compute("median")
    5.5
    """
    out = _Writer()
    header = json.dumps(_flatten(summary, out), separators=(",", ":")).encode()
    return b"".join([_PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header)), header, *out.parts])


def loads(data: bytes, max_nbytes: int | None = None) -> Summary:
    """Decode bytes made by :func:`dumps`; nothing in them is executed.

    Parameters
    ----------
    data : bytes-like
    max_nbytes : int, optional
        Refuse a summary whose arrays would take more memory than this once decoded (a few
        bytes of sparse histogram can stand for 512 KB of dense one).

    Returns
    -------
    Summary

    Raises
    ------
    CorruptSummary
        For anything that is not a consistent summary of this format version.
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
    arrays = _Reader(view[start + size :], max_nbytes)
    summary = _build(header, arrays, version)
    arrays.finish()
    return summary


class _Writer:
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

    def _add(self, raw: bytes) -> None:
        self.parts.append(raw)
        self.offset += len(raw)


class _Reader:
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
            and all(_is_int(v) and v >= 0 for v in ref[1:])
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
        if self.offset != len(self.payload):
            raise CorruptSummary("trailing bytes after the summary")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _expect(value, kind: type, what: str):
    if not isinstance(value, kind):
        raise CorruptSummary(f"bad {what}")
    return value
