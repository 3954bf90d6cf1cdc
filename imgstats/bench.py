"""Benchmark and comparison helpers shared by the notebooks and the ``invoke`` tasks.

Everything a notebook needs more than once lives here: synthetic test images, numpy as the
oracle, the methods being compared (numpy, ``dask.array.percentile``, imgstats in memory and
on chunked dask arrays), a timer, a peak-memory probe, the whole benchmark grid, the summary
tables with their ``exact`` column, and a real ``imgstats serve`` process for latency runs.

*Exact* means bit-for-bit equal to numpy on every order statistic (``min``, ``max``,
``median``, ``pXXX``: numpy's ``linear`` percentile). The mean is reported apart
(``mean_error``): numpy's float64 pairwise sum itself rounds, while imgstats rounds the exact
sum once, so the two may differ in the last bit on float images with neither being wrong.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_FUNCS",
    "METHODS",
    "Timing",
    "synthetic_image",
    "gallery_images",
    "shape_for",
    "numpy_stats",
    "dask_stats",
    "imgstats_stats",
    "compare_to_numpy",
    "percentile_comparison",
    "errors_against",
    "timed",
    "peak_memory",
    "available_memory",
    "largest_size",
    "machine_info",
    "run_benchmark",
    "print_record",
    "summary_table",
    "exactness_table",
    "to_markdown",
    "machine_name",
    "write_benchmark_report",
    "latency_table",
    "write_json",
    "free_port",
    "Server",
    "start_server",
    "measure_latency",
]

#: Statistics timed by the benchmark (one call per method computes all of them).
DEFAULT_FUNCS = ("min", "max", "mean", "median", "p1", "p99")

#: ``(method, layout)`` pairs of the benchmark grid, in table order.
METHODS = (
    ("numpy", "memory"),
    ("imgstats", "memory"),
    ("dask", "chunked"),
    ("imgstats", "chunked"),
)

_MB = 1 << 20


# -- test images ------------------------------------------------------------------------------
def shape_for(pixels: int) -> tuple[int, int]:
    """Return a 2-D shape ``(rows, cols)`` with about ``pixels`` pixels, at most 4:3 wide.

    Examples
    --------
    >>> shape_for(1 << 20)
    (1024, 1024)
    """
    if pixels < 1:
        raise ValueError(f"pixels must be positive, got {pixels}")
    side = math.isqrt(int(pixels))
    if side * side == pixels:
        return side, side
    rows = max(1, round(math.sqrt(pixels * 3 / 4)))
    return rows, max(1, round(pixels / rows))


def synthetic_image(
    pixels_or_shape, dtype="uint8", *, kind: str = "photo", seed: int = 0
) -> np.ndarray:
    """Make a realistic greyscale test image of a given size and type.

    Parameters
    ----------
    pixels_or_shape : int or tuple of int
        Number of pixels (made into a near-square shape with :func:`shape_for`) or a
        ``(rows, cols)`` shape.
    dtype : str or numpy.dtype
        ``uint8``, ``uint16``, ``int16``, ``float32`` or ``float64``.
    kind : {"photo", "gradient"}
        ``"photo"`` upsamples a gallery photograph (bilinear) under a vignetting gradient;
        ``"gradient"`` is smooth gradients and blobs only. Both add Gaussian sensor noise, so
        the values have the many ties and the smooth, skewed histogram of real images, not the
        flat one of uniform random data.
    seed : int
        Seed of the noise.

    Returns
    -------
    numpy.ndarray
        ``uint8`` spans 0-255, ``uint16`` a 12-bit sensor scaled to 0-65535, signed integers
        are centred on 0, floats lie in about [0, 1].

    Examples
    --------
    >>> img = synthetic_image(4096, "uint16")
    >>> img.shape, img.dtype
    ((64, 64), dtype('uint16'))
    """
    if isinstance(pixels_or_shape, (tuple, list)):
        shape = tuple(int(s) for s in pixels_or_shape)
    else:
        shape = shape_for(int(pixels_or_shape))
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"need a positive 2-D shape, got {shape}")
    dtype = np.dtype(dtype)
    if dtype.kind not in "uif":
        raise ValueError(f"unsupported dtype {dtype}")
    rng = np.random.default_rng(seed)
    rows, cols = shape
    y = np.linspace(-1.0, 1.0, rows, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, cols, dtype=np.float32)[None, :]
    vignette = 1.0 - 0.35 * (x * x + y * y)  # bright centre, dark corners
    if kind == "photo":
        base = _photo(shape) * vignette
    elif kind == "gradient":
        base = 0.15 + 0.5 * (x + 1.0) / 2.0 * vignette + 0.25 * np.exp(
            -((x - 0.3) ** 2 + (y + 0.2) ** 2) / 0.05
        )
    else:
        raise ValueError(f"kind must be 'photo' or 'gradient', got {kind!r}")
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise *= 0.02
    img = np.clip(base + noise, 0.0, 1.0, out=np.empty(shape, np.float32))
    del noise
    if dtype.kind == "f":
        return img.astype(dtype, copy=False)
    if dtype == np.uint16:  # a 12-bit sensor, as most 16-bit cameras and scanners are
        return (np.rint(img * 4095.0).astype(np.uint16) << 4).astype(np.uint16)
    info = np.iinfo(dtype)
    if dtype.kind == "i":
        span = min(info.max, 4095)
        return np.rint((img - 0.5) * 2 * span).astype(dtype)
    return np.rint(img * info.max).astype(dtype)


def _photo(shape) -> np.ndarray:
    """A gallery photograph in greyscale, resized bilinearly to ``shape``, in [0, 1]."""
    from PIL import Image

    from .data import gallery_path

    with Image.open(gallery_path() / "IMG_1.jpg") as im:
        grey = im.convert("F")
        resized = grey.resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32) / np.float32(255.0)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


def gallery_images(folder=None) -> list[Path]:
    """Return the image files of ``folder`` (default: the bundled gallery) in natural order.

    Examples
    --------
    >>> [p.name for p in gallery_images()][:3]
    ['IMG_1.jpg', 'IMG_2.jpg', 'IMG_3.jpg']
    """
    import re

    from .data import gallery_path

    folder = gallery_path() if folder is None else Path(folder)
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]

    def natural(p: Path):
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]

    return sorted(files, key=natural)


# -- the methods ------------------------------------------------------------------------------
def _split(funcs) -> tuple[list[str], list[float]]:
    from .functions import parse_function

    pcts = [f for f in funcs if parse_function(f).kind == "percentile" and f != "median"]
    return pcts, [parse_function(f).q for f in pcts]


def numpy_stats(arr, funcs: Sequence[str] = DEFAULT_FUNCS) -> dict[str, float]:
    """Compute ``funcs`` with numpy: the oracle.

    ``numpy.min``/``max``, ``numpy.mean(dtype=float64)``, ``numpy.median`` and
    ``numpy.percentile(arr, q)`` for each ``pXXX`` (NaN-ignoring variants for float arrays with
    NaN, as imgstats ignores NaN). One call per ``q``, with ``q`` a Python float, is the
    reference imgstats promises to equal: with a *list* of ``q``, numpy interpolates float32
    images in float64 instead, which can differ in the last float32 bit.

    Parameters
    ----------
    arr : array_like
        All samples count, whatever the shape (as ``band=None`` in imgstats).
    funcs : sequence of str

    Returns
    -------
    dict
        ``{func: value}`` as Python numbers.
    """
    arr = np.asarray(arr)
    nan = arr.dtype.kind == "f" and bool(np.isnan(arr).any())
    out: dict[str, float] = {}
    pcts, qs = _split(funcs)
    percentile = np.nanpercentile if nan else np.percentile
    for f, q in zip(pcts, qs, strict=True):
        out[f] = np.asarray(percentile(arr, q)).item()
    for f in funcs:
        if f == "min":
            out[f] = (np.nanmin if nan else np.min)(arr).item()
        elif f == "max":
            out[f] = (np.nanmax if nan else np.max)(arr).item()
        elif f == "mean":
            out[f] = (np.nanmean if nan else np.mean)(arr, dtype=np.float64).item()
        elif f == "median":
            out[f] = (np.nanmedian if nan else np.median)(arr).item()
    return {f: out[f] for f in funcs}


def dask_stats(darr, funcs: Sequence[str] = DEFAULT_FUNCS) -> dict[str, float]:
    """Compute ``funcs`` with dask.array in one ``dask.compute``.

    Percentiles and the median use ``dask.array.percentile`` on the flattened array, which
    merges per-chunk percentiles and is therefore approximate; min, max and mean are dask's
    exact reductions.

    Parameters
    ----------
    darr : dask.array.Array
    funcs : sequence of str

    Returns
    -------
    dict
    """
    import dask
    import dask.array as da

    flat = darr.ravel()
    pcts, qs = _split(funcs)
    if "median" in funcs:
        pcts, qs = [*pcts, "median"], [*qs, 50.0]
    # dask.array.percentile expects increasing q (unsorted q silently mixes up the answers)
    pcts, qs = [p for _, p in sorted(zip(qs, pcts, strict=True))], sorted(qs)
    lazy = {}
    if qs:
        lazy["_pcts"] = da.percentile(flat, qs)
    for f in funcs:
        if f == "min":
            lazy[f] = darr.min()
        elif f == "max":
            lazy[f] = darr.max()
        elif f == "mean":
            lazy[f] = darr.mean(dtype=np.float64)
    (done,) = dask.compute(lazy)
    out = {f: np.asarray(v).item() for f, v in done.items() if f != "_pcts"}
    if qs:
        out.update({f: np.asarray(v).item() for f, v in zip(pcts, done["_pcts"], strict=True)})
    return {f: out[f] for f in funcs}


def imgstats_stats(data, funcs: Sequence[str] = DEFAULT_FUNCS) -> dict[str, float]:
    """Compute ``funcs`` with :func:`imgstats.compute` (numpy, dask, xarray, paths...)."""
    from .reduce import compute

    return compute(data, list(funcs))


_RUNNERS: dict[str, Callable] = {
    "numpy": numpy_stats,
    "dask": dask_stats,
    "imgstats": imgstats_stats,
}


def errors_against(values: dict, reference: dict) -> dict[str, float]:
    """Return ``{func: abs(values[func] - reference[func])}`` (0.0 when both are equal)."""
    out = {}
    for f, ref in reference.items():
        v = values[f]
        out[f] = 0.0 if v == ref or (v != v and ref != ref) else abs(float(v) - float(ref))
    return out


def compare_to_numpy(data, funcs: Sequence[str] = DEFAULT_FUNCS, band=None) -> list[dict]:
    """Compare imgstats with numpy on one image, statistic by statistic.

    Parameters
    ----------
    data : anything :func:`imgstats.compute` takes
    funcs : sequence of str
    band : None, int or str
        ``None`` compares all samples of all bands; an index or name compares one band
        (numpy sees ``array[..., band]``).

    Returns
    -------
    list of dict
        One ``{"func", "imgstats", "numpy", "abs_error", "equal"}`` per statistic; ``equal``
        is bit-for-bit equality.
    """
    from .reduce import as_image_array, compute

    arr, names = as_image_array(data)
    values = compute(data, list(funcs), band)
    arr = np.asarray(arr)
    if band is not None:
        index = band if isinstance(band, int) else names.index(band)
        arr = arr[..., index]
    ref = numpy_stats(arr, funcs)
    errs = errors_against(values, ref)
    return [
        {"func": f, "imgstats": values[f], "numpy": ref[f], "abs_error": errs[f],
         "equal": values[f] == ref[f]}
        for f in funcs
    ]


def percentile_comparison(
    arr, chunks, funcs: Sequence[str] = ("p1", "p5", "p25", "median", "p75", "p95", "p99"),
) -> list[dict]:
    """Compare imgstats and ``dask.array.percentile`` on the same chunked array, per statistic.

    Parameters
    ----------
    arr : numpy.ndarray
        The image in memory: numpy's answer is the reference.
    chunks : int, tuple or dask.array.Array
        The dask chunking given to both methods (or a dask array of ``arr``).
    funcs : sequence of str
        Percentiles (and ``median``).

    Returns
    -------
    list of dict
        One ``{"func", "numpy", "imgstats", "dask", "imgstats error", "dask error"}`` per
        statistic.
    """
    import dask.array as da

    darr = chunks if isinstance(chunks, da.Array) else da.from_array(arr, chunks=chunks)
    ref = numpy_stats(arr, funcs)
    got = {"imgstats": imgstats_stats(darr, funcs), "dask": dask_stats(darr, funcs)}
    errs = {m: errors_against(v, ref) for m, v in got.items()}
    return [
        {"func": f, "numpy": ref[f], "imgstats": got["imgstats"][f], "dask": got["dask"][f],
         "imgstats error": errs["imgstats"][f], "dask error": errs["dask"][f]}
        for f in funcs
    ]


# -- measuring --------------------------------------------------------------------------------
@dataclass
class Timing:
    """Wall-clock times of repeated calls.

    Attributes
    ----------
    times : list of float
        Seconds of each call.
    result : object
        What the last call returned.
    """

    times: list[float] = field(default_factory=list)
    result: object = None

    @property
    def best(self) -> float:
        """The fastest call: the least disturbed by the rest of the machine."""
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def timed(fn: Callable[[], object], repeats: int = 3, warmup: int = 0) -> Timing:
    """Call ``fn()`` ``repeats`` times and return their wall-clock times.

    Parameters
    ----------
    fn : callable
        Called without arguments.
    repeats : int
        Timed calls (at least 1).
    warmup : int
        Untimed calls first (JIT compilation, caches).

    Returns
    -------
    Timing

    Examples
    --------
    >>> t = timed(lambda: sum(range(1000)), repeats=3)
    >>> len(t.times), t.result, t.best <= t.median
    (3, 499500, True)
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    for _ in range(warmup):
        fn()
    out = Timing()
    for _ in range(repeats):
        start = time.perf_counter()
        out.result = fn()
        out.times.append(time.perf_counter() - start)
    return out


