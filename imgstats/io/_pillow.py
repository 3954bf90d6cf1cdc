"""Pillow decoding: JPEG, PNG, GIF, BMP, WebP and anything else Pillow reads."""

from __future__ import annotations

import contextlib
import struct
import warnings

import numpy as np

from .._lazy import lazy_module
from ..errors import InvalidOption, NotAnImage, UnreadableImage
from ._guard import check_pixels, decoding
from ._sources import describe

# imported by the first image Pillow opens (about 20 ms): `imgstats stats tiny.tif` needs none
Image = lazy_module("PIL.Image")

__all__ = [
    "open_pillow",
    "check_pixels",
    "expanded_mode",
    "grey_key",
    "png16_bands",
    "pnm_tile",
    "pillow_header",
    "pillow_photometric",
    "pillow_to_array",
    "pillow_preview",
]


def open_pillow(fh, source, pixel_limit: int | None, page: int = 0) -> Image.Image:
    """Open an image lazily with Pillow, on frame ``page``, and check its declared size.

    Raises
    ------
    ImageTooLarge
        More than ``pixel_limit`` pixels are declared (or Pillow's own bomb guard fires).
    UnreadableImage
        Not an image Pillow knows, or a malformed one.
    InvalidOption
        The image has no frame ``page``.
    """
    try:
        with warnings.catch_warnings():
            # pixel_limit decides just below; Pillow's warning (images over MAX_IMAGE_PIXELS but
            # under twice that) would otherwise escape as an error under ``-W error``.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with decoding(source, "is corrupt"):
                img = Image.open(fh)
    except UnreadableImage as exc:
        if type(exc) is UnreadableImage:  # not ImageChanged: a PNG or JP2 cut in its header
            told = _truncation(fh, _signature_kind(fh), source)
            if told is not None:
                raise told from exc
        if isinstance(exc.__cause__, Image.UnidentifiedImageError):
            kind = _jpeg_kind(fh)  # an image Pillow does not decode, or none at all
            raise (UnreadableImage if kind else NotAnImage)(
                f"{describe(source)} is not an image imgstats can read{kind}"
            ) from exc.__cause__
        raise
    width, height = img.size
    check_pixels(width, height, pixel_limit, source)
    if page:
        with truncation_told(img, source), decoding(source, "is corrupt"):
            frames = getattr(img, "n_frames", 1)  # an APNG's frames are counted to its end
            if page < frames:
                img.seek(page)
        if page >= frames:
            raise InvalidOption(
                f"page {page} does not exist: {describe(source)} has {frames} page(s)"
            )
        check_pixels(*img.size, pixel_limit, source)
    return img


#: The first bytes of a PNG file, of a JP2 file (its signature box) and of a raw JPEG 2000
#: codestream (SOC and SIZ), by Pillow's name of their format.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG2000"),
    (b"\xff\x4f\xff\x51", "JPEG2000"),
)


def _signature_kind(fh) -> str | None:
    """``"PNG"`` or ``"JPEG2000"`` when the file ``fh`` begins as one does, else ``None``:
    what a file Pillow could not open is, when its header was cut short."""
    try:
        fh.seek(0)
        head = fh.read(12)
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(head, bytes):
        return None
    return next((kind for magic, kind in _SIGNATURES if head.startswith(magic)), None)


#: JPEG start-of-frame markers (SOF0..SOF15 but DHT, JPG and DAC) and what they code.
_SOF = {m: "lossless " if m in (0xC3, 0xC7, 0xCB, 0xCF) else "" for m in range(0xC0, 0xD0)}
for _marker in (0xC4, 0xC8, 0xCC):
    del _SOF[_marker]


def _jpeg_kind(fh) -> str:
    """Why Pillow refused a JPEG it does not decode (``": a 12-bit JPEG ..."``), or ``""``:
    Pillow decodes 8-bit lossy JPEGs only, where GDAL and libjpeg read 12-bit ones too."""
    try:
        fh.seek(0)
        head = fh.read(1 << 16)
    except (OSError, ValueError, AttributeError):
        return ""
    if not isinstance(head, bytes) or not head.startswith(b"\xff\xd8"):
        return ""
    at = 2
    while at + 4 < len(head) and head[at] == 0xFF:
        marker, length = head[at + 1], int.from_bytes(head[at + 2 : at + 4], "big")
        if marker in _SOF and at + 4 < len(head):
            bits = head[at + 4]
            if bits == 8 and not _SOF[marker]:
                return ""
            return (
                f": a {_SOF[marker]}JPEG of {bits} bits per sample, which Pillow does not decode"
                " (a 16-bit PNG or TIFF of it is read)"
            )
        at += 2 + length
    return ""


#: numpy types of Pillow's non-8-bit modes (every other mode is uint8).
MODE_DTYPES = {
    "I": "int32",
    "F": "float32",
    "I;16": "uint16",
    "I;16L": "uint16",
    "I;16B": "uint16",
    "I;16N": "uint16",
}
#: Pillow modes by the TIFF photometric name :func:`pillow_header` reports.
_PHOTOMETRIC = {
    "1": "minisblack",
    "L": "minisblack",
    "LA": "minisblack",
    "I": "minisblack",
    "F": "minisblack",
    "P": "palette",
    "PA": "palette",
    "RGB": "rgb",
    "RGBA": "rgb",
    "RGBX": "rgb",
    "CMYK": "separated",
    "YCbCr": "ycbcr",
    "LAB": "cielab",
    "HSV": "hsv",
}


