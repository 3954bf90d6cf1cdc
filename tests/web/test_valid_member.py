"""Every answer over an image's samples says which samples it counted (``valid``).

GDAL (rasterio) writes the files and is the oracle of what decides: its mask flags
(``nodata``, ``per_dataset`` with the mask in the file or in a ``.msk`` beside it, ``alpha``,
``all_valid``) and its nodata value, page by page; and the answer's ``count`` is numpy's count
of GDAL's valid samples, so the claim is tied to the samples counted.
"""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest
import rasterio
import tifffile
from PIL import Image
from rasterio.enums import MaskFlags
from rasterio.shutil import copy
from rasterio.transform import from_origin

import imgstats.web.service as service_module
from imgstats.summary import Summary
from imgstats.web import create_app

pytestmark = [
    pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning"),
    pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning"),
]

H, W = 40, 50
RNG = np.random.default_rng(18)


def _tif(path, data, *, nodata=None, mask=None, sidecar=False):
    """A GeoTIFF ``(bands, y, x)`` written by GDAL, with a nodata value or a dataset mask."""
    profile = dict(
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=data.dtype.name,
        crs="EPSG:32633",
        transform=from_origin(500000, 4000000, 10, 10),
        nodata=nodata,
        tiled=True,
        blockxsize=16,
        blockysize=16,
    )
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=not sidecar),
        rasterio.open(path, "w", **profile) as dst,
    ):
        dst.write(data)
        if mask is not None:
            dst.write_mask(mask.astype(np.uint8) * 255)
    return path


def _data(dtype="uint16", bands=1):
    data = RNG.integers(1, 900, (bands, H, W)).astype(dtype)
    data[:, RNG.random((H, W)) < 0.2] = 7
    return data


def _mask():
    mask = np.ones((H, W), bool)
    mask[5:15, 10:40] = False
    return mask


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A folder of files whose meaning GDAL knows."""
    folder = tmp_path_factory.mktemp("valid")
    _tif(folder / "nodata.tif", _data(), nodata=7)
    _tif(folder / "nodata2.tif", _data(), nodata=7)
    _tif(folder / "internal.tif", _data(), mask=_mask())
    _tif(folder / "sidecar.tif", _data(), mask=_mask(), sidecar=True)
    _tif(folder / "plain.tif", _data())
    _tif(folder / "float.tif", _data("float32"))
    _tif(folder / "aux.tif", _data(), nodata=7)  # its .aux.xml overrides: 11
    (folder / "aux.tif.aux.xml").write_text(
        '<PAMDataset><PAMRasterBand band="1"><NoDataValue>11</NoDataValue>'
        "</PAMRasterBand></PAMDataset>"
    )
    rgba = RNG.integers(0, 256, (H, W, 4)).astype(np.uint8)
    rgba[..., 3] = np.where(RNG.random((H, W)) < 0.3, 0, 255)
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    masked = _tif(folder / "for_jpeg.tif", _data("uint8", 3), mask=_mask())
    copy(masked, folder / "masked.jpg", driver="JPEG")
    masked.unlink()
    # three pages, each its own nodata (GDAL_NODATA per page), the second none
    pages = [_data()[0] for _ in range(3)]
    with tifffile.TiffWriter(folder / "pages.tif") as tif:
        for page, nodata in zip(pages, ["7", None, "9"], strict=True):
            extratags = [] if nodata is None else [(42113, "s", 0, nodata, True)]
            tif.write(page, photometric="minisblack", extratags=extratags)
    return folder


def _gdal_claim(path, page=None):
    """``(mask word, nodata)`` that GDAL reads for band 1, in /api/images' words."""
    name = str(path) if page is None else f"GTIFF_DIR:{page + 1}:{path}"
    with rasterio.open(name) as src:
        flags = src.mask_flag_enums[0]
        nodata = src.nodata
    if MaskFlags.alpha in flags:
        return "alpha", None
    if MaskFlags.per_dataset in flags:
        msk = path.parent / (path.name + ".msk")
        return ("sidecar" if msk.exists() else "internal"), None
    if MaskFlags.nodata in flags:
        return "nodata", int(nodata) if float(nodata).is_integer() else nodata
    return None, None


