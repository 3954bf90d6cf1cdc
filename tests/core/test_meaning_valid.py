"""Which pixels count (issue 16, item 1): GDAL's valid samples, with rasterio as the oracle.

Every file is written here with rasterio (its wheels bundle GDAL), and the oracle is GDAL's
masked reading, ``read(masked=True)``, with NaN left out as numpy's nan-functions leave it.
Each file is read eagerly, lazily through dask in uneven chunks, and streamed tile by tile
(forced with a tiny ``EAGER_BYTES``): all must give the oracle's numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import imgstats
import imgstats.io
from imgstats.errors import ImgStatsError, InvalidOption, NoValidSamples

from .oracle import check_all

# rasterio 1.4 multiplies Affine objects with `*`, which affine 3.1 marks as pending deprecation
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

FUNCS = ["min", "max", "mean", "median", "p2", "p98"]
RNG = np.random.default_rng(16)
H, W = 150, 230


def _write(path, data, *, nodata=None, mask=None, tiled=True, alpha=False, sidecar=False):
    """Write ``data`` ``(bands, y, x)`` with rasterio: nodata, a dataset mask, alpha."""
    count, height, width = data.shape
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=count,
        dtype=data.dtype.name,
        crs="EPSG:32633",
        transform=from_origin(500000, 4000000, 10, 10),
        nodata=nodata,
    )
    if tiled:
        profile.update(tiled=True, blockxsize=64, blockysize=32, compress="deflate")
    else:
        profile.update(tiled=False, blockysize=7)
    if alpha:
        profile["photometric"] = "RGB"
        profile["alpha"] = "YES"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=not sidecar):
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
            if alpha:
                dst.colorinterp = [
                    rasterio.enums.ColorInterp.red,
                    rasterio.enums.ColorInterp.green,
                    rasterio.enums.ColorInterp.blue,
                    rasterio.enums.ColorInterp.alpha,
                ]
            if mask is not None:
                dst.write_mask(mask.astype(np.uint8) * 255)
    return path


def _oracle(path, band=None):
    """GDAL's valid samples: the colour bands pooled (alpha never), or one band."""
    with rasterio.open(path) as src:
        alpha = [i for i, c in enumerate(src.colorinterp) if c == rasterio.enums.ColorInterp.alpha]
        bands = range(src.count) if band is None else [band]
        parts = []
        for b in bands:
            if band is None and b in alpha:
                continue
            parts.append(src.read(b + 1, masked=True).compressed())
    v = np.concatenate(parts)
    return v[~np.isnan(v)] if v.dtype.kind == "f" else v


@pytest.fixture(params=["eager", "dask", "stream"])
def read(request, monkeypatch):
    """``compute`` on a path by one of the three read paths."""
    if request.param == "stream":
        monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)

    def compute(path, funcs, **kw):
        if request.param == "dask":
            kw["chunks"] = {0: 37, 1: 51}  # uneven, across the 64 x 32 tiles
        return imgstats.compute(path, funcs, **kw)

    return compute


