"""The mergeable, exact summary of an image's samples.

Every sample is mapped to an unsigned *key* whose order is the order of the values (integers
are offset by the type's minimum; floats have their sign bit flipped, or all bits when
negative). A summary holds, per band, a histogram of the top 16 bits of the key together with
the exact count, minimum, maximum and sum. Summaries of chunks add up: the merge is a sum of
histograms, so any chunking, thread or dask worker gives the same answer.

* For 8- and 16-bit integers the histogram covers the whole key: every statistic is read from
  it, with no further look at the pixels.
* For 32- and 64-bit types, percentiles need the exact order statistics inside one or two
  histogram bins. A *refinement* pass counts the next 16 bits of the keys in those bins (or
  collects them when at most :data:`COLLECT_LIMIT` fall there) -- radix selection, never a
  sample. Refinements are stored in the summary, so later questions near them are free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from . import _codec
from ._valid_samples import ValidSamples
from .errors import InvalidOption, NeedsRefinement, NoValidSamples
from .functions import (
    QUANTILE_METHODS,
    Function,
    check_method,
    did_you_mean,
    parse_function,
    shown_name,
    with_method,
    with_scaled,
)

__all__ = [
    "BandStats",
    "Summary",
    "NeedsRefinement",
    "COLLECT_LIMIT",
    "VALUES_LIMIT",
    "WIDE_COLLECT_LIMIT",
    "collect_limit",
    "key_bits_of",
    "QUANTILE_METHODS",
    "check_method",
    "quantile_positions",
    "value_of_sorted",
]

#: A bin with at most this many samples is refined by collecting its keys, not by a histogram.
COLLECT_LIMIT = 1 << 16
#: ... for 64-bit keys: a histogram of the next 16 bits would leave 32 more bits to find in
#: other passes, so bins of up to this many keys (32 MB) are collected to answer in one pass.
WIDE_COLLECT_LIMIT = 1 << 22
#: Refinement "shifts" of the nodes that are no bin of keys: the exact sum of the squares of a
#: selection's samples (``std`` of 32- and 64-bit types), and the count of each of its
#: distinct values (the categorical statistics of 32- and 64-bit integers).
SQUARES, VALUES = -1, -2
#: The most distinct values the categorical statistics answer (a class raster's classes): as
#: many as a 16-bit image can hold, so 8- and 16-bit images are never refused.
VALUES_LIMIT = 1 << 16
#: The kinds of those nodes.
SPECIAL_KINDS = frozenset({"squares", "values", "too_many"})


def _too_many(what: str) -> str:
    return (
        f"{what} answers images of at most {VALUES_LIMIT:,} distinct values (class rasters); "
        "this one has more"
    )


_SMALL_INTS = {"u1", "i1", "u2", "i2"}


def key_bits_of(dtype: np.dtype) -> int:
    """Return the width in bits of the order-preserving key for ``dtype``.

    Raises
    ------
    InvalidOption
        For types without an order (complex, object, strings).
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return 8
    if dtype.kind in "ui" and dtype.itemsize in (1, 2, 4, 8):
        return dtype.itemsize * 8
    if dtype.kind == "f" and dtype.itemsize in (4, 8):
        return dtype.itemsize * 8
    raise InvalidOption(f"unsupported pixel type {dtype}: use integers, float32 or float64")


def collect_limit(dtype) -> int:
    """Keys in a bin up to which a refinement collects them rather than counting 16 more bits."""
    return WIDE_COLLECT_LIMIT if key_bits_of(dtype) > 32 else COLLECT_LIMIT


def _bins(key_bits: int) -> int:
    return 1 << min(16, key_bits)


def _top_shift(key_bits: int) -> int:
    return max(0, key_bits - 16)


def float32_keys(bits: np.ndarray) -> np.ndarray:
    """The order-preserving keys (uint32) of float32 samples given as their bit patterns:
    the sign bit of a positive number flipped, every bit of a negative one."""
    return np.where(bits >> 31, ~bits, bits | np.uint32(0x80000000))


def float_key_constants(dtype):
    """The unsigned type of a float type's bits, its sign bit, and the bits of +inf (a NaN's
    magnitude lies above them), as the key kernels take them."""
    kdt = np.dtype(f"u{np.dtype(dtype).itemsize}")
    top = kdt.type(1 << (8 * kdt.itemsize - 1))
    inf = kdt.type(0x7F800000 if kdt.itemsize == 4 else 0x7FF0000000000000)
    return kdt, top, inf


def float_keys(bits: np.ndarray) -> np.ndarray:
    """:func:`float32_keys` of float32 (uint32) or float64 (uint64) bit patterns, same type."""
    width = bits.dtype.type(8 * bits.itemsize - 1)
    return np.where(bits >> width, ~bits, bits | (bits.dtype.type(1) << width))


def keys_to_values(keys, dtype: np.dtype) -> np.ndarray:
    """Map order-preserving keys (uint64 array) back to values of ``dtype``."""
    dtype = np.dtype(dtype)
    keys = np.asarray(keys, dtype=np.uint64)
    if dtype.kind == "b":
        return keys.astype(bool)
    if dtype.kind == "u":
        return keys.astype(dtype)
    if dtype.kind == "i":
        bits = dtype.itemsize * 8
        return (keys ^ np.uint64(1 << (bits - 1))).astype(f"u{dtype.itemsize}").view(dtype)
    bits = dtype.itemsize * 8
    sign = np.uint64(1 << (bits - 1))
    mask = np.uint64((1 << bits) - 1)
    raw = np.where(keys & sign, keys ^ sign, ~keys & mask)
    return raw.astype(f"u{dtype.itemsize}").view(dtype)


def _value(key: int, dtype: np.dtype):
    """Return the numpy scalar of ``dtype`` whose key is ``key``."""
    return keys_to_values(np.array([key], dtype=np.uint64), dtype)[0]


def _lerp(a, b, t: float):
    """numpy's ``_lerp`` on two order statistics, to the last bit (see numpy.percentile).

    Integers are interpolated in float64 as numpy does, but with the difference taken exactly:
    numpy's own difference wraps around for signed types (e.g. int8 -128 and 127).
    """
    with np.errstate(all="ignore"):
        if a.dtype.kind in "uib":
            diff = np.float64(int(b) - int(a))
            a, b = np.float64(a), np.float64(b)
        else:
            diff = b - a
        if t >= 0.5:
            return b - diff * (1 - t)
        return a + diff * t


