"""Holes whose edges lie on rows of pixel centres, rasterized as GDAL rasterizes them.

rasterio's ``geometry_mask`` (``all_touched=False``: GDAL's scanline fill, by pixel centre)
is the oracle, for ``polygon=`` and the zones alike.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import imgstats

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
H, W = 24, 26


def _ring(rng, x0, y0, x1, y1):
    """A rectangle or an L of those bounds, either way round, closed."""
    if rng.random() < 0.5:
        ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    else:
        xm, ym = math.floor((x0 + x1) / 2) + 0.5, math.floor((y0 + y1) / 2) + 0.5
        ring = [(x0, y0), (x1, y0), (x1, ym), (xm, ym), (xm, y1), (x0, y1)]
        if rng.random() < 0.5:
            ring = [(x, y0 + y1 - y) for x, y in ring]
    if rng.random() < 0.5:
        ring = ring[::-1]
    return [list(p) for p in ring + ring[:1]]


def _polygons(seed, n=15):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x0, y0 = int(rng.integers(2, 11)) + float(rng.choice([0, 0.5])), rng.integers(2, 11) + 0.5
        hole = _ring(rng, x0, y0, x0 + int(rng.integers(3, 10)), y0 + int(rng.integers(3, 10)))
        outer = _ring(rng, 1.5, 1.5, 22.5, 22.5) if rng.random() < 0.5 else None
        if outer is None or len(outer) != 5:  # the L exterior would cut the hole: a rectangle
            outer = [[1.5, 1.5], [22.5, 1.5], [22.5, 22.5], [1.5, 22.5], [1.5, 1.5]]
            if rng.random() < 0.5:
                outer = outer[::-1]
        out.append({"type": "Polygon", "coordinates": [outer, hole]})
    return out


@pytest.mark.parametrize("seed", range(3))
def test_a_hole_edge_on_a_row_of_centres_is_rasterized_as_gdal_does(seed):
    # before: the centres on a hole's top edge (the hole below it) were in the hole, where
    # GDAL fills them: a 4 x 4 hole of a 14 x 14 square took 184 pixels for rasterio's 180
    from rasterio.features import geometry_mask
    from rasterio.transform import Affine

    img = np.arange(H * W, dtype=np.int32).reshape(H, W)
    polygons = _polygons(seed)
    wants = [~geometry_mask([p], (H, W), Affine.identity()) for p in polygons]
    for polygon, want in zip(polygons, wants, strict=True):
        got = imgstats.compute(img, ["count", "sum"], polygon=polygon)
        assert got == {"count": want.sum(), "sum": img[want].sum()}, polygon
    frame = imgstats.zonal(img, polygons, ["count", "mean"])
    assert frame["count"].tolist() == [w.sum() for w in wants]
    assert frame["mean"].tolist() == [img[w].mean() for w in wants]