def _gdal_count(path, page=None):
    """Valid samples of the colour bands, as GDAL masks them (numpy counts them)."""
    name = str(path) if page is None else f"GTIFF_DIR:{page + 1}:{path}"
    with rasterio.open(name) as src:
        colour = [
            i + 1
            for i, c in enumerate(src.colorinterp)
            if c != rasterio.enums.ColorInterp.alpha or src.count == 1
        ]
        arr = src.read(colour, masked=True)
    return int(np.ma.count(arr))


@pytest.fixture
def client(store):
    app = create_app({"IMAGES": str(store), "TESTING": True, "WARMUP": False})
    yield app.test_client()
    app.extensions["imgstats"].cache_clear()
    app.extensions["imgstats"].close()


NAMES = ["nodata.tif", "internal.tif", "sidecar.tif", "plain.tif", "aux.tif", "rgba.png"]
NAMES += ["masked.jpg"]


@pytest.mark.parametrize("name", NAMES)
def test_stats_says_what_gdal_masks_with(client, store, name):
    mask, nodata = _gdal_claim(store / name)
    first = client.get(f"/stats/{name}/count")
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["valid"] == {"mask": mask, "nodata": nodata, "source": "file"}
    assert body["value"] == _gdal_count(store / name)
    # the header's words: the same mask
    assert client.get(f"/api/images/{name}").get_json()["mask"] == mask
    # served again (cached answer, then a new function from the cached summary): the same
    assert client.get(f"/stats/{name}/count").get_json()["valid"] == body["valid"]
    assert client.get(f"/stats/{name}/median").get_json()["valid"] == body["valid"]


@pytest.mark.parametrize("page", [0, 1, 2])
def test_each_page_says_its_own_nodata(client, store, page):
    mask, nodata = _gdal_claim(store / "pages.tif", page)
    body = client.get(f"/stats/pages.tif/count?page={page}").get_json()
    assert body["valid"] == {"mask": mask, "nodata": nodata, "source": "file"}
    assert body["value"] == _gdal_count(store / "pages.tif", page)
    assert [mask, nodata] == ([["nodata", 7], [None, None], ["nodata", 9]][page])


def test_raw_and_an_asked_nodata_say_so(client, store):
    raw = client.get("/stats/internal.tif/count?raw=1").get_json()
    assert raw["valid"] == {"mask": None, "nodata": None, "source": "raw"}
    assert raw["value"] == H * W
    asked = client.get("/stats/internal.tif/count?nodata=7").get_json()
    assert asked["valid"] == {"mask": "nodata", "nodata": 7, "source": "option"}
    with rasterio.open(store / "internal.tif") as src:
        assert asked["value"] == int(np.count_nonzero(src.read(1) != 7))
    nan = client.get("/stats/float.tif/count?nodata=nan").get_json()
    assert nan["valid"] == {"mask": "nodata", "nodata": "nan", "source": "option"}


def test_windows_polygons_and_histograms_say_it_too(client, store):
    claim = {"mask": "nodata", "nodata": 7, "source": "file"}
    assert client.get("/stats/nodata.tif/mean?window=0,0,20,20").get_json()["valid"] == claim
    body = {"funcs": ["min", "max"], "polygon": [[0, 0], [30, 0], [0, 30]]}
    assert client.post("/stats/nodata.tif", json=body).get_json()["valid"] == claim
    assert client.get("/stats/nodata.tif/histogram?bins=4").get_json()["valid"] == claim
    window = client.get("/stats/sidecar.tif/max?window=0,0,20,20&raw=true").get_json()
    assert window["valid"] == {"mask": None, "nodata": None, "source": "raw"}
    window = client.get("/stats/sidecar.tif/max?window=0,0,20,20").get_json()
    assert window["valid"] == {"mask": "sidecar", "nodata": None, "source": "file"}


def test_a_pattern_claims_a_rule_only_when_its_images_share_it(client):
    same = client.get("/stats/nodata*.tif/count").get_json()
    assert same["image_count"] == 2
    assert same["valid"] == {"mask": "nodata", "nodata": 7, "source": "file"}
    mixed = client.get("/stats/[ns]*.tif/count").get_json()  # nodata, nodata2, sidecar
    assert mixed["image_count"] == 3 and mixed["valid"] is None
    asked = client.get("/stats/[ns]*.tif/count?nodata=7").get_json()
    assert asked["valid"] == {"mask": "nodata", "nodata": 7, "source": "option"}


