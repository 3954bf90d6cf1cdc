"""What a region of a large image holds in memory, against the size of its box (issue 18).

Run ``uv run python -m benchmarks.bench_region_memory`` (a 16384 x 16384 uint8 image, a few
minutes) or ``--side 32768`` (issue 18's file: a 1 GiB image, a 1 GiB box of bool). The
files (:mod:`benchmarks.masked_tiff`, a few MB on disk) are a plain tiled TIFF and the same
with a dataset mask tiled unlike it, internal and as a ``.msk`` sidecar. Each line is one
call in this process, its peak of traced allocations (:func:`~benchmarks.harness.peak_memory`,
numba's kernels compiled before), and that peak as a share of the polygon's box of bool
(``side**2`` bytes; the rasterization issue 18 found allocated 5 bytes a pixel of it): the share
is what to read, since it does not depend on the machine.

1. ``compute(path, ["median", "count"], polygon=triangle)`` over half the image, opened as
   ``POST /stats`` opens it (chunks of about ``CHUNK_BYTES``), on each file.
2. The whole masked image through the tile stream (no region), and ``dim=("y", "x")`` with
   the triangle over a dask-backed ``(2, side, side)`` DataArray.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import peak_memory
from benchmarks.masked_tiff import KINDS, triangle, triangle_counts, write_big_masked


def _line(what: str, fn, side: int) -> str:
    t0 = time.perf_counter()
    peak = peak_memory(fn)
    seconds = time.perf_counter() - t0
    box = side * side
    return f"| {what} | {peak / 2**20:,.0f} MiB | {peak / box:.3f} | {seconds:.1f} s (traced) |"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=16384, help="a multiple of 512")
    args = parser.parse_args(argv)
    side = args.side
    import dask.array as da
    import xarray as xr

    import imgstats
    from imgstats import _jit

    _jit.load()
    print(f"## A triangle over half of a {side} x {side} uint8 image\n")
    print("| call | peak traced | peak / box of bool | time |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="imgstats-bench-") as tmp:
        for kind in KINDS:
            path = Path(tmp) / f"{kind}.tif"
            write_big_masked(path, side, kind, np.uint8)
            want = triangle_counts(side, kind)[0]

            def polygon(path=path, want=want):
                got = imgstats.compute(str(path), ["median", "count"], polygon=triangle(side))
                if got["count"] != want:
                    raise SystemExit(f"wrong count {got['count']} != {want}")

            imgstats.compute(str(path), "count", polygon=triangle(512))  # warm the path
            print(_line(f"polygon, {kind}", polygon, side), flush=True)
            if kind != "plain":
                print(
                    _line(
                        f"whole image (stream), {kind}",
                        lambda path=path: imgstats.compute(str(path), "median"),
                        side,
                    ),
                    flush=True,
                )
            for extra in Path(tmp).iterdir():
                extra.unlink()
    arr = xr.DataArray(
        da.full((2, side, side), 7, dtype=np.uint8, chunks=(1, 4096, 4096)),
        dims=("time", "y", "x"),
    )
    print(
        _line(
            "dim=(y, x), polygon, dask",
            lambda: (
                imgstats.compute(arr, "median", dim=("y", "x"), polygon=triangle(side))
                .compute()
                .values
            ),
            side,
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
