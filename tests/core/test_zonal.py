"""imgstats.zonal: exact statistics per label and per polygon, numpy as the oracle.

Every value must equal ``imgstats.compute(image, funcs, mask=zone)`` (itself bit-equal to
numpy's nan-functions): min, max and percentiles bit for bit, the mean exactly rounded.
"""

from __future__ import annotations

import json
import math

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import imgstats
from imgstats import grouped
from imgstats.errors import InvalidOption, UnknownFunction
from imgstats.regions import PolygonRegion

from .cluster import local_cluster
from .oracle import expected_mean, expected_percentile, same_number, valid_samples

FUNCS = ["min", "max", "mean", "median", "p0", "p2.5", "p99", "p100"]
DTYPES = [
    np.uint8,
    np.int8,
    np.uint16,
    np.int16,
    np.int32,
    np.uint32,
    np.int64,
    np.float32,
    np.float64,
]
CORE = settings.get_profile("imgstats-core")


def oracle(values: np.ndarray, func: str):
    """numpy on the valid samples (the core tests' oracle: exact where numpy wraps around)."""
    v = valid_samples(values)
    if func in ("min", "max"):
        return getattr(np, func)(v).item()
    if func == "mean":
        return expected_mean(v)
    if func == "median":  # numpy.median (docs/statistics.md), not percentile 50
        with np.errstate(all="ignore"):
            return np.median(v).item()
    return expected_percentile(v, float(func[1:]))


def check(frame: pd.DataFrame, image: np.ndarray, masks: dict, funcs=FUNCS) -> None:
    """Every zone's row equals numpy on the zone's valid samples."""
    assert list(frame.columns) == [*funcs, "count"]
    assert frame.index.name == "zone"
    assert list(frame.index) == list(masks)
    for zone, mask in masks.items():
        values = image[mask].reshape(-1)
        valid = values[~np.isnan(values)] if values.dtype.kind == "f" else values
        assert frame.at[zone, "count"] == valid.size, zone
        for f in funcs:
            got = frame.at[zone, f]  # not a row: a row of mixed columns is cast to float64
            if valid.size == 0:
                assert pd.isna(got), (zone, f, got)
                continue
            expected = oracle(values, f)
            got = got.item() if hasattr(got, "item") else got
            assert same_number(got, expected), (zone, f, got, expected)


def image_of(rng, dtype, shape, nan=0.1):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        img = rng.normal(0, 100, shape).astype(dtype)
        img[rng.random(shape) < nan] = np.nan
        return img
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


def label_masks(labels, background=0):
    return {int(z): labels == z for z in np.unique(labels) if background is None or z != background}


@pytest.mark.parametrize("dtype", DTYPES)
def test_labels_equal_numpy(dtype):
    rng = np.random.default_rng(17)
    img = image_of(rng, dtype, (61, 47))
    labels = rng.integers(0, 9, (61, 47))
    frame = imgstats.zonal(img, labels, FUNCS)
    check(frame, img, label_masks(labels))


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float32, np.float64])
def test_big_zones_use_histograms_and_equal_numpy(dtype, monkeypatch):
    """Zones over SMALL_GROUP samples become summaries; refinement passes stay exact."""
    monkeypatch.setattr(grouped, "SMALL_GROUP", 500)
    rng = np.random.default_rng(3)
    img = image_of(rng, dtype, (120, 90))
    labels = rng.integers(1, 4, (120, 90))
    labels[:2] = 9  # one small zone beside the big ones
    frame = imgstats.zonal(img, labels, FUNCS)
    check(frame, img, label_masks(labels))


@pytest.mark.parametrize("dtype", [">u2", ">i4", ">u4", ">i8", ">f4", ">f8"])
@pytest.mark.parametrize("layout", ["numpy", "dask", "big zones"])
def test_big_endian_samples_equal_numpy(dtype, layout, monkeypatch):
    # FITS images are big-endian: a '>f4' image's label zones were read as byte-swapped bit
    # patterns (a min of 4.6e-41 for 4.0), only the 16-bit histogram path was right
    if layout == "big zones":
        monkeypatch.setattr(grouped, "SMALL_GROUP", 500)
    rng = np.random.default_rng(23)
    img = image_of(rng, np.dtype(dtype).newbyteorder("="), (64, 45)).astype(dtype)
    labels = rng.integers(0, 5, (64, 45))
    values = da.from_array(img, chunks=(17, 20)) if layout == "dask" else img
    frame = imgstats.zonal(values, labels, FUNCS)
    check(frame, img, label_masks(labels))


