"""Windows, polygons and collections over HTTP, with numpy as the oracle.

``GET /stats/<image>/<func>?window=x0,y0,x1,y1``, ``POST /stats/<image>`` with a JSON body
(funcs + polygon and/or window), and ``GET /stats/<pattern>/<func>`` over the samples of every
image the fnmatch pattern matches.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_helpers import http_get

import imgstats
import imgstats.web.service as service_module

FUNCS = ["min", "max", "mean", "median", "p0", "p2.5", "p99.9", "p100"]
IMAGES = ["IMG_1.jpg", "IMG_11.png", "IMG_12_uint16.tif", "IMG_13_float32.tif", "IMG_14_int16.tif"]


def oracle(samples: np.ndarray, func: str):
    """numpy's answer for ``func`` over ``samples`` (NaN ignored)."""
    if func in ("min", "max"):
        return getattr(np, f"nan{func}")(samples).item()
    if func == "mean":
        return float(np.nanmean(samples, dtype=np.float64))
    q = 50.0 if func == "median" else float(func[1:])
    return np.nanpercentile(samples, q).item()


def assert_equal(value, expected, func: str) -> None:
    if func == "mean":
        assert math.isclose(value, expected, rel_tol=1e-12), (func, value, expected)
    else:
        assert value == expected, (func, value, expected)


def pixels(images, name: str) -> np.ndarray:
    return np.asarray(imgstats.open_image(images / name))


def gdal(arr: np.ndarray) -> np.ndarray:
    """GDAL's valid samples pooled (issue 16): RGBA's colour bands where alpha is not 0."""
    if arr.ndim >= 2 and arr.shape[-1] == 4 and arr.dtype == np.uint8:
        return arr[..., :3][arr[..., 3] != 0]
    return arr


def band_of(arr: np.ndarray, i: int) -> np.ndarray:
    """Band ``i``'s valid samples: a colour band of RGBA where alpha is not 0, alpha whole."""
    if arr.shape[-1] == 4 and arr.dtype == np.uint8 and i < 3:
        return arr[..., i][arr[..., 3] != 0]
    return arr[..., i]


@pytest.fixture
def counted(monkeypatch):
    """Count the service's pixel passes: summarize, refine and the collection refinement."""
    calls = {"summarize": 0, "refine": 0, "refine_many": 0}

    def wrap(name, real):
        def counting(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        return counting

    for name in calls:
        monkeypatch.setattr(service_module, name, wrap(name, getattr(service_module, name)))
    return calls


# -- windows -----------------------------------------------------------------------------------
WINDOWS = ["10,20,110,70", "0,0,1,1", "-30,-5,64,48", "300,200,100000,100000"]


@pytest.mark.parametrize("name", IMAGES)
@pytest.mark.parametrize("window", WINDOWS)
def test_window_equals_numpy(client, images, name, window):
    arr = pixels(images, name)
    x0, y0, x1, y1 = (int(v) for v in window.split(","))
    cut = arr[max(y0, 0) : y1, max(x0, 0) : x1]
    for func in FUNCS:
        r = client.get(f"/stats/{name}/{func}?window={window}")
        # a NaN pixel of the float32 image, or transparent pixels only (alpha 0: issue 16)
        if np.isnan(gdal(cut).astype(np.float64)).all():
            assert r.status_code == 422 and "no valid samples" in r.get_json()["error"]
            continue
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        assert_equal(body["value"], oracle(gdal(cut), func), func)
        assert body["window"] == [
            max(x0, 0),
            max(y0, 0),
            max(x0, 0) + cut.shape[1],
            max(y0, 0) + cut.shape[0],
        ]
        assert body["pixels"] == cut.shape[0] * cut.shape[1]
        assert body["count"] == np.count_nonzero(~np.isnan(gdal(cut).astype(np.float64)))
        if cut.ndim == 3:
            names = imgstats.open_image(images / name).band.values
            assert list(body["bands"]) == list(names)
            for i, band in enumerate(names):
                assert_equal(body["bands"][band], oracle(band_of(cut, i), func), func)


def test_window_with_band_and_etag(client, images):
    arr = pixels(images, "IMG_1.jpg")
    r = client.get("/stats/IMG_1.jpg/p90?window=5,6,50,60&band=G")
    assert r.get_json()["value"] == np.percentile(arr[6:60, 5:50, 1], 90).item()
    whole = client.get("/stats/IMG_1.jpg/p90?band=G")
    other = client.get("/stats/IMG_1.jpg/p90?window=5,6,50,61&band=G")
    assert len({r.headers["ETag"], whole.headers["ETag"], other.headers["ETag"]}) == 3
    again = client.get(
        "/stats/IMG_1.jpg/p90?window=5,6,50,60&band=G", headers={"If-None-Match": r.headers["ETag"]}
    )
    assert again.status_code == 304


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    x0=st.integers(-50, 650),
    y0=st.integers(-50, 450),
    x1=st.integers(-50, 650),
    y1=st.integers(-50, 450),
)
def test_any_window_is_numpy_or_a_400(client, images, x0, y0, x1, y1):
    """600 x 400 int16: inside (clipped) windows equal numpy, the others are a 400."""
    arr = pixels(images, "IMG_14_int16.tif")
    r = client.get(f"/stats/IMG_14_int16.tif/p37.5?window={x0},{y0},{x1},{y1}")
    cut = arr[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)]
    if x1 <= x0 or y1 <= y0 or cut.size == 0:
        assert r.status_code == 400, r.get_json()
        assert "window" in r.get_json()["error"]
    else:
        assert r.status_code == 200
        assert r.get_json()["value"] == np.percentile(cut, 37.5).item()


