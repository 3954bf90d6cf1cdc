"""Windows, masks and polygons (issue 11): statistics of part of an image, equal to numpy's.

numpy is the oracle on ``array[y0:y1, x0:x1]`` and ``array[mask]``; the polygon rasterizer is
checked against a brute-force even-odd test of every pixel centre.
"""

from __future__ import annotations

import dask.array as da
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import tifffile
from hypothesis import given
from hypothesis import strategies as st

import imgstats
from imgstats import InvalidOption, NoValidSamples
from imgstats.regions import (
    parse_window,
    point_in_part,
    polygon_rings,
    rasterize_polygon,
)
from imgstats.selection import select

from .oracle import ALL_DTYPES, check_all, valid_samples
from .test_exact import CORE, uneven_chunks, value_pool

FUNCS = ["min", "max", "mean", "median", "p1", "p99"]


def _image(data, dtype, shape):
    return data.draw(
        hnp.arrays(np.dtype(dtype), shape, elements=st.sampled_from(value_pool(dtype))), label="img"
    )


def _check_or_empty(result_fn, values, funcs):
    if valid_samples(values).size == 0:
        with pytest.raises(NoValidSamples):
            result_fn()
        return
    check_all(result_fn(), values, funcs)


# -- windows ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@CORE
@given(data=st.data())
def test_window_equals_numpy_on_the_slice(dtype, data):
    shape = data.draw(
        st.tuples(st.integers(1, 15), st.integers(1, 15))
        | st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 3))
    )
    arr = _image(data, dtype, shape)
    h, w = shape[:2]
    x0 = data.draw(st.integers(-3, w - 1), label="x0")
    y0 = data.draw(st.integers(-3, h - 1), label="y0")
    x1 = data.draw(st.integers(max(x0, 0) + 1, w + 3), label="x1")
    y1 = data.draw(st.integers(max(y0, 0) + 1, h + 3), label="y1")
    want = arr[max(y0, 0) : y1, max(x0, 0) : x1]  # clipped to the image
    window = (x0, y0, x1, y1)
    chunks = data.draw(uneven_chunks(arr.shape), label="chunks")
    _check_or_empty(lambda: imgstats.compute(arr, FUNCS, window=window), want, FUNCS)
    lazy = da.from_array(arr, chunks=chunks)
    _check_or_empty(lambda: imgstats.compute(lazy, FUNCS, window=window), want, FUNCS)
    if valid_samples(want).size:
        s = imgstats.refine(imgstats.summarize(lazy, window=window), lazy, FUNCS, window=window)
        check_all(s.compute(FUNCS), want, FUNCS)


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ((5, 5, 5, 9), "empty"),
        ((5, 5, 9, 5), "empty"),
        ((9, 5, 5, 9), "inverted"),
        ((5, 9, 9, 5), "inverted"),
        ((1.5, 0, 4, 4), "whole pixels"),
        ((True, 0, 4, 4), "whole pixels"),
        ((0, 0, 4), "not 3"),
        ((0, 0, 4, 4, 5), "not 5"),
        ("0,0,4", "not 3"),
        ("0,0,4.5,4", "whole numbers"),
        ("a,b,c,d", "whole numbers"),
        (7, "four whole numbers"),
        ((100, 100, 120, 120), "outside the image"),
        ((-10, 0, 0, 5), "outside the image"),
    ],
)
def test_bad_windows_are_refused(window, message):
    arr = np.zeros((20, 30), np.uint8)
    with pytest.raises(InvalidOption, match=message):
        imgstats.compute(arr, "min", window=window)


def test_window_text_and_numpy_integers():
    assert parse_window(" 1, 2 ,3,4") == (1, 2, 3, 4)
    assert parse_window(np.array([1, 2, 3, 4])) == (1, 2, 3, 4)


