"""GDAL's PAM sidecar (``<file>.aux.xml``): the nodata value, scale and offset of each band.

GDAL keeps what a format cannot store, or what was set on a file opened read-only, in an
``.aux.xml`` file beside it (its Persistent Auxiliary Metadata), and a band's value there
takes the place of the file's own: ``<PAMRasterBand band="1"><NoDataValue>7</NoDataValue>``
makes band 1's 7s nodata even where the TIFF's GDAL_NODATA tag says 5. Read beside a local
file or a URL (``/vsicurl/`` and ``/vsis3/`` read it there too), as a ``.msk`` sidecar is,
at most :data:`MAX_PAM_BYTES` of it, and as GDAL reads it: the first node is the dataset
(a file that opens with an XML declaration, a comment or a DTD has no band GDAL reads, so no
entity is ever declared, let alone expanded), its ``PAMRasterBand`` children the bands
(``band`` read as C's ``atoi``; a band given twice keeps the fields the second one lacks),
and a file XML cannot parse has none.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, replace
from xml.etree import ElementTree

from ..errors import InvalidOption, UnreadableImage
from ._sources import PAM, describe, read_sidecar

#: The largest ``.aux.xml`` read (GDAL's hold histograms and statistics: a few KB a band).
MAX_PAM_BYTES = 16 << 20

#: A ``band`` attribute's number as C's ``atoi`` reads it (``" 1"``, ``"+1"``, ``"1x"``: 1).
_ATOI = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]{1,9})")
#: The exact double GDAL writes beside a NoDataValue its 14 digits do not give back
#: (``le_hex_equiv="000000E0FFFFEFC7"``: the value's 8 bytes, little-endian, in hex).
_LE_HEX = re.compile(r"\s*([0-9A-Fa-f]{16})\s*")
#: expat's code of "junk after document element" (a second top-level node).
_JUNK_AFTER_ROOT = 9
#: A declaration (``<?xml ...?>``) or a DTD (``<!DOCTYPE l [<!ENTITY ...>]>``).
_SKIPPED = re.compile(r"<\?.*?\?>|<!DOCTYPE(?:[^\[>]|\[.*?\])*>", re.S)
#: An ``&`` that starts no reference XML itself defines.
_UNKNOWN_ENTITY = re.compile(r"&(?!(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6});)")


@dataclass(frozen=True)
class PamBand:
    """One band's entries of an ``.aux.xml``, ``None`` where it has none."""

    #: The NoDataValue's text, read as a GDAL_NODATA tag's (:func:`._valid.nodata_of_tag`).
    nodata: str | None = None
    scale: float | None = None
    offset: float | None = None


def pam_bands(path, storage_options: dict | None = None) -> dict[int, PamBand]:
    """Each band's (0-based) PAM entries beside a local file or a URL (its store's
    ``storage_options``); ``{}`` without an ``.aux.xml``. No more than
    :data:`MAX_PAM_BYTES` (+1) of it is ever read.

    Raises
    ------
    UnreadableImage
        An ``.aux.xml`` over :data:`MAX_PAM_BYTES`, or one that cannot be read.
    StoreUnavailable, StoreTimeout
        A remote store failed otherwise than by having no ``.aux.xml``.
    """
    read = read_sidecar(path, PAM, MAX_PAM_BYTES, storage_options)
    if read is None:
        return {}
    found, data = read
    if len(data) > MAX_PAM_BYTES:
        raise UnreadableImage(
            f"{describe(found)} is over {MAX_PAM_BYTES >> 20} MB: not GDAL's metadata of "
            f"{describe(path)}"
        )
    return _parse(data)


