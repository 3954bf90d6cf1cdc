"""Names of the statistics: ``min``, ``max``, ``mean``, ``median``, ``pXXX`` and the counts.

The named statistics are :data:`NAMED_FUNCTIONS`: ``min``, ``max``, ``mean``, ``median``,
``sum``, ``std`` (population), the counts ``count`` (valid samples), ``masked_pixels``
(samples seen but not valid: NaN, nodata, masked, alpha 0) and ``valid_percent``, and the
categorical ``majority``, ``minority``, ``unique`` and ``value_counts`` of integer images.
Every one is a number but ``value_counts``, a ``{value: count}`` dict
(:data:`SCALAR_FUNCTIONS` lists the numbers).
``docs/statistics.md`` says which numpy function each equals.

``pXXX`` is a percentile written in ASCII digits, from 0 to 100, with an optional fractional
part: ``p0``, ``p2.5``, ``p99.9``, ``p100``. The number is compared with 0 and 100 as an exact
decimal, never through float rounding: ``p100.000`` is p100, while ``p100.0000000000000001``
(which ``float()`` rounds to 100.0) is refused. Anything else -- ``P10``, ``p.5``, ``p50.``,
``p1e2``, ``p+10``, ``p1_0``, unicode digits, surrounding whitespace -- is refused with
:class:`~imgstats.errors.UnknownFunction`.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext

from .errors import InvalidOption, UnknownFunction

__all__ = [
    "Function",
    "parse_function",
    "with_method",
    "with_scaled",
    "check_scale",
    "check_method",
    "did_you_mean",
    "shown_name",
    "FUNCTION_PATTERN",
    "NAMED_FUNCTIONS",
    "SCALAR_FUNCTIONS",
    "QUANTILE_METHODS",
]

NAMED_FUNCTIONS = (
    "min",
    "max",
    "mean",
    "median",
    "sum",
    "count",
    "valid_percent",
    "masked_pixels",
    "std",
    "majority",
    "minority",
    "unique",
    "value_counts",
)
#: The named statistics whose answer is one number (all but ``value_counts``).
SCALAR_FUNCTIONS = tuple(n for n in NAMED_FUNCTIONS if n != "value_counts")

#: The grammar of a percentile name. ``[0-9]`` and not ``\d``: ``\d`` matches unicode digits.
FUNCTION_PATTERN = r"p(?P<q>[0-9]+(?:\.[0-9]+)?)"
_PERCENTILE = re.compile(FUNCTION_PATTERN)
#: numpy's 13 percentile methods (``numpy.percentile(..., method=)``).
QUANTILE_METHODS = (
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
    "hazen",
    "weibull",
    "linear",
    "median_unbiased",
    "normal_unbiased",
    "lower",
    "higher",
    "midpoint",
    "nearest",
)

_MAX_LENGTH = 64
_HUNDRED = Decimal(100)
#: Names people reach for from numpy, pandas or other tools, and the statistic that answers them.
_ALIASES = {
    "average": "mean",
    "avg": "mean",
    "mode": "majority",
    "stdev": "std",
    "stddev": "std",
    "total": "sum",
    "minimum": "min",
    "maximum": "max",
    "nunique": "unique",
}


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
        The percentile in [0, 100] for ``kind == "percentile"`` (50.0 for ``median``, which
        is ``numpy.median`` all the same: the mean of the middle one or two samples).
    method : str
        numpy's percentile method of a ``pXXX`` (``numpy.percentile(..., method=)``, one of
        :data:`~imgstats.summary.QUANTILE_METHODS`); :func:`with_method` sets it.
    scaled : bool or tuple of float
        Of the physical values ``value * scale + offset`` rather than the stored ones:
        ``True`` with the image's own scale and offset (GDAL's metadata), a ``(scale,
        offset)`` pair with these; :func:`with_scaled` sets it.

    Examples
    --------
    >>> import imgstats
    >>> imgstats.parse_function("p99.9")
    Function(name='p99.9', kind='percentile', q=99.9, method='linear', scaled=False)
    >>> imgstats.parse_function("median").q
    50.0
    """

    name: str
    kind: str
    q: float | None = None
    method: str = "linear"
    scaled: bool | tuple = False


