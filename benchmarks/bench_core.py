"""Core benchmarks of imgstats against numpy, Pillow, tifffile and dask, side by side in one run.

Run ``uv run python -m benchmarks.bench_core`` (about 5 minutes, of which writing the 805 MB
TIFF the first time is most) or ``--quick`` (smaller inputs, about a minute). Inputs are written
to ``benchmarks/data/`` (git-ignored) and reused. Every time is the best of N calls after a
warm-up call that compiles or loads the numba kernels, the reference and imgstats called in
turn, so that a noisy machine slows both sides alike. Prints markdown tables (see
benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from benchmarks.harness import (
    best_pair,
    fresh_process,
    machine_name,
    ms,
    table,
    verdict,
)

FIVE = ["min", "max", "mean", "median", "p99"]
HERE = Path(__file__).resolve().parent


# -- inputs ----------------------------------------------------------------------------------
def smooth_image(h: int, w: int, bands: int, seed: int = 0) -> np.ndarray:
    """A photo-like float64 image in [0, 1]: gradients, a few soft blobs, and sensor noise."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    out = np.empty((h, w, bands), np.float32)
    for b in range(bands):
        img = 0.15 + 0.45 * x * (0.6 + 0.2 * b) + 0.25 * y
        for _ in range(4):
            cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
            img = img + 0.2 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))
        img += rng.normal(0.0, 0.02, (h, w)).astype(np.float32)
        out[..., b] = img
    return np.clip(out, 0.0, 1.0)


def in_memory_inputs(h: int, w: int) -> dict[str, np.ndarray]:
    rgb = smooth_image(h, w, 3, seed=1)
    grey = smooth_image(h, w, 1, seed=2)[..., 0]
    return {
        "uint8 RGB": np.round(rgb * 255).astype(np.uint8),
        "uint16": np.round(grey * 65535).astype(np.uint16),
        "float32": (grey * 1000.0 - 200.0).astype(np.float32),
    }


def jpeg_input(data: Path, h: int, w: int) -> Path:
    """A gallery photograph resized to ``w`` x ``h`` with a little grain, saved at quality 90."""
    from PIL import Image

    from imgstats.data import gallery_path

    path = data / f"photo_{w}x{h}.jpg"
    if not path.exists():
        img = Image.open(gallery_path() / "IMG_7.jpg").convert("RGB")
        arr = np.asarray(img.resize((w, h), Image.Resampling.LANCZOS), np.float32)
        arr += np.random.default_rng(3).normal(0.0, 3.0, arr.shape).astype(np.float32)
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def tiff_input(data: Path, side: int) -> Path:
    """A ``side`` x ``side`` x 3 uint8 TIFF, tiled 512 x 512, deflate, written tile by tile."""
    import tifffile

    path = data / f"big_{side}x{side}x3_tiled512_deflate.tif"
    if path.exists():
        return path
    tile = 512
    ty = np.arange(tile, dtype=np.float32)[:, None]
    tx = np.arange(tile, dtype=np.float32)[None, :]

    def tiles():
        rng = np.random.default_rng(4)
        for i in range(0, side, tile):
            for j in range(0, side, tile):
                y = (i + ty) / side
                x = (j + tx) / side
                base = 40 + 120 * x + 60 * y + 30 * np.sin(12 * x) * np.cos(9 * y)
                t = np.empty((tile, tile, 3), np.uint8)
                for b in range(3):
                    noise = rng.normal(0.0, 4.0, (tile, tile)).astype(np.float32)
                    t[..., b] = np.clip(base * (0.8 + 0.15 * b) + noise, 0, 255)
                yield t

    tmp = path.with_suffix(".tmp")
    tifffile.imwrite(
        tmp, tiles(), shape=(side, side, 3), dtype=np.uint8, tile=(tile, tile),
        photometric="rgb", compression="deflate", maxworkers=os.cpu_count(),
    )
    tmp.rename(path)
    return path


def bench_in_memory(h, w, repeat, rows):
    import imgstats

    for name, a in in_memory_inputs(h, w).items():
        for func, q in (("p99", 99), ("median", 50)):
            t_np, t_us = best_pair(lambda a=a, q=q: np.percentile(a, q),
                                   lambda a=a, func=func: imgstats.compute(a, func), repeat)
            if imgstats.compute(a, func) != np.percentile(a, q).item():
                raise SystemExit(f"{name} {func}: imgstats differs from numpy.percentile")
            ratio = t_np / t_us
            rows.append((
                f"{name} {h}x{w} `compute(a, {func!r})`", f"numpy.percentile {ms(t_np)}",
                ms(t_us), f"{ratio:.2f}x faster", "≥ 3x faster", verdict(ratio >= 3),
            ))


def bench_jpeg(data, h, w, repeat, rows, info):
    from PIL import Image

    import imgstats

    path = jpeg_input(data, h, w)

    def decode():
        with Image.open(path) as img:
            img.load()

    t_dec, t_us = best_pair(decode, lambda: imgstats.compute(path, FIVE), repeat)
    ratio = t_us / t_dec
    rows.append((
        f"JPEG {w}x{h} RGB from disk, 5 functions", f"Pillow decode {ms(t_dec)}", ms(t_us),
        f"{ratio:.2f}x the decode", "≤ 1.3x", verdict(ratio <= 1.3),
    ))
    cold = fresh_process(f"""
        import time; t0 = time.perf_counter()
        import imgstats; t1 = time.perf_counter()
        imgstats.compute({str(path)!r}, {FIVE!r}); t2 = time.perf_counter()
        print(json.dumps({{"import": t1 - t0, "first": t2 - t1}}))
    """)
    info.append(
        f"Cold start on the JPEG in a fresh process: `import imgstats` {ms(cold['import'])}, "
        f"first `compute` {ms(cold['first'])} (numba kernels loaded from their on-disk cache), "
        f"against {ms(t_us)} in steady state."
    )


