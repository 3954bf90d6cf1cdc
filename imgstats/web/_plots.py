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

_W, _H = 480, 190  # the viewBox; the page scales the drawing to its column
_LEFT, _RIGHT, _TOP, _BOTTOM = 8, 8, 58, 22  # room for the mark labels above, axis below


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
    return f"{value:.4g}"


def histogram_svg(
    values, counts, marks: list[Mark], *, title: str, band_class: str = "band"
) -> Markup:
    """Return an inline, accessible ``<svg>`` histogram with vertical lines at ``marks``.

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

    Returns
    -------
    markupsafe.Markup
        The SVG element, safe to insert into a template as is.
    """
    heights, lo, hi, first, last = _bars(values, counts)
    plot_w = _W - _LEFT - _RIGHT
    plot_h = _H - _TOP - _BOTTOM
    base = _TOP + plot_h
    # Square root of the counts: a spike (a saturated 255, a black border) must not flatten
    # every other bar to nothing; the axis label says so.
    scaled = np.sqrt(heights)
    top = float(scaled.max()) or 1.0
    bar_w = plot_w / len(heights)
    ys = base - scaled / top * plot_h
    # One path: a step outline along the tops of the bars, closed along the base line.
    parts = [f"M{_LEFT},{base}"]
    for i, y in enumerate(ys):
        parts.append(f"V{y:.1f}H{_LEFT + (i + 1) * bar_w:.1f}")
    parts.append(f"V{base}Z")
    path = "".join(parts)

    def x_of(v: float) -> float:
        return _LEFT + (v - lo) / (hi - lo) * plot_w

    lines = []
    desc = []
    for row, mark in enumerate(marks):
        if mark.value is None or not math.isfinite(mark.value):
            continue
        x = min(max(x_of(float(mark.value)), _LEFT), _W - _RIGHT)
        label_y = 12 + row * 12
        anchor = "end" if x > _W * 0.75 else "start"
        dx = -3 if anchor == "end" else 3
        label = f"{mark.name} {_fmt(mark.value)}"
        lines.append(
            f'<g class="mark mark-{escape(mark.kind)}">'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{label_y - 8}" y2="{base}"/>'
            f'<text x="{x + dx:.1f}" y="{label_y}" text-anchor="{anchor}">{escape(label)}</text>'
            "</g>"
        )
        desc.append(label)
    return Markup(
        f'<svg class="hist" viewBox="0 0 {_W} {_H}" role="img" '
        f'aria-label="{escape(title)}. {escape(", ".join(desc))}" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<path class="bars {escape(band_class)}" d="{path}"/>'
        f'<line class="axis" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{base}" y2="{base}"/>'
        f'<text class="tick" x="{_LEFT}" y="{_H - 6}">{escape(_fmt(first))}</text>'
        f'<text class="tick" x="{_W / 2}" y="{_H - 6}" text-anchor="middle">'
        "count, square-root scale</text>"
        f'<text class="tick" x="{_W - _RIGHT}" y="{_H - 6}" text-anchor="end">'
        f"{escape(_fmt(last))}</text>"
        + "".join(lines)
        + "</svg>"
    )

