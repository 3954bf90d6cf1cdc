"""The counting kernels on the values that break radix selections (issue 20).

Ties and long runs of one value, subnormals, both zeros, both infinities and images that are
mostly NaN, over every type, as numpy arrays, as dask arrays with uneven chunks (the band axis
too) and as two summaries merged and refined. The arrays are long enough to cross the
kernels' blocks (:data:`imgstats._kernels._SKIP_BLOCK` pixels in a refinement, several bands
interleaved) at uneven offsets. numpy is the oracle (``oracle.py``).
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imgstats
from imgstats import NoValidSamples
from imgstats._kernels import _SKIP_BLOCK

from .oracle import ALL_DTYPES, FLOAT_DTYPES, check_all, valid_samples
from .test_exact import uneven_chunks

CORE = settings.get_profile("imgstats-core")
FUNCS = ["min", "max", "mean", "median", "p0", "p100", "p1", "p99", "p99.9", "p37.5"]


def edge_values(dtype) -> list:
    """The values where key transforms and bins go wrong: signs, zeros, subnormals, limits."""
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        info = np.iinfo(dt)
        bits = dt.itemsize * 8
        raw = [info.min, info.min + 1, info.max, info.max - 1, 0, 1, -1, 2, 255, 256, -256]
        top = 1 << max(bits - 16, 1)  # the first key of the second top-16-bit bin
        raw += [top - 1, top, -top, info.max >> 1]
        return sorted({v for v in raw if info.min <= v <= info.max})
    fi = np.finfo(dt)
    sub = float(fi.smallest_subnormal)
    raw = [0.0, -0.0, sub, -sub, 2 * sub, 3 * sub, float(fi.tiny) - sub, -float(fi.tiny) + sub]
    raw += [float(fi.tiny), -float(fi.tiny), 1.0, -1.0, 1 + float(fi.eps), 1 - float(fi.epsneg)]
    raw += [float(fi.max), -float(fi.max), np.inf, -np.inf, np.nan, 2.0**-20, -(2.0**-20)]
    return [dt.type(v).item() for v in raw]


@st.composite
def runs_image(draw, dtype):
    """An image made of runs of equal values (ties), NaN-heavy for floats, with 1-4 bands."""
    dt = np.dtype(dtype)
    pool = edge_values(dt)
    nruns = draw(st.integers(1, 12))
    values = draw(st.lists(st.sampled_from(pool), min_size=nruns, max_size=nruns))
    lengths = draw(st.lists(st.integers(1, 3 * _SKIP_BLOCK), min_size=nruns, max_size=nruns))
    flat = np.repeat(np.array(values, dtype=dt), lengths)
    if dt.kind == "f" and draw(st.booleans()):  # NaN-heavy: most samples missing
        share = draw(st.sampled_from([0.5, 0.9, 0.99, 1.0]))
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        flat[rng.random(flat.size) < share] = np.nan
    bands = draw(st.integers(1, 4))
    width = draw(st.integers(1, 40))
    npix = -(-flat.size // bands)
    flat = np.resize(flat, npix * bands)  # repeats the start: more ties
    rows = -(-npix // width)
    flat = np.resize(flat, rows * width * bands)
    shape = (rows, width, bands) if bands > 1 else (rows, width)
    return flat.reshape(shape)


def _or_none(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except NoValidSamples:
        return None


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@CORE
@given(data=st.data())
def test_runs_of_edge_values_equal_numpy_on_every_chunking(dtype, data):
    arr = data.draw(runs_image(dtype), label="arr")
    chunks = data.draw(uneven_chunks(arr.shape), label="chunks")
    valid = valid_samples(arr)
    from_numpy = _or_none(imgstats.compute, arr, FUNCS)
    from_dask = _or_none(imgstats.compute, da.from_array(arr, chunks=chunks), FUNCS)
    split = data.draw(st.integers(0, arr.shape[0]), label="split")
    halves = imgstats.summarize(arr[:split]) + imgstats.summarize(arr[split:])
    if valid.size == 0:
        assert from_numpy is None and from_dask is None
        return
    check_all(from_numpy, arr, FUNCS)
    check_all(from_dask, arr, FUNCS)
    check_all(imgstats.refine(halves, arr, FUNCS).compute(FUNCS), arr, FUNCS)
    if arr.ndim == 3:  # one band of an interleaved block
        band = data.draw(st.integers(0, arr.shape[2] - 1), label="band")
        got = _or_none(imgstats.compute, arr, FUNCS, band=band)
        if valid_samples(arr[..., band]).size:
            check_all(got, arr[..., band], FUNCS)
        else:
            assert got is None


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("nan_share", [0.0, 0.01, 0.97])
def test_large_heavy_tailed_floats_equal_numpy(dtype, nan_share):
    """Big enough (2**19 samples) for the float32 predicted bins and many skipped blocks."""
    rng = np.random.default_rng(7)
    arr = rng.standard_t(2, (512, 1024)).astype(dtype)
    arr[:, 5:40] = 0.0  # a run of ties
    arr[3, :] = -0.0
    arr[7, :10] = [np.inf, -np.inf, np.inf, 1e-40, -1e-40, 5e-324, -5e-324, 0, -0.0, 1]
    arr[rng.random(arr.shape) < nan_share] = np.nan
    for source in (arr, da.from_array(arr, chunks=(100, 333))):
        check_all(imgstats.compute(source, FUNCS), arr, FUNCS)
    rgb = arr.reshape(512, -1, 4)
    check_all(imgstats.compute(rgb, FUNCS, band=2), rgb[..., 2], FUNCS)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_one_value_everywhere(dtype):
    """Every order statistic in a bin that holds a single value (one run, no refinement)."""
    value = edge_values(dtype)[3]
    arr = np.full((301, 257), value, dtype=dtype)
    got = imgstats.compute(arr, FUNCS)
    check_all(got, arr, FUNCS)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_exact_mean_where_the_low_bits_of_a_bin_wrap(dtype):
    """2**17 keys whose low bits are all ones sum past 2**64 in one bin (float64's carries)."""
    t = np.dtype(dtype).type
    arr = np.concatenate([np.full(1 << 17, np.nextafter(t(2), t(0))), np.full(1 << 17, t(-1))])
    arr[::7] = np.nextafter(t(-4), t(0))
    for source in (arr, da.from_array(arr, chunks=70001)):
        check_all(imgstats.compute(source, ["mean", "median", "p1"]), arr, ["mean", "median", "p1"])


# -- float64 bins predicted from a sample, their keys collected in the summarizing pass ---------
def _predicted(kind: str, rng) -> np.ndarray:
    """float64 images where a prediction of the wanted bins holds, fails or overflows."""
    if kind == "nan-inf":
        arr = rng.normal(0, 1, (80, 70))
        arr[::3, ::5] = np.nan
        arr[1, :6] = [np.inf, -np.inf, np.inf, -0.0, 5e-324, -5e-324]
        return arr
    if kind == "ties":
        return rng.integers(-3, 4, (90, 60)).astype(np.float64)
    if kind == "narrow":
        return rng.normal(100, 20, (90, 80))
    if kind == "one-bin":  # every key in one top-16-bit bin: over the share a prediction holds
        base = np.float64(1.5).view(np.uint64) & np.uint64(0xFFFF << 48)
        return (base + rng.integers(0, 1 << 40, (600, 500)).astype(np.uint64)).view(np.float64)
    if kind == "misleading":  # the strided sample sees only zeros
        arr = rng.uniform(1e5, 1e6, (64, 64))
        arr.reshape(-1)[::8] = 0
        return arr
    if kind == "nan-heavy":
        arr = rng.standard_t(2, (90, 80))
        arr[rng.random(arr.shape) < 0.97] = np.nan
        return arr
    return rng.lognormal(0, 3, (70, 90))  # "spread": wide windows, nothing predicted


@pytest.fixture
def predict_everything(monkeypatch):
    """Predict the wanted bins of small arrays too, from a small sample; count the passes."""
    import imgstats._range_select
    import imgstats.io._plan
    import imgstats.reduce

    monkeypatch.setattr(imgstats.reduce, "_PREDICT_SAMPLES", 1)
    monkeypatch.setattr(imgstats.reduce, "_SAMPLE", 512)
    # the summary's prediction is under test: no array takes the range select (a float
    # mean, a large array's, now would)
    monkeypatch.setattr(imgstats._range_select, "MIN_SAMPLES", 1 << 62)
    calls: list[int] = []
    original = imgstats.io._plan.ReadPlan.map_reduce

    def counted(self, work, merge, **kwargs):
        calls.append(1)
        return original(self, work, merge, **kwargs)

    monkeypatch.setattr(imgstats.io._plan.ReadPlan, "map_reduce", counted)
    return calls


@pytest.mark.parametrize("dense", [0.0, 2.0], ids=["without-branch", "with-branch"])
@pytest.mark.parametrize(
    "kind", ["nan-inf", "ties", "narrow", "one-bin", "misleading", "nan-heavy", "spread"]
)
def test_float64_predictions_right_or_wrong_give_numpys_answer(
    predict_everything, monkeypatch, kind, dense
):
    import imgstats._blocks

    monkeypatch.setattr(imgstats._blocks, "DENSE_SHARE", dense)
    arr = _predicted(kind, np.random.default_rng(21))
    funcs = [*FUNCS, "p0.1", "p50.5"]
    check_all(imgstats.compute(arr, funcs), arr, funcs)
    assert 1 <= len(predict_everything) <= 2
    if kind == "narrow" and dense:  # central ranks of a narrow distribution: the prediction
        # holds and, its keys collected, answers in one pass (counted, a second pass follows)
        predict_everything.clear()
        central = ["median", "p37.5", "p50.5"]
        check_all(imgstats.compute(arr, central), arr, central)
        assert len(predict_everything) == 1
    if kind == "one-bin":
        assert len(predict_everything) == 2


@pytest.mark.parametrize("dense", [0.0, 2.0], ids=["counted", "collected"])
def test_float64_prediction_looks_at_every_key_of_its_bins(monkeypatch, dense):
    """The predicted bins' keys, collected whole and sorted, or the next 16 bits counted."""
    import imgstats._blocks
    from imgstats._blocks import summarize_block

    monkeypatch.setattr(imgstats._blocks, "DENSE_SHARE", dense)
    rng = np.random.default_rng(22)
    arr = rng.normal(3, 1, (400, 1))
    arr[::11] = np.nan
    keys = np.sort(imgstats.summary.float_keys(arr[~np.isnan(arr)].view(np.uint64)))
    bins = (int(keys[keys.size // 2]) >> 48, int(keys[-1]) >> 48, 0x7FF0)  # 0x7FF0: empty
    summary = summarize_block(arr, ("0",), False, candidates=(("all", bins),))
    for j in bins:
        kind, got = summary.refined[("all", 48, j)]
        mine = keys[(keys >> np.uint64(48)) == j]
        if dense:
            assert kind == "keys" and np.array_equal(got, mine)
        else:
            want = np.bincount((mine >> np.uint64(32)).astype(np.int64) & 0xFFFF, minlength=1 << 16)
            assert kind == "hist" and np.array_equal(got, want)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@CORE
@given(data=st.data())
def test_predicted_bins_on_runs_of_edge_values_equal_numpy(dtype, data):
    """Ties, ±0, ±inf, subnormals and NaN-heavy images through the predicted-bin path."""
    import imgstats.reduce

    arr = data.draw(runs_image(dtype), label="arr")
    if arr.ndim == 3 and np.dtype(dtype) == np.float64:
        arr = arr[..., 0]  # float64 predicts for one band
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(imgstats.reduce, "_PREDICT_SAMPLES", 1)
        mp.setattr(imgstats.reduce, "_SAMPLE", data.draw(st.sampled_from([16, 512]), label="n"))
        got = _or_none(imgstats.compute, arr, FUNCS)
    if valid_samples(arr).size == 0:
        assert got is None
    else:
        check_all(got, arr, FUNCS)
