"""Answers that outlive a process are keyed by the code that made them, not by the release.

ETags, Redis summary keys and the thumbnail folder's keys took ``__version__`` alone: a
service whose code changed without a new release (an unreleased fix, a forgotten bump) kept
answering 304 to clients holding the code before's answers, and read the code before's
summaries and thumbnails from Redis and the folder. Here each service is a process of its own
over a copy of the package, sharing one real redis-server and one render folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis

import imgstats

PACKAGE = Path(imgstats.__file__).parent
ROUTES = ("/stats/IMG_1.jpg/median", "/api/images/IMG_1.jpg", "/thumbs/IMG_1.jpg")

#: One process of the service over ``argv[1]``: each route of ``argv[3]`` asked once, with
#: ``If-None-Match`` the ETag ``argv[2]`` (JSON) gives for it, if any.
PROBE = """
import json, sys
import imgstats
from imgstats.web import create_app
app = create_app({"IMAGES": sys.argv[1], "WARMUP": False})
client = app.test_client()
old = json.loads(sys.argv[2])
out = {"package": imgstats.__file__}
for route in json.loads(sys.argv[3]):
    held = {"If-None-Match": old[route]} if route in old else {}
    response = client.get(route, headers=held)
    out[route] = [response.status_code, response.headers["ETag"], len(response.data)]
app.extensions["imgstats"].close()
print(json.dumps(out))
"""


@pytest.fixture
def serve(tmp_path, redis_url):
    """``serve(package, old_etags) -> {route: [status, etag, bytes]}``: one service process
    running ``package`` (a copy of imgstats), with the shared Redis and render folder."""
    images = tmp_path / "images"
    images.mkdir()
    shutil.copyfile(PACKAGE / "data" / "gallery" / "IMG_1.jpg", images / "IMG_1.jpg")
    env = {
        **os.environ,
        "IMGSTATS_REDIS_URL": redis_url[0],
        "IMGSTATS_REDIS_TIMEOUT": "5",
        "IMGSTATS_GALLERY_CACHE_DIR": str(tmp_path / "renders"),
        "IMGSTATS_RACY_SECONDS": "0",
    }

    def run(package: Path, old: dict | None = None) -> dict:
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, str(images), json.dumps(old or {}), json.dumps(ROUTES)],
            env={**env, "PYTHONPATH": str(package.parent)},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.splitlines()[-1])
        assert Path(out.pop("package")).parent == package  # this copy, not the checkout
        return out

    return run


@pytest.fixture
def copy(tmp_path):
    """``copy(name, change=False) -> Path``: the package copied (bytecode left out) under
    ``tmp_path/name``; with ``change``, one byte more in a comment of one module."""

    def make(name: str, change: bool = False) -> Path:
        target = tmp_path / name / "imgstats"
        shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
        if change:
            with (target / "summary.py").open("ab") as f:
                f.write(b"#\n")
        return target

    return make


def _summaries(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return len(client.keys("imgstats:summary:*"))
    finally:
        client.close()


def _renders(tmp_path: Path) -> int:
    return sum(1 for p in (tmp_path / "renders").rglob("*") if p.is_file() and p.name != "key")


def test_other_code_has_other_etags_and_never_reads_the_summaries_of_this(
    tmp_path, serve, copy, redis_url
):
    first = serve(copy("a"))
    assert [first[r][0] for r in ROUTES] == [200, 200, 200]
    summaries, renders = _summaries(redis_url[0]), _renders(tmp_path)
    assert summaries >= 1 and renders >= 1

    # the same code in another process, at another place: the same ETags (a 304 for each),
    # and it reads the summaries and renderings the first one kept
    same = serve(copy("b"), {r: first[r][1] for r in ROUTES})
    assert [same[r][:2] for r in ROUTES] == [[304, first[r][1]] for r in ROUTES]
    assert (_summaries(redis_url[0]), _renders(tmp_path)) == (summaries, renders)

    # one byte more in a comment: a client revalidating its copy gets the whole answer of
    # this code (a 200 with a body), under another ETag, computed and rendered anew
    other = serve(copy("c", change=True), {r: first[r][1] for r in ROUTES})
    for route in ROUTES:
        status, etag, size = other[route]
        assert (status, size) == (200, first[route][2]) and etag != first[route][1], route
    assert _summaries(redis_url[0]) > summaries and _renders(tmp_path) > renders