def test_window_answers_are_cached_per_image_version_and_window(client, images, counted):
    for func in ["mean", "median", "p99", "min"]:
        assert client.get(f"/stats/IMG_1.jpg/{func}?window=0,0,64,64").status_code == 200
    assert counted["summarize"] == 1  # one pass for the window, every function from it
    client.get("/stats/IMG_1.jpg/mean?window=0,0,64,65")
    client.get("/stats/IMG_1.jpg/mean")
    assert counted["summarize"] == 3  # another window, and the whole image, are their own
    first = client.get("/stats/IMG_13_float32.tif/p10?window=3,4,200,100").get_json()
    client.get("/stats/IMG_13_float32.tif/p10?window=3,4,200,100")
    assert (counted["summarize"], counted["refine"]) == (4, 1)
    arr = pixels(images, "IMG_13_float32.tif")
    assert first["value"] == np.nanpercentile(arr[4:100, 3:200], 10).item()
    # a new version of the image is a new question
    tifffile.imwrite(images / "IMG_13_float32.tif", np.full((120, 220), 7.5, np.float32))
    again = client.get("/stats/IMG_13_float32.tif/p10?window=3,4,200,100").get_json()
    assert again["value"] == 7.5 and again["version"] != first["version"]


def test_a_window_of_a_tiled_tiff_reads_only_the_tiles_it_touches(client, images, monkeypatch):
    arr = np.random.default_rng(6).normal(size=(256, 192)).astype(np.float32)
    tifffile.imwrite(images / "tiled.tif", arr, tile=(32, 32), compression="zlib")
    with tifffile.TiffFile(images / "tiled.tif") as tif:
        offsets = list(tif.pages[0].dataoffsets)
    seen = []
    cache = tifffile.tifffile.FileCache
    original = cache.read

    def read(self, fh, offset, bytecount, whence=0):
        if offset in offsets:
            seen.append(offsets.index(offset))
        return original(self, fh, offset, bytecount, whence)

    def read_segments(self, wanted, *args, **kwargs):  # the TIFF stream reads in batches
        seen.extend(offsets.index(o) for o in wanted if o in offsets)
        return original_segments(self, wanted, *args, **kwargs)

    original_segments = tifffile.tifffile.FileHandle.read_segments
    monkeypatch.setattr(cache, "read", read)
    monkeypatch.setattr(tifffile.tifffile.FileHandle, "read_segments", read_segments)
    body = client.post(
        "/stats/tiled.tif", json={"funcs": ["min", "p90"], "window": [40, 70, 90, 100]}
    ).get_json()
    assert body["values"] == {
        "min": arr[70:100, 40:90].min().item(),
        "p90": np.percentile(arr[70:100, 40:90], 90).item(),
    }
    touched = {r * 6 + c for r in (2, 3) for c in (1, 2)}  # tile rows 2-3, columns 1-2
    assert set(seen) == touched and len(seen) <= 2 * len(touched)  # summary + refinement


