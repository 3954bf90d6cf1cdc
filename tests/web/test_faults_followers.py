"""The fault tier: many requests asking what one hung request is computing.

A real ``imgstats serve`` over a real HTTP store on loopback whose ``slow_*`` files hang
until the test releases them. Requests asking the same question as one being computed wait
for it (``/stats`` and ``POST /zonal`` alike) without a slot of slow work and without a
place ahead of other requests in the worker's queue: a cold request for another image is
answered meanwhile.
"""

from __future__ import annotations

import http.client
import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from web_helpers import http_get, serve_folder, stalling_handler

from imgstats.data import gallery_path

pytestmark = [pytest.mark.faults]

TRIANGLE = {"type": "Polygon", "coordinates": [[[0, 0], [90, 0], [90, 90], [0, 0]]]}
ZONES = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": TRIANGLE}]}
#: Seconds the other image's request may take: well below the store's 60 s hang, well above
#: a cold answer on a slow machine.
ANSWER_WITHIN = 30
#: (method, path, body) of the question the hung request computes
QUESTIONS = [
    ("GET", "/stats/slow_1.png/mean", None),
    ("POST", "/stats/slow_1.png", {"funcs": ["mean", "p99"]}),
    ("POST", "/zonal/slow_1.png", {"funcs": ["mean", "max"], "zones": ZONES}),
]


def _ask(base: str, method: str, path: str, body):
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        data = None if body is None else json.dumps(body)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize(("method", "path", "body"), QUESTIONS, ids=["stats", "post", "zonal"])
def test_waiting_for_a_hung_computation_does_not_hold_up_other_images(
    tmp_path, gunicorn_server, method, path, body
):
    folder = tmp_path / "remote"
    folder.mkdir()
    shutil.copyfile(gallery_path() / "IMG_1.jpg", folder / "IMG_1.jpg")
    shutil.copyfile(gallery_path() / "IMG_11.png", folder / "slow_1.png")
    release = threading.Event()
    with serve_folder(folder, stalling_handler(folder, release)) as store:
        base, _ = gunicorn_server(
            f"{store}/",
            workers=1,
            env={
                "IMGSTATS_SLOW_WORKERS": "2",
                "IMGSTATS_STORE_TIMEOUT": "60",
                "IMGSTATS_DECODE_WAIT": "60",
                "IMGSTATS_VERSION_TTL": "600",
                "IMGSTATS_WARMUP": "0",
            },
        )
        pool = ThreadPoolExecutor(4)
        try:
            same = [pool.submit(_ask, base, method, path, body) for _ in range(4)]
            time.sleep(1.0)  # one computes, hung on the store; three wait for it
            # The store hangs until released below (or its own 60 s): an answer at all, with
            # the four still waiting, is one that did not wait for it. No time is asserted: a
            # cold request on a loaded machine took 5.4 s.
            try:
                status = http_get(base, "/stats/IMG_1.jpg/mean", timeout=ANSWER_WITHIN)[0]
            except TimeoutError:
                status = "timed out"
            assert not any(f.done() for f in same)  # the store still hangs
        finally:
            release.set()
            pool.shutdown(wait=True)
    # was: it waited behind the followers in the worker's queue (or for the slot a zonal
    # follower held) until the hung store answered
    assert status == 200, status
    answers = [f.result() for f in same]
    assert [s for s, _ in answers] == [200] * 4
    assert len({b for _, b in answers}) == 1
