"""Settings given as numbers (``IMGSTATS_<KEY>``): converted to their type and checked against
their least value, with a message that names the setting."""

from __future__ import annotations

import math

from ..errors import InvalidOption

__all__ = ["number", "check_range"]


def number(config, key: str, kind: type) -> int | float:
    """``config[key]`` as ``kind``, or InvalidOption naming the setting (a JSON float such as
    ``1e3`` is a whole number when it is one)."""
    value = config[key]
    try:
        if kind is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or (kind is int and isinstance(value, float)):
            raise ValueError
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        what = "a whole number" if kind is int else "a number"
        raise InvalidOption(
            f"invalid imgstats setting: {key} (IMGSTATS_{key}) must be {what}, not {value!r}"
        ) from None


def check_range(key: str, value: int | float, lowest: int | float) -> None:
    """InvalidOption unless ``value`` is finite and at least ``lowest``; a float ``lowest``
    (``0.0``) means greater than it."""
    positive = isinstance(lowest, float)
    if not (math.isfinite(value) and value >= lowest) or (positive and value == lowest):
        least = f"greater than {lowest:g}" if positive else f"at least {lowest}"
        raise InvalidOption(
            f"invalid imgstats setting: {key} (IMGSTATS_{key}) must be a finite number "
            f"{least}, not {value!r}"
        )
