"""GDAL's PAM sidecar (``<file>.aux.xml``): its nodata value, scale and offset, per band.

GDAL writes them there for a file opened read-only, or a format that cannot hold them, and
reads a band's value there in place of the TIFF's own. rasterio (GDAL) is the oracle: every
file is read eagerly, through dask in uneven chunks, and streamed tile by tile.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import imgstats
from imgstats.errors import UnreadableImage
from imgstats.io import _pam

from .oracle import check_all

pytestmark = [
    pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning"),
]

FUNCS = ["count", "masked_pixels", "min", "max", "mean", "median"]
H, W = 60, 90


def _write(path, dtype, bands=1, nodata=None, pam="", **extra):
    data = (np.arange(bands * H * W).reshape(bands, H, W) % 13).astype(dtype)
    profile = dict(driver="GTiff", width=W, height=H, count=bands, dtype=dtype, nodata=nodata)
    profile.update(crs="EPSG:32633", transform=from_origin(500000, 4000000, 10, 10))
    with rasterio.open(path, "w", **profile, tiled=True, blockxsize=32, blockysize=32) as dst:
        dst.write(data)
        for name, value in extra.items():
            setattr(dst, name, value)
    (path.parent / (path.name + ".aux.xml")).write_text(f"<PAMDataset>{pam}</PAMDataset>")
    return path


def _band(number, **fields):
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
    return f'<PAMRasterBand band="{number}">{inner}</PAMRasterBand>'


def _oracle(path):
    with rasterio.open(path) as src:
        cube = src.read(masked=True)
    values = cube.compressed()
    seen = cube.size
    return values[~np.isnan(values)] if values.dtype.kind == "f" else values, seen


@pytest.mark.parametrize(
    ("dtype", "bands", "nodata", "pam"),
    [
        ("int16", 1, None, _band(1, NoDataValue=7)),  # counted every 7 as a value
        ("int16", 1, 5, _band(1, NoDataValue=7)),  # the band's PAM value wins over the tag
        ("uint8", 3, None, "".join(_band(b, NoDataValue="  3.7abc") for b in (1, 2, 3))),
        ("float32", 1, None, _band(1, NoDataValue="nan")),
        ("float32", 2, -9999, "".join(_band(b, NoDataValue=12) for b in (1, 2))),
        ("uint16", 2, 4, _band(1, NoDataValue=4)),  # band 2 keeps the tag's 4: one value
    ],
)
def test_an_aux_xml_nodata_is_left_out(tmp_path, read, dtype, bands, nodata, pam):
    path = _write(tmp_path / "pam.tif", dtype, bands, nodata, pam)
    want, seen = _oracle(path)
    got = read(path, FUNCS)
    assert (got["count"], got["masked_pixels"]) == (want.size, seen - want.size)
    check_all({f: got[f] for f in FUNCS[2:]}, want, FUNCS[2:])
    arr = imgstats.open_image(path)
    assert imgstats.compute(arr, "count") == want.size


def _each_band(path):
    """GDAL's valid samples of each band (its own nodata), and of every band together."""
    with rasterio.open(path) as src:
        cube = src.read(masked=True)
    each = [_finite(band.compressed()) for band in cube]
    return each, _finite(cube.compressed())


def _finite(values):
    return values[~np.isnan(values)] if values.dtype.kind == "f" else values