@pytest.mark.parametrize("backing", ["numpy", "dask"])
@pytest.mark.parametrize("band", [None, 1])
@pytest.mark.parametrize("zones", ["labels", "polygons"])
def test_a_masked_arrays_masked_samples_are_no_zones(backing, band, zones):
    # rasterio's read(masked=True): zonal counted the masked samples (441 where compute(...,
    # mask=zone) counts 400), though the zones honour what compute honours
    rng = np.random.default_rng(19)
    data = rng.normal(0, 100, (3, 40, 50)).astype(np.float32).transpose(1, 2, 0)
    data[rng.random(data.shape) < 0.05] = np.nan
    mask = rng.random(data.shape) < 0.3  # a mask per band
    img = np.ma.masked_array(data, mask=mask)
    labels = rng.integers(0, 4, (40, 50))
    if backing == "dask":
        img = da.ma.masked_array(
            da.from_array(img.data, chunks=(13, 17, 3)), mask=da.from_array(img.mask, chunks=13)
        )
    layer = [poly([[0, 0], [30, 0], [30, 25], [0, 25]]), poly(TRIANGLE)]
    frame = imgstats.zonal(img, labels if zones == "labels" else layer, FUNCS, band=band)
    # the oracle: numpy on the unmasked samples, NaN for the masked ones
    flat = np.where(mask, np.nan, data)
    flat = flat if band is None else flat[..., band]
    if zones == "labels":
        masks = label_masks(labels)
    else:
        yy, xx = np.mgrid[0:40, 0:50] + 0.5
        masks = {0: (xx < 30) & (yy < 25)}
        masks[1] = PolygonRegion(40, 50, polygon=TRIANGLE).block_mask(0, 40, 0, 50)
    check(frame, flat, masks)


def test_mask_compute_equality_bit_for_bit():
    rng = np.random.default_rng(5)
    img = rng.normal(0, 1, (50, 70)).astype(np.float32)
    labels = rng.integers(1, 6, (50, 70))
    frame = imgstats.zonal(img, labels, FUNCS)
    for z in frame.index:
        expected = imgstats.compute(img, FUNCS, mask=labels == z)
        assert frame.loc[z, FUNCS].to_dict() == expected


@pytest.mark.parametrize(
    "chunks", [((13, 20, 7, 21), (9, 30, 11)), ((61,), (47,)), ((1,) * 61, (47,))]
)
@pytest.mark.parametrize("where", ["values", "labels", "both"])
def test_dask_uneven_chunks(chunks, where):
    rng = np.random.default_rng(11)
    img = image_of(rng, np.float32, (61, 50))
    img = img[:, :50]
    labels = rng.integers(0, 7, (61, 50))
    ys, xs = chunks[0], (chunks[1] if sum(chunks[1]) == 50 else (20, 30))
    v = da.from_array(img, chunks=(ys, xs)) if where != "labels" else img
    lab = da.from_array(labels, chunks=(ys[::-1], xs[::-1])) if where != "values" else labels
    frame = imgstats.zonal(v, lab, FUNCS)
    check(frame, img, label_masks(labels))


@pytest.mark.parametrize("where", ["values", "labels", "both"])
def test_dask_chunks_of_unknown_size(where):
    # rows picked by a boolean dask index have NaN chunk sizes: the image's were counted,
    # the labels were refused ("the label image's shape (nan, 50) is not ... (61, 50)")
    rng = np.random.default_rng(12)
    img = image_of(rng, np.float32, (61, 50))
    labels = rng.integers(0, 7, (61, 50))
    keep = da.from_array(np.ones(61, bool), chunks=13)
    v = da.from_array(img, chunks=(13, 20))[keep] if where != "labels" else img
    lab = da.from_array(labels, chunks=(9, 50))[keep] if where != "values" else labels
    assert np.isnan((lab if where == "labels" else v).shape[0])
    check(imgstats.zonal(v, lab, FUNCS), img, label_masks(labels))


