"""``/ready``: 503 until the process has loaded every kernel, then 200; the warm-up walks
every reading path, so that no request of the gallery's images compiles a kernel."""

from __future__ import annotations

import pytest

from imgstats import _jit
from imgstats.data import gallery_path
from imgstats.web import create_app


def test_not_warmed_up_is_503_json(client):
    r = client.get("/ready")
    assert r.status_code == 503
    body = r.get_json()
    assert body["ready"] is False and "IMGSTATS_WARMUP" in body["error"]
    assert r.headers["Retry-After"] == "1"
    assert r.headers["Cache-Control"] == "no-store"
    assert client.get("/health").text == "OK"  # alive all the same


def test_other_methods_on_ready_are_405_json(client):
    r = client.post("/ready")
    assert r.status_code == 405
    assert "error" in r.get_json()


@pytest.fixture(scope="module")
def warm_app():
    return create_app({"IMAGES": str(gallery_path()), "TESTING": True, "WARMUP": True})


def _signatures():
    return {k.__name__: set(k.dispatcher.signatures) for k in _jit.kernels() if k.dispatcher}


def test_warmed_up_is_200(warm_app):
    r = warm_app.test_client().get("/ready")
    assert r.status_code == 200
    assert r.get_json() == {"ready": True, "kernels": len(_jit.kernels())}
    assert _jit.loaded()


@pytest.mark.parametrize("band", [None, "0", "luma"])
def test_no_request_of_the_gallery_compiles_a_kernel(warm_app, band):
    client = warm_app.test_client()
    names = client.get("/api/images").get_json()["images"]
    before = _signatures()
    for name in names:
        query = "" if band is None else f"?band={band}"
        for func in ("median", "p99", "mean"):
            r = client.get(f"/stats/{name}/{func}{query}")
            assert r.status_code in (200, 400), (name, func, r.get_json())
    assert _signatures() == before
