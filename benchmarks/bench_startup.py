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
- the first statistic in a fresh process, ``imgstats.compute`` of a 4 x 4 uint8 array,
  against the numpy one-liner ``numpy.median`` of it: target <= 2, with numba's cache empty
  (cold: a new ``NUMBA_CACHE_DIR`` for every run) and kept (warm);
- ``imgstats stats tiny.tif median`` on a 64 x 64 uint16 TIFF against
  ``numpy.median(tifffile.imread(...))``: target <= 2, cold and warm;
- a fresh server (``imgstats serve``, one gunicorn worker, started until ``/ready`` answers
  200): its first ``/stats/<image>/median`` request for each pixel type against its second
  request, on another image of the same size and type: target <= 1.5, cold and warm;
- ``imgstats serve`` (gunicorn, its default workers) from spawning to the first ``OK`` from
  ``/health``, and the same with Flask's development server (``--dev``);
- with ``--container IMAGE [IMAGE ...]`` (podman or docker on this host) instead, each image
  from ``run`` to ``/ready`` answering 200, then its first ``/stats/IMG_1.jpg/median``: the
  image built with numba's cache filled against one built without shows what the cache saves.

The package's own bytecode is written first (``compileall``), as an installed wheel has it:
a checkout on a machine that sets ``PYTHONDONTWRITEBYTECODE`` would otherwise compile
imgstats from source in every process.

It also lists which heavy modules each process imported, the reason for any miss.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import machine_name, ms, table, verdict
from benchmarks.servers import free_port, http_get, serve_command, start_process, start_server
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
FIRST_TARGET = 2.0
FIRST_REQUEST_TARGET = 1.5