def test_window_of_an_rgb_file_keeps_bands_and_luma(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    window = (7, 3, 31, 29)
    cut = rgb[3:29, 7:31]
    path = tmp_path / "rgb.png"
    check_all(imgstats.compute(path, FUNCS, window=window), cut, FUNCS)
    check_all(imgstats.compute(path, FUNCS, "G", window=window), cut[..., 1], FUNCS)
    luma = np.asarray(Image.fromarray(np.ascontiguousarray(cut)).convert("L"))
    check_all(imgstats.compute(path, FUNCS, "luma", window=window), luma, FUNCS)


def _count_segment_reads(monkeypatch, path):
    """Patch tifffile's file cache (the lazy zarr route) and its batched segment reader (the
    TIFF stream) to record which tiles or strips are read from ``path``."""
    fc = tifffile.tifffile.FileCache
    fh_class = tifffile.tifffile.FileHandle
    with tifffile.TiffFile(path) as tif:
        offsets = list(tif.pages[0].dataoffsets)
    seen = []
    original = fc.read
    original_segments = fh_class.read_segments

    def read(self, fh, offset, bytecount, whence=0):
        if offset in offsets:
            seen.append(offsets.index(offset))
        return original(self, fh, offset, bytecount, whence)

    def read_segments(self, wanted, *args, **kwargs):
        seen.extend(offsets.index(o) for o in wanted if o in offsets)
        return original_segments(self, wanted, *args, **kwargs)

    monkeypatch.setattr(fc, "read", read)
    monkeypatch.setattr(fh_class, "read_segments", read_segments)
    return seen


@pytest.mark.parametrize("layout", ["tiles", "strips"])
def test_window_of_a_tiff_reads_only_the_segments_it_touches(tmp_path, monkeypatch, layout):
    rng = np.random.default_rng(6)
    arr = rng.normal(size=(256, 192)).astype(np.float32)
    path = tmp_path / f"{layout}.tif"
    if layout == "tiles":
        tifffile.imwrite(path, arr, tile=(32, 32), compression="zlib")
    else:
        tifffile.imwrite(path, arr, rowsperstrip=16, compression="zlib")
    seen = _count_segment_reads(monkeypatch, path)
    window = (40, 70, 90, 100)  # x 40..89, y 70..99
    check_all(imgstats.compute(path, FUNCS, window=window), arr[70:100, 40:90], FUNCS)
    if layout == "tiles":  # tile rows 2..3, tile columns 1..2, 6 tiles across
        touched = {r * 6 + c for r in (2, 3) for c in (1, 2)}
    else:  # strips 4..6
        touched = {4, 5, 6}
    # read once for the summary, once more for the float32 refinement: never another segment
    assert set(seen) == touched
    assert len(seen) <= 2 * len(touched)


# -- polygons -----------------------------------------------------------------------------------
def test_the_pixel_centre_rule_on_known_shapes():
    # A 2x2 square from (0, 0): exactly the four pixels whose centres lie inside.
    box, mask = rasterize_polygon([(0, 0), (2, 0), (2, 2), (0, 2)], 10, 10)
    assert box == (0, 0, 2, 2) and mask.all()
    # Edges through pixel centres: GDAL's rule takes the right and top ones, not the others.
    box, mask = rasterize_polygon([(0.5, 0.5), (3.5, 0.5), (3.5, 2.5), (0.5, 2.5)], 10, 10)
    assert box == (1, 0, 4, 2) and mask.all()
    # A bow tie (self-intersecting): both lobes count (even-odd).
    box, mask = rasterize_polygon([(0, 0), (10, 10), (10, 0), (0, 10)], 10, 10)
    assert mask[5 - box[1], 0] and mask[5 - box[1], 9] and not mask[0, 5 - box[0]]


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
@pytest.mark.parametrize("seed", range(4))
def test_centres_on_edges_are_rasterized_as_gdal_rasterizes_them(seed):
    # before: a centre on an edge went to the span on its right (left edges in, right edges
    # out), the opposite of GDAL's scanline fill: a triangle of integer vertices lost its
    # hypotenuse's pixels ([(0, 0), (10, 0), (0, 10)]: 45 pixels, rasterio's 55). Integer
    # vertices put centres on slanted edges, never on a horizontal one (GDAL also burns some
    # horizontal edges lying on a row of centres, which imgstats does not)
    from rasterio.features import geometry_mask
    from rasterio.transform import Affine

    rng = np.random.default_rng(seed)
    h, w = 23, 29
    for _ in range(60):
        ring = rng.integers(-2, 31, (int(rng.integers(3, 9)), 2)).astype(float).tolist()
        try:
            polygon_rings(ring)
        except InvalidOption:
            continue  # degenerate: refused
        shape = {"type": "Polygon", "coordinates": [ring + ring[:1]]}
        want = ~geometry_mask([shape], (h, w), Affine.identity())
        box, mask = rasterize_polygon(ring, h, w)
        got = np.zeros((h, w), bool)
        if box is not None:
            got[box[1] : box[3], box[0] : box[2]] = mask
        np.testing.assert_array_equal(got, want, err_msg=str(ring))


def _brute_force(rings, h, w):
    yy, xx = np.mgrid[0:h, 0:w]
    return point_in_part(rings, xx + 0.5, yy + 0.5)


COORD = st.one_of(
    st.integers(-4, 24),
    st.floats(-4, 24, allow_nan=False).map(lambda v: round(v, 3)),
    st.integers(-8, 48).map(lambda v: v / 2),
)


@CORE
@given(vertices=st.lists(st.tuples(COORD, COORD), min_size=3, max_size=12))
def test_rasterizer_equals_a_brute_force_point_in_polygon(vertices):
    h, w = 17, 21
    try:
        rings = polygon_rings(vertices)
    except InvalidOption:
        return  # degenerate: refused (checked below)
    box, mask = rasterize_polygon(vertices, h, w)
    want = _brute_force(rings, h, w)
    got = np.zeros((h, w), bool)
    if box is not None:
        got[box[1] : box[3], box[0] : box[2]] = mask
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint32", "float32", "float64"])
@CORE
@given(data=st.data(), vertices=st.lists(st.tuples(COORD, COORD), min_size=3, max_size=8))
def test_polygon_statistics_equal_numpy_on_the_pixels_inside(dtype, data, vertices):
    arr = _image(data, dtype, (17, 21, 2))
    try:
        rings = polygon_rings(vertices)
    except InvalidOption:
        return
    inside = _brute_force(rings, 17, 21)
    chunks = data.draw(uneven_chunks(arr.shape), label="chunks")
    for image in (arr, da.from_array(arr, chunks=chunks)):
        if not inside.any():
            with pytest.raises(NoValidSamples):
                imgstats.compute(image, FUNCS, polygon=vertices)
            continue
        _check_or_empty(
            lambda image=image: imgstats.compute(image, FUNCS, polygon=vertices), arr[inside], FUNCS
        )
        _check_or_empty(
            lambda image=image: imgstats.compute(image, FUNCS, 1, polygon=vertices),
            arr[inside][:, 1],
            FUNCS,
        )


def test_geojson_polygon_subtracts_its_holes():
    arr = np.arange(30 * 40, dtype=np.uint16).reshape(30, 40)
    geo = {
        "type": "Polygon",
        "coordinates": [
            [[2, 2], [30, 2], [30, 25], [2, 25], [2, 2]],
            [[10, 10], [20, 10], [20, 20], [10, 20], [10, 10]],
        ],
    }
    want = np.zeros(arr.shape, bool)
    want[2:25, 2:30] = True
    want[10:20, 10:20] = False
    check_all(imgstats.compute(arr, FUNCS, polygon=geo), arr[want], FUNCS)
    feature = {"type": "Feature", "geometry": geo, "properties": {}}
    check_all(imgstats.compute(arr, FUNCS, polygon=feature), arr[want], FUNCS)


def test_positions_with_an_altitude_are_read_by_their_x_and_y():
    # before: a 3-D polygon (GeoJSON's [x, y, z] positions, a shapely "Polygon Z", a layer
    # ogr2ogr wrote from a 3-D source) was refused: "not shape (5, 3)"
    shapely = pytest.importorskip("shapely")
    arr = np.arange(30 * 40, dtype=np.uint16).reshape(30, 40)
    flat = [[[2, 2], [30, 2], [30, 25], [2, 25]], [[10, 10], [20, 10], [20, 20], [10, 20]]]
    raised = [[[x, y, 100.0 + x] for x, y in ring] for ring in flat]
    want = imgstats.compute(arr, FUNCS, polygon={"type": "Polygon", "coordinates": flat})
    for polygon in (
        {"type": "Polygon", "coordinates": raised},
        shapely.Polygon(raised[0], [raised[1]]),
    ):
        assert imgstats.compute(arr, FUNCS, polygon=polygon) == want
    assert imgstats.compute(arr, FUNCS, polygon=np.array(raised[0])) == imgstats.compute(
        arr, FUNCS, polygon=flat[0]
    )
    layer = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": c}}
            for c in (flat, raised)
        ],
    }
    table = imgstats.zonal(arr, layer, ["min", "median"])
    assert table.iloc[0].tolist() == table.iloc[1].tolist()
    assert table.iloc[0]["median"] == want["median"]