def with_method(func, method: str | None):
    """``func`` (a name, a :class:`Function` or a list of them) parsed, with ``method``.

    ``None`` leaves ``func`` as it is. Raises :class:`~imgstats.errors.InvalidOption` for a
    method numpy does not have and :class:`~imgstats.errors.UnknownFunction` for a bad name.
    """
    if method is None:
        return func
    check_method(method)
    if isinstance(func, (list, tuple)):
        return [replace(parse_function(f), method=method) for f in func]
    return replace(parse_function(func), method=method)


def with_scaled(func, scaled: bool = False, scale=None, offset=None):
    """``func`` (a name, a :class:`Function` or a list of them) parsed, of physical values.

    ``scaled=True`` reads the image's own scale and offset; ``scale``/``offset`` give them
    (and imply ``scaled``; a missing one is 1 or 0). Nothing asked leaves ``func`` as it is.

    Raises
    ------
    InvalidOption
        ``scaled`` not a bool, or a scale that is zero, not finite or not a number, or an
        offset that is not a finite number.
    """
    if scale is None and offset is None:
        if scaled is False or scaled is None:
            return func
        if scaled is not True:
            raise InvalidOption(f"scaled must be True or False, not {scaled!r}")
        how: bool | tuple = True
    else:
        how = (check_scale(1.0 if scale is None else scale, "scale"),)
        how += (check_scale(0.0 if offset is None else offset, "offset"),)
    if isinstance(func, (list, tuple)):
        return [replace(parse_function(f), scaled=how) for f in func]
    return replace(parse_function(func), scaled=how)


