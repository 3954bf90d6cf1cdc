"""The JSON API through Flask's test client, with numpy (via imgstats.compute) as the oracle."""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import threading
import time

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_helpers import GALLERY

import imgstats
import imgstats.web.service as service_module
from imgstats.data import gallery_path
from imgstats.web import create_app
from imgstats.web.errors import STATUS_CODES

FUNCS = ["min", "max", "mean", "median", "p0", "p2.5", "p50", "p99.9", "p100"]


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.data == b"OK"
    assert r.mimetype == "text/plain"


def test_images_lists_image_files_only(client, images):
    r = client.get("/api/images")
    assert r.status_code == 200
    names = r.get_json()["images"]
    assert names == sorted(GALLERY + ["bomb.png", "text.jpg", "truncated.jpg"])
    assert "notes.txt" not in names


@pytest.mark.parametrize("name", GALLERY)
@pytest.mark.parametrize("func", FUNCS)
def test_stats_equal_numpy(client, images, name, func):
    r = client.get(f"/stats/{name}/{func}")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    expected = imgstats.compute(str(images / name), func)
    assert body["image"] == name and body["func"] == func
    assert body["value"] == expected
    assert type(body["value"]) is type(expected)
    arr = np.asarray(imgstats.open_image(images / name))
    if arr.ndim == 3 and arr.shape[-1] == 4:  # RGBA: GDAL's valid samples (issue 16)
        arr = arr[..., :3][arr[..., 3] != 0]
    if func.startswith("p") or func == "median":
        q = 50.0 if func == "median" else float(func[1:])
        assert body["value"] == np.nanpercentile(arr, q).item()
    elif func in ("min", "max"):
        assert body["value"] == getattr(np, f"nan{func}")(arr).item()
    else:
        assert math.isclose(body["value"], float(np.nanmean(arr, dtype=np.float64)), rel_tol=1e-12)


def test_stats_extra_keys_and_bands(client, images):
    body = client.get("/stats/IMG_1.jpg/p90").get_json()
    arr = np.asarray(imgstats.open_image(images / "IMG_1.jpg"))
    assert body["dtype"] == "uint8"
    assert body["shape"] == list(arr.shape)
    assert body["count"] == arr.size
    assert body["bands"] == {b: np.percentile(arr[..., i], 90).item() for i, b in enumerate("RGB")}


@pytest.mark.parametrize("band", ["R", "1", "luma"])
def test_stats_band_option(client, images, band):
    body = client.get(f"/stats/IMG_1.jpg/median?band={band}").get_json()
    option = int(band) if band.isdigit() else band
    assert body["value"] == imgstats.compute(str(images / "IMG_1.jpg"), "median", option)


def test_unknown_band_is_400(client):
    r = client.get("/stats/IMG_1.jpg/median?band=Z")
    assert r.status_code == 400
    assert "error" in r.get_json()


def test_etag_and_cache_control(client):
    r = client.get("/stats/IMG_1.jpg/mean")
    etag = r.headers["ETag"]
    assert etag and "max-age" in r.headers["Cache-Control"]
    again = client.get("/stats/IMG_1.jpg/mean", headers={"If-None-Match": etag})
    assert again.status_code == 304
    other = client.get("/stats/IMG_1.jpg/max")
    assert other.headers["ETag"] != etag
    listing = client.get("/api/images")
    assert listing.headers["ETag"] and listing.headers["Cache-Control"] == "no-cache"
    again = client.get("/api/images", headers={"If-None-Match": listing.headers["ETag"]})
    assert again.status_code == 304


BAD_FUNCS = [
    "average",
    "p101",
    "p-1",
    "p",
    "P10",
    "p²",
    "p٣",
    "p%2010",
    "p+10",
    "p1_0",
    "MIN",
    "p1e2",
    "p.5",
    "p50.",
    "mean/",
]


