"""Zonal statistics and per-pixel reductions (issue 17), each against its reference in one run.

Run ``uv run python -m benchmarks.bench_zonal`` (the issue's sizes: a 25 MP uint16 raster,
10,000 label zones, 2,000 polygons, a (24, 1024, 1024) float32 stack; several minutes and
about 2 GB) or ``--small`` (a quick look). Every time is the best of ``--repeat`` calls, the
reference and imgstats called in turn after a warm-up, so that a busy machine slows both
alike: the ratios are what to read.

1. ``imgstats.zonal`` of 10,000 label zones, ``["mean", "median", "p99"]``, against one
   whole-image ``imgstats.compute`` of the same functions (goal: at most 3x), and the median
   alone against ``scipy.ndimage.median(values, labels, index)`` (goal: at least 5x faster),
   with equal values; then the same for the raster as uint8, which takes the one-pass
   histogram path of 8-bit samples.
2. 2,000 polygons (GeoJSON, pixel coordinates) against ``rasterstats.zonal_stats(...,
   stats="mean median percentile_99")`` (goal: at least 10x faster), with equal values;
   exactextract's time (``median``, ``quantile(q=0.99)``) beside them, whose values are
   coverage-weighted and so not compared.
3. A per-pixel median over time of a (24, 1024, 1024) float32 dask array against
   ``numpy.median(axis=0)`` on the loaded array (goal: at most 3x), with the peak memory
   (tracemalloc) against the array's size (goal: at most 2x).
4. The labelled data of 1. through xarray's ``groupby(labels).quantile`` and flox's
   ``groupby_reduce(..., func="nanquantile")`` on a dask array chunked in both dims: time,
   and whether each refuses, rechunks or answers exactly.
5. ``--parts shapely``: 250,000 small shapely boxes (a numpy array of them, as shapely 2's
   vectorized functions give) on a 1000 x 1000 uint16 image, ``["mean", "median"]``, read
   whole by ``shapely.to_ragged_array`` against the same boxes behind ``__geo_interface__``
   alone (the path every shapely layer took before), with equal answers and the peak memory
   of each (tracemalloc, apart from the timings).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

from benchmarks.harness import best_pair, peak_memory

FUNCS = ["mean", "median", "p99"]


def label_image(shape, zones: int, seed: int = 0) -> np.ndarray:
    """Voronoi-like zones: every pixel takes the label of the nearest of ``zones`` seeds on a
    coarse grid (contiguous blobs of about equal size, as segmented cells or tree crowns)."""
    h, w = shape
    side = int(np.ceil(np.sqrt(zones)))
    gy, gx = -(-h // side), -(-w // side)
    rng = np.random.default_rng(seed)
    ids = rng.permutation(side * side)[: side * side] + 1
    ids[ids > zones] = 0  # a few cells are background
    yy = np.minimum(np.arange(h) // gy, side - 1)
    xx = np.minimum(np.arange(w) // gx, side - 1)
    return ids.reshape(side, side)[yy[:, None], xx[None, :]].astype(np.int32)


def raster(shape, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(12000, 3000, shape)
    return np.clip(base, 0, 65535).astype(np.uint16)


def polygons(shape, n: int, seed: int = 2) -> dict:
    """``n`` random convex-ish pentagons of 20 to 120 pixels across, in pixel coordinates."""
    rng = np.random.default_rng(seed)
    h, w = shape
    feats = []
    for i in range(n):
        cx, cy = rng.uniform(60, w - 60), rng.uniform(60, h - 60)
        r = rng.uniform(10, 60)
        ang = np.sort(rng.uniform(0, 2 * np.pi, 5))
        ring = [[float(cx + r * np.cos(a)), float(cy + r * np.sin(a))] for a in ang]
        ring.append(ring[0])
        feats.append(
            {
                "type": "Feature",
                "id": i,
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def bench_labels(img, labels, repeat: int) -> list[str]:
    import scipy.ndimage as ndi

    import imgstats

    index = np.unique(labels)
    index = index[index != 0]
    zonal = lambda: imgstats.zonal(img, labels, FUNCS)  # noqa: E731
    whole = lambda: imgstats.compute(img, FUNCS)  # noqa: E731
    t_whole, t_zonal = best_pair(whole, zonal, repeat)
    frame = zonal()
    scipy_median = lambda: ndi.median(img, labels, index)  # noqa: E731
    median_only = lambda: imgstats.zonal(img, labels, "median")  # noqa: E731
    t_scipy, t_median = best_pair(scipy_median, median_only, repeat)
    equal = np.array_equal(np.asarray(scipy_median(), np.float64), frame["median"].to_numpy())
    # 8-bit samples take the one-pass histogram path (docs/zonal.md): the same raster / 256
    img8 = (img >> 8).astype(np.uint8)
    whole8 = lambda: imgstats.compute(img8, FUNCS)  # noqa: E731
    zonal8 = lambda: imgstats.zonal(img8, labels, FUNCS)  # noqa: E731
    t_whole8, t_zonal8 = best_pair(whole8, zonal8, repeat)
    mp = img.size / 1e6
    return [
        f"## {mp:.0f} MP {img.dtype}, {index.size:,} label zones",
        "",
        "| what | time | ratio | goal |",
        "|---|---|---|---|",
        f"| one whole-image compute {FUNCS} | {t_whole * 1e3:.0f} ms | 1 | |",
        f"| imgstats.zonal {FUNCS} | {t_zonal * 1e3:.0f} ms | {t_zonal / t_whole:.2f}x "
        "the whole image | <= 3x |",
        f"| scipy.ndimage.median | {t_scipy * 1e3:.0f} ms | | |",
        f"| imgstats.zonal median | {t_median * 1e3:.0f} ms | {t_scipy / t_median:.1f}x faster "
        f"than scipy (values equal: {equal}) | >= 5x |",
        f"| the raster as uint8 (>> 8): one whole-image compute | {t_whole8 * 1e3:.0f} ms | 1 | |",
        f"| the raster as uint8: imgstats.zonal {FUNCS} | {t_zonal8 * 1e3:.0f} ms | "
        f"{t_zonal8 / t_whole8:.2f}x the whole image | |",
        "",
    ]


def bench_polygons(img, layer, repeat: int) -> list[str]:
    import imgstats

    try:
        from affine import Affine
        from rasterstats import zonal_stats
    except ImportError as exc:  # pragma: no cover -- the bench group installs them
        return [f"rasterstats is not installed ({exc})", ""]
    h = img.shape[0]
    # rasterstats and exactextract take north-up rasters (row 0 at the top, y up): the same
    # pixels as pixel coordinates (y down) once every y becomes h - y
    north_up = Affine(1, 0, 0, 0, -1, h)
    flipped = _flipped(layer, h)

    def ours():
        return imgstats.zonal(img, layer, FUNCS)

    def theirs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return zonal_stats(
                flipped["features"],
                img,
                affine=north_up,
                stats="mean median percentile_99",
                nodata=65535,  # the raster never reaches it (12,000 +- 3,000)
            )

    t_rs, t_ours = best_pair(theirs, ours, repeat)
    frame, rs = ours(), theirs()
    got = frame[["mean", "median", "p99"]].to_numpy()
    want = np.array([[r["mean"], r["median"], r["percentile_99"]] for r in rs], dtype=np.float64)
    same_median = np.array_equal(got[:, 1], want[:, 1])
    same_p99 = np.array_equal(got[:, 2], want[:, 2])
    close_mean = np.allclose(got[:, 0], want[:, 0], rtol=1e-12)
    rows = [
        f"## {len(layer['features']):,} polygons over the same raster",
        "",
        "| what | time | ratio | goal |",
        "|---|---|---|---|",
        f"| rasterstats.zonal_stats mean median percentile_99 | {t_rs * 1e3:.0f} ms | 1 | |",
        f"| imgstats.zonal {FUNCS} | {t_ours * 1e3:.0f} ms | {t_rs / t_ours:.1f}x faster "
        f"(median equal: {same_median}, p99 equal: {same_p99}, mean to 1e-12: {close_mean}) "
        "| >= 10x |",
    ]
    rows.append(_exactextract_row(img, flipped, repeat, t_ours))
    return [*rows, ""]


def _flipped(layer, h) -> dict:
    """The layer with every y replaced by ``h - y`` (pixel coordinates to north-up)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                **f,
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[x, h - y] for x, y in f["geometry"]["coordinates"][0]]],
                },
            }
            for f in layer["features"]
        ],
    }