@dataclass(frozen=True)
class BandStats:
    """The exact, mergeable statistics of the samples of one band (or of several, merged).

    Attributes
    ----------
    dtype : str
        The samples' numpy type.
    count : int
        Valid samples (NaN excluded).
    nan : int
        NaN samples, which are ignored as numpy's nan-functions ignore them.
    hist : numpy.ndarray
        int64 counts of the top 16 bits of the keys (all bits for 8- and 16-bit types).
    kmin, kmax : int
        The smallest and largest key (``kmin > kmax`` when ``count == 0``).
    total : fractions.Fraction
        The exact sum of the finite samples.
    posinf, neginf : int
        Infinite samples; they take part in min, max and percentiles like numpy.
    masked : int
        Samples seen but not valid for another reason than NaN: equal to the band's nodata
        value, masked by a mask (a dataset's mask, a numpy masked array's), or transparent
        (alpha 0). Like ``nan``, they are in no other field. ``nan + masked`` are the
        ``masked_pixels`` reading; ``count + nan + masked`` every sample seen.

    Examples
    --------
    >>> import numpy as np, imgstats
    >>> band = imgstats.summarize(np.arange(12, dtype=np.uint8).reshape(3, 4)).bands[0]
    >>> band.count, band.min(), band.max(), band.mean()
    (12, 0, 11, 5.5)
    """

    dtype: str
    count: int
    nan: int
    hist: np.ndarray
    kmin: int
    kmax: int
    total: Fraction
    posinf: int = 0
    neginf: int = 0
    masked: int = 0

    def __eq__(self, other):
        # The generated __eq__ compares ``hist`` arrays with ``==``, whose truth value raises.
        if not isinstance(other, BandStats):
            return NotImplemented
        return (
            np.dtype(self.dtype) == np.dtype(other.dtype)
            and self._fields() == other._fields()
            and np.array_equal(self.hist, other.hist)
        )

    def _fields(self) -> tuple:
        return (
            self.count,
            self.nan,
            self.kmin,
            self.kmax,
            self.total,
            self.posinf,
            self.neginf,
            self.masked,
        )

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __repr__(self) -> str:
        """One short line: the generated repr printed every bin of :attr:`hist` (256 for an
        8-bit band, a wall of numbers in a notebook's ``summary.bands``)."""
        values = f" min={self.min()!r} max={self.max()!r}" if self.count else ""
        return (
            f"<BandStats {np.dtype(self.dtype)} count={self.count} nan={self.nan} "
            f"masked={self.masked}{values} hist={self.hist.size} bins>"
        )

    @property
    def invalid(self) -> int:
        """Samples seen but not valid: NaN, and :attr:`masked` (nodata, mask, alpha 0)."""
        return self.nan + self.masked

    def cumulative(self, keep: bool = False) -> np.ndarray:
        """The cumulative sum of :attr:`hist` (the ranks of every percentile).

        Kept on the object only when ``keep``: a summary held in a byte-bounded cache would
        otherwise grow by a second histogram per band (a 16-bit band's is 0.5 MB); only the
        selection of all samples keeps it, one array per summary.
        """
        cum = self.__dict__.get("_cumulative")
        if cum is None:
            cum = np.cumsum(self.hist)
            if keep:
                object.__setattr__(self, "_cumulative", cum)
        return cum

    @property
    def key_bits(self) -> int:
        return key_bits_of(self.dtype)

    @classmethod
    def empty(cls, dtype) -> BandStats:
        """Return the neutral element of :meth:`merge` for ``dtype``."""
        dtype = np.dtype(dtype)
        bits = key_bits_of(dtype)
        return cls(dtype.str, 0, 0, np.zeros(_bins(bits), np.int64), 1 << bits, -1, Fraction(0))

    def merge(self, other: BandStats) -> BandStats:
        """Return the statistics of both sets of samples together."""
        if np.dtype(self.dtype) != np.dtype(other.dtype):
            raise InvalidOption(f"cannot merge {self.dtype} with {other.dtype} statistics")
        return BandStats(
            self.dtype,
            self.count + other.count,
            self.nan + other.nan,
            self.hist + other.hist,
            min(self.kmin, other.kmin),
            max(self.kmax, other.kmax),
            self.total + other.total,
            self.posinf + other.posinf,
            self.neginf + other.neginf,
            self.masked + other.masked,
        )

    def _check(self) -> None:
        if self.count == 0:
            raise NoValidSamples(
                "no valid samples: the selection is empty, or NaN, nodata or masked only"
            )

    def min(self):
        """The smallest valid sample, as a Python int or float."""
        self._check()
        return _value(self.kmin, self.dtype).item()

    def max(self):
        """The largest valid sample, as a Python int or float."""
        self._check()
        return _value(self.kmax, self.dtype).item()

    def mean(self) -> float:
        """The mean of the valid samples, correctly rounded to float64 from the exact sum."""
        self._check()
        if self.posinf and self.neginf:
            return math.nan
        if self.posinf:
            return math.inf
        if self.neginf:
            return -math.inf
        return float(self.total / self.count)

    def sum(self):
        """The exact sum of the valid samples: a Python int for integer types, else the exact
        sum correctly rounded once to float64 (``math.fsum``'s answer; ``inf`` when it
        overflows, NaN when both infinities are present, as numpy)."""
        self._check()
        if np.dtype(self.dtype).kind in "uib":
            return int(self.total)
        if self.posinf and self.neginf:
            return math.nan
        if self.posinf or self.neginf:
            return math.inf if self.posinf else -math.inf
        try:
            return float(self.total)
        except OverflowError:
            return math.inf if self.total > 0 else -math.inf

    def _values_and_counts(self, what: str, node=None):
        """The distinct valid values (Python ints) and their counts: from the histogram of
        an 8- or 16-bit integer band, which holds every value, or from ``node``, the
        ``("values", (2, k) keys and counts)`` refinement of a 32- or 64-bit one."""
        dtype = np.dtype(self.dtype)
        if dtype.kind == "f":
            raise InvalidOption(
                f"{what} is for integer images (classes, counts); this one is {dtype}"
            )
        self._check()
        if self.key_bits <= 16:
            nz = np.flatnonzero(self.hist)
            return nz + int(np.iinfo(dtype).min), self.hist[nz]
        if node is None:
            raise NeedsRefinement([(VALUES, 0, self.count)])
        kind, data = node
        if kind != "values":
            raise InvalidOption(_too_many(what))
        return keys_to_values(data[0], dtype), data[1].astype(np.int64)

    def std(self, squares: Fraction | None = None) -> float:
        """The population standard deviation (``numpy.std``, ``ddof=0``): the square root of
        the exact variance, correctly rounded once to float64.

        8- and 16-bit integers read it from their histogram; wider integers and floats from
        ``squares``, the exact sum of the squares of their finite valid samples (a
        refinement pass gathers it). NaN when an infinity is among the samples, as numpy.
        """
        variance = self.variance(squares)
        return math.nan if variance is None else _sqrt(variance)

    def variance(self, squares: Fraction | None = None) -> Fraction | None:
        """The exact population variance (see :meth:`std`); ``None`` with an infinity."""
        self._check()
        if self.posinf or self.neginf:
            return None
        n = self.count
        if self.key_bits <= 16 and np.dtype(self.dtype).kind != "f":
            values, counts = self._values_and_counts("std")
            squares = sum(int(c) * int(v) * int(v) for v, c in zip(values, counts, strict=True))
        elif squares is None:
            raise NeedsRefinement([(SQUARES, 0, n)])
        total = Fraction(self.total)
        return (n * Fraction(squares) - total * total) / (n * n)

    def majority(self, node=None) -> int:
        """The most frequent value (the smallest of equally frequent ones, as rio-tiler's
        ``numpy.unique`` then ``argmax``)."""
        values, counts = self._values_and_counts("majority", node)
        return int(values[int(np.argmax(counts))])

    def minority(self, node=None) -> int:
        """The least frequent value present (the smallest of equally rare ones)."""
        values, counts = self._values_and_counts("minority", node)
        return int(values[int(np.argmin(counts))])

    def unique(self, node=None) -> int:
        """The number of distinct valid values (``len(numpy.unique(values))``)."""
        values, _ = self._values_and_counts("unique", node)
        return int(values.size)

    def value_counts(self, node=None) -> dict:
        """``{value: count}`` of every distinct valid value, in increasing order of value
        (``numpy.unique(values, return_counts=True)`` as a dict of Python ints)."""
        values, counts = self._values_and_counts("value_counts", node)
        return dict(zip(values.tolist(), (int(c) for c in counts), strict=True))

    def valid_percent(self) -> float:
        """``100 * count / (count + nan + masked)``, correctly rounded to float64.

        Raises
        ------
        NoValidSamples
            When no sample was seen at all (an empty selection): 0/0 has no percentage.
        """
        seen = self.count + self.invalid
        if not seen:
            raise NoValidSamples("no samples: the selection is empty")
        return float(Fraction(100 * self.count, seen))

    def ranks(self, q: float, method: str = "linear") -> tuple[int, int, float | None]:
        """Return numpy's two ranks and interpolation weight for percentile ``q``.

        See :func:`quantile_positions`; the weight is ``None`` for numpy's discrete methods,
        which take the sample of the first rank as it is.
        """
        self._check()
        return quantile_positions(self.count, q, method)