@pytest.mark.parametrize("func", BAD_FUNCS)
def test_bad_function_is_404_json(client, func):
    r = client.get(f"/stats/IMG_1.jpg/{func}")
    assert r.status_code == 404
    assert isinstance(r.get_json()["error"], str)
    assert client.get("/health").status_code == 200


BAD_NAMES = [
    "IMG_100.jpg",
    "..%2F..%2Fetc%2Fpasswd",
    "%2Fetc%2Fpasswd",
    "..",
    "IMG_1.jpg%3F",
    "IMG_1.jpg%3Fx=1",
    "IMG_1.jpg%23frag",
    "x%3F.jpg",
    "https:%2F%2Fexample.com%2Fa.jpg",
    "file:IMG_1.jpg",
    "notes.txt",
    ".hidden.jpg",
    "IMG_1.jpg%00",
    "%252e%252e",
    "a" * 3000 + ".jpg",
    "%5C..%5CIMG_1.jpg",
    "a%2F%2FIMG_1.jpg",
    "%2F%2FIMG_1.jpg",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_image_name_is_404_json(client, name):
    r = client.get(f"/stats/{name}/mean")
    assert r.status_code == 404, r.data[:200]
    assert "error" in r.get_json()
    assert "Traceback" not in r.get_data(as_text=True)


def test_a_url_as_image_name_is_404(client):
    r = client.get("/stats/https://example.com/IMG_1.jpg/mean")
    assert r.status_code == 404
    assert "error" in r.get_json()


def test_trailing_slash_is_404(client):
    assert client.get("/stats/IMG_1.jpg/mean/").status_code == 404
    assert client.get("/stats/IMG_1.jpg/").status_code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize(
    "path", ["/health", "/stats/IMG_1.jpg/mean", "/api/images", "/api/openapi.json"]
)
def test_other_methods_are_405(client, method, path):
    r = client.open(path, method=method)
    assert r.status_code == 405
    assert "GET" in r.headers["Allow"]
    assert "error" in r.get_json()


@pytest.mark.parametrize(
    "headers",
    [
        {"Range": "bytes=0-10"},
        {"Range": "bytes=0-10", "If-Range": "*"},
        {"Range": "bytes=-5"},
        {"Accept-Encoding": "gzip, br"},
    ],
)
def test_answers_are_whole_and_uncompressed(client, headers):
    """docs/http.md, "Ranges and compression": a Range is ignored (200, the whole body), and
    no coding is applied whatever Accept-Encoding says."""
    plain = client.get("/stats/IMG_1.jpg/mean")
    r = client.get("/stats/IMG_1.jpg/mean", headers=headers)
    assert r.status_code == 200 and r.data == plain.data
    assert "Content-Range" not in r.headers and "Content-Encoding" not in r.headers
    assert r.headers.get("Accept-Ranges") in (None, "none")


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/stats/IMG_1.jpg/mean", {}),
        ("POST", "/stats/IMG_1.jpg", {"Content-Type": "application/json"}),
        ("OPTIONS", "/stats/IMG_1.jpg/mean", {"Access-Control-Request-Method": "GET"}),
        (
            "OPTIONS",
            "/stats/IMG_1.jpg",
            {
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        ),
    ],
)
def test_another_origin_gets_no_cors_permission(client, method, path, headers):
    """docs/http.md, "Browsers on another origin": no ``Access-Control-*`` header, so a script
    of another origin cannot read an answer, and its JSON POST fails its preflight (405)."""
    data = '{"funcs": ["mean"]}' if method == "POST" else None
    r = client.open(
        path, method=method, data=data, headers={"Origin": "https://other.example", **headers}
    )
    assert r.status_code == (405 if method == "OPTIONS" else 200)
    assert not [h for h in r.headers.keys() if h.lower().startswith("access-control-")]


@pytest.mark.parametrize(
    ("name", "status"), [("text.jpg", 422), ("truncated.jpg", 422), ("bomb.png", 413)]
)
def test_bad_files_fail_fast_without_allocating(client, name, status):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = client.get(f"/stats/{name}/mean")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert r.status_code == status
    assert "error" in r.get_json() and "Traceback" not in r.get_data(as_text=True)
    assert grown_mb < 100  # 40000 x 40000 RGB would be 4.8 GB
    assert client.get("/health").status_code == 200


