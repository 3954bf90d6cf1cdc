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


def pillow_to_array(img: Image.Image, source=None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Decode a Pillow image to the array numpy sees, with its band names.

    Palette images are expanded to RGB (RGBA when they have transparency); bilevel images
    become 0/255 greyscale; animated images give their first frame.
    """
    try:
        if img.mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        elif img.mode == "PA":
            img = img.convert("RGBA")
        elif img.mode == "1":
            img = img.convert("L")
        arr = np.asarray(img)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnreadableImage(f"{describe(source or 'image')} cannot be decoded: {exc}") from exc
    bands = tuple(img.getbands())
    if arr.ndim == 3 and len(bands) != arr.shape[-1]:
        bands = tuple(str(i) for i in range(arr.shape[-1]))
    return arr, bands