# -- polygons ----------------------------------------------------------------------------------
def centre_mask(shape, vertices) -> np.ndarray:
    """Pixels whose centre lies inside a simple polygon (matplotlib's point-in-path)."""
    from matplotlib.path import Path

    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    centres = np.column_stack([xx.ravel() + 0.5, yy.ravel() + 0.5])
    return Path(vertices).contains_points(centres).reshape(h, w)


TRIANGLE = [[10.31, 12.17], [200.31, 40.17], [90.31, 230.17]]


@pytest.mark.parametrize("name", IMAGES)
def test_polygon_answers_every_function_as_numpy(client, images, name):
    arr = pixels(images, name)
    inside = centre_mask(arr.shape, TRIANGLE)
    r = client.post(f"/stats/{name}", json={"funcs": FUNCS, "polygon": TRIANGLE})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["funcs"] == FUNCS and body["pixels"] == inside.sum()
    samples = arr[inside]
    for func in FUNCS:
        assert_equal(body["values"][func], oracle(gdal(samples), func), func)
    if arr.ndim == 3:
        assert set(body["bands"]) == set(imgstats.open_image(images / name).band.values)
        assert body["bands"]["R"]["median"] == np.median(band_of(samples, 0)).item()
    assert r.headers["Cache-Control"] == "no-store"


def test_geojson_polygon_with_a_hole_and_a_window(client, images):
    arr = pixels(images, "IMG_12_uint16.tif")
    outer = [[20, 20], [300, 20], [300, 200], [20, 200], [20, 20]]
    hole = [[100, 50], [200, 50], [200, 150], [100, 150], [100, 50]]
    geo = {"type": "Polygon", "coordinates": [outer, hole]}
    expected = np.ones(arr.shape, bool)
    expected[:20] = expected[200:] = False
    expected[:, :20] = expected[:, 300:] = False
    expected[50:150, 100:200] = False
    body = client.post(
        "/stats/IMG_12_uint16.tif", json={"funcs": ["p10", "median", "max"], "polygon": geo}
    ).get_json()
    assert body["values"] == {f: oracle(arr[expected], f) for f in ["p10", "median", "max"]}
    assert body["pixels"] == expected.sum()
    # a window intersects the polygon
    body = client.post(
        "/stats/IMG_12_uint16.tif",
        json={"funcs": ["median"], "polygon": geo, "window": "0,0,150,100"},
    ).get_json()
    expected[:, 150:] = False
    expected[100:] = False
    assert body["values"]["median"] == np.median(arr[expected]).item()


def test_self_intersecting_polygon_follows_the_even_odd_rule(client, images):
    arr = pixels(images, "IMG_14_int16.tif")
    # two triangles meeting at (50.4, 50.1); no pixel centre lies on an edge
    bow_tie = [[0.3, 0.2], [100.3, 100.2], [100.3, 0.2], [0.3, 100.2]]
    body = client.post(
        "/stats/IMG_14_int16.tif", json={"funcs": ["mean", "max"], "polygon": bow_tie}
    ).get_json()
    yy, xx = np.mgrid[0:100, 0:100] + 0.5
    below, above = yy < xx - 0.1, yy < 100.5 - xx
    lobes = (below & ~above) | (~below & above)
    assert body["pixels"] == lobes.sum()
    assert body["values"]["max"] == arr[:100, :100][lobes].max().item()


def test_the_same_polygon_in_either_spelling_is_one_cached_summary(client, counted):
    square = [[5, 5], [60, 5], [60, 60], [5, 60]]
    geo = {"type": "Polygon", "coordinates": [[*square, square[0]]]}
    a = client.post("/stats/IMG_1.jpg", json={"funcs": ["median"], "polygon": square})
    b = client.post("/stats/IMG_1.jpg", json={"funcs": ["p90", "min"], "polygon": geo})
    assert a.status_code == b.status_code == 200
    assert counted["summarize"] == 1
    window = client.get("/stats/IMG_1.jpg/median?window=5,5,60,60").get_json()
    assert a.get_json()["values"]["median"] == window["value"]