def test_errors_do_not_leak_the_folder(client, images):
    body = client.get("/stats/text.jpg/mean").get_data(as_text=True)
    assert str(images) not in body


def test_status_table_covers_every_domain_error():
    domain = {
        cls
        for cls in vars(imgstats.errors).values()
        if isinstance(cls, type) and issubclass(cls, imgstats.ImgStatsError)
    }
    # NeedsRefinement is no request's fault: the service refines before it answers, and one
    # that escaped would be a bug, a 500 (tests/web/test_refinement_is_internal.py)
    internal = {imgstats.errors.NeedsRefinement}
    assert domain - {imgstats.ImgStatsError} - internal == set(STATUS_CODES)


def test_unexpected_errors_are_json_500_without_trace(images, monkeypatch):
    app = create_app({"IMAGES": str(images), "WARMUP": False})
    service = app.extensions["imgstats"]

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "_summarize", broken)
    app.logger.disabled = True
    r = app.test_client().get("/stats/IMG_1.jpg/mean")
    assert r.status_code == 500
    assert r.get_json()["error"] == "internal server error"
    assert "secret" not in r.get_data(as_text=True)
    service.close()


def test_nan_and_inf_give_valid_json(client, images):
    data = np.array([[np.nan, 1.0], [np.inf, 2.0]], dtype=np.float32)
    tifffile.imwrite(images / "inf.tif", data)
    tifffile.imwrite(images / "nan.tif", np.full((2, 2), np.nan, np.float32))
    r = client.get("/stats/inf.tif/mean")
    assert r.status_code == 200
    assert json.loads(r.get_data(as_text=True))["value"] is None  # strict JSON: no Infinity
    assert client.get("/stats/inf.tif/max").get_json()["value"] is None
    assert client.get("/stats/inf.tif/min").get_json()["value"] == 1.0
    r = client.get("/stats/nan.tif/mean")
    assert r.status_code == 422 and "error" in r.get_json()


# -- the store is read live, and the cache is keyed by version ------------------------------
def test_new_removed_and_changed_images(client, images):
    assert client.get("/stats/new.png/max").status_code == 404
    shutil.copyfile(images / "IMG_11.png", images / "new.png")
    assert "new.png" in client.get("/api/images").get_json()["images"]
    first = client.get("/stats/new.png/max")
    assert first.status_code == 200
    assert first.get_json()["value"] == imgstats.compute(str(images / "new.png"), "max")

    shutil.copyfile(images / "IMG_1.jpg", images / "new.png.tmp")  # a JPEG under a PNG name
    os.replace(images / "new.png.tmp", images / "new.png")
    changed = client.get("/stats/new.png/max")
    assert changed.get_json()["value"] == imgstats.compute(str(images / "new.png"), "max")
    assert changed.headers["ETag"] != first.headers["ETag"]
    assert changed.get_json()["version"] != first.get_json()["version"]

    (images / "new.png").unlink()
    assert client.get("/stats/new.png/max").status_code == 404
    assert "new.png" not in client.get("/api/images").get_json()["images"]


