"""benchmarks.plots: every figure the notebooks draw, drawn headless."""

import numpy as np
import pytest

from benchmarks import harness as bench
from benchmarks import oracle

matplotlib = pytest.importorskip("matplotlib")


@pytest.fixture(autouse=True)
def agg():
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"backend": "Agg"}):
        plt.switch_backend("Agg")
        yield
        plt.close("all")


@pytest.fixture(scope="module")
def records():
    return bench.run_benchmark([1 / 256, 1 / 64], ["uint8", "float32"], [1 << 10], 1, memory=False)


def _lines(fig):
    return [line for ax in fig.axes for line in ax.get_lines()]


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "float32"])
def test_histogram_marks_the_percentiles(dtype):
    from benchmarks import plots as plot

    img = bench.synthetic_image((64, 64), dtype)
    fig = plot.histogram(img, None, ["p1", "median", "p99"])
    labels = fig.axes[0].get_legend_handles_labels()[1]
    ref = oracle.numpy_stats(img, ["p1", "median", "p99"])
    assert [lab.split(" = ")[0] for lab in labels] == ["p1", "median", "p99"]
    assert [line.get_xdata()[0] for line in _lines(fig)] == pytest.approx(list(ref.values()))


def test_bands_draws_the_picture_and_each_band_with_luma():
    from benchmarks import plots as plot

    rgb = np.stack([bench.synthetic_image((32, 48), "uint8", seed=s) for s in range(3)], -1)
    fig = plot.bands(rgb)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 5 and titles[-1] == "band luma"


def test_percentile_errors_marks_exact_and_nan():
    from benchmarks import plots as plot

    rows = [
        {"func": "p1", "imgstats error": 0.0, "dask error": 0.5},
        {"func": "p99", "imgstats error": 0.0, "dask error": float("nan")},
    ]
    fig = plot.percentile_errors(rows)
    assert [t.get_text() for t in fig.axes[0].texts] == ["NaN"]


def test_time_vs_size_is_log_log_per_dtype(records):
    from benchmarks import plots as plot

    fig = plot.time_vs_size(records, title="machine")
    assert [ax.get_title() for ax in fig.axes] == ["uint8", "float32"]
    assert all(ax.get_xscale() == ax.get_yscale() == "log" for ax in fig.axes)
    assert len(fig.axes[0].get_lines()) == len(bench.METHODS)


def test_error_vs_method(records):
    from benchmarks import plots as plot

    fig = plot.error_vs_method(records)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["numpy", "imgstats", "dask (chunked)", "imgstats (chunked)"]


def test_latency():
    from benchmarks import plots as plot

    recs = [
        {"image": "a.png", "phase": "cold", "seconds": 0.2},
        {"image": "a.png", "phase": "warm", "seconds": 0.002},
    ]
    fig = plot.latency(recs)
    assert fig.axes[0].get_yscale() == "log"