def _exactextract_row(img, flipped, repeat, t_ours) -> str:
    try:
        from exactextract import exact_extract
        from exactextract.raster import NumPyRasterSource
    except ImportError as exc:  # pragma: no cover
        return f"| exactextract | not installed ({exc}) | | |"
    h, w = img.shape
    src = NumPyRasterSource(img, 0, 0, w, h)

    def run():
        return exact_extract(
            src, flipped["features"], ["median", "quantile(q=0.99)"], output="pandas"
        )

    run()
    best = min(_time(run) for _ in range(repeat))
    return (
        f"| exactextract median, quantile(q=0.99) | {best * 1e3:.0f} ms | "
        f"imgstats {best / t_ours:.1f}x faster | coverage-weighted values, not compared |"
    )


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_dims(shape, repeat: int) -> list[str]:
    import dask.array as da
    import xarray as xr

    import imgstats

    rng = np.random.default_rng(3)
    arr = rng.normal(size=shape).astype(np.float32)
    lazy = xr.DataArray(
        da.from_array(arr, chunks=(shape[0], shape[1] // 4, shape[2] // 4)),
        dims=("time", "y", "x"),
    )
    ours = lambda: imgstats.compute(lazy, "median", dim="time").values  # noqa: E731
    theirs = lambda: np.median(arr, axis=0)  # noqa: E731
    t_np, t_ours = best_pair(theirs, ours, repeat)
    # median means numpy.median (docs/statistics.md): the mean of the two middle values,
    # which is not percentile(50)'s lerp to the last bit
    equal = np.array_equal(ours(), np.median(arr, axis=0))
    peak = peak_memory(ours)
    peak_np = peak_memory(theirs)
    return [
        f"## per-pixel median over time of a {shape} float32 dask array "
        f"({arr.nbytes / 1e6:.0f} MB)",
        "",
        "| what | time | peak memory (tracemalloc, above the array) | goal |",
        "|---|---|---|---|",
        f"| numpy.median(axis=0) on the loaded array | {t_np * 1e3:.0f} ms | "
        f"{peak_np / arr.nbytes:.2f}x the array | |",
        f"| imgstats.compute(median, dim='time') | {t_ours * 1e3:.0f} ms "
        f"({t_ours / t_np:.2f}x numpy) | {peak / arr.nbytes:.2f}x the array "
        f"(equal to numpy.median: {equal}) | <= 3x time, <= 2x memory |",
        "",
    ]


def bench_groupby(img, labels, repeat: int) -> list[str]:
    import dask.array as da
    import xarray as xr

    import imgstats

    chunks = (img.shape[0] // 4, img.shape[1] // 4)
    values = xr.DataArray(da.from_array(img, chunks=chunks), dims=("y", "x"), name="v")
    zones = xr.DataArray(labels, dims=("y", "x"), name="zone")
    ours = imgstats.zonal(values, labels, ["median"])["median"]
    rows = [
        "## the labelled data through xarray and flox (dask, chunked in both dims)",
        "",
        "| engine | time | outcome |",
        "|---|---|---|",
    ]
    t0 = time.perf_counter()
    imgstats.zonal(values, labels, ["median"])
    rows.append(
        f"| imgstats.zonal median | {(time.perf_counter() - t0) * 1e3:.0f} ms | "
        "answers exactly, chunks as they are |"
    )
    rows.append(
        _try("xarray groupby(labels).quantile(0.5)", lambda: _xr_quantile(values, zones), ours)
    )
    rows.append(
        _try(
            "flox nanquantile, method='map-reduce'",
            lambda: _flox(values, labels, "map-reduce"),
            ours,
        )
    )
    rows.append(
        _try(
            "flox nanquantile, method='blockwise'", lambda: _flox(values, labels, "blockwise"), ours
        )
    )
    return [*rows, ""]


def _xr_quantile(values, zones):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = values.where(zones != 0).groupby(zones).quantile(0.5).compute()
    return out.sel(zone=out.zone != 0)


def _flox(values, labels, method):
    import flox

    index = np.unique(labels)
    index = index[index != 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result, groups = flox.groupby_reduce(
            values.data.astype(np.float64),
            labels,
            func="nanquantile",
            finalize_kwargs={"q": 0.5},
            expected_groups=index,
            method=method,
        )
        return np.asarray(result.compute() if hasattr(result, "compute") else result)


def _try(name, fn, ours) -> str:
    t0 = time.perf_counter()
    try:
        got = fn()
    except Exception as exc:  # noqa: BLE001 -- a refusal is the outcome reported
        elapsed = (time.perf_counter() - t0) * 1e3
        return f"| {name} | {elapsed:.0f} ms | refuses: {type(exc).__name__}: {str(exc)[:120]} |"
    elapsed = time.perf_counter() - t0
    got = np.asarray(getattr(got, "values", got), np.float64).reshape(-1)
    want = ours.to_numpy(np.float64)
    exact = got.shape == want.shape and np.array_equal(got, want)
    return f"| {name} | {elapsed * 1e3:.0f} ms | answers, exactly equal: {exact} |"


class _GeoInterfaceOnly:
    """A geometry that only speaks ``__geo_interface__`` (as a fiona feature): the layer is
    read geometry by geometry, as every shapely layer was before it was read whole."""

    __slots__ = ("geom",)

    def __init__(self, geom):
        self.geom = geom

    @property
    def __geo_interface__(self):
        return self.geom.__geo_interface__


def bench_shapely(repeat: int, n: int) -> list[str]:
    import imgstats

    try:
        import shapely
    except ImportError as exc:  # pragma: no cover -- the bench group installs it
        return [f"shapely is not installed ({exc})", ""]
    rng = np.random.default_rng(14)
    img = rng.integers(0, 60000, (1000, 1000)).astype(np.uint16)
    x, y = rng.uniform(0, 990, n), rng.uniform(0, 990, n)
    geoms = shapely.box(x, y, x + rng.uniform(1, 10, n), y + rng.uniform(1, 10, n))
    slow = [_GeoInterfaceOnly(g) for g in geoms]
    funcs = ["mean", "median"]

    def whole():
        return imgstats.zonal(img, geoms, funcs)

    def one_by_one():
        return imgstats.zonal(img, slow, funcs)

    t_slow, t_whole = best_pair(one_by_one, whole, repeat)
    same = whole().equals(one_by_one())
    m_slow, m_whole = peak_memory(one_by_one), peak_memory(whole)
    return [
        f"## {n:,} shapely boxes (a numpy array) on a 1000 x 1000 uint16 image, {funcs}",
        "",
        "| what | time | per geometry | peak memory |",
        "|---|---|---|---|",
        f"| geometry by geometry (`__geo_interface__`) | {t_slow:.2f} s | "
        f"{t_slow / n * 1e6:.1f} us | {m_slow / 1e6:.0f} MB |",
        f"| read whole (`shapely.to_ragged_array`) | {t_whole:.2f} s | "
        f"{t_whole / n * 1e6:.1f} us | {m_whole / 1e6:.0f} MB |",
        f"| ratio | {t_slow / t_whole:.1f}x faster, answers equal: {same} | | |",
        "",
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="small sizes: a quick look")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--parts",
        default="labels,polygons,dims,groupby,shapely",
        help="comma-separated parts to run (default: all)",
    )
    args = parser.parse_args(argv)
    if args.small:
        shape, zones, npoly, stack = (1000, 1000), 1000, 200, (24, 256, 256)
    else:
        shape, zones, npoly, stack = (5000, 5000), 10_000, 2_000, (24, 1024, 1024)
    parts_wanted = [name.strip() for name in args.parts.split(",")]
    img = raster(shape) if set(parts_wanted) - {"shapely", "dims"} else None
    labels = label_image(shape, zones) if img is not None else None
    out = ["# bench_zonal: one run, ratios measured side by side", ""]
    parts = {
        "labels": lambda: bench_labels(img, labels, args.repeat),
        "polygons": lambda: bench_polygons(img, polygons(shape, npoly), args.repeat),
        "dims": lambda: bench_dims(stack, args.repeat),
        "groupby": lambda: bench_groupby(img, labels, 1),
        "shapely": lambda: bench_shapely(args.repeat, 25_000 if args.small else 250_000),
    }
    for name in parts_wanted:
        lines = parts[name]()
        print("\n".join(lines), flush=True)
        out.extend(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
