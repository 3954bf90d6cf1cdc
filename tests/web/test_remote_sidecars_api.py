"""A sidecar beside an image in a remote store is part of its version, as beside a local
one: an ``.aux.xml`` added, changed or removed on the HTTP server changes the service's
answer and its ETag; a sidecar the server fails on is a 502, not a silent wrong number."""

from __future__ import annotations

import functools
import threading

import numpy as np
import pytest
import rasterio
from web_helpers import _QuietHandler, serve_folder

from imgstats.web import create_app

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

H, W = 30, 40
PAM = (
    '<PAMDataset><PAMRasterBand band="1"><NoDataValue>{}</NoDataValue></PAMRasterBand></PAMDataset>'
)


class _FailingSidecars(_QuietHandler):
    """Serves a folder; every request for an ``.aux.xml`` answers 500, or hangs (``stall``)
    until ``release`` is set."""

    mode = "500"
    release: threading.Event

    def do_HEAD(self):  # noqa: N802 -- http.server's name
        if not self.path.endswith(".aux.xml"):
            super().do_HEAD()
        elif self.mode == "stall":
            self.release.wait(60)
        else:
            self.send_error(500)

    do_GET = do_HEAD  # noqa: N815 -- http.server's name


def _write(path, data) -> None:
    with rasterio.open(
        path, "w", driver="GTiff", width=W, height=H, count=1, dtype=data.dtype.name
    ) as dst:
        dst.write(data[None])


@pytest.fixture
def data():
    values = (np.arange(H * W, dtype=np.uint16).reshape(H, W) % 11) + 1
    return values


def test_a_remote_sidecar_added_changed_and_removed_is_noticed(tmp_path, data):
    _write(tmp_path / "x.tif", data)
    with serve_folder(tmp_path) as base:
        config = {"IMAGES": base + "/", "WARMUP": False, "VERSION_TTL": 0, "RACY_SECONDS": 0}
        app = create_app(config)
        client = app.test_client()
        try:
            first = client.get("/stats/x.tif/count")
            assert first.get_json()["value"] == H * W

            (tmp_path / "x.tif.aux.xml").write_text(PAM.format(7))
            second = client.get(
                "/stats/x.tif/count", headers={"If-None-Match": first.headers["ETag"]}
            )
            assert second.status_code == 200  # the old ETag no longer validates
            assert second.get_json()["value"] == (data != 7).sum()
            assert second.headers["ETag"] != first.headers["ETag"]

            (tmp_path / "x.tif.aux.xml").write_text(PAM.format("1.0"))  # another size
            third = client.get("/stats/x.tif/count").get_json()
            assert third["value"] == (data != 1).sum()

            (tmp_path / "x.tif.aux.xml").unlink()
            last = client.get("/stats/x.tif/count").get_json()
            assert (last["value"], last["version"]) == (H * W, first.get_json()["version"])
        finally:
            app.extensions["imgstats"].close()


@pytest.mark.parametrize(("mode", "status"), [("500", 502), ("stall", 504)])
def test_a_remote_sidecar_the_server_fails_on_is_the_stores_error(tmp_path, data, mode, status):
    _write(tmp_path / "x.tif", data)
    (tmp_path / "x.tif.aux.xml").write_text(PAM.format(7))
    release = threading.Event()
    handler = type("H", (_FailingSidecars,), {"mode": mode, "release": release})
    with serve_folder(tmp_path, functools.partial(handler, directory=str(tmp_path))) as base:
        config = {"IMAGES": base + "/", "WARMUP": False, "VERSION_TTL": 0, "STORE_TIMEOUT": 1}
        app = create_app(config)
        try:
            answer = app.test_client().get("/stats/x.tif/count")
            assert answer.status_code == status  # not an answer without the sidecar
            assert "image store" in answer.get_json()["error"]
        finally:
            release.set()
            app.extensions["imgstats"].close()
