"""Benchmark ``GET /stats/<image>/histogram`` (issue 16 item 4) against numpy.histogram.

Run ``uv run python -m benchmarks.bench_histogram``. Through the app factory's test client
(in this process, no HTTP server), on a temporary store of two synthetic GeoTIFFs with a
nodata value (a uint16 and a float32 image of ``--side``² pixels, tiled), it prints, measured
side by side in this one run (best of ``--repeat``):

* warm 8/16-bit: a new histogram (a ``bins`` never asked before) of a uint16 image already
  seen, from its summary / ``numpy.histogram`` of the valid samples already decoded in memory
  (the reference skips the decode entirely);
* float32: a new histogram (one pass over the pixels, decode included) / reading the file with
  tifffile plus ``numpy.histogram`` of its valid samples.

Both answers are checked equal to numpy's before timing.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import numpy as np
import tifffile

from benchmarks.harness import best_pair
from imgstats.web import create_app


def _write(path: Path, arr: np.ndarray, nodata) -> None:
    tifffile.imwrite(
        path,
        arr,
        tile=(256, 256),
        compression="zlib",
        extratags=[(42113, "s", 0, str(nodata), True)],  # GDAL_NODATA
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=4096, help="image side in pixels")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    side = args.side
    u16 = rng.integers(1, 60000, (side, side), dtype=np.uint16)
    u16[: side // 8] = 0
    f32 = rng.normal(0, 1, (side, side)).astype(np.float32)
    f32[: side // 8] = -9999.0
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder)
        _write(store / "u16.tif", u16, 0)
        _write(store / "f32.tif", f32, -9999)
        app = create_app({"IMAGES": str(store), "WARMUP": False, "CACHE_BYTES": 1 << 30})
        client = app.test_client()
        valid16, valid32 = u16[u16 != 0], f32[f32 != -9999.0]

        def ask(name, bins):
            got = client.get(f"/stats/{name}/histogram?bins={bins}")
            if got.status_code != 200:
                raise SystemExit(f"{name}: {got.status_code} {got.get_json()}")
            return got.get_json()["value"]

        for name, valid in (("u16.tif", valid16), ("f32.tif", valid32)):
            counts, edges = np.histogram(valid, 64)
            if ask(name, 64) != {"counts": counts.tolist(), "edges": edges.tolist()}:
                raise SystemExit(f"{name}: the histogram differs from numpy's")
        fresh = itertools.count(100)  # a new bins each call: never the answer cache
        ref, ours = best_pair(
            lambda: np.histogram(valid16, 256),
            lambda: ask("u16.tif", next(fresh)),
            args.repeat,
        )
        print(
            f"warm uint16 {side}x{side}, new histogram: {ours * 1e3:.1f} ms; numpy.histogram "
            f"of the valid samples in memory {ref * 1e3:.1f} ms; ratio {ours / ref:.3f}"
        )

        def numpy_f32():
            arr = tifffile.imread(store / "f32.tif")
            return np.histogram(arr[arr != -9999.0], 256)

        ref, ours = best_pair(numpy_f32, lambda: ask("f32.tif", next(fresh)), args.repeat)
        print(
            f"float32 {side}x{side}, new histogram (one pass): {ours * 1e3:.1f} ms; tifffile "
            f"read + numpy.histogram {ref * 1e3:.1f} ms; ratio {ours / ref:.3f}"
        )
        app.extensions["imgstats"].close()


if __name__ == "__main__":
    main()
