"""Names of the statistics: ``min``, ``max``, ``mean``, ``median``, ``pXXX`` and the counts.

The named statistics are :data:`NAMED_FUNCTIONS`: ``min``, ``max``, ``mean``, ``median``,
``sum``, and the counts ``count`` (valid samples), ``masked_pixels`` (samples seen but not
valid: NaN, nodata, masked, alpha 0) and ``valid_percent``. ``docs/statistics.md`` says which
numpy function each equals.

``pXXX`` is a percentile written in ASCII digits, from 0 to 100, with an optional fractional
part: ``p0``, ``p2.5``, ``p99.9``, ``p100``. The number is compared with 0 and 100 as an exact
decimal, never through float rounding: ``p100.000`` is p100, while ``p100.0000000000000001``
(which ``float()`` rounds to 100.0) is refused. Anything else -- ``P10``, ``p.5``, ``p50.``,
``p1e2``, ``p+10``, ``p1_0``, unicode digits, surrounding whitespace -- is refused with
:class:`~imgstats.errors.UnknownFunction`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from .errors import UnknownFunction

__all__ = ["Function", "parse_function", "FUNCTION_PATTERN", "NAMED_FUNCTIONS"]

NAMED_FUNCTIONS = (
    "min",
    "max",
    "mean",
    "median",
    "sum",
    "count",
    "valid_percent",
    "masked_pixels",
)

#: The grammar of a percentile name. ``[0-9]`` and not ``\d``: ``\d`` matches unicode digits.
FUNCTION_PATTERN = r"p(?P<q>[0-9]+(?:\.[0-9]+)?)"
_PERCENTILE = re.compile(FUNCTION_PATTERN)
_MAX_LENGTH = 64
_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Function:
    """A parsed statistic.

    Attributes
    ----------
    name : str
        The name as given (``"p99.9"``, ``"median"``).
    kind : str
        ``"percentile"`` for ``pXXX`` and ``median``, else the name itself (``"min"``,
        ``"count"``...).
    q : float or None
        The percentile in [0, 100] for ``kind == "percentile"`` (50.0 for ``median``).
    """

    name: str
    kind: str
    q: float | None = None


def parse_function(name: str) -> Function:
    """Parse a statistic's name.

    Parameters
    ----------
    name : str or Function
        One of :data:`NAMED_FUNCTIONS` or ``pXXX``; an already parsed
        :class:`Function` is returned as it is, so callers may parse once and pass it on.

    Returns
    -------
    Function

    Raises
    ------
    UnknownFunction
        For any other name (case, whitespace and non-ASCII digits included).

    Examples
    --------
    >>> parse_function("p99.5")
    Function(name='p99.5', kind='percentile', q=99.5)
    >>> parse_function("median").q
    50.0
    """
    if isinstance(name, Function):
        return name
    if not isinstance(name, str):
        raise UnknownFunction(f"function name must be a string, not {type(name).__name__}")
    if name == "median":
        return Function(name, "percentile", 50.0)
    if name in NAMED_FUNCTIONS:
        return Function(name, name)
    match = _PERCENTILE.fullmatch(name) if len(name) <= _MAX_LENGTH else None
    if match is not None:
        # the regex allows digits and one dot only, so Decimal reads it exactly; the bound is
        # checked on that exact value, and only an accepted q is rounded to a float
        if Decimal(match["q"]) <= _HUNDRED:
            return Function(name, "percentile", float(match["q"]))
    shown = name if len(name) <= _MAX_LENGTH else name[:_MAX_LENGTH] + "..."
    raise UnknownFunction(
        f"unsupported function {shown!r}: use {', '.join(NAMED_FUNCTIONS)} or pXXX "
        "with XXX a number from 0 to 100 (p10, p99.9)"
    )
