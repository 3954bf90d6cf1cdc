"""Masks everywhere (issue 16): a region of a file, a collection, an array of open_image, the
CLI: each honours the file's nodata, dataset mask (internal or ``.msk``) and alpha, with
rasterio's ``read(masked=True)`` as the oracle (the files are written with rasterio)."""

from __future__ import annotations

import json
import subprocess
import warnings

import numpy as np
import pytest
import rasterio

import imgstats
import imgstats.io
from imgstats.errors import ImgStatsError, InvalidOption, NoValidSamples

from .oracle import check_all
from .test_meaning_valid import FUNCS, H, W, _image, _write

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

RNG = np.random.default_rng(1616)

#: A polygon whose pixel centres are plain: columns 10..199, rows 5..139.
POLYGON = [(10.0, 5.0), (200.0, 5.0), (200.0, 140.0), (10.0, 140.0)]
IN_POLYGON = np.zeros((H, W), bool)
IN_POLYGON[5:140, 10:200] = True


def _masked(path):
    """GDAL's masked reading ``(bands, y, x)`` and which bands are alpha."""
    with rasterio.open(path) as src:
        arr = src.read(masked=True)
        alpha = [i for i, c in enumerate(src.colorinterp) if c == rasterio.enums.ColorInterp.alpha]
    return arr, alpha


def _valid(path, pixels=None, band=None):
    """The oracle: GDAL's valid samples of the colour bands (or ``band``) on ``pixels``."""
    arr, alpha = _masked(path)
    bands = [band] if band is not None else [b for b in range(arr.shape[0]) if b not in alpha]
    parts = []
    for b in bands:
        one = arr[b]
        keep = ~np.ma.getmaskarray(one)
        if pixels is not None:
            keep &= pixels
        v = one.data[keep]
        parts.append(v[~np.isnan(v)] if v.dtype.kind == "f" else v)
    return np.concatenate(parts)


def _file(tmp_path, kind, dtype="uint16", bands=1, tiled=True):
    """A file whose validity is ``kind``: nodata, internal or sidecar mask, alpha."""
    data = _image(dtype, bands)
    if kind == "alpha":
        data = _image("uint8", 4)
        data[3] = 255
        data[3][RNG.random((H, W)) < 0.3] = 0
        return _write(tmp_path / "a.tif", data, alpha=True, tiled=tiled)
    if kind == "nodata":
        data[:, RNG.random((H, W)) < 0.3] = 7
        return _write(tmp_path / "n.tif", data, nodata=7, tiled=tiled)
    mask = np.ones((H, W), bool)
    mask[20:60, 30:180] = False
    mask[RNG.random((H, W)) < 0.1] = False
    return _write(tmp_path / "m.tif", data, mask=mask, sidecar=kind == "sidecar", tiled=tiled)


KINDS = ["nodata", "internal", "sidecar", "alpha"]


@pytest.fixture(params=["eager", "dask", "stream"])
def read_path(request, monkeypatch):
    """``compute`` on a path by one of the three read paths."""
    if request.param == "stream":
        monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)

    def compute(path, funcs, **kw):
        if request.param == "dask":
            kw["chunks"] = {0: 37, 1: 51}  # uneven, across the 64 x 32 tiles
        return imgstats.compute(path, funcs, **kw)

    return compute


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", ["uint16", "float32", "int16"])
@pytest.mark.parametrize("tiled", [True, False], ids=["tiled", "striped"])
def test_mask_and_polygon_regions_honour_the_file(tmp_path, kind, dtype, tiled):
    path = _file(tmp_path, kind, dtype, bands=2 if dtype == "float32" else 1, tiled=tiled)
    pixels = RNG.random((H, W)) < 0.5
    check_all(imgstats.compute(path, FUNCS, mask=pixels), _valid(path, pixels), FUNCS)
    check_all(imgstats.compute(path, FUNCS, polygon=POLYGON), _valid(path, IN_POLYGON), FUNCS)
    # a region through dask (chunks=): the window's route that is not a stream
    win = np.zeros((H, W), bool)
    win[7:133, 11:201] = True
    got = imgstats.compute(path, FUNCS, window=(11, 7, 201, 133), chunks={0: 37, 1: 51})
    check_all(got, _valid(path, win), FUNCS)


