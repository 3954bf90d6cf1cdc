"""What a TIFF's stored samples mean: the per-block transform from samples to image values.

A TIFF stores samples; its tags say what they are. :func:`tiff_meaning` reads the tags of one
page once and returns a :class:`Meaning`, whose :meth:`Meaning.apply` turns any block of stored
samples (a whole page, a lazy chunk, a streamed tile or a strided preview) into the image's
values. Every transform is elementwise (a lookup table, an inversion), so a block's values do not
depend on how the page was cut, and streaming stays tile by tile.

The rules, defined once for all formats in the README ("What an image means"):

- palette: indices become their colours, 8-bit RGB (the colormap's 16-bit values divided by 256,
  as Pillow does; a colormap whose values all fit in 8 bits is taken as 8-bit, as libtiff does),
  RGBA when an extra sample carries alpha;
- fewer than 8 bits per sample (bilevel, 2- and 4-bit greyscale): scaled to 0..255, so bilevel
  is 0/255, as Pillow does;
- MINISWHITE: inverted so that black is the minimum, at every depth (Pillow leaves 16-bit as
  stored): ``2**bits - 1 - v`` for unsigned samples, ``-1 - v`` for signed ones (it swaps the
  type's minimum and maximum), ``-v`` for floats. Only the colour sample is inverted, not alpha;
- every other sample keeps its stored value and type (16-bit RGB stays 16-bit), but half
  floats, which are widened to float32 (exact: every float16 is a float32), as GDAL reads them
  and as imgstats counts a float16 array.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import numpy as np

from ..errors import InvalidOption

#: TIFF PhotometricInterpretation values, by the names :attr:`Meaning.photometric` reports.
PHOTOMETRIC_NAMES = {
    0: "miniswhite",
    1: "minisblack",
    2: "rgb",
    3: "palette",
    4: "mask",
    5: "separated",
    6: "ycbcr",
    8: "cielab",
    9: "icclab",
    10: "itulab",
    32844: "logl",
    32845: "logluv",
    34892: "linear_raw",
}
_ALPHA = (1, 2)  # ExtraSamples: associated, unassociated alpha


@dataclass(frozen=True)
class Meaning:
    """How one TIFF page's stored samples become the image's values.

    Attributes
    ----------
    photometric : str
        The page's PhotometricInterpretation, lower case (``"minisblack"``, ``"miniswhite"``,
        ``"rgb"``, ``"palette"``, ``"separated"``...).
    bits : int
        Bits per stored sample.
    bands : tuple of str
        Names of the output bands (``("L",)`` for greyscale, ``("R", "G", "B")`` for a palette).
    dtype : numpy.dtype
        Type of the output values.
    lut : numpy.ndarray or None
        Lookup table applied to the colour sample (palette colours, scaling, inversion).
    invert : bool
        Invert the colour sample arithmetically (MINISWHITE of 8 bits or more).
    extras_lut : numpy.ndarray or None
        Lookup table of the extra samples (alpha) when they have fewer than 8 bits or sit beside
        a palette.
    maxval : int
        ``2**bits - 1``, the white of an unsigned MINISWHITE sample.
    """

    photometric: str
    bits: int
    bands: tuple[str, ...]
    dtype: np.dtype
    lut: np.ndarray | None = None
    invert: bool = False
    extras_lut: np.ndarray | None = None
    maxval: int = 0

    @property
    def identity(self) -> bool:
        """Whether stored samples are already the values (no transform at all)."""
        return self.lut is None and not self.invert and self.extras_lut is None

    def apply(self, block: np.ndarray) -> np.ndarray:
        """Turn a ``(y, x, samples)`` block of stored samples into ``(y, x[, band])`` values.

        The output has one band fewer dimension when :attr:`bands` holds a single name.
        """
        if not self.identity:
            block = self._transform(block)
        if block.dtype != self.dtype:  # a MINISWHITE half float is inverted, then widened
            block = block.astype(self.dtype)
        if len(self.bands) == 1 and block.ndim == 3:
            block = block[..., 0]
        return block

    def value_of_stored(self, nodata: float | None) -> float | None:
        """The value a stored sample ``nodata`` becomes (``None``: no sample can hold it).

        GDAL's nodata tag names a stored sample; its value is compared with the values, so
        that a 1- to 4-bit or MINISWHITE page leaves out the samples GDAL leaves out. A
        palette's tag is kept as it is (several indices may share a colour).
        """
        if (
            nodata is None
            or self.photometric == "palette"
            or not (self.lut is not None or self.invert)
        ):
            return nodata
        if self.dtype.kind == "f":
            return -nodata  # an inverted float; NaN stays NaN
        if not (math.isfinite(nodata) and float(nodata).is_integer()):
            return None  # no integer sample holds it
        stored = int(nodata)
        if self.lut is not None:  # fewer than 8 bits, scaled (and inverted)
            return int(self.lut[stored]) if 0 <= stored < (1 << self.bits) else None
        if self.dtype.kind == "u":
            return self.maxval - stored if 0 <= stored <= self.maxval else None
        return -1 - stored

    def with_transparent_index(self, index) -> Meaning:
        """This palette meaning with its nodata ``index`` as an alpha band (0 there, 255
        elsewhere), as GDAL expands a palette to RGBA (``gdal_translate -expand rgba``): GDAL
        leaves out the *pixels* of that index, which the colours alone cannot say (another
        index may share its colour, and a colour sample may equal the index). ``self`` when
        it is not a palette's colours, has an alpha already, or no index can be ``index``."""
        if (
            self.photometric != "palette"
            or self.lut is None
            or self.lut.ndim != 2
            or self.bands != ("R", "G", "B")
            or index is None
            or not (math.isfinite(index) and 0 <= index < self.lut.shape[0])
        ):
            return self
        alpha = np.full((self.lut.shape[0], 1), 255, np.uint8)
        alpha[int(index)] = 0
        lut = np.concatenate([self.lut, alpha], axis=1)
        return replace(self, bands=("R", "G", "B", "A"), lut=lut)

    def _transform(self, block: np.ndarray) -> np.ndarray:
        if block.dtype == np.bool_:
            block = block.view(np.uint8)
        colour, extras = block[..., 0], block[..., 1:]
        if self.lut is not None:
            # (y, x), or (y, x, 3) for a palette; take is 3x faster than fancy indexing here
            colour = np.take(self.lut, colour, axis=0)
        elif self.invert:
            colour = _inverted(colour, self.maxval)
        if colour.ndim == 2:
            colour = colour[..., None]
        if extras.shape[-1] == 0:
            return colour
        if self.extras_lut is not None:
            extras = np.take(self.extras_lut, extras, axis=0)
        return np.concatenate([colour, extras.astype(self.dtype, copy=False)], axis=-1)