def peak_memory(fn: Callable[[], object]) -> int:
    """Return the peak bytes allocated while ``fn()`` runs, above what was allocated before.

    Measured with :mod:`tracemalloc`, which sees every numpy buffer and Python object on every
    thread (so dask's threaded scheduler is covered) but not memory that numba-compiled code
    allocates for itself (imgstats' kernels only allocate their small histograms). Run it
    apart from timings: tracing slows Python down.
    """
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(0, peak - before)


def available_memory() -> int:
    """Bytes of memory available to new allocations (``MemAvailable`` on Linux)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


#: Peak bytes of the benchmark per byte of image: the image, numpy.percentile's partitioned
#: copy, a median copy and dask's per-chunk copies, with room to spare.
_MEMORY_FACTOR = 6


def largest_size(dtype, memory: int | None = None, start_mp: int = 1) -> int:
    """Return the largest size in megapixels, ``start_mp`` times a power of 4, that fits.

    An image "fits" when :data:`_MEMORY_FACTOR` times its bytes fit in ``memory`` (default:
    :func:`available_memory`), which leaves room for numpy's copies.
    """
    memory = available_memory() if memory is None else memory
    itemsize = np.dtype(dtype).itemsize
    mp = start_mp
    while (mp * 4) * _MB * itemsize * _MEMORY_FACTOR <= memory:
        mp *= 4
    return mp


def machine_info() -> dict:
    """Describe the machine a benchmark ran on: CPU model, cores, memory and versions."""
    import dask

    from . import __version__

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return {
        "cpu": cpu,
        "cores": cores,
        "memory_gb": round(available_memory() / (1 << 30), 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "dask": dask.__version__,
        "imgstats": __version__,
        "system": f"{platform.system()} {platform.machine()}",
    }


# -- the grid ---------------------------------------------------------------------------------
def _chunked(arr: np.ndarray, chunk_pixels: int):
    """A dask view of ``arr`` in full-width row bands of about ``chunk_pixels`` pixels.

    Full-width bands keep ``ravel()`` free, so dask.array.percentile is not charged for a
    rechunk that imgstats would not need.
    """
    import dask.array as da

    rows = max(1, min(arr.shape[0], chunk_pixels // arr.shape[1]))
    return da.from_array(arr, chunks=(rows, arr.shape[1]), asarray=True)


def run_benchmark(
    sizes_mp: Iterable[float] = (1, 4),
    dtypes: Iterable[str] = ("uint8", "uint16", "float32"),
    chunk_pixels: Iterable[int] = (1 << 20,),
    repeats: int = 3,
    funcs: Sequence[str] = DEFAULT_FUNCS,
    methods: Sequence[tuple[str, str]] = METHODS,
    memory: bool = True,
    kind: str = "photo",
    progress: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Time every method on every size, type and chunking, against numpy.

    Parameters
    ----------
    sizes_mp : iterable of float
        Image sizes in megapixels (2**20 pixels).
    dtypes : iterable of str
    chunk_pixels : iterable of int
        Pixels per dask chunk for the ``chunked`` layout (full-width row bands).
    repeats : int
        Timed calls per measurement; ``seconds`` is the best of them.
    funcs : sequence of str
        Statistics computed by every call.
    methods : sequence of (method, layout)
        ``method`` in numpy, dask, imgstats; ``layout`` in memory, chunked.
    memory : bool
        Also measure peak memory (one extra, traced call each).
    kind : str
        Passed to :func:`synthetic_image`.
    progress : callable, optional
        Called with each record as it is made.

    Returns
    -------
    list of dict
        One record per (method, layout, dtype, size, chunking) with keys ``method``,
        ``layout``, ``label``, ``dtype``, ``pixels``, ``megapixels``, ``shape``,
        ``chunk_pixels``, ``chunks``, ``repeats``, ``seconds`` (best), ``seconds_median``,
        ``mpix_per_s``, ``values``, ``errors``, ``abs_error`` (largest error of the order
        statistics), ``mean_error``, ``exact`` and ``peak_bytes``.
    """
    funcs = list(funcs)
    chunk_pixels = list(chunk_pixels)
    for method, layout in methods:
        if method not in _RUNNERS or layout not in ("memory", "chunked"):
            raise ValueError(f"unknown method {method!r} / layout {layout!r}")
    records = []
    for dtype in dtypes:
        _warm_up(dtype, funcs)
        for mp in sizes_mp:
            arr = synthetic_image(int(mp * _MB), dtype, kind=kind)
            reference = numpy_stats(arr, funcs)
            for method, layout in methods:
                layouts = [None] if layout == "memory" else chunk_pixels
                for cp in layouts:
                    data = arr if cp is None else _chunked(arr, cp)
                    rec = _measure(method, layout, data, arr, cp, funcs, reference, repeats,
                                   memory)
                    records.append(rec)
                    if progress is not None:
                        progress(rec)
            del arr
    return records


