"""Which pixels count (issue 16): the cost of honouring nodata and masks, and rio-tiler.

Run ``uv run python -m benchmarks.bench_meaning`` (an 8192 x 8192 uint16 COG, as the issue
asks; a few minutes and about 3 GB for rio-tiler's side) or ``--side 2048`` for a quick look.
Three tiled (512 x 512, deflate) GeoTIFFs of the same samples are written with rasterio: one
plain, one with a nodata value (10 % of the pixels), one with an internal mask (10 % masked).
At 8192 the files (128 MB) are streamed tile by tile, the mask's tiles decoded beside the
image's; at ``--side 4096`` (32 MB) they are read whole, the mask kept beside the pixels:
the two routes of a masked file. Every time is the best of ``--repeat`` calls, the two sides
called in turn after a warm-up, so that a noisy machine slows both alike: the ratios are what
to read.

1. ``compute(path, FUNCS)`` with nodata honoured, against the plain file (goal: <= 1.2x).
2. The same with the internal mask (goal: <= 1.5x).
3. rio-tiler's ``Reader(path).statistics(max_size=None)`` (full resolution, masked by GDAL)
   against imgstats on the nodata file (goal: imgstats >= 10x faster), and the peak resident
   memory of each in a fresh process (goal: flat for imgstats). Skipped, with the reason,
   when rio-tiler is not installed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from benchmarks.harness import best_pair, fresh_process

FUNCS = ["min", "max", "mean", "median", "p2", "p98"]


def write_cogs(folder: Path, side: int) -> dict[str, Path]:
    """The plain, nodata and masked tiled GeoTIFFs of one ``side`` x ``side`` uint16 image."""
    import rasterio
    from affine import Affine

    rng = np.random.default_rng(16)
    data = rng.integers(1, 4000, (side, side), dtype=np.uint16)
    holes = rng.random((side, side)) < 0.1
    profile = dict(
        driver="GTiff",
        width=side,
        height=side,
        count=1,
        dtype="uint16",
        crs="EPSG:32633",
        transform=Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
    )
    paths = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rasterio's Affine `*` (affine 3 pending deprecation)
        paths["plain"] = folder / "plain.tif"
        with rasterio.open(paths["plain"], "w", **profile) as dst:
            dst.write(data, 1)
        paths["nodata"] = folder / "nodata.tif"
        with rasterio.open(paths["nodata"], "w", nodata=0, **profile) as dst:
            dst.write(np.where(holes, 0, data).astype(np.uint16), 1)
        paths["mask"] = folder / "mask.tif"
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            with rasterio.open(paths["mask"], "w", **profile) as dst:
                dst.write(data, 1)
                dst.write_mask(np.where(holes, 0, 255).astype(np.uint8))
    return paths


def _rio_tiler_stats(path):
    from rio_tiler.io import Reader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Reader(str(path)) as src:
            return src.statistics(max_size=None, percentiles=[2, 98])


def _peak(code: str) -> int:
    return int(fresh_process(code)["peak"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=8192, help="image side in pixels")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls of each side")
    parser.add_argument("--no-rio-tiler", action="store_true", help="skip rio-tiler")
    args = parser.parse_args(argv)

    import imgstats

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_cogs(Path(tmp), args.side)
        mp = args.side * args.side / 1e6
        print(f"# Which pixels count: {args.side} x {args.side} uint16 ({mp:.0f} MP), tiled COGs")
        print("| comparison | reference | imgstats | ratio | goal |")
        print("|---|---|---|---|---|")

        def ours(name):
            return lambda: imgstats.compute(paths[name], FUNCS)

        for name, goal in (("nodata", "<= 1.2x"), ("mask", "<= 1.5x")):
            t_plain, t_masked = best_pair(ours("plain"), ours(name), args.repeat)
            print(
                f"| {name} honoured vs the plain file | {t_plain * 1e3:.0f} ms "
                f"| {t_masked * 1e3:.0f} ms | {t_masked / t_plain:.2f}x | {goal} |"
            )
        if args.no_rio_tiler:
            return 0
        try:
            import rio_tiler  # noqa: F401
        except ImportError as exc:
            print(f"rio-tiler: not installed ({exc}): skipped")
            return 0
        t_rio, t_ours = best_pair(
            lambda: _rio_tiler_stats(paths["nodata"]), ours("nodata"), max(1, args.repeat - 1)
        )
        print(
            f"| rio-tiler statistics(max_size=None) vs imgstats (nodata) | {t_rio * 1e3:.0f} ms "
            f"| {t_ours * 1e3:.0f} ms | imgstats {t_rio / t_ours:.1f}x faster | >= 10x |"
        )
        rio = _rio_tiler_stats(paths["nodata"])["b1"]
        mine = imgstats.compute(paths["nodata"], ["min", "max", "mean", "count"])
        print(
            f"\nsame answer: rio-tiler min {rio.min} max {rio.max} mean {rio.mean:.6f} "
            f"count {rio.count:.0f}; imgstats min {mine['min']} max {mine['max']} "
            f"mean {mine['mean']:.6f} count {mine['count']}"
        )
        base = _peak("import imgstats, numpy\nprint(json.dumps({'peak': peak_rss()}))")
        p_ours = _peak(
            f"import imgstats\nimgstats.compute({str(paths['nodata'])!r}, {FUNCS!r})\n"
            "print(json.dumps({'peak': peak_rss()}))"
        )
        p_rio = _peak(
            "import warnings\nwarnings.simplefilter('ignore')\nfrom rio_tiler.io import Reader\n"
            f"with Reader({str(paths['nodata'])!r}) as src:\n"
            "    src.statistics(max_size=None, percentiles=[2, 98])\n"
            "print(json.dumps({'peak': peak_rss()}))"
        )
        raw = args.side * args.side * 2
        print(
            f"peak resident memory (fresh process; the image is {raw / 2**20:.0f} MB raw): "
            f"imgstats {p_ours / 2**20:.0f} MB ({(p_ours - base) / 2**20:.0f} MB above its "
            f"imports), rio-tiler {p_rio / 2**20:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