def test_xarray_inputs_and_accessor():
    rng = np.random.default_rng(2)
    img = xr.DataArray(image_of(rng, np.uint16, (30, 40)), dims=("y", "x"))
    labels = xr.DataArray(rng.integers(0, 5, (30, 40)), dims=("y", "x"))
    frame = img.imgstats.zonal(labels, ["median", "p99"])
    check(frame, img.values, label_masks(labels.values), ["median", "p99"])


def test_multiband_pools_bands_or_selects_one():
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    labels = rng.integers(0, 4, (20, 30))
    whole = imgstats.zonal(img, labels, ["median", "mean"])
    green = imgstats.zonal(img, labels, ["median", "mean"], band=1)
    for z in whole.index:
        m = labels == z
        assert whole.loc[z, "median"] == np.median(img[m])
        assert whole.loc[z, "count"] == 3 * m.sum()
        assert green.loc[z, "median"] == np.median(img[m][:, 1])
        assert green.loc[z, "mean"] == imgstats.compute(img, "mean", band=1, mask=m)


def test_background_none_and_other():
    labels = np.array([[0, 0, 1], [2, 2, 1]])
    img = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert list(imgstats.zonal(img, labels, "max").index) == [1, 2]
    assert list(imgstats.zonal(img, labels, "max", background=None).index) == [0, 1, 2]
    assert list(imgstats.zonal(img, labels, "max", background=2).index) == [0, 1]


def test_sparse_huge_labels():
    rng = np.random.default_rng(9)
    img = rng.integers(0, 100, (40, 40), dtype=np.uint8)
    labels = rng.choice(np.array([-(2**40), 7, 2**50, 2**62]), (40, 40))
    frame = imgstats.zonal(img, labels, ["min", "median"])
    check(frame, img, label_masks(labels), ["min", "median"])


def test_all_nan_zone_has_count_zero_and_nan():
    img = np.array([[np.nan, np.nan, 1.0], [2.0, 3.0, np.nan]], np.float32)
    labels = np.array([[1, 1, 2], [2, 2, 3]])
    frame = imgstats.zonal(img, labels, ["min", "median", "mean"])
    assert frame.loc[1, "count"] == 0 and frame.loc[1].drop("count").isna().all()
    assert frame.loc[3, "count"] == 0
    assert frame.loc[2, "median"] == 2.0


def test_integer_min_max_keep_their_type():
    img = np.array([[2**40 + 1, 5], [7, 9]], np.int64)
    labels = np.array([[1, 1], [2, 2]])
    frame = imgstats.zonal(img, labels, ["min", "max"])
    assert frame["max"].dtype == np.int64
    assert frame.loc[1, "max"] == 2**40 + 1


def test_infinities_in_zones():
    img = np.array([[np.inf, 1, -np.inf, 2], [np.inf, 3, 4, 5]], np.float64)
    labels = np.array([[1, 1, 2, 2], [3, 3, 4, 4]])
    frame = imgstats.zonal(img, labels, ["mean", "max", "median"])
    assert frame.loc[1, "mean"] == np.inf and frame.loc[1, "max"] == np.inf
    assert frame.loc[2, "mean"] == -np.inf
    assert frame.loc[4, "mean"] == 4.5


def test_means_exact_when_int64_fast_path_cannot_hold():
    # values spread over many binades: the fast path falls back to the exact summary
    vals = np.array([1e-30, 1e30, -1e30, 3.0, 1e-300, 7.5], np.float64)
    img = vals.reshape(2, 3)
    labels = np.ones((2, 3), int)
    frame = imgstats.zonal(img, labels, ["mean"])
    assert frame.loc[1, "mean"] == imgstats.compute(img, "mean")


# -- polygons ------------------------------------------------------------------------------------
SQUARE = [[2, 2], [30, 2], [30, 20], [2, 20]]
TRIANGLE = [[0.3, 0.2], [39.7, 5.5], [10.1, 28.9]]
DONUT = {
    "type": "Polygon",
    "coordinates": [[[0, 0], [40, 0], [40, 30], [0, 30], [0, 0]], [[10, 10], [20, 10], [20, 20]]],
}


def fc(geoms, ids=None, props=None):
    feats = []
    for i, g in enumerate(geoms):
        f = {"type": "Feature", "geometry": g, "properties": dict(props[i]) if props else {}}
        if ids is not None:
            f["id"] = ids[i]
        feats.append(f)
    return {"type": "FeatureCollection", "features": feats}


