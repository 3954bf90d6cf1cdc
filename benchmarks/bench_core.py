"""Core benchmarks of imgstats against numpy, Pillow, tifffile and dask, side by side in one run.

Run ``uv run python -m benchmarks.bench_core`` (full size: 12 MP arrays and JPEG, an 805 MB
and a 3.2 GB TIFF, written the first time) or ``--quick`` (smaller inputs; ``--size``,
``--sides`` and ``--skip`` choose further). In-memory figures are given on all cores and on one
core. Inputs are written to ``benchmarks/data/`` (git-ignored) and reused. Every time is the
best of N calls after a warm-up call that compiles or loads the numba kernels, the reference
and imgstats called in turn, so that a noisy machine slows both sides alike. Prints markdown
tables (see
benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

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
        tmp,
        tiles(),
        shape=(side, side, 3),
        dtype=np.uint8,
        tile=(tile, tile),
        photometric="rgb",
        compression="deflate",
        maxworkers=os.cpu_count(),
    )
    tmp.rename(path)
    return path


@contextlib.contextmanager
def cores(n: int | None):
    """Run the block on ``n`` of this process's cores (``None``: all of them).

    imgstats starts one counting thread per core it may use (``os.sched_getaffinity``), and its
    numba kernels are single-threaded, so one core is the single-core figure; numpy and Pillow
    run on one thread either way.
    """
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if n is None or before is None:
        yield len(before) if before else os.cpu_count()
        return
    os.sched_setaffinity(0, sorted(before)[:n])
    try:
        yield n
    finally:
        os.sched_setaffinity(0, before)


SIX = ["min", "max", "mean", "p1", "median", "p99"]


def numpy_six(a):
    """numpy's answer to :data:`SIX`: min, max, mean and one ``percentile`` with the list."""
    return [a.min(), a.max(), a.mean(dtype=np.float64), *np.percentile(a, [1, 50, 99])]


def check_six(name, got, a):
    # numpy.percentile interpolates float32 in float64 when q is a list: the reference value
    # is numpy's for one q at a time, as the README says
    want = [v.item() for v in numpy_six(a)[:3]] + [np.percentile(a, q).item() for q in (1, 50, 99)]
    ours = [got[f] for f in SIX]
    if ours[:2] != want[:2] or ours[3:] != want[3:] or not np.isclose(ours[2], want[2], rtol=1e-12):
        raise SystemExit(f"{name}: imgstats {ours} differs from numpy {want}")


def bench_in_memory(h, w, repeat, rows):
    import imgstats

    inputs = in_memory_inputs(h, w)
    for ncores in (None, 1):
        with cores(ncores) as n:
            where = f"{n} core{'s' if n != 1 else ''}"
            for name, a in inputs.items():
                for func, q in (("p99", 99), ("median", 50)):
                    t_np, t_us = best_pair(
                        lambda a=a, q=q: np.percentile(a, q),
                        lambda a=a, func=func: imgstats.compute(a, func),
                        repeat,
                    )
                    if imgstats.compute(a, func) != np.percentile(a, q).item():
                        raise SystemExit(f"{name} {func}: imgstats differs from numpy.percentile")
                    ratio = t_np / t_us
                    rows.append(
                        (
                            f"{name} {h}x{w} `compute(a, {func!r})`, {where}",
                            f"numpy.percentile {ms(t_np)}",
                            ms(t_us),
                            f"{ratio:.2f}x faster",
                            "≥ 3x faster",
                            verdict(ratio >= 3),
                        )
                    )
            f32 = inputs["float32"]
            t_np, t_us = best_pair(
                lambda f32=f32: numpy_six(f32), lambda f32=f32: imgstats.compute(f32, SIX), repeat
            )
            check_six("float32", imgstats.compute(f32, SIX), f32)
            ratio = t_np / t_us
            rows.append(
                (
                    f"float32 {h}x{w} `compute(a, {SIX})`, {where}",
                    f"numpy min, max, mean, percentile(list) {ms(t_np)}",
                    ms(t_us),
                    f"{ratio:.2f}x faster",
                    "≥ 5x faster (1 core)",
                    verdict(ratio >= 5) if n == 1 else "",
                )
            )
            bench_selections(smooth_image(h, w, 3, seed=5), repeat, rows, where)