def _inverted(values: np.ndarray, maxval: int) -> np.ndarray:
    if values.dtype.kind == "u" and maxval != np.iinfo(values.dtype).max:
        # e.g. 12 bits in uint16: a corrupt sample above 2**bits - 1 is clipped, not wrapped
        return np.subtract(maxval, np.minimum(values, maxval), dtype=values.dtype)
    if values.dtype.kind in "ui":
        return np.invert(values)  # max - v for a full-width unsigned type, -1 - v for signed
    return np.negative(values)


def _scale_lut(bits: int, invert: bool) -> np.ndarray:
    """0..2**bits-1 -> 0..255 (exactly 255, 85 and 17 per step for 1, 2 and 4 bits)."""
    top = (1 << bits) - 1
    values = np.arange(256, dtype=np.int64)
    values = np.minimum(values, top)
    if invert:
        values = top - values
    return ((values * 255 + top // 2) // top).astype(np.uint8)


def _palette_lut(colormap: np.ndarray, index_dtype: np.dtype) -> np.ndarray:
    """A ``(2**index_bits, 3)`` uint8 table: entry ``i`` is colour ``i`` of the colormap."""
    cmap = np.asarray(colormap)
    if cmap.ndim != 2 or cmap.shape[0] != 3:
        cmap = cmap.reshape(3, -1)
    cmap = cmap.astype(np.int64)
    # TIFF colormaps hold 16-bit values; some writers store 8-bit ones (libtiff's heuristic)
    cmap = cmap if cmap.size and cmap.max() < 256 else cmap >> 8
    size = 1 << (8 * np.dtype(index_dtype).itemsize) if index_dtype != np.bool_ else 256
    lut = np.zeros((size, 3), np.uint8)
    n = min(size, cmap.shape[1])
    lut[:n] = np.clip(cmap[:, :n].T, 0, 255)
    return lut


#: How a palette image is read: its colours (the default) or its class indices.
PALETTE_READINGS = ("rgb", "index")


def check_palette(palette) -> str:
    """``palette`` if it is one of :data:`PALETTE_READINGS`, else InvalidOption."""
    if isinstance(palette, str) and palette in PALETTE_READINGS:
        return palette
    shown = palette[:64] if isinstance(palette, str) else type(palette).__name__
    raise InvalidOption(
        f"palette must be 'rgb' (the colours) or 'index' (the classes), not {shown!r}"
    )


def not_a_palette(what: str) -> InvalidOption:
    """The error of ``palette="index"`` on an image without a palette."""
    return InvalidOption(
        f"palette='index' reads the class indices of a palette image; {what} has no palette"
    )


def tiff_meaning(page, palette: str = "rgb") -> Meaning:
    """The :class:`Meaning` of a tifffile ``TiffPage`` (from its tags only, no pixel read).

    Parameters
    ----------
    page : tifffile.TiffPage
    palette : {"rgb", "index"}
        A palette page's colours, or its stored class indices (as GDAL reads it: one band
        ``"P"``, plus alpha when an extra sample carries it).

    Raises
    ------
    InvalidOption
        ``palette="index"`` for a page that is not a palette.
    """
    code = int(page.photometric)
    photometric = PHOTOMETRIC_NAMES.get(code, str(code))
    bits = int(page.bitspersample)
    samples = int(page.samplesperpixel)
    extrasamples = tuple(int(e) for e in (page.extrasamples or ()))
    colour_samples = max(samples - len(extrasamples), 1)
    stored = np.dtype(page.dtype) if page.dtype is not None else np.dtype(np.uint8)
    integer = stored.kind in "ub"
    alpha = len(extrasamples) == 1 and extrasamples[0] in _ALPHA
    paletted = (
        photometric == "palette"
        and colour_samples == 1
        and integer
        and bits <= 16
        and page.colormap is not None
    )
    if check_palette(palette) == "index":
        if not paletted:
            raise not_a_palette(f"this TIFF page ({photometric})")
        extras_lut = None
        if samples > 1 and bits < 8:
            extras_lut = _scale_lut(bits, False)  # alpha on 0..255, the indices as stored
        names = ("P",) + (("A",) if alpha else _numbered(1, samples - 1))
        dtype = np.dtype(np.uint8) if stored == np.bool_ else stored
        return Meaning(photometric, bits, names, dtype, extras_lut=extras_lut)
    if paletted:
        lut = _palette_lut(page.colormap, stored)
        extras_lut = None
        if samples > 1:
            extras_lut = (
                _scale_lut(bits, False)
                if bits < 8
                else (np.arange(1 << bits) >> (bits - 8)).astype(np.uint8)
            )
        names = ("R", "G", "B") + (("A",) if alpha else _numbered(3, samples - 1))
        return Meaning(photometric, bits, names, np.dtype(np.uint8), lut=lut, extras_lut=extras_lut)
    grey = photometric in ("miniswhite", "minisblack")
    invert = photometric == "miniswhite"
    names = _band_names(photometric, samples, colour_samples, extrasamples, page)
    if grey and integer and bits < 8 and colour_samples == 1:
        extras_lut = _scale_lut(bits, False) if samples > 1 else None
        return Meaning(
            photometric,
            bits,
            names,
            np.dtype(np.uint8),
            lut=_scale_lut(bits, invert),
            extras_lut=extras_lut,
        )
    if stored == np.bool_:  # 1-bit samples of another kind: 0/1 as uint8
        return Meaning(photometric, bits, names, np.dtype(np.uint8))
    if invert and colour_samples == 1:
        maxval = (1 << bits) - 1 if stored.kind == "u" else 0
        return Meaning(photometric, bits, names, value_dtype(stored), invert=True, maxval=maxval)
    return Meaning(photometric, bits, names, value_dtype(stored))


def value_dtype(stored) -> np.dtype:
    """The type of the values of ``stored`` samples kept as they are: 1-bit samples as uint8,
    half floats widened to float32 (exact), any other type its own."""
    stored = np.dtype(stored)
    if stored == np.bool_:
        return np.dtype(np.uint8)
    return np.dtype(np.float32) if stored == np.float16 else stored


def _numbered(start: int, count: int) -> tuple[str, ...]:
    return tuple(str(start + i) for i in range(count))


def _band_names(photometric, samples, colour_samples, extrasamples, page) -> tuple[str, ...]:
    """R, G, B[, A] for RGB; L[, A] for greyscale; C, M, Y, K for CMYK; numbers otherwise.

    An RGB or grey page's extra samples are numbered, but for its alphas, as GDAL's colour
    interpretation names them: the first ``A``, any other ``A`` and its number (``R, G, B,
    A, 4`` for ExtraSamples ``[2, 0]``, ``R, G, B, A, A4`` for ``[2, 2]``). Several extra
    samples give no mask (GDAL's mask flags are "all valid"), so such alphas are only left
    out of the pooled bands (:func:`imgstats.summary.pooled_bands`).
    """
    alpha = len(extrasamples) == 1 and extrasamples[0] in _ALPHA
    if samples == 1:
        return ("L",)
    if photometric == "rgb" and samples in (3, 4):
        # a fourth sample is alpha only when ExtraSamples says so, as GDAL reads it
        return ("R", "G", "B") + (("A",) if alpha else _numbered(3, samples - 3))
    alphas = [i for i, e in enumerate(extrasamples) if e in _ALPHA]
    colour = {"rgb": ("R", "G", "B"), "minisblack": ("L",), "miniswhite": ("L",)}
    names = colour.get(photometric)
    if names and alphas and len(names) + len(extrasamples) == samples:
        start = len(names)
        return names + tuple(
            ("A" if i == alphas[0] else f"A{start + i}") if i in alphas else str(start + i)
            for i in range(len(extrasamples))
        )
    if photometric == "ycbcr" and samples == 3 and int(page.compression) in (6, 7, 34892):
        return ("R", "G", "B")  # JPEG decoders hand back RGB
    if photometric in ("minisblack", "miniswhite") and samples == 2 and alpha:
        return ("L", "A")
    if (
        photometric == "separated"
        and samples == 4
        and colour_samples == 4
        and int(getattr(page, "inkset", 1) or 1) == 1
    ):
        return ("C", "M", "Y", "K")
    return _numbered(0, samples)


#: A GDAL_METADATA item; attributes in any order. A regular expression, not an XML parser:
#: the tag is a flat list of items, and a parser would expand a hostile file's entities.
_ITEM = re.compile(r"<Item\b([^>]{0,512})>([^<]{0,256})</Item>")
_ATTR = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
#: The longest GDAL_METADATA tag read for scales and offsets.
_MAX_METADATA = 1 << 20


def gdal_mask_flags(text) -> int | None:
    """The mask flags GDAL reads for band 1 from a ``.msk`` sidecar's GDAL_METADATA tag
    (ASCII XML): its dataset item ``INTERNAL_MASK_FLAGS_1``, as C's ``atoi``; ``None``
    without one, when GDAL takes the ``.msk`` for no mask of the image (its
    ``GDALDefaultOverviews::GetMaskFlags`` answers "not handled").
    """
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    if not isinstance(text, str) or len(text) > _MAX_METADATA:
        return None
    for attrs, value in _ITEM.findall(text):
        fields = dict(_ATTR.findall(attrs))
        if fields.get("name") != "INTERNAL_MASK_FLAGS_1" or fields.keys() - {"name", "domain"}:
            continue  # a band's item (sample=, role=), not the dataset's
        if fields.get("domain", ""):
            continue  # another metadata domain than the default one GDAL asks
        digits = re.match(r"\s*([+-]?\d*)", value).group(1)
        return int(digits) if digits.lstrip("+-") else 0
    return None


def gdal_scales(text, nbands: int) -> tuple[tuple[float, float], ...] | None:
    """Each band's ``(scale, offset)`` from a GDAL_METADATA tag (ASCII XML), or ``None``.

    GDAL writes them as items with ``role="scale"`` / ``role="offset"`` and the band's 0-based
    ``sample`` (rasterio's ``src.scales``, ``src.offsets``); a band without one has scale 1
    and offset 0. ``None`` when no band has either. A value that is not a number is NaN,
    which a scaled reading refuses (the file's values mean nothing physical then).
    """
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    if not isinstance(text, str) or len(text) > _MAX_METADATA:
        return None
    found: dict[tuple[int, str], float] = {}
    for attrs, value in _ITEM.findall(text):
        fields = dict(_ATTR.findall(attrs))
        role = fields.get("role", "").lower()
        sample = fields.get("sample", "")
        if role not in ("scale", "offset") or not sample.isdecimal() or int(sample) >= nbands:
            continue
        try:
            number = float(value.strip())
        except ValueError:
            number = math.nan
        found[(int(sample), role)] = number
    if not found:
        return None
    return tuple(
        (found.get((b, "scale"), 1.0), found.get((b, "offset"), 0.0)) for b in range(nbands)
    )