@pytest.mark.parametrize(
    ("polygon", "message"),
    [
        ([(0, 0), (5, 5)], "3 distinct"),
        ([(0, 0), (5, 5), (0, 0)], "3 distinct"),
        ([(0, 0), (1, 1), (2, 2), (3, 3)], "one line"),
        ([(0, 0), (1, np.nan), (2, 0)], "finite"),
        ([(0,), (1,), (2,)], "pairs"),
        ([(0, 0), ("a", 1), (2, 0)], "pairs"),
        ({"type": "Point", "coordinates": [1, 2]}, "Polygon"),
        ({"type": "Polygon", "coordinates": []}, "exterior"),
    ],
)
def test_bad_polygons_are_refused(polygon, message):
    with pytest.raises(InvalidOption, match=message):
        imgstats.compute(np.zeros((10, 10), np.uint8), "min", polygon=polygon)


def test_a_polygon_outside_the_image_selects_nothing():
    with pytest.raises(NoValidSamples, match="polygon"):
        imgstats.compute(
            np.zeros((10, 10), np.uint8), "min", polygon=[(20, 20), (30, 20), (25, 30)]
        )


# -- masks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@CORE
@given(data=st.data())
def test_mask_equals_numpy_on_the_masked_samples(dtype, data):
    shape = data.draw(st.tuples(st.integers(1, 12), st.integers(1, 12), st.integers(1, 3)))
    arr = _image(data, dtype, shape)
    mask = data.draw(hnp.arrays(np.bool_, shape[:2]), label="mask")
    chunks = data.draw(uneven_chunks(arr.shape), label="chunks")
    for image in (arr, da.from_array(arr, chunks=chunks)):
        if not mask.any():
            with pytest.raises(NoValidSamples):
                imgstats.compute(image, FUNCS, mask=mask)
            continue
        _check_or_empty(
            lambda image=image: imgstats.compute(image, FUNCS, mask=mask), arr[mask], FUNCS
        )