@pytest.mark.parametrize(
    ("dtype", "bands", "nodata", "pam"),
    [
        ("int16", 2, None, _band(1, NoDataValue=7) + _band(2, NoDataValue=9)),
        ("int16", 2, None, _band(2, NoDataValue=9)),  # band 1 has none
        ("uint8", 3, 5, _band(1, NoDataValue=7) + _band(3, NoDataValue=2)),  # 2 keeps the tag's
        ("uint16", 3, None, "".join(_band(b, NoDataValue=b + 1) for b in (1, 2, 3))),
        ("int32", 3, None, _band(1, NoDataValue=4) + _band(2, NoDataValue="6.9")),
        ("int32", 2, None, _band(2, NoDataValue=12)),
        ("float32", 3, None, _band(1, NoDataValue="nan") + _band(2, NoDataValue=3)),
        ("float64", 2, -1, _band(2, NoDataValue=11)),
    ],
)
def test_different_nodata_per_band_apply_band_by_band(tmp_path, read, dtype, bands, nodata, pam):
    """Each band's own nodata value applies to it, as GDAL's masked reading applies it; the
    bands pooled count each band's valid samples. It was refused, even for one band."""
    from imgstats.reduce import answer_and_valid

    path = _write(tmp_path / "pam.tif", dtype, bands, nodata, pam)
    each, pooled = _each_band(path)
    with rasterio.open(path) as src:
        values = src.nodatavals
    for b in range(bands):
        got, valid = answer_and_valid(path, FUNCS, band=b, chunks=read.chunks)
        assert got["count"] == each[b].size
        check_all({f: got[f] for f in FUNCS[2:]}, each[b], FUNCS[2:])
        assert read(path, "count", band=b) == each[b].size
        value = values[b]  # an integer band's, truncated as GDAL compares it ("6.9": 6)
        value = value if value is None or dtype.startswith("float") else int(value)
        if value is None:
            assert (valid.mask, valid.nodata) == (None, None)
        else:
            assert valid.mask == "nodata" and np.array_equal(valid.nodata, value, equal_nan=True)
    got = read(path, FUNCS)
    assert got["count"] == pooled.size < bands * H * W
    check_all({f: got[f] for f in FUNCS[2:]}, pooled, FUNCS[2:])
    summary = imgstats.summarize(path)
    assert summary.valid.band_nodata is not None and summary.valid_for(None) == summary.valid
    assert imgstats.Summary.from_bytes(summary.to_bytes()).valid == summary.valid
    arr = imgstats.open_image(path)
    assert [imgstats.compute(arr, "count", band=b) for b in range(bands)] == [e.size for e in each]
    assert read(path, "count", raw=True) == bands * H * W
    with rasterio.open(path) as src:
        cube = src.read()
    assert read(path, "count", nodata=3) == int((cube != 3).sum())


