"""Pillow decoding: JPEG, PNG, GIF, BMP, WebP and anything else Pillow reads."""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import ImageTooLarge, UnreadableImage
from ._sources import describe


def open_pillow(fh, source, pixel_limit: int) -> Image.Image:
    """Open an image lazily with Pillow and check its declared size before any decoding.

    Raises
    ------
    ImageTooLarge
        More than ``pixel_limit`` pixels are declared (or Pillow's own bomb guard fires).
    UnreadableImage
        Not an image Pillow knows.
    """
    try:
        with warnings.catch_warnings():
            # pixel_limit decides just below; Pillow's warning (images over MAX_IMAGE_PIXELS but
            # under twice that) would otherwise escape as an error under ``-W error``.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(fh)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"{describe(source)}: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise UnreadableImage(f"{describe(source)} is not an image imgstats can read") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnreadableImage(f"{describe(source)} is corrupt: {exc}") from exc
    width, height = img.size
    check_pixels(width, height, pixel_limit, source)
    return img


def check_pixels(width: int, height: int, pixel_limit: int | None, source) -> None:
    """Refuse an image that declares more than ``pixel_limit`` pixels."""
    if pixel_limit is not None and width * height > pixel_limit:
        raise ImageTooLarge(
            f"{describe(source)} declares {width}x{height} = {width * height:,} pixels, "
            f"over the limit of {pixel_limit:,}"
        )


#: numpy types of Pillow's non-8-bit modes (every other mode is uint8).
MODE_DTYPES = {"I": "int32", "F": "float32", "I;16": "uint16", "I;16L": "uint16",
               "I;16B": "uint16", "I;16N": "uint16"}


def expanded_mode(img: Image.Image) -> str:
    """The mode imgstats decodes ``img`` to: palettes expand to RGB(A), bilevel to L."""
    if img.mode == "P":
        return "RGBA" if "transparency" in img.info else "RGB"
    if img.mode == "PA":
        return "RGBA"
    if img.mode == "1":
        return "L"
    return img.mode


def pillow_header(img: Image.Image) -> dict:
    """Size, band names, numpy type and format of an opened image, without decoding it."""
    from PIL import ImageMode

    mode = expanded_mode(img)
    return {"width": img.size[0], "height": img.size[1],
            "bands": list(ImageMode.getmode(mode).bands),
            "dtype": MODE_DTYPES.get(mode, "uint8"), "format": img.format or ""}


def pillow_to_array(img: Image.Image, source=None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Decode a Pillow image to the array numpy sees, with its band names.

    Palette images are expanded to RGB (RGBA when they have transparency); bilevel images
    become 0/255 greyscale; animated images give their first frame.
    """
    try:
        mode = expanded_mode(img)
        if mode != img.mode:
            img = img.convert(mode)
        arr = np.asarray(img)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnreadableImage(f"{describe(source or 'image')} cannot be decoded: {exc}") from exc
    bands = tuple(img.getbands())
    if arr.ndim == 3 and len(bands) != arr.shape[-1]:
        bands = tuple(str(i) for i in range(arr.shape[-1]))
    return arr, bands