def test_zonal_says_it(client):
    triangle = [[[0, 0], [20, 0], [20, 20], [0, 0]]]
    zones = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"id": 1},
                "geometry": {"type": "Polygon", "coordinates": triangle},
            }
        ],
    }
    r = client.post("/zonal/internal.tif", json={"funcs": ["mean"], "zones": zones})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["imgstats"]["valid"] == {
        "mask": "internal",
        "nodata": None,
        "source": "file",
    }
    r = client.post("/zonal/nodata.tif", json={"funcs": ["mean"], "zones": {"labels": "plain.tif"}})
    assert r.get_json()["valid"] == {"mask": "nodata", "nodata": 7, "source": "file"}


@pytest.mark.parametrize("band", ["A", "3"])
def test_the_alpha_band_alone_says_no_rule(client, store, band):
    """Every alpha sample counts (GDAL gives an alpha band no mask): its answer names no
    rule, while the colour bands' answers (asked beside it, cached or not) name alpha."""
    with rasterio.open(store / "rgba.png") as src:
        assert src.mask_flag_enums[3] == [MaskFlags.all_valid]
        alpha = src.read(4, masked=True)
    none = {"mask": None, "nodata": None, "source": "file"}
    by_alpha = {"mask": "alpha", "nodata": None, "source": "file"}
    for _ in range(2):  # computed, then the cached answer
        body = client.get(f"/stats/rgba.png/count?band={band}").get_json()
        assert body["value"] == int(np.ma.count(alpha)) == H * W
        assert body["valid"] == none
        assert client.get("/stats/rgba.png/count?band=R").get_json()["valid"] == by_alpha
        assert client.get("/stats/rgba.png/count").get_json()["valid"] == by_alpha
    hist = client.get(f"/stats/rgba.png/histogram?bins=4&band={band}").get_json()
    assert hist["valid"] == none
    zones = {"funcs": ["count"], "zones": {"labels": "plain.tif"}}
    r = client.post("/zonal/rgba.png", json={**zones, "band": band})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["valid"] == none
    assert sum(row["count"] for row in r.get_json()["rows"]) == H * W
    r = client.post("/zonal/rgba.png", json={**zones, "band": "R"})
    assert r.get_json()["valid"] == by_alpha


@pytest.mark.slow
def test_a_summary_from_redis_says_it_and_an_old_one_is_summarized_again(
    store, redis_url, monkeypatch
):
    url, _ = redis_url
    config = {"IMAGES": str(store), "REDIS_URL": url, "WARMUP": False}
    first, second = create_app(config), create_app(config)
    try:
        claim = first.test_client().get("/stats/aux.tif/median").get_json()["valid"]
        assert claim == {"mask": "nodata", "nodata": 11, "source": "file"}
        calls = []
        real = service_module.summarize
        monkeypatch.setattr(
            service_module, "summarize", lambda *a, **k: calls.append(1) or real(*a, **k)
        )
        # another worker: the summary from Redis, the same claim, no pixel read
        assert second.test_client().get("/stats/aux.tif/p10").get_json()["valid"] == claim
        assert calls == []
        # an entry that does not say which samples it counted (a version before): never
        # answered with valid null, summarized again
        service = second.extensions["imgstats"]
        service.cache_clear()
        key = service._summary_key("aux.tif", service.version("aux.tif"), None)
        old = service.redis.get(key)
        service.redis.set(key, Summary(old.bands, old.band_names, old.luma, old.shape))
        assert service.redis.get(key) is None
        assert second.test_client().get("/stats/aux.tif/p10").get_json()["valid"] == claim
        assert calls == [1]
    finally:
        first.extensions["imgstats"].close()
        second.extensions["imgstats"].close()


@pytest.mark.slow
def test_over_gunicorn_every_answer_says_it(store, gunicorn_server):
    base, _ = gunicorn_server(store, workers=1, env={"IMGSTATS_WARMUP": "0"})
    for path, claim in [
        ("/stats/sidecar.tif/median", {"mask": "sidecar", "nodata": None, "source": "file"}),
        ("/stats/rgba.png/mean", {"mask": "alpha", "nodata": None, "source": "file"}),
        ("/stats/pages.tif/max?page=2", {"mask": "nodata", "nodata": 9, "source": "file"}),
        ("/stats/masked.jpg/min?raw=1", {"mask": None, "nodata": None, "source": "raw"}),
    ]:
        for _ in range(2):  # computed, then cached
            with urllib.request.urlopen(base + path, timeout=120) as r:
                assert json.load(r)["valid"] == claim, path