@pytest.mark.parametrize("chunks", [None, 17])
def test_different_nodata_per_band_in_zones_and_along_dims(tmp_path, chunks):
    """Zones of one band count its own nodata; zones over every band refuse one value for
    them all (the zonal core takes one). ``dim=`` counted every sample of such an array
    (open_image's), its nodata values left aside: each band's own applies there too."""
    pam = _band(1, NoDataValue=7) + _band(2, NoDataValue=9)
    path = _write(tmp_path / "pam.tif", "int16", 3, None, pam)
    with rasterio.open(path) as src:
        cube = src.read(masked=True)
    labels = (np.arange(H * W).reshape(H, W) // 1000 + 1).astype(np.uint8)
    zones = sorted(set(labels.ravel().tolist()))
    for b, value in enumerate([7, 9, None]):
        frame = imgstats.zonal(path, labels, ["count", "max"], band=b)
        want = [int(cube[b][labels == z].count()) for z in zones]
        assert frame["count"].tolist() == want
        claim = {"mask": None if value is None else "nodata", "nodata": value, "source": "file"}
        assert frame.attrs["valid"] == claim
    with pytest.raises(UnreadableImage, match=r"different nodata values \(7.0, 9.0, none\)"):
        imgstats.zonal(path, labels, ["count"])
    arr = imgstats.open_image(path, chunks=chunks)
    along = imgstats.compute(arr, "count", dim=["y", "x"])
    assert along.values.tolist() == [int(cube[b].count()) for b in range(3)]
    median = imgstats.compute(arr, "median", dim=["y", "x"])
    assert median.values.tolist() == [float(np.ma.median(cube[b])) for b in range(3)]
    assert float(imgstats.compute(arr, "count", dim=...)) == int(cube.count())
    window = imgstats.compute(arr, "count", dim="y", window=(5, 3, 70, 44)).sum("x")
    assert window.values.tolist() == [int(cube[b, 3:44, 5:70].count()) for b in range(3)]
    assert float(imgstats.compute(arr, "count", dim=..., raw=True)) == 3 * H * W


def test_a_band_without_nodata_beside_its_alpha_is_refused(tmp_path):
    """GDAL masks the colour bands without a nodata value by the alpha band, the others by
    their value: a mask per band, which imgstats does not apply: refused, not misread."""
    from PIL import Image

    rgba = (np.arange(H * W * 4).reshape(H, W, 4) % 7).astype(np.uint8)
    rgba[..., 3] = np.where(np.arange(H * W).reshape(H, W) % 3 == 0, 0, 255)
    path = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(path)
    (tmp_path / "a.png.aux.xml").write_text(f"<PAMDataset>{_band(1, NoDataValue=1)}</PAMDataset>")
    for band in (None, 0, 3):
        with pytest.raises(UnreadableImage, match="leaves the bands without one to its alpha"):
            imgstats.compute(path, "count", band=band)
    with pytest.raises(UnreadableImage, match="leaves the bands without one to its alpha"):
        imgstats.compute(imgstats.open_image(path), "count", dim=["y", "x"])
    assert imgstats.compute(path, "count", raw=True) == 3 * H * W


@pytest.mark.filterwarnings("ignore::rasterio.errors.NodataShadowWarning")
@pytest.mark.parametrize("kind", ["png", "tif"])
def test_an_alpha_band_the_aux_xml_leaves_without_nodata_counts_every_sample(tmp_path, kind):
    """An .aux.xml that gives the colour bands of an RGBA image a nodata value and its alpha
    band none: GDAL masks the colour bands by it, the alpha band not at all. The value was
    applied to the alpha band too (its transparent samples left out, 425 of 600 here)."""
    from PIL import Image

    from imgstats.reduce import answer_and_valid

    rgba = (np.arange(H * W * 4).reshape(H, W, 4) % 5).astype(np.uint8)
    rgba[..., 3] = np.where(np.arange(H * W).reshape(H, W) % 3 == 0, 0, 255)
    path = tmp_path / f"a.{kind}"
    if kind == "png":
        Image.fromarray(rgba, "RGBA").save(path)
    else:
        profile = dict(driver="GTiff", width=W, height=H, count=4, dtype="uint8")
        profile.update(photometric="RGB", alpha="YES")
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.moveaxis(rgba, -1, 0))
    pam = "".join(_band(b, NoDataValue=0) for b in (1, 2, 3))
    (tmp_path / f"a.{kind}.aux.xml").write_text(f"<PAMDataset>{pam}</PAMDataset>")
    with rasterio.open(path) as src:
        assert src.nodatavals == (0, 0, 0, None)
        cube = src.read(masked=True)
    alpha, valid = answer_and_valid(path, "count", band="A")
    assert alpha == int(cube[3].count()) == H * W
    assert (valid.mask, valid.nodata) == (None, None)
    colours, valid = answer_and_valid(path, ["count", "max"], chunks=17)
    assert colours["count"] == int(cube[:3].count())
    assert (valid.mask, valid.nodata) == ("nodata", 0)
    assert [imgstats.compute(path, "count", band=b) for b in "RGB"] == [
        int(cube[b].count()) for b in range(3)
    ]


def test_nan_on_an_integer_band_is_no_nodata(tmp_path, read):
    pam = _band(1, NoDataValue="nan") + _band(2, NoDataValue="-nan")  # GDAL: none, and 0
    path = _write(tmp_path / "pam.tif", "int16", 2, None, _band(2, NoDataValue="nan"))
    assert read(path, "count") == 2 * H * W
    path = _write(tmp_path / "pam2.tif", "int16", 2, None, pam)
    each, pooled = _each_band(path)
    assert each[0].size == H * W > each[1].size
    assert read(path, "count") == pooled.size
    assert [read(path, "count", band=b) for b in (0, 1)] == [e.size for e in each]


def test_an_aux_xml_scale_and_offset_take_the_tags_place(tmp_path, read):
    pam = _band(1, Scale=2, Offset=5) + _band(2, Offset=4)
    path = _write(tmp_path / "pam.tif", "int16", 2, None, pam, scales=(3, 3), offsets=(1, 1))
    with rasterio.open(path) as src:
        # a band's pair is PAM's whole: band 2's scale is 1, not the tag's 3
        assert (src.scales, src.offsets) == ((2.0, 1.0), (5.0, 4.0))
        cube = src.read().astype(np.float64)
    for b, (scale, offset) in enumerate([(2, 5), (1, 4)]):
        check_all(read(path, FUNCS[2:], band=b, scaled=True), cube[b] * scale + offset, FUNCS[2:])


