"""The benchmark harness: what the benchmarks, the notebooks and ``invoke`` share.

Test images (synthetic photographs, the gallery, a decompression bomb's header), the methods
compared (numpy, ``dask.array.percentile``, imgstats in memory and on chunked dask arrays),
timing side by side and in fresh interpreters, peak memory, the benchmark grid, its tables
with their ``exact`` column, and the reports. Servers are in :mod:`benchmarks.servers`,
numpy's answers in :mod:`benchmarks.oracle`, figures in :mod:`benchmarks.plots`.

*Exact* means bit-for-bit equal to numpy on every order statistic (``min``, ``max``,
``median``, ``pXXX``: numpy's ``linear`` percentile). The mean is reported apart
(``mean_error``): numpy's float64 pairwise sum itself rounds, while imgstats rounds the exact
sum once, so the two may differ in the last bit on float images with neither being wrong.

Only imgstats' public API is used here: this folder is not part of the package.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import platform
import statistics
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .oracle import _percentiles, errors_against, numpy_stats

__all__ = [
    "DEFAULT_FUNCS",
    "METHODS",
    "Timing",
    "synthetic_image",
    "gallery_images",
    "png_declaring",
    "image_array",
    "shape_for",
    "numpy_stats",
    "dask_stats",
    "imgstats_stats",
    "compare_to_numpy",
    "percentile_comparison",
    "errors_against",
    "timed",
    "best_pair",
    "fresh_process",
    "peak_rss",
    "peak_memory",
    "available_memory",
    "largest_size",
    "machine_info",
    "run_benchmark",
    "print_record",
    "summary_table",
    "exactness_table",
    "to_markdown",
    "table",
    "ms",
    "verdict",
    "machine_name",
    "write_benchmark_report",
    "write_json",
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
        base = (
            0.15
            + 0.5 * (x + 1.0) / 2.0 * vignette
            + 0.25 * np.exp(-((x - 0.3) ** 2 + (y + 0.2) ** 2) / 0.05)
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

    from imgstats.data import gallery_path

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

    from imgstats.data import gallery_path

    folder = gallery_path() if folder is None else Path(folder)
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]

    def natural(p: Path):
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]

    return sorted(files, key=natural)


def png_declaring(width: int, height: int, *, bit_depth: int = 8, colour_type: int = 0) -> bytes:
    """A tiny, hand-made PNG whose IHDR declares ``width`` x ``height`` pixels.

    Its only IDAT holds a few zero rows, so it is a few dozen bytes however large it claims
    to be: a decompression bomb's header without the bomb (``colour_type`` 2 is RGB, 0 grey).

    Examples
    --------
    >>> len(png_declaring(40_000, 40_000)) < 100
    True
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def image_array(data) -> tuple[np.ndarray, list[str]]:
    """An image as numpy sees it, ``(y, x[, band])``, with its band names.

    Paths are opened with :func:`imgstats.open_image`; DataArrays have their ``band`` dim
    moved last; a plain 3-D array's last axis is its bands, as for imgstats.
    """
    import imgstats

    if isinstance(data, (str, os.PathLike)):
        data = imgstats.open_image(data)
    if hasattr(data, "dims") and hasattr(data, "coords"):  # an xarray DataArray
        if "band" in data.dims:
            data = data.transpose(*[d for d in data.dims if d != "band"], "band")
            return np.asarray(data), [str(b) for b in data.coords["band"].values]
        return np.asarray(data), [str(data.attrs.get("band", "0"))]
    arr = np.asarray(data)
    return arr, [str(i) for i in range(arr.shape[-1])] if arr.ndim == 3 else ["0"]


# -- the methods ------------------------------------------------------------------------------
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
    pcts, qs = _percentiles(funcs)
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
    import imgstats

    return imgstats.compute(data, list(funcs))


