"""Peak memory of one service process against concurrent large decodes, with and without a
pixel budget (``IMGSTATS_DECODE_PIXELS``).

Run ``uv run python benchmarks/bench_decode_memory.py`` (the issue's case: 8 distinct
12000x12000 RGB PNGs of about 0.5 MB each, asked for at once) or, on a busy machine,
``--images 4 --side 4000``. For each budget, a fresh interpreter builds the app over the
folder, notes its resident size (the baseline), sends every image's ``/stats/<name>/mean``
at once from as many threads, and reports ``VmHWM`` (peak resident size) above the baseline.
The child sets malloc up as ``imgstats serve`` does (one arena, freed buffers kept for reuse).
The budgets are: none (larger than all the images together: every decode at once), then
room for 1, 2 and 4 images, and room for 2 with half as many images asked for. The table
prints each peak and its ratio to the unbounded one, measured side by side in this one run;
with a budget, the peak stays flat however many images are asked for past it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _vm(field: str) -> int:
    """A ``/proc/self/status`` field in bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found")


def child(folder: str, budget: int, names: list[str]) -> dict:
    """Run in a fresh interpreter: the app, a baseline, the concurrent requests, the peak."""
    from imgstats.web import create_app
    from imgstats.web._serve import keep_freed_memory

    # as `imgstats serve` does before gunicorn forks: one malloc arena, so freed decode
    # buffers are reused by the next decode instead of piling up in per-thread arenas
    keep_freed_memory()
    app = create_app(
        {
            "IMAGES": folder,
            "WARMUP": True,
            "DECODE_PIXELS": budget,
            "DECODE_WAIT": 3600,
            "SLOW_WORKERS": len(names),
            "SLOW_QUEUE": len(names),
        }
    )
    base = _vm("VmRSS")
    start = time.perf_counter()
    with ThreadPoolExecutor(len(names)) as pool:
        statuses = list(
            pool.map(lambda n: app.test_client().get(f"/stats/{n}/mean").status_code, names)
        )
    return {
        "statuses": statuses,
        "baseline": base,
        "peak": _vm("VmHWM") - base,
        "seconds": time.perf_counter() - start,
    }


def make_images(folder: Path, count: int, side: int) -> list[str]:
    """``count`` distinct flat RGB PNGs of ``side`` x ``side`` (they compress to little)."""
    from PIL import Image

    names = []
    for i in range(count):
        name = f"large_{i}.png"
        if not (folder / name).exists():
            Image.new("RGB", (side, side), (i * 20 % 256, 90, 200)).save(folder / name)
        names.append(name)
    return names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8, help="concurrent distinct images")
    parser.add_argument("--side", type=int, default=12000, help="pixels per side")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "BUDGET"), help=argparse.SUPPRESS)
    parser.add_argument("--names", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.names)))
        return 0
    pixels = args.side * args.side
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = make_images(folder, args.images, args.side)
        size = sum((folder / n).stat().st_size for n in names) / len(names)
        print(
            f"{args.images} distinct {args.side}x{args.side} RGB PNGs "
            f"({pixels / 1e6:.0f} MP, {size / 1e6:.2f} MB each), all asked for at once\n"
        )
        print(
            f"{'budget':>22} | {'asked':>5} | {'peak above baseline':>20} | {'vs none':>8} | "
            f"{'time':>7}"
        )
        runs = [("none", pixels * (args.images + 1), args.images)]
        runs += [
            (f"{k} image{'s' if k > 1 else ''}", k * pixels, args.images)
            for k in (1, 2, 4)
            if k < args.images
        ]
        if args.images >= 4:  # flat past the budget: half as many asked, same peak
            runs.append(("2 images", 2 * pixels, args.images // 2))
        unbounded = None
        for label, budget, count in runs:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(folder),
                    str(budget),
                    "--names",
                    *names[:count],
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            if set(result["statuses"]) != {200}:
                raise SystemExit(f"unexpected statuses {result['statuses']}")
            unbounded = unbounded or result["peak"]
            print(
                f"{label + f' ({budget / 1e6:.0f} MP)':>22} | {count:>5} | "
                f"{result['peak'] / 2**20:>17.0f} MB | {result['peak'] / unbounded:>7.2f}x | "
                f"{result['seconds']:>6.1f}s"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
