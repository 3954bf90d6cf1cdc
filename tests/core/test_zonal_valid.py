"""Zonal statistics count GDAL's valid samples: a dataset mask (internal or sidecar) and an
alpha band, as ``compute`` does, with rasterio's ``read(masked=True)`` as the oracle.

Each file is read eagerly, through dask in uneven chunks, and streamed tile by tile; the
zones are labels and polygons.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr

import imgstats
import imgstats.io

from .test_meaning_valid import _write
from .test_zonal import oracle, same_number

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

FUNCS = ["min", "max", "mean", "median", "p2", "p98"]
H, W = 150, 230
RNG = np.random.default_rng(170)
POLYGONS = [
    [[3.2, 4.1], [140.5, 10.0], [60.0, 120.7]],
    [[100.0, 20.0], [229.0, 20.0], [229.0, 149.0], [100.0, 149.0]],  # overlaps the first
    [[0.0, 100.0], [40.0, 100.0], [40.0, 150.0], [0.0, 150.0]],
]


def _masked_bands(path):
    """``(bands, y, x)`` masked samples of the colour bands (alpha never pooled)."""
    with rasterio.open(path) as src:
        alpha = {i for i, c in enumerate(src.colorinterp) if c == rasterio.enums.ColorInterp.alpha}
        return [src.read(b + 1, masked=True) for b in range(src.count) if b not in alpha]


def _zone_masks(kind):
    yy, xx = np.mgrid[0:H, 0:W]
    if kind == "labels":
        labels = (yy // 40) * 10 + xx // 60 + 1
        return labels, {int(z): labels == z for z in np.unique(labels)}
    from imgstats.regions import point_in_ring

    masks = {
        i: point_in_ring(np.asarray(p, np.float64), xx + 0.5, yy + 0.5)
        for i, p in enumerate(POLYGONS)
    }
    return POLYGONS, masks


def _check(frame, bands, masks):
    for zone, m in masks.items():
        parts = [b[m].compressed() for b in bands]
        v = np.concatenate(parts)
        valid = v[~np.isnan(v)] if v.dtype.kind == "f" else v
        assert frame.at[zone, "count"] == valid.size, zone
        for f in FUNCS:
            got = frame.at[zone, f]
            if valid.size == 0:
                assert pd.isna(got)
                continue
            got = got.item() if hasattr(got, "item") else got
            assert same_number(got, oracle(valid, f)), (zone, f, got)


@pytest.fixture(params=["eager", "dask", "stream"])
def read(request, monkeypatch):
    if request.param == "stream":
        monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)
    return {"chunks": {0: 37, 1: 51}} if request.param == "dask" else {}


@pytest.mark.parametrize("zones", ["labels", "polygons"])
@pytest.mark.parametrize(
    ("dtype", "bands", "how"),
    [
        (np.uint8, 1, "internal"),
        (np.float32, 1, "internal"),
        (np.int32, 2, "sidecar"),
        (np.uint16, 1, "sidecar"),
        (np.uint8, 4, "alpha"),
        (np.uint16, 4, "alpha"),
    ],
)
def test_zonal_counts_the_masked_reading(tmp_path, read, zones, dtype, bands, how):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        data = RNG.normal(100, 30, (bands, H, W)).astype(dtype)
        data[0, 5:9, 7:30] = np.nan
    else:
        info = np.iinfo(dtype)
        data = RNG.integers(info.min, min(info.max, 5000), (bands, H, W), endpoint=True)
        data = data.astype(dtype)
    mask = RNG.random((H, W)) > 0.3
    mask[:, 200:] = False  # a zone part wholly masked
    kw = {}
    if how == "alpha":
        data[3] = np.where(mask, np.iinfo(dtype).max, 0)
        kw["alpha"] = True
    else:
        kw["mask"] = mask
        kw["sidecar"] = how == "sidecar"
    path = _write(tmp_path / "m.tif", data, **kw)
    layout, masks = _zone_masks(zones)
    frame = imgstats.zonal(str(path), layout, FUNCS, **read)
    _check(frame, _masked_bands(path), masks)


def test_one_band_of_an_rgba_image_and_its_alpha(tmp_path):
    data = RNG.integers(0, 255, (4, H, W), endpoint=True).astype(np.uint8)
    data[3] = np.where(RNG.random((H, W)) > 0.5, 255, 0)
    path = _write(tmp_path / "a.tif", data, alpha=True)
    layout, masks = _zone_masks("polygons")
    green = imgstats.zonal(str(path), layout, FUNCS, band="G")
    with rasterio.open(path) as src:
        _check(green, [src.read(2, masked=True)], masks)
        # GDAL gives the alpha band no mask of its own: all its samples count
        alpha = imgstats.zonal(str(path), layout, FUNCS, band=3)
        _check(alpha, [np.ma.masked_array(src.read(4))], masks)


def test_raw_counts_every_sample(tmp_path):
    data = RNG.integers(0, 255, (1, H, W), endpoint=True).astype(np.uint8)
    path = _write(tmp_path / "r.tif", data, mask=RNG.random((H, W)) > 0.5)
    layout, masks = _zone_masks("labels")
    frame = imgstats.zonal(str(path), layout, FUNCS, raw=True)
    _check(frame, [np.ma.masked_array(data[0])], masks)


# -- a label image's pixels that hold no label -------------------------------------------------
def _unlabelled_cases(tmp_path, labels, gone):
    """The same labels, their ``gone`` pixels holding no label, as each source says it."""
    nodata = labels.copy()
    nodata[gone] = 255
    yield "nodata tag", _write(tmp_path / "nodata.tif", nodata[None], nodata=255)
    yield "internal mask", _write(tmp_path / "mask.tif", labels[None], mask=~gone)
    yield "sidecar", _write(tmp_path / "side.tif", labels[None], mask=~gone, sidecar=True)
    yield "masked array", np.ma.masked_array(labels, mask=gone)
    yield "dask masked", da.from_array(np.ma.masked_array(labels, mask=gone), chunks=(41, 67))
    yield "attrs", xr.DataArray(nodata.T, dims=("x", "y"), attrs={"nodata": 255})
    yield "_FillValue", xr.DataArray(nodata, dims=("y", "x"), attrs={"_FillValue": 255})


@pytest.mark.parametrize("background", [0, None, -1])
def test_the_pixels_of_a_label_image_that_hold_no_label_are_no_zone(tmp_path, background):
    # before: a label raster's nodata value was a zone of its own (255, over the pixels
    # that have no label), and its mask or a masked array's mask was ignored
    labels, _ = _zone_masks("labels")
    labels = labels.astype(np.uint8)
    gone = RNG.random((H, W)) < 0.2
    gone[:40, :60] = True  # zone 1 holds no label at all
    image = RNG.normal(100, 30, (H, W)).astype(np.float32)
    kept = ~gone & ((labels != background) if background is not None else True)
    want = {int(z): kept & (labels == z) for z in np.unique(labels[kept])}
    assert 1 not in want
    for name, source in _unlabelled_cases(tmp_path, labels, gone):
        frame = imgstats.zonal(image, source, FUNCS, background=background)
        assert frame.index.tolist() == sorted(want), name
        _check(frame, [np.ma.masked_array(image)], want)


@pytest.mark.parametrize("kind", ["tiff", "png"])
def test_a_palette_label_raster_is_read_by_its_class_indices(tmp_path, kind):
    # before: its colours were read, three bands, and refused ("a label image has dims
    # (y, x), not shape (150, 230, 3)"): a land-cover GeoTIFF could not be the zones
    import tifffile
    from PIL import Image

    classes = (RNG.integers(0, 6, (H, W))).astype(np.uint8)
    colours = RNG.integers(0, 256, (256, 3)).astype(np.uint8)
    path = tmp_path / f"classes.{'tif' if kind == 'tiff' else 'png'}"
    if kind == "tiff":
        cmap = colours.T.astype(np.uint16) * 257
        tifffile.imwrite(path, classes, photometric="palette", colormap=cmap)
    else:
        img = Image.fromarray(classes, "P")
        img.putpalette(colours.reshape(-1).tolist())
        img.save(path)
    image = RNG.normal(100, 30, (H, W)).astype(np.float32)
    frame = imgstats.zonal(image, str(path), FUNCS, background=0)
    want = {int(z): classes == z for z in range(1, 6)}
    assert frame.index.tolist() == sorted(want)
    _check(frame, [np.ma.masked_array(image)], want)