def bench_selections(rgb, repeat, rows, where):
    """p1, median and p99 of all bands and of each band of a float32 RGB image: two passes."""
    import imgstats
    import imgstats.io._plan

    funcs, bands = ["p1", "median", "p99"], [None, 0, 1, 2]

    def theirs():
        return [np.percentile(rgb if b is None else rgb[..., b], [1, 50, 99]) for b in bands]

    passes = []
    original = imgstats.io._plan.ReadPlan.map_reduce

    def counted(self, *args, **kwargs):
        passes.append(1)
        return original(self, *args, **kwargs)

    imgstats.io._plan.ReadPlan.map_reduce = counted
    try:
        got = imgstats.compute(rgb, funcs, band=bands)
    finally:
        imgstats.io._plan.ReadPlan.map_reduce = original
    for b in bands:
        sel = rgb if b is None else rgb[..., b]
        if [got[b][f] for f in funcs] != [np.percentile(sel, q).item() for q in (1, 50, 99)]:
            raise SystemExit(f"float32 RGB band {b}: imgstats differs from numpy.percentile")
    t_np, t_us = best_pair(theirs, lambda: imgstats.compute(rgb, funcs, band=bands), repeat)
    h, w, _ = rgb.shape
    rows.append(
        (
            f"float32 RGB {h}x{w}, p1/median/p99 of all bands and each band, {where}",
            f"numpy.percentile x4 {ms(t_np)}",
            ms(t_us),
            f"{t_np / t_us:.2f}x faster, {len(passes)} pass(es)",
            "≤ 2 passes",
            verdict(len(passes) <= 2),
        )
    )


def bench_jpeg(data, h, w, repeat, rows, info):
    from PIL import Image

    import imgstats
    import imgstats._kernels  # noqa: F401  # loaded, as in a warmed service: compute counts in place

    path = jpeg_input(data, h, w)

    def decode():
        with Image.open(path) as img:
            img.load()

    t_dec, t_us = best_pair(decode, lambda: imgstats.compute(path, FIVE), repeat)
    ratio = t_us / t_dec
    rows.append(
        (
            f"JPEG {w}x{h} RGB from disk, 5 functions",
            f"Pillow decode {ms(t_dec)}",
            ms(t_us),
            f"{ratio:.2f}x the decode",
            "≤ 1.3x",
            verdict(ratio <= 1.3),
        )
    )
    for label, way in jpeg_ways(path).items():
        t_dec, t_way = best_pair(decode, way, repeat)
        rows.append(
            (
                f"JPEG {w}x{h}: {label}",
                f"Pillow decode {ms(t_dec)}",
                ms(t_way),
                f"{t_way / t_dec:.2f}x the decode",
                "(alternative)",
                "",
            )
        )
    cold = fresh_process(f"""
        import time; t0 = time.perf_counter()
        import imgstats; t1 = time.perf_counter()
        imgstats.compute({str(path)!r}, {FIVE!r}); t2 = time.perf_counter()
        print(json.dumps({{"import": t1 - t0, "first": t2 - t1}}))
    """)
    info.append(
        f"Cold start on the JPEG in a fresh process: `import imgstats` {ms(cold['import'])}, "
        f"first `compute` {ms(cold['first'])} (numba is not imported for a Pillow image: "
        f"Pillow's histogram counts it), against {ms(t_us)} in steady state with the kernels "
        "loaded (they count Pillow's memory in place on every core)."
    )


