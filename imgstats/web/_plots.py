"""Histograms as inline SVG, drawn from a summary's histogram (no second pixel pass).

Inline SVG beats a server-rendered PNG here on every count that matters (see the README's
gallery section for the measurement): a few kilobytes of text that compress well, no extra
request, no plotting library in the server, styled and coloured by the page's CSS.

Each histogram is drawn in two layouts (:data:`LAYOUTS`): a wide one for a desktop column and
a narrow one for a phone; the page's CSS shows the one that fits its column, so that the text
keeps a readable size on the screen whatever the width (an SVG's text scales with it).

The summary's histogram of a 32/64-bit image has bins of the *keys* (about 1/128 of an octave
for float32), not of equal width in value: drawn as they are, they would give a comb of empty
and full bars that looks like data. :func:`display_bars` spreads each bin's count evenly over
the value interval it covers, then reads equal-width bars from that.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup, escape

__all__ = ["Mark", "Layout", "LAYOUTS", "histogram_svg", "display_bars", "nice_ticks", "MAX_BARS"]

#: Histograms with more distinct values are regrouped into this many equal-width bars.
MAX_BARS = 256
#: Under the bars, in the figure's caption: why a spike does not flatten the rest.
SCALE_NOTE = "bar heights: square root of the count"


@dataclass(frozen=True)
class Layout:
    """The geometry of one drawing, in viewBox units (the CSS gives the font the same size)."""

    name: str
    width: int
    plot_height: int
    font: int
    max_bars: int

    @property
    def char(self) -> float:
        """A generous width of one character of the labels, to keep them apart."""
        return 0.66 * self.font  # DejaVu Sans, the fallback of system-ui, is 0.64 em a digit

    @property
    def row(self) -> int:
        """The height of one row of mark labels above the plot."""
        return self.font + 5


#: ``wide``: shown in columns of 34rem and more (about 0.85-1.2 viewBox units per CSS px);
#: ``narrow``: below (a 286 px column on a 320 px screen shows 14 units at 11.8 px).
LAYOUTS = {
    "wide": Layout("wide", 620, 160, 13, MAX_BARS),
    "narrow": Layout("narrow", 340, 120, 14, 128),
}


@dataclass(frozen=True)
class Mark:
    """A statistic drawn as a vertical line: ``name`` (``"median"``), ``value``, CSS ``kind``."""

    name: str
    value: float
    kind: str


# -- binning --------------------------------------------------------------------------------
def _upper_edges(values: np.ndarray) -> np.ndarray:
    """The (exclusive) upper end of each summary bin labelled by ``values``.

    8/16-bit integers have one bin per value (``v + 1``). Wider types have one bin per value
    of the top 16 bits of the order-preserving key (see :mod:`imgstats.summary`): the end of a
    bin is the smallest value of the next one.
    """
    from ..summary import _top_shift, float32_keys, key_bits_of, keys_to_values

    dtype = values.dtype
    if dtype.kind == "b" or (dtype.kind in "ui" and dtype.itemsize <= 2):
        return values.astype(np.float64) + 1.0
    bits = key_bits_of(dtype)
    unsigned = np.dtype(f"u{dtype.itemsize}")
    raw = values.view(unsigned).astype(np.uint64)
    sign = np.uint64(1 << (bits - 1))
    if dtype.kind == "u":
        keys = raw
    elif dtype.kind == "i":
        keys = raw ^ sign
    elif dtype.itemsize == 4:
        keys = float32_keys(raw.astype(np.uint32)).astype(np.uint64)
    else:
        full = np.uint64((1 << bits) - 1)
        keys = np.where(raw & sign, ~raw & full, raw | sign)
    shift = np.uint64(_top_shift(bits))
    top = keys >> shift
    last = top >= np.uint64((1 << min(16, bits)) - 1)
    following = np.where(last, top, top + np.uint64(1)) << shift
    with np.errstate(invalid="ignore"):  # a bin's end may be a signalling NaN's key
        upper = keys_to_values(following, dtype).astype(np.float64)
        return np.where(last | ~np.isfinite(upper), np.inf, upper)


def display_bars(values, counts, span=None, max_bars: int = MAX_BARS):
    """Equal-width bars in value space from a summary's histogram.

    Parameters
    ----------
    values, counts : numpy.ndarray
        :meth:`imgstats.Summary.histogram` of one selection: the smallest value each bin can
        hold (of the image's type) and its count. Non-finite values are left out.
    span : (float, float), optional
        The exact min and max: the bars go from one to the other. Default: the bins' ends.
    max_bars : int
        At most this many bars.

    Returns
    -------
    heights : numpy.ndarray
        The (float) count of each bar. Integers whose range fits get one bar each; otherwise
        each bin's count is spread evenly over the interval of values it holds (clipped to the
        span), so bins of unequal width (float keys) give no comb of empty bars.
    lo, hi : float
        The values at the left and right ends of the bars.
    """
    values = np.asarray(values)
    counts = np.asarray(counts, dtype=np.float64)
    if values.dtype.kind not in "biuf":
        values = values.astype(np.float64)
    # the bin of -inf (and of NaN keys) is labelled by a NaN of the image's type, which may
    # be a signalling one: numpy warns when it casts it ("invalid value"), a 500 under -W
    with np.errstate(invalid="ignore"):
        lower = values.astype(np.float64)
    keep = np.isfinite(lower)
    if not keep.any():
        return np.zeros(1), 0.0, 1.0
    upper = _upper_edges(values)[keep]
    lower, counts = lower[keep], counts[keep]
    first, last = float(lower[0]), float(lower[-1])
    if span is not None and all(v is not None and math.isfinite(v) for v in span):
        first, last = float(span[0]), float(span[1])
    point_values = values.dtype.kind in "bui" and values.dtype.itemsize <= 2
    if point_values and last - first + 1 <= max_bars:
        # one bar per integer value, centred on it
        heights = np.zeros(int(last - first) + 1)
        index = (lower - first).astype(np.int64)
        inside = (index >= 0) & (index < heights.size)
        np.add.at(heights, index[inside], counts[inside])
        return heights, first - 0.5, last + 0.5
    if point_values:
        # whole values per bar, the same number in each: the bars are exact counts
        per_bar = math.ceil((last - first + 1) / max_bars)
        bars = math.ceil((last - first + 1) / per_bar)
        index = ((lower - first) // per_bar).astype(np.int64)
        inside = (index >= 0) & (index < bars)
        heights = np.zeros(bars)
        np.add.at(heights, index[inside], counts[inside])
        return heights, first, first + bars * per_bar
    if last <= first:  # one value: one bar around it
        return np.array([counts.sum()]), first - 0.5, first + 0.5
    # the cumulative count as a piecewise-linear function of the value: flat between bins,
    # rising evenly across each bin's interval (clipped to the span, where the samples are)
    a = np.clip(lower, first, last)
    b = np.clip(np.minimum(upper, np.nextafter(np.inf, 0)), first, last)
    b = np.maximum(a, b)
    cum = np.cumsum(counts)
    xs = np.empty(2 * a.size)
    ys = np.empty(2 * a.size)
    xs[0::2], xs[1::2] = a, b
    ys[0::2], ys[1::2] = cum - counts, cum
    edges = np.linspace(first, last, max_bars + 1)
    at_edges = np.interp(edges, xs, ys, left=0.0, right=float(cum[-1]))
    at_edges[-1] = cum[-1]
    return np.maximum(np.diff(at_edges), 0.0), first, last


# -- ticks ----------------------------------------------------------------------------------
def nice_ticks(lo: float, hi: float, count: int) -> tuple[list[float], float]:
    """At most ``count`` round values (1, 2, 2.5 or 5 times a power of ten) in ``[lo, hi]``.

    Returns the ticks and their step.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo or count < 1:
        return ([lo] if math.isfinite(lo) else []), 1.0
    raw = (hi - lo) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * power
        start = math.ceil(lo / step - 1e-9)
        stop = math.floor(hi / step + 1e-9)
        if stop - start + 1 <= count:
            break
    ticks = [n * step for n in range(start, stop + 1)]
    return [0.0 if t == 0 else t for t in ticks], step


