"""The inline SVG histograms."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

import imgstats
from imgstats.web._plots import MAX_BARS, Mark, histogram_svg

SVG = "{http://www.w3.org/2000/svg}"


def _svg(values, counts, marks=()):
    svg = histogram_svg(values, counts, list(marks), title="Histogram <of> band R", layout="wide")
    return ET.fromstring(str(svg))


def _steps(root) -> int:
    return root.find(f"{SVG}path").get("d").count("H")


@pytest.mark.parametrize(
    ("dtype", "low", "high", "bars"),
    [
        ("uint8", 0, 256, 256),
        ("uint8", 100, 110, 10),
        ("uint16", 0, 65536, MAX_BARS),
        ("int16", -300, 300, 200),  # 600 values, 3 a bar
        ("float32", -1, 1, MAX_BARS),
    ],
)
def test_bars_from_a_summary_histogram(dtype, low, high, bars):
    rng = np.random.default_rng(1)
    if np.dtype(dtype).kind == "f":
        arr = rng.uniform(low, high, (64, 64)).astype(dtype)
    else:
        arr = rng.integers(low, high, (64, 64), dtype=dtype)
    summary = imgstats.summarize(arr)
    values, counts = summary.histogram()
    stats = imgstats.compute(arr, ["min", "median", "mean"])
    root = _svg(values, counts, [Mark(k, v, k) for k, v in stats.items()])
    assert _steps(root) == bars
    assert len(root.findall(f"{SVG}g[@class]")) == 3
    assert root.get("role") == "img" and "<of>" in root.get("aria-label")


def test_non_finite_marks_and_values_are_left_out():
    values = np.array([-np.inf, 1.0, 2.0, np.inf])
    root = _svg(
        values,
        np.array([1, 5, 5, 1]),
        [Mark("mean", float("nan"), "mean"), Mark("max", np.inf, "max"), Mark("min", 1.0, "min")],
    )
    assert len(root.findall(f"{SVG}g")) == 1


def test_a_single_value_still_draws():
    root = _svg(np.array([7], np.uint8), np.array([10]), [Mark("min", 7, "min")])
    assert _steps(root) == 1
