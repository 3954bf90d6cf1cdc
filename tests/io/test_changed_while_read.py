"""An image that changes while it is read is not a corrupt image.

A 24 MB TIFF truncated to 12 MB between its header's read and its pixels' gave
``UnreadableImage`` "is corrupt: ValueError: failed to read 25165824 bytes, got 12582776"
(an HTTP 422); a PNG so truncated "is truncated". Both are ``ImageChanged`` (a
``StoreUnavailable``: the service's 502), which says the file changed and that reading it
again is reasonable. The same file already truncated before the read began is still corrupt.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import tifffile
from PIL import Image

import imgstats
import imgstats.io._plan as plan_module
from imgstats.errors import ImageChanged, StoreUnavailable, UnreadableImage

#: Longer than a tick of the kernel's coarse clock, which stamps a file's ctime.
TICK = 0.05


def _tiff(path):
    tifffile.imwrite(path, np.full((256, 512), 10, np.uint16))


def _png(path):
    Image.fromarray(np.full((256, 512), 10, np.uint16)).save(path)


def _truncate(path) -> None:
    os.truncate(path, os.path.getsize(path) // 2)


@pytest.mark.parametrize("write", [_tiff, _png], ids=["tiff", "png16"])
def test_a_file_truncated_while_it_is_read_changed(tmp_path, monkeypatch, write):
    path = tmp_path / f"a.{'tif' if write is _tiff else 'png'}"
    write(path)
    open_path = plan_module._open_path

    def open_then_truncate(*args):  # a writer truncates the file once its header is read
        from imgstats.io import read_header

        with open(path, "rb") as fh:
            read_header(fh, path)
        time.sleep(TICK)
        _truncate(path)
        return open_path(*args)

    monkeypatch.setattr(plan_module, "_open_path", open_then_truncate)
    with pytest.raises(ImageChanged, match="changed while it was read") as caught:
        imgstats.compute(path, "mean")
    assert isinstance(caught.value, StoreUnavailable)
    assert "read it again" in str(caught.value)


@pytest.mark.parametrize("write", [_tiff, _png], ids=["tiff", "png16"])
def test_a_file_truncated_before_the_read_is_corrupt(tmp_path, write):
    path = tmp_path / f"a.{'tif' if write is _tiff else 'png'}"
    write(path)
    _truncate(path)
    time.sleep(TICK)
    with pytest.raises(UnreadableImage) as caught:
        imgstats.compute(path, "mean")
    assert not isinstance(caught.value, ImageChanged)
