"""GDAL's PAM sidecar (``<file>.aux.xml``): the nodata value, scale and offset of each band.

GDAL keeps what a format cannot store, or what was set on a file opened read-only, in an
``.aux.xml`` file beside it (its Persistent Auxiliary Metadata), and a band's value there
takes the place of the file's own: ``<PAMRasterBand band="1"><NoDataValue>7</NoDataValue>``
makes band 1's 7s nodata even where the TIFF's GDAL_NODATA tag says 5. Read here with
regular expressions, not an XML parser, as GDAL_METADATA is (a parser would expand a hostile
file's entities), and only beside a local file, as a ``.msk`` sidecar is.
"""

from __future__ import annotations

import math
import os
import re
import struct
from dataclasses import dataclass

from ..errors import UnreadableImage
from ._sources import describe

#: The largest ``.aux.xml`` read (GDAL's hold histograms and statistics: a few KB a band).
MAX_PAM_BYTES = 16 << 20

_BAND = re.compile(r"<PAMRasterBand\b([^>]{0,512})>(.*?)</PAMRasterBand>", re.S)
_NUMBER = re.compile(r'\bband\s*=\s*"\s*([0-9]{1,9})\s*"')
_FIELDS = {
    name: re.compile(rf"<{name}\b([^>]{{0,512}})>([^<]{{0,256}})</{name}>")
    for name in ("NoDataValue", "Scale", "Offset")
}
#: The exact double GDAL writes beside a NoDataValue its 14 digits do not give back
#: (``le_hex_equiv="000000E0FFFFEFC7"``: the value's 8 bytes, little-endian, in hex).
_LE_HEX = re.compile(r'\ble_hex_equiv\s*=\s*"\s*([0-9A-Fa-f]{16})\s*"')


@dataclass(frozen=True)
class PamBand:
    """One band's entries of an ``.aux.xml``, ``None`` where it has none."""

    #: The NoDataValue's text, read as a GDAL_NODATA tag's (:func:`._valid.nodata_of_tag`).
    nodata: str | None = None
    scale: float | None = None
    offset: float | None = None


def pam_sidecar(path) -> str | None:
    """The ``.aux.xml`` file GDAL would read beside a local file, if any."""
    from ._sources import is_url

    if not isinstance(path, (str, os.PathLike)) or is_url(path):
        return None
    candidate = os.fspath(path) + ".aux.xml"
    return candidate if os.path.isfile(candidate) else None


def pam_bands(path) -> dict[int, PamBand]:
    """Each band's (0-based) PAM entries beside a local file; ``{}`` without an ``.aux.xml``.

    Raises
    ------
    UnreadableImage
        An ``.aux.xml`` over :data:`MAX_PAM_BYTES`, or one that cannot be read.
    """
    sidecar = pam_sidecar(path)
    if sidecar is None:
        return {}
    try:
        with open(sidecar, "rb") as fh:
            data = fh.read(MAX_PAM_BYTES + 1)
    except OSError as exc:
        raise UnreadableImage(f"{describe(sidecar)} cannot be read: {exc.strerror}") from None
    if len(data) > MAX_PAM_BYTES:
        raise UnreadableImage(
            f"{describe(sidecar)} is over {MAX_PAM_BYTES >> 20} MB: not GDAL's metadata of "
            f"{describe(path)}"
        )
    text = data.decode("utf-8", "replace")
    out: dict[int, PamBand] = {}
    for attrs, body in _BAND.findall(text):
        number = _NUMBER.search(attrs)
        if number is None or int(number.group(1)) < 1:
            continue
        found = {name: pattern.search(body) for name, pattern in _FIELDS.items()}
        out[int(number.group(1)) - 1] = PamBand(
            _nodata_text(found["NoDataValue"]),
            _number(found["Scale"]),
            _number(found["Offset"]),
        )
    return out


def _nodata_text(match) -> str | None:
    """A NoDataValue's text, or the exact double of its ``le_hex_equiv`` attribute written
    as a text that reads back to it, as GDAL reads it in place of the 14 digits
    (``-1.79769313486232E+308``, the lowest double rounded, overflows to -inf)."""
    if match is None:
        return None
    exact = _LE_HEX.search(match.group(1))
    if exact is None:
        return match.group(2)
    value = struct.unpack("<d", bytes.fromhex(exact.group(1)))[0]
    return str(int(value)) if math.isfinite(value) and value.is_integer() else repr(value)


def _number(match) -> float | None:
    """A Scale's or Offset's number (NaN when it is none: a scaled reading refuses it)."""
    if match is None:
        return None
    try:
        return float(match.group(2).strip())
    except ValueError:
        return math.nan


def nodata_number(text, dtype):
    """A GDAL_NODATA (or PAM ``NoDataValue``) text's number as GDAL reads it for samples of
    ``dtype``: exactly for 64-bit integers (:func:`~._valid.integer_of_tag`), else as a
    double (:func:`~._valid.nodata_of_tag`)."""
    import numpy as np

    from ._valid import integer_of_tag, nodata_of_tag

    wide = dtype is not None and np.dtype(dtype) in (np.int64, np.uint64)
    return integer_of_tag(text, dtype) if wide else nodata_of_tag(text)


def pam_nodata(source, colours: int, dtype, nodata):
    """``(nodata, problem)`` of an image's first ``colours`` bands once an ``.aux.xml``
    beside it is read: a band's ``NoDataValue`` there takes the place of the file's own
    ``nodata`` (as in GDAL).

    ``problem`` says why none applies when the bands end up with different nodata values,
    which imgstats does not apply (one value leaves out every band's samples equal to it);
    the statistics then refuse the file, unless ``raw=True`` or ``nodata=`` (or its mask).
    """
    from ._valid import stored_nodata

    pam = pam_bands(source)
    if not any(band.nodata is not None for band in pam.values()):
        return nodata, None
    values = []
    for b in range(max(colours, 1)):
        text = pam[b].nodata if b in pam else None
        values.append(nodata if text is None else nodata_number(text, dtype))
    # compared as the samples hold them: "nan" on an integer band is no nodata, as none
    kept = [stored_nodata(v, dtype) for v in values]
    if len({"nan" if isinstance(v, float) and math.isnan(v) else v for v in kept}) > 1:
        said = ", ".join("none" if v is None else str(v) for v in kept)
        return None, (
            f"{describe(source)}: its .aux.xml gives its bands different nodata values "
            f"({said}), which imgstats does not apply: pass one nodata= value, or raw=True"
        )
    return values[0], None


def pillow_pam_nodata(mode: str, source, bands, dtype):
    """``(nodata, problem)`` of a local image decoded by Pillow (GDAL's PAM: a PNG or JPEG
    written with ``-a_nodata``) once an ``.aux.xml`` beside it is read, as its stored samples
    hold it (:func:`~._valid.stored_nodata`); ``(None, None)`` for a Pillow ``mode`` whose
    decoded samples are not the stored ones (1-bit, paletted colours). The statistics and
    the header facts both take it from here."""
    if mode in ("1", "P", "PA"):
        return None, None
    import numpy as np

    from ._valid import stored_nodata

    bands, dtype = list(bands), np.dtype(dtype)
    colours = len(bands) - 1 if len(bands) > 1 and bands[-1] == "A" else len(bands)
    nodata, problem = pam_nodata(source, colours, dtype, None)
    return (None if nodata is None else stored_nodata(nodata, dtype)), problem