# -- collections -------------------------------------------------------------------------------
@pytest.fixture
def floats(images):
    """Three float32 images of different shapes, with NaNs and repeated values."""
    rng = np.random.default_rng(11)
    arrays = {
        "col_a.tif": rng.normal(0, 1, (37, 53)).astype(np.float32),
        "col_b.tif": rng.normal(2, 3, (64, 20)).astype(np.float32),
        "col_c.tif": np.repeat(rng.normal(size=(5, 1)), 30, axis=1).astype(np.float32),
    }
    arrays["col_b.tif"][3, 4:9] = np.nan
    for name, arr in arrays.items():
        tifffile.imwrite(images / name, arr)
    return arrays


def test_collection_of_floats_equals_numpy_on_the_concatenation(client, floats):
    together = np.concatenate([a.ravel() for a in floats.values()])
    for func in FUNCS + ["p0.1", "p33.3", "p99.99"]:
        body = client.get(f"/stats/col_*.tif/{func}").get_json()
        assert_equal(body["value"], oracle(together, func), func)
    assert body["pattern"] == "col_*.tif" and body["image_count"] == 3
    body = client.get("/stats/col_*.tif/p10?band=0").get_json()  # one band: the images'
    assert body["value"] == np.nanpercentile(together, 10).item()
    assert body["count"] == np.count_nonzero(~np.isnan(together))
    assert [i["name"] for i in body["images"]] == sorted(floats)