def jpeg_ways(path) -> dict:
    """Other ways to count a JPEG's band histograms, each checked against Pillow's counts.

    Pillow decodes into its own memory, single-threaded; what follows the decode is the
    question. Optional decoders (simplejpeg, PyTurboJPEG, pyvips) are measured when they are
    installed; PyTurboJPEG also needs the system's libturbojpeg (found on ``LD_LIBRARY_PATH``).
    """
    from PIL import Image

    from imgstats._passes import _count_in_place, _count_with_pillow
    from imgstats.io._pillow_memory import load_single_block

    with Image.open(path) as img:
        want = np.asarray(img.histogram(), np.int64)

    def pillow_histogram():
        with Image.open(path) as img:
            img.load()
            return np.asarray(img.histogram(), np.int64)

    def numpy_copy_and_kernels():
        with Image.open(path) as img:
            return count_array(np.asarray(img))

    def one_block_decode():
        with Image.open(path) as img:
            load_single_block(img)
        return want  # counts nothing: the cost of decoding into one block

    def one_block_small_pages():
        with Image.open(path) as img:
            img.im = Image.core.new_block(img.mode, img.size)  # no huge-page advice
            img.load()
        return want  # counts nothing

    def one_block_in_place():
        with Image.open(path) as img:
            load_single_block(img)
            counted = _count_in_place(img, luma=False)
        return None if counted is None else counted[0].reshape(-1)

    def one_block_in_place_one_thread():
        from imgstats import _kernels
        from imgstats.io._pillow_memory import pixel_view

        with Image.open(path) as img:
            load_single_block(img)
            out = np.zeros((3, 256), np.int64)
            _kernels.hist8_px4(pixel_view(img).reshape(-1), 3, out, np.zeros(256, np.int64), False)
        return out.reshape(-1)

    def one_block_in_place_luma():
        with Image.open(path) as img:
            load_single_block(img)
            counted = _count_in_place(img, luma=True)
        return None if counted is None else counted[0].reshape(-1)

    def one_block_pillow_luma():
        with Image.open(path) as img:
            load_single_block(img)
            plan = SimpleNamespace(source=str(path))
            return _count_with_pillow(plan, img, luma=True)[0].reshape(-1)

    ways = {
        "decode + Pillow histogram() (compute in a process without numba)": pillow_histogram,
        "decode + numpy copy + imgstats kernels": numpy_copy_and_kernels,
        "decode into one block, no count": one_block_decode,
        "same, without the huge-page advice": one_block_small_pages,
        "decode into one block + kernels in place, no copy (compute's way)": one_block_in_place,
        "same, on one thread": one_block_in_place_one_thread,
        "same, with the luma in the same pass": one_block_in_place_luma,
        "decode into one block + Pillow histogram() and luma": one_block_pillow_luma,
    }
    try:
        import simplejpeg

        def simple():
            with open(path, "rb") as fh:
                arr = simplejpeg.decode_jpeg(fh.read(), colorspace="RGB")
            return count_array(arr)

        ways["simplejpeg (libjpeg-turbo) decode + imgstats kernels"] = simple
    except ImportError:
        print("simplejpeg is not installed: its line is left out", file=sys.stderr)
    try:
        from turbojpeg import TJPF_RGB, TurboJPEG

        turbo = TurboJPEG()

        def pyturbo():
            with open(path, "rb") as fh:
                arr = turbo.decode(fh.read(), pixel_format=TJPF_RGB)
            return count_array(arr)

        ways["PyTurboJPEG (libturbojpeg) decode + imgstats kernels"] = pyturbo
    except (ImportError, OSError, RuntimeError):
        print("PyTurboJPEG or libturbojpeg is not installed: its line is left out", file=sys.stderr)
    try:
        import pyvips

        def vips():
            image = pyvips.Image.new_from_file(str(path), access="sequential")
            hist = np.ndarray(
                buffer=image.hist_find().write_to_memory(),
                dtype=np.uint32,
                shape=(256, image.bands),
            )
            return hist.T.reshape(-1).astype(np.int64)

        ways[f"pyvips {pyvips.version(0)}.{pyvips.version(1)} streaming decode + hist_find"] = vips
    except (ImportError, OSError):
        print("pyvips is not installed: its line is left out", file=sys.stderr)
    out = {}
    for label, way in ways.items():
        got = way()
        exact = got is not None and np.array_equal(got, want)
        out[label + ("" if exact else " (differs from Pillow's pixels)")] = way
    return out


