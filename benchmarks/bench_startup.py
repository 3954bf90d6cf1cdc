"""Start-up costs: ``import imgstats``, a whole ``imgstats stats`` process, ``imgstats serve``.

Run ``uv run python -m benchmarks.bench_startup`` (about a minute; ``--repeat 5`` for less).
Each comparison runs the two commands in turn, as fresh processes, after one untimed run of
each (so both read the same files from the page cache), and prints the ratio of their best
times, then of their medians: on a busy machine read the ratios, not the times.

- ``python -c "import imgstats"`` against ``python -c "import numpy, PIL.Image, tifffile"``:
  target <= 1.3;
- ``imgstats stats IMG_1.jpg median`` (the installed command, a whole process) against a
  numpy one-liner that opens the same JPEG with Pillow and prints ``numpy.median``: target
  <= 2; both must print the same median;
- ``imgstats serve`` (gunicorn, its default workers) from spawning to the first ``OK`` from
  ``/health``, and the same with Flask's development server (``--dev``).

It also lists which heavy modules each process imported, the reason for any miss.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import machine_name, ms, table, verdict
from benchmarks.servers import start_server
from imgstats.data import gallery_path

#: Modules whose import costs tenths of a second or more: loaded on first use only.
HEAVY = (
    "dask",
    "xarray",
    "pandas",
    "numba",
    "fsspec",
    "flask",
    "gunicorn",
    "redis",
    "zarr",
    "PIL",
    "tifffile",
)
IMPORT_TARGET = 1.3
CLI_TARGET = 2.0


def run(cmd: list[str]) -> tuple[float, str]:
    """Wall time of one whole process, and what it printed."""
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, out


def compare(reference: list[str], ours: list[str], repeat: int) -> dict:
    """Run both commands ``repeat`` times in turn (after one untimed run of each)."""
    outputs = (run(reference)[1], run(ours)[1])
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for i, cmd in enumerate((reference, ours)):
            times[i].append(run(cmd)[0])
    best = [min(t) for t in times]
    median = [statistics.median(t) for t in times]
    return {
        "reference": best[0],
        "ours": best[1],
        "ratio": best[1] / best[0],
        "median_ratio": median[1] / median[0],
        "outputs": outputs,
    }


def imported(code: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running ``code``."""
    probe = (
        f"{code}\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def imgstats_command() -> list[str]:
    """The installed ``imgstats`` script beside this interpreter (else ``-m imgstats.cli``)."""
    script = Path(sys.executable).with_name("imgstats")
    if script.exists():
        return [str(script)]
    found = shutil.which("imgstats")
    return [found] if found else [sys.executable, "-m", "imgstats.cli"]


def serve_startup(repeat: int, dev: bool) -> list[float]:
    """Seconds from spawning ``imgstats serve`` to its first ``OK`` from ``/health``."""
    seconds = []
    for _ in range(repeat):
        with start_server(workers=None, dev=dev, timeout=120) as server:
            if server.get("/health")[2] != b"OK":
                raise SystemExit("/health did not answer OK")
            seconds.append(server.startup_seconds)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of each command")
    parser.add_argument("--serve-repeat", type=int, default=3, help="server starts timed")
    args = parser.parse_args(argv)

    py = sys.executable
    jpeg = str(gallery_path() / "IMG_1.jpg")
    imports = compare(
        [py, "-c", "import numpy, PIL.Image, tifffile"], [py, "-c", "import imgstats"], args.repeat
    )
    one_liner = (
        "import sys, numpy, PIL.Image; "
        "print(numpy.median(numpy.asarray(PIL.Image.open(sys.argv[1]))))"
    )
    cli = compare(
        [py, "-c", one_liner, jpeg], [*imgstats_command(), "stats", jpeg, "median"], args.repeat
    )
    numpy_median = float(cli["outputs"][0])
    ours_median = float(cli["outputs"][1].split()[-1])
    if numpy_median != ours_median:
        raise SystemExit(f"imgstats printed median {ours_median}, numpy {numpy_median}")
    gunicorn = serve_startup(args.serve_repeat, dev=False)
    dev = serve_startup(args.serve_repeat, dev=True)

    print(f"Machine: {machine_name()}; best of {args.repeat} runs of each, in turn\n")
    rows = [
        (
            '`python -c "import imgstats"`',
            f"`import numpy, PIL.Image, tifffile` {ms(imports['reference'])}",
            ms(imports["ours"]),
            f"{imports['ratio']:.2f}x ({imports['median_ratio']:.2f}x)",
            f"≤ {IMPORT_TARGET}x",
            verdict(imports["ratio"] <= IMPORT_TARGET),
        ),
        (
            "`imgstats stats IMG_1.jpg median`, whole process",
            f"numpy one-liner with Pillow {ms(cli['reference'])}",
            ms(cli["ours"]),
            f"{cli['ratio']:.2f}x ({cli['median_ratio']:.2f}x)",
            f"≤ {CLI_TARGET}x",
            verdict(cli["ratio"] <= CLI_TARGET),
        ),
    ]
    print(table(["case", "reference", "imgstats", "ratio, best (median)", "target", ""], rows))
    print()
    print(
        table(
            ["`imgstats serve` to the first OK from /health", "best", "median"],
            [
                ("gunicorn (default workers)", ms(min(gunicorn)), ms(statistics.median(gunicorn))),
                ("Flask development server (`--dev`)", ms(min(dev)), ms(statistics.median(dev))),
            ],
        )
    )
    print("\nHeavy modules in each process:\n")
    cli_probe = (
        f"import sys; sys.argv = ['imgstats', 'stats', {jpeg!r}, 'median']\n"
        "from imgstats.cli import main; main()"
    )
    print(
        table(
            ["process", "heavy modules imported"],
            [
                ("`import imgstats`", ", ".join(imported("import imgstats")) or "none"),
                ("`imgstats stats IMG_1.jpg median`", ", ".join(imported(cli_probe)) or "none"),
                (
                    "`imgstats.compute(numpy array)`",
                    ", ".join(
                        imported(
                            "import numpy, imgstats; "
                            "imgstats.compute(numpy.zeros((4, 4), 'f4'), 'p50')"
                        )
                    ),
                ),
            ],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
