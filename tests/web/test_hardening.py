"""Collections within the cache budget, single-flight waiters, the request's time budget.

The fast tier, in-process; ``test_hostile.py`` runs the attacks on a real server.
"""

from __future__ import annotations

import socket
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tifffile

import imgstats.web.service as service_module
from imgstats.errors import ClientGone, RequestTimeout
from imgstats.web import create_app
from imgstats.web._limits import RequestBudget, check_request, request_budget


def _bands_images(folder, count, bands=8, dtype=np.uint16, seed=0):
    """``count`` small TIFFs of ``bands`` 16-bit bands: each summary weighs bands x 0.5 MB."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for i in range(count):
        arr = rng.integers(0, 60000, (8, 8, bands)).astype(dtype).squeeze()
        extra = {"planarconfig": "contig"} if bands > 1 else {}
        tifffile.imwrite(folder / f"b{i:02d}.tif", arr, **extra)
        arrays[f"b{i:02d}.tif"] = arr
    return arrays


@pytest.fixture
def small_cache_app(images):
    # room for about two parts of 8 x 0.5 MB: a collection of 10 cannot hold them all
    app = create_app(
        {"IMAGES": str(images), "WARMUP": False, "CACHE_BYTES": 9 << 20, "RACY_SECONDS": 0}
    )
    yield app
    app.extensions["imgstats"].close()


def test_a_collection_holds_one_part_at_a_time_besides_the_cache(images, small_cache_app):
    arrays = _bands_images(images, 10)
    service = small_cache_app.extensions["imgstats"]
    refs, peak = [], [0]
    real = service._part

    def tracked(*args):
        part = real(*args)
        refs.append(weakref.ref(part))
        peak[0] = max(peak[0], sum(r() is not None for r in refs))
        return part

    service._part = tracked
    body = small_cache_app.test_client().get("/stats/b*.tif/median").get_json()
    together = np.concatenate([a.ravel() for a in arrays.values()])
    assert body["value"] == np.median(together).item()
    assert body["image_count"] == 10
    # the cache keeps at most two parts; one more is being merged
    assert peak[0] <= 3, peak[0]


def test_a_new_function_of_a_16_bit_collection_reads_no_pixels(
    images, small_cache_app, monkeypatch
):
    arrays = _bands_images(images, 10)
    together = np.concatenate([a.ravel() for a in arrays.values()])
    client = small_cache_app.test_client()
    assert client.get("/stats/b*.tif/median").get_json()["value"] == np.median(together).item()
    calls = []
    real = service_module.summarize
    monkeypatch.setattr(
        service_module, "summarize", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    for func in ["p90", "min", "mean", "p1"]:
        body = client.get(f"/stats/b*.tif/{func}?band=3").get_json()
        expected = {"p90": np.percentile(together.reshape(-1, 8)[:, 3], 90)}.get(func)
        if expected is not None:
            assert body["value"] == expected.item()
    assert calls == []  # the merge outlived its parts in the cache


def test_a_refined_float_collection_fetches_its_parts_one_at_a_time(images, monkeypatch):
    rng = np.random.default_rng(5)
    arrays = [rng.normal(size=(30, 40)).astype(np.float32) for _ in range(6)]
    for i, arr in enumerate(arrays):
        tifffile.imwrite(images / f"f{i}.tif", arr)
    app = create_app({"IMAGES": str(images), "WARMUP": False, "CACHE_BYTES": 1 << 20})
    together = np.concatenate([a.ravel() for a in arrays])
    for func in ["median", "p99.9", "p0.1"]:
        body = app.test_client().get(f"/stats/f*.tif/{func}").get_json()
        assert (
            body["value"]
            == np.percentile(together, float(func[1:]) if func != "median" else 50).item()
        )
    app.extensions["imgstats"].close()


def test_identical_cold_requests_wait_for_one_computation_not_for_slots(images, monkeypatch):
    app = create_app({"IMAGES": str(images), "WARMUP": False, "SLOW_WORKERS": 1, "SLOW_QUEUE": 40})
    release = threading.Event()
    calls = []
    real = service_module.summarize

    def slow(*args, **kwargs):
        calls.append(args)
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(service_module, "summarize", slow)
    service = app.extensions["imgstats"]
    with ThreadPoolExecutor(32) as pool:
        futures = [
            pool.submit(lambda: app.test_client().get("/stats/IMG_1.jpg/median")) for _ in range(32)
        ]
        while service._followers < 31:
            time.sleep(0.01)
        assert service.slow.in_flight == 1 and service.slow.waiting == 0
        release.set()
        statuses = [f.result(30).status_code for f in futures]
    assert statuses == [200] * 32 and len(calls) == 1
    app.extensions["imgstats"].close()


def test_waiters_past_the_bound_are_refused(images, monkeypatch):
    app = create_app({"IMAGES": str(images), "WARMUP": False, "SLOW_QUEUE": 2})
    release = threading.Event()
    real = service_module.summarize
    monkeypatch.setattr(
        service_module, "summarize", lambda *a, **k: release.wait(10) and real(*a, **k)
    )
    service = app.extensions["imgstats"]
    with ThreadPoolExecutor(3) as pool:
        futures = [
            pool.submit(lambda: app.test_client().get("/stats/IMG_1.jpg/median")) for _ in range(3)
        ]
        while service._followers < 2:
            time.sleep(0.01)
        refused = app.test_client().get("/stats/IMG_1.jpg/median")
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        release.set()
        assert [f.result(30).status_code for f in futures] == [200] * 3
    app.extensions["imgstats"].close()


def test_a_request_past_its_time_budget_is_a_503_and_keeps_its_progress(images):
    _bands_images(images, 6, bands=1)
    app = create_app({"IMAGES": str(images), "WARMUP": False, "REQUEST_SECONDS": 1e-9})
    r = app.test_client().get("/stats/b*.tif/median")
    assert r.status_code == 503, r.get_json()
    assert r.get_json()["type"] == "RequestTimeout" and int(r.headers["Retry-After"]) >= 1
    assert "REQUEST_SECONDS" in r.get_json()["error"]
    assert app.test_client().get("/health").status_code == 200
    app.extensions["imgstats"].close()


def test_the_budget_sees_a_client_that_left():
    ours, theirs = socket.socketpair()
    try:
        budget = RequestBudget(60, ours)
        with request_budget(budget):
            check_request()  # connected, nothing sent
            theirs.sendall(b"GET /next HTTP/1.1\r\n")  # a pipelined request: still there
            budget._next_probe = 0
            check_request()
            ours.recv(100)
            theirs.close()
            budget._next_probe = 0
            with pytest.raises(ClientGone):
                check_request()
    finally:
        ours.close()
    with request_budget(RequestBudget(1e-9)), pytest.raises(RequestTimeout):
        time.sleep(0.001)
        check_request()
    check_request()  # no budget outside a request: nothing to check


def test_a_waiter_for_the_decode_budget_leaves_with_its_client(images):
    from imgstats.web._limits import Gate

    gate = Gate(1, wait=30)
    ours, theirs = socket.socketpair()
    entered = threading.Event()
    done = threading.Event()

    def holder():
        with gate.hold():
            entered.set()
            done.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    entered.wait(5)
    theirs.close()
    try:
        with request_budget(RequestBudget(60, ours)), pytest.raises(ClientGone):
            with gate.hold():
                pass
    finally:
        done.set()
        thread.join(5)
        ours.close()
    assert gate.waiting == 0 and gate.in_flight == 0


def test_summaries_merge_as_numpy_whatever_the_order_of_types(images):
    """Streaming merges promote each part to the whole set's type (not pairwise)."""
    rng = np.random.default_rng(3)
    arrays = {
        "m0.tif": rng.integers(-100, 100, (9, 7)).astype(np.int8),
        "m1.tif": rng.integers(0, 60000, (5, 11)).astype(np.uint16),
        "m2.tif": rng.normal(size=(6, 6)).astype(np.float32),
    }
    for name, arr in arrays.items():
        tifffile.imwrite(images / name, arr)
    app = create_app({"IMAGES": str(images), "WARMUP": False})
    together = np.concatenate([a.ravel() for a in arrays.values()])
    body = app.test_client().get("/stats/m%3F.tif/median").get_json()
    assert body["dtype"] == together.dtype.name == "float32"
    assert body["value"] == np.median(together).item()
    app.extensions["imgstats"].close()
