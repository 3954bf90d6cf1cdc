"""Which samples a summary counted: :class:`ValidSamples`, read off ``Summary.valid``.

The words are those of an image's header facts (:func:`imgstats.io.read_header`): ``mask``
is what decided which samples count -- a dataset mask (``"internal"``: a TIFF's mask page or
the mask GDAL appends to a JPEG; ``"sidecar"``: a ``.msk`` beside the image), the nodata
value (``"nodata"``), the alpha band (``"alpha"``), or nothing but NaN (``None``) -- and
``nodata`` the value whose samples were left out (``None`` when none was: a mask decides
before any nodata value, as in GDAL). ``source`` says whose rule it was: the file's own
(``"file"``; an array's ``attrs["nodata"]`` is its own too), the caller's ``nodata=``
(``"option"``), or none at all (``"raw"``: every sample but NaN counted).

A numpy (or dask) masked array's mask, which no file has, is ``"array"``: its masked
samples never count, beside the ``nodata`` value when there is one (both leave samples
out), and with ``raw`` too (``raw`` drops a file's rules, not the array's own mask).

A file whose bands have different nodata values (an ``.aux.xml`` that gives each its own)
counts each band by its own, as GDAL does: its rule is ``"nodata"`` with ``band_nodata``,
each band's value (``None``: none), and ``nodata`` ``None``, also for the bands pooled;
the rule of one band (or of bands that share a value) is ``"nodata"`` with that value
(:meth:`ValidSamples.of_bands`).
"""

from __future__ import annotations

import math
import numbers

__all__ = ["ValidSamples", "MASK_WORDS", "SOURCES"]

#: The words of ``mask``, as :func:`imgstats.io.read_header` reports them (and ``None``),
#: and a masked array's own mask (``"array"``), which no file has.
MASK_WORDS = ("nodata", "alpha", "internal", "sidecar", "array")
#: Whose rule decided: the file's, the caller's ``nodata=``, or ``raw``'s (no rule).
SOURCES = ("file", "option", "raw")