def poly(ring):
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
def test_polygons_overlap_and_equal_compute(dtype):
    rng = np.random.default_rng(8)
    img = image_of(rng, dtype, (30, 40))
    zones = [poly(SQUARE), poly(TRIANGLE), DONUT]
    frame = imgstats.zonal(img, zones, FUNCS)
    assert list(frame.index) == [0, 1, 2]
    for i, g in enumerate(zones):
        expected = imgstats.compute(img, FUNCS, polygon=g)
        assert frame.loc[i, FUNCS].to_dict() == expected


def test_polygon_ids_multipolygon_and_property(tmp_path):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 1000, (30, 40), dtype=np.uint16)
    multi = {"type": "MultiPolygon", "coordinates": [[SQUARE], [[[32, 22], [39, 22], [39, 29]]]]}
    layer = fc([multi, poly(TRIANGLE)], ids=["a", "b"], props=[{"name": "x"}, {"name": "y"}])
    frame = imgstats.zonal(img, layer, ["median"])
    assert list(frame.index) == ["a", "b"]
    from imgstats.regions import rasterize_polygon

    mask = np.zeros((30, 40), bool)
    for part in multi["coordinates"]:
        box, m = rasterize_polygon({"type": "Polygon", "coordinates": part}, 30, 40)
        mask[box[1] : box[3], box[0] : box[2]] |= m
    assert frame.loc["a", "median"] == np.median(img[mask])
    assert frame.loc["a", "count"] == mask.sum()
    by_name = imgstats.zonal(img, layer, ["median"], id_property="name")
    assert list(by_name.index) == ["x", "y"]
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps(layer))
    assert imgstats.zonal(img, path, ["median"]).equals(frame)


def test_polygon_outside_image_is_an_empty_zone():
    img = np.ones((10, 10), np.float32)
    frame = imgstats.zonal(img, [poly([[100, 100], [120, 100], [110, 120]]), poly(SQUARE)], "mean")
    assert frame.loc[0, "count"] == 0 and math.isnan(frame.loc[0, "mean"])
    assert frame.loc[1, "count"] == 64  # clipped to the image: x 2..9, y 2..9


def test_shapely_geometries_are_read_by_their_geo_interface():
    # a shapely Polygon was taken for a label image ("dims (y, x), not shape ()"), and a list
    # of them refused ("not a GeoJSON object but a Polygon"); geopandas frames and series
    # speak the same __geo_interface__ protocol
    shapely = pytest.importorskip("shapely.geometry")
    img = np.arange(1200, dtype=np.float32).reshape(30, 40)
    donut = shapely.shape(DONUT)  # coordinates as tuples, as shapely gives them
    want = imgstats.zonal(img, [DONUT, poly(SQUARE)], FUNCS)
    assert imgstats.zonal(img, [donut, shapely.Polygon(SQUARE)], FUNCS).equals(want)
    assert imgstats.zonal(img, donut, FUNCS).equals(want.loc[[0]])
    assert imgstats.compute(img, FUNCS, polygon=donut) == want.loc[0, FUNCS].to_dict()


def test_polygons_on_dask_chunks_cut_through_zones():
    rng = np.random.default_rng(6)
    img = image_of(rng, np.float32, (30, 40))
    zones = [poly(SQUARE), poly(TRIANGLE), DONUT]
    expected = imgstats.zonal(img, zones, FUNCS)
    got = imgstats.zonal(da.from_array(img, chunks=(7, 11)), zones, FUNCS)
    pd.testing.assert_frame_equal(got, expected)


def test_large_polygon_memory_is_per_block():
    """A triangle over a large image rasterizes per strip, never its whole bounding box."""
    import tracemalloc

    img = np.zeros((4000, 4000), np.uint8)
    # numba's first import and compiles (tens of MB) are not the rasterization's
    imgstats.zonal(img[:200, :200], [poly([[0, 0], [200, 0], [0, 200]])], ["median"])
    tracemalloc.start()
    frame = imgstats.zonal(img, [poly([[0, 0], [4000, 0], [0, 4000]])], ["median"])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert frame.loc[0, "count"] == 4000 * 4001 // 2  # centres on the hypotenuse too
    # per-strip rasters and the strip's selected samples: the old rasterization held an int8
    # grid and an int32 cumulative sum over the whole bounding box, 80 MB here
    assert peak < 80e6