@pytest.mark.parametrize("kind", KINDS)
def test_a_region_counts_its_masked_pixels(tmp_path, kind):
    path = _file(tmp_path, kind)
    pixels = RNG.random((H, W)) < 0.5
    got = imgstats.compute(path, ["count", "masked_pixels"], mask=pixels)
    valid = _valid(path, pixels)
    assert got["count"] == valid.size
    nbands = 3 if kind == "alpha" else 1  # alpha: the colour bands' samples
    assert got["masked_pixels"] == nbands * int(pixels.sum()) - valid.size


@pytest.mark.parametrize("kind", ["internal", "sidecar"])
def test_a_region_outside_the_mask_has_no_valid_sample(tmp_path, kind):
    path = _file(tmp_path, kind)
    hole = np.zeros((H, W), bool)
    hole[25:55, 40:170] = True  # inside the masked rectangle
    with pytest.raises(NoValidSamples):
        imgstats.compute(path, "mean", mask=hole)
    # raw=True reads every sample of the region
    data = _image("uint16")
    assert imgstats.compute(path, "count", mask=hole, raw=True) == int(hole.sum())
    assert data.dtype == np.uint16


@pytest.mark.parametrize("kind", ["internal", "sidecar"])
def test_open_image_array_keeps_the_mask(tmp_path, kind):
    path = _file(tmp_path, kind)
    img = imgstats.open_image(path)
    check_all(imgstats.compute(img, FUNCS), _valid(path), FUNCS)
    lazy = imgstats.open_image(path, chunks={0: 37, 1: 51})
    check_all(imgstats.compute(lazy, FUNCS), _valid(path), FUNCS)
    # a slice has lost the mask's place: refused, not answered wrong
    with pytest.raises(InvalidOption, match="window="):
        imgstats.compute(img[10:50], "mean")


@pytest.mark.parametrize("dtype", ["int8", "int16", "uint8", "float64"])
def test_masked_kernels_on_every_small_type(tmp_path, dtype, monkeypatch):
    path = _file(tmp_path, "internal", dtype, bands=3 if dtype == "uint8" else 1)
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)  # streamed: mask tile pairs
    check_all(imgstats.compute(path, FUNCS), _valid(path), FUNCS)
    got = imgstats.compute(path, ["count", "masked_pixels"])
    assert got["count"] == _valid(path).size


def test_cli_region_honours_the_mask(tmp_path):
    path = _file(tmp_path, "internal")
    win = np.zeros((H, W), bool)
    win[7:133, 11:201] = True
    out = subprocess.run(
        ["imgstats", "stats", str(path), "min", "mean", "--json", "--window", "11,7,201,133"],
        capture_output=True,
        text=True,
        check=True,
    )
    check_all(json.loads(out.stdout), _valid(path, win), ["min", "mean"])


def _rgba(dtype, share):
    """A ``(y, x, 4)`` RGBA DataArray of ``dtype``, ``share`` of its pixels transparent."""
    import xarray as xr

    rgb = RNG.normal(100, 30, (H, W, 3)).astype(dtype)
    alpha = np.where(RNG.random((H, W)) < share, 0, 1).astype(dtype)
    data = np.concatenate([rgb, alpha[..., None]], axis=-1)
    return xr.DataArray(data, dims=("y", "x", "band"), coords={"band": list("RGBA")})


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_collection_of_float_rgba_refines_the_colour_samples(dtype):
    images = [_rgba(dtype, 0.3), _rgba(dtype, 0.6)]
    # numpy on the colour samples of the opaque pixels: alpha never pooled, alpha 0 left out
    valid = np.concatenate([img.values[img.values[..., 3] != 0][:, :3].ravel() for img in images])
    funcs = ["min", "median", "p2", "p98", "p99.9"]
    check_all(imgstats.compute(images, funcs), valid, funcs)
    one = np.concatenate([img.values[img.values[..., 3] != 0][:, 1] for img in images])
    check_all(imgstats.compute(images, funcs, band="G"), one, funcs)