def _sqrt_ticks(top: float) -> list[float]:
    """Round counts spread evenly on a square-root scale up to ``top``: 0, then the counts of
    one significant digit (1, 2, 3, 4, 5, 6 or 8) nearest to ``top`` times 1/25, 4/25, 9/25,
    16/25 and 1 (0, 2k, 6k, 20k, 30k, 40k)."""
    ticks = {0.0}
    for f in (0.2, 0.4, 0.6, 0.8, 1.0):
        target = top * f * f
        if target < 1:
            continue
        power = 10.0 ** math.floor(math.log10(target))
        candidates = [m * power for m in (1, 2, 3, 4, 5, 6, 8, 10) if m * power <= top]
        if candidates:
            ticks.add(float(min(candidates, key=lambda v: abs(math.log(v / target)))))
    return sorted(ticks)


def _tick_text(value: float, step: float) -> str:
    """A tick's label with as many decimals as its step needs (``0.25``, ``1.5e+38``, ``12k``)."""
    if value == 0:
        return "0"
    size = max(abs(value), step)
    if size >= 1e6 or size < 1e-4:  # an exponent, with the digits the step needs
        digits = math.floor(math.log10(size)) - math.floor(math.log10(step)) + 1
        return f"{value:.{min(max(digits, 1), 6) - 1}e}"
    decimals = 0
    while decimals < 10 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    return f"{value:.{decimals}f}"


