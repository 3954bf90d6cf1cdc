"""Slow work cannot starve the service: bounded slots, a decode budget, 503 with Retry-After."""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from web_helpers import http_get, serve_folder, stalling_handler

import imgstats.web.service as service_module
from imgstats.data import gallery_path
from imgstats.errors import Busy
from imgstats.web import create_app
from imgstats.web._limits import Gate


# -- the gate ---------------------------------------------------------------------------------
def test_gate_admits_up_to_its_capacity_and_refuses_past_its_queue():
    gate = Gate(2, wait=5.0, max_waiting=1)
    entered, release = threading.Event(), threading.Event()

    def hold():
        with gate.hold():
            entered.set()
            release.wait(10)

    with ThreadPoolExecutor(3) as pool:
        running = [pool.submit(hold) for _ in range(2)]
        while gate.in_flight < 2:
            time.sleep(0.01)
        queued = pool.submit(hold)  # waits for a slot
        while gate.waiting < 1:
            time.sleep(0.01)
        with pytest.raises(Busy) as refused:  # the queue is full: refused at once
            with gate.hold():
                pass
        assert refused.value.retry_after >= 1
        release.set()
        for future in [*running, queued]:
            future.result(10)
    assert gate.in_flight == 0 and gate.waiting == 0


def test_gate_times_out_a_waiter_with_busy():
    gate = Gate(10, wait=0.05, what="decode budget")

    def enter(weight):
        with gate.hold(weight):
            return gate.in_flight

    with gate.hold(8), ThreadPoolExecutor(1) as other:
        assert other.submit(enter, 2).result(5) == 10  # fits
        with pytest.raises(Busy, match="decode budget"):
            other.submit(enter, 3).result(5)  # does not fit in time
    with gate.hold(3):  # the budget is free again
        assert gate.in_flight == 3


def test_gate_runs_a_request_heavier_than_its_capacity_alone():
    gate = Gate(10, wait=0.05)
    with gate.hold(50):
        assert gate.in_flight == 10  # the whole budget, no more
        with pytest.raises(Busy):
            with ThreadPoolExecutor(1) as pool:
                pool.submit(lambda: gate.hold(1).__enter__()).result(5)
    with gate.hold(50):
        pass


def test_gate_is_reentrant_in_one_thread():
    gate = Gate(1, wait=0.0, max_waiting=0)
    with gate.hold(), gate.hold():  # a header read inside a summary: no deadlock
        assert gate.in_flight == 1
    assert gate.in_flight == 0


# -- the decode budget in the app ---------------------------------------------------------------
@pytest.fixture
def tracked(monkeypatch):
    """Record how many pixels are being summarized at once, holding each for a while."""
    state = {"now": 0, "peak": 0, "lock": threading.Lock(), "delay": 0.2}
    real = service_module.summarize

    def summarize(source, **options):
        import imgstats

        info = imgstats.open_image(source)
        pixels = info.sizes["y"] * info.sizes["x"]
        with state["lock"]:
            state["now"] += pixels
            state["peak"] = max(state["peak"], state["now"])
        try:
            time.sleep(state["delay"])
            return real(source, **options)
        finally:
            with state["lock"]:
                state["now"] -= pixels

    monkeypatch.setattr(service_module, "summarize", summarize)
    return state


def _copies(images, count):
    for i in range(count):
        shutil.copyfile(images / "IMG_1.jpg", images / f"copy_{i}.jpg")  # 512 x 512 each
    return [f"copy_{i}.jpg" for i in range(count)]


def test_decodes_in_flight_stay_within_the_pixel_budget(images, tracked):
    names = _copies(images, 6)
    app = create_app(
        {
            "IMAGES": str(images),
            "WARMUP": False,
            "DECODE_PIXELS": 2 * 512 * 512,
            "SLOW_WORKERS": 6,
            "SLOW_QUEUE": 6,
            "DECODE_WAIT": 60,
        }
    )
    with ThreadPoolExecutor(6) as pool:
        statuses = list(
            pool.map(lambda n: app.test_client().get(f"/stats/{n}/mean").status_code, names)
        )
    assert statuses == [200] * 6
    assert tracked["peak"] == 2 * 512 * 512  # two at a time, never three


def test_a_request_that_waits_too_long_for_the_budget_gets_503_json(images, tracked):
    names = _copies(images, 2)
    tracked["delay"] = 1.0
    app = create_app(
        {
            "IMAGES": str(images),
            "WARMUP": False,
            "DECODE_PIXELS": 512 * 512,
            "SLOW_WORKERS": 4,
            "DECODE_WAIT": 0.1,
        }
    )
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda n: app.test_client().get(f"/stats/{n}/mean"), names))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 503]
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.get_json()["type"] == "Busy" and int(busy.headers["Retry-After"]) >= 1
    assert busy.headers["Cache-Control"] == "no-store"