def expanded_mode(img: Image.Image) -> str:
    """The mode imgstats decodes ``img`` to: palettes expand to RGB(A), bilevel to L, and an
    RGB PNG with a transparent colour (its tRNS key) to RGBA, alpha 0 where a pixel is that
    colour: the pixels GDAL leaves out (its per-dataset ``NODATA_VALUES``)."""
    if img.mode == "P":
        return "RGBA" if "transparency" in img.info else "RGB"
    if img.mode == "RGB" and colour_key(img) is not None:
        return "RGBA"
    if img.mode == "PA":
        return "RGBA"
    if img.mode == "1":
        return "L"
    return img.mode


#: The greys of Pillow's PNG raw modes of fewer than 8 bits, decoded scaled to 0..255.
_GREY_STEPS = {"L;2": 85, "L;4": 17}


def grey_key(img: Image.Image) -> int | None:
    """The transparent grey of a greyscale PNG (its tRNS key) as the decoded values hold it,
    or ``None``; read before the image is loaded.

    GDAL reads the key as the image's nodata value, and so does imgstats. A 2- or 4-bit grey
    is decoded scaled to 0..255, and its key with it (Pillow leaves the key unscaled).
    """
    key = img.info.get("transparency")
    if img.format != "PNG" or img.mode not in ("1", "L", "I;16") or not isinstance(key, int):
        return None
    rawmode = img.tile[0].args if img.tile else None
    return key * _GREY_STEPS.get(rawmode, 1)


def colour_key(img: Image.Image) -> tuple[int, int, int] | None:
    """The transparent colour of an RGB PNG (its tRNS key, as stored), or ``None``."""
    key = img.info.get("transparency")
    if img.format != "PNG" or img.mode != "RGB" or not isinstance(key, tuple) or len(key) != 3:
        return None
    return key


#: Band names of the PNGs of 16-bit colour, or grey and alpha, by Pillow's raw mode: Pillow
#: decodes them to 8 bits (RGB, RGBA), so imgstats decodes them with imagecodecs.
_PNG16_BANDS = {"RGB;16B": ("R", "G", "B"), "RGBA;16B": ("R", "G", "B", "A"), "LA;16B": ("L", "A")}


def png16_bands(img: Image.Image) -> tuple[str, ...] | None:
    """The band names of a 16-bit RGB, RGBA or LA PNG (or an APNG's frame of them) opened
    (not loaded) by Pillow, of a PPM of more than 8 bits, or of a JPEG 2000 of 9 to 16 bits
    (:func:`_jp2_wide_bands`), else ``None``; an RGB PNG with a transparent colour has an
    alpha band too. Pillow decodes them to 8 bits (or scales them): imgstats decodes the
    bits they hold."""
    pnm = pnm_tile(img)
    if pnm is not None:
        return ("R", "G", "B") if img.mode == "RGB" and pnm[0] > 255 else None
    if img.format == "JPEG2000" and img.tile:
        return _jp2_wide_bands(img)
    if img.format != "PNG" or not img.tile:
        return None
    bands = _PNG16_BANDS.get(img.tile[0].args)
    if bands is not None and colour_key(img) is not None:
        return (*bands, "A")
    return bands