def test_mask_window_and_polygon_intersect():
    rng = np.random.default_rng(9)
    arr = rng.normal(size=(40, 50)).astype(np.float64)
    mask = rng.random((40, 50)) < 0.6
    poly = [(3.2, 1), (45, 6.5), (30, 38), (6, 30)]
    inside = _brute_force(polygon_rings(poly), 40, 50)
    win = np.zeros((40, 50), bool)
    win[5:35, 10:40] = True
    want = arr[mask & inside & win]
    got = imgstats.compute(
        da.from_array(arr, chunks=(7, 13)), FUNCS, mask=mask, polygon=poly, window=(10, 5, 40, 35)
    )
    check_all(got, want, FUNCS)


def test_masked_dask_blocks_without_pixels_are_not_read():
    arr = np.arange(100 * 100, dtype=np.float32).reshape(100, 100)
    reads = []

    def load(block, block_info=None):
        reads.append(block_info[0]["chunk-location"])
        return block

    lazy = da.from_array(arr, chunks=(25, 25)).map_blocks(load, dtype=arr.dtype)
    mask = np.zeros((100, 100), bool)
    mask[30:40, 60:70] = True  # inside block (1, 2) only
    assert imgstats.compute(lazy, "max", mask=mask) == float(arr[39, 69])
    assert set(reads) == {(1, 2)}


