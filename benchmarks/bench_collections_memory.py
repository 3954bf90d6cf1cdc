"""A worker's memory over collection requests, and a new function of a cached collection.

Two attacks of issue 18, scaled down for a shared machine: ``GET /stats/b*/median`` over
``--wide`` TIFFs of 16 x 16 pixels x ``--bands`` uint16 bands (each summary weighs bands x
0.5 MiB), and over ``--many`` TIFFs of 8 x 8 RGB uint16 pixels; then each of four new
functions of the second collection. One worker (``imgstats serve --workers 1``) per run, its
peak resident memory (``VmHWM``) read from /proc after each step.

``--before <git revision>`` runs the same steps on that revision too (a temporary git
worktree, first on ``sys.path``), side by side in one run.

    uv run python benchmarks/bench_collections_memory.py [--before b850d4e]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

from benchmarks.servers import free_port, http_get, serve_command, start_process

ROOT = Path(__file__).resolve().parents[1]


def make_images(folder: Path, wide: int, bands: int, many: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(wide):
        arr = rng.integers(0, 65535, (16, 16, bands), dtype=np.uint16)
        tifffile.imwrite(folder / f"b{i:03d}.tif", arr, planarconfig="contig")
    for i in range(many):
        arr = rng.integers(0, 65535, (8, 8, 3), dtype=np.uint16)
        tifffile.imwrite(folder / f"s{i:04d}.tif", arr, photometric="rgb")


def _worker(master: int) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == master:
                    return int(entry.name)
    raise RuntimeError("no worker")


def _mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(label: str, folder: Path, tree: Path) -> list[str]:
    """The steps against ``imgstats serve`` of the checkout ``tree``."""
    port = free_port()
    env = {"IMGSTATS_WARMUP": "0", "IMGSTATS_RACY_SECONDS": "0", "IMGSTATS_THREADS": "8"}
    cmd = serve_command(folder, port=port, workers=1)
    at = cmd.index("-m")
    # `python -m` puts the current folder first on sys.path: put the tree before it instead
    cmd[at : at + 2] = [
        "-c",
        f"import sys; sys.path.insert(0, {str(tree)!r}); from imgstats.cli import main; "
        "sys.exit(main())",
    ]
    rows = []
    server = start_process(cmd, port, env=env)
    with server:
        pid = _worker(server.process.pid)
        rows.append(f"{label:8s} idle                  peak {_mib(pid, 'VmHWM'):7.0f} MiB")
        for pattern in ["b*.tif", "s*.tif"]:
            start = time.perf_counter()
            status, _, _ = http_get(server.url, f"/stats/{pattern}/median", timeout=600)
            took = time.perf_counter() - start
            rows.append(
                f"{label:8s} {pattern:7s} median {status}   peak {_mib(pid, 'VmHWM'):7.0f} MiB, "
                f"now {_mib(pid, 'VmRSS'):7.0f} MiB, {took:6.2f} s"
            )
        for func in ["p90", "min", "mean", "p1"]:
            start = time.perf_counter()
            status, _, _ = http_get(server.url, f"/stats/s*.tif/{func}", timeout=600)
            took = time.perf_counter() - start
            rows.append(f"{label:8s} s*.tif  {func:6s} {status}   {took:6.2f} s (a new function)")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wide", type=int, default=24, help="TIFFs of many bands")
    parser.add_argument("--bands", type=int, default=128, help="uint16 bands of each")
    parser.add_argument("--many", type=int, default=1000, help="8 x 8 RGB uint16 TIFFs")
    parser.add_argument("--before", help="a git revision to run side by side")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="imgstats-collections-"))
    make_images(folder, args.wide, args.bands, args.many)
    print(
        f"# {args.wide} TIFFs of 16x16x{args.bands} uint16, {args.many} of 8x8 RGB uint16; "
        f"CACHE_BYTES default; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    rows = run("now", folder, ROOT)
    if args.before:
        old = Path(tempfile.mkdtemp(prefix="imgstats-before-")) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.before],
            check=True,
            capture_output=True,
        )
        try:
            rows += run(args.before[:8], folder, old)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                capture_output=True,
            )
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
