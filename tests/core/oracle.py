"""numpy as the oracle: what every imgstats statistic must equal, and small test-data helpers."""

from __future__ import annotations

import math
import struct
import zlib
from fractions import Fraction

import numpy as np

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
        else:
            q = 50.0 if name == "median" else float(name[1:])
            want = expected_percentile(v, q)
            assert type(got) is float
            assert same_number(got, want), (name, got, want, v.dtype)


# -- files --------------------------------------------------------------------------------------
def png_declaring(width: int, height: int, *, bit_depth: int = 8, colour_type: int = 0) -> bytes:
    """A tiny, hand-made PNG whose IHDR declares ``width`` x ``height`` pixels.

    Its only IDAT holds a few zero rows, so it is a few dozen bytes however large it claims
    to be: a decompression bomb's header without the bomb.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )
