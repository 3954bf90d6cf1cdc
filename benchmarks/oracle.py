"""numpy as the oracle: what every imgstats statistic must equal.

The one reference of the tests and the benchmarks. :func:`numpy_stats` is numpy's own answer,
as fast as numpy gives it (the benchmarks time it as the "numpy" method and judge every other
method against it). The ``expected_*`` functions and :func:`check_all` are the exact
definitions the tests hold imgstats to, including the cases where numpy's own arithmetic is
not the truth (signed-integer interpolation that overflows, the mean rounded once): slower,
for small test arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

__all__ = [
    "NAMED",
    "INT_DTYPES",
    "FLOAT_DTYPES",
    "ALL_DTYPES",
    "numpy_stats",
    "errors_against",
    "valid_samples",
    "numpy_ranks",
    "expected_percentile",
    "expected_mean",
    "same_number",
    "check_all",
]

NAMED = ("min", "max", "mean", "median")

INT_DTYPES = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64"]
FLOAT_DTYPES = ["float32", "float64"]
ALL_DTYPES = INT_DTYPES + FLOAT_DTYPES


def valid_samples(values) -> np.ndarray:
    """All samples numpy's nan-functions look at: flattened, NaN removed."""
    v = np.asarray(values).ravel()
    if v.dtype.kind == "f":
        v = v[~np.isnan(v)]
    return v


def numpy_ranks(n: int, q: float) -> tuple[int, int, float]:
    """numpy.percentile's (linear method) two ranks and weight, as in numpy's ``_quantile``."""
    virtual = (n - 1) * np.true_divide(q, 100)
    lo = math.floor(virtual)
    if virtual >= n - 1:
        return n - 1, n - 1, float(virtual - lo)
    return lo, lo + 1, float(virtual - lo)


def expected_percentile(values, q: float):
    """``numpy.percentile(valid, q)``, or ``(exact, "approx")`` where numpy itself overflows.

    numpy interpolates with ``b - a`` computed in the array's own type, which wraps around for
    signed integers (int8 -128 and 127 give 127.5 as the median). imgstats documents the
    mathematically right value instead, so for signed types narrower than 64 bits the oracle
    is numpy on the values cast to int64 (where the difference is exact and the rest of
    numpy's formula is unchanged). For int64 pairs whose difference does not fit in int64
    there is no numpy reference at all: the oracle is then the exact value (a Fraction) and
    a tolerance of a few ulps of the operands (numpy's formula in float64 cancels there).
    """
    v = valid_samples(values)
    q = float(q)
    with np.errstate(all="ignore"):
        if v.dtype.kind == "i" and v.dtype.itemsize < 8:
            return np.percentile(v.astype(np.int64), q)
        if v.dtype.kind == "i":
            lo, hi, t = numpy_ranks(v.size, q)
            s = np.sort(v)
            a, b = int(s[lo]), int(s[hi])
            if not -(2**63) <= b - a < 2**63:
                # float64 interpolation of operands near 2**63: a few of their ulps
                return Fraction(a) + Fraction(b - a) * Fraction(t), 4 * math.ulp(max(-a, b))
        return np.percentile(v, q)


def expected_mean(values) -> float:
    """The exact mean of the valid samples, rounded once to float64 (numpy's inf rules)."""
    v = valid_samples(values)
    if v.dtype.kind == "f" and np.isinf(v).any():
        pos, neg = bool(np.isposinf(v).any()), bool(np.isneginf(v).any())
        return math.nan if pos and neg else (math.inf if pos else -math.inf)
    if v.dtype.kind == "f":
        total = sum((Fraction(float(x)) for x in v), Fraction(0))
    else:
        total = Fraction(sum(int(x) for x in v.tolist()))
    return float(total / v.size)


def same_number(got, want) -> bool:
    """``got == want`` to the last bit, NaN equal to NaN (numpy's lerp gives NaN next to inf)."""
    if isinstance(want, tuple):  # (exact Fraction, tolerance): int64 beyond numpy's reach
        exact, tolerance = want
        return abs(Fraction(got) - exact) <= tolerance
    want = want.item() if isinstance(want, np.generic | np.ndarray) else want
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    return got == want