#: Band names of a JPEG 2000's components, by their number, as Pillow names its modes.
_JP2_BANDS = {1: ("L",), 2: ("L", "A"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}
#: How far into a JPEG 2000 file its codestream's start is looked for: after the JP2
#: header's boxes (a GeoJP2's GML and GeoTIFF boxes are a few KB).
_JP2_HEAD = 1 << 20
#: A JPEG 2000 codestream's start (SOC) and its image and tile size marker (SIZ).
_SOC_SIZ = b"\xff\x4f\xff\x51"


def _jp2_wide_bands(img: Image.Image) -> tuple[str, ...] | None:
    """The band names of a JPEG 2000 that imgstats decodes with imagecodecs
    (:func:`_jp2_layout`), else ``None``."""
    layout = _jp2_layout(img)
    return None if layout is None else layout[0]


def _jp2_layout(img: Image.Image) -> tuple[tuple[str, ...], str] | None:
    """``(band names, numpy type)`` of a JPEG 2000 that imgstats decodes with imagecodecs,
    else ``None``: 1 to 4 full-resolution components of 1 to 7 or 9 to 16 unsigned bits, or
    of signed ones (GDAL's Int8 and Int16), or under a colour box Pillow cannot decode with
    their number (:data:`_PILLOW_FITS`: three bands under a greyscale box, as GDAL writes
    them). Pillow reads one unsigned component scaled to 16 bits (a 12-bit sample of 7 as
    112), several cut to 8 bits, fewer bits shifted up, signed ones as unsigned (an Int16
    -2000 as 30768), and fails on the others; GDAL and imagecodecs give the samples
    stored."""
    return _jp2_deep_layout(_jp2_head(img))


def _jp2_head(img: Image.Image) -> bytes:
    """The first bytes of a JPEG 2000 file, from its open file (Pillow's position kept), else
    from the local file an image whose file Pillow closed was opened from (``b""`` when
    neither can be read)."""
    fp = getattr(img, "fp", None)
    if fp is not None and not _closed(fp):
        pos = fp.tell()
        try:
            fp.seek(0)
            return fp.read(_JP2_HEAD)
        finally:
            fp.seek(pos)
    return _head(img, _JP2_HEAD)


def _jp2_deep_layout(head: bytes) -> tuple[tuple[str, ...], str] | None:
    """:func:`_jp2_layout` of the first bytes ``head`` of a JPEG 2000 file."""
    at = head.find(_SOC_SIZ)  # the codestream's main header
    if at < 0 or len(head) < at + 42:
        return None
    (count,) = struct.unpack_from(">H", head, at + 40)
    parts = head[at + 42 : at + 42 + 3 * count]
    if count not in _JP2_BANDS or len(parts) < 3 * count:
        return None
    bits = max((parts[3 * c] & 0x7F) + 1 for c in range(count))
    signed = {bool(parts[3 * c] & 0x80) for c in range(count)}
    whole = all(parts[3 * c + 1] == parts[3 * c + 2] == 1 for c in range(count))
    if not whole or len(signed) != 1 or bits > 16:
        return None
    colour, alpha = _jp2_boxes(head[:at])
    names = _jp2_band_names(_JP2_BANDS[count], alpha)
    if signed == {True}:
        return names, "int8" if bits <= 8 else "int16"
    if bits != 8:  # Pillow shifts fewer bits up (a 4-bit 15 as 240, a 1-bit 1 as 128)
        return names, "uint16" if bits > 8 else "uint8"
    return (names, "uint8") if count not in _PILLOW_FITS.get(colour, (count,)) else None


#: The component counts with which Pillow decodes a JP2 colour box's enumerated colour
#: space (ISO 15444-1, I.5.3.3): 12 CMYK, 16 sRGB, 17 greyscale, 18 sYCC. With another
#: count (three bands under a greyscale box, as GDAL writes them) it fails ("broken data
#: stream") where GDAL reads the samples as stored.
_PILLOW_FITS = {12: (4,), 16: (3, 4), 17: (1, 2, 4), 18: (3, 4)}


def _jp2_boxes(head: bytes) -> tuple[int | None, int | None]:
    """``(colour space, alpha)`` of a JP2 file's header box, from its first bytes ``head``:
    the enumerated colour space of its colour box (16 sRGB, 17 greyscale...) and the
    component its channel definition box (cdef) calls opacity (type 1; GDAL takes no other
    type for alpha), each ``None`` without (a bare codestream has neither)."""
    colour = alpha = count = None
    header = next((body for kind, body in _boxes(head) if kind == b"jp2h"), b"")
    for kind, body in _boxes(header):
        if kind == b"ihdr" and len(body) >= 10:
            (count,) = struct.unpack_from(">H", body, 8)
        elif kind == b"colr" and len(body) >= 7 and body[0] == 1:
            (colour,) = struct.unpack_from(">I", body, 3)
        elif kind == b"cdef" and len(body) >= 2:
            (entries,) = struct.unpack_from(">H", body)
            if entries == count and len(body) == 2 + 6 * entries:  # else GDAL ignores it
                for i in range(entries):
                    channel, typ, _ = struct.unpack_from(">HHH", body, 2 + 6 * i)
                    alpha = channel if typ == 1 else alpha
    return colour, alpha


def _boxes(within: bytes):
    """``(type, body)`` of each box laid end to end in ``within`` (a body cut short where
    ``within`` ends); stops at the codestream box or a malformed length."""
    at = 0
    while at + 8 <= len(within):
        size, kind = struct.unpack_from(">I4s", within, at)
        head = 8
        if size == 1 and at + 16 <= len(within):
            (size,) = struct.unpack_from(">Q", within, at + 8)
            head = 16
        elif size == 0:
            size = len(within) - at
        if size < head or kind == b"jp2c":
            return
        yield kind, within[at + head : at + size]
        at += size


def _jp2_band_names(names: tuple[str, ...], alpha: int | None) -> tuple[str, ...]:
    """Pillow's band names of a JPEG 2000 (``LA``, ``RGBA``), its last band numbered unless
    its channel definition box calls it opacity (``alpha``), as GDAL reads it: without one
    (or in a bare codestream) a second or fourth component is a colour band like the others
    (GDAL's undefined colour interpretation) and masks nothing."""
    if len(names) > 1 and names[-1] == "A" and alpha != len(names) - 1:
        return (*names[:-1], str(len(names) - 1))
    return names


def _jp2_named(img: Image.Image, names: tuple[str, ...], head: bytes | None = None):
    """The band names ``names`` Pillow gives ``img``, those of a JPEG 2000 of 2 or 4
    components as GDAL reads it (:func:`_jp2_band_names`); ``head``: the file's first bytes,
    read before Pillow loaded the image and let go of its file."""
    if img.format != "JPEG2000" or img.mode not in ("LA", "RGBA"):
        return names
    return _jp2_band_names(names, _jp2_boxes(_jp2_head(img) if head is None else head)[1])


def pnm_tile(img: Image.Image) -> tuple[int, int] | None:
    """``(maxval, offset of the samples)`` of a binary PGM or PPM opened (not loaded) by
    Pillow whose maxval is not 255 (nor a PGM's 65535), else ``None``.

    Pillow decodes those samples one by one in Python (seconds per megapixel: a large one
    held a worker for minutes), and a PPM of more than 8 bits to 8 bits;
    :func:`pnm_samples` reads them with numpy.
    """
    if img.format != "PPM" or len(img.tile) != 1 or img.mode not in ("L", "I", "RGB"):
        return None
    tile = img.tile[0]
    if tile.codec_name != "ppm" or not isinstance(tile.args, tuple):
        return None
    maxval = int(tile.args[-1])
    return (maxval, int(tile.offset)) if 0 < maxval < 65536 else None


def pnm_samples(img: Image.Image, source) -> np.ndarray:
    """The samples of a PGM or PPM that :func:`pnm_tile` names, scaled as Pillow scales them
    (``round(v / maxval * top)``, at most ``top``): to 0..255 for a PGM or PPM of up to 8
    bits, a PGM of more bits to 0..65535 (int32, Pillow's mode ``I``), a PPM of more bits to
    0..65535 as uint16 (the bits it holds, where Pillow keeps 8).

    Raises
    ------
    UnreadableImage
        The file holds fewer samples than its header declares.
    """
    maxval, offset = pnm_tile(img)
    width, height = img.size
    bands = 3 if img.mode == "RGB" else 1
    stored = np.dtype(">u2" if maxval > 255 else "u1")
    count = width * height * bands
    with decoding(source or "image", "cannot be decoded"):
        img.fp.seek(offset)
        data = img.fp.read(count * stored.itemsize)
    if len(data) < count * stored.itemsize:
        raise UnreadableImage(
            f"{_what(source)} is truncated: it holds "
            f"{len(data) // stored.itemsize} of its {count} samples"
        )
    values = np.frombuffer(data, stored)
    top, dtype = (65535, np.int32 if bands == 1 else np.uint16) if maxval > 255 else (255, np.uint8)
    # each stored value's scaled one, looked up: the float arithmetic on every sample held
    # two float64 copies of the image (9x a 12-bit file's bytes at its peak)
    codes = np.arange(1 << (8 * stored.itemsize), dtype=np.float64)
    table = np.minimum(np.round(codes / maxval * top), top).astype(dtype)
    scaled = table[values]
    return scaled.reshape((height, width, bands) if bands > 1 else (height, width))


def _what(source) -> str:
    """How a message names the image: its source, else "this image" (a PIL image of none)."""
    return describe(source) if source else "this image"


def pillow_header(img: Image.Image, source=None) -> dict:
    """Size, band names, numpy type, format, photometric meaning and number of pages of an
    opened image, without decoding it."""
    with decoding(source or "image", "is corrupt"):
        pages = int(getattr(img, "n_frames", 1))
    photometric = pillow_photometric(img.mode)
    bands, dtype = pillow_bands(img)
    return {
        "width": img.size[0],
        "height": img.size[1],
        "bands": list(bands),
        "dtype": dtype,
        "format": img.format or "",
        "photometric": photometric,
        "pages": pages,
    }


def pillow_bands(img: Image.Image) -> tuple[tuple[str, ...], str]:
    """``(band names, numpy type)`` of an opened image's samples, from its header."""
    from PIL import ImageMode

    mode = expanded_mode(img)
    wide = png16_bands(img)
    names = wide or band_names(ImageMode.getmode(mode).bands)
    if wide and img.format == "JPEG2000":
        return tuple(names), _jp2_layout(img)[1]
    return _jp2_named(img, tuple(names)), "uint16" if wide else MODE_DTYPES.get(mode, "uint8")


def band_names(bands) -> tuple[str, ...]:
    """Pillow's band names as imgstats names them: the premultiplied alpha ``a`` of an
    ``RGBa`` or ``La`` image is alpha, ``A``, as a TIFF's associated alpha is (GDAL reads
    it so), its colours kept as stored."""
    return tuple("A" if b == "a" else b for b in bands)


def pillow_photometric(mode: str) -> str:
    """The stored colour model of a Pillow ``mode``, as TIFF names it (``"P"`` is ``"palette"``)."""
    return _PHOTOMETRIC.get(mode, "minisblack" if mode.startswith("I;16") else mode.lower())


def pillow_to_array(
    img: Image.Image, source=None, palette: str = "rgb"
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Decode a Pillow image to the array numpy sees, with its band names.

    Palette images are expanded to RGB (RGBA when they have transparency), or with
    ``palette="index"`` give their class indices (``P``, and ``A`` for a ``PA`` image);
    bilevel images become 0/255 greyscale; animated images give their current (by default
    first) frame.

    Raises
    ------
    UnreadableImage
        Not decodable; a PNG or JPEG 2000 cut short says "is truncated" whichever decoder
        (Pillow's, or imagecodecs' for more than 8 bits) met its end.
    """
    with truncation_told(img, source):
        return _to_array(img, source, palette)


def _to_array(img: Image.Image, source, palette: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """:func:`pillow_to_array`'s decode, its errors as the decoders word them."""
    _check_readable(img, source)
    if pnm_tile(img) is not None and palette != "index":  # before loading, as Pillow would
        arr = pnm_samples(img, source)
        return arr, png16_bands(img) or tuple(img.getbands())
    wide = png16_bands(img)  # before loading: it reads the file's tile
    if wide is not None and palette != "index":  # the 16 bits it holds, not Pillow's high bytes
        if img.format == "JPEG2000":
            import imagecodecs

            with decoding(source or "image", "cannot be decoded"):
                img.fp.seek(0)
                return imagecodecs.jpeg2k_decode(img.fp.read()), wide
        return _png16_samples(img, source, wide), wide
    head = _jp2_head(img) if img.format == "JPEG2000" and img.mode in ("LA", "RGBA") else None
    _load(img, source)  # Pillow may let go of its file: a JPEG 2000's boxes were read before
    if palette == "index":
        if img.mode not in ("P", "PA"):
            from ._meaning import not_a_palette

            what = _what(source)
            if img.format == "GIF" and img.tell() > 0:
                raise InvalidOption(
                    f"palette='index' cannot read frame {img.tell()} of {what}: Pillow decodes "
                    f"a GIF's frames after the first as {img.mode} colours, not as indices"
                )
            raise not_a_palette(f"{what} ({img.mode})")
        with decoding(source or "image", "cannot be decoded"):
            arr = np.asarray(img)
        return arr, ("P",) if arr.ndim == 2 else ("P", "A")
    with decoding(source or "image", "cannot be decoded"):
        mode = expanded_mode(img)
        if mode != img.mode:
            img = img.convert(mode)
        arr = np.asarray(img)
        bands = band_names(img.getbands())
    if head is not None:
        bands = _jp2_named(img, bands, head)
    if img.mode == "I" and _tiff_bits(img) == (32,) and _tiff_unsigned(img):
        arr = arr.view(np.uint32)  # Pillow holds a uint32 TIFF's bits as int32: 2**31 is < 0
    if arr.ndim == 3 and len(bands) != arr.shape[-1]:
        bands = tuple(str(i) for i in range(arr.shape[-1]))
    return arr, bands


@contextlib.contextmanager
def truncation_told(img: Image.Image, source):
    """Within this block, an :class:`UnreadableImage` of a PNG (APNG) or JPEG 2000 whose
    file ends before its data does says "is truncated", in the same words for every bit
    depth: Pillow said "image file is truncated" (or "broken data stream") of an 8-bit one,
    libpng "input stream too small" and OpenJPEG "opj_decode ... failed" of a deeper one."""
    fp, kind = getattr(img, "fp", None), img.format
    try:
        yield
    except UnreadableImage as exc:
        if type(exc) is not UnreadableImage:  # ImageChanged is not the file's fault
            raise
        told = _truncation(fp, kind, source)  # Pillow may let go of fp as it fails
        if told is None:
            raise
        raise told from exc


def _truncation(fp, kind: str | None, source) -> UnreadableImage | None:
    """The error of a PNG or JPEG 2000 file ``fp`` cut short (:func:`ends_early`), else
    ``None``."""
    if fp is None or kind not in ("PNG", "JPEG2000"):
        return None
    try:
        at = fp.tell()
        held = ends_early(fp, kind)
        fp.seek(at)
    except (OSError, ValueError):
        return None
    if held is None:
        return None
    return UnreadableImage(
        f"{_what(source)} is truncated: its {kind} data ends early, after {held} bytes"
    )


#: A PNG chunk's length, type and CRC, and a JPEG 2000 box's length and type, in bytes.
_CHUNK, _BOX = 12, 8
#: The most PNG chunks or JP2 boxes :func:`ends_early` walks, after a decode failed: a PNG
#: of libpng's 8 KiB IDAT chunks holds 128 per MiB; a crafted JP2 of 4-byte boxes (shorter
#: than a box's header: now corrupt at once) walked 0.5 s of Python per 4 MB.
_MOST_PARTS = 1 << 20


def ends_early(fp, kind: str) -> int | None:
    """The size of a PNG or JPEG 2000 (Pillow's format ``kind``) file ``fp`` that ends
    before its data does, else ``None``: a PNG's chunks or a JP2's boxes that declare more
    bytes than it holds (or no ``IEND``), a codestream without its end marker (a raw one, or
    a JP2's codestream box, whatever its length says: then the size where the box ends)."""
    fp.seek(0, 2)
    size = fp.tell()
    fp.seek(0)
    head = fp.read(12)
    if kind == "PNG":
        at, last = 8, None
        for _ in range(_MOST_PARTS):
            if at + _CHUNK > size or last == b"IEND":
                return None if last == b"IEND" and at <= size else size
            fp.seek(at)
            length, last = int.from_bytes(fp.read(4), "big"), fp.read(4)
            at += _CHUNK + length
        return None  # more chunks than walked: not known to end early
    if head[:4] == b"\xff\x4f\xff\x51":  # a raw codestream (.j2k): it ends with EOC
        fp.seek(max(size - 2, 0))
        return None if fp.read(2) == b"\xff\xd9" else size
    at = 0
    for _ in range(_MOST_PARTS):
        if at + _BOX > size:
            return None if at == size else size
        fp.seek(at)
        length = int.from_bytes(fp.read(4), "big")
        box = fp.read(4)
        shortest = _BOX
        if length == 1:  # XLBox: a 64-bit length follows
            length, shortest = int.from_bytes(fp.read(8), "big"), _BOX + 8
        if length == 0:  # the last box, to the end of the file: a codestream's ends with EOC
            fp.seek(max(size - 2, 0))
            return None if box != b"jp2c" or fp.read(2) == b"\xff\xd9" else size
        if length < shortest:  # shorter than its own header: corrupt, not cut short
            return None
        if box == b"jp2c" and at + length <= size:  # a codestream's ends with EOC
            fp.seek(at + length - 2)
            if fp.read(2) != b"\xff\xd9":
                return at + length
        at += length
    return None  # more boxes than walked: not known to end early


def _png16_samples(img: Image.Image, source, bands: tuple[str, ...]) -> np.ndarray:
    """The 16-bit samples of the PNG frame :func:`png16_bands` names ``bands``, decoded by
    imagecodecs (a transparent colour as an alpha sample): the still image, which is an
    APNG's first frame (its IDAT, the picture GDAL reads), or a later frame of an APNG.

    Raises
    ------
    UnreadableImage
        A later frame that covers part of the canvas, or that is blended over the frames
        before it with an alpha of its own: Pillow composes those in 8 bits only, and the
        frame alone is not the picture.
    """
    import imagecodecs
    from PIL.PngImagePlugin import Blend

    frame = img.tell()
    if frame and (
        img.info.get("bbox") != (0, 0, *img.size)
        or (img.info.get("blend") == Blend.OP_OVER and bands[-1] == "A")
    ):
        raise UnreadableImage(
            f"frame {frame} of {_what(source)} cannot be read at its 16 bits: it is drawn "
            "over part of the canvas or blended over the frames before it, which Pillow "
            "composes in 8 bits only (its first frame, page 0, is read)"
        )
    with decoding(source or "image", "cannot be decoded"):
        img.fp.seek(0)
        data = img.fp.read()
        # a later frame alone is the picture: it covers the canvas and replaces what was there
        return imagecodecs.apng_decode(data, index=frame) if frame else imagecodecs.png_decode(data)


def _check_readable(img: Image.Image, source) -> None:
    """Refuse a PIL image whose pixels are still in a file that is closed, or whose 16-bit
    PNG samples Pillow has already decoded to 8 bits.

    Raises
    ------
    InvalidOption
        Not loaded and its file closed (``with Image.open(p) as im: pass``): Pillow failed
        deep inside its decoder. Or loaded from a 16-bit RGB, RGBA or grey-and-alpha PNG
        whose file still says so: Pillow keeps only the high bytes of those samples.
    """
    what = describe(source) if source else "this PIL image"
    tile = getattr(img, "tile", None)  # only an image opened from a file has one
    if tile and _closed(getattr(img, "fp", None)):
        raise InvalidOption(
            f"{what} cannot be decoded: its file is closed and its pixels were never loaded "
            "(reopen it, load() it before closing, or pass the path)"
        )
    bits = max(_tiff_bits(img), default=8)
    if bits > 8 and img.mode in _EIGHT_BIT_MODES:
        raise InvalidOption(
            f"{what} holds 8-bit values: Pillow decodes this TIFF's {bits}-bit {img.mode} "
            f"samples to 8 bits (pass the path for its {bits} bits)"
        )
    if not tile and img.format == "JPEG2000" and _jp2_deep_layout(_head(img, _JP2_HEAD)):
        raise InvalidOption(
            f"{what} holds Pillow's values of a JPEG 2000 of more than 8 bits (or fewer) or of "
            "signed samples, decoded when it was loaded: scaled, cut to 8 bits or made unsigned "
            "(pass the path, or the image before load(), for its samples as stored)"
        )
    if tile or img.format != "PNG" or img.mode not in ("RGB", "RGBA", "LA"):
        return
    if _png_bit_depth(img) == 16:
        raise InvalidOption(
            f"{what} holds 8-bit values: Pillow decoded its 16-bit PNG to 8 bits when it "
            "was loaded (pass the path, or the image before load(), for its 16 bits)"
        )


#: Pillow modes of 8 bits a sample, which it also gives to TIFFs of more (16-bit RGB).
_EIGHT_BIT_MODES = ("L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB")


def _tiff_bits(img: Image.Image) -> tuple[int, ...]:
    """A TIFF frame's BitsPerSample as its file says (Pillow keeps its tags once loaded);
    ``()`` for another image."""
    tags = getattr(img, "tag_v2", None) if img.format == "TIFF" else None
    bits = None if tags is None else tags.get(258)
    if bits is None:
        return ()
    return tuple(int(b) for b in (bits if isinstance(bits, tuple) else (bits,)))


def _tiff_unsigned(img: Image.Image) -> bool:
    """Whether a TIFF frame's samples are unsigned integers (SampleFormat 1, the default)."""
    form = img.tag_v2.get(339, 1)
    return all(int(f) == 1 for f in (form if isinstance(form, tuple) else (form,)))


def _closed(fp) -> bool:
    """Whether a Pillow image's file ``fp`` can no longer be read."""
    if fp is None:
        return True
    try:
        return bool(getattr(fp, "closed", False))
    except ValueError:  # Pillow's stand-in for the file of a closed image raises on any use
        return True


def _head(img: Image.Image, size: int) -> bytes:
    """The first ``size`` bytes of the local file a PIL image was opened from, or ``b""``."""
    filename = getattr(img, "filename", "")
    if not filename:
        return b""
    try:
        with open(filename, "rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def _png_bit_depth(img: Image.Image) -> int | None:
    """The bit depth a PNG file's header declares, or ``None`` when it cannot be read."""
    head = _head(img, 25)
    if len(head) < 25 or not head.startswith(b"\x89PNG\r\n\x1a\n") or head[12:16] != b"IHDR":
        return None
    return head[24]


def _load(img: Image.Image, source) -> None:
    """Decode ``img`` before its mode is read: some formats learn it while decoding.

    An ICNS file opens as RGBA and loads as RGB (its largest icon is a PNG), and
    ``numpy.asarray`` of the image not yet loaded gave pixels of neither mode.

    Raises
    ------
    UnreadableImage
        Pillow's decoded pixels are not of the mode it reports: a GIF frame after a greyscale
        first frame with a palette of its own is decoded as palette indices into a greyscale
        image, so neither its colours nor its indices can be read.
    """
    with decoding(source or "image", "cannot be decoded"):
        img.load()
    core = getattr(img, "im", None)
    if core is not None and core.mode != img.mode:
        what = _what(source)
        frame = f"frame {img.tell()} of " if getattr(img, "n_frames", 1) > 1 else ""
        raise UnreadableImage(
            f"{frame}{what} cannot be decoded: Pillow decodes it as {core.mode} pixels of a "
            f"{img.mode} image, which are neither its colours nor its indices"
        )


def pillow_preview(img: Image.Image, source, max_side: int):
    """Decode an image opened by :func:`open_pillow` at reduced size; return ``(array, bands)``
    of the image's values.

    JPEGs decode at 1/2, 1/4 or 1/8 scale, JPEG 2000s at a reduced resolution level of
    their codestream (:func:`_jp2_preview`); any image still over ``4 * max_side`` is
    box-reduced by Pillow before it becomes a numpy array, so a large PNG costs its decode,
    not copies.
    """
    if img.format == "JPEG2000" and img.tile:
        reduced = _jp2_preview(img, source, max_side)
        if reduced is not None:
            return reduced
    if png16_bands(img) is not None or pnm_tile(img) is not None:  # strided as a TIFF's
        arr, bands = pillow_to_array(img, source)
        step = max(1, max(arr.shape[:2]) // (2 * max_side))
        return arr[::step, ::step], bands
    with truncation_told(img, source):
        return _preview(img, source, max_side)


def _preview(img: Image.Image, source, max_side: int):
    """:func:`pillow_preview` of an image Pillow decodes itself."""
    with decoding(source, "cannot be previewed"):
        if hasattr(img, "draft"):
            img.draft(None, (max_side, max_side))
    _load(img, source)  # after the draft, which only an image not yet loaded takes
    with decoding(source, "cannot be previewed"):
        mode = expanded_mode(img)
        if mode != img.mode:
            img = img.convert(mode)
        factor = max(img.size) // (2 * max_side)
        if max(img.size) > 4 * max_side and img.mode in _REDUCIBLE:
            img = img.reduce(factor)
    return pillow_to_array(img, source)


def _jp2_preview(img: Image.Image, source, max_side: int):
    """``(array, bands)`` of a JPEG 2000 decoded at the lowest resolution level whose longer
    side is at least ``max_side`` (OpenJPEG decodes only the levels up to it: a 4000 x 4000
    file's preview reads a sixteenth of its samples), or ``None`` to decode it whole.

    A level's samples are the codestream's own, as GDAL's overviews of the file read them:
    Pillow's where Pillow reads the file at full resolution (8 bits), and one component of
    more bits or signed samples mapped back from Pillow's (which scales it to its mode) to
    the stored ones. Several such components are decoded whole (``None``): Pillow cuts them
    to 8 bits at every level. A palette's indices have no reduced level (GDAL has none).
    """
    head = _jp2_head(img)
    layout = _jp2_deep_layout(head)
    fp = None if _closed(getattr(img, "fp", None)) else img.fp
    levels = 0 if img.mode in ("P", "PA") else _jp2_levels(head, img.size, max_side, fp)
    if layout is not None and (len(layout[0]) > 1 or not levels):
        return None
    names = pillow_bands(img)[0]
    img.reduce = levels
    if layout is None:
        arr, _ = pillow_to_array(img, source)
        step = max(1, max(arr.shape[:2]) // (2 * max_side))
        return arr[::step, ::step], names
    with truncation_told(img, source):  # a file cut short says so, as its whole decode does
        _load(img, source)
    with decoding(source, "cannot be previewed"):
        scaled = np.asarray(img).astype(np.int32)
    bits, signed = (head[head.find(_SOC_SIZ) + 42] & 0x7F) + 1, layout[1].startswith("int")
    # Pillow holds (v + 2**(bits-1) if signed) << (16 or 8 - bits): an exact inverse
    width = 16 if img.mode.startswith("I;16") else 8
    stored = (scaled >> (width - bits)) - ((1 << (bits - 1)) if signed else 0)
    return stored.astype(layout[1]), names


def _jp2_levels(head: bytes, size: tuple[int, int], max_side: int, fp=None) -> int:
    """How many resolution levels a JPEG 2000's preview drops: the most that keep its longer
    side at least ``max_side``, and no more than the decomposition levels of its
    codestream's main header (its COD marker, or a COC marker's fewer) and of its tile-part
    headers, read from its file ``fp`` (a tile's own COD or COC may have fewer: OpenJPEG
    then refuses to drop more); 0 without them."""
    at = head.find(_SOC_SIZ)
    if at < 0 or len(head) < at + 42:
        return 0
    (count,) = struct.unpack_from(">H", head, at + 40)
    component = 1 if count < 257 else 2  # a COC marker's component index
    pos, levels = at + 2, []
    while pos + 4 <= len(head):
        marker, length = struct.unpack_from(">HH", head, pos)
        if marker == 0xFF52 and pos + 10 <= len(head):  # COD: Scod, SGcod, then SPcod
            levels.append(head[pos + 9])
        elif marker == 0xFF53 and pos + 6 + component <= len(head):  # COC
            levels.append(head[pos + 5 + component])
        elif marker == 0xFF90 and fp is not None:  # the first tile-part: header done
            levels += _tile_part_levels(fp, pos, component)
            break
        elif marker >> 8 != 0xFF or marker == 0xFF90:
            break
        pos += 2 + length
    drop, most = 0, min(levels, default=0)
    while drop < most and max(size) >> (drop + 1) >= max_side:
        drop += 1
    return drop


#: The most tile-parts whose headers :func:`_tile_part_levels` reads (a codestream has at
#: most 65535 tiles); past it, the preview drops no level (it decodes the image whole).
_MOST_TILE_PARTS = 1 << 16
#: The most markers read in all the tile-part headers of a codestream (a real header holds a
#: few): a crafted file of 65,536 tile-parts of 1,024 markers each took a preview 189 s.
_MOST_MARKERS = 1 << 16
#: The most bytes of one tile-part header read (its COD and COC come before its packet
#: lengths); a header longer than this is read no further, and no level is dropped.
_HEADER_BYTES = 1 << 12
#: The shortest tile-part: its SOT marker segment (12 bytes) and its SOD marker (2).
_SHORTEST_TILE_PART = 14


def _tile_part_levels(fp, at: int, component: int) -> list[int]:
    """The decomposition levels that the COD and COC markers of a JPEG 2000's tile-part
    headers set, from its first tile-part (SOT) at byte ``at`` of its file ``fp`` (its
    position kept); ``[0]`` (drop no level: the decode then says what is wrong, if anything)
    for a header that is malformed or longer than these bounds allow. Each tile-part costs
    one read of at most :data:`_HEADER_BYTES`, within the tile-part: all of them read at
    most the file once."""
    levels, keep, budget = [], fp.tell(), [_MOST_MARKERS]
    try:
        for _ in range(_MOST_TILE_PARTS):
            fp.seek(at)
            sot = fp.read(12)  # SOT: marker, Lsot (10), Isot, Psot, TPsot, TNsot
            if len(sot) < 12 or sot[:2] != b"\xff\x90":
                return levels
            (length,) = struct.unpack_from(">I", sot, 6)
            if 0 < length < _SHORTEST_TILE_PART:
                return [0]
            room = _HEADER_BYTES if length == 0 else min(_HEADER_BYTES, length - 12)
            found = _tile_header_levels(fp.read(room), component, budget)
            if found is None:
                return [0]
            levels += found
            if length == 0:  # the last tile-part, to the end of the codestream
                return levels
            at += length
        return [0]
    except (ValueError, struct.error):  # a length the file cannot hold
        return [0]
    finally:
        fp.seek(keep)


def _tile_header_levels(header: bytes, component: int, budget: list[int]) -> list[int] | None:
    """The levels of the COD and COC markers of one tile-part header (``header``: its bytes
    after SOT, up to its SOD marker, the tile's data); ``None`` when it is malformed, runs
    past ``header`` or past the markers left in ``budget`` (``[markers]``, decremented)."""
    levels, pos = [], 0
    while pos + 2 <= len(header):
        budget[0] -= 1
        if budget[0] < 0:
            return None
        (marker,) = struct.unpack_from(">H", header, pos)
        if marker == 0xFF93:  # SOD
            return levels
        if marker >> 8 != 0xFF or pos + 4 > len(header):
            return None
        (length,) = struct.unpack_from(">H", header, pos + 2)
        if length < 2 or pos + 2 + length > len(header):
            return None
        if marker in (0xFF52, 0xFF53):  # COD: Scod, SGcod, then SPcod; COC: Ccoc, Scoc, SPcoc
            at = pos + 4 + (5 if marker == 0xFF52 else component + 1)
            if at >= pos + 2 + length:
                return None
            levels.append(header[at])
        pos += 2 + length
    return None  # no SOD within the bytes read


#: Modes whose images Pillow's ``reduce`` averages.
_REDUCIBLE = ("L", "LA", "RGB", "RGBA", "I", "F", "CMYK")