def check_scale(value, what: str = "scale") -> float:
    """A scale (finite, not zero) or an offset (finite) as a float, else InvalidOption."""
    if isinstance(value, str):
        try:
            if "_" in value or not value.isascii():  # float() reads "1_0" and "٣" (3.0)
                raise ValueError
            value = float(value)
        except ValueError:
            raise InvalidOption(f"{what} must be a number, not {value[:64]!r}") from None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        and not hasattr(value, "__float__")
    ):
        raise InvalidOption(f"{what} must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except (TypeError, ValueError):  # an array of several values has __float__ too
        raise InvalidOption(f"{what} must be one number, not {type(value).__name__}") from None
    if not math.isfinite(number) or (what == "scale" and number == 0):
        wanted = "a finite number other than 0" if what == "scale" else "a finite number"
        raise InvalidOption(f"{what} must be {wanted}, not {number!r}")
    return number


def shown_name(name) -> str:
    """``repr(name)`` for a message, a string of over 64 characters cut there (with
    ``...``): a name a client sent, 3,000 characters long, is not sent back whole.

    >>> shown_name("R")
    "'R'"
    >>> shown_name("R" * 100) == repr("R" * 64) + "..."
    True
    """
    if isinstance(name, str) and len(name) > _MAX_LENGTH:
        return repr(name[:_MAX_LENGTH]) + "..."
    return repr(name)


def check_method(method) -> str:
    """Return ``method`` if it is one of numpy's percentile methods, else raise InvalidOption."""
    if not isinstance(method, str) or method not in QUANTILE_METHODS:
        if not isinstance(method, str):
            shown = f"of type {type(method).__name__}"
        else:  # a long one cut, not named by its type: 'str' read as the method given
            shown = shown_name(method)
        raise InvalidOption(
            f"unknown percentile method {shown}{did_you_mean(method, QUANTILE_METHODS)}: "
            f"use one of {', '.join(QUANTILE_METHODS)}"
        )
    return method


def _percent_hint(number) -> str:
    """`` (a percentile is named 'p99')`` for a number in [0, 100] given as a function: a
    quantile 0.99 reads as a percent, 99 as itself."""
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        return ""
    if not 0 <= number <= 100:
        return ""
    typed = Decimal(repr(number))  # as typed: 0.9999999 * 100 in floats is 99.99999000000001
    digits = format(typed * 100 if isinstance(number, float) and number <= 1 else typed, "f")
    name = "p" + (digits.rstrip("0").rstrip(".") if "." in digits else digits)
    try:  # offered only as a name that parses (not 'p-0', or one cut to 'p100')
        parse_function(name)
    except (InvalidOption, UnknownFunction):
        return ""
    return f" (a percentile is named as a string: {name!r})"


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
    Function(name='p99.5', kind='percentile', q=99.5, method='linear', scaled=False)
    >>> parse_function("median").q
    50.0
    """
    if isinstance(name, Function):
        return name
    if not isinstance(name, str):
        if isinstance(name, (set, frozenset)):
            several = " (several: a list or tuple of names)"
        else:
            several = _percent_hint(name)
        raise UnknownFunction(f"function name must be a string, not {type(name).__name__}{several}")
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
    hint = _hint(_suggest(name)) if len(name) <= _MAX_LENGTH else ""
    raise UnknownFunction(
        f"unsupported function {shown!r}{hint}: use {', '.join(NAMED_FUNCTIONS)} or pXXX "
        "with XXX a number from 0 to 100 (p10, p99.9)"
    )


def _suggest(name: str) -> str | None:
    """The statistic a refused name most likely meant, or None.

    Case and surrounding whitespace (``" Median"``, ``"P99"``), a percent sign or a spelled
    prefix on a percentile (``"p99%"``, ``"percentile99"``), a quantile (``"0.99"``), a name
    from another tool (``"average"``, ``"mode"``) and a typo (``"mdian"``) each lead to one
    valid name.
    """
    folded = name.strip().lower().replace(" ", "")
    folded = _ALIASES.get(folded, folded)
    number = re.fullmatch(r"(p|pct|perc|percentile|q|quantile)?_?([0-9]*\.?[0-9]+)%?", folded)
    if number is not None:
        q = Decimal(number[2])
        # a quantile, as numpy.quantile and pandas take it: 0.99 is p99
        quantile = number[1] in (None, "q", "quantile") and "." in number[2] and q <= 1
        return _percentile_named(q, quantile, name)
    if folded != name and _accepted(folded):
        return folded
    return _closest(folded, NAMED_FUNCTIONS)


def _percentile_named(q: Decimal, quantile: bool, name: str) -> str | None:
    """``pXXX`` for a number a user wrote (``quantile``: times 100), other than ``name``: the
    user's own digits when :func:`parse_function` takes that name, else, past the name's
    length, the shortest decimal that parses to the same percentile (``99.`` and 61 ones:
    ``p99.11111111111111``); None above 100, which no rounding makes a percentile."""
    with localcontext(prec=4 * _MAX_LENGTH):  # exact: Decimal's 28 digits rounded them
        q = q.scaleb(2) if quantile else q
        named = [f"p{q.normalize():f}"]
    if q <= _HUNDRED:
        named.append(f"p{Decimal(repr(float(q))).normalize():f}")
    # a name other than the one refused: asking parse_function about it again would loop
    return next((n for n in named if n != name and _accepted(n)), None)


def did_you_mean(given: str, choices) -> str:
    """`` (did you mean 'X'?)`` for the one of ``choices`` that ``given`` most likely meant
    (the same name in another case, else the closest by :mod:`difflib`), or ``""``.

    Examples
    --------
    >>> did_you_mean("r", ["R", "G", "B"])
    " (did you mean 'R'?)"
    >>> did_you_mean("Linear", QUANTILE_METHODS)
    " (did you mean 'linear'?)"
    >>> did_you_mean("storage", ["storage_options", "page", "band"])
    " (did you mean 'storage_options'?)"
    """
    return _hint(_closest(given, choices))


def _closest(given: str, choices) -> str | None:
    """The one of ``choices`` that ``given`` most likely meant (see :func:`did_you_mean`)."""
    if not isinstance(given, str) or len(given) > _MAX_LENGTH:
        return None
    names = [c for c in choices if isinstance(c, str)]
    folded = given.strip().casefold()
    same = [c for c in names if c.casefold() == folded]
    if not same:
        same = difflib.get_close_matches(given, names, n=1, cutoff=0.75)
    if not same and len(folded) >= 3:  # the start of a longer name: storage, storage_options
        same = [c for c in names if c.casefold().startswith(folded)]
    return same[0] if len(same) == 1 else None


def _hint(guess: str | None) -> str:
    """`` (did you mean 'X'?)`` for a guess, ``""`` for none."""
    return f" (did you mean {guess!r}?)" if guess else ""


def _accepted(name: str) -> bool:
    """Whether :func:`parse_function` takes ``name``: its own verdict, so that a suggestion
    is never a name it refuses. (Refusing ``name``, it asks :func:`_suggest` in turn, which
    stops there: folding a folded name changes nothing.)"""
    try:
        parse_function(name)
    except UnknownFunction:
        return False
    return True
