"""Worker memory against the number of distinct many-band images: flat past IMGSTATS_CACHE_BYTES.

Run ``uv run python benchmarks/bench_cache_memory.py`` (``--help`` for smaller sizes). It writes
``--images`` uint16 TIFFs of ``--bands`` samples per pixel of ``--side`` x ``--side`` pixels
(each summary holds one 2**16-bin int64 histogram per band: 134 MB for 256 bands, from a
~130 KB file), starts one ``imgstats serve`` (gunicorn, one worker) per cache budget, asks each
for ``/stats/<image>/median`` of every image in turn, and prints the worker's resident memory
(VmRSS) after each image, side by side, then its peak (VmHWM).

The first column's budget is larger than all the summaries together: what a bound by entry
count (the old default was 128 entries) allowed. The others must stay flat once the budget is
full, near imports + budget (+ the summary being computed, and what glibc keeps for reuse:
``IMGSTATS_MALLOC_KEEP``).

Traffic is loopback only and bounded (one request per image and budget).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MB = 1 << 20


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, timeout: float = 120) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def worker_of(master: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
            if children:
                return int(children[0])
        time.sleep(0.1)
    raise TimeoutError("no gunicorn worker")


def write_images(folder: Path, count: int, bands: int, side: int) -> list[str]:
    import tifffile

    rng = np.random.default_rng(0)
    names = []
    for i in range(count):
        names.append(f"bands_{i:03d}.tif")
        arr = rng.integers(0, 65535, (side, side, bands), dtype=np.uint16)
        # one page, ``bands`` samples per pixel: many bands whatever the page rules of the io
        tifffile.imwrite(folder / names[-1], arr, photometric="minisblack", planarconfig="contig")
    return names


class Server:
    """``imgstats serve`` with one worker and ``IMGSTATS_CACHE_BYTES=budget``."""

    def __init__(self, folder: Path, budget: int):
        self.port = free_port()
        env = {**os.environ, "IMGSTATS_CACHE_BYTES": str(budget), "IMGSTATS_WORKERS": "1"}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "imgstats.cli",
                "serve",
                "--images",
                str(folder),
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if get(self.port, "/health", timeout=2)[0] == 200:
                    break
            time.sleep(0.2)
        else:
            self.stop()
            raise TimeoutError("imgstats serve did not start")
        self.worker = worker_of(self.proc.pid)

    def rss_mb(self) -> float:
        return status_kb(self.worker, "VmRSS") / 1024

    def peak_mb(self) -> float:
        return status_kb(self.worker, "VmHWM") / 1024

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(20)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--bands", type=int, default=256)
    parser.add_argument("--side", type=int, default=16)
    parser.add_argument(
        "--budgets",
        default="unbounded,256,64",
        help="comma-separated CACHE_BYTES in MB; 'unbounded' is 1 TB",
    )
    args = parser.parse_args(argv)
    budgets = [
        (1 << 40) if b == "unbounded" else int(float(b) * MB) for b in args.budgets.split(",")
    ]
    summary_mb = args.bands * (1 << 16) * 8 / MB
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = write_images(folder, args.images, args.bands, args.side)
        size_kb = (folder / names[0]).stat().st_size / 1024
        print(
            f"{args.images} uint16 TIFFs, {args.bands} bands of {args.side}x{args.side} px: "
            f"{size_kb:.0f} KB on disk, a {summary_mb:.0f} MB summary each"
        )
        labels = ["unbounded" if b >= 1 << 40 else f"{b / MB:.0f} MB" for b in budgets]
        rows: list[list[float]] = []
        peaks, idle = [], []
        for budget in budgets:
            server = Server(folder, budget)
            try:
                idle.append(server.rss_mb())
                column = []
                for name in names:
                    status, body = get(server.port, f"/stats/{name}/median")
                    if status != 200:
                        raise RuntimeError(f"{name}: {status} {body[:200]!r}")
                    column.append(server.rss_mb())
                rows.append(column)
                peaks.append(server.peak_mb())
            finally:
                server.stop()
        print("worker RSS (MB) after n distinct images, CACHE_BYTES =")
        print(f"{'n':>4} " + " ".join(f"{label:>12}" for label in labels))
        print(f"{0:>4} " + " ".join(f"{v:>12.0f}" for v in idle))
        for i in range(len(names)):
            print(f"{i + 1:>4} " + " ".join(f"{col[i]:>12.0f}" for col in rows))
        print("peak " + " ".join(f"{v:>12.0f}" for v in peaks))
        half = len(names) // 2
        for label, col, start, budget in zip(labels, rows, idle, budgets, strict=True):
            growth = col[-1] / col[half - 1] if half else float("nan")
            bound = (
                ""
                if budget >= 1 << 40
                else (
                    f", final - idle = {col[-1] - start:.0f} MB for a {budget / MB:.0f} MB budget"
                )
            )
            print(f"{label}: RSS after all / after half the images = {growth:.2f}{bound}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
