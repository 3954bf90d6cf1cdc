"""Label zones of 8- and 16-bit samples, their keys written and read band by band
(:func:`imgstats.grouped.label_select`).

numpy is the oracle (``test_zonal.check``), and the keys' path (every key written at once,
then read) answers the same frame. Bands are made small here (a few dozen pixels), so that
zones end in many bands, start bands before they end, and share buffers used in turn; each
test also checks which path answered (``taken``), so that a change to the path's
conditions cannot silently leave it untested.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import imgstats
from imgstats import _jit, grouped, zones

from .test_grouped import _run_layouts, label_layouts
from .test_zonal import check, check_without, image_of, label_masks

CORE = settings.get_profile("imgstats-core")
FUNCS = ["min", "max", "mean", "median", "p1", "p50", "p99", "p100"]
WIDE = [np.uint16, np.int16]


@pytest.fixture
def taken(monkeypatch):
    """The answers of ``label_select`` (None: the keys' path took over), on one worker,
    with bands of 37 pixels, open to any zones' sizes and runs."""
    _open(monkeypatch, 37)
    calls: list = []
    real = grouped.label_select

    def spy(*args, **kwargs):
        got = real(*args, **kwargs)
        calls.append(got is not None)
        return got

    monkeypatch.setattr(zones, "label_select", spy)
    return calls


def _open(mp, band: int) -> None:
    """The path on one worker, with bands of ``band`` pixels, for zones of any size and
    runs of any length (its default bounds keep it to large zones in long runs)."""
    mp.setattr("imgstats.io._plan.workers", lambda: 1)
    mp.setattr(grouped, "_BAND_PIXELS", band)
    mp.setattr(grouped, "_ZONE_PIXELS", 1)
    mp.setattr(grouped, "_MEAN_RUN", 1)


def _keys_path(monkeypatch, *args, **kwargs):
    """``imgstats.zonal`` by the keys' path: every key written, then read."""
    with monkeypatch.context() as mp:
        mp.setattr(zones, "label_select", lambda *a, **k: None)
        mp.setattr(grouped, "HISTOGRAM_BUDGET", 0)
        return imgstats.zonal(*args, **kwargs)


def _layouts(rng, shape) -> dict:
    """2-D label images: blobs (zones that end a few bands after they start), zones as
    columns (each spans every band: one band then), one pixel per zone (groups of 0, 1 and
    2 samples with masks), random labels per pixel (runs of one pixel), background runs
    and offset ids."""
    h, w = shape
    cells = (np.arange(h)[:, None] // 5) * 100 + np.arange(w)[None, :] // 7 + 3
    return {
        "blobs": cells,
        "columns": np.broadcast_to(np.arange(w) % 5 + 1, shape).copy(),
        "tiny zones": np.arange(h * w).reshape(shape) % 211,
        "random": rng.integers(0, 6, shape),
        "background rows": np.where(np.arange(h)[:, None] % 3 == 0, 0, cells),
        "offset ids": cells + 1_000_000,
    }


@settings(CORE)
@given(
    data=st.data(),
    dtype=st.sampled_from(WIDE),
    shape=st.tuples(st.integers(1, 20), st.integers(1, 20)),
    band=st.integers(1, 64),
    background=st.sampled_from([0, None, 9, -5]),
    with_nodata=st.booleans(),
)
def test_property_layouts_bands_nodata(data, dtype, shape, band, background, with_nodata):
    """Any label layout, any band size, with or without nodata: numpy's answer, and the
    keys' path's frame."""
    with pytest.MonkeyPatch.context() as mp:
        _open(mp, band)
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
        assert frame.equals(_keys_path(mp, img, labels, FUNCS, background=background, **kw))


@pytest.mark.parametrize("dtype", WIDE)
@pytest.mark.parametrize("mode", ["always", "never"])
def test_layouts_equal_numpy_and_the_keys_path(dtype, mode, taken, monkeypatch):
    rng = np.random.default_rng(3)
    shape = (31, 45)
    for name, labels in _layouts(rng, shape).items():
        img = image_of(rng, dtype, shape)
        with _jit.forced(mode):
            frame = imgstats.zonal(img, labels, FUNCS)
        assert taken[-1] is True, name
        check(frame, img, label_masks(labels), FUNCS)
        assert frame.equals(_keys_path(monkeypatch, img, labels, FUNCS)), name


@pytest.mark.parametrize("dtype", WIDE)
def test_runs_of_every_length_with_nodata(dtype, taken, monkeypatch):
    """Rows of runs around the vector of labels compared at once, background runs, labels at
    the int32 extremes, short runs; with a nodata value left out."""
    rng = np.random.default_rng(5)
    for name, row in _run_layouts(rng).items():
        labels = row.reshape(1, -1)
        img = image_of(rng, dtype, labels.shape)
        nd = img.flat[0]
        img[rng.random(labels.shape) < 0.2] = nd
        frame = imgstats.zonal(img, labels, FUNCS)
        masked = imgstats.zonal(img, labels, FUNCS, nodata=int(nd))
        assert taken[-2:] == [True, True], name
        check(frame, img, label_masks(labels), FUNCS)
        check_without(masked, img, label_masks(labels), nd, FUNCS)


def test_values_at_the_high_byte_edges(taken):
    """Samples at either side of a high byte's edge (255/256, 0, 65535): the rank's high
    byte and its rank among that byte's samples meet exactly."""
    rng = np.random.default_rng(7)
    edges = np.array([0, 1, 254, 255, 256, 257, 511, 512, 65279, 65280, 65534, 65535])
    img = rng.choice(edges, (40, 50)).astype(np.uint16)
    labels = np.repeat(rng.integers(1, 9, (40, 5)), 10, axis=1)
    frame = imgstats.zonal(img, labels, FUNCS)
    assert taken == [True]
    check(frame, img, label_masks(labels), FUNCS)
    signed = (img.astype(np.int32) - 32768).astype(np.int16)
    check(imgstats.zonal(signed, labels, FUNCS), signed, label_masks(labels), FUNCS)


@pytest.mark.parametrize("background", [0, None, 7, -5])
def test_background_and_labels_outside_the_guessed_range(background, taken):
    """The labels' range is guessed from a sample of them; a label it misses costs a count
    over the exact range; the background is no zone, wherever it lies."""
    rng = np.random.default_rng(9)
    h, w = 400, 400  # over 2**16 pixels: the range is guessed from a sample
    img = image_of(rng, np.uint16, (h, w))
    labels = np.repeat(rng.integers(1000, 1010, (h, w // 8)), 8, axis=1).astype(np.int32)
    labels[:40] = 7
    labels.flat[2 * 4321 + 1] = 4000  # beyond the guess widened by 1,024
    labels.flat[-1] = -5
    frame = imgstats.zonal(img, labels, ["min", "max", "median", "p99"], background=background)
    assert taken == [True]
    check(frame, img, label_masks(labels, background), ["min", "max", "median", "p99"])


@pytest.mark.parametrize("nb", [2, 3])
def test_bands_of_the_image_and_nodata(nb, taken, monkeypatch):
    """Several bands per pixel, each sample valid or not apart: the keys' path's frame."""
    rng = np.random.default_rng(11)
    img = image_of(rng, np.uint16, (30, 40, nb))
    img[rng.random(img.shape) < 0.3] = 17
    labels = np.repeat(rng.integers(0, 12, (30, 4)), 10, axis=1)
    labels[:3] = 0
    for kw in ({}, {"nodata": 17}):
        frame = imgstats.zonal(img, labels, FUNCS, **kw)
        assert frame.equals(_keys_path(monkeypatch, img, labels, FUNCS, **kw))
    assert taken == [True, True]


def test_zones_of_nodata_alone_and_of_one_or_two_samples(taken):
    img = np.full((6, 8), 9, np.uint16)
    img[:, 4:] = np.arange(24, dtype=np.uint16).reshape(6, 4) * 1000
    labels = np.repeat([[1, 1, 1, 1, 2, 2, 3, 4]], 6, axis=0)
    labels[0, 6] = 5  # one sample
    labels[0, 7] = labels[1, 7] = 6  # two samples
    frame = imgstats.zonal(img, labels, FUNCS, nodata=9)
    assert taken == [True]
    assert frame.loc[1, "count"] == 0 and np.isnan(frame.loc[1, "median"])
    check_without(frame, img, label_masks(labels), 9, FUNCS)


def test_eight_bit_zones_the_histograms_decline(monkeypatch):
    """8-bit zones far smaller than a table: the histogram pass declines, the bands answer."""
    _open(monkeypatch, 53)
    rng = np.random.default_rng(13)
    img = image_of(rng, np.uint8, (30, 40))
    labels = np.arange(30 * 40).reshape(30, 40) // 3
    assert grouped.label_statistics(img, labels, None, FUNCS) is None
    assert grouped.label_select(img, labels, None, FUNCS) is not None
    frame = imgstats.zonal(img, labels, FUNCS, background=None)
    check(frame, img, label_masks(labels, None), FUNCS)


def test_the_path_declines_for_other_types_and_on_several_cores_for_masks(monkeypatch):
    """32-bit and float samples and percentile methods read from sorted keys are not for
    this path; on several cores, neither are masked samples, several bands per pixel and
    runs too short to record (the keys' path writes and reads them on every core)."""
    from imgstats.functions import with_method

    rng = np.random.default_rng(15)
    labels = rng.integers(0, 4, (20, 20))
    img = image_of(rng, np.uint16, (20, 20))
    _open(monkeypatch, 37)
    assert grouped.label_select(img, labels, 0, ["p50"]) is not None
    assert grouped.label_select(img, labels, 0, [with_method("p50", "nearest")]) is None
    for dtype in (np.int32, np.float32):
        assert grouped.label_select(img.astype(dtype), labels, 0, ["p50"]) is None
    monkeypatch.setattr("imgstats.io._plan.workers", lambda: 2)
    monkeypatch.setattr(grouped, "_THREADED_SAMPLES", 1)
    assert grouped.label_select(img, labels, 0, ["p50"]) is None  # runs of ~1 pixel
    blobs = np.repeat(np.repeat(rng.integers(0, 4, (4, 4)), 5, axis=0), 5, axis=1)
    assert grouped.label_select(img, blobs, 0, ["p50"]) is not None
    assert grouped.label_select(img, blobs, 0, ["p50"], valid=img > 5) is None
    three = np.stack([img] * 3, axis=-1)
    assert grouped.label_select(three, blobs, 0, ["p50"], nb=3) is None


@pytest.mark.parametrize("cores", [2, 3])
@pytest.mark.parametrize("mode", ["always", "never"])
@pytest.mark.parametrize("dtype", WIDE)
def test_several_cores_take_a_stripe_each_and_gather_the_zones_across(
    cores, mode, dtype, monkeypatch
):
    """On several cores each core writes and reads the zones inside its stripe of pixels;
    the zones across a stripe's edge (every zone of the column layout) gather their keys
    from each stripe in pixel order. numpy's answer and the keys' path's frame."""
    _open(monkeypatch, 37)
    monkeypatch.setattr("imgstats.io._plan.workers", lambda: cores)
    monkeypatch.setattr(grouped, "_THREADED_SAMPLES", 1)
    calls = []
    real = grouped.label_select
    monkeypatch.setattr(
        zones, "label_select", lambda *a, **k: calls.append(real(*a, **k)) or calls[-1]
    )
    rng = np.random.default_rng(19)
    shape = (31, 45)
    layouts = _layouts(rng, shape)
    layouts["rows of zones"] = np.repeat(np.arange(shape[0]) // 10 + 1, shape[1]).reshape(shape)
    for name, labels in layouts.items():
        img = image_of(rng, dtype, shape)
        for background in (0, None):
            with _jit.forced(mode):
                frame = imgstats.zonal(img, labels, FUNCS, background=background)
            # runs of a pixel or two are not recorded: the keys' path on every core
            recorded = name not in ("tiny zones", "random", "columns")
            assert (calls[-1] is not None) == recorded, name
            check(frame, img, label_masks(labels, background), FUNCS)
            keys = _keys_path(monkeypatch, img, labels, FUNCS, background=background)
            assert frame.equals(keys), name


@settings(CORE)
@given(
    data=st.data(),
    dtype=st.sampled_from(WIDE),
    shape=st.tuples(st.integers(1, 24), st.integers(1, 24)),
    band=st.integers(1, 64),
    cores=st.integers(2, 4),
    background=st.sampled_from([0, None, 9]),
)
def test_property_several_cores(data, dtype, shape, band, cores, background):
    """Any label layout, band size and count of stripes: numpy's answer."""
    with pytest.MonkeyPatch.context() as mp:
        _open(mp, band)
        mp.setattr("imgstats.io._plan.workers", lambda: cores)
        mp.setattr(grouped, "_THREADED_SAMPLES", 1)
        img = data.draw(hnp.arrays(dtype, shape))
        labels = data.draw(label_layouts(shape))
        frame = imgstats.zonal(img, labels, FUNCS, background=background)
        check(frame, img, label_masks(labels, background), FUNCS)


def _layout(size, bands, first, last, n, ngroups=None):
    from imgstats import _group_kernels

    first, last, n = (np.array(x, np.int64) for x in (first, last, n))
    present = np.arange(n.size, dtype=np.int64)
    pos = np.full(ngroups or n.size, -1, np.int64)
    edges, zones = np.empty(bands + 1, np.int64), np.empty(bands + 1, np.int64)
    order, start = np.empty(n.size, np.int64), np.empty(n.size, np.int64)
    bands, cap, lag = _group_kernels.band_layout(
        size, bands, first, last, n, present, pos, edges, zones, order, start
    )
    return edges[: bands + 1], zones[: bands + 1], order, start, pos, cap, lag


def test_band_layout_orders_zones_by_the_band_they_end_in():
    """A zone's band is where its last pixel lies (stably, in the zones' order); the lag is
    the most bands a zone starts before its own; zones ending in a band share its buffer
    (of ``cap`` keys, the most any band's zones hold), the bands' buffers used in turn."""
    # zone 0: pixels 5-19 (bands 0-1), zone 1: 0-3 (band 0), zone 2: 12 (1), zone 3: 29 (2)
    edges, zones, order, start, pos, cap, lag = _layout(
        30, 3, [5, 0, 12, 29], [20, 4, 13, 30], [3, 4, 1, 1]
    )
    assert list(edges) == [0, 10, 20, 30]
    assert list(order) == [1, 0, 2, 3] and list(zones) == [0, 1, 3, 4]
    assert lag == 1 and cap == 4
    # band 0 in buffer 0, band 1 in buffer 1 (from key 4), band 2 in buffer 0 again
    assert list(start) == [0, 4, 7, 0]
    assert list(pos) == [4, 0, 7, 0]


def test_band_layout_takes_one_band_when_the_zones_span_the_image():
    """When the buffers used in turn would hold every key, one band and one buffer."""
    edges, zones, order, start, pos, cap, lag = _layout(30, 3, [0, 1], [30, 29], [10, 12])
    assert list(edges) == [0, 30] and list(zones) == [0, 2]
    assert list(order) == [0, 1] and list(start) == [0, 10] and list(pos) == [0, 10]
    assert cap == 22 and lag == 0


def test_short_runs_and_many_small_zones_keep_the_keys_path(monkeypatch):
    """By default the path wants runs of 8 pixels or more (a sample of the labels shows them)
    and zones of 64 pixels or more (by the labels' range)."""
    monkeypatch.setattr("imgstats.io._plan.workers", lambda: 1)
    rng = np.random.default_rng(17)
    img = image_of(rng, np.uint16, (400, 800))
    long_runs = np.repeat(rng.integers(1, 50, (400, 50)), 16, axis=1)
    assert grouped.label_select(img, long_runs, 0, FUNCS) is not None
    short_runs = np.repeat(rng.integers(1, 50, (400, 200)), 4, axis=1)
    assert grouped.label_select(img, short_runs, 0, FUNCS) is None
    many = np.repeat(np.arange(400 * 50).reshape(400, 50), 16, axis=1)  # 16 pixels a zone
    assert grouped.label_select(img, many, 0, FUNCS) is None