def _count_text(value: float) -> str:
    """A count for the y axis: ``0``, ``800``, ``1.5k``, ``12k``, ``2M``."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            text = f"{value / limit:.1f}".rstrip("0").rstrip(".")
            return text + suffix
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def _fmt(value: float) -> str:
    """A short label for a mark."""
    if isinstance(value, int) or (math.isfinite(value) and value == int(value)):
        return str(int(value)) if abs(value) < 1e15 else f"{value:.4g}"
    return f"{value:.6g}" if abs(value) >= 1000 else f"{value:.4g}"


# -- labels ---------------------------------------------------------------------------------
def _layout(
    xs: list[float], labels: list[str], layout: Layout, left_end: float, right_end: float
) -> list[tuple[int, bool]]:
    """A label row (0 at the top) and side for each mark, so no line crosses another's label.

    Every mark has a row of its own, so no two labels can overlap. A line runs from its own
    label's row down to the axis, so it crosses the labels of the rows below its own that it
    passes through. With a handful of marks every order of rows and every side (a label right
    of its line, or left, ``True``) is tried: the layout kept has the fewest crossings, then
    the fewest labels out of the drawing, then the fewest labels off their natural side
    (right, or left in the right part). The labels are also drawn over a halo of the
    background, for what is left.
    """
    count = len(xs)
    widths = [len(label) * layout.char for label in labels]
    natural = tuple(x > left_end + (right_end - left_end) * 0.6 for x in xs)

    def span(m: int, left: bool) -> tuple[float, float]:
        if left:
            return xs[m] - 3 - widths[m], xs[m] - 3
        return xs[m] + 3, xs[m] + 3 + widths[m]

    def cost(order, sides):
        row = {mark: r for r, mark in enumerate(order)}
        spans = [span(m, sides[m]) for m in range(count)]
        crossings = sum(
            1
            for m in range(count)
            for n, (a, b) in enumerate(spans)
            if m != n and row[m] < row[n] and a - 2 <= xs[m] <= b + 2
        )
        outside = sum(1 for a, b in spans if a < 0 or b > layout.width)
        moved = sum(1 for m in range(count) if sides[m] != natural[m])
        return crossings, outside, moved

    if count > 5:  # never in the gallery (4 marks): keep the given order
        return [(r, natural[r]) for r in range(count)]
    best = min(
        (
            (order, sides)
            for order in itertools.permutations(range(count))
            for sides in itertools.product((False, True), repeat=count)
        ),
        key=lambda layout: cost(*layout),
    )  # min keeps the first of equals: the given order, on natural sides
    order, sides = best
    rows = [0] * count
    for r, mark in enumerate(order):
        rows[mark] = r
    return list(zip(rows, sides, strict=True))


def histogram_svg(
    values,
    counts,
    marks: list[Mark],
    *,
    title: str,
    band_class: str = "band",
    span=None,
    layout: str | Layout = "narrow",
) -> Markup:
    """Return an inline, accessible ``<svg>`` histogram with axes and lines at ``marks``.

    The x axis has round ticks in value space; the y axis has round counts on a square-root
    scale (see :data:`SCALE_NOTE`, for the caption). Each mark's label has a row of its own
    above the bars, chosen so that no line crosses another mark's label, and no tick label
    overlaps another.

    Parameters
    ----------
    values, counts : numpy.ndarray
        :meth:`imgstats.Summary.histogram` of one band: values (or bin lower edges) and counts.
    marks : list of Mark
        Statistics to draw; non-finite ones are left out.
    title : str
        The accessible name of the drawing (``"Histogram of band R"``).
    band_class : str
        A CSS class on the bars, for the band's colour.
    span : (float, float), optional
        The exact min and max: the bars go from one to the other (binned data otherwise
        starts and ends at bin edges).
    layout : {"narrow", "wide"} or Layout
        The geometry (:data:`LAYOUTS`); the SVG has the class ``hist-<name>``.

    Returns
    -------
    markupsafe.Markup
        The SVG element, safe to insert into a template as is.
    """
    geo = LAYOUTS[layout] if isinstance(layout, str) else layout
    heights, lo, hi = display_bars(values, counts, span, geo.max_bars)
    marks = [m for m in marks if m.value is not None and math.isfinite(m.value)]
    font, char = geo.font, geo.char

    # y axis: round counts, placed on the square-root scale (a spike -- a saturated 255, a
    # black border -- must not flatten every other bar to nothing; the caption says so)
    top_count = float(heights.max()) or 1.0
    scale_top = math.sqrt(top_count)
    min_gap = font + 3
    y_ticks: list[float] = []
    for t in sorted(_sqrt_ticks(top_count), reverse=True):  # from the top: keep those apart
        pos = math.sqrt(t) / scale_top * geo.plot_height
        if all(abs(pos - math.sqrt(k) / scale_top * geo.plot_height) >= min_gap for k in y_ticks):
            y_ticks.append(t)
    y_texts = [_count_text(t) for t in y_ticks]
    left = 4 + font + 8 + max(len(t) for t in y_texts) * char + 6  # title, labels, tick
    right = 8 + char * 2
    plot_w = geo.width - left - right
    top_margin = geo.row * len(marks) + 8
    base = top_margin + geo.plot_height
    height = base + 6 + font + 4 + font + 6  # ticks, their labels, the axis title

    def x_of(v: float) -> float:
        return min(max(left + (v - lo) / (hi - lo) * plot_w, left), left + plot_w)

    def y_of(count: float) -> float:
        return base - math.sqrt(max(count, 0.0)) / scale_top * geo.plot_height

    # bars: one path, a step outline along their tops, closed along the base line
    bar_w = plot_w / len(heights)
    parts = [f"M{left:.1f},{base}"]
    for i, h in enumerate(heights):
        parts.append(f"V{y_of(float(h)):.1f}H{left + (i + 1) * bar_w:.1f}")
    parts.append(f"V{base}Z")
    out = []
    # y grid, ticks and labels
    grid, y_labels = [], []
    for t, text in zip(y_ticks, y_texts, strict=True):
        y = y_of(t)
        grid.append(
            f'<line class="grid" x1="{left:.1f}" x2="{left + plot_w:.1f}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        y_labels.append(
            f'<text class="tick tick-y" x="{left - 6:.1f}" y="{y + font * 0.35:.1f}" '
            f'text-anchor="end">{escape(text)}</text>'
        )
    out += grid
    out.append(f'<path class="bars {escape(band_class)}" d="{"".join(parts)}"/>')
    out.append(
        f'<line class="axis" x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{base}" y2="{base}"/>'
        f'<line class="axis" x1="{left:.1f}" x2="{left:.1f}" y1="{top_margin}" y2="{base}"/>'
    )
    out += y_labels
    # x ticks: round values, as many as fit without their labels touching
    x_lo, x_hi = (
        (lo + 0.5, hi - 0.5) if hi - lo > 1 and _integral_bars(values, lo, hi) else (lo, hi)
    )
    count = max(2, int(plot_w // (8 * char)))
    while True:
        ticks, step = nice_ticks(x_lo, x_hi, count)
        texts = [_tick_text(t, step) for t in ticks]
        xs = [x_of(t) for t in ticks]
        spans = [
            _x_span(x, len(s) * char, left, left + plot_w) for x, s in zip(xs, texts, strict=True)
        ]
        fits = all(spans[i][1] + char <= spans[i + 1][0] for i in range(len(spans) - 1))
        if fits or count <= 2:
            break
        count -= 1
    if not fits:  # even two round values do not fit (long exponents): keep the first
        ticks, texts, xs, spans = ticks[:1], texts[:1], xs[:1], spans[:1]
    label_y = base + 6 + font
    for x, text, (a, _) in zip(xs, texts, spans, strict=True):
        out.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 5}"/>')
        out.append(f'<text class="tick tick-x" x="{a:.1f}" y="{label_y:.1f}">{escape(text)}</text>')
    out.append(
        f'<text class="axis-title" x="{left + plot_w / 2:.1f}" y="{height - 5:.1f}" '
        f'text-anchor="middle">value</text>'
        f'<text class="axis-title" transform="translate({4 + font:.1f} '
        f"{top_margin + geo.plot_height / 2:.1f}) "
        f'rotate(-90)" text-anchor="middle">count (√)</text>'
    )
    # marks: every line before every label, so a label's halo covers any line behind it
    xs = [x_of(float(m.value)) for m in marks]
    labels = [f"{m.name} {_fmt(m.value)}" for m in marks]
    rows = _layout(xs, labels, geo, left, left + plot_w)
    texts_out = []
    for mark, x, label, (row, end) in zip(marks, xs, labels, rows, strict=True):
        y = geo.row * (row + 1)
        kind = escape(mark.kind)
        out.append(
            f'<g class="mark mark-{kind}"><line x1="{x:.1f}" x2="{x:.1f}" '
            f'y1="{y - font + 2}" y2="{base}"/></g>'
        )
        width = len(label) * char
        start = x - 3 - width if end else x + 3
        start = min(max(start, 1.0), geo.width - 1 - width)  # never out of the drawing
        texts_out.append(
            f'<text class="label label-{kind}" x="{start:.1f}" y="{y}">{escape(label)}</text>'
        )
    out += texts_out
    aria = f"{title}. " + ", ".join(labels) if labels else title
    return Markup(
        f'<svg class="hist hist-{escape(geo.name)}" viewBox="0 0 {geo.width} {height:.0f}" '
        f'role="img" aria-label="{escape(aria)}" xmlns="http://www.w3.org/2000/svg">'
        + "".join(out)
        + "</svg>"
    )


def _integral_bars(values, lo: float, hi: float) -> bool:
    """Whether the bars are one per integer value (centred on it, ends at ±0.5)."""
    values = np.asarray(values)
    point = values.dtype.kind in "bui" and values.dtype.itemsize <= 2
    return point and lo - 0.5 == math.floor(lo) and hi - lo <= MAX_BARS


def _x_span(x: float, width: float, lo: float, hi: float) -> tuple[float, float]:
    """Where a label of ``width`` centred under ``x`` sits, kept inside ``[lo - 4, hi + 4]``."""
    start = min(max(x - width / 2, lo - 4), hi + 4 - width)
    return start, start + width