def run(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    """Wall time of one whole process, and what it printed."""
    start = time.perf_counter()
    out = subprocess.run(
        cmd, check=True, capture_output=True, text=True, env={**os.environ, **(env or {})}
    ).stdout
    return time.perf_counter() - start, out


def _env(cold: bool) -> dict:
    """A new, empty numba cache folder (cold), or numba's own cache (warm)."""
    return {"NUMBA_CACHE_DIR": tempfile.mkdtemp(prefix="numba-cold-")} if cold else {}


def compare(reference: list[str], ours: list[str], repeat: int, cold: bool = False) -> dict:
    """Run both commands ``repeat`` times in turn (after one untimed run of each)."""
    outputs = (run(reference)[1], run(ours, _env(cold))[1])
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for i, cmd in enumerate((reference, ours)):
            times[i].append(run(cmd, _env(cold) if i else None)[0])
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


FIRST_NUMPY = "import numpy as np; print(np.median(np.arange(16, dtype=np.uint8).reshape(4, 4)))"
FIRST_OURS = (
    "import numpy as np, imgstats; "
    "print(imgstats.compute(np.arange(16, dtype=np.uint8).reshape(4, 4), 'median'))"
)
TIFF_NUMPY = "import sys, numpy, tifffile; print(numpy.median(tifffile.imread(sys.argv[1])))"


def first_statistics(repeat: int, folder: Path) -> list[tuple]:
    """Rows: the first compute of a 4 x 4 array, and ``imgstats stats tiny.tif median``."""
    import tifffile

    py = sys.executable
    tiny = folder / "tiny.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(tiny, rng.integers(0, 65536, (64, 64), dtype=np.uint16))
    rows = []
    for cold in (True, False):
        state = "cold" if cold else "warm"
        first = compare([py, "-c", FIRST_NUMPY], [py, "-c", FIRST_OURS], repeat, cold)
        if float(first["outputs"][0]) != float(first["outputs"][1]):
            raise SystemExit(f"first compute printed {first['outputs']}")
        rows.append(
            _row(
                f"first `compute` of a 4x4 uint8 array, {state}",
                "numpy one-liner",
                first,
                FIRST_TARGET,
            )
        )
        tif = compare(
            [py, "-c", TIFF_NUMPY, str(tiny)],
            [*imgstats_command(), "stats", str(tiny), "median"],
            repeat,
            cold,
        )
        if float(tif["outputs"][0]) != float(tif["outputs"][1].split()[-1]):
            raise SystemExit(f"tiny.tif medians differ: {tif['outputs']}")
        rows.append(
            _row(
                f"`imgstats stats tiny.tif median` (64x64 uint16), {state}",
                "numpy.median(tifffile.imread)",
                tif,
                CLI_TARGET,
            )
        )
    return rows


def _row(case: str, reference: str, result: dict, target: float) -> tuple:
    return (
        case,
        f"{reference} {ms(result['reference'])}",
        ms(result["ours"]),
        f"{result['ratio']:.2f}x ({result['median_ratio']:.2f}x)",
        f"≤ {target}x",
        verdict(result["ratio"] <= target),
    )


#: One image of each pixel type the service reads, as (name suffix, array maker).
SERVER_TYPES = {
    "uint8 RGB JPEG": ("jpg", lambda rng, shape: rng.integers(0, 256, (*shape, 3), np.uint8)),
    "uint16 TIFF": ("tif", lambda rng, shape: rng.integers(0, 65536, shape, np.uint16)),
    "int16 TIFF": ("tif", lambda rng, shape: rng.integers(-32768, 32768, shape, np.int16)),
    "float32 TIFF": ("tif", lambda rng, shape: rng.standard_normal(shape, np.float32)),
}


def _server_images(folder: Path, size: int) -> dict[str, tuple[str, str]]:
    """Two images (first, second) of each type in ``folder``."""
    import tifffile
    from PIL import Image

    rng = np.random.default_rng(1)
    names = {}
    for kind, (ext, make) in SERVER_TYPES.items():
        pair = []
        for i in range(2):
            name = f"{kind.split()[0]}-{i}.{ext}"
            arr = make(rng, (size, size))
            if ext == "jpg":
                Image.fromarray(arr).save(folder / name, quality=90)
            else:
                tifffile.imwrite(folder / name, arr, compression="zlib", tile=(256, 256))
            pair.append(name)
        names[kind] = tuple(pair)
    return names


def first_requests(folder: Path, size: int, cold: bool, repeat: int) -> list[tuple]:
    """Rows: each type's first request to a fresh server against its second, on a new image
    of the same type and size; the best of ``repeat`` fresh servers for each."""
    names = _server_images(folder, size)
    seconds: dict[str, list[list[float]]] = {kind: [[], []] for kind in names}
    ready = []
    for _ in range(repeat):
        port = free_port()
        env = {**_env(cold), "IMGSTATS_WORKERS": "1"}
        command = serve_command(folder, port=port, workers=1)
        with start_process(command, port, timeout=600, env=env, health="/ready") as server:
            ready.append(server.startup_seconds)
            for kind, pair in names.items():
                for i, name in enumerate(pair):
                    start = time.perf_counter()
                    status, _, body = server.get(f"/stats/{name}/median", timeout=120)
                    seconds[kind][i].append(time.perf_counter() - start)
                    if status != 200:
                        raise SystemExit(f"/stats/{name}/median: {status} {body[:200]!r}")
    state = "cold" if cold else "warm"
    rows = []
    for kind, (first, second) in seconds.items():
        ratio = min(first) / min(second)
        rows.append(
            (
                f"{kind} {size}x{size}, {state}",
                ms(min(first)),
                ms(min(second)),
                f"{ratio:.2f}x ({statistics.median(first) / statistics.median(second):.2f}x)",
                f"≤ {FIRST_REQUEST_TARGET}x",
                verdict(ratio <= FIRST_REQUEST_TARGET),
            )
        )
    rows.append((f"server start to /ready, {state}", ms(min(ready)), "", "", "", ""))
    return rows


def container_ready(image: str, repeat: int) -> list[tuple]:
    """Rows: seconds from ``<engine> run`` of ``image`` to ``/ready`` answering 200, and its
    first ``/stats/IMG_1.jpg/median`` after that; the best of ``repeat`` new containers."""
    engine = shutil.which("podman") or shutil.which("docker")
    if engine is None:
        raise SystemExit("--container needs podman or docker")
    ready, first = [], []
    for _ in range(repeat):
        port = free_port()
        start = time.perf_counter()
        name = subprocess.run(
            [engine, "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8181", image],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        try:
            status = None
            while time.perf_counter() - start < 900:
                try:
                    status = http_get(f"http://127.0.0.1:{port}", "/ready", timeout=5)[0]
                except OSError:
                    status = None
                if status == 200:
                    break
                time.sleep(0.1)
            if status != 200:
                raise SystemExit(f"{image}: /ready did not answer 200 within 900 s")
            ready.append(time.perf_counter() - start)
            t = time.perf_counter()
            status, _, body = http_get(
                f"http://127.0.0.1:{port}", "/stats/IMG_1.jpg/median", timeout=300
            )
            if status != 200:
                raise SystemExit(f"{image}: /stats/IMG_1.jpg/median {status} {body[:200]!r}")
            first.append(time.perf_counter() - t)
        finally:
            subprocess.run([engine, "rm", "-f", name], check=False, capture_output=True)
    return [
        (
            image,
            f"{min(ready):.1f} s ({statistics.median(ready):.1f} s)",
            f"{ms(min(first))} ({ms(statistics.median(first))})",
        )
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of each command")
    parser.add_argument(
        "--serve-repeat", type=int, default=3, help="server starts timed (fresh servers)"
    )
    parser.add_argument(
        "--size", type=int, default=2048, help="side of the first-request images (pixels)"
    )
    parser.add_argument(
        "--only-first",
        action="store_true",
        help="only the first statistic, the tiny TIFF and the first requests",
    )
    parser.add_argument(
        "--container",
        nargs="+",
        metavar="IMAGE",
        default=[],
        help="time only these container images, from run to /ready (default: none)",
    )
    args = parser.parse_args(argv)
    if args.container:
        rows = [r for image in args.container for r in container_ready(image, args.serve_repeat)]
        print(
            table(
                [
                    "container image",
                    "run to /ready 200, best (median)",
                    "then GET /stats/IMG_1.jpg/median",
                ],
                rows,
            )
        )
        return 0
    # The bytecode an installed wheel has (see the module's docstring).
    compileall.compile_dir(str(Path(__file__).parents[1] / "imgstats"), quiet=1)
    print(f"Machine: {machine_name()}; best of {args.repeat} runs of each, in turn\n")
    with tempfile.TemporaryDirectory() as tmp:
        rows = first_statistics(args.repeat, Path(tmp))
        print(table(["case", "reference", "imgstats", "ratio, best (median)", "target", ""], rows))
        print()
        requests = []
        for cold in (True, False):
            folder = Path(tmp) / ("cold" if cold else "warm")
            folder.mkdir()
            requests += first_requests(folder, args.size, cold, args.serve_repeat)
        print(
            table(
                [
                    "fresh server, GET /stats/<image>/median",
                    "first",
                    "second (new image)",
                    "ratio, best (median)",
                    "target",
                    "",
                ],
                requests,
            )
        )
        print()
    if args.only_first:
        return 0

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
