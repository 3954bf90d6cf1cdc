"""An image truncated between the store's look and its read is the store's failure (502).

A 24 MB TIFF replaced by a 12 MB one mid-request gave ``/stats`` a 422 "failed to read
25165824 bytes, got 12582776" and ``/thumbs`` "cannot be decoded": a corrupt file, the
client's to fix. The store cut the read: 502 ``ImageChanged``, saying the image changed while
it was read. The same file, still truncated at the next request, is then corrupt (422).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import tifffile

from imgstats.web import create_app

TICK = 0.05  # longer than a tick of the kernel's coarse clock, which stamps a file's ctime


@pytest.mark.parametrize("url", ["/stats/a.tif/mean", "/thumbs/a.tif"])
def test_an_image_truncated_mid_request_is_a_502(images, monkeypatch, url):
    tifffile.imwrite(images / "a.tif", np.full((3072, 4096), 10, np.uint16))  # 24 MB
    app = create_app({"IMAGES": str(images), "WARMUP": False, "RACY_SECONDS": 0.0})
    service = app.extensions["imgstats"]
    stat = service.store.stat
    cut = []

    def stat_then_truncate(name):  # a writer cuts the file just after the store's look
        version = stat(name)
        if not cut:
            cut.append(version)
            time.sleep(TICK)
            os.truncate(images / "a.tif", 12 << 20)
        return version

    monkeypatch.setattr(service.store, "stat", stat_then_truncate)
    client = app.test_client()
    try:
        response = client.get(url, headers={"Accept": "application/json"})
        assert response.status_code == 502, response.get_data(as_text=True)
        body = response.get_json()
        assert body["type"] == "ImageChanged"
        assert "changed while it was read" in body["error"], body
        assert "read it again" in body["error"]
        time.sleep(TICK)
        again = client.get(url, headers={"Accept": "application/json"})
        assert again.status_code == 422, again.get_json()  # now it is a truncated file
    finally:
        service.close()