def test_a_hostile_aux_xml_is_refused_or_ignored(tmp_path, monkeypatch):
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "7"><!ENTITY b "&a;&a;&a;&a;">]>'
        + _band(1, NoDataValue="&b;")
    )
    path = _write(tmp_path / "pam.tif", "int16", 1, None, laughs)
    want, _ = _oracle(path)  # no entity expanded: GDAL reads no number, so 0
    assert imgstats.compute(path, "count") == want.size < H * W
    monkeypatch.setattr(_pam, "MAX_PAM_BYTES", 100)
    (tmp_path / "pam.tif.aux.xml").write_text(" " * 101)
    with pytest.raises(UnreadableImage, match="aux.xml is over"):
        imgstats.compute(path, "count")


def _png(path, data, **save):
    from PIL import Image

    Image.fromarray(data).save(path, **save)
    return path


@pytest.mark.parametrize(
    ("kind", "pam"),
    [
        ("grey", _band(1, NoDataValue=4)),  # gdal_translate -of PNG -a_nodata 4 writes it there
        ("rgb", "".join(_band(b, NoDataValue=0) for b in (1, 2, 3))),
        ("grey-trns", _band(1, NoDataValue=4)),  # the PNG's own transparent grey wins
        ("grey16", _band(1, NoDataValue=300)),
    ],
)
@pytest.mark.parametrize("how", ["path", "chunks", "open_image"])
def test_an_aux_xml_nodata_beside_a_png(tmp_path, kind, pam, how):
    grey = (np.arange(H * W).reshape(H, W) % 11).astype(np.uint8)
    if kind == "rgb":
        path = _png(tmp_path / "a.png", np.stack([grey, grey[::-1], (grey + 3) % 11], -1))
    elif kind == "grey-trns":
        path = _png(tmp_path / "a.png", grey, transparency=2)
    elif kind == "grey16":
        path = _png(tmp_path / "a.png", grey.astype(np.uint16) * 100)
    else:
        path = _png(tmp_path / "a.png", grey)
    (tmp_path / "a.png.aux.xml").write_text(f"<PAMDataset>{pam}</PAMDataset>")
    with rasterio.open(path) as src:
        values, valid = src.read(), src.read_masks() > 0
    want = values[valid]
    source = imgstats.open_image(path) if how == "open_image" else path
    kw = {"chunks": 17} if how == "chunks" else {}
    got = imgstats.compute(source, ["count", "mean", "median"], **kw)
    assert got["count"] == want.size < values.size
    check_all({f: got[f] for f in ("mean", "median")}, want, ["mean", "median"])


@pytest.mark.parametrize("kind", ["grey", "grey-trns", "grey16", "rgb", "jpeg"])
@pytest.mark.parametrize("how", ["path", "chunks", "open_image"])
def test_an_aux_xml_scale_and_offset_beside_a_png_or_jpeg(tmp_path, kind, how):
    # gdal_translate -of PNG -a_scale 0.5 -a_offset 3 writes them there, and rasterio's
    # scales and offsets read them: scaled=True gave the stored values (max 10, not 8)
    grey = (np.arange(H * W).reshape(H, W) % 11).astype(np.uint8)
    name, pam = "a.png", _band(1, Scale=0.5, Offset=3, NoDataValue=4)
    if kind == "grey-trns":
        _png(tmp_path / name, grey, transparency=2)  # its own grey is its nodata
    elif kind == "grey16":
        _png(tmp_path / name, grey.astype(np.uint16) * 1000)
    elif kind in ("rgb", "jpeg"):
        name = "a.jpg" if kind == "jpeg" else name
        pam = "".join(_band(b, Scale=0.5, Offset=3) for b in (1, 2, 3))
        rgb = np.stack([grey * 20, grey[::-1] * 20, grey * 10], -1)
        _png(tmp_path / name, rgb, **({"quality": 95} if kind == "jpeg" else {}))
    else:
        _png(tmp_path / name, grey)
    path = tmp_path / name
    (tmp_path / (name + ".aux.xml")).write_text(f"<PAMDataset>{pam}</PAMDataset>")
    with rasterio.open(path) as src:
        assert set(src.scales) == {0.5} and set(src.offsets) == {3.0}
        values, valid = src.read().astype(np.float64), src.read_masks() > 0
    if kind == "jpeg":  # Pillow's libjpeg-turbo and GDAL's libjpeg round some pixels apart
        from PIL import Image

        values = np.moveaxis(np.asarray(Image.open(path)), -1, 0).astype(np.float64)
    want = values[valid] * 0.5 + 3
    source = imgstats.open_image(path) if how == "open_image" else path
    kw = {"chunks": 17} if how == "chunks" else {}
    got = imgstats.compute(source, FUNCS[:1] + FUNCS[2:], scaled=True, **kw)
    assert got["count"] == want.size
    check_all({f: got[f] for f in FUNCS[2:]}, want, FUNCS[2:])
    with open(path, "rb") as fh:
        assert imgstats.io.read_header(fh, path)["scales"] == [[0.5, 3.0]] * values.shape[0]