class ValidSamples:
    """What decided which samples a summary counted (see the module's docstring).

    Attributes
    ----------
    mask : {"nodata", "alpha", "internal", "sidecar", "array"} or None
    nodata : int, float or None
        The value left out (a whole number as an int; NaN and infinities as floats),
        ``None`` when none was.
    source : {"file", "option", "raw"}
    band_nodata : tuple or None
        Each band's own nodata value when the bands have different ones (``nodata`` is then
        ``None``), else ``None``.

    Examples
    --------
    >>> ValidSamples("nodata", 0, "option").as_dict()
    {'mask': 'nodata', 'nodata': 0, 'source': 'option'}
    """

    __slots__ = ("mask", "nodata", "source", "band_nodata")

    def __init__(
        self, mask: str | None = None, nodata=None, source: str = "file", band_nodata=None
    ):
        if mask is not None and mask not in MASK_WORDS:
            raise ValueError(f"mask must be one of {MASK_WORDS} or None, not {mask!r}")
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "nodata", _number(nodata))
        object.__setattr__(self, "source", source)
        each = None if band_nodata is None else tuple(_number(v) for v in band_nodata)
        object.__setattr__(self, "band_nodata", each)

    def __setattr__(self, name, value):
        raise AttributeError("ValidSamples is immutable")

    def __reduce__(self):
        return (ValidSamples, (self.mask, self.nodata, self.source, self.band_nodata))

    def _key(self) -> tuple:
        each = None if self.band_nodata is None else tuple(map(_nan_key, self.band_nodata))
        return (self.mask, _nan_key(self.nodata), self.source, each)

    def __eq__(self, other):
        if not isinstance(other, ValidSamples):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self) -> str:
        each = "" if self.band_nodata is None else f", band_nodata={self.band_nodata!r}"
        return (
            f"ValidSamples(mask={self.mask!r}, nodata={self.nodata!r}, "
            f"source={self.source!r}{each})"
        )

    def merged(self, other: ValidSamples | None) -> ValidSamples | None:
        """The rule of two sets of samples counted by ``self`` and ``other`` together:
        either when both are the same; a masked array's (``"array"``) when the other counted
        by the same nodata and source with no mask of its own, or with that nodata as its
        mask (a chunk of the same masked array with nothing masked, which says ``None``);
        else ``None`` (two rules)."""
        if other is None:
            return None
        if self == other:
            return self
        one, two = (self, other) if self.mask == "array" else (other, self)
        same = one._key()[1:] == two._key()[1:]
        if one.mask == "array" and two.mask in (None, "nodata") and same:
            return one
        return None

    def of_bands(self, indices, alpha: int | None) -> ValidSamples:
        """The rule of the samples of bands ``indices`` (positions) alone: with
        :attr:`band_nodata`, their one value (this rule, each band its own, when they have
        different ones); none (``mask`` ``None``) when every one is the alpha band ``alpha``
        whose 0s are this rule, as GDAL gives an alpha band no mask of its own (every alpha
        sample counts); else this rule."""
        indices = [int(i) for i in indices]
        if self.band_nodata is not None:
            values = {_nan_key(self.band_nodata[i]) for i in indices}
            if len(values) != 1:
                return self
            value = self.band_nodata[indices[0]]
            return ValidSamples(None if value is None else "nodata", value, self.source)
        if self.mask != "alpha" or alpha is None or not indices:
            return self
        if any(i != alpha for i in indices):
            return self
        return ValidSamples(None, None, self.source)

    def as_dict(self) -> dict:
        """``{"mask", "nodata", "source"}`` for JSON (and ``"band_nodata"``, a list, when
        the bands have their own): a non-finite nodata as ``"nan"``, ``"inf"`` or ``"-inf"``
        (JSON has no such number), as the header facts spell it."""
        out = {"mask": self.mask, "nodata": _json(self.nodata), "source": self.source}
        if self.band_nodata is not None:
            out["band_nodata"] = [_json(v) for v in self.band_nodata]
        return out

    @classmethod
    def from_dict(cls, data) -> ValidSamples:
        """The :class:`ValidSamples` that :meth:`as_dict` gave; ``ValueError`` for anything
        else."""
        keys = {"mask", "nodata", "source"}
        if not isinstance(data, dict) or set(data) - {"band_nodata"} != keys:
            raise ValueError("not the members mask, nodata and source")
        each = data.get("band_nodata")
        if each is not None and not isinstance(each, list):
            raise ValueError(f"bad band_nodata {each!r}")
        each = None if each is None else [_of_json(v) for v in each]
        return cls(data["mask"], _of_json(data["nodata"]), data["source"], each)


def _nan_key(value):
    """``value``, with NaN as ``"nan"``: NaN is one rule, though NaN != NaN."""
    return "nan" if isinstance(value, float) and math.isnan(value) else value


def _json(nodata):
    """A nodata value for JSON: a non-finite one as ``"nan"``, ``"inf"`` or ``"-inf"``."""
    if isinstance(nodata, float) and not math.isfinite(nodata):
        return str(nodata)
    return nodata


def _of_json(nodata):
    """A nodata value from JSON (:func:`_json`'s); ``ValueError`` for anything else."""
    if isinstance(nodata, str):
        if nodata not in ("nan", "inf", "-inf"):
            raise ValueError(f"bad nodata {nodata!r}")
        return float(nodata)
    if nodata is not None and (isinstance(nodata, bool) or not isinstance(nodata, (int, float))):
        raise ValueError(f"bad nodata {nodata!r}")
    return nodata


def _number(value):
    """A nodata value as a Python int, or a float when it is no whole number (``None``
    stays ``None``): ``0.0`` is ``0``, as the header facts write it."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"nodata must be a number or None, not {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    value = float(value)
    return int(value) if value.is_integer() else value
