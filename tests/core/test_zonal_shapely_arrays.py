"""Polygons as shapely 2 gives them: a numpy array of geometries (its vectorized functions'
result) or a pandas Series of them is a layer, not a label image of shape ``(n,)``.

rasterio's ``geometry_mask`` (pixel centres) is the oracle of the pixels, numpy of the numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rasterio.features import geometry_mask
from rasterio.transform import Affine

import imgstats

shapely = pytest.importorskip("shapely")

IMG = np.random.default_rng(1313).integers(0, 9000, (64, 80)).astype(np.uint16)


def _check(frame, geoms):
    assert frame.index.tolist() == list(range(len(geoms)))
    for i, geom in enumerate(geoms):
        values = IMG[~geometry_mask([geom], IMG.shape, Affine.identity())]
        assert frame.loc[i, "count"] == values.size > 0
        assert frame.loc[i, "median"] == np.median(values)


def test_a_numpy_array_of_geometries_is_a_layer():
    geoms = shapely.buffer(shapely.points([10.2, 50.3, 70.1], [20.1, 40.7, 9.3]), 8.3)
    assert isinstance(geoms, np.ndarray) and geoms.dtype == object
    _check(imgstats.zonal(IMG, geoms, ["median"]), list(geoms))


def test_a_series_of_geometries_is_a_layer():
    geoms = [shapely.box(3.2, 4.1, 30.7, 20.3), shapely.box(40.1, 30.2, 75.3, 60.9)]
    _check(imgstats.zonal(IMG, pd.Series(geoms, index=["a", "b"]), ["median"]), geoms)
