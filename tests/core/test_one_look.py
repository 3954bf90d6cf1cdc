"""What lies beside or after a local picture is looked at once per request.

A cold ``compute(path, ...)`` of a JPEG opened it three times (is it a TIFF? does GDAL's
mask follow its picture? decode it), and a cold ``/stats`` looked for its ``.msk``,
``.MSK`` and ``.aux.xml`` twice (the header facts, then the plan). Counted here by the
look-ups of the file system the request makes for the image and its neighbours; the answers
(numpy the oracle, GDAL's rules) are those of the sidecar and mask tests.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

import imgstats
from imgstats.io import open_plan, read_header
from imgstats.io._beside import looked, one_look

SIDECARS = (".msk", ".MSK", ".aux.xml")

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def _jpeg(tmp_path, name="a.jpg"):
    rng = np.random.default_rng(7)
    values = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    Image.fromarray(values).save(tmp_path / name, quality=95)
    return tmp_path / name


def test_a_cold_compute_opens_a_jpeg_twice_and_looks_beside_it_once(tmp_path, file_looks):
    path = _jpeg(tmp_path)
    expected = np.median(np.asarray(Image.open(path)))
    file_looks.clear()
    assert imgstats.compute(str(path), "median") == expected
    assert file_looks["open", "a.jpg"] == 2  # its first and last bytes, then its picture
    for suffix in SIDECARS:
        assert file_looks["isfile", "a.jpg" + suffix] == 1


def test_the_header_and_the_plan_of_one_look_share_the_answers(tmp_path, file_looks):
    path = _jpeg(tmp_path)
    file_looks.clear()
    with one_look(), open(path, "rb") as fh:
        header = read_header(fh, str(path))
        plan = open_plan(str(path))
    assert header["mask"] is None and plan.valid is None
    assert file_looks["open", "a.jpg"] == 2  # the header's, then the picture's
    for suffix in SIDECARS:
        assert file_looks["isfile", "a.jpg" + suffix] == 1


def test_outside_one_look_every_question_is_asked_anew(tmp_path):
    calls = []
    assert looked("k", lambda: calls.append(1) or 5) == 5
    assert looked("k", lambda: calls.append(1) or 6) == 6
    with one_look():
        assert looked("k", lambda: calls.append(1) or 7) == 7
        assert looked("k", lambda: calls.append(1) or 8) == 7
        with one_look():  # nested: the outer block's answers
            assert looked("k", lambda: calls.append(1) or 9) == 7
    assert looked("k", lambda: calls.append(1) or 10) == 10
    assert len(calls) == 4


def test_a_failed_look_is_not_kept():
    def fail():
        raise OSError("gone")

    with one_look():
        with pytest.raises(OSError):
            looked("k", fail)
        assert looked("k", lambda: 3) == 3


def test_a_sidecar_added_after_a_request_counts_at_the_next(tmp_path):
    """Answers last one request (one compute): a .msk written later is read."""
    import rasterio

    path = _jpeg(tmp_path)
    values = np.asarray(Image.open(path))
    assert imgstats.compute(str(path), "count") == values.size
    valid = np.full((40, 50), 255, np.uint8)
    valid[:10] = 0
    src = tmp_path / "src.tif"
    profile = dict(driver="GTiff", width=50, height=40, count=3, dtype="uint8")
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=False),
        rasterio.open(src, "w", **profile) as dst,
    ):
        dst.write(np.moveaxis(values, -1, 0))
        dst.write_mask(valid)
    os.replace(str(src) + ".msk", str(path) + ".msk")
    assert imgstats.compute(str(path), "count") == values[10:].size
