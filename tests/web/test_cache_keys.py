"""Every cache key holds what decides the bytes: a warm service answers as a cold one does.

For each cached route, requests that differ from a base in one input (the query, the page,
the band, the zones, the functions) are answered by two services sharing one real Redis and
one render folder (the second one reads what the first one kept), and each answer is
compared with a service made for that one request. An input missing from a key (of an LRU,
a finished body, a Redis summary, a rendering, an ETag) would give a warm answer of another
question. Then the images change in place, and the same requests, and a client
revalidating its copy, must see the new bytes.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tifffile
from PIL import Image

from imgstats.data import gallery_path
from imgstats.web import create_app

pytestmark = pytest.mark.slow  # about a hundred cold services, 20 s

#: One input changed at a time from each route's first request.
STATS = [
    f"/stats/{image}/{query}"
    for image in ("IMG_1.jpg", "IMG_12_uint16.tif", "IMG_13_float32.tif")
    for query in (
        "median",
        "p99",
        "median?band=0",
        "median?window=0,0,10,10",
        "p99?method=nearest",
        "median?raw=1",
        "median?nodata=0",
        "median?scale=2",
        "median?offset=1",
    )
] + [
    "/stats/IMG_1.jpg/median?band=luma",
    "/stats/multi.tif/median",
    "/stats/multi.tif/median?page=1",
    "/stats/multi.tif/median?page=1&band=0",
    "/stats/multi.tif/median?window=0,0,5,5",
    "/stats/multi.tif/median?page=1&window=0,0,5,5",
    "/stats/pal.png/max",
    "/stats/pal.png/max?palette=index",
    "/stats/IMG_1*/median",
    "/stats/*.tif/median",
]
HISTOGRAMS = [
    "/stats/IMG_1.jpg/histogram?bins=10",
    "/stats/IMG_1.jpg/histogram?bins=5",
    "/stats/IMG_1.jpg/histogram?bins=10&range=0,100",
    "/stats/IMG_1.jpg/histogram?bins=10&band=0",
    "/stats/IMG_1.jpg/histogram?bins=10&nodata=0",
    "/stats/multi.tif/histogram?bins=4",
    "/stats/multi.tif/histogram?bins=4&page=1",
]
FACTS = ["/api/images/IMG_1.jpg", "/api/images/multi.tif", "/api/images/pal.png"]
PICTURES = [
    f"/{kind}/{image}"
    for kind in ("thumbs", "previews")
    for image in ("IMG_1.jpg", "multi.tif", "IMG_12_uint16.tif")
]


def _square(side: int, name: str = "a") -> dict:
    ring = [[0, 0], [side, 0], [side, side], [0, side], [0, 0]]
    feature = {"type": "Feature", "properties": {"id": name}}
    feature["geometry"] = {"type": "Polygon", "coordinates": [ring]}
    return {"type": "FeatureCollection", "features": [feature]}


ZONAL = [
    {"funcs": ["mean"], "zones": _square(10)},
    {"funcs": ["mean", "max"], "zones": _square(10)},
    {"funcs": ["median"], "zones": _square(10)},
    {"funcs": ["mean"], "zones": _square(12)},
    {"funcs": ["mean"], "zones": _square(10, "b")},
    {"funcs": ["max", "mean"], "zones": _square(10)},
    {"funcs": ["mean"], "zones": _square(10), "band": 1},
    {"funcs": ["mean"], "zones": _square(10), "page": 1},
    {"funcs": ["mean"], "zones": {"labels": "labels.tif"}},
    {"funcs": ["mean"], "zones": {"labels": "labels.tif"}, "page": 1},
]
ROUTES = {"stats": STATS, "histogram": HISTOGRAMS, "facts": FACTS, "pictures": PICTURES}


def _write(images, seed: int) -> None:
    """The store's own files, new bytes for each ``seed``: a two-page RGB TIFF, its label
    raster, a palette PNG, and ``IMG_1.jpg`` (another RGB gallery image for each seed)."""
    rng = np.random.default_rng(seed)
    with tifffile.TiffWriter(images / "multi.tif") as tif:
        for low in (0, 50):
            tif.write(rng.integers(low, 250, (20, 30, 3), np.uint8), photometric="rgb")
    tifffile.imwrite(images / "labels.tif", rng.integers(0, 3 + seed, (20, 30), np.uint8))
    palette = Image.fromarray(rng.integers(0, 4, (16, 16), np.uint8), mode="P")
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    palette.save(images / "pal.png")
    jpeg = ("IMG_1.jpg", "IMG_6.jpg")[seed % 2]
    shutil.copyfile(gallery_path() / jpeg, images / "IMG_1.jpg")


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("IMG_12_uint16.tif", "IMG_13_float32.tif"):
        shutil.copyfile(gallery_path() / name, folder / name)
    _write(folder, 0)
    return folder


@pytest.fixture
def warm(tmp_path, images, redis_url):
    """Two services sharing a real Redis and a render folder, as two workers would."""
    config = {
        "IMAGES": str(images),
        "WARMUP": False,
        "REDIS_URL": redis_url[0],
        "REDIS_TIMEOUT": 5.0,
        "GALLERY_CACHE_DIR": str(tmp_path / "renders"),
    }
    apps = [create_app(config), create_app(config)]
    yield [app.test_client() for app in apps]
    for app in apps:
        app.extensions["imgstats"].close()


def _rewritten(request) -> bool:
    """Whether a request reads a file that :func:`_write` rewrites."""
    return isinstance(request, dict) or not any(
        name in request for name in ("IMG_12_uint16", "IMG_13_float32")
    )


def _ask(client, request):
    if isinstance(request, dict):
        response = client.post("/zonal/multi.tif", json=request)
    else:
        response = client.get(request, headers={"Accept": "image/*"})
    return response.status_code, response.data


def _cold(images, request):
    """The answer of a service made for this one request (nothing cached, no folder)."""
    app = create_app({"IMAGES": str(images), "WARMUP": False, "GALLERY_CACHE_DIR": ""})
    try:
        return _ask(app.test_client(), request)
    finally:
        app.extensions["imgstats"].close()


def _check(warm, images, requests) -> list:
    """Each request's answer, the same from both warm services and a cold one."""
    answers = []
    for request in requests:
        cold = _cold(images, request)
        assert cold[0] == 200, (request, cold)
        for client in warm:
            assert _ask(client, request) == cold, request
        answers.append(cold[1])
    return answers


@pytest.mark.parametrize("route", [*ROUTES, "zonal"])
def test_each_input_of_a_cached_route_is_in_its_keys(warm, images, route):
    requests = ZONAL if route == "zonal" else ROUTES[route]
    before = _check(warm, images, requests)
    # one input changed from the route's first request: other bytes each time
    assert len(set(before)) == len(before), route
    tags = {r: warm[0].get(r).headers["ETag"] for r in requests if isinstance(r, str)}

    _write(images, 1)
    after = _check(warm, images, requests)
    changed = [r for r, old, new in zip(requests, before, after, strict=True) if old != new]
    # every request over a rewritten file sees the new bytes, never the old
    assert changed == [r for r in requests if _rewritten(r)], route
    for request in changed:
        if isinstance(request, str):  # a client revalidating its copy gets the new one
            response = warm[1].get(request, headers={"If-None-Match": tags[request]})
            assert response.status_code == 200 and response.data == after[requests.index(request)]