RSS = "peak_rss()"


def bench_tiff(data, side, repeat, rows, info):
    import tifffile

    import imgstats

    path = tiff_input(data, side)
    raw = side * side * 3
    ours = fresh_process(f"""
        import imgstats
        base = {RSS}
        imgstats.compute({str(path)!r}, {FIVE!r})
        print(json.dumps({{"base": base, "peak": {RSS}}}))
    """)
    theirs = fresh_process(f"""
        import numpy as np, tifffile
        base = {RSS}
        a = tifffile.imread({str(path)!r})
        a.min(); a.max(); a.mean(); np.percentile(a, [50, 99])
        print(json.dumps({{"base": base, "peak": {RSS}}}))
    """)
    t_read, t_us = best_pair(lambda: tifffile.imread(path),
                             lambda: imgstats.compute(path, FIVE), repeat)
    a = tifffile.imread(path)
    want = {"min": a.min().item(), "max": a.max().item(), "mean": a.mean(dtype=np.float64).item(),
            "median": np.percentile(a, 50).item(), "p99": np.percentile(a, 99).item()}
    del a
    got = imgstats.compute(path, FIVE)
    if any(got[f] != want[f] for f in ("min", "max", "median", "p99")) or not np.isclose(
        got["mean"], want["mean"], rtol=1e-12
    ):
        raise SystemExit(f"TIFF: imgstats {got} differs from numpy {want}")
    ratio = t_us / t_read
    label = f"TIFF {side}x{side}x3 uint8 ({raw / 1e6:,.0f} MB), tiled 512, deflate, 5 functions"
    rows.append((label, f"tifffile.imread {ms(t_read)}", ms(t_us), f"{ratio:.2f}x the read",
                 "≤ 1.5x", verdict(ratio <= 1.5)))

    for who, m in (("imgstats.compute", ours), ("tifffile.imread + numpy", theirs)):
        peak, extra = m["peak"], m["peak"] - m["base"]
        rows.append((
            f"peak RSS, {who} (fresh process)",
            f"baseline after imports {m['base'] / 1e6:,.0f} MB",
            f"{peak / 1e6:,.0f} MB (+{extra / 1e6:,.0f} MB)",
            f"{peak / raw:.0%} of raw (+{extra / raw:.0%})",
            "< 20% of raw" if who.startswith("imgstats") else "(numpy: about 200%)",
            verdict(peak < 0.2 * raw) if who.startswith("imgstats") else "",
        ))
    info.append(
        "Peak RSS is the high-water mark (`VmHWM`, else `ru_maxrss`) of a fresh interpreter; the "
        "baseline is taken after its imports (`import imgstats` loads numpy only), before any "
        "pixel is read. The first `compute` of a process also loads tifffile, zarr, the numba "
        "kernels from their cache (LLVM) and whatever else the input needs: part of the increase."
    )


def bench_accuracy(h, w, rows):
    """numpy.percentile vs imgstats vs dask.array.percentile on the same unevenly chunked arrays."""
    import dask.array as da

    import imgstats

    for name, a in in_memory_inputs(h, w).items():
        chunks = (h // 3 + 1, w // 5 + 7) + ((-1,) if a.ndim == 3 else ())
        lazy = da.from_array(a, chunks=chunks)
        flat = lazy.reshape(-1)
        for func, q in (("median", 50), ("p99", 99)):
            want = np.percentile(a, q).item()
            ours = imgstats.compute(lazy, func)
            theirs = np.asarray(da.percentile(flat, [q]).compute()).ravel()[0].item()
            rows.append((f"{name} {h}x{w}, {lazy.npartitions} chunks", func, f"{want!r}",
                         f"{ours!r}", f"{ours - want:+.3g}", f"{theirs!r}",
                         f"{theirs - want:+.3g}"))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer repeats")
    parser.add_argument("--data", type=Path, default=HERE / "data", help="where inputs are kept")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["memory", "jpeg", "tiff", "accuracy"])
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    h, w = (3000, 4000)
    side = 6144 if args.quick else 16384
    repeat = 3 if args.quick else 7
    rows, info, acc = [], [], []
    import numba

    import imgstats

    if "memory" not in args.skip:
        bench_in_memory(h, w, repeat, rows)
    if "jpeg" not in args.skip:
        bench_jpeg(args.data, h, w, repeat, rows, info)
    if "tiff" not in args.skip:
        bench_tiff(args.data, side, 2 if args.quick else 3, rows, info)
    if "accuracy" not in args.skip:
        bench_accuracy(h, w, acc)
    print(f"Machine: {machine_name()}, numba {numba.__version__}, imgstats {imgstats.__version__}"
          f"{' (--quick)' if args.quick else ''}\n")
    print(table(["case", "reference", "imgstats", "ratio", "target", ""], rows))
    for line in info:
        print(f"\n{line}")
    if acc:
        print("\nAccuracy against numpy.percentile (linear) on the same chunked arrays:\n")
        print(table(["array", "stat", "numpy", "imgstats", "error", "dask.array.percentile",
                     "error"], acc))


if __name__ == "__main__":
    main()