def test_same_size_rewrite_is_not_stale(client, images):
    arr = np.arange(64, dtype=np.uint16).reshape(8, 8)
    tifffile.imwrite(images / "same.tif", arr)
    assert client.get("/stats/same.tif/max").get_json()["value"] == 63
    stat = os.stat(images / "same.tif")
    tifffile.imwrite(images / "same.tif", arr * 2)
    assert os.stat(images / "same.tif").st_size == stat.st_size
    os.utime(images / "same.tif", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert client.get("/stats/same.tif/max").get_json()["value"] == 126


# -- memoization -----------------------------------------------------------------------------
@pytest.fixture
def counted(monkeypatch):
    """Count (and optionally slow down) the service's calls that read pixels."""
    calls = {"summarize": 0, "refine": 0, "delay": 0.0}
    lock = threading.Lock()

    def wrap(name, real):
        def counting(*args, **kwargs):
            with lock:
                calls[name] += 1
            time.sleep(calls["delay"])
            return real(*args, **kwargs)

        return counting

    monkeypatch.setattr(service_module, "summarize", wrap("summarize", service_module.summarize))
    monkeypatch.setattr(service_module, "refine", wrap("refine", service_module.refine))
    return calls


@pytest.mark.parametrize(
    "name", ["IMG_1.jpg", "IMG_11.png", "IMG_12_uint16.tif", "IMG_14_int16.tif"]
)
def test_new_functions_do_not_read_pixels(client, counted, name):
    assert client.get(f"/stats/{name}/mean").status_code == 200
    assert counted["summarize"] == 1
    for func in ["min", "max", "median", "p1", "p37.5", "p99.99", "p100"]:
        assert client.get(f"/stats/{name}/{func}").status_code == 200
    assert client.get(f"/stats/{name}/p12.5?band=0").status_code == 200
    assert counted == {"summarize": 1, "refine": 0, "delay": 0.0}


def test_float_refinements_are_stored_back(client, counted, images):
    first = client.get("/stats/IMG_13_float32.tif/p10").get_json()["value"]
    assert counted["summarize"] == 1 and counted["refine"] == 1
    assert client.get("/stats/IMG_13_float32.tif/p10").get_json()["value"] == first
    assert client.get("/stats/IMG_13_float32.tif/min").status_code == 200
    assert counted["summarize"] == 1 and counted["refine"] == 1
    assert first == imgstats.compute(str(images / "IMG_13_float32.tif"), "p10")


def test_concurrent_cold_requests_compute_once(app, counted):
    counted["delay"] = 0.3
    app.extensions["imgstats"].slow.max_waiting = len(FUNCS)  # all wait: none is refused
    results, errors = [], []

    def ask(func):
        try:
            results.append(app.test_client().get(f"/stats/IMG_11.png/{func}").status_code)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(f,)) for f in FUNCS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and results == [200] * len(FUNCS)
    assert counted["summarize"] == 1