@pytest.mark.parametrize(
    ("mask", "error", "message"),
    [
        (np.ones((10, 11), bool), InvalidOption, "shape"),
        (np.ones((10, 10, 3), bool), InvalidOption, "shape"),
        (np.ones((10, 10), np.uint8), InvalidOption, "boolean"),
        (np.zeros((10, 10), bool), NoValidSamples, "mask"),
    ],
)
def test_bad_masks(mask, error, message):
    with pytest.raises(error, match=message):
        imgstats.compute(np.zeros((10, 10, 3), np.uint8), "min", mask=mask)


def test_select_keeps_band_names_and_refuses_other_ranks():
    arr = np.zeros((4, 5, 3), np.uint8)
    cut = select(arr, window=(1, 1, 3, 3))
    assert cut.shape == (2, 2, 3) and list(cut.band.values) == ["0", "1", "2"]
    with pytest.raises(InvalidOption, match="2-D or 3-D"):
        select(np.zeros(10), window=(0, 0, 1, 1))


def test_cli_window(tmp_path, capsys):
    import json

    from imgstats.cli import main

    rng = np.random.default_rng(4)
    arr = rng.normal(size=(30, 20)).astype(np.float32)
    tifffile.imwrite(tmp_path / "f.tif", arr, tile=(16, 16))
    assert (
        main(["stats", str(tmp_path / "f.tif"), "min", "p90", "--window", "2,3,15,27", "--json"])
        == 0
    )
    check_all(json.loads(capsys.readouterr().out), arr[3:27, 2:15], ["min", "p90"])
    assert main(["stats", str(tmp_path / "f.tif"), "min", "--window", "5,5,2,9"]) == 2
    assert "inverted" in capsys.readouterr().err


def test_rasterizing_a_large_polygon_works_in_bounded_batches():
    """Issue 18: the temporaries of the scanline fill follow a batch of rows, not the box."""
    import tracemalloc

    ring = [[0, 0], [4000, 0], [0, 4000]]
    tracemalloc.start()
    box, mask = rasterize_polygon(ring, 4000, 4000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert box == (0, 0, 4000, 4000) and mask.sum() == 4000 * 4001 // 2
    # the 16 MB boolean mask itself, plus about 21 MB per batch (an int8 and an int32 array
    # of 4 M pixels); the whole box at once was 16 + 64 MB of temporaries
    assert peak < 60e6


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
@pytest.mark.parametrize("region", ["mask", "polygon", "window"])
def test_a_masked_arrays_masked_samples_stay_out_of_a_region(dtype, region):
    # rasterio's read(masked=True) with mask= or polygon=: np.asarray of the picked pixels
    # dropped the array's mask (count 1374 where numpy counts 985); a window kept it
    rng = np.random.default_rng(19)
    data = (rng.normal(0, 100, (40, 50, 3)) + 300).astype(dtype)
    hidden = rng.random(data.shape) < 0.3  # a mask per band
    img = np.ma.masked_array(data, mask=hidden)
    where = {
        "mask": rng.integers(0, 4, (40, 50)) == 1,
        "polygon": [[0, 0], [30, 0], [30, 25], [0, 25]],
        "window": (0, 0, 30, 25),
    }[region]
    pixels = where if region == "mask" else np.zeros((40, 50), bool)
    if region != "mask":
        pixels[:25, :30] = True
    for band in (None, 2):
        got = imgstats.compute(img, ["count", "min", "median", "max"], band=band, **{region: where})
        values = data[pixels] if band is None else data[pixels][:, band]
        values = values[~(hidden[pixels] if band is None else hidden[pixels][:, band])]
        assert got == {
            "count": values.size,
            "min": values.min(),
            "median": np.median(values),
            "max": values.max(),
        }
