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

    Examples
    --------
    >>> ValidSamples("nodata", 0, "option").as_dict()
    {'mask': 'nodata', 'nodata': 0, 'source': 'option'}
    """

    __slots__ = ("mask", "nodata", "source")

    def __init__(self, mask: str | None = None, nodata=None, source: str = "file"):
        if mask is not None and mask not in MASK_WORDS:
            raise ValueError(f"mask must be one of {MASK_WORDS} or None, not {mask!r}")
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "nodata", _number(nodata))
        object.__setattr__(self, "source", source)

    def __setattr__(self, name, value):
        raise AttributeError("ValidSamples is immutable")

    def __reduce__(self):
        return (ValidSamples, (self.mask, self.nodata, self.source))

    def _key(self) -> tuple:
        nodata = self.nodata
        if isinstance(nodata, float) and math.isnan(nodata):
            nodata = "nan"  # NaN is one rule, though NaN != NaN
        return (self.mask, nodata, self.source)

    def __eq__(self, other):
        if not isinstance(other, ValidSamples):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self) -> str:
        return f"ValidSamples(mask={self.mask!r}, nodata={self.nodata!r}, source={self.source!r})"

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
        """The rule of the samples of bands ``indices`` (positions) alone: none (``mask``
        ``None``) when every one is the alpha band ``alpha`` whose 0s are this rule, as GDAL
        gives an alpha band no mask of its own (every alpha sample counts); else this rule."""
        indices = list(indices)
        if self.mask != "alpha" or alpha is None or not indices:
            return self
        if any(int(i) != alpha for i in indices):
            return self
        return ValidSamples(None, None, self.source)

    def as_dict(self) -> dict:
        """``{"mask", "nodata", "source"}`` for JSON: a non-finite nodata as ``"nan"``,
        ``"inf"`` or ``"-inf"`` (JSON has no such number), as the header facts spell it."""
        nodata = self.nodata
        if isinstance(nodata, float) and not math.isfinite(nodata):
            nodata = str(nodata)
        return {"mask": self.mask, "nodata": nodata, "source": self.source}

    @classmethod
    def from_dict(cls, data) -> ValidSamples:
        """The :class:`ValidSamples` that :meth:`as_dict` gave; ``ValueError`` for anything
        else."""
        if not isinstance(data, dict) or set(data) != {"mask", "nodata", "source"}:
            raise ValueError("not the members mask, nodata and source")
        nodata = data["nodata"]
        if isinstance(nodata, str):
            if nodata not in ("nan", "inf", "-inf"):
                raise ValueError(f"bad nodata {nodata!r}")
            nodata = float(nodata)
        elif nodata is not None and (
            isinstance(nodata, bool) or not isinstance(nodata, (int, float))
        ):
            raise ValueError(f"bad nodata {nodata!r}")
        return cls(data["mask"], nodata, data["source"])


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
