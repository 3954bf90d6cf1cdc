"""Which samples count: GDAL's valid samples, applied to every decoded block.

A sample counts unless it is NaN, equals its band's nodata value, is masked by the dataset's
mask (a TIFF's internal mask page or a ``.msk`` sidecar), or lies under a transparent pixel
(alpha 0). An alpha band is never pooled with the colour bands, and is itself read whole
(GDAL gives an alpha band no mask of its own).

:class:`Validity` is what io learns from a file's tags (or from the caller's ``nodata=``).
A read plan that carries one runs every per-block work through :meth:`Validity.run`, so the
masked reading is the same single pass as the raw one, whatever the kind of plan:

* floats: the invalid samples of a decoded block become NaN in place (the block is the
  decoder's own copy), which the kernels already leave out;
* 8- and 16-bit integers: the block is counted as it is, and the invalid samples are taken
  out of its exact histogram afterwards (the nodata value's bin emptied, the masked pixels
  subtracted in one pass): the counting kernels unchanged, exact by construction;
* 32- and 64-bit integers: one band has its valid pixels picked; several bands become a
  masked block, each band masked where it is not valid (the kernels' masked-array route,
  band by band), alpha left whole.

A dataset mask travels *with* its block, beside it (``mask_channel``: blocks arrive as
``(samples, mask)`` pairs, never with the mask appended, which would copy every tile): the
stream decodes a mask tile beside its image tile, an array plan cuts its mask beside every
slice or chunk; so validity enters the work as data, block by block. The per-sample work is
two numba kernels (:mod:`._valid_kernels`), one pass over a block and its mask.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, replace

import numpy as np

from .._lazy import is_masked_array
from ..errors import InvalidOption

__all__ = ["Validity", "check_nodata", "nodata_hits", "nodata_of_tag", "number_of_text"]

#: Pillow's luma weights (ITU-R 601-2, 16-bit fixed point), as the kernels count them.
_LUMA = (19595, 38470, 7471)


#: The number at the start of a GDAL_NODATA text, as GDAL reads it (``CPLAtofM``): a decimal
#: point or comma, an exponent only with its digits; no hexadecimal, no digit separators.
_TAG_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)(?:[eE][+-]?[0-9]+)?")
#: The texts GDAL reads as infinities and NaN, whole (after leading blanks) or as prefixes.
_TAG_INF = {f"{sign}{word}" for sign in ("", "+") for word in ("inf", "Inf", "INF")}
_TAG_NAN = {"nan", "NaN", "+nan", "+NaN"}
_TAG_PREFIXES = (
    ("-1.#QNAN", math.nan),
    ("-1.#IND", math.nan),
    ("-1.#INF", -math.inf),
    ("1.#QNAN", math.nan),
    ("1.#SNAN", math.nan),
    ("1.#INF", math.inf),
)


def _tag_text(text) -> str:
    """An ASCII tag's text (bytes or str) up to its first NUL, as C reads it."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    return str(text).split("\x00", 1)[0]


def nodata_of_tag(text) -> float | None:
    """The number in a GDAL_NODATA tag (ASCII) as GDAL 3.10 reads it, ``None`` when empty.

    GDAL reads the number at the start of the text (``CPLAtofM``) and 0 when there is none:
    ``"5abc"`` is 5, ``"1,5"`` 1.5, ``"1e"`` 1, ``"1_000"`` 1, ``"0x10"`` 0, ``"abc"`` 0;
    ``inf``, ``nan`` and MSVC's ``1.#INF`` spellings only as GDAL spells them (``"inf "``
    and ``"-nan"`` are 0). Leading spaces, tabs and line ends are skipped.
    """
    text = _tag_text(text)
    if not text:
        return None  # GDAL sets no nodata value from an empty tag
    text = text.lstrip(" \t\n\r")
    for prefix, value in _TAG_PREFIXES:
        if text.startswith(prefix):
            return value
    if text in _TAG_INF or text.lower() == "-inf" and text[1:] in _TAG_INF:
        return -math.inf if text.startswith("-") else math.inf
    if text in _TAG_NAN:
        return math.nan
    number = _TAG_NUMBER.match(text)
    return 0.0 if number is None else float(number.group().replace(",", "."))


