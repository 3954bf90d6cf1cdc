"""Float label rasters: whole numbers are zones, NaN is no zone.

geocube's ``make_geocube`` (geopandas polygons burnt onto a raster's grid) and
``rioxarray.open_rasterio(masked=True)`` of an integer label GeoTIFF with nodata both give
float labels with NaN where no zone lies; they were refused ("labels must be integers").
numpy is the oracle; a label that is not a whole number is refused.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import rasterio
from rasterio.features import rasterize
from rasterio.transform import Affine

import imgstats
from imgstats.errors import InvalidOption

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

H, W = 48, 64
RNG = np.random.default_rng(1313)
IMG = RNG.integers(0, 5000, (H, W)).astype(np.uint16)


def _oracle(labels, background=0):
    out = {}
    for z in np.unique(labels[~np.isnan(labels)]):
        if background is not None and z == background:
            continue
        v = IMG[labels == z]
        out[int(z)] = (v.size, float(np.median(v)), int(v.max()))
    return out


def _answers(frame):
    return {z: (int(r["count"]), r["median"], int(r["max"])) for z, r in frame.iterrows()}


@pytest.mark.parametrize("chunks", [None, (13, 17)])
@pytest.mark.parametrize("background", [0, None])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_whole_float_labels_are_zones_and_nan_is_none(chunks, background, dtype):
    labels = RNG.integers(-2, 6, (H, W)).astype(dtype)
    labels[labels == 5] = np.nan
    zones = labels if chunks is None else da.from_array(labels, chunks=chunks)
    frame = imgstats.zonal(IMG, zones, ["median", "max"], background=background)
    assert _answers(frame) == _oracle(labels, background)
    assert frame.index.dtype == np.int64


def test_polygons_burnt_as_geocube_burns_them():
    """rasterize (what geocube calls) with NaN fill and float64 ids."""
    transform = Affine(10.0, 0.0, 0.0, 0.0, -10.0, H * 10.0)
    shapes = [
        ({"type": "Polygon", "coordinates": [[(5, 5), (300, 40), (120, 400), (5, 5)]]}, 7),
        (
            {"type": "Polygon", "coordinates": [[(320, 100), (630, 100), (630, 470), (320, 100)]]},
            1e6,
        ),
    ]
    labels = rasterize(shapes, (H, W), fill=np.nan, transform=transform, dtype="float64")
    frame = imgstats.zonal(IMG, labels, ["median", "max"])
    assert _answers(frame) == _oracle(labels) and set(frame.index) == {7, 1_000_000}


def test_a_rioxarray_masked_label_raster_answers_as_its_file(tmp_path):
    rioxarray = pytest.importorskip("rioxarray")
    labels = RNG.integers(0, 9, (H, W)).astype(np.int16)
    path = tmp_path / "labels.tif"
    profile = dict(driver="GTiff", height=H, width=W, count=1, dtype="int16", nodata=8)
    transform = Affine(10.0, 0.0, 0.0, 0.0, -10.0, H * 10.0)
    with rasterio.open(path, "w", transform=transform, crs="EPSG:32633", **profile) as ds:
        ds.write(labels, 1)
    masked = rioxarray.open_rasterio(path, masked=True).squeeze("band", drop=True)
    assert masked.dtype.kind == "f"
    for background in (0, None):
        got = imgstats.zonal(IMG, masked, ["median", "max"], background=background)
        want = imgstats.zonal(IMG, path, ["median", "max"], background=background)
        assert got.to_dict() == want.to_dict()
        assert 8 not in got.index


@pytest.mark.parametrize("bad", [1.5, np.inf, -np.inf, 2.0**63])
@pytest.mark.parametrize("lazy", [False, True])
def test_a_label_that_is_no_whole_number_is_refused(bad, lazy):
    labels = np.ones((H, W))
    labels[3, 4] = bad
    zones = da.from_array(labels, chunks=(16, 16)) if lazy else labels
    with pytest.raises(InvalidOption, match="float labels must be whole numbers"):
        imgstats.zonal(IMG, zones, ["max"])


def test_float_labels_are_converted_strip_by_strip():
    """Whole, the conversion held about four label-sized temporaries beside the int64
    labels (25 MP of float64 labels: 800 MB); by strips of rows, a few MiB."""
    import tracemalloc

    from imgstats.zones import _whole_labels

    labels = np.random.default_rng(1).integers(0, 1000, (2000, 2000)).astype(np.float64)
    labels[5, 5] = np.nan
    tracemalloc.start()
    try:
        out, nan = _whole_labels(labels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.dtype == np.int64 and nan[5, 5] and out[0, 0] == labels[0, 0]
    assert peak < out.nbytes + nan.nbytes + (24 << 20)