def count_array(arr: np.ndarray) -> np.ndarray:
    """The band histograms of an 8-bit ``(y, x, band)`` array, as compute counts them."""
    from imgstats._passes import _summarize
    from imgstats.io import open_plan

    summary = _summarize(open_plan(arr), False, None, False)
    return np.concatenate([b.hist for b in summary.bands])


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
    t_read, t_us = best_pair(
        lambda: tifffile.imread(path), lambda: imgstats.compute(path, FIVE), repeat
    )
    a = tifffile.imread(path)
    want = {
        "min": a.min().item(),
        "max": a.max().item(),
        "mean": a.mean(dtype=np.float64).item(),
        "median": np.percentile(a, 50).item(),
        "p99": np.percentile(a, 99).item(),
    }
    del a
    got = imgstats.compute(path, FIVE)
    if any(got[f] != want[f] for f in ("min", "max", "median", "p99")) or not np.isclose(
        got["mean"], want["mean"], rtol=1e-12
    ):
        raise SystemExit(f"TIFF: imgstats {got} differs from numpy {want}")
    ratio = t_us / t_read
    label = f"TIFF {side}x{side}x3 uint8 ({raw / 1e6:,.0f} MB), tiled 512, deflate, 5 functions"
    rows.append(
        (
            label,
            f"tifffile.imread {ms(t_read)}",
            ms(t_us),
            f"{ratio:.2f}x the read",
            "≤ 1.5x",
            verdict(ratio <= 1.5),
        )
    )

    for who, m in (("imgstats.compute", ours), ("tifffile.imread + numpy", theirs)):
        peak, extra = m["peak"], m["peak"] - m["base"]
        rows.append(
            (
                f"peak RSS, {who} (fresh process)",
                f"baseline after imports {m['base'] / 1e6:,.0f} MB",
                f"{peak / 1e6:,.0f} MB (+{extra / 1e6:,.0f} MB)",
                f"{peak / raw:.0%} of raw (+{extra / raw:.0%})",
                "< 20% of raw" if who.startswith("imgstats") else "(numpy: about 200%)",
                verdict(peak < 0.2 * raw) if who.startswith("imgstats") else "",
            )
        )
    info.append(
        "Peak RSS is the high-water mark (`VmHWM`, else `ru_maxrss`) of a fresh interpreter; the "
        "baseline is taken after its imports (`import imgstats` loads numpy only), before any "
        "pixel is read. The first `compute` of a process also loads tifffile, zarr, the numba "
        "kernels from their cache (LLVM) and whatever else the input needs: part of the increase."
    )


def bench_tiff_process(data, sides, repeat, rows):
    """Whole processes on the first big TIFF: the CLI against ``tifffile.imread``; and the peak
    memory of ``compute`` on each big TIFF above that on a 1024 x 1024 TIFF of the same kind."""
    path = tiff_input(data, sides[0])
    cli = [str(Path(sys.executable).with_name("imgstats")), "stats", str(path), *FIVE]
    read = [sys.executable, "-c", f"import tifffile; tifffile.imread({str(path)!r})"]

    def run(cmd):
        return lambda: subprocess.run(cmd, check=True, capture_output=True)

    t_read, t_cli = best_pair(run(read), run(cli), repeat)
    ratio = t_cli / t_read
    rows.append(
        (
            f"`imgstats stats` on the {sides[0]}² TIFF, whole process",
            f"`tifffile.imread` whole process {ms(t_read)}",
            ms(t_cli),
            f"{ratio:.2f}x",
            "≤ 0.8x (issue 20)",
            verdict(ratio <= 0.8),
        )
    )

    def extra(p):
        m = fresh_process(f"""
            import imgstats
            base = {RSS}
            imgstats.compute({str(p)!r}, {FIVE!r})
            print(json.dumps({{"base": base, "peak": {RSS}}}))
        """)
        return m["peak"] - m["base"]

    small = extra(tiff_input(data, 1024))
    above = {side: extra(tiff_input(data, side)) - small for side in sides}
    smallest = min(sides) ** 2 * 3
    spread = max(above.values()) - min(above.values())
    ok = spread <= 10e6 and max(above.values()) < 0.05 * smallest
    rows.append(
        (
            "peak RSS of `compute` above that on a 1024² TIFF (fresh processes)",
            ", ".join(f"{s}²: {s * s * 3 / 1e6:,.0f} MB raw" for s in sides),
            ", ".join(f"{v / 1e6:+,.1f} MB" for v in above.values()),
            f"spread {spread / 1e6:.1f} MB",
            "within 10 MB, < 5% of the smaller raw",
            verdict(ok),
        )
    )


