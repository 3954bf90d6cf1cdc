"""Regions, dims and collections (issue 11), each against its reference side by side in one run.

Run ``uv run python -m benchmarks.bench_regions`` (small inputs, about a minute) or ``--full``
(the 805 MB tiled TIFF of bench_core.py and a (24, 2048, 2048) float32 stack: several
minutes and about 2 GB of memory). Every time is the best of ``--repeat`` calls, the
reference and imgstats called in turn after a warm-up, so that a noisy machine slows both
alike; the ratios are what to read.

1. A window of 1/64, 1/16 and 1/4 of a large tiled TIFF against the whole image (goal: 1/16 of
   the image in at most 1/8 of the whole image's time). The window is streamed like the whole
   image, decoding only the tiles it touches: the share of the tiles decoded is printed beside
   the ratio, as the floor that the ratio can approach.
2. ``compute(stack, "p99", dim=("y", "x"))`` on a dask (time, y, x) float32 stack chunked
   (1, y/2, x/2), against ``numpy.nanpercentile`` on the loaded array and against
   ``xarray.DataArray.quantile`` after rechunking (y, x) into one chunk; with exactness.
3. Merging 10, 100 and 1,000 per-image summaries, and their size in bytes (pickled, and
   zlib-compressed), for the extrapolation in docs/scaling-out.md.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np

from benchmarks.bench_core import tiff_input
from benchmarks.harness import best_pair, ms

HERE = Path(__file__).resolve().parent

FUNCS = ["min", "max", "mean", "median", "p99"]


def bench_windows(path: Path, side: int, repeat: int) -> list[str]:
    import imgstats
    from imgstats.io._tiff import TiffStream

    stream = TiffStream.open(path)
    tiles = len(stream.segment_indices())
    rows = [
        "| window | share of the image | tiles decoded | whole image | window | ratio |",
        "|---|---|---|---|---|---|",
    ]
    whole = lambda: imgstats.compute(path, FUNCS)  # noqa: E731
    for frac in (8, 4, 2):  # a window of side/frac: 1/64, 1/16, 1/4 of the pixels
        w = side // frac
        x0 = y0 = (side - w) // 2 + 100  # not aligned to tiles
        window = (x0, y0, x0 + w, y0 + w)

        def part(window=window):
            return imgstats.compute(path, FUNCS, window=window)

        t_whole, t_part = best_pair(whole, part, repeat)
        touched = len(stream.windowed(window).segment_indices())
        rows.append(
            f"| {window} | 1/{frac * frac} | {touched}/{tiles} = {touched / tiles:.3f} | "
            f"{ms(t_whole)} | {ms(t_part)} | {t_part / t_whole:.3f} |"
        )
    return rows


def bench_dims(times: int, side: int, repeat: int) -> list[str]:
    import dask.array as da
    import xarray as xr

    import imgstats

    rng = np.random.default_rng(5)
    arr = rng.normal(100.0, 20.0, (times, side, side)).astype(np.float32)
    arr[:, ::97, ::89] = np.nan
    lazy = xr.DataArray(
        da.from_array(arr, chunks=(1, side // 2, side // 2)), dims=("time", "y", "x")
    )
    loaded = lazy.values

    def ours():
        return imgstats.compute(lazy, "p99", dim=("y", "x")).values

    def numpy_ref():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanpercentile(loaded, 99, axis=(1, 2))

    def xarray_ref():
        return lazy.chunk({"y": -1, "x": -1}).quantile(0.99, dim=("y", "x")).values

    t_np, t_ours = best_pair(numpy_ref, ours, repeat)
    t_xr, _ = best_pair(xarray_ref, lambda: None, repeat)
    got, want, xr_got = ours(), numpy_ref(), xarray_ref()
    exact = np.array_equal(got, want)
    xr_err = float(np.max(np.abs(xr_got - want)))
    return [
        f"stack (time={times}, y={side}, x={side}) float32, dask chunks (1, {side // 2}, "
        f"{side // 2}), p99 along (y, x)",
        "",
        "| method | time | vs imgstats | equal to numpy.nanpercentile |",
        "|---|---|---|---|",
        f"| imgstats dim=('y', 'x') | {ms(t_ours)} | 1.00 | {exact} |",
        f"| numpy.nanpercentile on the loaded array | {ms(t_np)} | {t_np / t_ours:.2f} | - |",
        f"| xarray quantile after rechunking (y, x) | {ms(t_xr)} | {t_xr / t_ours:.2f} | "
        f"max abs diff {xr_err:.3g} |",
    ]


def bench_merge(repeat: int) -> list[str]:
    import imgstats
    from imgstats.collection import merge_summaries

    rng = np.random.default_rng(6)
    kinds = {
        "uint8 RGB (+luma)": rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
        "uint16 grey": rng.integers(0, 65536, (256, 256), dtype=np.uint16),
        "float32 grey": rng.normal(size=(256, 256)).astype(np.float32),
    }
    rows = [
        "| summary | pickled bytes | zlib bytes | to_bytes() | merge 10 | merge 100 | "
        "merge 1,000 | per merge |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, arr in kinds.items():
        s = imgstats.summarize(arr)
        raw = pickle.dumps(s)
        packed = len(zlib.compress(raw, 6))
        codec = f"{len(s.to_bytes()):,}" if hasattr(s, "to_bytes") else "-"
        cells = []
        for n in (10, 100, 1000):
            parts = [s] * n
            best = min(_time(lambda parts=parts: merge_summaries(parts)) for _ in range(repeat))
            cells.append(best)
        rows.append(
            f"| {name} | {len(raw):,} | {packed:,} | {codec} | {ms(cells[0])} | "
            f"{ms(cells[1])} | {ms(cells[2])} | {cells[2] / 999 * 1e6:.0f} us |"
        )
    return rows


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--full", action="store_true", help="the 805 MB TIFF and a (24, 2048, 2048) stack"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=HERE / "data", help="where inputs are kept")
    parser.add_argument("--skip", nargs="*", default=[], choices=["windows", "dims", "merge"])
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    side = 16384 if args.full else 4096
    times, stack = (24, 2048) if args.full else (6, 1024)
    if "windows" not in args.skip:
        path = tiff_input(args.data, side)
        print(f"## Windows of {path.name} ({path.stat().st_size / 1e6:,.0f} MB)\n")
        print("\n".join(bench_windows(path, side, args.repeat)), "\n", flush=True)
    if "dims" not in args.skip:
        print("## Reductions along dims\n")
        print("\n".join(bench_dims(times, stack, args.repeat)), "\n", flush=True)
    if "merge" not in args.skip:
        print("## Merging per-image summaries\n")
        print("\n".join(bench_merge(args.repeat)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