def _parse(data: bytes) -> dict[int, PamBand]:
    """Each band's (0-based) entries of an ``.aux.xml``'s bytes, as GDAL reads them."""
    text = data.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    if not text.startswith("<") or text[1:2] in ("?", "!"):
        return {}  # GDAL's dataset is the first node: a declaration or a comment has no band
    # GDAL's parser skips a declaration or DTD within the dataset and keeps an entity it
    # does not know as it is (so "&b;" is no number): expat would refuse them
    text = _SKIPPED.sub("", text)
    text = _UNKNOWN_ENTITY.sub("&amp;", text)
    root = _first_element(text.encode("utf-8"))
    if root is None:
        return {}  # GDAL reads no PAM from a file it cannot parse, and says so only in a log
    out: dict[int, PamBand] = {}
    for node in root.iterfind("PAMRasterBand"):
        number = _ATOI.match(node.get("band", ""))
        if number is None or int(number.group(1)) < 1:
            continue
        band = int(number.group(1)) - 1
        fields = {
            "nodata": _nodata_text(node.find("NoDataValue")),
            "scale": _number(node.find("Scale")),
            "offset": _number(node.find("Offset")),
        }
        given = {k: v for k, v in fields.items() if v is not None}  # a field it has
        out[band] = replace(out.get(band, PamBand()), **given)
    return out


def _first_element(data: bytes):
    """The first element of an XML text, what follows it left unread (as GDAL reads only
    its file's first node); ``None`` when it is not XML."""
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        if exc.code != _JUNK_AFTER_ROOT:
            return None
        line, column = exc.position
        end = sum(len(row) + 1 for row in data.split(b"\n")[: line - 1]) + column
    try:
        return ElementTree.fromstring(data[:end])
    except ElementTree.ParseError:
        return None


def _nodata_text(node) -> str | None:
    """A NoDataValue's text, or the exact double of its ``le_hex_equiv`` attribute written
    as a text that reads back to it, as GDAL reads it in place of the 14 digits
    (``-1.79769313486232E+308``, the lowest double rounded, overflows to -inf)."""
    if node is None:
        return None
    exact = _LE_HEX.fullmatch(node.get("le_hex_equiv", ""))
    if exact is None:
        return node.text or ""
    value = struct.unpack("<d", bytes.fromhex(exact.group(1)))[0]
    return str(int(value)) if math.isfinite(value) and value.is_integer() else repr(value)


def _number(node) -> float | None:
    """A Scale's or Offset's number (NaN when it is none: a scaled reading refuses it)."""
    if node is None:
        return None
    try:
        return float((node.text or "").strip())
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


def pam_nodata(pam: dict, source, nbands: int, dtype, nodata):
    """``(nodata, problem, each)`` of an image's ``nbands`` bands once the bands of an
    ``.aux.xml`` beside it, ``pam`` (:func:`pam_bands`), are read: a band's ``NoDataValue``
    there takes the place of the file's own ``nodata`` (as in GDAL), its alpha band's too
    (one the ``.aux.xml`` leaves without a value, beside colour bands with one, counts
    every sample, as GDAL reads it).

    When the bands end up with different nodata values, no one ``nodata`` applies: ``each``
    is then every band's own (``None``: none), which GDAL applies band by band, and
    ``problem`` says why one value does not do for a question over several of them (a
    zonal question over every band refuses it, unless ``raw=True`` or ``nodata=``).
    """
    from ._valid import stored_nodata

    if not any(band.nodata is not None for band in pam.values()):
        return nodata, None, None
    values = []
    for b in range(max(nbands, 1)):
        text = pam[b].nodata if b in pam else None
        values.append(nodata if text is None else nodata_number(text, dtype))
    # compared as the samples hold them: "nan" on an integer band is no nodata, as none
    kept = [stored_nodata(v, dtype) for v in values]
    if len({"nan" if isinstance(v, float) and math.isnan(v) else v for v in kept}) > 1:
        said = ", ".join("none" if v is None else str(v) for v in kept)
        return (
            None,
            f"{describe(source)}: its .aux.xml gives its bands different nodata values "
            f"({said}), which apply band by band: ask for one band, or pass one nodata= "
            "value, or raw=True",
            tuple(values),
        )
    return values[0], None, None