def bench_distributed(data, side, repeat, rows, info):
    """The big TIFF on 1 then 2 single-threaded ``dask worker`` processes: the workers read
    their own chunks; the answer must equal the local one (itself checked against numpy)."""
    import tempfile
    import time as _time

    import imgstats

    path = tiff_input(data, side)
    want = imgstats.compute(path, FIVE)
    dask_cli = str(Path(sys.executable).with_name("dask"))
    with tempfile.TemporaryDirectory() as tmp:
        sched_file = os.path.join(tmp, "scheduler.json")
        procs = [
            subprocess.Popen(
                [
                    dask_cli,
                    "scheduler",
                    "--scheduler-file",
                    sched_file,
                    "--port",
                    "0",
                    "--dashboard-address",
                    ":0",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        ]
        try:
            from distributed import Client

            while not os.path.exists(sched_file):
                _time.sleep(0.1)
            times = {}
            with Client(scheduler_file=sched_file, set_as_default=False) as client:
                for n in (1, 2):
                    procs.append(
                        subprocess.Popen(
                            [
                                dask_cli,
                                "worker",
                                "--scheduler-file",
                                sched_file,
                                "--nthreads",
                                "1",
                                "--nworkers",
                                "1",
                                "--no-dashboard",
                                "--memory-limit",
                                "0",
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        )
                    )
                    client.wait_for_workers(n, timeout=120)
                    client.run(_reset_transfers)

                    def on_cluster(client=client):
                        # the same keys again: wait until the last run's results are released,
                        # or the scheduler hands them back without reading a pixel
                        while client.run_on_scheduler(_tasks_held):
                            _time.sleep(0.05)
                        return imgstats.compute(path, FIVE, chunks="auto", scheduler=client)

                    got = on_cluster()  # warm-up: numba kernels loaded on the workers
                    if got != want:
                        raise SystemExit(f"cluster of {n}: {got} differs from {want}")
                    best = float("inf")
                    for _ in range(repeat):
                        while client.run_on_scheduler(_tasks_held):
                            _time.sleep(0.05)
                        t0 = _time.perf_counter()
                        on_cluster()
                        best = min(best, _time.perf_counter() - t0)
                    times[n] = best
                    sent = client.run(_transfers)
                    result = len(
                        pickle.dumps(imgstats.summarize(path, chunks="auto", scheduler=client))
                    )
                    info.append(
                        f"{n} dask worker(s), {repeat + 1} runs of the {side}² TIFF "
                        f"({side * side * 3 / 1e6:,.0f} MB of pixels per run): bytes sent "
                        "between workers "
                        + ", ".join(f"{v:,} B" for v in sent.values())
                        + f"; the merged summary sent to the client {result:,} B (only summaries "
                        "travel: the chunks are read by the workers)"
                    )
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait(timeout=30)
    ratio = times[1] / times[2]
    rows.append(
        (
            f"TIFF {side}² on 2 single-threaded `dask worker` processes vs 1",
            f"1 worker {ms(times[1])}",
            f"2 workers {ms(times[2])}",
            f"{ratio:.2f}x faster",
            "≥ 1.7x",
            verdict(ratio >= 1.7),
        )
    )


def _tasks_held(dask_scheduler):
    return len(dask_scheduler.tasks)


def _reset_transfers(dask_worker):
    dask_worker.transfer_outgoing_bytes_total = 0


def _transfers(dask_worker):
    return dask_worker.transfer_outgoing_bytes_total


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
            rows.append(
                (
                    f"{name} {h}x{w}, {lazy.npartitions} chunks",
                    func,
                    f"{want!r}",
                    f"{ours!r}",
                    f"{ours - want:+.3g}",
                    f"{theirs!r}",
                    f"{theirs - want:+.3g}",
                )
            )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer repeats")
    parser.add_argument("--data", type=Path, default=HERE / "data", help="where inputs are kept")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["memory", "jpeg", "tiff", "process", "distributed", "accuracy"],
    )
    parser.add_argument(
        "--size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        help="in-memory and JPEG size (default 3000 4000, --quick 1500 2000)",
    )
    parser.add_argument(
        "--sides",
        type=int,
        nargs="+",
        help="big TIFF sides: the first is timed, all are measured for peak "
        "memory (default 16384 32768, --quick 4096 6144)",
    )
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    h, w = args.size or ((1500, 2000) if args.quick else (3000, 4000))
    sides = args.sides or ([4096, 6144] if args.quick else [16384, 32768])
    side = sides[0]
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
    if "process" not in args.skip:
        bench_tiff_process(args.data, sides, 2 if args.quick else 3, rows)
    if "distributed" not in args.skip:
        bench_distributed(args.data, side, 2 if args.quick else 3, rows, info)
    if "accuracy" not in args.skip:
        bench_accuracy(h, w, acc)
    print(
        f"Machine: {machine_name()}, numba {numba.__version__}, imgstats {imgstats.__version__}"
        f"{' (--quick)' if args.quick else ''}\n"
    )
    print(table(["case", "reference", "imgstats", "ratio", "target", ""], rows))
    for line in info:
        print(f"\n{line}")
    if acc:
        print("\nAccuracy against numpy.percentile (linear) on the same chunked arrays:\n")
        print(
            table(
                ["array", "stat", "numpy", "imgstats", "error", "dask.array.percentile", "error"],
                acc,
            )
        )


if __name__ == "__main__":
    main()
