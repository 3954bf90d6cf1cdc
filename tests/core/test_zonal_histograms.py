"""The histogram path of label zones of 8-bit samples: one pass, no keys written.

numpy is the oracle (``test_zonal.check``). Each test also checks which path answered, so
that a change to the path's conditions cannot silently leave it untested: ``taken`` records
every call of :func:`imgstats.grouped.label_statistics` and whether it answered.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import imgstats
from imgstats import _jit, grouped, zones
from imgstats.functions import with_method

from .test_grouped import _cover, label_layouts
from .test_zonal import check, check_without, image_of, label_masks

CORE = settings.get_profile("imgstats-core")
FUNCS = ["min", "max", "mean", "median", "p1", "p50", "p99", "p100"]
SMALL = [np.uint8, np.int8]


@pytest.fixture
def taken(monkeypatch):
    """The answers of ``label_statistics`` (None: the keys' path took over), with the
    path opened to small images (any number of bins per sample)."""
    monkeypatch.setattr(grouped, "_BINS_PER_SAMPLE", 1 << 40)
    return _spy(monkeypatch)


def _spy(monkeypatch) -> list:
    """Record, per call of ``label_statistics``, whether the histogram path answered."""
    calls: list = []
    real = grouped.label_statistics

    def spy(*args, **kwargs):
        got = real(*args, **kwargs)
        calls.append(got is not None)
        return got

    monkeypatch.setattr(zones, "label_statistics", spy)
    return calls


def _nodata(img, rng):
    """A value of the image planted in about a fifth of its pixels, to be its nodata."""
    nd = img.flat[0]
    img[rng.random(img.shape[:2]) < 0.2] = nd
    return nd


@settings(CORE)
@given(
    data=st.data(),
    dtype=st.sampled_from(SMALL),
    shape=st.tuples(st.integers(1, 20), st.integers(1, 20)),
    background=st.sampled_from([0, None, 9, -5]),
    with_nodata=st.booleans(),
)
def test_property_layouts_nodata_chunkings(data, dtype, shape, background, with_nodata):
    """Any label layout (one zone, tiny zones, blobs, offset ids, labels absent), with or
    without nodata, equals numpy, and equals the dask path on uneven chunks."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(grouped, "_BINS_PER_SAMPLE", 1 << 40)
        img = data.draw(hnp.arrays(dtype, shape))
        labels = data.draw(label_layouts(shape))
        nodata = img.flat[0].item() if with_nodata else None
        kw = {} if nodata is None else {"nodata": nodata}
        frame = imgstats.zonal(img, labels, FUNCS, background=background, **kw)
        masks = label_masks(labels, background)
        if nodata is None:
            check(frame, img, masks, FUNCS)
        else:
            check_without(frame, img, masks, nodata, FUNCS)
        cy = data.draw(st.lists(st.integers(1, shape[0]), min_size=1, max_size=4))
        cx = data.draw(st.lists(st.integers(1, shape[1]), min_size=1, max_size=4))
        lazy = da.from_array(img, chunks=(_cover(cy, shape[0]), _cover(cx, shape[1])))
        other = imgstats.zonal(lazy, labels, FUNCS, background=background, **kw)
        assert frame.equals(other)


@pytest.mark.parametrize("dtype", SMALL)
@pytest.mark.parametrize("nb", [1, 3])
def test_path_taken_equals_numpy_and_the_keys_path(dtype, nb, taken, monkeypatch):
    rng = np.random.default_rng(11)
    shape = (90, 70) + ((nb,) if nb > 1 else ())
    img = image_of(rng, dtype, shape)
    labels = np.repeat(rng.integers(-3, 30, (90, 7)), 10, axis=1)  # runs of 10
    labels[7] = 4  # one long run
    frame = imgstats.zonal(img, labels, FUNCS)
    assert taken == [True]
    masks = label_masks(labels)
    if nb == 1:
        check(frame, img, masks, FUNCS)
    monkeypatch.setattr(grouped, "HISTOGRAM_BUDGET", 0)
    keys = imgstats.zonal(img, labels, FUNCS)
    assert taken == [True, False]
    assert frame.equals(keys)
    if nb > 1:  # a band alone equals numpy on that band
        check(imgstats.zonal(img, labels, FUNCS, band=1), img[..., 1], masks, FUNCS)


@pytest.mark.parametrize("dtype", SMALL)
def test_nodata_leaves_samples_out(dtype, taken):
    rng = np.random.default_rng(2)
    img = image_of(rng, dtype, (61, 47))
    nd = _nodata(img, rng)
    labels = rng.integers(0, 9, (61, 47))
    frame = imgstats.zonal(img, labels, FUNCS, nodata=nd.item())
    assert taken == [True]
    check_without(frame, img, label_masks(labels), nd, FUNCS)


def test_every_pixel_background_gives_no_zone(taken):
    img = np.arange(200, dtype=np.uint8).reshape(10, 20)
    frame = imgstats.zonal(img, np.zeros((10, 20), np.int32), ["median", "mean"])
    assert taken == [True]
    assert frame.empty and list(frame.columns) == ["median", "mean", "count"]


def test_a_zone_of_nodata_alone_has_count_zero(taken):
    img = np.full((8, 8), 7, np.uint8)
    img[:, 4:] = np.arange(32, dtype=np.uint8).reshape(8, 4)
    labels = np.repeat([[1, 1, 1, 1, 2, 2, 2, 2]], 8, axis=0)
    frame = imgstats.zonal(img, labels, ["min", "median", "p99"], nodata=7)
    assert taken == [True]
    assert frame.loc[1, "count"] == 0 and np.isnan(frame.loc[1, "median"])
    values = img[:, 4:][img[:, 4:] != 7]
    assert frame.loc[2, "median"] == np.median(values)
    assert frame.loc[2, "p99"] == np.percentile(values, 99)


def test_a_zone_of_any_size(taken):
    """A zone of 90,000 samples, most in a few bins, is read from its histogram: the path
    has no size limit per zone (over SMALL_GROUP samples is no special case)."""
    rng = np.random.default_rng(4)
    img = (rng.integers(0, 5, (300, 300)) + 100).astype(np.uint8)
    labels = np.ones((300, 300), np.int32)
    labels[:, :3] = 2
    frame = imgstats.zonal(img, labels, FUNCS)
    assert taken == [True]
    check(frame, img, label_masks(labels), FUNCS)


def test_labels_outside_the_guessed_range_are_counted_again(taken):
    """The labels' range is guessed from a sample of them; a label outside it (one pixel
    the sample missed) costs a second pass over the exact range, no lost sample."""
    rng = np.random.default_rng(6)
    h, w = 400, 400  # over 2**17 pixels: the sample takes every other label
    img = image_of(rng, np.uint8, (h, w))
    labels = rng.integers(1000, 1010, (h, w)).astype(np.int32)
    labels.flat[2 * 4321 + 1] = 4000  # beyond the guess widened by 1,024
    frame = imgstats.zonal(img, labels, ["min", "max", "median"])
    assert taken == [True]
    check(frame, img, label_masks(labels), ["min", "max", "median"])


@pytest.mark.parametrize("budget", [0, 5 * 256 * 4])
def test_over_budget_falls_back_or_uses_fewer_threads(budget, taken, monkeypatch):
    """Tables over HISTOGRAM_BUDGET: the keys' path answers (budget 0), or fewer threads
    than cores each hold one (a budget of one table: one stripe)."""
    monkeypatch.setattr(grouped, "HISTOGRAM_BUDGET", budget)
    monkeypatch.setattr(grouped, "_THREADED_SAMPLES", 1)
    monkeypatch.setattr("imgstats.io._plan.workers", lambda: 3)
    rng = np.random.default_rng(8)
    img = image_of(rng, np.int8, (37, 29))
    labels = rng.integers(0, 5, (37, 29))
    frame = imgstats.zonal(img, labels, FUNCS)
    assert taken == [budget > 0]
    check(frame, img, label_masks(labels), FUNCS)


@pytest.mark.parametrize("dtype", SMALL)
def test_stripes_on_every_core_equal_one_stripe(dtype, taken, monkeypatch):
    """Per-thread tables, added for the zones each stripe touched: three stripes equal
    one."""
    rng = np.random.default_rng(5)
    img = image_of(rng, dtype, (37, 29))
    labels = rng.integers(0, 12, (37, 29))
    one = imgstats.zonal(img, labels, FUNCS)
    monkeypatch.setattr(grouped, "_THREADED_SAMPLES", 1)
    monkeypatch.setattr("imgstats.io._plan.workers", lambda: 3)
    three = imgstats.zonal(img, labels, FUNCS)
    assert taken == [True, True]
    assert one.equals(three)
    check(three, img, label_masks(labels), FUNCS)


@pytest.mark.parametrize("mode", ["always", "never"])
def test_compiled_and_python_kernels_agree(mode, taken):
    rng = np.random.default_rng(7)
    img = image_of(rng, np.int8, (40, 30))
    labels = rng.integers(0, 5, (40, 30)) * 3 + 100
    with _jit.forced(mode):
        frame = imgstats.zonal(img, labels, FUNCS)
    assert taken == [True]
    check(frame, img, label_masks(labels), FUNCS)


def test_other_types_and_methods_keep_the_keys_path(taken):
    """16-bit and wider samples and floats are not for this path (the keys' path answers;
    two histogram passes for 16-bit samples were measured no faster), nor are percentile
    methods read from sorted keys (the path declines)."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, (30, 30))
    for dtype in (np.uint16, np.int16, np.int32, np.float32):
        img = image_of(rng, dtype, (30, 30))
        check(imgstats.zonal(img, labels, FUNCS), img, label_masks(labels), FUNCS)
    assert taken == []  # never asked
    img = image_of(rng, np.uint8, (30, 30))
    assert grouped.label_statistics(img.astype(np.uint16), labels, 0, ["p50"]) is None
    nearest = with_method("p50", "nearest")
    assert grouped.label_statistics(img, labels, 0, [nearest]) is None
    assert grouped.label_statistics(img, labels, 0, ["p50"]) is not None


def test_table_jobs_bounds():
    flat = np.zeros(1 << 20, np.int32)
    assert grouped._table_jobs(flat, flat.size, 0) is None
    assert grouped._table_jobs(flat, 16, 1000) is None  # far more bins than samples
    budget = grouped.HISTOGRAM_BUDGET
    assert grouped._table_jobs(flat, 1 << 40, budget // 1024 + 1) is None  # over budget
    assert grouped._table_jobs(flat, 1 << 40, budget // 1024)  # one table fits
    jobs = grouped._table_jobs(flat, flat.size, 1000)
    assert jobs and jobs[0][0] == 0 and jobs[-1][1] == flat.size


def test_boolean_samples(taken):
    rng = np.random.default_rng(12)
    img = rng.random((40, 50)) < 0.3
    labels = np.repeat(rng.integers(0, 6, (40, 5)), 10, axis=1)
    frame = imgstats.zonal(img, labels, ["min", "max", "mean", "median", "p90"])
    assert taken == [True]
    for z in frame.index:
        values = img[labels == z]
        assert frame.loc[z, "mean"] == np.mean(values)
        assert frame.loc[z, "median"] == np.median(values)
        assert frame.loc[z, "p90"] == np.percentile(values.astype(np.uint8), 90)  # 0 and 1
        assert frame.loc[z, "min"] == values.min() and frame.loc[z, "max"] == values.max()


def test_many_tiny_zones_take_the_keys_path(monkeypatch):
    """Zones far smaller than a table (here one pixel each): the histogram path declines,
    by its default bound of bins per sample."""
    calls = _spy(monkeypatch)
    rng = np.random.default_rng(13)
    img = image_of(rng, np.uint8, (30, 40))
    labels = np.arange(30 * 40).reshape(30, 40)
    frame = imgstats.zonal(img, labels, ["median"], background=None)
    assert calls == [False]
    assert np.array_equal(frame["median"].to_numpy(), img.reshape(-1).astype(np.float64))


@pytest.mark.parametrize("mode", ["always", "never"])
@pytest.mark.parametrize("stripes", [1, 3])
def test_runs_of_every_length_equal_numpy(mode, stripes, taken, monkeypatch):
    """The histogram pass finds each run's end 16 labels at a time: runs of 15, 16, 17, 32...
    pixels, crossing the threads' stripes, background runs, one zone, labels at the int32
    extremes and short runs, with nodata, equal numpy."""
    from .test_grouped import _run_layouts

    monkeypatch.setattr(grouped, "_THREADED_SAMPLES", 1)
    monkeypatch.setattr("imgstats.io._plan.workers", lambda: stripes)
    rng = np.random.default_rng(41)
    for name, row in _run_layouts(rng).items():
        labels = row.reshape(1, -1)
        img = image_of(rng, np.uint8, labels.shape)
        nd = _nodata(img, rng)
        with _jit.forced(mode):
            frame = imgstats.zonal(img, labels, FUNCS)
            masked = imgstats.zonal(img, labels, FUNCS, nodata=int(nd))
        check(frame, img, label_masks(labels), FUNCS)
        check_without(masked, img, label_masks(labels), nd, FUNCS)
        assert taken[-2:] == [True, True], name


def test_many_zones_take_the_banded_path_first(monkeypatch):
    """8-bit samples of more label zones than ``HISTOGRAM_ZONES`` (by a grid of the labels)
    go the banded keys' way, where the histogram path's tables would spill from the cache:
    the histogram path is not even asked, and every zone equals numpy."""
    calls = _spy(monkeypatch)
    rng = np.random.default_rng(21)
    h, w = 256, 4096
    img = rng.integers(0, 256, (h, w), dtype=np.uint8)
    # 8,192 zones of 8 x 16 pixels: runs of 16, 128 pixels a zone
    labels = (np.arange(h)[:, None] // 8 * (w // 16) + np.arange(w)[None, :] // 16 + 1).astype(
        np.int32
    )
    assert not grouped.few_zones(labels)
    frame = imgstats.zonal(img, labels, ["mean", "median", "p99"])
    assert calls == []
    order = np.argsort(labels, axis=None, kind="stable")
    parts = np.split(img.reshape(-1)[order], np.cumsum(np.bincount(labels.reshape(-1)))[1:-1])
    assert frame.index.tolist() == list(range(1, 8193))
    sizes = {part.size for part in parts}
    assert sizes == {128}  # every zone sorted as one row: numpy along rows is the oracle
    rows = np.stack(parts)
    assert np.array_equal(frame["median"].to_numpy(), np.median(rows, axis=1))
    assert np.array_equal(frame["p99"].to_numpy(), np.percentile(rows, 99, axis=1))
    assert np.array_equal(frame["mean"].to_numpy(), rows.astype(np.float64).mean(axis=1))
    assert (frame["count"].to_numpy() == 128).all()
    # and a few zones keep the histogram path
    few = labels % 7 + 1
    assert grouped.few_zones(few)
    imgstats.zonal(img, few, ["median"])
    assert calls == [True]