def check_all(result: dict, values, funcs) -> None:
    """Assert every statistic in ``result`` equals the oracle on ``values``."""
    v = valid_samples(values)
    kind = v.dtype.kind
    for name in funcs:
        got = result[name]
        assert type(got) in (int, float), (name, type(got))
        if name in ("min", "max"):
            want = getattr(np, name)(v).item()
            assert type(got) is (int if kind in "uib" else float), (name, type(got))
            assert got == want, (name, got, want)
        elif name == "mean":
            assert type(got) is float
            want = expected_mean(v)
            assert same_number(got, want), (name, got, want)
            if kind in "ui":  # and close to numpy's own float64 mean (which cancels)
                scale = float(np.abs(v.astype(np.float64)).max())
                slack = 4 * v.size * np.finfo(np.float64).eps * scale + 1e-12
                assert abs(got - np.mean(v, dtype=np.float64)) <= slack, (name, got)
        elif name == "median":  # numpy.median: the mean of the middle one or two samples
            with np.errstate(all="ignore"):  # float32 middles may overflow, as in numpy
                want = np.median(v)
            assert type(got) is float
            assert same_number(got, want), (name, got, want, v.dtype)
        else:
            q = float(name[1:])
            want = expected_percentile(v, q)
            assert type(got) is float
            assert same_number(got, want), (name, got, want, v.dtype)


# -- numpy's own answers, fast -------------------------------------------------------------------
def _percentiles(funcs) -> tuple[list[str], list[float]]:
    """The ``pXXX`` names of ``funcs`` (not ``median``) and their ``q``."""
    from imgstats import parse_function

    pcts = [f for f in funcs if parse_function(f).kind == "percentile" and f != "median"]
    return pcts, [parse_function(f).q for f in pcts]


def numpy_stats(arr, funcs: Sequence[str] = ("min", "max", "mean", "median")) -> dict:
    """Compute ``funcs`` with numpy: the reference of the benchmarks.

    ``numpy.min``/``max``, ``numpy.mean(dtype=float64)``, ``numpy.median`` and
    ``numpy.percentile(arr, q)`` for each ``pXXX`` (NaN-ignoring variants for float arrays with
    NaN, as imgstats ignores NaN). One call per ``q``, with ``q`` a Python float, is the
    reference imgstats promises to equal: with a *list* of ``q``, numpy interpolates float32
    images in float64 instead, which can differ in the last float32 bit. For signed integers
    whose interpolation overflows in numpy, :func:`expected_percentile` is the truth.

    Parameters
    ----------
    arr : array_like
        All samples count, whatever the shape (as ``band=None`` in imgstats).
    funcs : sequence of str

    Returns
    -------
    dict
        ``{func: value}`` as Python numbers.
    """
    arr = np.asarray(arr)
    nan = arr.dtype.kind == "f" and bool(np.isnan(arr).any())
    out: dict[str, float] = {}
    pcts, qs = _percentiles(funcs)
    percentile = np.nanpercentile if nan else np.percentile
    for f, q in zip(pcts, qs, strict=True):
        out[f] = np.asarray(percentile(arr, q)).item()
    for f in funcs:
        if f == "min":
            out[f] = (np.nanmin if nan else np.min)(arr).item()
        elif f == "max":
            out[f] = (np.nanmax if nan else np.max)(arr).item()
        elif f == "mean":
            out[f] = (np.nanmean if nan else np.mean)(arr, dtype=np.float64).item()
        elif f == "median":
            out[f] = (np.nanmedian if nan else np.median)(arr).item()
    return {f: out[f] for f in funcs}


def errors_against(values: dict, reference: dict) -> dict[str, float]:
    """Return ``{func: abs(values[func] - reference[func])}`` (0.0 when both are equal).

    Examples
    --------
    >>> errors_against({"a": 1, "b": 2.5}, {"a": 1, "b": 2.0})
    {'a': 0.0, 'b': 0.5}
    """
    out = {}
    for f, ref in reference.items():
        v = values[f]
        out[f] = 0.0 if v == ref or (v != v and ref != ref) else abs(float(v) - float(ref))
    return out