# -- labels from files -----------------------------------------------------------------------
def test_label_raster_from_a_path(tmp_path):
    import tifffile

    rng = np.random.default_rng(12)
    img = image_of(rng, np.uint16, (25, 35))
    labels = rng.integers(0, 6, (25, 35)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "labels.tif", labels)
    tifffile.imwrite(tmp_path / "img.tif", img)
    frame = imgstats.zonal(tmp_path / "img.tif", tmp_path / "labels.tif", ["median", "max"])
    check(frame, img, label_masks(labels), ["median", "max"])


# -- hypothesis ----------------------------------------------------------------------------
@settings(CORE)
@given(
    data=st.data(),
    dtype=st.sampled_from([np.uint8, np.int16, np.int32, np.float32, np.float64]),
    shape=st.tuples(st.integers(1, 25), st.integers(1, 25)),
    nzones=st.integers(1, 6),
)
def test_property_any_layout_any_chunking(data, dtype, shape, nzones):
    img = data.draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))
    labels = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, nzones)))
    cy = data.draw(st.integers(1, shape[0]))
    cx = data.draw(st.integers(1, shape[1]))
    funcs = ["min", "max", "mean", "median", "p10", "p99.9"]
    masks = label_masks(labels)
    for source in (img, da.from_array(img, chunks=(cy, cx))):
        frame = imgstats.zonal(source, labels, funcs)
        check(frame, img, masks, funcs)
    # uneven chunks of both, each its own (small chunks are read together: the same answers)
    chunks = [tuple(data.draw(_chunks(n)) for n in shape) for _ in range(2)]
    source, lab = da.from_array(img, chunks=chunks[0]), da.from_array(labels, chunks=chunks[1])
    check(imgstats.zonal(source, lab, funcs, scheduler="sync"), img, masks, funcs)


def _chunks(n: int):
    """Any cut of ``n`` into chunks, uneven ones and chunks of one included."""
    sizes = st.lists(st.integers(1, n), min_size=1, max_size=n)
    return sizes.map(lambda s: _cut(n, s))


def _cut(n: int, sizes) -> tuple:
    ends = np.minimum(np.cumsum([0, *sizes, n]), n)
    return tuple(int(c) for c in np.diff(ends) if c)


def _elements(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return st.floats(width=dtype.itemsize * 8, allow_infinity=False) | st.just(np.nan)
    return None


# -- bad input -----------------------------------------------------------------------------------
IMG = np.zeros((10, 12), np.uint8)


def _nested(depth: int) -> list:
    """A list holding a list ... ``depth`` levels deep."""
    outer = inner = []
    for _ in range(depth):
        inner.append([])
        inner = inner[0]
    return outer


@pytest.mark.parametrize(
    ("zones", "kwargs", "match"),
    [
        (np.zeros((10, 11), int), {}, "shape"),
        (np.full((10, 12), 0.5, np.float32), {}, "whole numbers"),
        (np.zeros((10, 12), np.complex64), {}, "integers"),
        (np.zeros((10, 12, 2), int), {}, "dims"),
        (np.zeros((10, 12), int), {"background": 1.5}, "background"),
        (np.zeros((10, 12), int), {"background": True}, "background"),
        (np.zeros((10, 12), int), {"background": "0"}, "background"),
        (np.arange(120).reshape(10, 12), {"max_zones": 100}, "more than the limit"),
        ([poly(SQUARE), poly([[0, 0], [1, 1], [2, 2]])], {}, "feature 1"),
        ([poly(SQUARE), {"type": "Point", "coordinates": [1, 2]}], {}, "feature 1.*Point"),
        ([poly(SQUARE), 3], {}, "feature 1: not a GeoJSON object but an int"),
        (
            {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": [1, 2]}]},
            {},
            "feature 0",
        ),
        ([poly([[0, 0], [float("inf"), 0], [0, 5]])], {}, "finite"),
        ([poly([[0, 0], [1e300, 0], [0, 5]])], {}, "beyond"),
        ([poly([[0, 0], [10**400, 0], [0, 5]])], {}, "feature 0"),
        ([poly([["1", "2"], [3, 4], [5, 0]])], {}, "feature 0"),
        ([{"type": "Polygon", "coordinates": [SQUARE, []]}], {}, "feature 0"),  # an empty hole
        ({"type": "GeometryCollection", "geometries": []}, {}, "GeometryCollection"),
        (fc([poly(SQUARE), poly(SQUARE)], ids=[1, 1]), {}, "distinct"),
        (fc([poly(SQUARE)]), {"id_property": "name"}, "no property"),
        ([poly(SQUARE)], {"background": 3}, "background"),
        (np.zeros((10, 12), int), {"id_property": "x"}, "polygons"),
        # the message printed the whole ring: a RecursionError for a ring nested 5,000 deep
        ([poly(_nested(5000))], {}, r"feature 0: .*pairs of numbers, not \[\[\["),
    ],
)
def test_bad_zones(zones, kwargs, match):
    with pytest.raises(InvalidOption, match=match):
        imgstats.zonal(IMG, zones, ["median"], **kwargs)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),  # was a RecursionError
        ("5", "holds a JSON int, not a GeoJSON"),  # was read as a label image of shape ()
        ('"zones"', "holds a JSON str"),
    ],
)
def test_geojson_files_that_hold_no_layer(tmp_path, text, match):
    path = tmp_path / "zones.geojson"
    path.write_text(text)
    with pytest.raises(InvalidOption, match=match):
        imgstats.zonal(IMG, path, ["median"])