def _warm_up(dtype, funcs) -> None:
    """Compile imgstats' kernels for ``dtype`` so that no timing includes numba's JIT."""
    small = synthetic_image((64, 64), dtype, kind="gradient")
    imgstats_stats(small, funcs)
    imgstats_stats(_chunked(small, 1024), funcs)


def _measure(method, layout, data, arr, cp, funcs, reference, repeats, memory) -> dict:
    run = _RUNNERS[method]
    timing = timed(lambda: run(data, funcs), repeats=repeats)
    values = timing.result
    errs = errors_against(values, reference)
    order = [errs[f] for f in funcs if f != "mean"]
    label = method if layout == "memory" else f"{method} (chunked)"
    pixels = int(arr.size)
    return {
        "method": method,
        "layout": layout,
        "label": label,
        "dtype": str(arr.dtype),
        "pixels": pixels,
        "megapixels": round(pixels / _MB, 3),
        "shape": list(arr.shape),
        "chunk_pixels": cp,
        "chunks": None if cp is None else int(np.prod(data.numblocks)),
        "repeats": repeats,
        "seconds": timing.best,
        "seconds_median": timing.median,
        "mpix_per_s": pixels / _MB / timing.best,
        "values": values,
        "errors": errs,
        "abs_error": max(order, default=0.0),
        "mean_error": errs.get("mean"),
        "exact": all(e == 0.0 for e in order),
        "peak_bytes": peak_memory(lambda: run(data, funcs)) if memory else None,
    }