def test_concurrent_different_images_get_their_own_values(app, images, counted):
    counted["delay"] = 0.2
    names = ["IMG_1.jpg", "IMG_11.png", "IMG_12_uint16.tif", "IMG_14_int16.tif"]
    values = {}

    def ask(name):
        values[name] = app.test_client().get(f"/stats/{name}/p75").get_json()["value"]

    threads = [threading.Thread(target=ask, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert values == {n: imgstats.compute(str(images / n), "p75") for n in names}


def test_lru_is_bounded_and_clearable(images, counted):
    # room for two 16-bit summaries (0.5 MB each), not three
    app = create_app({"IMAGES": str(images), "CACHE_BYTES": 1_200_000, "WARMUP": False})
    client, service = app.test_client(), app.extensions["imgstats"]
    for name in ["IMG_12_uint16.tif", "IMG_13_float32.tif", "IMG_14_int16.tif"]:
        client.get(f"/stats/{name}/max")
    assert service.summaries.cache_info().currsize == 2
    client.get("/stats/IMG_12_uint16.tif/min")  # its summary was evicted: computed again
    assert counted["summarize"] == 4
    service.cache_clear()
    assert service.summaries.cache_info().currsize == 0
    service.close()


# -- configuration and the service contract -----------------------------------------------
def test_settings_defaults_then_env_then_mapping(images, monkeypatch):
    monkeypatch.setenv("IMGSTATS_CACHE_BYTES", "7000000")
    monkeypatch.setenv("IMGSTATS_STORE_TIMEOUT", "3.5")
    monkeypatch.setenv("IMGSTATS_IMAGES", str(images))
    app = create_app({"STORE_TIMEOUT": 1, "WARMUP": False})
    assert app.config["CACHE_BYTES"] == 7_000_000
    assert app.config["STORE_TIMEOUT"] == 1.0
    assert app.config["IMAGES"] == str(images)
    assert app.config["VERSION_TTL"] == 2.0
    assert app.extensions["imgstats"].summaries.cache_info().maxbytes == 7_000_000
    app.extensions["imgstats"].close()


def test_default_store_is_the_bundled_gallery(monkeypatch):
    monkeypatch.delenv("IMGSTATS_IMAGES", raising=False)
    app = create_app({"WARMUP": False})
    names = app.test_client().get("/api/images").get_json()["images"]
    assert names == sorted(p.name for p in gallery_path().iterdir() if p.suffix != ".md")
    app.extensions["imgstats"].close()


def test_no_app_at_import_time():
    from flask import Flask

    import imgstats.web as web

    assert not [v for v in vars(web).values() if isinstance(v, Flask)]


def test_service_contract(service, images):
    assert service.list_images()[0] == "IMG_1.jpg"
    info = service.info("IMG_1.jpg")
    assert info == {
        "name": "IMG_1.jpg",
        "version": service.version("IMG_1.jpg"),
        "bytes": (images / "IMG_1.jpg").stat().st_size,
        "width": 512,
        "height": 512,
        "bands": ["R", "G", "B"],
        "dtype": "uint8",
        "format": "JPEG",
        "photometric": "rgb",
        "pages": 1,
        "nodata": None,
        "mask": None,
        "nodata_problem": None,
        "scales": None,
        "crs": None,
        "transform": None,
        "bounds": None,
    }
    tif = service.info("IMG_13_float32.tif")
    assert (tif["dtype"], tif["bands"], tif["format"]) == ("float32", ["L"], "TIFF")
    answer = service.answer("IMG_14_int16.tif", ["min", "p10"])
    assert answer.values[None] == imgstats.compute(str(images / "IMG_14_int16.tif"), ["min", "p10"])
    assert service.read("IMG_1.jpg") == (images / "IMG_1.jpg").read_bytes()
    for bad in ["../IMG_1.jpg", "/etc/passwd", "nope.jpg"]:
        with pytest.raises(imgstats.ImageNotFound):
            service.info(bad)
        with pytest.raises(imgstats.ImageNotFound):
            service.read(bad)
        with pytest.raises(imgstats.ImageNotFound):
            service.answer(bad, "min")


@pytest.mark.parametrize("name", ["IMG_1.jpg", "IMG_13_float32.tif", "IMG_12_uint16.tif"])
def test_one_answer_gives_every_function_for_every_selection(service, images, name):
    funcs = ["min", "p1", "median", "mean", "p99.9", "max"]
    answer = service.answer(name, funcs, [None], each_band=True, histograms=True)
    arr = np.asarray(imgstats.open_image(str(images / name)))
    selections = [None, *answer.bands]
    if arr.ndim == 3:
        assert answer.bands == tuple(range(arr.shape[2]))
    for sel in selections:
        samples = arr if sel is None else arr[..., sel]
        assert answer.values[sel] == imgstats.compute(samples, funcs)
        assert answer.counts[sel] == np.count_nonzero(~np.isnan(samples.astype(float)))
        values, counts = answer.histograms[sel]
        assert counts.sum() == answer.counts[sel]
    # the same question again is the same cached answer
    assert service.answer(name, funcs, [None], each_band=True) is service.answer(
        name, funcs, [None], each_band=True
    )


def test_a_cold_request_parses_its_function_once(client, monkeypatch):
    import imgstats.functions as functions

    calls = []

    class Counting:
        def fullmatch(self, text):
            calls.append(text)
            return real.fullmatch(text)

    real = functions._PERCENTILE
    monkeypatch.setattr(functions, "_PERCENTILE", Counting())
    response = client.get("/stats/IMG_13_float32.tif/p30")
    assert response.status_code == 200
    assert calls == ["p30"]


@pytest.mark.parametrize("page", ["-1", "x", "1.5", "+1", "\u0663", "1e2", "9999999", " 1"])
def test_bad_pages_are_400_json(client, page):
    response = client.get("/stats/IMG_1.jpg/mean", query_string={"page": page})
    assert response.status_code == 400
    assert response.get_json()["type"] == "InvalidOption"


def test_page_is_an_io_option_and_part_of_the_cache_key(client, monkeypatch):
    import imgstats.web.service as service_module

    seen = []

    def summarize(source, **options):  # records the page, then reads page 0 as today's core
        seen.append(options.pop("page", None))
        return real(source, **options)

    real = service_module.summarize
    monkeypatch.setattr(service_module, "summarize", summarize)
    first = client.get("/stats/IMG_11.png/mean?page=0")
    assert first.status_code == 200 and first.get_json()["page"] == 0
    assert client.get("/stats/IMG_11.png/mean").status_code == 200
    assert client.get("/stats/IMG_11.png/mean?page=0").status_code == 200
    assert seen == [0, None]  # two cache entries, each computed once
    assert first.headers["ETag"] != client.get("/stats/IMG_11.png/mean").headers["ETag"]


def test_openapi_describes_the_api(client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/health",
        "/ready",
        "/stats/{image}/{func}",
        "/stats/{image}",
        "/api/images",
        "/api/images/{image}",
        "/api/openapi.json",
        "/zonal/{image}",  # it was missing: /docs did not show it
    }
    zonal = doc["paths"]["/zonal/{image}"]["post"]
    assert {"200", "400", "413", "415", "501"} <= set(zonal["responses"])
    body = zonal["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"funcs", "zones", "band", "page", "id_property", "crs"}
    assert {"415", "501"} <= set(doc["paths"]["/stats/{image}"]["post"]["responses"])
    responses = doc["paths"]["/stats/{image}/{func}"]["get"]["responses"]
    assert {"200", "404", "413", "422", "502", "504"} <= set(responses)
    import re

    pattern = next(
        p["schema"]["pattern"]
        for p in doc["paths"]["/stats/{image}/{func}"]["get"]["parameters"]
        if p["name"] == "func"
    )
    assert all(re.match(pattern, f) for f in FUNCS)
    # the 0..100 range is in the description, not the pattern
    assert not any(re.match(pattern, f) for f in BAD_FUNCS if f not in ("p%2010", "p101"))


# -- properties ------------------------------------------------------------------------------
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(max_size=40), func=st.text(max_size=12))
def test_any_path_is_answered_without_error(client, name, func):
    """Whatever the client sends, the answer is 200 for a real image and function, else 404."""
    from urllib.parse import quote

    r = client.get(f"/stats/{quote(name, safe='')}/{quote(func, safe='')}")
    try:
        imgstats.parse_function(func)
        valid_func = True
    except imgstats.UnknownFunction:
        valid_func = False
    if valid_func and ("*" in name or "?" in name):  # a collection pattern (test_regions_api)
        assert r.status_code in (200, 400, 404, 413, 422), (name, func, r.status_code)
        return
    known = name in GALLERY and valid_func
    assert r.status_code == (200 if known else 404), (name, func, r.status_code)
    assert "error" in r.get_json() or known


def test_page_picks_a_page_of_a_multi_page_tiff(client, images):
    with tifffile.TiffWriter(images / "pages.tif") as tif:
        tif.write(np.full((8, 8), 10, np.uint8))
        tif.write(np.full((8, 8), 200, np.uint8))
    values = {
        q: client.get(f"/stats/pages.tif/mean{q}").get_json() for q in ("", "?page=0", "?page=1")
    }
    assert [v["value"] for v in values.values()] == [10.0, 10.0, 200.0]
    assert values["?page=1"]["page"] == 1 and "page" not in values[""]
    missing = client.get("/stats/pages.tif/mean?page=2")
    assert missing.status_code == 400 and missing.get_json()["type"] == "InvalidOption"