@pytest.mark.parametrize(
    ("dtype", "nodata"),
    [
        ("float64", float(np.finfo(np.float64).min)),  # "-1.79769313486232E+308": -inf
        ("float64", 1 / 3),
        ("float32", float(np.finfo(np.float32).min)),
    ],
)
def test_an_aux_xml_nodata_is_its_le_hex_equiv_double(tmp_path, dtype, nodata):
    # GDAL writes a value its 14 digits do not give back with the exact double beside them,
    # and reads that one
    exact = np.array(nodata, "<f8").tobytes().hex().upper()
    pam = f'<PAMRasterBand band="1"><NoDataValue le_hex_equiv="{exact}">{nodata:.14E}'
    path = _write(tmp_path / "hex.tif", dtype, pam=pam + "</NoDataValue></PAMRasterBand>")
    with rasterio.open(path, "r+") as dst:
        data = dst.read(1)
        data[:7, :] = nodata
        dst.write(data, 1)
    want, seen = _oracle(path)
    assert seen - want.size == 7 * W
    got = imgstats.compute(path, ["count", "masked_pixels", "min"])
    assert got == {"count": want.size, "masked_pixels": 7 * W, "min": float(want.min())}


@pytest.mark.parametrize(
    "text",
    [
        # GDAL's dataset is the file's first node: a declaration or a comment has no band
        '<?xml version="1.0" encoding="UTF-8"?><PAMDataset>{b1}</PAMDataset>',
        "<!-- made by hand --><PAMDataset>{b1}</PAMDataset>",
        "<PAMDataset>{b1}</PAMDataset><PAMDataset></PAMDataset>",  # not XML: none read
        "<PAMDataset>{b1}",
        "<PAMDataset><X>{b1}</X></PAMDataset>",  # a band is a child of the dataset
        '<PAMDataset><PAMRasterBand band="1"><X><NoDataValue>7</NoDataValue></X>'
        "</PAMRasterBand></PAMDataset>",
        '<PAMDataset><PAMRasterBand band="1"><!-- <NoDataValue>7</NoDataValue> -->'
        "</PAMRasterBand></PAMDataset>",
        # and XML as XML: quotes, character references, CDATA
        "<PAMDataset><PAMRasterBand band='1'><NoDataValue>7</NoDataValue>"
        "</PAMRasterBand></PAMDataset>",
        '<PAMDataset><PAMRasterBand band="1"><NoDataValue>&#55;</NoDataValue>'
        "</PAMRasterBand></PAMDataset>",
        '<PAMDataset><PAMRasterBand band="1"><NoDataValue><![CDATA[7]]></NoDataValue>'
        "</PAMRasterBand></PAMDataset>",
        # band= read as C's atoi
        "<PAMDataset>" + _band("+1", NoDataValue=7) + "</PAMDataset>",
        "<PAMDataset>" + _band("1.9", NoDataValue=7) + "</PAMDataset>",
        # a band given twice keeps the nodata value its second entry does not give
        "<PAMDataset>{b1}" + _band(1, Scale=1) + "</PAMDataset>",
        "<PAMDataset>" + _band(1, NoDataValue=5) + "{b1}</PAMDataset>",
    ],
)
def test_an_aux_xml_is_read_as_gdal_reads_it(tmp_path, text):
    path = _write(tmp_path / "xml.tif", "int16")
    text = text.replace("{b1}", _band(1, NoDataValue=7))
    (tmp_path / "xml.tif.aux.xml").write_text(text)
    want, seen = _oracle(path)
    assert imgstats.compute(path, ["count", "masked_pixels"]) == {
        "count": want.size,
        "masked_pixels": seen - want.size,
    }


