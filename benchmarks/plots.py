"""matplotlib figures shared by the notebooks: histograms with percentile markers, per-band
pictures, benchmark time against size and error against method, service latency.

matplotlib comes with the ``notebooks`` extra and the ``bench`` dependency group, and is
imported inside each function, so importing this module never needs it. Every function returns
the matplotlib ``Figure`` it drew on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "histogram",
    "bands",
    "percentile_errors",
    "time_vs_size",
    "error_vs_method",
    "latency",
    "kernels",
]

_PERCENTILES = ("p1", "median", "p99")
#: Fixed colours per method label, so every figure of a report reads the same way.
_COLOURS = {
    "numpy": "tab:blue",
    "imgstats": "tab:green",
    "dask (chunked)": "tab:red",
    "imgstats (chunked)": "tab:olive",
    "dask": "tab:red",
    "cold": "tab:red",
    "warm": "tab:green",
}


def _axes(ax, **subplots):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(**subplots)
    return fig, ax


def _rebinned(values: np.ndarray, counts: np.ndarray, bins: int = 256):
    """Counts on ``bins`` equal-width bins, for types whose histogram bins are not equal."""
    values = values.astype(np.float64)
    finite = np.isfinite(values)
    values, counts = values[finite], counts[finite]
    if values.size <= bins:
        return values, counts, None
    hist, edges = np.histogram(values, bins=bins, weights=counts)
    return edges[:-1], hist, np.diff(edges)


def histogram(
    data, band=None, funcs: Sequence[str] = _PERCENTILES, *, ax=None, title=None, colour="tab:gray"
):
    """Plot an image's histogram with percentiles marked, all from one imgstats summary.

    Parameters
    ----------
    data : anything :func:`imgstats.summarize` takes, or a :class:`imgstats.Summary`
    band : None, int or str
        The selection (``None``: all samples; ``"R"``, ``0``, ``"luma"``...).
    funcs : sequence of str
        Statistics drawn as vertical lines with their values in the legend.
    ax : matplotlib.axes.Axes, optional
    title : str, optional
    colour : str
        Colour of the bars.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from imgstats import compute, summarize

    summary = summarize(data)
    values, counts = summary.histogram(band)
    fig, ax = _axes(ax, figsize=(6, 3))
    # float histograms have 2**7 bins per octave: fewer, equal bins avoid a comb of aliasing
    x, y, width = _rebinned(values, counts, 64 if values.dtype.kind == "f" else 256)
    if width is None:
        ax.bar(
            x,
            y,
            width=1.0 if values.dtype.kind in "ui" else 0.8 * np.min(np.diff(x), initial=1.0),
            color=colour,
            alpha=0.6,
            linewidth=0,
        )
    else:
        ax.bar(x, y, width=width, align="edge", color=colour, alpha=0.6, linewidth=0)
    tall = np.sort(y)[-3] if len(y) > 3 else 0
    if tall and y.max() > 4 * tall:  # one spike (e.g. clipped black) would flatten the rest
        ax.set_ylim(0, 1.3 * tall)
        ax.annotate(
            f"peak {int(y.max())} cut",
            (x[np.argmax(y)], 1.25 * tall),
            fontsize="x-small",
            ha="left",
            va="top",
        )
    stats = compute(summary if not summary.missing(list(funcs), band) else data, list(funcs), band)
    styles = ["--", "-", ":", "-.", (0, (1, 1))]
    for i, (name, value) in enumerate(stats.items()):
        ax.axvline(
            value,
            color="black",
            linestyle=styles[i % len(styles)],
            linewidth=1,
            label=f"{name} = {value:.6g}",
        )
    ax.set_xlabel("value")
    ax.set_ylabel("samples")
    ax.set_title(title or ("all bands" if band is None else f"band {band}"))
    # a fixed corner: "best" searches every bar of the histogram, over a second on a busy
    # machine, and matplotlib then warns (an error under the tests' filterwarnings)
    ax.legend(fontsize="small", loc="upper right", framealpha=0.8)
    return fig