def test_collection_answer_lists_the_images_and_their_versions(client, service, images):
    r = client.get("/stats/IMG_1*g/median")  # IMG_1.jpg (RGB) and IMG_11.png (RGBA)
    body = r.get_json()
    assert r.status_code == 200, body
    assert body["images"] == [
        {"name": n, "version": service.version(n)} for n in ["IMG_1.jpg", "IMG_11.png"]
    ]
    together = np.concatenate(
        [gdal(pixels(images, n)).ravel() for n in ["IMG_1.jpg", "IMG_11.png"]]
    )
    assert body["value"] == np.median(together).item()
    assert body["dtype"] == "uint8" and body["count"] == together.size
    # a new image joins the match: a new answer, a new ETag
    (images / "IMG_1b.png").write_bytes((images / "IMG_11.png").read_bytes())
    again = client.get("/stats/IMG_1*g/median", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 200 and again.get_json()["image_count"] == 3
    assert again.headers["ETag"] != r.headers["ETag"]


def test_mixed_types_follow_numpy_promotion_without_pixels(client, images, counted, monkeypatch):
    """uint8 RGB + RGBA, uint16, float32 and int16: numpy concatenates them as float32."""
    names = [
        "IMG_1.jpg",
        "IMG_11.png",
        "IMG_12_uint16.tif",
        "IMG_13_float32.tif",
        "IMG_14_int16.tif",
    ]
    together = np.concatenate([gdal(pixels(images, n)).ravel() for n in names])
    assert together.dtype == np.float32
    for name in names:
        client.get(f"/stats/{name}/mean")
    assert counted["summarize"] == 5
    for func in [*FUNCS, "p0.01", "p33.3"]:
        body = client.get(f"/stats/IMG_1*/{func}").get_json()
        assert_equal(body["value"], oracle(together, func), func)
        assert type(body["value"]) is float
    assert body["dtype"] == "float32" and body["image_count"] == 5
    assert body["count"] == np.count_nonzero(~np.isnan(together))
    assert counted["summarize"] == 5  # the narrower images were not decoded again
    # 8/16-bit integers only: their promotion (int32 here) refines without any pixel read
    import imgstats.collection

    reads = []
    found_one = imgstats.collection._found_one
    monkeypatch.setattr(
        imgstats.collection, "_found_one", lambda *args: reads.append(args[0]) or found_one(*args)
    )
    ints = np.concatenate(
        [pixels(images, n).ravel() for n in ["IMG_12_uint16.tif", "IMG_14_int16.tif"]]
    )
    before = counted["refine_many"]
    body = client.get("/stats/IMG_1[24]*/p12.5").get_json()
    assert body["value"] == np.percentile(ints, 12.5).item() and body["dtype"] == "int32"
    assert counted["refine_many"] == before + 1 and reads == []
    assert (counted["summarize"], counted["refine"]) == (5, 0)


def test_collection_with_a_window_and_a_band(client, images):
    names = ["IMG_1.jpg", "IMG_11.png"]
    cuts = [pixels(images, n)[10:90, 20:300] for n in names]
    body = client.get("/stats/IMG_1%3F.png/p75?window=20,10,300,90").get_json()  # ? is %3F
    assert [i["name"] for i in body["images"]] == ["IMG_11.png"]
    assert body["value"] == np.percentile(gdal(cuts[1]), 75).item()
    body = client.post(
        "/stats/IMG_1*g", json={"funcs": ["mean", "p75"], "window": "20,10,300,90", "band": "all"}
    ).get_json()
    together = np.concatenate([gdal(c).ravel() for c in cuts])
    assert body["values"]["p75"] == np.percentile(together, 75).item()


def test_a_collection_reads_no_pixels_once_each_image_was_seen(client, images, floats, counted):
    names = ["IMG_1.jpg", "IMG_11.png"]
    for name in [*names, *floats]:
        assert client.get(f"/stats/{name}/mean").status_code == 200
    assert counted["summarize"] == 5
    for func in FUNCS:
        assert client.get(f"/stats/IMG_1*g/{func}").status_code == 200
    assert counted == {"summarize": 5, "refine": 0, "refine_many": 0}
    for func in ["min", "max", "mean"]:
        assert client.get(f"/stats/col_*.tif/{func}").status_code == 200
    assert counted == {"summarize": 5, "refine": 0, "refine_many": 0}
    # a float percentile refines once, across the images, and is kept
    first = client.get("/stats/col_*.tif/p10").get_json()["value"]
    assert client.get("/stats/col_*.tif/p10").get_json()["value"] == first
    assert counted == {"summarize": 5, "refine": 0, "refine_many": 1}


@pytest.mark.parametrize(
    ("pattern", "status", "named"),
    [
        ("*.jpg", 422, "text.jpg"),  # an unreadable image fails the question, named
        ("trunc*", 422, "truncated.jpg"),  # its header reads, its pixels do not
        ("bomb*", 413, "bomb.png"),
        ("wide_*", 400, "wide_a.tif"),  # int32 + float32 is float64: refused (headers)
        ("nothing*", 404, "nothing*"),
    ],
)
def test_collection_errors_name_the_image(client, images, counted, pattern, status, named):
    tifffile.imwrite(images / "wide_a.tif", np.arange(12, dtype=np.int32).reshape(3, 4))
    tifffile.imwrite(images / "wide_b.tif", np.ones((3, 4), np.float32))
    r = client.get(f"/stats/{pattern}/median")
    assert r.status_code == status
    assert named in r.get_json()["error"]
    if status == 400:
        assert counted["summarize"] == 0
    assert client.get("/stats/IMG_1.jpg/median").status_code == 200


def test_collection_limit(images):
    from imgstats.web import create_app

    app = create_app({"IMAGES": str(images), "WARMUP": False, "COLLECTION_LIMIT": 2})
    r = app.test_client().get("/stats/IMG_*/mean")
    assert r.status_code == 400 and "limit of 2" in r.get_json()["error"]
    app.extensions["imgstats"].close()


# -- bad input ---------------------------------------------------------------------------------
TOO_MANY = [[i % 100, (i * 7) % 100] for i in range(10_001)]
BAD = [
    ("GET", "/stats/IMG_1.jpg/mean?window=", None, 400),
    ("GET", "/stats/IMG_1.jpg/mean?window=5,5,5,10", None, 400),  # empty
    ("GET", "/stats/IMG_1.jpg/mean?window=50,5,10,10", None, 400),  # inverted
    ("GET", "/stats/IMG_1.jpg/mean?window=1,2,3", None, 400),
    ("GET", "/stats/IMG_1.jpg/mean?window=1,2,3,4,5", None, 400),
    ("GET", "/stats/IMG_1.jpg/mean?window=1.5,2,3,4", None, 400),
    ("GET", "/stats/IMG_1.jpg/mean?window=a,b,c,d", None, 400),
    ("GET", "/stats/IMG_1.jpg/mean?window=1e3,2,3,4", None, 400),
    ("GET", "/stats/IMG_1.jpg/mean?window=%EF%BC%91,2,3,4", None, 400),  # fullwidth digit
    ("GET", "/stats/IMG_1.jpg/mean?window=1000,1000,2000,2000", None, 400),  # outside
    ("GET", "/stats/IMG_1.jpg/mean?window=" + "9" * 5000 + ",1,2,3", None, 400),
    ("GET", "/stats/IMG_1.jpg/mean?window=0,0," + "9" * 40 + ",9", None, 400),
    ("GET", "/stats/nope.jpg/mean?window=0,0,1,1", None, 404),
    ("GET", "/stats/IMG_1.jpg", None, 405),
    ("PUT", "/stats/IMG_1.jpg", {"funcs": ["min"]}, 405),
    ("DELETE", "/stats/IMG_1.jpg", None, 405),
    ("OPTIONS", "/stats/IMG_1.jpg", None, 405),
    ("POST", "/stats/IMG_1.jpg/mean", {"funcs": ["min"]}, 405),
    ("POST", "/stats/IMG_1.jpg", b"{not json", 400),
    ("POST", "/stats/IMG_1.jpg", b"", 400),
    ("POST", "/stats/IMG_1.jpg", b"[" * 100_000, 400),  # nested too deep
    (
        "POST",
        "/stats/IMG_1.jpg",
        b'{"funcs": ["min"], "polygon": [[1e999, 0], [1, 1], [0, 1]]}',
        400,
    ),
    ("POST", "/stats/IMG_1.jpg", b'{"funcs": ["min"], "polygon": [[NaN, 0], [1, 1], [0, 1]]}', 400),
    (
        "POST",
        "/stats/IMG_1.jpg",
        b'{"funcs": ["min"], "window": [0, 0, 1' + b"0" * 5000 + b", 1]}",
        400,
    ),
    ("POST", "/stats/IMG_1.jpg", [1, 2], 400),
    ("POST", "/stats/IMG_1.jpg", {}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": []}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": "p101"}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": [1]}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"] * 65}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "polygons": []}, 400),  # a typo
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "polygon": "0,0,1,1"}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "polygon": [[0, 0], [5, 5]]}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "polygon": [[0, 0], [5, 5], [9, 9]]}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "polygon": [[0, 0], [0, 0], [0, 0]]}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "polygon": [[0], [5], [0]]}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "polygon": [["a", 0], [5, 5], [0, 9]]}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "polygon": [[0, 0], [1e300, 5], [0, 9]]}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "polygon": TOO_MANY}, 400),
    (
        "POST",
        "/stats/IMG_1.jpg",
        {"funcs": ["min"], "polygon": {"type": "Point", "coordinates": [1, 2]}},
        400,
    ),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "polygon": {"type": "Polygon"}}, 400),
    (
        "POST",
        "/stats/IMG_1.jpg",
        {"funcs": ["min"], "polygon": {"type": "Polygon", "coordinates": []}},
        400,
    ),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "window": {"x0": 1}}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "window": [0, 0, 1.5, 2]}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "window": [0, 0, True, 2]}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "band": True}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "band": 10**30}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "band": "Z"}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "page": -1}, 400),
    ("POST", "/stats/IMG_1.jpg", {"funcs": ["min"], "page": 1.5}, 400),
    ("POST", "/stats/IMG_1*", {"funcs": ["min"], "polygon": [[0, 0], [9, 0], [0, 9]]}, 400),
    ("POST", "/stats/nope.jpg", {"funcs": ["min"], "polygon": [[0, 0], [9, 0], [0, 9]]}, 404),
    (
        "POST",
        "/stats/IMG_1.jpg",
        {"funcs": ["min"], "polygon": [[0.1, 0.1], [0.3, 0.1], [0.2, 0.4]]},
        422,
    ),  # no centre
    (
        "POST",
        "/stats/IMG_1.jpg",
        {"funcs": ["min"], "polygon": [[-9, -9], [-1, -9], [-1, -1]]},
        422,
    ),  # outside
    ("POST", "/stats/text.jpg", {"funcs": ["min"], "polygon": [[0, 0], [9, 0], [0, 9]]}, 422),
    ("POST", "/stats/bomb.png", {"funcs": ["min"], "polygon": [[0, 0], [9, 0], [0, 9]]}, 413),
    (
        "POST",
        "/stats/IMG_1.jpg",
        b'{"funcs": ["min"], "polygon": [' + b"[1, 2]," * 200_000 + b"[1, 2]]}",
        413,
    ),  # body over 1 MiB
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    BAD,
    ids=[f"{m} {p[:60]} {str(b)[:40]} {s}" for m, p, b, s in BAD],
)
def test_bad_requests_get_a_clear_json_error(client, method, path, body, status):
    if isinstance(body, (bytes, type(None))):
        r = client.open(
            path,
            method=method,
            data=body,
            content_type="application/json" if body is not None else None,
        )
    else:
        r = client.open(path, method=method, json=body)
    assert r.status_code == status, r.get_data(as_text=True)[:300]
    error = r.get_json()
    assert error["status"] == status and error["error"]
    assert "Traceback" not in error["error"]
    if status == 405:
        assert "Allow" in r.headers
    # and the server keeps serving
    assert client.get("/health").status_code == 200
    assert client.post("/stats/IMG_1.jpg", json={"funcs": ["max"]}).get_json()["values"] == {
        "max": 255
    }