def quantile_positions(n: int, q: float, method: str = "linear"):
    """``(lo, hi, gamma)``: where ``numpy.percentile(values, q, method=method)`` looks.

    ``values`` are ``n`` sorted valid samples; the answer is ``_lerp(values[lo], values[hi],
    gamma)``, or ``values[lo]`` itself when ``gamma`` is ``None`` (the discrete methods). Every
    step is numpy's own float64 arithmetic (``numpy/lib/_function_base_impl.py``: the virtual
    index of ``_QuantileMethods``, ``_get_indexes`` and ``_get_gamma``), so the weight is
    numpy's to the last bit -- including above the last rank, where numpy subtracts the
    index -1 and weighs ``virtual + 1`` (which keeps the sign of a lone ``-0.0``).
    """
    check_method(method)
    quantiles = np.true_divide(q, 100)
    if method in _DISCRETE:
        if method == "lower":
            index = np.floor((n - 1) * quantiles)
        elif method == "higher":
            index = np.ceil((n - 1) * quantiles)
        elif method == "nearest":
            index = np.around((n - 1) * quantiles)
        else:
            index = n * quantiles - 1
            if method == "closest_observation":
                index = index - 0.5
            previous = np.floor(index)
            gamma = index - previous
            take_previous = gamma == 0
            if method == "closest_observation":
                take_previous = take_previous and previous % 2 == 1
            index = previous if take_previous else previous + 1
        rank = min(max(int(index), 0), n - 1)
        return rank, rank, None
    if method == "linear":
        virtual = (n - 1) * quantiles
    elif method == "averaged_inverted_cdf":
        virtual = (n * quantiles) - 1
    elif method == "midpoint":
        virtual = 0.5 * (np.floor((n - 1) * quantiles) + np.ceil((n - 1) * quantiles))
    else:
        alpha, beta = _ALPHA_BETA[method]
        virtual = n * quantiles + (alpha + quantiles * (1 - alpha - beta)) - 1
    if virtual >= n - 1:
        lo = hi = n - 1
        below = -1  # numpy's _get_indexes marks the rank -1 (the last), and _get_gamma uses it
    elif virtual < 0:
        lo = hi = below = 0
    else:
        lo = below = int(np.floor(virtual))
        hi = lo + 1
    gamma = virtual - np.float64(below)
    if method == "averaged_inverted_cdf":
        gamma = 0.5 if gamma == 0 else 1.0
    elif method == "midpoint":
        gamma = 0.0 if virtual % 1 == 0 else 0.5
    return lo, hi, float(gamma)


#: The methods that take one sample as it is (numpy's ``fix_gamma`` is ``None``).
_DISCRETE = frozenset({"inverted_cdf", "closest_observation", "lower", "higher", "nearest"})
#: Hyndman and Fan's constants of numpy's ``_compute_virtual_index``.
_ALPHA_BETA = {
    "interpolated_inverted_cdf": (0, 1),
    "hazen": (0.5, 0.5),
    "weibull": (0, 0),
    "median_unbiased": (1 / 3.0, 1 / 3.0),
    "normal_unbiased": (3 / 8.0, 3 / 8.0),
}