def print_record(rec: dict) -> None:
    """Print one benchmark record on one line (a ``progress`` callback for the notebooks)."""
    print(f"{rec['label']:>20} {rec['dtype']:>8} {rec['megapixels']:>7g} MP "
          f"{rec['seconds']:9.4f} s  error {rec['abs_error']:.3g}", flush=True)


# -- tables -----------------------------------------------------------------------------------
def _order(records) -> list[str]:
    labels = []
    for rec in records:
        if rec["label"] not in labels:
            labels.append(rec["label"])
    return labels


def summary_table(records: list[dict], megapixels: float | None = None) -> list[dict]:
    """One row per method and type at one size (default: the largest), with ``exact``.

    Parameters
    ----------
    records : list of dict
        From :func:`run_benchmark`.
    megapixels : float, optional
        The size to show; ``exact`` and ``max abs error`` always cover every size.

    Returns
    -------
    list of dict
        Keys ``method``, ``dtype``, ``megapixels``, ``seconds``, ``time / numpy``,
        ``peak MB``, ``max abs error`` and ``exact``, in benchmark order.
    """
    if not records:
        return []
    if megapixels is None:
        megapixels = max(r["megapixels"] for r in records)
    numpy_time = {
        r["dtype"]: r["seconds"] for r in records
        if r["method"] == "numpy" and r["megapixels"] == megapixels
    }
    rows = []
    for label in _order(records):
        for dtype in dict.fromkeys(r["dtype"] for r in records):
            mine = [r for r in records if r["label"] == label and r["dtype"] == dtype]
            shown = [r for r in mine if r["megapixels"] == megapixels]
            if not shown:
                continue
            best = min(shown, key=lambda r: r["seconds"])
            peak = best.get("peak_bytes")
            ref = numpy_time.get(dtype)
            rows.append({
                "method": label,
                "dtype": dtype,
                "megapixels": megapixels,
                "seconds": _sig(best["seconds"], 3),
                "time / numpy": _sig(best["seconds"] / ref, 2) if ref else None,
                "peak MB": None if peak is None else _sig(peak / _MB, 2),
                "max abs error": _sig(max(r["abs_error"] for r in mine), 3),
                "exact": all(r["exact"] for r in mine),
            })
    return rows