_RUNNERS: dict[str, Callable] = {
    "numpy": numpy_stats,
    "dask": dask_stats,
    "imgstats": imgstats_stats,
}


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
    import imgstats

    arr, names = image_array(data)
    values = imgstats.compute(data, list(funcs), band)
    if band is not None:
        index = band if isinstance(band, int) else names.index(band)
        arr = arr[..., index]
    ref = numpy_stats(arr, funcs)
    errs = errors_against(values, ref)
    return [
        {
            "func": f,
            "imgstats": values[f],
            "numpy": ref[f],
            "abs_error": errs[f],
            "equal": values[f] == ref[f],
        }
        for f in funcs
    ]


def percentile_comparison(
    arr,
    chunks,
    funcs: Sequence[str] = ("p1", "p5", "p25", "median", "p75", "p95", "p99"),
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
        {
            "func": f,
            "numpy": ref[f],
            "imgstats": got["imgstats"][f],
            "dask": got["dask"][f],
            "imgstats error": errs["imgstats"][f],
            "dask error": errs["dask"][f],
        }
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


def best_pair(
    reference: Callable[[], object], ours: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Best wall times of two functions called in turn, after one untimed call of each.

    Alternating makes both sides see the same noise of a busy machine: the ratio of the two
    is the figure to read, not either time alone.
    """
    reference()
    ours()
    best = [math.inf, math.inf]
    for _ in range(repeat):
        for i, fn in enumerate((reference, ours)):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best[0], best[1]


def peak_rss() -> int:
    """This process's peak resident memory in bytes.

    ``VmHWM`` of ``/proc/self/status`` where there is one: ``getrusage().ru_maxrss`` of a child
    starts at its parent's resident size when it forked (Linux keeps the larger of the two
    across ``exec``), so a benchmark parent holding a big image would inflate it.
    """
    import resource

    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fresh_process(code: str, env: dict | None = None) -> dict:
    """Run ``code`` in a new interpreter and return the JSON it prints last.

    ``json``, ``sys`` and :func:`peak_rss` are defined for it. ``env`` is its whole
    environment (default: this process's).
    """
    prelude = "import json, resource, sys\n" + textwrap.dedent(inspect.getsource(peak_rss))
    out = subprocess.run(
        [sys.executable, "-c", prelude + "\n" + textwrap.dedent(code)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


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

    import imgstats

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
        "imgstats": imgstats.__version__,
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
                    rec = _measure(method, layout, data, arr, cp, funcs, reference, repeats, memory)
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
    print(
        f"{rec['label']:>20} {rec['dtype']:>8} {rec['megapixels']:>7g} MP "
        f"{rec['seconds']:9.4f} s  error {rec['abs_error']:.3g}",
        flush=True,
    )


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
        r["dtype"]: r["seconds"]
        for r in records
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
            rows.append(
                {
                    "method": label,
                    "dtype": dtype,
                    "megapixels": megapixels,
                    "seconds": _sig(best["seconds"], 3),
                    "time / numpy": _sig(best["seconds"] / ref, 2) if ref else None,
                    "peak MB": None if peak is None else _sig(peak / _MB, 2),
                    "max abs error": _sig(max(r["abs_error"] for r in mine), 3),
                    "exact": all(r["exact"] for r in mine),
                }
            )
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
        rows.append(
            {
                "method": label,
                "runs": len(mine),
                "exact": all(r["exact"] for r in mine),
                "max abs error": _sig(max(r["abs_error"] for r in mine), 3),
                "max mean error": _sig(max((r["mean_error"] or 0.0) for r in mine), 3),
            }
        )
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


def table(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A markdown table from a header and rows of cells (printed as they are)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def ms(seconds: float) -> str:
    """``12.3 ms`` under 10 s, ``12.34 s`` above."""
    return f"{seconds * 1e3:,.1f} ms" if seconds < 10 else f"{seconds:,.2f} s"


def verdict(ok: bool) -> str:
    """``PASS`` or ``MISS``, the last column of a benchmark table."""
    return "PASS" if ok else "MISS"


def machine_name(info: dict | None = None) -> str:
    """One line naming the machine, e.g. ``"AMD EPYC, 2 cores, 22.6 GB free, Linux x86_64"``."""
    info = machine_info() if info is None else info
    return (
        f"{info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB free, "
        f"{info['system']}, Python {info['python']}, numpy {info['numpy']}, "
        f"dask {info['dask']}"
    )


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