def test_a_self_closing_band_takes_no_field_of_the_next(tmp_path):
    pam = '<PAMRasterBand band="1"/>' + _band(2, NoDataValue=7)
    path = _write(tmp_path / "closed.tif", "int16", bands=2, pam=pam)
    assert _pam.pam_bands(path) == {0: _pam.PamBand(), 1: _pam.PamBand("7")}


@pytest.mark.parametrize("kind", ["grey", "rgb", "jpeg"])
@pytest.mark.parametrize("how", ["path", "chunks", "open_image", "window"])
def test_a_msk_beside_a_png_or_jpeg_is_its_mask(tmp_path, kind, how):
    # GDAL reads x.png.msk (what gdal_translate -of PNG writes for a masked source) as the
    # PNG's dataset mask: it was read beside TIFFs only, every masked pixel counted
    from PIL import Image
    from rasterio.shutil import copy

    grey = (np.arange(H * W).reshape(H, W) % 11).astype(np.uint8)
    name = "a.jpg" if kind == "jpeg" else "a.png"
    data = grey if kind == "grey" else np.stack([grey * 20, grey[::-1] * 20, grey * 10], -1)
    _png(tmp_path / name, data, **({"quality": 95} if kind == "jpeg" else {}))
    path = tmp_path / name
    valid = np.full((H, W), 255, np.uint8)
    valid[:20] = 0
    valid[:, -7:] = 0
    masked = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        profile = dict(driver="GTiff", width=W, height=H, count=1, dtype="uint8")
        with rasterio.open(masked, "w", **profile) as dst:
            dst.write(grey, 1)
            dst.write_mask(valid)
    copy(masked, tmp_path / "gdal.png", driver="PNG")  # GDAL writes the mask beside it
    (tmp_path / (name + ".msk")).write_bytes((tmp_path / "gdal.png.msk").read_bytes())
    with rasterio.open(path) as src:
        assert src.mask_flag_enums[0] == [rasterio.enums.MaskFlags.per_dataset]
        assert (src.read_masks(1) > 0).sum() == (valid > 0).sum()
    values = np.asarray(Image.open(path))  # Pillow's JPEG decoder is imgstats'
    keep = valid > 0
    kw = {}
    if how == "window":
        kw["window"] = (10, 5, 60, 40)  # x0, y0, x1, y1
        region = np.zeros_like(keep)
        region[5:40, 10:60] = True
        keep = keep & region
    elif how == "chunks":
        kw["chunks"] = 17
    want = values[keep]
    source = imgstats.open_image(path) if how == "open_image" else path
    got = imgstats.compute(source, ["count", "masked_pixels", "min", "mean", "median"], **kw)
    assert got.pop("count") == want.size < values.size
    check_all({f: got[f] for f in ("min", "mean", "median")}, want, ["min", "mean", "median"])
    with open(path, "rb") as fh:
        assert imgstats.io.read_header(fh, path)["mask"] == "sidecar"
    assert imgstats.compute(path, "count", raw=True) == values.size


@pytest.mark.parametrize("chunks", [None, 17])
def test_per_band_nodata_follow_their_bands_through_a_selection(tmp_path, chunks):
    """``open_image``'s per-band nodata values were matched to the bands by position: after
    ``isel(band=[2, 1, 0])`` band 0 (B) was given R's value (554 counted, GDAL 600), and
    ``isel(band=[0, 2])`` along dims dropped them (600 and 600 for 553 and 600)."""
    pam = _band(1, NoDataValue=7) + _band(2, NoDataValue=9)
    path = _write(tmp_path / "pam.tif", "int16", 3, None, pam)
    each, _ = _each_band(path)
    arr = imgstats.open_image(path, chunks=chunks)
    for order in ([2, 1, 0], [0, 2], [2], [1, 0]):
        sub = arr.isel(band=order)
        want = [each[b].size for b in order]
        assert [imgstats.compute(sub, "count", band=str(b)) for b in order] == want
        counts = imgstats.compute(sub, "count", dim=("y", "x"))
        assert counts.values.tolist() == want
    renamed = arr.assign_coords(band=["X", "Y", "Z"])
    with pytest.raises(imgstats.InvalidOption, match="nodata values"):
        imgstats.compute(renamed, "count", band="X")