def exactness_table(records: list[dict]) -> list[dict]:
    """One row per method: is it exact on every run, and its largest errors.

    Returns
    -------
    list of dict
        Keys ``method``, ``runs``, ``exact`` (every order statistic bit-equal to numpy on every
        run), ``max abs error`` (order statistics) and ``max mean error``.
    """
    rows = []
    for label in _order(records):
        mine = [r for r in records if r["label"] == label]
        rows.append({
            "method": label,
            "runs": len(mine),
            "exact": all(r["exact"] for r in mine),
            "max abs error": _sig(max(r["abs_error"] for r in mine), 3),
            "max mean error": _sig(max((r["mean_error"] or 0.0) for r in mine), 3),
        })
    return rows


def _sig(value: float, digits: int) -> float:
    """``value`` rounded to ``digits`` significant digits, for tables."""
    return float(f"{value:.{digits}g}")


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if value != value or abs(value) < 1e-3 or abs(value) >= 1e6:
            return f"{value:.3g}"
        return f"{value:.6g}"
    return str(value)


def to_markdown(rows: list[dict]) -> str:
    """Render table rows (dicts with the same keys) as a GitHub markdown table."""
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
    lines += ["| " + " | ".join(_cell(row[k]) for k in keys) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def machine_name(info: dict | None = None) -> str:
    """One line naming the machine, e.g. ``"AMD EPYC, 2 cores, 22.6 GB free, Linux x86_64"``."""
    info = machine_info() if info is None else info
    return (f"{info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB free, "
            f"{info['system']}, Python {info['python']}, numpy {info['numpy']}, "
            f"dask {info['dask']}")


def write_benchmark_report(records: list[dict], output, machine: dict | None = None) -> dict:
    """Write ``benchmark.json`` (the records), ``machine.json`` and ``benchmark.md``.

    ``benchmark.md`` names the machine, states for each method whether it is exact, and has
    the :func:`summary_table` at the largest size.

    Parameters
    ----------
    records : list of dict
        From :func:`run_benchmark`.
    output : str or path
        Folder, created when missing.
    machine : dict, optional
        From :func:`machine_info` (default: this machine).

    Returns
    -------
    dict
        ``{"json": path, "machine": path, "markdown": path}``.
    """
    output = Path(output)
    machine = machine_info() if machine is None else machine
    paths = {
        "json": write_json(records, output / "benchmark.json"),
        "machine": write_json(machine, output / "machine.json"),
        "markdown": output / "benchmark.md",
    }
    exact = exactness_table(records)
    verdict = "\n".join(
        f"- **{row['method']}**: {'exact' if row['exact'] else 'not exact'} "
        f"(largest error {_cell(row['max abs error'])} over {row['runs']} runs)"
        for row in exact
    )
    sizes = sorted({r["megapixels"] for r in records})
    paths["markdown"].write_text(
        "# imgstats benchmark\n\n"
        f"Machine: {machine_name(machine)}.\n\n"
        f"Sizes {', '.join(_cell(float(s)) for s in sizes)} MP; "
        f"dtypes {', '.join(dict.fromkeys(r['dtype'] for r in records))}; "
        f"best of {records[0]['repeats'] if records else 0} runs; statistics "
        f"{', '.join(records[0]['values']) if records else ''}.\n\n"
        "## Exact?\n\n"
        "Exact = min, max, median and every percentile bit-for-bit equal to numpy "
        "(`numpy.percentile`, linear) on every run.\n\n"
        f"{verdict}\n\n{to_markdown(exact)}\n"
        f"## At {_cell(float(sizes[-1])) if sizes else '-'} MP\n\n"
        f"{to_markdown(summary_table(records))}"
    )
    return paths


def latency_table(records: list[dict]) -> list[dict]:
    """Median, fastest and slowest cold and warm latency (ms) from :func:`measure_latency`."""
    rows = []
    for phase in ("cold", "warm"):
        ms = [r["seconds"] * 1000 for r in records if r["phase"] == phase]
        if ms:
            rows.append({"phase": phase, "requests": len(ms), "median ms": statistics.median(ms),
                         "min ms": min(ms), "max ms": max(ms)})
    return rows


def write_json(obj, path) -> Path:
    """Write ``obj`` as indented JSON (numpy scalars become numbers); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, default=_plain) + "\n")
    return path


def _plain(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


# -- the real server --------------------------------------------------------------------------
def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running ``imgstats serve`` process (see :func:`start_server`).

    Attributes
    ----------
    url : str
        ``http://127.0.0.1:<port>``.
    process : subprocess.Popen
    startup_seconds : float
        From spawning the process to the first ``/health`` answering 200.
    """

    url: str
    process: subprocess.Popen
    startup_seconds: float
    log: Path | None = None

    def stop(self, timeout: float = 10) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_server(
    images=None,
    *,
    port: int | None = None,
    workers: int = 1,
    timeout: float = 60,
    env: dict | None = None,
    log=None,
) -> Server:
    """Start the real service, ``python -m imgstats.cli serve``, and wait until it is healthy.

    Parameters
    ----------
    images : str or path, optional
        The image store (default: the bundled gallery).
    port : int, optional
        Default: a free port.
    workers : int
        gunicorn worker processes.
    timeout : float
        Seconds to wait for ``/health``.
    env : dict, optional
        Extra environment variables (e.g. ``IMGSTATS_REDIS_URL``).
    log : str or path, optional
        File for the server's output (default: discarded).

    Returns
    -------
    Server
        Use it as a context manager, or call :meth:`Server.stop`.

    Raises
    ------
    RuntimeError
        When the server exits or is not healthy within ``timeout``.
    """
    import requests

    port = free_port() if port is None else port
    cmd = [sys.executable, "-m", "imgstats.cli", "serve", "--port", str(port),
           "--workers", str(workers)]
    if images is not None:
        cmd += ["--images", str(images)]
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the process
    start = time.perf_counter()
    # A session of its own: a notebook kernel's interrupt (SIGINT to its process group, as
    # papermill sends on shutdown) must not reach the server; stop() and atexit end it.
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    if log:
        out.close()
    url = f"http://127.0.0.1:{port}"
    server = Server(url, proc, math.nan, Path(log) if log else None)
    atexit.register(server.stop)
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"imgstats serve exited with status {proc.returncode}")
        try:
            # a worker still booting (imports, numba) accepts the connection but answers late
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                server.startup_seconds = time.perf_counter() - start
                return server
        except requests.RequestException:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"imgstats serve was not healthy within {timeout} s")


