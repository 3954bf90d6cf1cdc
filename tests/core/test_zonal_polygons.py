"""Polygon zones against numpy: any layout (overlaps, holes, parts, degenerate, off the
image), dtypes with NaN, uneven chunkings, and the rasterizer against point-in-polygon.

The oracle is :func:`imgstats.regions.point_in_part` on every pixel centre (even-odd over a
polygon's rings, as GDAL fills them; parts united), then numpy on each zone's valid samples.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import imgstats
from imgstats._raster import Layer
from imgstats.errors import InvalidOption
from imgstats.regions import point_in_part, polygon_rings

from .test_zonal import _elements, check

CORE = settings.get_profile("imgstats-core")
FUNCS = ["min", "max", "mean", "median", "p10", "p99.9"]


def brute_force(parts, shape) -> np.ndarray:
    """The pixels whose centre lies inside a feature (a list of polygons, rings each)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    out = np.zeros(shape, bool)
    for rings in parts:
        out |= point_in_part([np.asarray(r, np.float64) for r in rings], xx + 0.5, yy + 0.5)
    return out


def coordinate():
    # whole and half pixels (centres and edges land exactly on crossings), and any float
    return (
        st.integers(-6, 34).map(float)
        | st.integers(-12, 68).map(lambda v: v / 2)
        | st.floats(-6, 34, allow_nan=False)
    )


def ring():
    return st.lists(st.tuples(coordinate(), coordinate()), min_size=3, max_size=8)


def valid_polygon(rings):
    try:
        polygon_rings({"type": "Polygon", "coordinates": [list(map(list, r)) for r in rings]})
    except InvalidOption:
        return False
    return True


polygon = st.lists(ring(), min_size=1, max_size=3).filter(valid_polygon)
feature = st.lists(polygon, min_size=1, max_size=2)


@settings(CORE)
@given(
    data=st.data(),
    dtype=st.sampled_from([np.uint8, np.int16, np.uint32, np.float32, np.float64]),
    shape=st.tuples(st.integers(1, 28), st.integers(1, 28)),
    features=st.lists(feature, min_size=1, max_size=5),
)
def test_polygon_zones_equal_numpy_any_layout_any_chunking(data, dtype, shape, features):
    img = data.draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))
    layer = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {
                    "type": "MultiPolygon",
                    "coordinates": [[list(map(list, r)) for r in poly] for poly in parts],
                },
            }
            for parts in features
        ],
    }
    masks = {i: brute_force(parts, shape) for i, parts in enumerate(features)}
    cy = data.draw(st.integers(1, shape[0]))
    cx = data.draw(st.integers(1, shape[1]))
    for source in (img, da.from_array(img, chunks=(cy, cx))):
        check(imgstats.zonal(source, layer, FUNCS), img, masks, FUNCS)


@settings(CORE)
@given(features=st.lists(feature, min_size=1, max_size=4), data=st.data())
def test_spans_of_any_block_equal_point_in_polygon(features, data):
    shape = (30, 30)
    parts = [[[np.asarray(r, np.float64) for r in poly] for poly in feat] for feat in features]
    checked = [[polygon_rings({"type": "Polygon", "coordinates": p}) for p in f] for f in parts]
    layer = Layer([((-10, -10, 50, 50), f) for f in checked])
    y0 = data.draw(st.integers(0, 29))
    y1 = data.draw(st.integers(y0 + 1, 30))
    x0 = data.draw(st.integers(0, 29))
    x1 = data.draw(st.integers(x0 + 1, 30))
    feats = np.arange(len(checked), dtype=np.int64)
    rows, starts, stops, ks = layer.spans(feats, y0, y1, x0, x1)
    for k, f in enumerate(checked):
        mine = ks == k
        got = layer.mask((rows[mine], starts[mine], stops[mine], ks[mine]), y0, y1, x0, x1)
        want = brute_force(f, shape)[y0:y1, x0:x1]
        np.testing.assert_array_equal(got, want)


def test_multiband_polygons_pool_every_band():
    rng = np.random.default_rng(5)
    img = rng.integers(0, 1000, (20, 24, 3)).astype(np.uint16)
    tri = [[1, 1], [20, 2], [4, 18]]
    frame = imgstats.zonal(img, [tri], ["min", "median", "p90"])
    mask = brute_force([[tri]], (20, 24))
    v = img[mask].reshape(-1)
    assert frame.loc[0, "count"] == v.size
    assert frame.loc[0, "median"] == np.median(v)
    assert frame.loc[0, "p90"] == np.percentile(v, 90)