@pytest.mark.parametrize("kind", ["nodata", "internal", "sidecar"])
def test_a_collection_of_masked_files_refines_the_valid_samples(tmp_path, kind):
    paths = []
    valid = []
    for i in range(2):
        folder = tmp_path / str(i)
        folder.mkdir()
        path = _file(folder, kind, "float32", bands=2)
        paths.append(path)
        valid.append(_valid(path))
    funcs = ["min", "median", "p2", "p98"]
    check_all(imgstats.compute(paths, funcs), np.concatenate(valid), funcs)
    check_all(imgstats.compute(paths, funcs, window=(11, 7, 201, 133)), _windowed(paths), funcs)


def _windowed(paths):
    win = np.zeros((H, W), bool)
    win[7:133, 11:201] = True
    return np.concatenate([_valid(p, win) for p in paths])


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_a_collection_with_thousands_of_keys_in_a_bin_sorts_them_right(dtype):
    # a bin of over 4096 collected keys is radix-sorted below its shift: the shift, not the
    # prefix (float64 collections answered a wrong median before)
    a = (RNG.normal(100, 30, (300, 400)) * (1 if dtype[0] == "f" else 1000)).astype(dtype)
    b = a[:70, :90] + a.dtype.type(1)
    funcs = ["median", "p30", "p99"]
    check_all(imgstats.compute([a, b], funcs), np.concatenate([a.ravel(), b.ravel()]), funcs)


@pytest.mark.parametrize("dtype", ["int32", "uint32", "int64"])
@pytest.mark.parametrize("kind", ["nodata", "internal", "alpha"])
def test_wide_integer_bands_with_nodata_or_alpha(tmp_path, read_path, dtype, kind):
    bands = 3
    if kind == "alpha":
        data = _image(dtype, 4)
        data[3] = np.where(RNG.random((H, W)) < 0.3, 0, 255)
        path = _write(tmp_path / "a.tif", data, alpha=True)
    elif kind == "nodata":
        data = _image(dtype, bands)
        data[RNG.random((bands, H, W)) < 0.3] = 9  # each band its own holes
        path = _write(tmp_path / "n.tif", data, nodata=9)
    else:
        path = _file(tmp_path, "internal", dtype, bands=bands)
    if kind == "alpha":
        # GDAL takes alpha as a mask of 8- and 16-bit unsigned bands only (its mask flags
        # say all_valid here); imgstats leaves transparent pixels out whatever the type:
        # numpy's colour samples of the opaque pixels are the oracle
        opaque = data[3] != 0

        def valid(band=None):
            cols = [band] if band is not None else range(3)
            return np.concatenate([data[c][opaque] for c in cols])
    else:

        def valid(band=None):
            return _valid(path, band=band)

    check_all(read_path(path, FUNCS), valid(), FUNCS)
    for b in range(bands):
        check_all(read_path(path, FUNCS, band=b), valid(b), FUNCS)
    got = read_path(path, ["count", "masked_pixels"])
    assert got["count"] == valid().size
    assert got["masked_pixels"] == bands * H * W - valid().size
    if kind == "alpha":  # band="A" reads the alpha itself, every sample
        check_all(read_path(path, FUNCS, band="A"), data[3].ravel(), FUNCS)