def bands(data, funcs: Sequence[str] = _PERCENTILES, *, title=None):
    """The per-band picture: the image, then one histogram per band (and luma, for RGB).

    Parameters
    ----------
    data : anything :func:`imgstats.summarize` takes
    funcs : sequence of str
        Statistics marked on each histogram.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from imgstats import summarize

    from .harness import image_array

    arr, _ = image_array(data)
    summary = summarize(data)
    names = list(summary.band_names) + (["luma"] if summary.luma is not None else [])
    fig, axes = plt.subplots(1, 1 + len(names), figsize=(3.6 * (1 + len(names)), 3.2))
    picture = np.asarray(arr)
    if picture.dtype.kind == "f" or picture.dtype.itemsize > 1:
        lo, hi = np.nanmin(picture), np.nanmax(picture)
        picture = (picture.astype(np.float64) - lo) / ((hi - lo) or 1)
    axes[0].imshow(
        picture if picture.ndim == 2 or picture.shape[-1] in (3, 4) else picture[..., 0],
        cmap="gray",
    )
    axes[0].set_axis_off()
    axes[0].set_title(title or f"{arr.shape} {arr.dtype}")
    colours = {"R": "tab:red", "G": "tab:green", "B": "tab:blue"}
    for ax, name in zip(axes[1:], names, strict=True):
        band = name if name in ("luma", *summary.band_names) else None
        histogram(
            summary if arr.dtype.itemsize <= 2 else data,
            band,
            funcs,
            ax=ax,
            colour=colours.get(name, "tab:gray"),
            title=f"band {name}",
        )
    fig.tight_layout()
    return fig


def percentile_errors(rows: Sequence[dict], *, ax=None, title=None):
    """Bar chart of each method's absolute error per percentile (from
    :func:`benchmarks.harness.percentile_comparison`). Zero errors are drawn as a marker at 0.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax, figsize=(7, 3))
    methods = [k[: -len(" error")] for k in rows[0] if k.endswith(" error")]
    x = np.arange(len(rows))
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        err = np.array([r[f"{method} error"] for r in rows], dtype=float)
        pos = x + (i - (len(methods) - 1) / 2) * width
        ax.bar(pos, err, width=width, label=method, color=_COLOURS.get(method))
        ax.plot(pos[err == 0], err[err == 0], "o", color=_COLOURS.get(method), markersize=4)
        for p in pos[np.isnan(err)]:  # e.g. dask.array.percentile on an image with NaN
            ax.annotate(
                "NaN",
                (p, 0),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                fontsize="x-small",
                color=_COLOURS.get(method),
            )
    ax.set_xticks(x, [r["func"] for r in rows])
    ax.set_yscale("symlog", linthresh=1e-6)
    ax.set_ylabel("|value - numpy|")
    ax.set_title(title or "absolute error against numpy (0 = exact)")
    ax.legend(fontsize="small")
    return fig