def test_bad_functions_and_band():
    with pytest.raises(UnknownFunction):
        imgstats.zonal(IMG, np.ones((10, 12), int), ["p101"])
    # a Function of with_method was answered by the linear method (p5 "nearest": 50.25)
    nearest = imgstats.functions.with_method("p5", "nearest")
    with pytest.raises(InvalidOption, match="p5 asks for another method"):
        imgstats.zonal(IMG, np.ones((10, 12), int), [nearest])
    with pytest.raises(InvalidOption, match="max_zones must be a whole number"):
        imgstats.zonal(IMG, np.ones((10, 12), int), ["min"], max_zones="abc")  # a ValueError
    with pytest.raises(InvalidOption, match="band"):
        imgstats.zonal(IMG, np.ones((10, 12), int), ["median"], band=3)
    with pytest.raises(InvalidOption):
        imgstats.zonal(IMG, np.ones((10, 12), int), [])


# -- a real cluster ----------------------------------------------------------------------------
@pytest.mark.slow
def test_local_cluster_equal():
    rng = np.random.default_rng(21)
    img = image_of(rng, np.float32, (90, 70))
    labels = rng.integers(0, 12, (90, 70))
    expected = imgstats.zonal(img, labels, FUNCS)
    zones = [poly(SQUARE), poly(TRIANGLE), DONUT]
    expected_poly = imgstats.zonal(img, zones, FUNCS)
    with local_cluster() as client:
        got = imgstats.zonal(
            da.from_array(img, chunks=(23, 31)), da.from_array(labels, chunks=(40, 40)), FUNCS
        )
        got_poly = imgstats.zonal(da.from_array(img, chunks=(17, 19)), zones, FUNCS)
        assert client is not None
    pd.testing.assert_frame_equal(got, expected)
    pd.testing.assert_frame_equal(got_poly, expected_poly)
    check(got, img, label_masks(labels))


# -- which samples count: nodata is honoured, masks and alpha refused, never ignored ------------
def nodata_image(rng, dtype, shape):
    """An image whose first value, planted in about a fifth of its pixels, is its nodata."""
    img = image_of(rng, dtype, shape)
    nd = img.flat[0] if np.dtype(dtype).kind != "f" else np.asarray(-9999, dtype)[()]
    img[rng.random(shape) < 0.2] = nd
    return img, nd


def check_without(frame, img, masks, nodata, funcs=FUNCS):
    """``check`` on the image with its nodata samples made NaN (floats) or left out."""
    if img.dtype.kind == "f":
        check(frame, np.where(img == nodata, np.nan, img).astype(img.dtype), masks, funcs)
        return
    for zone, mask in masks.items():
        values = img[mask & (img != nodata)]
        assert frame.at[zone, "count"] == values.size, zone
        for f in funcs:
            got = frame.at[zone, f]
            if values.size == 0:
                assert pd.isna(got), (zone, f)
                continue
            got = got.item() if hasattr(got, "item") else got
            assert same_number(got, oracle(values, f)), (zone, f, got)