def band_nodata_of_bands(attrs, labels):
    """``attrs["band_nodata"]`` (each band's own nodata value, :func:`imgstats.open_image`'s)
    for the bands ``labels`` an array has now, found by label when ``open_image`` recorded
    whose they are (``attrs["band_nodata_bands"]``): ``da.isel(band=[2, 1, 0])`` keeps its
    attrs, so by position each value would go to another band. Without that record, the
    list as it is (one per band by position).

    Raises
    ------
    InvalidOption
        A band whose label is not among the recorded ones.
    """
    each = attrs.get("band_nodata")
    owners = attrs.get("band_nodata_bands")
    if not isinstance(each, (list, tuple)) or not isinstance(owners, (list, tuple)):
        return each
    owners = [str(o) for o in owners]
    out = []
    for label in labels:
        if str(label) not in owners:
            raise InvalidOption(
                f"band {str(label)!r} is not one of the bands {owners} whose nodata values "
                "attrs['band_nodata'] gives: select bands by their labels, or pass nodata="
            )
        at = owners.index(str(label))
        out.append(each[at] if at < len(each) else None)
    return out


def band_nodata_refused(problem: str, each, band_names) -> str | None:
    """Why an image whose bands have different nodata values, ``each`` (:func:`pam_nodata`),
    is refused, or ``None`` when each band's own applies. GDAL leaves a colour band without
    a nodata value to the image's alpha band (its mask): a mask per band, which imgstats
    does not apply."""
    from ..summary import alpha_band

    alpha = alpha_band(band_names)
    if alpha is None or all(v is not None for b, v in enumerate(each) if b != alpha):
        return None
    said = problem.partition(", which")[0]
    return (
        f"{said}, and leaves the bands without one to its alpha band, which imgstats does "
        "not apply: pass one nodata= value, or raw=True"
    )


def pam_scales(pam: dict, nbands: int, scales=None):
    """Each of ``nbands`` bands' ``(scale, offset)`` once the bands of an ``.aux.xml``,
    ``pam`` (:func:`pam_bands`), are read: a band's ``Scale`` and ``Offset`` there take the
    place of the file's pair, ``scales`` (as in GDAL); ``scales`` as it is otherwise."""
    if not any(b.scale is not None or b.offset is not None for b in pam.values()):
        return scales
    pairs = list(scales or ((1.0, 0.0),) * nbands)
    for b, band in pam.items():
        if b < nbands and (band.scale is not None or band.offset is not None):
            # GDAL takes the band's pair from PAM whole: a missing one is 1 (or 0) there
            pairs[b] = (
                1.0 if band.scale is None else band.scale,
                0.0 if band.offset is None else band.offset,
            )
    return tuple(pairs)


def pillow_pam(mode: str, source, bands, dtype, storage_options: dict | None = None):
    """``(nodata, problem, scales, each)`` of an image decoded by Pillow (GDAL's PAM: a PNG
    or JPEG written with ``-a_nodata`` or ``-a_scale``) once an ``.aux.xml`` beside it is
    read: its nodata as its stored samples hold it (:func:`~._valid.stored_nodata`), why
    no one value applies, each band's ``(scale, offset)`` (``None`` without any), as
    rasterio's ``scales`` and ``offsets`` give them, and each colour band's own nodata when
    they differ (:func:`pam_nodata`). ``(None, None, None, None)`` for a Pillow ``mode``
    whose decoded samples are not the stored ones (1-bit, paletted colours). The statistics
    and the header facts both take them from here."""
    if mode in ("1", "P", "PA"):
        return None, None, None, None
    import numpy as np

    from ._valid import stored_nodata

    bands, dtype = list(bands), np.dtype(dtype)
    pam = pam_bands(source, storage_options)
    nodata, problem, each = pam_nodata(pam, source, len(bands), dtype, None)
    nodata = None if nodata is None else stored_nodata(nodata, dtype)
    each = None if each is None else tuple(stored_nodata(v, dtype) for v in each)
    return nodata, problem, pam_scales(pam, len(bands)), each