def measure_latency(
    url: str, images: Sequence[str], funcs: Sequence[str] = ("median",), warm: int = 5,
    session=None,
) -> list[dict]:
    """Measure cold and warm latency of ``GET /stats/<image>/<func>``.

    The first request for an image is *cold* (the server decodes and summarizes it); the
    ``warm`` requests after it are answered from the server's summary cache, also for other
    statistics of the same image.

    Parameters
    ----------
    url : str
        The server, e.g. ``Server.url``.
    images : sequence of str
        Image names in the server's store.
    funcs : sequence of str
        Statistics asked for, in turn.
    warm : int
        Warm requests per image.
    session : requests.Session, optional

    Returns
    -------
    list of dict
        One record per request: ``image``, ``func``, ``phase`` ("cold" or "warm"),
        ``seconds``, ``status`` and ``value`` (the JSON answer).

    Raises
    ------
    RuntimeError
        On any answer but 200.
    """
    import requests

    session = session or requests.Session()
    out = []
    for image in images:
        for i in range(1 + warm):
            func = funcs[i % len(funcs)]
            start = time.perf_counter()
            resp = session.get(f"{url}/stats/{image}/{func}", timeout=120)
            seconds = time.perf_counter() - start
            if resp.status_code != 200:
                raise RuntimeError(f"GET /stats/{image}/{func}: {resp.status_code} {resp.text}")
            out.append({"image": image, "func": func, "phase": "cold" if i == 0 else "warm",
                        "seconds": seconds, "status": resp.status_code, "value": resp.json()})
    return out