@pytest.mark.parametrize("dtype", DTYPES)
def test_labels_leave_out_nodata(dtype):
    rng = np.random.default_rng(23)
    img, nd = nodata_image(rng, dtype, (61, 47))
    labels = rng.integers(0, 9, (61, 47))
    frame = imgstats.zonal(img, labels, FUNCS, nodata=nd.item())
    check_without(frame, img, label_masks(labels), nd)
    for z in frame.index[:3]:  # the same numbers as compute(mask=zone) gives
        zone_mask = labels == z
        assert frame.loc[z, "count"] == imgstats.compute(
            img, "count", mask=zone_mask, nodata=nd.item()
        )


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float32, np.float64])
def test_big_zones_refine_without_nodata(dtype, monkeypatch):
    """The refinement pass of big zones leaves out nodata as the grouping pass does."""
    monkeypatch.setattr(grouped, "SMALL_GROUP", 500)
    rng = np.random.default_rng(29)
    img, nd = nodata_image(rng, dtype, (120, 90))
    labels = rng.integers(1, 4, (120, 90))
    frame = imgstats.zonal(img, labels, FUNCS, nodata=nd.item())
    check_without(frame, img, label_masks(labels), nd)


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_polygons_and_dask_leave_out_nodata(dtype):
    rng = np.random.default_rng(31)
    img, nd = nodata_image(rng, dtype, (60, 50))
    ring = [[3, 4], [45, 2], [40, 55], [5, 50], [3, 4]]
    layer = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "id": 1, "geometry": poly(ring), "properties": {}}],
    }
    frame = imgstats.zonal(img, layer, FUNCS, nodata=nd.item())
    whole = imgstats.compute(img, FUNCS, polygon=[tuple(p) for p in ring[:-1]], nodata=nd.item())
    assert frame.loc[1, FUNCS].to_dict() == whole
    labels = rng.integers(0, 5, (60, 50))
    lazy = da.from_array(img, chunks=((25, 35), (20, 30)))
    check_without(
        imgstats.zonal(lazy, labels, FUNCS, nodata=nd.item()), img, label_masks(labels), nd
    )


def test_nodata_of_a_geotiff_is_honoured(tmp_path):
    """A GeoTIFF's own GDAL_NODATA tag counts without being named."""
    import tifffile

    rng = np.random.default_rng(37)
    img, nd = nodata_image(rng, np.int16, (40, 30))
    path = tmp_path / "dem.tif"
    tifffile.imwrite(path, img, extratags=[(42113, "s", 0, str(int(nd)), True)])
    labels = rng.integers(1, 4, (40, 30))
    frame = imgstats.zonal(str(path), labels, FUNCS)
    check_without(frame, img, label_masks(labels, background=None), nd)
    raw = imgstats.zonal(str(path), labels, ["count"], raw=True)
    assert int(raw["count"].sum()) == img.size


def test_alpha_is_honoured_as_compute_honours_it():
    """An RGBA array: pixels of alpha 0 do not count, and alpha is not pooled (as compute)."""
    rng = np.random.default_rng(41)
    rgba = rng.integers(0, 256, (20, 20, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[:5, :, 3] = 0
    labels = np.ones((20, 20), np.int64)
    labels[:, 10:] = 2
    img = xr.DataArray(rgba, dims=("y", "x", "band"), coords={"band": list("RGBA")})
    frame = imgstats.zonal(img, labels, ["min", "median"])
    for z in (1, 2):
        want = imgstats.compute(img, ["min", "median", "count"], mask=labels == z)
        assert want["count"] == 15 * 10 * 3
        assert frame.loc[z].to_dict() == want
    raw = imgstats.zonal(img, labels, ["count"], raw=True)
    # every pixel, alpha never pooled even raw (as compute(img, "count", raw=True): 1200)
    assert list(raw["count"]) == [20 * 10 * 3] * 2
    assert int(raw["count"].sum()) == imgstats.compute(img, "count", raw=True)


def test_functions_a_zone_does_not_answer_are_refused():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    labels = np.ones((3, 4), np.int64)
    for name in ["sum", "valid_percent"]:
        with pytest.raises(InvalidOption, match=name):
            imgstats.zonal(img, labels, ["median", name])
    frame = imgstats.zonal(img, labels, ["count", "median"])
    assert list(frame.columns) == ["median", "count"]
    assert frame.loc[1, "count"] == 12
