"""io's limits: the bomb guard's default and the sizes that choose eager or lazy reading.

A leaf module (it imports nothing of imgstats but its errors), so that the readers
(:mod:`._plan`, :mod:`._tiff`, :mod:`._open`) read the limits without importing the package
face :mod:`imgstats.io`, which imports them. Tests and callers change a limit here
(``monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)``): the readers look it up at
call time.
"""

from __future__ import annotations

import numbers
import os

from ..errors import InvalidOption

__all__ = [
    "DEFAULT_PIXEL_LIMIT",
    "EAGER_BYTES",
    "CHUNK_BYTES",
    "pixel_limit_default",
    "check_pixel_limit",
]

#: Default decompression-bomb guard: images declaring more pixels (width x height) are refused.
DEFAULT_PIXEL_LIMIT = 1 << 30
#: TIFFs larger than this many bytes are read lazily through dask, chunk by chunk.
EAGER_BYTES = 64 << 20
#: Target bytes of one dask chunk of a lazily read TIFF.
CHUNK_BYTES = 32 << 20


def pixel_limit_default() -> int:
    """The pixel limit from ``IMGSTATS_PIXEL_LIMIT``, else :data:`DEFAULT_PIXEL_LIMIT`."""
    value = os.environ.get("IMGSTATS_PIXEL_LIMIT")
    if not value:
        return DEFAULT_PIXEL_LIMIT
    try:
        limit = int(value)
    except ValueError:  # e.g. "1e9": our error (the CLI prints it), not a bare ValueError
        limit = 0
    if limit < 1:  # "-1" refused every image "over the limit of -1"
        raise InvalidOption(
            f"IMGSTATS_PIXEL_LIMIT must be a whole number of pixels of 1 or more, not {value!r}"
        )
    return limit


def check_pixel_limit(pixel_limit) -> int:
    """A ``pixel_limit`` option as an int (``None``: :func:`pixel_limit_default`).

    Raises
    ------
    InvalidOption
        Not a whole number: ``"1e9"`` or ``2.5e8`` reached a TIFF reader's comparison, a
        ``TypeError`` reported as an unreadable file; or below 1, which refused every image
        "over the limit of -5".
    """
    if pixel_limit is None:
        return pixel_limit_default()
    if (
        isinstance(pixel_limit, bool)
        or not isinstance(pixel_limit, numbers.Integral)
        or pixel_limit < 1
    ):
        raise InvalidOption(
            f"pixel_limit must be a whole number of pixels of 1 or more, not {pixel_limit!r}"
        )
    return int(pixel_limit)
