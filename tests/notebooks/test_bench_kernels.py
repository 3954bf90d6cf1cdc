"""benchmarks.bench_kernels: its inputs, its numpy references, its table and its figure."""

import numpy as np
import pytest

from benchmarks import bench_kernels as bk

matplotlib = pytest.importorskip("matplotlib")


@pytest.fixture(autouse=True)
def agg():
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"backend": "Agg"}):
        plt.switch_backend("Agg")
        yield
        plt.close("all")


@pytest.mark.parametrize("dtype", bk.TYPES)
def test_inputs_have_the_type_the_shape_and_the_promised_content(dtype):
    shape = bk.shape_of(0.03)
    assert shape == (150, 200)
    rand, real = bk.synthetic(dtype, shape), bk.real(dtype, shape)
    assert rand.dtype == real.dtype == np.dtype(dtype) and rand.shape == real.shape == shape
    if rand.dtype.kind == "f":
        assert 0.002 < np.isnan(rand).mean() < 0.03  # about 1% NaN
        assert np.nanmax(np.abs(rand)) > 20 * np.nanpercentile(np.abs(rand), 75)  # heavy tails
    else:  # half clustered: the middle half of the values spans a sliver of the range
        info = np.iinfo(rand.dtype)
        p25, p50 = np.percentile(rand, [25, 50])
        assert (p50 - p25) < 0.05 * (float(info.max) - float(info.min))
    assert np.unique(real).size > 100  # a picture, not a constant


@pytest.mark.parametrize("funcs", list(bk.FUNCS.values()))
def test_partition_reference_gives_numpys_answer(funcs):
    arr = bk.synthetic("float64", (40, 50))
    flat = arr.reshape(-1)
    valid = flat[~np.isnan(flat)]
    got = bk._partition(flat, valid.size, funcs)()
    if "mean" in funcs:
        assert got[0] == valid.min() and got[1] == valid.max()
        assert np.isclose(got[2], valid.mean())
    else:
        q = bk._qs(funcs)[0]
        rank = bk._ranks(valid.size, q)[0]
        assert got == np.sort(valid)[rank]


def test_measure_checks_and_times_every_row_and_the_table_and_plot_show_them():
    from benchmarks import plots

    rows = bk.measure(0.01, 1, types=["uint16", "float32"])
    assert len(rows) == 2 * 2 * len(bk.FUNCS)
    for row in rows:
        assert all(row[k] > 0 for k in ("sum", "partition", "percentile", "imgstats"))
        row["cores"] = "1 core"
        row["imgstats_before"] = row["imgstats"] * 2
    text = bk.table(rows, "main")
    assert text.count("\n") == len(rows) + 1 and "imgstats (main)" in text
    fig = plots.kernels(rows, title="t")
    assert [ax.get_title() for ax in fig.axes] == list(bk.FUNCS)
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    assert len(fig.axes[0].patches) == 3 * 4  # 3 methods x (2 types x 2 images)


def test_scaling_divides_each_rows_one_core_time_by_its_every_core_time():
    rows = []
    for cores, t in (("1 core", 9.0), ("2 cores", 5.0)):
        for func in ("median", "p99"):
            rows.append({"type": "float32", "image": "random", "func": func, "cores": cores})
            rows[-1]["imgstats"] = (
                t * (2 if func == "p99" else 1) * (1.5 if cores != "1 core" else 1)
            )
    text = bk.scaling(rows)
    assert text.count("\n") == 1 + 2
    assert "| float32 | random | median | 2 cores | 1.20× |" in text
    assert "| float32 | random | p99 | 2 cores | 1.20× |" in text
    for r in rows:  # timed call after call too: a second ratio per row
        r["imgstats_hot"] = r["imgstats"] / (2.0 if r["cores"] == "1 core" else 3.0)
    text = bk.scaling(rows)
    assert "call after call" in text
    assert "| float32 | random | median | 2 cores | 1.20× | 1.80× |" in text
    # against the time two threads take only to read the array (a.sum of its halves)
    text = bk.scaling(rows, {"float32": 2.5})
    assert "two-thread `a.sum()`" in text
    assert "| float32 | random | median | 2 cores | 1.20× | 1.80× | 3.00× |" in text
    assert "| float32 | random | p99 | 2 cores | 1.20× | 1.80× | 6.00× |" in text


def test_rounds_keep_each_time_at_its_best_over_the_rounds(monkeypatch):
    """With rounds, every child runs again in turn and each row keeps, time by time, the
    best of its rounds: a moment's load on one child does not make one side of a ratio."""
    calls = []
    load = {0: 1.0, 1: 3.0, 2: 2.0}  # the machine's load in each round

    def child(megapixels, repeat, one_core, package, reference, types):
        n = len(calls) // 2  # one child per configuration per round (no revision before)
        calls.append(one_core)
        base = 4.0 if one_core else 2.0
        t = base * load[n] if one_core else base * load[2 - n]
        return [{"type": "float32", "image": "random", "func": "median", "sum": t, "imgstats": t}]

    monkeypatch.setattr(bk, "_child", child)
    monkeypatch.setattr(bk.os, "sched_getaffinity", lambda pid: {0, 1})
    rows = bk.run(0.01, 1, None, ["float32"], rounds=3)
    assert calls == [True, False] * 3  # one core, every core, round after round
    assert [(r["cores"], r["imgstats"]) for r in rows] == [("1 core", 4.0), ("2 cores", 2.0)]


def test_the_core_bound_control_counts_as_numpy_does():
    # the control must do the scan's work, not work the compiler could drop: its counts are
    # numpy's on the same keys
    import numpy as np

    busy = bk._busy_kernel()
    bits = np.random.default_rng(1).standard_normal(4096).astype(np.float32).view(np.uint32)
    lo, hi = np.uint32(0x80000000), np.uint32(0xBF800000)
    keys = np.where(bits >> 31, bits ^ np.uint32(0xFFFFFFFF), bits ^ np.uint32(0x80000000))
    kmin, kmax, below, inside = busy(bits, 2, lo, hi)
    assert (kmin, kmax) == (keys.min(), keys.max())
    assert below == 2 * int((keys < lo).sum())
    assert inside == 2 * int(((keys >= lo) & (keys < hi)).sum())
    times = bk.ceiling(repeat=1)
    assert set(times) == {"one", "two"} and min(times.values()) > 0