def _corrupt(path):
    """Break the deflate streams of ``path``'s mask page (page 1)."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        offsets = tif.pages[1].dataoffsets
    raw = bytearray(path.read_bytes())
    for off in offsets:
        raw[off : off + 16] = b"\xff" * 16
    path.write_bytes(bytes(raw))
    return path


def test_a_corrupt_mask_is_an_imgstats_error_on_every_route(tmp_path):
    path = _corrupt(_file(tmp_path, "internal"))
    pixels = RNG.random((H, W)) < 0.5
    for kw in ({}, {"mask": pixels}, {"polygon": POLYGON}, {"window": (0, 0, 50, 50)}):
        with pytest.raises(ImgStatsError):
            imgstats.compute(path, "mean", **kw)
    with pytest.raises(ImgStatsError):
        imgstats.compute([path, path], "median")
    out = subprocess.run(
        ["imgstats", "stats", str(path), "mean"], capture_output=True, text=True, check=False
    )
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "mask" in out.stderr


def test_a_corrupt_sidecar_is_an_imgstats_error(tmp_path):
    path = _file(tmp_path, "sidecar")
    (tmp_path / "m.tif.msk").write_bytes(b"II*\x00 not a mask")
    with pytest.raises(ImgStatsError):
        imgstats.compute(path, "mean")
    with pytest.raises(ImgStatsError):
        imgstats.compute(path, "mean", mask=RNG.random((H, W)) < 0.5)


def test_a_corrupt_mask_is_a_4xx_over_http(tmp_path):
    from imgstats.web import create_app

    folder = tmp_path / "images"
    folder.mkdir()
    _corrupt(_file(folder, "internal"))
    app = create_app({"IMAGES": str(folder), "TESTING": True, "WARMUP": False})
    with app.test_client() as client:
        response = client.get("/stats/m.tif/mean")
        assert 400 <= response.status_code < 500, response.get_data(as_text=True)
        assert "error" in response.get_json()


@pytest.mark.parametrize("kind", ["internal", "sidecar", "nodata"])
def test_http_regions_honour_the_mask(tmp_path, kind):
    from imgstats.web import create_app

    folder = tmp_path / "images"
    folder.mkdir()
    path = _file(folder, kind)
    app = create_app({"IMAGES": str(folder), "TESTING": True, "WARMUP": False})
    funcs = ["min", "max", "mean", "median", "count"]
    win = np.zeros((H, W), bool)
    win[7:133, 11:201] = True
    ring = [list(p) for p in POLYGON]
    window = [11, 7, 201, 133]
    with app.test_client() as client:
        for body, pixels in (
            ({"polygon": ring}, IN_POLYGON),
            ({"window": window}, win),
            ({"window": window, "polygon": ring}, win & IN_POLYGON),
        ):
            response = client.post(f"/stats/{path.name}", json={"funcs": funcs, **body})
            assert response.status_code == 200, response.get_json()
            values = response.get_json()["values"]
            assert values.pop("count") == _valid(path, pixels).size
            check_all(values, _valid(path, pixels), funcs[:-1])


@pytest.mark.parametrize("key", ["_FillValue", "missing_value"])
@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_a_cf_fill_value_in_the_attrs_is_nodata(key, dtype):
    """A DataArray that xarray did not decode (``mask_and_scale=False``), or rioxarray's
    ``open_rasterio(masked=False)``, keeps its nodata as ``_FillValue`` (or CF's
    ``missing_value``) in its attrs: left out like ``attrs["nodata"]``, by ``compute``,
    ``dim=`` and ``zonal``; ``nodata`` wins when both are there, ``raw=True`` counts all."""
    import xarray as xr

    rng = np.random.default_rng(16)
    arr = rng.integers(0, 100, (3, 40, 50)).astype(dtype)
    arr[:, :10] = -9999
    fill = np.array([-9999], dtype)  # netCDF attrs are often one-element arrays
    da = xr.DataArray(arr, dims=("t", "y", "x"), attrs={key: fill})
    first = arr[0][arr[0] != -9999]
    got = imgstats.compute(da[0], ["min", "median", "count"])
    assert got == {"min": first.min().item(), "median": np.median(first), "count": first.size}
    assert imgstats.compute(da[0], "min", raw=True) == -9999
    per_pixel = imgstats.compute(da, "min", dim="t")
    assert np.isnan(per_pixel.values[:10]).all() and (per_pixel.values[10:] >= 0).all()
    zones = np.zeros((40, 50), np.int32)
    zones[:, 25:] = 1
    table = imgstats.zonal(da[0], zones, ["count"], background=None)
    assert table["count"].sum() == (arr[0] != -9999).sum()
    both = xr.DataArray(arr[0], dims=("y", "x"), attrs={key: fill, "nodata": 7})
    assert imgstats.compute(both, "min") == -9999  # nodata (7) wins; -9999 counts
    several = xr.DataArray(arr[0], dims=("y", "x"), attrs={key: [-9999, 7]})
    with warnings.catch_warnings():  # xarray's: several fill values
        warnings.simplefilter("ignore", xr.SerializationWarning)
        decoded = xr.decode_cf(xr.Dataset({"v": several}))["v"].values
    assert imgstats.compute(several, "min") == np.nanmin(decoded)  # both left out, as xarray


def test_cf_valid_range_attrs_are_not_read_as_xarray_decodes_them():
    """CF's ``valid_range``, ``valid_min`` and ``valid_max`` stay attrs: xarray's decoding
    applies none of them (the samples beyond count), and neither does imgstats."""
    import xarray as xr

    arr = np.array([[1, 50, 200], [-5, 99, 10]], np.int16)
    for attrs in (
        {"valid_range": np.array([10, 100], np.int16)},
        {"valid_min": 10, "valid_max": 100},
    ):
        da = xr.DataArray(arr, dims=("y", "x"), attrs=attrs)
        assert xr.decode_cf(da.to_dataset(name="v"))["v"].values.tolist() == arr.tolist()
        assert imgstats.compute(da, ["count", "min", "max"]) == {"count": 6, "min": -5, "max": 200}
    inside = da.where((da >= 10) & (da <= 100))  # the way to leave them out
    assert imgstats.compute(inside, ["count", "min", "max"]) == {"count": 3, "min": 10, "max": 99}


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_a_netcdf_variable_s_valid_range_counts_where_gdal_leaves_it_out(tmp_path):
    """The deliberate difference docs/meaning.md states: GDAL's netCDF driver masks the
    samples beyond ``valid_range`` (its HONOUR_VALID_RANGE, on by default), xarray's
    decoding and imgstats count them; ``_FillValue`` is left out by all three."""
    import xarray as xr

    stored = (np.arange(40 * 50, dtype=np.int16).reshape(40, 50) % 300) - 50
    ds = xr.Dataset({"v": (("y", "x"), stored)})
    ds.v.attrs.update(valid_range=np.array([0, 200], np.int16), scale_factor=0.5, add_offset=10.0)
    ds.v.encoding["_FillValue"] = np.int16(-7)
    path = tmp_path / "v.nc"
    ds.to_netcdf(path)
    with rasterio.open(f'NETCDF:"{path}":v') as src:
        gdal = src.read(1, masked=True).compressed()
    assert gdal.min() == 0 and gdal.max() == 200  # GDAL: only the valid range
    with xr.open_dataset(path) as opened:
        decoded = opened.v.load()
    with xr.open_dataset(path, mask_and_scale=False) as opened:
        raw = opened.v.load()
    physical = decoded.values[~np.isnan(decoded.values)]
    assert physical.size == np.count_nonzero(stored != -7) > gdal.size
    got = imgstats.compute(decoded, ["count", "min", "max"])
    assert got == {"count": physical.size, "min": physical.min(), "max": physical.max()}
    values = stored[stored != -7]
    got = imgstats.compute(raw, ["count", "min", "max"])
    assert got == {"count": values.size, "min": values.min(), "max": values.max()}
    assert imgstats.compute(raw, "max", scaled=True) == physical.max()


@pytest.mark.parametrize(
    ("nodata", "left_out"),
    [
        ("7", True),  # the text of a number, as a GDAL_NODATA tag holds it
        (" 7 ", True),
        (np.array([7]), True),  # a one-element array, as netCDF attrs often are
        ([7], True),
        (np.int16(7), True),
        ("abc", False),  # no number: left alone, as GDAL leaves such a tag
        ("7_0", False),  # Python's int() reads 70, C no such number
        ("nan", False),  # no integer sample holds it
        (True, False),  # a boolean is no nodata value
        ([7, 8], False),  # several values are not one
    ],
)
def test_an_attrs_nodata_is_read_alike_by_compute_zonal_and_dim(nodata, left_out):
    # before: compute and zonal raised ValueError or TypeError (no ImgStatsError) for "abc",
    # "nan", [7] or np.array([7]), and took True for 1, while dim= ignored "7", [7] and
    # np.array([7]) that compute left out
    import xarray as xr

    arr = np.arange(60, dtype=np.int16).reshape(2, 5, 6) % 12
    da = xr.DataArray(arr, dims=("t", "y", "x"), attrs={"nodata": nodata})
    valid = arr != 7 if left_out else np.ones(arr.shape, bool)
    assert imgstats.compute(da[0], "count") == valid[0].sum()
    table = imgstats.zonal(da[0], np.ones((5, 6), np.int32), ["count"])
    assert table["count"].sum() == valid[0].sum()
    assert int(imgstats.compute(da, "count", dim="t").sum()) == valid.sum()