def _rounded(value: Fraction) -> float:
    """A rational correctly rounded to float64, ``±inf`` beyond its range."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _of_infinite(kind: str, lo: float, hi: float) -> float:
    """numpy's mean, sum or std of float64 values from ``lo`` to ``hi``, one of them an
    infinity (a stored one, or a physical value beyond float64's range): NaN for the std and
    for both infinities, else that infinity."""
    if kind == "std" or (lo == -math.inf and hi == math.inf):
        return math.nan
    return float(lo if math.isinf(lo) else hi)


def _sqrt(value: Fraction) -> float:
    """The square root of a non-negative rational, correctly rounded to float64 (``inf``
    beyond its range: the std of physical values of a large scale)."""
    if value == 0:
        return 0.0
    # scale by 4**e so that the integer part has about 122 bits: its integer square root has
    # 61, and one more sticky bit decides every rounding of the 53 kept
    e = (122 - (value.numerator.bit_length() - value.denominator.bit_length())) // 2
    scaled = value * Fraction(4) ** e
    root = math.isqrt(math.floor(scaled))
    if root * root != scaled:
        return _rounded(Fraction(2 * root + 1) / Fraction(2) ** (e + 1))
    return _rounded(Fraction(root) / Fraction(2) ** e)


def value_of_sorted(values: np.ndarray, f: Function):
    """``f`` of the sorted valid samples ``values`` (1-D, their own type), as
    :meth:`Summary.compute` answers it: for callers that hold a small group's samples.

    Raises
    ------
    InvalidOption
        For ``masked_pixels`` and ``valid_percent``, which need the samples that are not here.
    """
    n = values.size
    if f.kind == "count":
        return n
    if f.kind in ("masked_pixels", "valid_percent"):
        raise InvalidOption(f"{f.name} is not available here: only the valid samples are kept")
    if n == 0:
        raise NoValidSamples("no valid samples")
    if f.kind in ("min", "max", "mean", "sum"):
        stats = BandStats(
            values.dtype.str, 0, 0, np.zeros(1, np.int64), 0, 0, Fraction(0)
        )  # only the sum's reading below
        if f.kind == "min":
            return values[0].item()
        if f.kind == "max":
            return values[-1].item()
        if values.dtype.kind in "uib":
            total = Fraction(sum(int(v) for v in values.tolist()))
            stats = replace(stats, count=n, total=total)
        else:
            finite = values[np.isfinite(values)]
            total = sum((Fraction(float(v)) for v in finite), Fraction(0))
            posinf = int(np.isposinf(values).sum())
            neginf = int(np.isneginf(values).sum())
            stats = replace(stats, count=n, total=total, posinf=posinf, neginf=neginf)
        return stats.mean() if f.kind == "mean" else stats.sum()
    if f.name == "median":
        with np.errstate(all="ignore"):
            return np.mean(values[sorted({(n - 1) // 2, n // 2})]).item()
    if f.kind == "value_counts":
        raise InvalidOption("value_counts (a dict) is not available here: ask it of one image")
    if f.kind in ("std", "majority", "minority", "unique"):
        return _small_group_reading(values, f.kind)
    lo, hi, t = quantile_positions(n, f.q, f.method)
    if t is None:
        return values[lo].item()
    return _lerp(values[lo], values[hi], t).item()


def _small_group_reading(values: np.ndarray, kind: str):
    """``std`` or a categorical statistic of a small group's sorted valid samples, as
    :class:`BandStats` reads them."""
    if kind != "std":
        uniq, counts = np.unique(values, return_counts=True)
        if values.dtype.kind == "f":
            raise InvalidOption(f"{kind} is for integer images (classes, counts)")
        if kind == "unique":
            return int(uniq.size)
        pick = np.argmax(counts) if kind == "majority" else np.argmin(counts)
        return int(uniq[int(pick)])
    if values.dtype.kind == "f" and np.isinf(values).any():
        return math.nan
    exact = [Fraction(v) for v in values.tolist()]
    n = len(exact)
    total = sum(exact, Fraction(0))
    squares = sum((v * v for v in exact), Fraction(0))
    return _sqrt((n * squares - total * total) / (n * n))


def _merge_refined(a: dict, b: dict) -> dict:
    """The refinements both sides hold, merged: histograms add up, sorted keys interleave."""
    out = {}
    for node in a.keys() & b.keys():
        (kind, x), (kind_b, y) = a[node], b[node]
        if kind in SPECIAL_KINDS:  # squares and values: no bin, a reading of every sample
            out[node] = merge_special(a[node], b[node])
            continue
        if kind != kind_b:
            continue  # one side counted, the other collected: neither covers both
        # two sorted runs: numpy's stable sort (timsort) merges them in linear time, where the
        # default introsort sorts them again (600 000 keys: 5x faster)
        both = x + y if kind == "hist" else np.sort(np.concatenate([x, y]), kind="stable")
        out[node] = (kind, both)
    return out


def special_of_counts(keys: np.ndarray, counts: np.ndarray, dtype, shift: int) -> tuple:
    """The ``squares`` or ``values`` node (``shift``) of keys of ``dtype`` with ``counts``
    (samples kept as distinct keys and their counts, e.g. a promoted 8/16-bit image's)."""
    keys = np.asarray(keys, np.uint64)
    counts = np.asarray(counts, np.int64)
    if shift == SQUARES:
        values = keys_to_values(keys, dtype).tolist()
        pairs = zip(values, counts.tolist(), strict=True)
        squares = sum((c * Fraction(v) ** 2 for v, c in pairs if math.isfinite(v)), Fraction(0))
        return "squares", squares
    both = ("values", np.stack([keys, counts.astype(np.uint64)]))
    return merge_special(both, ("values", np.zeros((2, 0), np.uint64)))


def merge_special(a: tuple, b: tuple) -> tuple:
    """Two parts' ``("squares", Fraction)`` or ``("values", (2, k) uint64)`` nodes, merged;
    values beyond :data:`VALUES_LIMIT` distinct become ``("too_many", empty)``."""
    (kind, x), (kind_b, y) = a, b
    if kind == "squares" and kind_b == "squares":
        return kind, x + y
    if kind != "values" or kind_b != "values":
        return "too_many", np.zeros((2, 0), np.uint64)
    keys = np.concatenate([x[0], y[0]])
    uniq, inverse = np.unique(keys, return_inverse=True)
    if uniq.size > VALUES_LIMIT:
        return "too_many", np.zeros((2, 0), np.uint64)
    counts = np.zeros(uniq.size, np.uint64)
    np.add.at(counts, inverse.reshape(-1), np.concatenate([x[1], y[1]]))
    return "values", np.stack([uniq, counts])


def pooled_bands(n: int, band_names) -> np.ndarray:
    """Boolean mask of the ``n`` bands that ``band=None`` pools: every band but alpha, a band
    named ``"A"`` beside others and followed by numbered bands only (none when it is last:
    RGBA, LA; a TIFF's extra samples after it: ``R, G, B, A, 4``), and a TIFF's further alpha
    extra samples after it, ``A`` and their number (``R, G, B, A, A4``). LAB's ``"A"`` is a
    colour, followed by ``"B"`` (see :attr:`Summary.pooled`)."""
    mask = np.ones(n, bool)
    if n > 1:
        names = [str(b) for b in band_names]
        for i, name in enumerate(names):
            if name == "A" and all(_extra_name(b) for b in names[i + 1 :]):
                mask[i:] = [not b.startswith("A") for b in names[i:]]
                break
    return mask if mask.any() else np.ones(n, bool)


def _extra_name(name: str) -> bool:
    """A TIFF extra sample's name after its first alpha: its number, or ``A`` and its number
    for a further alpha sample (:func:`imgstats.io._meaning._band_names`)."""
    digits = name[1:] if name.startswith("A") else name
    return digits.isascii() and digits.isdigit()


def alpha_band(band_names) -> int | None:
    """Index of the alpha band whose 0s leave pixels out of the colour bands, or ``None``.

    It is a last band named ``"A"`` beside colour bands (RGBA, LA, a PIL image's bands), as
    GDAL masks by an image's one alpha. Beside numbered bands (a TIFF's several extra samples,
    ``R, G, B, 3, A``) an alpha masks nothing: GDAL gives such a file no mask (its mask flags
    are "all valid"); it is still left out of the pooled bands (:func:`pooled_bands`).
    """
    names = [str(b) for b in band_names]
    if len(names) > 1 and names[-1] == "A" and not any(b.isdigit() for b in names[:-1]):
        return len(names) - 1
    return None


@dataclass(frozen=True)
class Summary:
    """An image's exact summary: per-band statistics, an optional luma, and refinements.

    Summaries are small (one 2**8 or 2**16-bin histogram per band), picklable, and merge with
    ``+``. Read statistics with :meth:`compute`; it never touches pixels. Use
    :func:`imgstats.summarize` to make one and :func:`imgstats.refine` when :meth:`missing`
    says a 32- or 64-bit percentile needs another look at the pixels.

    Attributes
    ----------
    bands : tuple of BandStats
        One entry per band (a single one for greyscale or an array without bands).
    band_names : tuple of str
        Names of the bands (``("R", "G", "B")``, ``("L",)``, or ``("0", "1", ...)``).
    luma : BandStats or None
        Pillow's "L" luminance of bands R, G, B, when the image has them.
    shape : tuple of int
        The shape of the summarized array; ``()`` when unknown (see :meth:`merge`).
    refined : dict
        ``(selection, shift, prefix) -> ("hist", counts) | ("keys", sorted keys)``; a
        one-band image keeps its refinements under ``"all"``.
    scales : tuple of (scale, offset) or None
        Each band's scale and offset from the file's GDAL metadata (``None``: none), for
        the readings of physical values (``scaled=True``); the statistics stay of the stored
        values.
    valid : ValidSamples or None
        What decided which samples were counted (``valid.mask``: ``"nodata"``, ``"alpha"``,
        ``"internal"``, ``"sidecar"``, ``"array"`` (a masked array's mask) or ``None``;
        ``valid.nodata``; ``valid.source``: ``"file"``, ``"option"`` or ``"raw"``;
        ``valid.as_dict()`` for JSON). ``None`` when that is not one rule: a merge of
        summaries that counted by different rules, or one read from bytes of format version
        3 or before.
    half : bool
        The samples are half floats (``float16``), counted by their exact ``float32`` values:
        percentiles are interpolated, and a median's two middle samples averaged, in
        ``float16`` as ``numpy.percentile`` and ``numpy.median`` do for a ``float16`` array.
        Kept by a merge only when both sides are half floats (numpy's float16 and float32
        make float32).

    Examples
    --------
    >>> import numpy as np, imgstats
    >>> summary = imgstats.summarize(np.arange(12, dtype=np.uint8).reshape(3, 4))
    >>> summary.compute(["min", "median", "max"])
    {'min': 0, 'median': 5.5, 'max': 11}
    >>> both = summary.merge(imgstats.summarize(np.full((2, 2), 200, np.uint8)))
    >>> both.compute(["count", "median", "max"])
    {'count': 16, 'median': 7.5, 'max': 200}
    """

    bands: tuple[BandStats, ...]
    band_names: tuple[str, ...]
    luma: BandStats | None = None
    shape: tuple[int, ...] = ()
    refined: dict = field(default_factory=dict, compare=False)
    scales: tuple[tuple[float, float], ...] | None = None
    valid: ValidSamples | None = field(default=None, compare=False)
    half: bool = False

    # -- building ----------------------------------------------------------------------------
    def __add__(self, other: Summary) -> Summary:
        return self.merge(other)

    def merge(self, other: Summary) -> Summary:
        """Merge the summaries of two sets of pixels with the same bands (e.g. two chunks).

        ``shape`` is the shape of the whole image, which :func:`imgstats.summarize` records
        in the summary of every chunk: it is kept when both sides carry the same one, and is
        ``()`` (unknown) otherwise, as two separately summarized arrays (two halves, two
        images) do not say how they fit together. Band names are ``self``'s. A refinement
        is kept when both sides hold it (then it covers both sets of samples); so is
        ``valid`` when both sides counted by the same rule, or a masked array's chunk with
        nothing masked beside one with (:meth:`ValidSamples.merged`; ``None`` otherwise).
        """
        if len(self.bands) != len(other.bands):
            raise InvalidOption("cannot merge summaries with different numbers of bands")
        luma = None
        if self.luma is not None and other.luma is not None:
            luma = self.luma.merge(other.luma)
        return Summary(
            tuple(a.merge(b) for a, b in zip(self.bands, other.bands, strict=True)),
            self.band_names,
            luma,
            self.shape if self.shape == other.shape else (),
            _merge_refined(self.refined, other.refined),
            self.scales if self.scales == other.scales else None,
            None if self.valid is None else self.valid.merged(other.valid),
            self.half and other.half,
        )

    # -- selections --------------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.bands[0].dtype)

    def selection(self, band=None) -> str:
        """Normalize a ``band`` option to a selection key: ``"all"``, ``"luma"`` or ``"b<i>"``.

        Parameters
        ----------
        band : None, int, str
            ``None`` for every sample of every band, a band index (negative counts from the
            end), a band name (``"R"``), or ``"luma"``.

        Raises
        ------
        InvalidOption
            For a band the image does not have.
        """
        if band is None or band == "all":
            return "all"
        if band == "luma":
            # The luma is counted from the first three bands of any 8-bit 3/4-band image; it
            # means something only when they are R, G, B (not Y Cb Cr, H S V, C M Y K...).
            # Unnamed bands ("0", "1", ...) are taken as RGB, as numpy.asarray of RGB gives.
            names = self.band_names
            rgb = names[:3] == ("R", "G", "B") or all(n.isdecimal() for n in names)
            if self.luma is None or not rgb:
                kind = "" if self.dtype == np.uint8 or not rgb else f" ({self.dtype} samples)"
                raise InvalidOption(
                    "band='luma' needs an 8-bit image with R, G and B bands; "
                    f"this one has {list(self.band_names)}{kind}"
                )
            return "luma"
        if isinstance(band, (int, np.integer)) and not isinstance(band, bool):
            index = int(band)
            self._check_index_not_label(index)
            if -len(self.bands) <= index < len(self.bands):
                return f"b{index % len(self.bands)}"
        elif isinstance(band, str) and band in self.band_names:
            return f"b{self.band_names.index(band)}"
        hint = ""
        colour = {"red": "R", "green": "G", "blue": "B", "alpha": "A", "gray": "L", "grey": "L"}
        guess = did_you_mean(colour.get(str(band).casefold(), band), [*self.band_names, "luma"])
        if isinstance(band, str) and all(n.isdecimal() for n in self.band_names):
            # a plain array's bands have no names but their indices ("R" on a numpy array)
            hint = (
                "; a plain array's bands are named by their index: to name them, pass an "
                "xarray DataArray with a band coordinate, e.g. xr.DataArray(a, dims=('y', "
                "'x', 'band'), coords={'band': ['R', 'G', 'B']})"
            )
        raise InvalidOption(
            f"unknown band {shown_name(band)}{guess}: use an index below {len(self.bands)}, "
            f"one of {list(self.band_names)}, 'luma' or None{hint}"
        )

    def _check_index_not_label(self, index: int) -> None:
        """Refuse a band index on bands labelled by other numbers (rioxarray's band
        coordinate ``[1, 2, 3]``): ``band=1`` is the second band by position but the first
        by label (``da.sel(band=1)``), and either reading answers silently for a band."""
        names = self.band_names
        if not all(n.isdecimal() for n in names):
            return
        if names == tuple(str(i) for i in range(len(names))):
            return  # labels equal to positions (a plain array's): one meaning
        raise InvalidOption(
            f"band={index} is ambiguous: the bands are labelled {list(names)}, which are not "
            f"their positions; ask by label (band={names[0]!r} is the first band)"
        )

    def stats(self, band=None) -> BandStats:
        """Return the merged :class:`BandStats` of a selection (see :meth:`selection`)."""
        sel = self.selection(band)
        return self._stats(sel)

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    @property
    def pooled(self) -> np.ndarray:
        """Boolean mask of the bands that ``band=None`` pools: every band but alpha.

        A last band named ``"A"`` beside others is alpha (as io names it: RGBA, LA; also one
        followed by a TIFF's numbered extra samples): it says which pixels are transparent,
        it is no colour, so it is never pooled with the colour bands, even with ``raw=True``
        (GDAL's meaning; ``band="A"`` reads it on its own).
        """
        return pooled_bands(len(self.bands), self.band_names)

    def _stats(self, sel: str) -> BandStats:
        if sel == "all":
            out = self.__dict__.get("_all")  # merged once: every percentile reads it
            if out is None:
                pooled = [b for b, keep in zip(self.bands, self.pooled, strict=True) if keep]
                out = pooled[0]
                for b in pooled[1:]:
                    out = out.merge(b)
                object.__setattr__(self, "_all", out)
            return out
        if sel == "luma":
            return self.luma
        return self.bands[int(sel[1:])]

    def bands_of(self, sel: str) -> np.ndarray:
        """Boolean mask of the bands a selection reads (``luma`` reads none directly)."""
        mask = np.zeros(len(self.bands), bool)
        if sel == "all":
            mask[:] = self.pooled
        elif sel.startswith("b"):
            mask[int(sel[1:])] = True
        return mask

    def valid_for(self, band=None) -> ValidSamples | None:
        """What decided which samples of the selection ``band`` (one, or a list) counted:
        :attr:`valid`, but no rule at all for the alpha band alone, every sample of which
        counts, and the one nodata value of the bands selected when each band has its own
        (:meth:`ValidSamples.of_bands`).

        Raises
        ------
        InvalidOption
            For a band the image does not have.
        """
        if self.valid is None:
            return None
        indices = []
        for b in band if isinstance(band, (list, tuple)) else [band]:
            sel = self.selection(b)
            # the luma is of the first three bands, "all" pools the colour bands
            read = [0, 1, 2] if sel == "luma" else np.flatnonzero(self.bands_of(sel)).tolist()
            indices += read
        return self.valid.of_bands(indices, alpha_band(self.band_names))

    # -- reading -----------------------------------------------------------------------------
    def compute(
        self, func, band=None, method: str | None = None, *, scaled=False, scale=None, offset=None
    ):
        """Return one statistic, or a dict of several, without touching pixels.

        Parameters
        ----------
        func : str or list of str
            A name of :data:`~imgstats.functions.NAMED_FUNCTIONS` or ``pXXX`` (see
            :mod:`imgstats.functions`).
        band : None, int or str
            The selection (see :meth:`selection`).
        method : str, optional
            numpy's percentile method for ``pXXX`` (one of :data:`QUANTILE_METHODS`), for
            every function; by default each function's own (``"linear"`` for a name).
            ``median`` is always ``numpy.median``.
        scaled, scale, offset : optional
            Statistics of the physical values ``value * scale + offset`` (see
            :func:`imgstats.compute`): with the image's :attr:`scales`, or these.

        Returns
        -------
        int, float or dict

        Raises
        ------
        UnknownFunction, InvalidOption, NoValidSamples
        NeedsRefinement
            When a 32- or 64-bit percentile needs a refinement pass (an
            :class:`~imgstats.ImgStatsError`, as the others); use :func:`imgstats.refine`, or
            :func:`imgstats.compute` of the image, which does it for you
            (:func:`imgstats.compute` of this summary raises ``InvalidOption``).
        """
        func = with_scaled(with_method(func, method), scaled, scale, offset)
        if isinstance(func, (list, tuple)):
            parsed = [parse_function(f) for f in func]
            sel = self.selection(band)
            cums: dict = {}  # the functions' ranks often fall in the same refined bins
            return {f.name: self._value(f, sel, cums) for f in parsed}
        return self._value(parse_function(func), self.selection(band))

    def missing(
        self, func, band=None, method: str | None = None
    ) -> list[tuple[str, int, int, int]]:
        """Return the histogram bins a refinement pass must look at before :meth:`compute`.

        Parameters
        ----------
        func : str or list of str
        band : None, int, str, or a list of them
            One selection (see :meth:`selection`) or several: one pass refines them all.
        method : str, optional
            The percentile method (see :meth:`compute`).

        Returns
        -------
        list of (selection, shift, prefix, count)
            The keys with ``key >> shift == prefix`` of a selection (``"all"``, ``"b<i>"``),
            ``count`` of them. Empty when every statistic is answered from the summary alone;
            a selection without a valid sample needs none (:meth:`compute` raises).
        """
        func = with_method(func, method)
        funcs = [parse_function(f) for f in (func if isinstance(func, (list, tuple)) else [func])]
        bands = band if isinstance(band, (list, tuple)) else [band]
        nodes = set()
        cums: dict = {}
        for sel in dict.fromkeys(self._refined_selection(self.selection(b)) for b in bands):
            for f in funcs:
                try:
                    self._value(f, sel, cums)
                except NeedsRefinement as exc:
                    nodes.update((sel, *node) for node in exc.nodes)
                except NoValidSamples:
                    # nothing to refine: the value does not exist, and compute() says so. One
                    # band without a valid sample must not refuse the others' values
                    continue
        return sorted(nodes)

    def _refined_selection(self, sel: str) -> str:
        """The selection whose refinements answer ``sel``: one band's are the image's."""
        return "all" if len(self.bands) == 1 and sel.startswith("b") else sel

    def _value(self, f: Function, sel: str, cums: dict | None = None):
        if f.scaled:
            return self._scaled_value(f, sel, cums)
        stats = self._stats(sel)
        if f.kind == "min":
            return stats.min()
        if f.kind == "max":
            return stats.max()
        if f.kind == "mean":
            return stats.mean()
        if f.kind == "count":
            return stats.count
        if f.kind == "masked_pixels":
            return stats.invalid
        if f.kind == "valid_percent":
            return stats.valid_percent()
        if f.kind == "sum":
            return stats.sum()
        if f.kind == "std":
            node = self.refined.get((self._refined_selection(sel), SQUARES, 0))
            return stats.std(None if node is None else node[1])
        if f.kind in ("majority", "minority", "unique", "value_counts"):
            node = self.refined.get((self._refined_selection(sel), VALUES, 0))
            return getattr(stats, f.kind)(node)
        if f.name == "median":  # numpy.median: the mean of the middle one or two samples
            stats._check()
            n = stats.count
            values = self._order_statistics(stats, sel, sorted({(n - 1) // 2, n // 2}), cums)
            with np.errstate(all="ignore"):
                return np.mean(np.array(self._as_stored(values, sel))).item()
        lo, hi, t = stats.ranks(f.q, f.method)
        values = self._as_stored(self._order_statistics(stats, sel, sorted({lo, hi}), cums), sel)
        if t is None or (self.half and lo == hi and np.isfinite(values[0])):
            # one sample: it, where numpy's float16 weights overflow past 65,504 samples
            # (numpy.percentile of 70,000 half floats at 100 is NaN, not their max)
            return values[0].item()
        return _lerp(values[0], values[-1], t).item()

    def _as_stored(self, values: list, sel: str) -> list:
        """Order statistics in the type numpy interpolates them in: ``float16`` for half
        floats (exact: they are half floats held as float32), else as they are."""
        if self.half and sel != "luma":
            return [np.float16(v) for v in values]
        return values

    def scale_of(self, f: Function, sel: str) -> tuple[float, float]:
        """``(scale, offset)`` of a scaled reading of a selection (see :attr:`scales`)."""
        if isinstance(f.scaled, tuple):
            return f.scaled
        if sel == "luma":
            raise InvalidOption("the luma has no scale and offset: read a band, or leave scaled")
        pairs = self.scales or ((1.0, 0.0),) * len(self.bands)
        chosen = {pairs[i] for i in np.flatnonzero(self.bands_of(sel))}
        if len(chosen) != 1:
            raise InvalidOption(
                "the bands have different scales or offsets: ask for one band at a time "
                f"(band=0...), not for all of them ({sorted(chosen)})"
            )
        scale, offset = chosen.pop()
        if not (math.isfinite(scale) and math.isfinite(offset) and scale != 0):
            raise InvalidOption(
                f"the image's scale {scale!r} and offset {offset!r} give no physical values "
                "(a scale must be finite and not 0): pass scale= and offset="
            )
        return scale, offset

    def _scaled_value(self, f: Function, sel: str, cums):
        """``f`` of the physical values ``v * scale + offset`` (float64), read from the
        statistics of the stored values: the map is monotone, so order statistics are the
        stored ones mapped (in reverse order for a negative scale)."""
        scale, offset = self.scale_of(f, sel)
        stats = self._stats(sel)
        raw = replace(f, scaled=False)
        if f.kind in ("count", "masked_pixels", "valid_percent"):
            return self._value(raw, sel, cums)
        if f.kind in ("majority", "minority", "unique", "value_counts"):
            raise InvalidOption(
                f"{f.name} counts the stored classes: ask it without scaled, scale or offset"
            )
        stats._check()

        def mapped(value):
            with np.errstate(all="ignore"):
                return np.float64(value) * np.float64(scale) + np.float64(offset)

        exact_scale, exact_offset = Fraction(scale), Fraction(offset)
        if f.kind in ("min", "max"):
            want_max = (f.kind == "max") == (scale > 0)
            return float(mapped(stats.max() if want_max else stats.min()))
        if f.kind in ("mean", "sum", "std"):
            ends = mapped(stats.min()), mapped(stats.max())
            if not all(np.isfinite(ends)):  # an infinity among the float64 physical values
                return _of_infinite(f.kind, min(ends), max(ends))
        if f.kind in ("mean", "sum"):
            raw_value = stats.mean() if f.kind == "mean" else stats.sum()
            if not math.isfinite(raw_value):  # an infinity among the samples
                return float(mapped(raw_value))
            n = 1 if f.kind == "mean" else stats.count
            exact = Fraction(stats.total) / (stats.count if f.kind == "mean" else 1)
            return _rounded(exact * exact_scale + n * exact_offset)
        if f.kind == "std":
            node = self.refined.get((self._refined_selection(sel), SQUARES, 0))
            variance = stats.variance(None if node is None else node[1])
            return math.nan if variance is None else _sqrt(variance * exact_scale**2)
        n = stats.count
        if f.name == "median":
            ranks = sorted({(n - 1) // 2, n // 2})
            t = None
        else:
            lo, hi, t = quantile_positions(n, f.q, f.method)
            ranks = sorted({lo, hi})
        stored = [n - 1 - r for r in ranks] if scale < 0 else ranks
        values = [mapped(v) for v in self._order_statistics(stats, sel, stored, cums)]
        if f.name == "median":
            with np.errstate(all="ignore"):
                return np.mean(np.array(values)).item()
        if t is None:
            return values[0].item()
        return _lerp(values[0], values[-1], t).item()

    def _order_statistics(self, stats: BandStats, sel: str, ranks, cums) -> list:
        """The samples of ``ranks``; one :class:`NeedsRefinement` lists every missing bin."""
        missing = []
        values = []
        for rank in ranks:
            try:
                values.append(self._order_statistic(stats, sel, rank, cums))
            except NeedsRefinement as exc:
                missing.extend(exc.nodes)
        if missing:
            raise NeedsRefinement(missing)
        return values

    def _order_statistic(self, stats: BandStats, sel: str, rank: int, cums=None):
        """Return the value of rank ``rank`` (0-based, in sorted valid samples); ``cums``
        keeps the cumulative counts of refined bins for the other ranks of one question."""
        bits = stats.key_bits
        shift = _top_shift(bits)
        hist = stats.hist
        prefix = 0
        while True:
            if hist is stats.hist:
                cum = stats.cumulative(keep=sel == "all")
            elif cums is None:
                cum = np.cumsum(hist)
            else:
                cum = cums.get(id(hist))  # the refinement's array, alive while it is asked
                if cum is None:
                    cum = cums[id(hist)] = np.cumsum(hist)
            j = int(np.searchsorted(cum, rank, side="right"))
            rank -= int(cum[j - 1]) if j else 0
            prefix = (prefix << 16) | j if shift < _top_shift(bits) else j
            # the levels below on which the smallest and largest key agree hold every key in
            # one bin: no pass counts them (int64 samples below 2**16: 3 passes -> 1)
            while shift and stats.kmin >> (shift - 16) == stats.kmax >> (shift - 16):
                shift -= 16
                prefix = stats.kmin >> shift
            if shift == 0:
                return _value(prefix, stats.dtype)
            node = self.refined.get((self._refined_selection(sel), shift, prefix))
            if node is None:
                raise NeedsRefinement([(shift, prefix, int(hist[j]))])
            kind, data = node
            if kind == "keys":
                return _value(int(data[rank]), stats.dtype)
            hist = data
            shift -= 16

    def with_refinements(self, found: dict) -> Summary:
        """Return a copy that also holds ``found``: ``(selection, shift, prefix) -> node``."""
        return replace(self, refined={**self.refined, **found})

    def histogram(self, band=None) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(values, counts)`` of the top-level histogram of a selection.

        For 8- and 16-bit integers ``values`` are the pixel values themselves; for wider types
        each bin is labelled with the smallest value it can hold. Empty bins are dropped.
        """
        stats = self.stats(band)
        nz = np.flatnonzero(stats.hist)
        keys = nz.astype(np.uint64) << np.uint64(_top_shift(stats.key_bits))
        return keys_to_values(keys, stats.dtype), stats.hist[nz]

    def to_bytes(self) -> bytes:
        """Data-only bytes of the summary (no pickle); read back with :meth:`from_bytes`.

        Examples
        --------
        >>> import numpy as np, imgstats
        >>> s = imgstats.summarize(np.arange(12, dtype=np.uint8).reshape(3, 4))
        >>> Summary.from_bytes(s.to_bytes()).compute("median")
        5.5
        """
        out = _codec.Writer()
        return out.pack(_flatten(self, out))

    @classmethod
    def from_bytes(cls, data: bytes, max_nbytes: int | None = None) -> Summary:
        """The summary :meth:`to_bytes` wrote; raises ``imgstats._codec.CorruptSummary`` (an
        :class:`~imgstats.ImgStatsError` and a ValueError) for anything else. Nothing in
        ``data`` is executed."""
        header, arrays, version = _codec.unpack(data, max_nbytes)
        summary = _build(header, arrays, version)
        arrays.finish()
        return summary

    @property
    def nbytes(self) -> int:
        """Approximate memory held by the summary's arrays."""
        arrays = [b.hist for b in self.bands] + ([self.luma.hist] if self.luma else [])
        arrays += [data for _, data in self.refined.values() if isinstance(data, np.ndarray)]
        return int(sum(a.nbytes for a in arrays))

    # -- for people: repr, Jupyter, pandas -------------------------------------------------------
    def _rows(self) -> list[tuple[str, str, BandStats]]:
        """``(label, selection, stats)`` of each band, of all bands (when several), of luma."""
        names = self.band_names
        rows = [
            (names[i] if i < len(names) else str(i), f"b{i}", b) for i, b in enumerate(self.bands)
        ]
        if len(self.bands) > 1:
            rows.append(("all", "all", self._stats("all")))
        if self.luma is not None:
            try:
                self.selection("luma")  # counted, but meaningless unless bands are R, G, B
            except InvalidOption:
                return rows
            rows.append(("luma", "luma", self.luma))
        return rows

    def _reading(self, func: str, sel: str):
        """``func`` of a selection, ``None`` when it needs pixels, NaN without valid samples."""
        band = None if sel == "all" else "luma" if sel == "luma" else int(sel[1:])
        if len(self.bands) == 1 and sel == "b0":
            band = None
        try:
            return self.compute(func, band)
        except NeedsRefinement:
            return None
        except NoValidSamples:
            return math.nan

    def __repr__(self) -> str:
        """One line: pixel type, shape, bands, valid samples, imgstats version."""
        from ._version import __version__

        everything = self._stats("all")
        shape = f"({', '.join(map(str, self.shape))})" if self.shape else "unknown"
        luma = " + luma" if self.luma is not None else ""
        nan = f", nan={everything.nan:,}" if everything.nan else ""
        return (
            f"<imgstats.Summary {self.dtype} shape={shape} bands={list(self.band_names)}{luma} "
            f"count={everything.count:,}{nan} (imgstats {__version__})>"
        )

    def _repr_html_(self) -> str:
        """A table for Jupyter: count, min, median, mean and max per band, with a histogram."""
        import html

        from ._version import __version__

        funcs = ("min", "median", "mean", "max")
        head = "".join(f"<th>{f}</th>" for f in ("band", "count", *funcs, "histogram"))
        body = []
        for label, sel, stats in self._rows():
            cells = [f"<th>{html.escape(label)}</th>", f"<td>{stats.count:,}</td>"]
            for func in funcs:
                value = self._reading(func, sel)
                text = "needs refine" if value is None else _short(value)
                cells.append(f"<td title='{html.escape(str(value))}'>{text}</td>")
            cells.append(f"<td>{_sparkline(self, sel)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        shape = " × ".join(map(str, self.shape)) if self.shape else "shape unknown"
        caption = html.escape(f"imgstats.Summary · {self.dtype} · {shape} · imgstats {__version__}")
        return (
            "<table class='imgstats-summary' style='text-align:right'>"
            f"<caption style='text-align:left'>{caption}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )

    def to_dataframe(self, funcs=("min", "median", "mean", "max")):
        """A pandas DataFrame: one row per band (then ``all`` and ``luma`` when present).

        Parameters
        ----------
        funcs : sequence of str
            The statistics, one column each, after ``count`` (valid samples) and ``nan``.

        Returns
        -------
        pandas.DataFrame
            Indexed by band name. A percentile that a 32- or 64-bit summary cannot answer
            without another look at the pixels is NaN, and listed in
            ``df.attrs["needs_refinement"]`` as ``(band, func)``: refine first
            (:func:`imgstats.refine`) to fill it. A selection without valid samples gives NaN.
        """
        import pandas as pd

        for f in funcs:
            parse_function(f)  # refuse a bad name before building anything
        rows, index, missing = [], [], []
        for label, sel, stats in self._rows():
            row = {"count": stats.count, "nan": stats.nan}
            for f in funcs:
                value = self._reading(f, sel)
                if value is None:
                    missing.append((label, f))
                    value = math.nan
                row[f] = value
            rows.append(row)
            index.append(label)
        df = pd.DataFrame(rows, index=pd.Index(index, name="band"))
        df.attrs["needs_refinement"] = missing
        return df


def _short(value) -> str:
    """A statistic shown in a table cell: integers whole, floats to 6 significant digits."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _sparkline(summary: Summary, sel: str, bins: int = 48) -> str:
    """A small inline SVG histogram of a selection, binned linearly between its min and max."""
    band = None if sel == "all" else "luma" if sel == "luma" else int(sel[1:])
    try:
        values, counts = summary.histogram(band)
    except (InvalidOption, NoValidSamples):
        return ""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return ""
    values, counts = values[finite], np.asarray(counts)[finite]
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        hi = lo + 1
    heights, _ = np.histogram(values, bins=bins, range=(lo, hi), weights=counts)
    top = heights.max() or 1
    width, height = 2 * bins, 24
    bars = "".join(
        f"<rect x='{2 * i}' y='{height - h:.1f}' width='2' height='{h:.1f}'/>"
        for i, h in enumerate(heights / top * height)
        if h > 0
    )
    return (
        f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        f"role='img' aria-label='histogram from {lo:g} to {hi:g}' "
        f"style='fill:currentColor;opacity:.7'>{bars}</svg>"
    )


# -- the byte format (imgstats._codec): Summary's fields, in one place -------------------------
def _flatten(summary: Summary, out: _codec.Writer) -> dict:
    """The JSON header of ``summary``; its arrays go to ``out``."""
    return {
        "band_names": [str(n) for n in summary.band_names],
        "shape": [int(n) for n in summary.shape],
        "bands": [_flatten_band(b, out) for b in summary.bands],
        "luma": None if summary.luma is None else _flatten_band(summary.luma, out),
        "refined": [
            [
                sel,
                int(shift),
                int(prefix),
                kind,
                _flatten_node(kind, data, out),
            ]
            for (sel, shift, prefix), (kind, data) in sorted(summary.refined.items())
        ],
        # floats as hex: exact, and NaN (a file's unusable scale) has a spelling
        "scales": None
        if summary.scales is None
        else [[float(v).hex() for v in pair] for pair in summary.scales],
        "valid": None if summary.valid is None else summary.valid.as_dict(),
        "half": bool(summary.half),
    }


def _flatten_node(kind: str, data, out: _codec.Writer):
    if kind == "keys":
        return out.array(data, "<u8", sparse=False)
    if kind == "squares":
        return [hex(data.numerator), hex(data.denominator)]
    if kind == "values":
        return out.array(data, "<u8", sparse=False)
    if kind == "too_many":
        return None
    return out.array(data, "<i8")


def _flatten_band(band: BandStats, out: _codec.Writer) -> dict:
    total = Fraction(band.total)
    return {
        "dtype": np.dtype(band.dtype).str,
        "count": int(band.count),
        "nan": int(band.nan),
        "kmin": int(band.kmin),
        "kmax": int(band.kmax),
        # hex: int() of a long decimal string is capped (sys.set_int_max_str_digits)
        "total": [hex(total.numerator), hex(total.denominator)],
        "posinf": int(band.posinf),
        "neginf": int(band.neginf),
        "masked": int(band.masked),
        "hist": out.array(band.hist, "<i8"),
    }


def _build(header: dict, arrays: _codec.Reader, version: int = _codec.FORMAT_VERSION) -> Summary:
    """The Summary a header describes, every field checked (``version``: of the bytes)."""
    _codec.expect(header, dict, "header")
    names = _codec.expect(header.get("band_names"), list, "band_names")
    bands = _codec.expect(header.get("bands"), list, "bands")
    if not bands or len(names) != len(bands) or not all(isinstance(n, str) for n in names):
        raise _codec.CorruptSummary("bands and band names do not match")
    shape = _codec.expect(header.get("shape"), list, "shape")
    if not all(_codec.is_int(n) and n >= 0 for n in shape):
        raise _codec.CorruptSummary("bad shape")
    stats = tuple(_build_band(b, arrays, version) for b in bands)
    if len({b.dtype for b in stats}) != 1:
        raise _codec.CorruptSummary("bands of different types")
    luma = header.get("luma")
    luma = None if luma is None else _build_band(luma, arrays, version)
    summary = Summary(stats, tuple(names), luma, tuple(shape))
    refined = {}
    for node in _codec.expect(header.get("refined"), list, "refined"):
        if not (isinstance(node, list) and len(node) == 5):
            raise _codec.CorruptSummary("bad refinement")
        sel, shift, prefix, kind, ref = node
        if (
            kind not in ("hist", "keys", *SPECIAL_KINDS)
            or not isinstance(sel, str)
            or not (_codec.is_int(shift) and _codec.is_int(prefix))
        ):
            raise _codec.CorruptSummary("bad refinement")
        if (shift < 0) != (kind in SPECIAL_KINDS) or (shift < 0 and version < 3):
            raise _codec.CorruptSummary("bad refinement")
        if kind == "squares":
            data = _fraction(ref)
        elif kind == "values":
            flat = arrays.array(ref, "<u8")
            if flat.size % 2 or flat.size > 2 * VALUES_LIMIT:
                raise _codec.CorruptSummary("bad value counts")
            data = flat.reshape(2, -1)
        elif kind == "too_many":
            if ref is not None:
                raise _codec.CorruptSummary("bad refinement")
            data = np.zeros((2, 0), np.uint64)
        elif kind == "keys":  # their number is checked against the parent bin below
            data = arrays.array(ref, "<u8")
        else:
            data = arrays.array(ref, "<i8", length=1 << 16)
        refined[(sel, shift, prefix)] = (kind, data)
    scales = _scales(header.get("scales"), len(stats)) if version >= 3 else None
    valid = _valid(header.get("valid")) if version >= 4 else None  # unknown before 4
    half = header.get("half", False)  # absent from the bytes of earlier versions
    if not isinstance(half, bool) or (half and np.dtype(stats[0].dtype) != np.float32):
        raise _codec.CorruptSummary("bad half")
    summary = Summary(stats, tuple(names), luma, tuple(shape), refined, scales, valid, half)
    _check_refinements(summary)
    return summary


def _valid(value) -> ValidSamples | None:
    """The :class:`ValidSamples` of a version-4 header, or ``None``."""
    if value is None:
        return None
    try:
        return ValidSamples.from_dict(value)
    except ValueError:
        raise _codec.CorruptSummary("bad valid") from None


def _scales(value, nbands: int):
    """Each band's ``(scale, offset)`` of a version-3 header, or ``None``."""
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == nbands):
        raise _codec.CorruptSummary("bad scales")
    out = []
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise _codec.CorruptSummary("bad scales")
        if not all(isinstance(v, str) for v in pair):
            raise _codec.CorruptSummary("bad scales")
        try:
            out.append(tuple(float.fromhex(v) for v in pair))
        except (ValueError, OverflowError):
            raise _codec.CorruptSummary("bad scales") from None
    return tuple(out)


def _fraction(ref) -> Fraction:
    """The exact sum of squares of a ``"squares"`` node: hex numerator and denominator."""
    if not (isinstance(ref, list) and len(ref) == 2 and all(isinstance(v, str) for v in ref)):
        raise _codec.CorruptSummary("bad sum of squares")
    try:
        num, den = (int(v, 16) for v in ref)
    except ValueError:
        raise _codec.CorruptSummary("bad sum of squares") from None
    if den <= 0:
        raise _codec.CorruptSummary("bad sum of squares")
    return Fraction(num, den)


def _build_band(fields, arrays: _codec.Reader, version: int = _codec.FORMAT_VERSION) -> BandStats:
    _codec.expect(fields, dict, "band")
    try:
        dtype = np.dtype(_codec.expect(fields.get("dtype"), str, "dtype"))
        bits = key_bits_of(dtype)
    except (TypeError, ValueError) as exc:  # InvalidOption is a ValueError
        raise _codec.CorruptSummary(f"bad band type: {exc}") from None
    names = ("count", "nan", "kmin", "kmax", "posinf", "neginf")
    ints = {k: fields.get(k) for k in names}
    ints["masked"] = fields.get("masked") if version >= 2 else 0
    if (
        not all(_codec.is_int(v) for v in ints.values())
        or min(ints["count"], ints["nan"], ints["posinf"], ints["neginf"], ints["masked"]) < 0
    ):
        raise _codec.CorruptSummary("bad band counts")
    total = _codec.expect(fields.get("total"), list, "total")
    try:
        num, den = (int(part, 16) for part in total)
        total = Fraction(num, den)
    except (TypeError, ValueError, ZeroDivisionError):
        raise _codec.CorruptSummary("bad band sum") from None
    hist = arrays.array(fields.get("hist"), "<i8", length=_bins(bits))
    count = ints["count"]
    if hist.shape != (_bins(bits),) or (hist < 0).any() or int(hist.sum()) != count:
        raise _codec.CorruptSummary("the histogram does not add up to the count")
    kmin, kmax, shift = ints["kmin"], ints["kmax"], _top_shift(bits)
    if count and not (
        0 <= kmin <= kmax < 1 << bits and hist[kmin >> shift] and hist[kmax >> shift]
    ):
        raise _codec.CorruptSummary("the key range and the histogram disagree")
    if not count and not (abs(kmin) <= 1 << bits and abs(kmax) <= 1 << bits):
        raise _codec.CorruptSummary("bad key range")
    if ints["posinf"] + ints["neginf"] > count:
        raise _codec.CorruptSummary("more infinities than samples")
    return BandStats(
        dtype.str,
        count,
        ints["nan"],
        hist,
        ints["kmin"],
        ints["kmax"],
        total,
        ints["posinf"],
        ints["neginf"],
        ints["masked"],
    )


def _check_refinements(summary: Summary) -> None:
    """Each refinement must split exactly the keys of the bin it refines."""
    bits = summary.bands[0].key_bits
    top = _top_shift(bits)
    for (sel, shift, prefix), (kind, data) in summary.refined.items():
        if shift < 0:
            _check_special(summary, sel, shift, prefix, kind, data)
            continue
        if sel not in ("all", "luma") and not (
            isinstance(sel, str)
            and sel[1:].isdecimal()
            and sel[0] == "b"
            and int(sel[1:]) < len(summary.bands)
        ):
            raise _codec.CorruptSummary("a refinement of an unknown selection")
        if sel == "luma" and summary.luma is None:
            raise _codec.CorruptSummary("a refinement of a missing luma")
        # nodes refine bins of 16 bits or more below them (see Summary._order_statistic)
        if not (16 <= shift <= top and shift % 16 == 0 and 0 <= prefix < 1 << (bits - shift)):
            raise _codec.CorruptSummary("a refinement of an impossible bin")
        expected = _refined_count(summary, sel, shift, prefix, top)
        if kind == "hist":
            if data.shape != (1 << 16,) or (data < 0).any() or int(data.sum()) != expected:
                raise _codec.CorruptSummary("a refinement that does not add up to its bin")
        else:
            if data.shape != (expected,) or (data[:-1] > data[1:]).any():
                raise _codec.CorruptSummary("collected keys that are not the bin's, sorted")
            if len(data) and (int(data[0]) >> shift != prefix or int(data[-1]) >> shift != prefix):
                raise _codec.CorruptSummary("collected keys outside their bin")


def _refined_count(summary: Summary, sel, shift: int, prefix: int, top: int) -> int:
    """The keys a refinement of the bin ``(shift, prefix)`` of ``sel`` must hold: its bin's
    count in the level above (the top histogram, or the node that refines the bin above).
    A node with no level above may refine the bin that holds every key of the selection:
    :meth:`Summary._order_statistic` skips the levels on which the smallest and largest key
    agree (int64 samples below 2**16 refine bits 16 to 31 directly)."""
    stats = summary._stats(sel)
    if shift == top:
        return int(stats.hist[prefix & 0xFFFF])
    node = summary.refined.get((sel, shift + 16, prefix >> 16))
    if node is not None and node[0] == "hist":
        return int(node[1][prefix & 0xFFFF])
    count = int(stats.hist.sum())
    if node is None and count and stats.kmin >> shift == stats.kmax >> shift == prefix:
        return count
    raise _codec.CorruptSummary("a refinement whose parent bin is not refined")


def _check_special(summary: Summary, sel, shift, prefix, kind, data) -> None:
    """A squares or values node must be possible for the samples of its selection."""
    if prefix != 0 or shift not in (SQUARES, VALUES) or (kind == "squares") != (shift == SQUARES):
        raise _codec.CorruptSummary("a refinement of an impossible kind")
    if not (sel == "all" or (isinstance(sel, str) and sel[:1] == "b" and sel[1:].isdecimal())):
        raise _codec.CorruptSummary("a refinement of an unknown selection")
    try:
        stats = summary._stats(summary.selection(None if sel == "all" else int(sel[1:])))
    except (ValueError, IndexError):
        raise _codec.CorruptSummary("a refinement of an unknown selection") from None
    if kind == "squares":
        total = Fraction(stats.total)
        if data < 0 or stats.count * data < total * total:
            raise _codec.CorruptSummary("a sum of squares below the square of the sum")
    elif kind == "values":
        keys, counts = data
        if (keys[:-1] >= keys[1:]).any() or (counts == 0).any():
            raise _codec.CorruptSummary("value counts that are not sorted and positive")
        if int(counts.sum(dtype=np.uint64)) != stats.count:
            raise _codec.CorruptSummary("value counts that do not add up to the count")


def summary_arrays(summary: Summary) -> list[np.ndarray]:
    """Every array a summary holds (histograms, refinements), e.g. to weigh it."""
    arrays = [b.hist for b in summary.bands]
    if summary.luma is not None:
        arrays.append(summary.luma.hist)
    arrays += [data for _, data in summary.refined.values() if isinstance(data, np.ndarray)]
    return arrays