def time_vs_size(records: Sequence[dict], *, title=None):
    """Log-log time against image size, one panel per dtype, one line per method.

    Parameters
    ----------
    records : sequence of dict
        From :func:`benchmarks.harness.run_benchmark` (best time of each chunking is drawn).
    title : str, optional
        Figure title, e.g. naming the machine.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

    dtypes = list(dict.fromkeys(r["dtype"] for r in records))
    labels = list(dict.fromkeys(r["label"] for r in records))
    fig, axes = plt.subplots(
        1, len(dtypes), figsize=(4.2 * len(dtypes), 3.6), sharey=True, squeeze=False
    )
    for ax, dtype in zip(axes[0], dtypes, strict=True):
        for label in labels:
            best: dict[float, float] = {}
            for r in records:
                if r["dtype"] == dtype and r["label"] == label:
                    mp = r["megapixels"]
                    best[mp] = min(best.get(mp, np.inf), r["seconds"])
            if best:
                mps = sorted(best)
                ax.plot(mps, [best[m] for m in mps], "o-", label=label, color=_COLOURS.get(label))
        ax.set_xscale("log")
        ax.set_yscale("log")
        sizes = sorted({r["megapixels"] for r in records if r["dtype"] == dtype})
        ax.set_xticks(sizes, [f"{m:g}" for m in sizes])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("megapixels")
        ax.set_title(dtype)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("seconds (best of repeats)")
    axes[0][-1].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def error_vs_method(records: Sequence[dict], *, ax=None, title=None):
    """Absolute error against numpy per method, every run a dot (symlog: 0 is exact).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax, figsize=(6, 3.4))
    labels = list(dict.fromkeys(r["label"] for r in records))
    dtypes = list(dict.fromkeys(r["dtype"] for r in records))
    markers = "osD^v"
    for j, dtype in enumerate(dtypes):
        xs, ys = [], []
        for i, label in enumerate(labels):
            for r in records:
                if r["label"] == label and r["dtype"] == dtype:
                    xs.append(i + (j - (len(dtypes) - 1) / 2) * 0.15)
                    ys.append(r["abs_error"])
        ax.plot(xs, ys, markers[j % len(markers)], label=dtype, alpha=0.8)
    ax.set_xticks(range(len(labels)), labels, rotation=15)
    ax.set_yscale("symlog", linthresh=1e-6)
    top = max((r["abs_error"] for r in records if r["abs_error"] == r["abs_error"]), default=0)
    ax.set_ylim(-5e-7, max(10 * top, 1e-3))  # errors are never negative: no mirror half
    ax.set_ylabel("max |statistic - numpy|")
    ax.set_title(title or "error of min, max, median, percentiles (0 = exact)")
    ax.legend(fontsize="small", title="dtype")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def latency(records: Sequence[dict], *, ax=None, title=None):
    """Cold and warm request latency of the service, per image (log scale).

    Parameters
    ----------
    records : sequence of dict
        From :func:`benchmarks.servers.measure_latency`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax, figsize=(8, 3.4))
    images = list(dict.fromkeys(r["image"] for r in records))
    for phase, offset in (("cold", -0.15), ("warm", 0.15)):
        xs = [images.index(r["image"]) + offset for r in records if r["phase"] == phase]
        ys = [r["seconds"] * 1000 for r in records if r["phase"] == phase]
        ax.plot(xs, ys, "o", label=phase, color=_COLOURS[phase], alpha=0.7)
    ax.set_xticks(range(len(images)), images, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("milliseconds")
    ax.set_title(title or "GET /stats/<image>/<func> latency")
    ax.legend(fontsize="small")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def kernels(rows: Sequence[dict], *, title=None):
    """Time as a multiple of ``a.sum()`` (the memory floor) per row of the kernels benchmark.

    One panel per function (median, p99, six), one group of bars per type and image, a bar per
    method and number of cores; a line at 1 (the floor). Log scale.

    Parameters
    ----------
    rows : sequence of dict
        From :func:`benchmarks.bench_kernels.run` (times in seconds; ``imgstats_before`` when
        a revision was compared).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    funcs = list(dict.fromkeys(r["func"] for r in rows))
    groups = list(dict.fromkeys((r["type"], r["image"]) for r in rows))
    cores = list(dict.fromkeys(r["cores"] for r in rows))
    methods = [("partition", "np.partition", "tab:blue")]
    if any("imgstats_before" in r for r in rows):
        methods.append(("imgstats_before", "imgstats before", "tab:olive"))
    methods.append(("imgstats", "imgstats", "tab:green"))
    bars = [(m, c) for m in methods for c in cores]
    width = 0.8 / len(bars)
    fig, axes = plt.subplots(
        len(funcs), 1, figsize=(max(8, 0.9 * len(groups)), 2.8 * len(funcs)), squeeze=False
    )
    for ax, func in zip(axes[:, 0], funcs, strict=True):
        by = {(r["type"], r["image"], r["cores"]): r for r in rows if r["func"] == func}
        for i, ((key, label, colour), ncores) in enumerate(bars):
            xs, ys = [], []
            for g, (dtype, image) in enumerate(groups):
                r = by.get((dtype, image, ncores))
                if r is not None and key in r:
                    xs.append(g + (i - (len(bars) - 1) / 2) * width)
                    ys.append(r[key] / r["sum"])
            alpha = 1.0 if ncores == cores[0] else 0.55
            ax.bar(xs, ys, width, color=colour, alpha=alpha, label=f"{label}, {ncores}")
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(groups)), [f"{t}\n{i}" for t, i in groups], fontsize="small")
        ax.set_ylabel("time ÷ a.sum()")
        ax.set_title(func)
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[0, 0].legend(fontsize="x-small", ncol=len(methods))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