def test_slow_work_past_the_queue_is_refused_at_once(images, monkeypatch):
    names = _copies(images, 4)
    release = threading.Event()
    real = service_module.summarize

    def stalled(source, **options):
        release.wait(30)
        return real(source, **options)

    app = create_app(
        {
            "IMAGES": str(images),
            "WARMUP": False,
            "SLOW_WORKERS": 1,
            "SLOW_QUEUE": 1,
            "DECODE_WAIT": 30,
        }
    )
    client = app.test_client()
    assert client.get("/stats/IMG_1.jpg/mean").status_code == 200  # cold, before the stall
    monkeypatch.setattr(service_module, "summarize", stalled)
    service = app.extensions["imgstats"]
    with ThreadPoolExecutor(2) as pool:
        hung = [
            pool.submit(lambda n=n: app.test_client().get(f"/stats/{n}/mean")) for n in names[:2]
        ]
        while service.slow.in_flight < 1 or service.slow.waiting < 1:
            time.sleep(0.01)
        refused = client.get(f"/stats/{names[2]}/mean")
        assert refused.status_code == 503 and refused.get_json()["type"] == "Busy"
        assert refused.headers["Retry-After"]
        # quick answers need no slot
        assert client.get("/health").status_code == 200
        assert client.get("/stats/IMG_1.jpg/mean").status_code == 200
        release.set()
        assert [f.result(30).status_code for f in hung] == [200, 200]


def test_limits_are_validated_at_start_up(images):
    from imgstats import InvalidOption

    for bad in (
        {"DECODE_PIXELS": 0},
        {"SLOW_WORKERS": 0},
        {"SLOW_QUEUE": -1},
        {"DECODE_WAIT": "soon"},
    ):
        with pytest.raises(InvalidOption):
            create_app({"IMAGES": str(images), "WARMUP": False, **bad})
    app = create_app({"IMAGES": str(images), "WARMUP": False, "PIXEL_LIMIT": 1000})
    assert app.config["DECODE_PIXELS"] == 2000


def test_serve_leaves_threads_free_beyond_the_slow_work(monkeypatch):
    from imgstats.web._serve import FAST_THREADS, OTHER_THREADS, gunicorn_options

    monkeypatch.delenv("IMGSTATS_THREADS", raising=False)
    monkeypatch.setenv("IMGSTATS_SLOW_WORKERS", "3")
    monkeypatch.setenv("IMGSTATS_SLOW_QUEUE", "5")
    monkeypatch.setenv("IMGSTATS_WORKER_CLASS", "gthread")  # every queue place is a thread
    assert gunicorn_options("127.0.0.1", 1)["threads"] == 3 + 2 * 5 + FAST_THREADS
    # the buffering worker queues complete requests without threads: the queue adds none
    monkeypatch.setenv("IMGSTATS_WORKER_CLASS", "imgstats.web._worker.BufferingWorker")
    monkeypatch.setenv("IMGSTATS_SLOW_QUEUE", "500")
    assert gunicorn_options("127.0.0.1", 1)["threads"] == 3 + OTHER_THREADS


# -- a real gunicorn in front of a stalled store -------------------------------------------------
@pytest.mark.slow
def test_a_hung_store_does_not_starve_health_or_cached_answers(tmp_path, gunicorn_server):
    folder = tmp_path / "remote"
    folder.mkdir()
    shutil.copyfile(gallery_path() / "IMG_1.jpg", folder / "IMG_1.jpg")
    hung_names = [f"slow_{i:02d}.jpg" for i in range(12)]
    for name in hung_names:
        shutil.copyfile(folder / "IMG_1.jpg", folder / name)
    release = threading.Event()
    handler = stalling_handler(folder, release)
    with serve_folder(folder, handler) as store:
        base, _ = gunicorn_server(
            f"{store}/",
            workers=2,
            env={
                "IMGSTATS_SLOW_WORKERS": "1",
                "IMGSTATS_SLOW_QUEUE": "1",
                "IMGSTATS_STORE_TIMEOUT": "60",
                "IMGSTATS_DECODE_WAIT": "60",
                "IMGSTATS_VERSION_TTL": "600",
                "IMGSTATS_WARMUP": "0",
            },
        )
        for _ in range(20):  # every worker caches the answer (each connection picks one)
            status, _, cached = http_get(base, "/stats/IMG_1.jpg/mean", timeout=60)
            assert status == 200
        pool = ThreadPoolExecutor(len(hung_names))
        try:
            hung = [pool.submit(http_get, base, f"/stats/{n}/mean", timeout=90) for n in hung_names]
            # 2 workers x (1 running + 1 waiting) may hang; the rest are refused at once
            _first_done(hung, len(hung_names) - 4)
            time.sleep(1.0)  # the last refusals of a worker that took more connections
            refused = [f.result() for f in hung if f.done()]
            assert {status for status, _, _ in refused} == {503}
            assert all(int(h["Retry-After"]) >= 1 for _, h, _ in refused)
            # still hung on the store: 4 when the kernel gave each worker at least two of
            # the connections, fewer when it gave one worker only one (seen under load)
            still = sum(not f.done() for f in hung)
            assert 2 <= still <= 4
            for _ in range(10):
                assert http_get(base, "/health", timeout=10)[0] == 200
                status, _, body = http_get(base, "/stats/IMG_1.jpg/mean", timeout=10)
                assert (status, body) == (200, cached)
            assert sum(not f.done() for f in hung) == still  # and they answered meanwhile
        finally:
            release.set()
            pool.shutdown(wait=True)
        assert {f.result()[0] for f in hung} <= {200, 503}


def _first_done(futures, count, timeout=30.0):
    """The first ``count`` futures to finish."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [f for f in futures if f.done()]
        if len(done) >= count:
            return done[:count]
        time.sleep(0.05)
    raise TimeoutError(f"fewer than {count} requests finished")
