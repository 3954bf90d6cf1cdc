"""A cold ``GET /stats`` looks at the image's version twice: before and after reading it.

It looked three times, each a stat of the image and of its ``.msk``, ``.MSK`` and
``.aux.xml``: the answer's version, then the header facts' (for the decode budget), then
after the read (did the image change while it was read?). The second is the first's,
within one request; the look after the read is still made, and a change between two
requests is still seen.
"""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from imgstats.web import create_app

SIDECARS = (".msk", ".MSK", ".aux.xml")


@pytest.fixture
def stats_of(monkeypatch):
    """A Counter of the file names ``os.stat`` is asked about from now on."""
    seen: Counter = Counter()
    real = os.stat

    def counted(path, *args, **kwargs):
        if isinstance(path, (str, os.PathLike)):
            seen[os.path.basename(os.fspath(path))] += 1
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counted)
    return seen


@pytest.fixture
def settled(images):
    """A client of an app that trusts every timestamp (no racy versions, which are never
    looked at again after the read)."""
    app = create_app({"IMAGES": str(images), "WARMUP": False, "RACY_SECONDS": 0.0})
    yield app.test_client()
    app.extensions["imgstats"].close()


def _jpeg(path, value: int) -> float:
    values = np.full((30, 40, 3), value, np.uint8)
    Image.fromarray(values).save(path, quality=95)
    return float(np.median(np.asarray(Image.open(path))))


def test_a_cold_stats_looks_at_the_version_before_and_after_the_read(images, settled, stats_of):
    expected = _jpeg(images / "solo.jpg", 90)
    stats_of.clear()
    response = settled.get("/stats/solo.jpg/median")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["value"] == expected
    for suffix in SIDECARS:
        # the version before the read and after it, and the plan's look for the sidecar
        assert stats_of["solo.jpg" + suffix] == 3, (suffix, stats_of)


def test_a_change_between_two_requests_is_seen(images, settled):
    first = _jpeg(images / "solo.jpg", 90)
    assert settled.get("/stats/solo.jpg/median").get_json()["value"] == first
    st = os.stat(images / "solo.jpg")
    second = _jpeg(images / "solo.jpg", 30)
    os.utime(images / "solo.jpg", ns=(st.st_atime_ns, st.st_mtime_ns))  # cp -p: old mtime
    assert second != first
    assert settled.get("/stats/solo.jpg/median").get_json()["value"] == second
