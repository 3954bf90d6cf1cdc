"""What the statistics of issue 16 items 3 and 4 cost: ``std`` of wide types and floats, the
categories of 32-bit integers, and physical values (``scaled``).

Each line times two calls side by side (:func:`benchmarks.harness.best_pair`) and prints
their ratio: ``std`` against ``mean`` (its extra refinement pass), ``majority`` against
``mean`` on a class raster of int32, ``std`` against ``numpy.std``, and a scaled percentile
against the stored one (a reading: the same passes).

    uv run python benchmarks/bench_values.py             # 4096 x 4096
    uv run python benchmarks/bench_values.py --side 2048 --repeat 3
"""

from __future__ import annotations

import argparse

import numpy as np

import imgstats
from benchmarks.harness import best_pair


def _mean(a):
    return imgstats.compute(a, "mean")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=4096, help="image side (default 4096)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each (default 5)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    side, repeat = args.side, args.repeat
    floats = rng.normal(100, 30, (side, side)).astype(np.float32)
    doubles = floats.astype(np.float64)
    wide = rng.integers(-(2**31), 2**31 - 1, (side, side), dtype=np.int32)
    classes = (rng.integers(0, 40, (side, side)) * 100_003).astype(np.int32)
    rows = [
        ("float32 std / mean", floats, lambda a: imgstats.compute(a, "mean"), "std"),
        ("float64 std / mean", doubles, lambda a: imgstats.compute(a, "mean"), "std"),
        ("int32 std / mean", wide, lambda a: imgstats.compute(a, "mean"), "std"),
        (
            "int32 classes majority / mean",
            classes,
            lambda a: imgstats.compute(a, "mean"),
            "majority",
        ),
        ("float32 std / numpy.std", floats, lambda a: np.std(a, dtype=np.float64), "std"),
        ("float64 std / numpy.std", doubles, lambda a: np.std(a), "std"),
    ]
    print(f"{side} x {side}, best of {repeat}, ratios measured side by side in one run")
    for label, arr, reference, func in rows:
        ref, ours = best_pair(
            lambda a=arr, r=reference: r(a),
            lambda a=arr, f=func: imgstats.compute(a, f),
            repeat,
        )
        _line(label, ref, ours)
    ref, ours = best_pair(
        lambda: imgstats.compute(floats, "p99"),
        lambda: imgstats.compute(floats, "p99", scale=-0.01, offset=273.15),
        repeat,
    )
    _line("float32 scaled p99 / p99", ref, ours)


def _line(label: str, ref: float, ours: float) -> None:
    print(f"{label:34s} {ours / ref:6.2f}x   ({ours * 1e3:8.1f} ms vs {ref * 1e3:8.1f} ms)")


if __name__ == "__main__":
    main()