def _image(dtype, bands=1):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        data = RNG.normal(100, 30, (bands, H, W)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        lo, hi = max(info.min, -5000), min(info.max, 5000)
        data = RNG.integers(lo, hi, (bands, H, W), endpoint=True).astype(dtype)
    return data


NODATA_CASES = [
    ("uint8", 3, 0),
    ("uint16", 1, 7),
    ("int16", 1, -32768),
    ("int16", 2, 12),
    ("int32", 1, -9999),
    ("float32", 1, -3.4028234663852886e38),
    ("float32", 2, float("nan")),
    ("float64", 1, -9999.0),
]


@pytest.mark.parametrize(("dtype", "bands", "nodata"), NODATA_CASES)
@pytest.mark.parametrize("tiled", [True, False], ids=["tiled", "striped"])
def test_nodata_is_left_out(tmp_path, read, dtype, bands, nodata, tiled):
    data = _image(dtype, bands)
    hole = RNG.random((bands, H, W)) < 0.3
    data[hole] = np.asarray(nodata).astype(dtype)
    if np.dtype(dtype).kind == "f":
        data[0, :3, :5] = np.nan  # NaN never counts, whatever the nodata
    path = _write(tmp_path / "nd.tif", data, nodata=nodata, tiled=tiled)
    result = read(path, FUNCS)
    check_all(result, _oracle(path), FUNCS)
    for b in range(bands):
        check_all(read(path, FUNCS, band=b), _oracle(path, b), FUNCS)


@pytest.mark.parametrize(
    ("dtype", "nodata"), [("uint16", 9), ("uint16", None), ("float32", float("nan")), ("int8", -3)]
)
@pytest.mark.parametrize("tiled", [True, False], ids=["tiled", "striped"])
@pytest.mark.parametrize("window", [None, (0, 0, W, H), (50, 20, 140, 110)])
def test_a_sparse_files_empty_tiles_are_nodata(tmp_path, read, dtype, nodata, tiled, window):
    # GDAL's SPARSE_OK files leave unwritten tiles out (byte count 0); GDAL and tifffile
    # read them as the nodata value. A streamed TIFF read them as zeros, which counted: a
    # window of a sparse uint16 file with nodata 9 held 10000 valid pixels, GDAL's 1792
    path = tmp_path / "sparse.tif"
    profile = dict(driver="GTiff", width=W, height=H, count=1, dtype=dtype, nodata=nodata)
    profile.update(crs="EPSG:32633", transform=from_origin(500000, 4000000, 10, 10))
    layout = dict(tiled=True, blockxsize=64, blockysize=32) if tiled else dict(blockysize=7)
    data = _image(dtype)[0, :40, :100]
    with rasterio.open(path, "w", **profile, **layout, SPARSE_OK=True) as dst:
        dst.write(data, 1, window=rasterio.windows.Window(0, 0, 100, 40))
    x0, y0, x1, y1 = window or (0, 0, W, H)
    with rasterio.open(path) as src:
        cut = src.read(1, masked=True, window=rasterio.windows.Window(x0, y0, x1 - x0, y1 - y0))
    want = cut.compressed()
    if dtype == "float32":
        want = want[~np.isnan(want)]
    funcs = ["count", "masked_pixels", *FUNCS]
    got = read(path, funcs, **({} if window is None else {"window": window}))
    assert (got["count"], got["masked_pixels"]) == (want.size, cut.size - want.size)
    check_all({f: got[f] for f in FUNCS}, want, FUNCS)


@pytest.mark.parametrize(
    ("dtype", "tag"),
    [
        ("int16", "-9999.0"),  # tifffile reads no integer in it: its tiles were 0s, counted
        ("uint8", "300"),  # beyond the type: GDAL fills 255 (saturated), masks nothing
        ("int8", "-200"),
        ("uint16", "-1"),
        ("uint8", "5.7"),  # rounded to fill (6), truncated to mask (5), as GDAL does
        ("int16", "-2.5"),
        ("int16", "nan"),  # NaN cast to an integer: 0
        ("float32", "1e40"),  # beyond float32: inf, masked
        ("float32", "-nan"),  # GDAL reads no NaN in "-nan": 0, masked
    ],
)
@pytest.mark.parametrize("window", [None, (20, 10, 200, 140)])
def test_a_sparse_files_empty_tiles_hold_gdals_fill(tmp_path, read, dtype, tag, window):
    # the empty tiles took tifffile's reading of the GDAL_NODATA tag (0 where it reads none,
    # or the value does not fit), while the mask took GDAL's: "-9999.0" on int16 filled 0s,
    # which counted, where GDAL fills -9999 and leaves them out
    import tifffile

    path = tmp_path / "sparse.tif"
    profile = dict(driver="GTiff", width=W, height=H, count=1, dtype=dtype, nodata=1)
    profile.update(crs="EPSG:32633", transform=from_origin(500000, 4000000, 10, 10))
    data = (np.arange(40 * 100).reshape(40, 100) % 11).astype(dtype)
    layout = dict(tiled=True, blockxsize=64, blockysize=32, SPARSE_OK=True)
    with rasterio.open(path, "w", **profile, **layout) as dst:
        dst.write(data, 1, window=rasterio.windows.Window(0, 0, 100, 40))
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags[42113].overwrite(tag)
    x0, y0, x1, y1 = window or (0, 0, W, H)
    with rasterio.open(path) as src:
        win = rasterio.windows.Window(x0, y0, x1 - x0, y1 - y0)
        values, valid = src.read(1, window=win), src.read_masks(1, window=win) > 0
    want = values[valid]
    funcs = ["count", "masked_pixels", "min", "max", "mean", "median"]
    cut = {} if window is None else {"window": window}
    got = read(path, funcs, **cut)
    assert (got["count"], got["masked_pixels"]) == (want.size, values.size - want.size)
    check_all({f: got[f] for f in funcs[2:]}, want, funcs[2:])
    raw = read(path, ["count", "min", "max"], raw=True, **cut)
    assert (raw["count"], raw["min"], raw["max"]) == (values.size, values.min(), values.max())


@pytest.mark.parametrize(("dtype", "bands"), [("uint8", 3), ("uint16", 1), ("float32", 2)])
@pytest.mark.parametrize("sidecar", [False, True], ids=["internal", "sidecar"])
def test_dataset_mask_is_honoured(tmp_path, read, dtype, bands, sidecar):
    data = _image(dtype, bands)
    mask = np.ones((H, W), bool)
    mask[10:90, 20:170] = False
    mask[RNG.random((H, W)) < 0.1] = False
    path = _write(tmp_path / "m.tif", data, mask=mask, sidecar=sidecar)
    assert (tmp_path / "m.tif.msk").exists() == sidecar
    check_all(read(path, FUNCS), _oracle(path), FUNCS)
    check_all(read(path, FUNCS, band=bands - 1), _oracle(path, bands - 1), FUNCS)


@pytest.mark.parametrize("share", [0.0, 0.4, 1.0], ids=["alpha255", "partial", "alpha0"])
def test_alpha_zero_is_transparent_and_never_pooled(tmp_path, read, share):
    data = _image("uint8", 4)
    data[3] = 255
    data[3][RNG.random((H, W)) < share] = 0
    data[3, :4, :4] = 128  # partly transparent pixels count
    path = _write(tmp_path / "rgba.tif", data, alpha=True)
    if share == 1.0:
        data[3, :4, :4] = 0
        path = _write(tmp_path / "rgba.tif", data, alpha=True)
        with pytest.raises(NoValidSamples):
            read(path, "mean")
    else:
        check_all(read(path, FUNCS), _oracle(path), FUNCS)
        check_all(read(path, FUNCS, band="G"), _oracle(path, 1), FUNCS)
    # band="A" reads the alpha itself, every sample (GDAL gives alpha no mask)
    check_all(read(path, FUNCS, band="A"), data[3].ravel(), FUNCS)


def test_a_pil_image_of_premultiplied_alpha_is_alpha():
    # before: Pillow's RGBa band "a" was pooled as a colour and masked nothing (count 168 of
    # a 6 x 7 image whose two top rows are transparent, where its RGBA counts 84)
    from PIL import Image

    rgba = RNG.integers(1, 255, (6, 7, 4)).astype(np.uint8)
    rgba[..., 3] = 255
    rgba[:2, :, 3] = 0
    img = Image.fromarray(rgba, "RGBA").convert("RGBa")  # premultiplied: R, G, B, a
    stored = np.asarray(img)
    assert img.getbands() == ("R", "G", "B", "a") and (stored[:2, :, :3] == 0).all()
    check_all(imgstats.compute(img, FUNCS), stored[2:, :, :3].ravel(), FUNCS)
    assert imgstats.summarize(img).band_names == ("R", "G", "B", "A")
    assert imgstats.compute(img, ["count", "min"], band="A") == {"count": 42, "min": 0}


def test_every_sample_nodata_raises(tmp_path, read):
    data = np.full((1, H, W), 5, np.uint16)
    path = _write(tmp_path / "all.tif", data, nodata=5)
    with pytest.raises(NoValidSamples):
        read(path, "min")


def test_raw_gives_every_sample_and_nodata_overrides(tmp_path, read):
    data = _image("int16", 1)
    data[0, :50] = -1
    path = _write(tmp_path / "nd.tif", data, nodata=-1)
    check_all(read(path, FUNCS, raw=True), data.ravel(), FUNCS)
    check_all(read(path, FUNCS, nodata=7), data.ravel()[data.ravel() != 7], FUNCS)
    mask = np.ones((H, W), bool)
    mask[:20] = False
    masked = _write(tmp_path / "m.tif", data, mask=mask)
    # nodata= takes the place of the file's mask, as a GDAL VRT with that nodata would
    check_all(read(masked, FUNCS, nodata=-1), data.ravel()[data.ravel() != -1], FUNCS)


def test_nodata_on_arrays():
    arr = RNG.integers(0, 1000, (40, 30)).astype(np.uint16)
    arr[:5] = 0
    check_all(imgstats.compute(arr, FUNCS, nodata=0), arr[arr != 0], FUNCS)
    f = arr.astype(np.float32)
    check_all(imgstats.compute(f, FUNCS, nodata=0), f[f != 0], FUNCS)
    assert arr[0, 0] == 0 and f[0, 0] == 0  # the caller's arrays are left alone


@pytest.mark.parametrize(
    ("dtype", "nodata", "message"),
    [
        ("uint8", "abc", "must be a number"),
        ("uint8", 256, "outside the range"),
        ("int16", -40000, "outside the range"),
        ("uint16", 1.5, "not a whole number"),
        ("float32", 1e39, "outside the range"),
        ("uint8", True, "must be a number"),
    ],
)
def test_bad_nodata_is_refused(dtype, nodata, message):
    arr = np.zeros((4, 4), dtype)
    with pytest.raises(InvalidOption, match=message):
        imgstats.compute(arr, "mean", nodata=nodata)


def test_raw_and_nodata_together_are_refused(tmp_path):
    with pytest.raises(InvalidOption, match="raw"):
        imgstats.compute(np.zeros((3, 3), np.uint8), "mean", raw=True, nodata=0)


def test_corrupt_mask_page_is_an_imgstats_error(tmp_path, read):
    data = _image("uint16", 1)
    mask = np.ones((H, W), bool)
    mask[:10] = False
    path = _write(tmp_path / "m.tif", data, mask=mask)
    import tifffile

    with tifffile.TiffFile(path) as tif:
        offsets = tif.pages[1].dataoffsets
    raw = bytearray(path.read_bytes())
    for off in offsets:
        raw[off : off + 16] = b"\xff" * 16  # the mask tiles' deflate streams, broken
    path.write_bytes(bytes(raw))
    with pytest.raises(ImgStatsError):
        read(path, "mean")


def test_header_tells_nodata_and_mask(tmp_path):
    data = _image("uint16", 1)
    path = _write(tmp_path / "nd.tif", data, nodata=7)
    with open(path, "rb") as fh:
        header = imgstats.io.read_header(fh, str(path))
    assert header["nodata"] == 7
    assert header["mask"] == "nodata"
    mask = np.ones((H, W), bool)
    mask[:3] = False
    path = _write(tmp_path / "m.tif", data, mask=mask)
    with open(path, "rb") as fh:
        header = imgstats.io.read_header(fh, str(path))
    assert header["mask"] == "internal"


@pytest.mark.parametrize(("dtype", "bands"), [("uint16", 1), ("float32", 2), ("int32", 1)])
def test_counts_say_what_was_left_out(tmp_path, read, dtype, bands):
    data = _image(dtype, bands)
    data[:, :10] = 3
    if np.dtype(dtype).kind == "f":
        data[0, 10:12] = np.nan
    path = _write(tmp_path / "nd.tif", data, nodata=3)
    summary = imgstats.summarize(path) if read.__name__ else None
    result = read(path, ["count", "masked_pixels", "valid_percent"])
    valid = _oracle(path)
    assert result["count"] == valid.size
    assert result["masked_pixels"] == data.size - valid.size
    assert result["valid_percent"] == 100 * valid.size / data.size
    stats = summary.stats(0)
    nan = 2 * W if np.dtype(dtype).kind == "f" else 0
    assert (stats.nan, stats.masked) == (nan, int((data[0] == 3).sum()))


def test_cli_honours_nodata_and_takes_raw_and_nodata(tmp_path):
    import json
    import subprocess

    data = _image("uint16", 1)
    data[0, :40] = 9
    path = _write(tmp_path / "nd.tif", data, nodata=9)

    def cli(*args):
        out = subprocess.run(
            ["imgstats", "stats", str(path), "min", "mean", "--json", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.returncode, out.stdout, out.stderr

    code, out, _ = cli()
    check_all(json.loads(out), _oracle(path), ["min", "mean"])
    code, out, _ = cli("--raw")
    check_all(json.loads(out), data.ravel(), ["min", "mean"])
    code, out, err = cli("--nodata", "abc")
    assert code == 2 and "nodata must be a number" in err and "Traceback" not in err