def test_limits_are_settings(images):
    from imgstats.web import create_app

    app = create_app({"IMAGES": str(images), "WARMUP": False, "MAX_CONTENT_LENGTH": 200})
    polygon = [[i, i * i % 97] for i in range(40)]
    r = app.test_client().post("/stats/IMG_1.jpg", json={"funcs": ["min"], "polygon": polygon})
    assert r.status_code == 413 and "200 bytes" in r.get_json()["error"]
    app.extensions["imgstats"].close()


# -- a real gunicorn ---------------------------------------------------------------------------
@pytest.mark.slow
def test_regions_and_collections_through_gunicorn(gunicorn_server, images, floats):
    base, _ = gunicorn_server(images, workers=2)
    arr = pixels(images, "IMG_12_uint16.tif")
    status, headers, body = http_get(base, "/stats/IMG_12_uint16.tif/p95?window=7,8,300,222")
    assert status == 200
    assert json.loads(body)["value"] == np.percentile(arr[8:222, 7:300], 95).item()

    def post(path, payload: bytes, extra=None):
        import http.client

        conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
        try:
            conn.request(
                "POST",
                path,
                body=payload,
                headers={"Content-Type": "application/json", **(extra or {})},
            )
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    status, body = post(
        "/stats/IMG_12_uint16.tif",
        json.dumps({"funcs": ["min", "median"], "polygon": TRIANGLE}).encode(),
    )
    inside = centre_mask(arr.shape, TRIANGLE)
    assert status == 200
    assert json.loads(body)["values"] == {
        "min": arr[inside].min().item(),
        "median": np.median(arr[inside]).item(),
    }
    status, body = post("/stats/IMG_12_uint16.tif", b"[" * (2 << 20))
    assert status == 413 and "MAX_CONTENT_LENGTH" in json.loads(body)["error"]
    together = np.concatenate([a.ravel() for a in floats.values()])
    for _ in range(2):  # each worker may answer: both agree with numpy
        status, _, body = http_get(base, "/stats/col_%3F.tif/p99")
        assert status == 200
        assert json.loads(body)["value"] == np.nanpercentile(together, 99).item()
    status, _, body = http_get(base, "/stats/*.jpg/mean")
    assert status == 422 and "text.jpg" in json.loads(body)["error"]
    assert http_get(base, "/health")[0] == 200
