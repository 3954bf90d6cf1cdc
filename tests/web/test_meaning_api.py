"""Which samples count over HTTP (issue 16 items 1, 5): ``?raw``, ``?nodata``, ``?bbox``,
``?crs`` and the same keys in the POST body, cached apart; and their bad values as 4xx.

rasterio writes the GeoTIFFs and is the oracle: ``read(masked=True)`` gives GDAL's valid
samples, which numpy then reduces.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import rasterio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.transform import Affine

import imgstats
import imgstats.web.service as service_module
from imgstats.web import create_app

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

H, W = 90, 130
TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)
FUNCS = ["min", "max", "mean", "median", "p10", "p99"]
NODATA = {
    "uint8": 0,
    "uint16": 65535,
    "int16": -32768,
    "int32": -99999,
    "float32": -3.4e38,
    "float64": -9999.0,
}


def _write(path, data: np.ndarray, nodata=None, crs="EPSG:32633", transform=TRANSFORM):
    bands = data[None] if data.ndim == 2 else np.moveaxis(data, -1, 0)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=bands.shape[2],
        height=bands.shape[1],
        count=bands.shape[0],
        dtype=data.dtype.name,
        crs=crs,
        transform=transform,
        nodata=nodata,
        tiled=True,
        blockxsize=32,
        blockysize=32,
    ) as dst:
        dst.write(bands)
    return path


def _data(dtype: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype.startswith("float"):
        arr = rng.normal(100.0, 30.0, (H, W)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        arr = rng.integers(max(info.min, -1000) + 1, min(info.max, 5000), (H, W)).astype(dtype)
    arr[10:30, 5:60] = NODATA[dtype]  # a block of nodata, and a few scattered samples
    arr[rng.random((H, W)) < 0.05] = NODATA[dtype]
    arr[0, 0] = 7  # a value that ?nodata=7 takes out
    return arr


def oracle(samples: np.ndarray, func: str):
    samples = np.asarray(samples).ravel()
    if func in ("min", "max"):
        return getattr(np, func)(samples).item()
    if func == "mean":
        return float(np.mean(samples, dtype=np.float64))
    q = 50.0 if func == "median" else float(func[1:])
    return np.percentile(samples, q).item()


def same(value, expected, func):
    if func == "mean":
        return math.isclose(value, expected, rel_tol=1e-12)
    return value == expected


@pytest.fixture
def geo(images):
    """A GeoTIFF with nodata of each type in the store: ``{dtype: (name, pixels)}``."""
    out = {}
    for dtype, nodata in NODATA.items():
        name = f"geo_{dtype}.tif"
        data = _data(dtype)
        _write(images / name, data, nodata)
        out[dtype] = (name, data)
    return out


@pytest.mark.parametrize("dtype", list(NODATA))
def test_default_raw_and_nodata_equal_gdal_and_numpy(client, images, geo, dtype):
    name, data = geo[dtype]
    with rasterio.open(images / name) as src:
        masked = src.read(1, masked=True)
    valid = masked.compressed()
    assert valid.size < data.size  # the file's nodata is honoured by default
    for func in FUNCS:
        default = client.get(f"/stats/{name}/{func}").get_json()
        assert same(default["value"], oracle(valid, func), func), (func, default)
        assert default["count"] == valid.size and "raw" not in default
        raw = client.get(f"/stats/{name}/{func}?raw=1").get_json()
        assert same(raw["value"], oracle(data, func), func), (func, raw)
        assert raw["count"] == data.size and raw["raw"] is True
        other = client.get(f"/stats/{name}/{func}?nodata=7").get_json()
        assert same(other["value"], oracle(data[data != 7], func), func), (func, other)
        assert other["count"] == int((data != 7).sum()) and other["nodata"] == 7
    # a second round comes from the caches, each still its own samples
    assert client.get(f"/stats/{name}/mean").get_json()["count"] == valid.size
    assert client.get(f"/stats/{name}/mean?raw=true").get_json()["count"] == data.size


def test_raw_and_masked_summaries_are_cached_apart(client, geo, monkeypatch):
    name, data = geo["uint16"]
    calls = []
    real = service_module.summarize

    def counting(*args, **kwargs):
        calls.append({k: kwargs.get(k) for k in ("raw", "nodata")})
        return real(*args, **kwargs)

    monkeypatch.setattr(service_module, "summarize", counting)
    raw = client.get(f"/stats/{name}/max?raw=1").get_json()
    masked = client.get(f"/stats/{name}/max").get_json()
    assert raw["value"] == 65535 and masked["value"] < 65535
    assert calls == [{"raw": True, "nodata": None}, {"raw": None, "nodata": None}]
    # new functions of both come from their own summaries, without reading pixels
    assert client.get(f"/stats/{name}/p90?raw=1").get_json()["value"] == oracle(data, "p90")
    valid = data[data != 65535]
    assert client.get(f"/stats/{name}/p90").get_json()["value"] == oracle(valid, "p90")
    assert len(calls) == 2
    # ?nodata= is a third set of samples; 7 and 7.0 are one question
    assert client.get(f"/stats/{name}/count?nodata=7").get_json()["value"] == (data != 7).sum()
    assert len(calls) == 3
    assert client.get(f"/stats/{name}/max?nodata=7.0").get_json()["value"] == data.max()
    assert client.get(f"/stats/{name}/max?nodata=7e0").get_json()["nodata"] == 7
    assert len(calls) == 3  # the summary of nodata=7
    assert client.get(f"/stats/{name}/count?raw=0").get_json()["value"] == valid.size


def test_etags_differ_between_raw_and_masked(client, geo):
    name, _ = geo["int16"]
    a = client.get(f"/stats/{name}/mean").headers["ETag"]
    b = client.get(f"/stats/{name}/mean?raw=1").headers["ETag"]
    c = client.get(f"/stats/{name}/mean?nodata=7").headers["ETag"]
    assert len({a, b, c}) == 3


def test_post_body_takes_raw_nodata_bbox_and_crs(client, geo):
    name, data = geo["float32"]
    body = {"funcs": ["min", "median", "count"], "raw": True}
    got = client.post(f"/stats/{name}", json=body).get_json()
    assert got["values"]["min"] == oracle(data, "min") and got["raw"] is True
    got = client.post(f"/stats/{name}", json={"funcs": ["count"], "nodata": 7}).get_json()
    assert got["values"]["count"] == int((data != 7).sum())
    got = client.post(f"/stats/{name}", json={"funcs": ["count"], "nodata": "nan"}).get_json()
    assert got["values"]["count"] == data.size and got["nodata"] == "nan"
    # a bbox of the pixels x 10..40, y 20..50 (edges on pixel edges), as a list and a string
    bbox = [500000 + 100, 4000000 - 500, 500000 + 400, 4000000 - 200]
    for shape in (bbox, ",".join(map(str, bbox))):
        got = client.post(f"/stats/{name}", json={"funcs": ["max", "count"], "bbox": shape})
        body = got.get_json()
        assert got.status_code == 200, body
        cut = data[20:50, 10:40]
        valid = cut[cut != np.float32(-3.4e38)]
        assert body["window"] == [10, 20, 40, 50]
        assert body["values"] == {"max": oracle(valid, "max"), "count": valid.size}
    got = client.post(
        f"/stats/{name}", json={"funcs": ["count"], "bbox": bbox, "crs": "EPSG:32633"}
    )
    assert got.status_code == 200 and got.get_json()["window"] == [10, 20, 40, 50]


def test_bbox_is_the_window_it_selects_and_shares_its_cache(client, geo, monkeypatch):
    name, data = geo["int32"]
    by_window = client.get(f"/stats/{name}/median?window=10,20,40,50").get_json()
    calls = []
    monkeypatch.setattr(
        service_module, "summarize", lambda *a, **k: calls.append(1) or imgstats.summarize(*a, **k)
    )
    bbox = "500100,3999500,500400,3999800"
    by_bbox = client.get(f"/stats/{name}/median?bbox={bbox}").get_json()
    assert by_bbox == by_window and calls == []  # the same window: its cached answer
    cut = data[20:50, 10:40]
    assert by_bbox["value"] == oracle(cut[cut != NODATA["int32"]], "median")


def test_bbox_in_lon_lat_is_reprojected(client, images, geo):
    pytest.importorskip("pyproj")
    name, _ = geo["uint8"]
    bbox = "15.0022,36.1384,15.01,36.1429"  # inside the UTM 33N raster (500 km E, 4000 km N)
    got = client.get(f"/stats/{name}/mean?bbox={bbox}&crs=EPSG:4326")
    body = got.get_json()
    assert got.status_code == 200, body
    expected = imgstats.compute(images / name, ["mean", "count"], bbox=bbox, crs="EPSG:4326")
    assert body["value"] == expected["mean"] and body["count"] == expected["count"]
    assert 0 < body["count"] < H * W


def test_collections_take_raw_and_nodata(client, geo):
    a, b = geo["uint8"][1], geo["uint16"][1]
    got = client.get("/stats/geo_uint*/count?raw=1").get_json()
    assert [i["name"] for i in got["images"]] == ["geo_uint16.tif", "geo_uint8.tif"]
    assert got["value"] == a.size + b.size and got["raw"] is True
    got = client.get("/stats/geo_uint*/count").get_json()
    assert got["value"] == int((a != 0).sum() + (b != 65535).sum())
    got = client.get("/stats/geo_uint*/count?nodata=7").get_json()
    assert got["value"] == int((a != 7).sum() + (b != 7).sum())


def test_all_nodata_is_422(client, images):
    _write(images / "empty.tif", np.full((8, 8), 5, np.int16), nodata=5)
    got = client.get("/stats/empty.tif/mean")
    assert got.status_code == 422 and "no valid samples" in got.get_json()["error"]
    assert client.get("/stats/empty.tif/mean?raw=1").get_json()["value"] == 5


# -- bad input: each a 4xx JSON with a readable message, never a 500 -----------------------
BAD = [
    ("/stats/geo_uint8.tif/mean?nodata=abc", 400, "nodata must be a number"),
    ("/stats/geo_uint8.tif/mean?nodata=1e999999", 400, "not a whole number"),
    ("/stats/geo_uint8.tif/mean?nodata=" + "9" * 80, 400, "nodata must be a number"),
    ("/stats/geo_uint8.tif/mean?nodata=256", 400, "outside the range of the image's type uint8"),
    ("/stats/geo_uint8.tif/mean?nodata=-1", 400, "outside the range"),
    ("/stats/geo_int16.tif/mean?nodata=1.5", 400, "not a whole number"),
    ("/stats/geo_float32.tif/mean?nodata=1e300", 400, "outside the range"),
    ("/stats/geo_uint8.tif/mean?nodata=1_0", 400, "nodata must be a number"),
    ("/stats/geo_uint8.tif/mean?raw=1&nodata=3", 400, "takes no nodata"),
    ("/stats/geo_uint8.tif/mean?raw=maybe", 400, "invalid raw"),
    ("/stats/geo_uint8.tif/mean?bbox=1,2,3", 400, "invalid bbox"),
    ("/stats/geo_uint8.tif/mean?bbox=a,b,c,d", 400, "invalid bbox"),
    ("/stats/geo_uint8.tif/mean?bbox=500400,3999500,500100,3999800", 400, "inverted"),
    ("/stats/geo_uint8.tif/mean?bbox=1,1,1,2", 400, "inverted or empty"),
    ("/stats/geo_uint8.tif/mean?bbox=0,0,10,10", 422, "no pixel centre"),
    ("/stats/geo_uint8.tif/mean?bbox=1,2,3,nan", 400, "finite"),
    ("/stats/geo_uint8.tif/mean?bbox=" + "1," * 100 + "1", 400, "invalid bbox"),
    ("/stats/geo_uint8.tif/mean?bbox=0,0,1,1&crs=EPSG:999999", 400, "unknown CRS"),
    ("/stats/geo_uint8.tif/mean?bbox=0,0,1,1&crs=nonsense", 400, "unknown CRS"),
    ("/stats/geo_uint8.tif/mean?bbox=0,0,1,1&crs=IAU_2015:30100", 400, "celestial body"),
    ("/stats/geo_uint8.tif/mean?crs=EPSG:4326", 400, "give a bbox"),
    ("/stats/geo_uint8.tif/mean?bbox=0,0,1,1&window=0,0,2,2", 400, "not both"),
    ("/stats/IMG_1.jpg/mean?bbox=0,0,1,1", 400, "no georeferencing"),
    ("/stats/geo_*/mean?bbox=0,0,1,1", 400, "not to a pattern"),
    ("/stats/geo_uint8.tif/mean?nodat=0", 400, "unknown query parameter"),
    ("/stats/geo_uint8.tif/mean?bboxes=0,0,1,1", 400, "unknown query parameter"),
]


@pytest.mark.parametrize(("url", "status", "message"), BAD, ids=[b[0][6:60] for b in BAD])
def test_bad_options_are_4xx_json(client, geo, url, status, message):
    got = client.get(url)
    body = got.get_json()
    assert got.status_code == status, body
    assert message in body["error"], body


BAD_BODIES = [
    ({"raw": "yes"}, "'raw' must be true or false"),
    ({"raw": 1}, "'raw' must be true or false"),
    ({"nodata": [1]}, "'nodata' must be a number"),
    ({"nodata": True}, "'nodata' must be a number"),
    ({"nodata": 1e300}, "outside the range"),
    ({"bbox": {"x": 1}}, "'bbox' must be"),
    ({"bbox": [1, 2, 3, 1e400]}, "finite"),
    ({"bbox": [0, 0, 1, 1], "crs": 4326}, "'crs' must be"),
    ({"bbox": [0, 0, 1, 1], "crs": "EPSG:0"}, "unknown CRS"),
    ({"crs": "EPSG:4326"}, "give a bbox"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_BODIES, ids=[str(b[0]) for b in BAD_BODIES])
def test_bad_body_options_are_400(client, geo, extra, message):
    got = client.post("/stats/geo_uint8.tif", json={"funcs": ["mean"], **extra})
    body = got.get_json()
    assert got.status_code == 400, body
    assert message in body["error"], body


def test_crs_without_the_geo_extra_names_it(client, geo, monkeypatch):
    # pyproj is installed here: its absence is simulated, as an import that fails
    monkeypatch.setitem(sys.modules, "pyproj", None)
    got = client.get("/stats/geo_uint8.tif/mean?bbox=15.0022,36.1384,15.01,36.1429&crs=EPSG:4326")
    body = got.get_json()
    assert got.status_code == 400 and "imgstats[geo]" in body["error"], body
    # the raster's own CRS needs no pyproj
    got = client.get("/stats/geo_uint8.tif/mean?bbox=500100,3999500,500400,3999800&crs=EPSG:32633")
    assert got.status_code == 200


@pytest.mark.slow
def test_redis_keeps_raw_and_masked_apart(images, geo, redis_url, monkeypatch):
    url, _ = redis_url
    name, data = geo["int16"]
    first = create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False})
    second = create_app({"IMAGES": str(images), "REDIS_URL": url, "WARMUP": False})
    try:
        raw = first.test_client().get(f"/stats/{name}/min?raw=1").get_json()
        assert raw["value"] == -32768
        calls = []
        real = service_module.summarize
        monkeypatch.setattr(
            service_module, "summarize", lambda *a, **k: calls.append(k) or real(*a, **k)
        )
        # the raw summary is in Redis for the second worker, under its own key ...
        again = second.test_client().get(f"/stats/{name}/p50?raw=1").get_json()
        assert again["value"] == oracle(data, "median") and calls == []
        # ... and is not what the masked question finds there: it reads its own samples
        masked = second.test_client().get(f"/stats/{name}/min").get_json()
        assert masked["value"] == oracle(data[data != -32768], "min")
        assert len(calls) == 1 and "raw" not in calls[0]
    finally:
        first.extensions["imgstats"].close()
        second.extensions["imgstats"].close()


def test_openapi_documents_the_options(client):
    import re

    doc = client.get("/api/openapi.json").get_json()
    get = doc["paths"]["/stats/{image}/{func}"]["get"]
    names = {p["name"] for p in get["parameters"]}
    assert {"raw", "nodata", "bbox", "crs", "bins", "range"} <= names
    func = next(p for p in get["parameters"] if p["name"] == "func")
    assert re.match(func["schema"]["pattern"], "histogram")
    body = doc["paths"]["/stats/{image}"]["post"]["requestBody"]["content"]["application/json"]
    assert {"raw", "nodata", "bbox", "crs"} <= set(body["schema"]["properties"])
    # and the routes take exactly what the document lists
    from imgstats.web.api import _BODY_KEYS, GET_PARAMETERS

    assert names - {"image", "func"} == GET_PARAMETERS
    assert set(body["schema"]["properties"]) == _BODY_KEYS


def test_pixels_of_a_rectangular_polygon_and_a_reprojected_bbox(client, geo):
    # a polygon that is a rectangle of pixels is read as a window: (y, x) samples
    square = [[10, 10], [100, 10], [100, 90], [10, 90]]
    got = client.post("/stats/IMG_12_uint16.tif", json={"funcs": ["count"], "polygon": square})
    assert got.get_json()["pixels"] == 90 * 80 == got.get_json()["values"]["count"]
    name, _ = geo["uint8"]
    got = client.get(f"/stats/{name}/count?raw=1&bbox=15.0022,36.1384,15.01,36.1429&crs=EPSG:4326")
    body = got.get_json()
    assert body["pixels"] == body["count"] == body["value"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    func=st.sampled_from(["mean", "median", "histogram", "count"]),
    options=st.dictionaries(
        st.sampled_from(["raw", "nodata", "bbox", "crs", "bins", "range", "window"]),
        st.text(max_size=30)
        | st.sampled_from(["1", "0", "nan", "-inf", "1e999", "0,0,1,1", "EPSG:4326", "5,1"])
        | st.lists(st.floats(allow_nan=True), min_size=1, max_size=5).map(
            lambda xs: ",".join(map(repr, xs))
        ),
        max_size=4,
    ),
)
def test_any_options_are_answered_without_a_500(client, geo, func, options):
    from urllib.parse import urlencode

    got = client.get(f"/stats/geo_float32.tif/{func}?" + urlencode(options))
    assert got.status_code in (200, 400, 422), (options, got.get_json())
    assert got.is_json


@pytest.mark.parametrize("func", ["std", "mean", "sum", "min", "max", "median"])
def test_physical_values_beyond_float64_are_answered_not_a_500(client, geo, func):
    # before: the std of physical values beyond float64's range raised OverflowError, a 500
    name, data = geo["uint8"]
    valid = data[data != NODATA["uint8"]].astype(np.float64)
    with np.errstate(all="ignore"):
        mapped = valid * 1e308 - 1e308
        want = {"std": mapped.std(), "mean": mapped.mean(), "sum": mapped.sum()}.get(func)
    got = client.get(f"/stats/{name}/{func}?scale=1e308&offset=-1e308")
    posted = client.post(f"/stats/{name}", json={"funcs": [func], "scale": 1e308, "offset": -1e308})
    assert (got.status_code, posted.status_code) == (200, 200), got.get_json()
    assert posted.get_json()["values"][func] == got.get_json()["value"]
    if want is not None:  # JSON has no NaN or infinity: null
        assert got.get_json()["value"] == (want.item() if np.isfinite(want) else None)


def test_image_info_gives_the_header_facts(client, images, geo):
    name, data = geo["int16"]
    got = client.get(f"/api/images/{name}")
    assert got.status_code == 200 and got.mimetype == "application/json"
    info = got.get_json()
    with rasterio.open(images / name) as src:
        assert info["crs"] == src.crs.to_string()
        assert info["transform"][:6] == list(src.transform)[:6]
        assert info["bounds"] == list(src.bounds)
        assert info["nodata"] == src.nodata == NODATA["int16"]
    assert (info["width"], info["height"], info["dtype"]) == (W, H, "int16")
    assert info["mask"] == "nodata" and info["scales"] is None
    again = client.get(f"/api/images/{name}", headers={"If-None-Match": got.headers["ETag"]})
    assert again.status_code == 304
    plain = client.get("/api/images/IMG_1.jpg").get_json()
    assert plain["crs"] is None and plain["nodata"] is None and plain["format"] == "JPEG"
    for bad in ("nope.tif", "IMG_*.jpg", "..%2Fetc%2Fpasswd"):
        missing = client.get(f"/api/images/{bad}")
        assert missing.status_code == 404 and "error" in missing.get_json(), bad