#: The integer at the start of a text, as C's ``strtoll`` / ``strtoull`` read it.
_TAG_INTEGER = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]*)")


def integer_of_tag(text, dtype) -> int | None:
    """The nodata value of a GDAL_NODATA tag on a 64-bit integer page, exactly, as GDAL 3.10
    reads it there (``strtoll`` for int64, saturating; ``strtoull`` for uint64, a negative
    number wrapping round); ``None`` when the tag is empty. A float's digits would lose the
    low bits (``"9007199254740993"``) or overflow the type (``"18446744073709551615"``)."""
    text = _tag_text(text)
    if not text:
        return None
    sign, digits = _TAG_INTEGER.match(text).groups()
    value = int(digits or "0")
    info = np.iinfo(dtype)
    if np.dtype(dtype).kind == "u":
        value = min(value, int(info.max))
        return (-value) % (int(info.max) + 1) if sign == "-" else value
    value = -value if sign == "-" else value
    return max(int(info.min), min(int(info.max), value))


def number_of_text(text) -> float | None:
    """The number a whole text is (blanks and trailing NULs aside), as C's ``strtod`` reads
    it to its end; ``None`` when it is no number (``"abc"``, ``"5abc"``, ``"1_000"``): a
    nodata text given by a caller or an array's attrs, which must say one number."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    text = str(text).strip().rstrip("\x00")
    if "_" in text:
        return None  # Python reads "1_000" as 1000, C as no such number
    try:
        return float(text)
    except ValueError:
        return None


def stored_nodata(nodata, dtype):
    """A nodata value as GDAL applies it to integer samples of ``dtype``: truncated toward
    zero when within the type's range (``"5.5"`` leaves the 5s out), ``None`` beyond it or
    when not finite; as it is for floats."""
    dtype = np.dtype(dtype)
    if nodata is None or dtype.kind not in "uib":
        return nodata
    info = np.iinfo(np.uint8 if dtype.kind == "b" else dtype)
    if isinstance(nodata, int):  # a 64-bit page's, read exactly
        return nodata if info.min <= nodata <= info.max else None
    if not (math.isfinite(nodata) and info.min <= nodata <= info.max):
        return None
    return float(math.trunc(nodata))


def filled_nodata(nodata, dtype):
    """The sample GDAL reads for a missing block (a sparse file's empty tile or strip): the
    ``nodata`` value cast to ``dtype`` as ``GDALCopyWords`` casts a double -- to an integer
    rounded half away from zero and saturated to the type's range (NaN is 0), to a float
    infinite beyond its range --; 0 without a nodata value.

    Not always a sample the mask leaves out: ``"2.5"`` on uint8 fills 3s and masks the 2s,
    as GDAL does."""
    dtype = np.dtype(dtype)
    if nodata is None:
        return dtype.type(0)
    if dtype.kind == "f":
        return as_float(nodata, dtype)
    info = np.iinfo(np.uint8 if dtype.kind == "b" else dtype)
    if isinstance(nodata, int):  # a 64-bit page's, read exactly
        return dtype.type(max(int(info.min), min(int(info.max), nodata)))
    if math.isnan(nodata):
        return dtype.type(0)
    if math.isinf(nodata):
        return dtype.type(info.max if nodata > 0 else info.min)
    rounded = math.floor(abs(nodata) + 0.5) * (1 if nodata >= 0 else -1)
    return dtype.type(max(int(info.min), min(int(info.max), rounded)))


#: GDAL's tolerance of a float nodata value (``ARE_REAL_EQUAL``): float's epsilon, in the
#: band's type, times the sum of the two values, times 2.
_FLT_EPSILON = float(np.finfo(np.float32).eps)


def as_float(value, dtype):
    """``value`` in the float type ``dtype``, as C casts it: beyond its range, infinite."""
    with np.errstate(over="ignore"):
        return np.dtype(dtype).type(value)


def nodata_hits(values, nodata):
    """Which samples of ``values`` GDAL takes for the ``nodata`` value: integers equal to
    it; floats equal to it (cast to their type, as GDAL casts it) or within GDAL's
    ``ARE_REAL_EQUAL`` tolerance, ``|v - nd| < eps * |v + nd| * 2`` computed in their
    type (``eps`` float's epsilon; a float32 sum beyond float32's range is infinite, so a
    nodata near float32's largest value takes every sample near it of its sign).

    ``values`` is an array or an xarray DataArray (dask-backed or not); NaN is never hit.
    """
    if not isinstance(values, np.ndarray) and getattr(values, "dims", None) is not None:
        import xarray as xr

        return xr.apply_ufunc(
            nodata_hits, values, kwargs={"nodata": nodata}, dask="parallelized",
            output_dtypes=[bool],
        )  # fmt: skip
    values = np.asarray(values)
    if values.dtype.kind != "f":
        return values == nodata
    t = values.dtype.type
    nd = as_float(nodata, values.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        near = np.abs(values - nd) < t(_FLT_EPSILON) * np.abs(values + nd) * t(2)
    return near | (values == nd)


def check_nodata(value, dtype) -> float | int:
    """Validate a ``nodata=`` option for samples of ``dtype``; return it as a number.

    Raises
    ------
    InvalidOption
        Not a number, or (for integer images) not a whole number in the type's range.
    """
    dtype = np.dtype(dtype)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise InvalidOption(f"nodata must be a number, not {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidOption(f"nodata must be a number, not {value!r}")
    if dtype.kind in "ub":
        info = np.iinfo(np.uint8 if dtype.kind == "b" else dtype)
    elif dtype.kind == "i":
        info = np.iinfo(dtype)
    else:
        value = float(value)
        if math.isfinite(value) and abs(value) > float(np.finfo(dtype).max):
            raise InvalidOption(
                f"nodata {value!r} is outside the range of the image's type {dtype.name}"
            )
        return value
    if not (isinstance(value, numbers.Integral) or float(value).is_integer()):
        raise InvalidOption(f"nodata {value!r} is not a whole number: the image holds {dtype}")
    value = int(value)
    if not info.min <= value <= info.max:
        raise InvalidOption(
            f"nodata {value} is outside the range of the image's type {dtype.name} "
            f"({info.min}..{info.max})"
        )
    return value


@dataclass(frozen=True)
class Validity:
    """Which samples of an image count, and how a block carries its dataset mask.

    Attributes
    ----------
    dtype : numpy.dtype
        The type of the image's values.
    nbands : int
        Bands of the values (1 for a ``(y, x)`` image).
    nodata : float, int or None
        Samples of a colour band equal to this are not valid (NaN is never valid anyway).
    alpha : int or None
        Index of the alpha band: pixels where it is 0 are not valid in the other bands.
    mask : str or None
        Where the dataset mask comes from: ``"internal"`` (a mask page of the TIFF) or
        ``"sidecar"`` (a ``.msk`` file); ``None`` for none.
    mask_channel : bool
        Blocks arrive as ``(samples, mask)`` pairs, the mask ``(y, x)`` beside its samples
        (non-zero: valid).
    fresh : bool
        Every block is a decoder's own new array (a TIFF stream's tiles), so NaN may be
        written into it; otherwise a float block is copied first (a caller's array, or a
        plan's pixels that later readings share).
    band_nodata : tuple or None
        Each band's own nodata value (``None``: none), in place of ``nodata``, when the
        bands have different ones (an ``.aux.xml`` that gives each its own, as GDAL
        applies them band by band); ``None`` otherwise.
    """

    dtype: np.dtype
    nbands: int
    nodata: float | int | None = None
    alpha: int | None = None
    mask: str | None = None
    mask_channel: bool = False
    fresh: bool = False
    band_nodata: tuple | None = None

    @property
    def active(self) -> bool:
        """Whether any sample can be invalid beyond NaN."""
        return (
            self.nodata is not None
            or self.band_nodata is not None
            or self.alpha is not None
            or self.mask_channel
        )

    def nodata_of(self, band: int | None):
        """Band ``band``'s nodata value (``None``: the one band of a ``(y, x)`` block)."""
        if self.band_nodata is None:
            return self.nodata
        return self.band_nodata[0 if band is None else band]

    @property
    def colour(self) -> list[int]:
        """The bands pooled as "all": every band but alpha."""
        return [b for b in range(self.nbands) if b != self.alpha]

    def facts(self) -> dict:
        """The header facts of validity: ``nodata``, ``mask`` (``"nodata"``, ``"alpha"``,
        ``"internal"``, ``"sidecar"`` or ``None``) and ``alpha_band``."""
        if self.mask is not None:
            kind = self.mask
        elif self.alpha is not None:
            kind = "alpha"
        elif self.nodata is not None or self.band_nodata is not None:
            kind = "nodata"
        else:
            kind = None
        nodata = self.nodata
        if isinstance(nodata, float) and not math.isfinite(nodata):
            nodata = str(nodata)  # JSON has no NaN or infinity: "nan", "inf", "-inf"
        return {"nodata": nodata, "mask": kind, "alpha_band": self.alpha}

    def with_nodata(self, nodata) -> Validity:
        return replace(self, nodata=nodata, band_nodata=None)

    # -- per block -----------------------------------------------------------------------------
    def split(self, block):
        """``(values, valid pixels (y, x) bool or None)`` of a block as the reader gave it:
        a ``(samples, mask)`` pair when the plan has a dataset mask, else the samples."""
        if isinstance(block, tuple):
            block, m = block
            return block, (m if m.dtype == np.bool_ else m != 0)
        return block, None

    def pixel_valid(self, values: np.ndarray, m) -> np.ndarray | None:
        """The pixels valid in every colour band by the dataset mask and alpha, or ``None``."""
        if self.alpha is not None and values.ndim == 3:
            a = values[..., self.alpha] != 0
            m = a if m is None else m & a
        return m

    def run(self, work, block, transform=None):
        """``work`` on a block with its invalid samples left out (see the module's notes)."""
        from ..summary import Summary

        block, m = self.split(block)
        values = transform(block) if transform is not None else block
        if is_masked_array(values):  # a numpy masked array: its mask counts too
            own, values = np.ma.getmaskarray(values), np.ma.getdata(values)
            if values.ndim != 3:  # (y, x), or an array of another rank: one band
                flat = self._masked_block(values.reshape(-1, 1, 1), None, own.reshape(-1, 1, 1))
                return work(np.ma.MaskedArray(values, mask=flat.mask.reshape(values.shape)))
            return work(self._masked_block(values, self.pixel_valid(values, m), own))
        values = np.asarray(values)
        ok = self.pixel_valid(values, m)
        kind, size = values.dtype.kind, values.dtype.itemsize
        if kind == "f":
            filled, moved = self._nan_filled(values, ok)
            return _moved_to_masked(work(filled), moved)
        if kind in "uib" and size <= 2:
            out = work(values)
            return self._subtracted(out, values, ok) if isinstance(out, Summary) else out
        if self.alpha is None and (values.ndim == 2 or values.shape[-1] == 1):
            picked = self._picked(values, ok)  # one band: its valid pixels, picked
            removed = math.prod(values.shape[:2]) - picked.shape[0]
            return _moved_to_masked(work(picked), None, removed)
        # several bands: a masked block (the kernels' masked-array route), per band
        return work(self._masked_block(values, ok))

    def _masked_block(self, values: np.ndarray, ok, own=None) -> np.ma.MaskedArray:
        """A 32/64-bit integer block of several bands (or a block of a numpy masked array,
        whose mask ``own`` it keeps) as a masked array: each colour band masked where it is
        not valid (its nodata, the dataset mask, alpha 0); alpha whole."""
        mask = np.zeros(values.shape, bool) if own is None else own.copy()
        nd = self._colour_nodata(values)
        colour = self.colour
        if nd is not None:
            mask[..., colour] |= nd
        if ok is not None:
            mask[..., colour] |= ~ok[..., None]
        return np.ma.MaskedArray(values, mask=mask)

    def _colour_nodata(self, values: np.ndarray) -> np.ndarray | None:
        """``(y, x, colour bands)`` bool: samples equal to their band's nodata, or ``None``."""
        hits = []
        for c in self.colour if values.ndim == 3 else [None]:
            nd = self._typed_nodata(values.dtype, c)
            if nd is None or (isinstance(nd, float) and math.isnan(nd)):
                hits.append(None)  # NaN is never valid: the kernels leave it out already
            else:
                hits.append(nodata_hits(values if c is None else values[..., c], nd))
        if all(h is None for h in hits):
            return None
        none = np.zeros(values.shape[:2], bool)
        return np.stack([none if h is None else h for h in hits], axis=-1)

    def _typed_nodata(self, dtype, band: int | None = None):
        """Band ``band``'s nodata value as the samples of ``dtype`` hold it; ``None`` if
        none can (or it has none)."""
        nd = self.nodata_of(band)
        if nd is None:
            return None
        if dtype.kind == "f":
            return as_float(nd, dtype)  # GDAL compares a float32 band with (float)nodata
        if isinstance(nd, float) and not (math.isfinite(nd) and nd.is_integer()):
            return None
        info = np.iinfo(np.uint8 if dtype.kind == "b" else dtype)
        return int(nd) if info.min <= int(nd) <= info.max else None

    def _nan_filled(self, values: np.ndarray, ok):
        """``(values with NaN for the invalid samples, samples made NaN per band)``."""
        from ._valid_kernels import nan_fill

        colour = self.colour if values.ndim == 3 else [None]
        nds = {c: self.nodata_of(c) for c in colour}
        nds = {c: nd for c, nd in nds.items() if nd is not None and not math.isnan(float(nd))}
        if ok is None and not nds:
            return values, None
        if not (self.fresh and values.flags.writeable):
            values = values.copy()  # never write into the caller's or a shared array
        nbands = values.shape[-1] if values.ndim == 3 else 1
        moved = np.zeros(nbands, np.int64)
        t = values.dtype.type
        eps, two = t(_FLT_EPSILON), t(2)  # GDAL's tolerance, in the band's type
        valid = _NO_MASK if ok is None else ok.view(np.uint8)
        for c in colour:
            band = values if c is None else values[..., c]
            nd = as_float(nds.get(c, 0), values.dtype)  # as GDAL: (float)nodata
            moved[0 if c is None else c] = nan_fill(
                band, valid, nd, eps, two, ok is not None, c in nds
            )
        return values, moved

    def _picked(self, values: np.ndarray, ok) -> np.ndarray:
        """The valid pixels of a one-band 32- or 64-bit integer block, as ``(pixels, 1[, 1])``."""
        nd = self._colour_nodata(values)
        keep = np.ones(values.shape[:2], bool) if ok is None else ok
        if nd is not None:
            keep = keep & ~nd[..., 0]
        picked = values[keep]
        return picked.reshape(picked.shape[0], 1, *picked.shape[1:])

    def _subtracted(self, summary, values: np.ndarray, ok):
        """``summary`` of an 8- or 16-bit block without its invalid samples (exact)."""
        from .._blocks import small_int_stats  # the luma's

        dtype = np.dtype(summary.bands[0].dtype)
        offset = -int(np.iinfo(dtype).min)
        colour = self.colour if values.ndim == 3 else [0]
        nd_keys = {}  # each colour band's nodata key, when it has one its samples can hold
        for c in colour:
            typed = self._typed_nodata(values.dtype, c)
            if typed is not None:
                nd_keys[c] = int(typed) + offset
        nbad = 0 if ok is None else ok.size - int(np.count_nonzero(ok))
        if not nd_keys and not nbad:
            return summary
        from ._valid_kernels import unhist

        bands = list(summary.bands)
        cube = values if values.ndim == 3 else values[..., None]
        unsigned = np.dtype(f"u{values.dtype.itemsize}")
        flip = 0 if values.dtype.kind in "ub" else offset
        valid = None if not nbad else ok.view(np.uint8)
        base = -offset
        for c in colour:
            stats = bands[c]
            hist = stats.hist.copy()
            n = keys = 0
            if nbad:  # the masked pixels out of the block's histogram, in one pass
                n, keys = unhist(cube[..., c].view(unsigned), valid, flip, hist)
            nd_key = nd_keys.get(c)
            if nd_key is not None and hist[nd_key]:
                k = int(hist[nd_key])
                hist[nd_key] = 0
                n, keys = n + k, keys + k * nd_key
            bands[c] = _less(stats, hist, int(n), int(keys) + base * int(n), dtype)
        bad = None if not nbad else ~ok
        luma = summary.luma
        if luma is not None:
            lbad = bad
            for c in (c for c in range(3) if c in nd_keys):  # a pixel with one band's nodata
                hit = cube[..., c] == nd_keys[c] - offset
                lbad = hit if lbad is None else lbad | hit
            if lbad is not None and lbad.any():
                rgb = cube[..., :3][lbad].astype(np.int64)
                lv = (
                    rgb[:, 0] * _LUMA[0] + rgb[:, 1] * _LUMA[1] + rgb[:, 2] * _LUMA[2] + 0x8000
                ) >> 16
                lhist = luma.hist - np.bincount(lv, minlength=256)[:256]
                luma = _with_invalid(
                    small_int_stats(np.dtype(np.uint8), lhist), luma, int(lbad.sum())
                )
        return replace(summary, bands=tuple(bands), luma=luma)


#: The ``valid`` argument of a kernel when no mask is in play (it is then never read).
_NO_MASK = np.ones((1, 1), np.uint8)


def _less(stats, hist, removed: int, removed_sum: int, dtype):
    """An 8/16-bit band's ``stats`` without ``removed`` samples summing to ``removed_sum``,
    ``hist`` its histogram without them: the bounds are searched again only when their bin
    emptied (cheaper than summing a 65536-bin histogram anew for every tile)."""
    from ..summary import BandStats

    if not removed:
        return stats
    count = stats.count - removed
    if count == 0:
        return replace(BandStats.empty(dtype), nan=stats.nan, masked=stats.masked + removed)
    lo, hi = stats.kmin, stats.kmax
    if hist[lo] == 0:
        lo += int(np.argmax(hist[lo : hi + 1] != 0))
    if hist[hi] == 0:
        hi -= int(np.argmax(hist[lo : hi + 1][::-1] != 0))
    return replace(
        stats,
        count=count,
        hist=hist,
        kmin=lo,
        kmax=hi,
        total=stats.total - removed_sum,
        masked=stats.masked + removed,
    )


def _with_invalid(stats, before, removed: int):
    """``stats`` carrying ``before``'s NaN and masked samples, and ``removed`` more masked."""
    return replace(stats, nan=before.nan, masked=before.masked + removed)


def _moved_to_masked(out, moved, removed: int = 0):
    """A block's summary with the samples validity made NaN (``moved`` per band) counted as
    masked, not NaN, and ``removed`` picked-out pixels counted as masked in every band."""
    from ..summary import Summary

    if not isinstance(out, Summary) or (moved is None and not removed):
        return out
    bands = []
    for c, stats in enumerate(out.bands):
        n = int(moved[c]) if moved is not None else 0
        bands.append(replace(stats, nan=stats.nan - n, masked=stats.masked + n + removed))
    return replace(out, bands=tuple(bands))
