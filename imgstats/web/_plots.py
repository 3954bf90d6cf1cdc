"""Histograms as small inline SVG, drawn from a summary's histogram (no second pixel pass).

Inline SVG beats a server-rendered PNG here on every count that matters (see the README's
gallery section for the measurement): a few kilobytes of text that compress well, no extra
request, no plotting library in the server, styled and coloured by the page's CSS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup, escape

__all__ = ["Mark", "histogram_svg", "MAX_BARS"]

#: Histograms with more distinct values are regrouped into this many equal-width bars.
MAX_BARS = 256

# The viewBox. Narrow, so that text of _FONT units stays readable where the page scales the
# drawing down: 14 units show at about 11.8 px in the 286 px column of a 320 px screen.
_W, _PLOT_H = 340, 110
_FONT = 14  # the labels' font size in viewBox units (the CSS sets the same)
_ROW = 17  # height of one row of mark labels above the plot
_LEFT, _RIGHT, _BOTTOM = 6, 6, 21  # room for the value labels under the axis
_CHAR = 0.6 * _FONT  # a generous width of one character, to keep labels apart
#: Under the bars, in the figure's caption: why a spike does not flatten the rest.
SCALE_NOTE = "bar heights: square root of the count"


@dataclass(frozen=True)
class Mark:
    """A statistic drawn as a vertical line: ``name`` (``"median"``), ``value``, CSS ``kind``."""

    name: str
    value: float
    kind: str


def _bars(values: np.ndarray, counts: np.ndarray):
    """Return ``(heights, lo, hi, first, last)``: equal-width bars from lo to hi.

    ``first`` and ``last`` are the smallest and largest values drawn, for the axis labels.
    """
    values = np.asarray(values, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    finite = np.isfinite(values)
    values, counts = values[finite], counts[finite]
    if values.size == 0:
        return np.zeros(1), 0.0, 1.0, 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    first, last = lo, hi
    integral = bool(np.all(values == np.round(values)))
    if integral and hi - lo + 1 <= MAX_BARS:
        # one bar per integer value, centred on it
        lo, hi = lo - 0.5, hi + 0.5
        nbars = int(hi - lo)
    else:
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
        nbars = MAX_BARS
    heights, _ = np.histogram(values, bins=nbars, range=(lo, hi), weights=counts)
    return heights, lo, hi, first, last


def _fmt(value: float) -> str:
    """A short label for an axis or a mark."""
    if isinstance(value, int) or (math.isfinite(value) and value == int(value)):
        return str(int(value))
    return f"{value:.6g}" if abs(value) >= 1000 else f"{value:.4g}"


def _layout(xs: list[float], labels: list[str]) -> list[tuple[int, bool]]:
    """A label row (0 at the top) and side for each mark, so no line crosses another's label.

    A line runs from its own label's row down to the axis, so it crosses the labels of the
    rows below its own that it passes through. With a handful of marks every order of rows
    and every side (a label right of its line, or left, ``True``) is tried: the layout kept has
    the fewest crossings, then the fewest labels out of the drawing, then the fewest labels
    off their natural side (right, or left in the right part). The labels are also drawn over
    a halo of the background, for what is left.
    """
    import itertools

    count = len(xs)
    widths = [len(label) * _CHAR for label in labels]
    natural = tuple(x > _W * 0.6 for x in xs)

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
        outside = sum(1 for a, b in spans if a < 0 or b > _W)
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
    values, counts, marks: list[Mark], *, title: str, band_class: str = "band", span=None
) -> Markup:
    """Return an inline, accessible ``<svg>`` histogram with vertical lines at ``marks``.

    Each mark's label has a row of its own above the bars, chosen so that no line crosses
    another mark's label. The bar heights are the square roots of the counts (see
    :data:`SCALE_NOTE`, for the caption).

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
        The exact min and max, written under the ends of the axis; by default the first and
        last histogram values, which for binned (float, wide) data are bin edges.

    Returns
    -------
    markupsafe.Markup
        The SVG element, safe to insert into a template as is.
    """
    heights, lo, hi, first, last = _bars(values, counts)
    if span is not None and all(v is not None and math.isfinite(v) for v in span):
        first, last = span
    marks = [m for m in marks if m.value is not None and math.isfinite(m.value)]
    top_margin = _ROW * len(marks) + 6
    height = top_margin + _PLOT_H + _BOTTOM
    plot_w = _W - _LEFT - _RIGHT
    base = top_margin + _PLOT_H
    # Square root of the counts: a spike (a saturated 255, a black border) must not flatten
    # every other bar to nothing; the caption says so.
    scaled = np.sqrt(heights)
    top = float(scaled.max()) or 1.0
    bar_w = plot_w / len(heights)
    ys = base - scaled / top * _PLOT_H
    # One path: a step outline along the tops of the bars, closed along the base line.
    parts = [f"M{_LEFT},{base}"]
    for i, y in enumerate(ys):
        parts.append(f"V{y:.1f}H{_LEFT + (i + 1) * bar_w:.1f}")
    parts.append(f"V{base}Z")
    path = "".join(parts)

    def x_of(v: float) -> float:
        return min(max(_LEFT + (v - lo) / (hi - lo) * plot_w, _LEFT), _W - _RIGHT)

    xs = [x_of(float(m.value)) for m in marks]
    labels = [f"{m.name} {_fmt(m.value)}" for m in marks]
    layout = _layout(xs, labels)
    lines, texts = [], []
    for mark, x, label, (row, end) in zip(marks, xs, labels, layout, strict=True):
        label_y = _ROW * (row + 1)
        kind = escape(mark.kind)
        lines.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{label_y - _FONT + 2}" y2="{base}"/>')
        texts.append(
            f'<text class="label label-{kind}" x="{x - 3 if end else x + 3:.1f}" '
            f'y="{label_y}" text-anchor="{"end" if end else "start"}">'
            f"{escape(label)}</text>"
        )
    # every line before every label, so a label's halo covers any line behind it
    groups = "".join(
        f'<g class="mark mark-{escape(m.kind)}">{line}</g>'
        for m, line in zip(marks, lines, strict=True)
    ) + "".join(texts)
    return Markup(
        f'<svg class="hist" viewBox="0 0 {_W} {height}" role="img" '
        f'aria-label="{escape(title)}. {escape(", ".join(labels))}" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<path class="bars {escape(band_class)}" d="{path}"/>'
        f'<line class="axis" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{base}" y2="{base}"/>'
        f'<text class="tick" x="{_LEFT}" y="{height - 4}">{escape(_fmt(first))}</text>'
        f'<text class="tick" x="{_W - _RIGHT}" y="{height - 4}" text-anchor="end">'
        f"{escape(_fmt(last))}</text>" + groups + "</svg>"
    )
