"""A local path that names no file for good -- a loop of symbolic links, a name too long --
is ``ImageNotFound``, as the service's local store takes it (a 404).

The library said ``StoreUnavailable`` ("could not open ...: [Errno 40] Too many levels of
symbolic links"), the error of a failing store that a retry may mend.
"""

from __future__ import annotations

import pytest

import imgstats
from imgstats.errors import ImageNotFound, StoreUnavailable


@pytest.fixture
def loop(tmp_path):
    (tmp_path / "a.png").symlink_to("b.png")
    (tmp_path / "b.png").symlink_to("a.png")
    return tmp_path / "a.png"


def test_a_symlink_loop(loop):
    with pytest.raises(ImageNotFound, match="no image at .*a.png: Too many levels") as exc:
        imgstats.compute(loop, "max")
    assert not isinstance(exc.value, StoreUnavailable)
    with pytest.raises(ImageNotFound):
        imgstats.compute(loop.as_uri(), "max")  # file:// reads the same path


@pytest.mark.parametrize("name", ["a" * 300 + ".png", "d/" * 3000 + "a.png"])
def test_a_name_too_long(tmp_path, name):
    with pytest.raises(ImageNotFound, match="File name too long"):
        imgstats.compute(tmp_path / name, "max")


def test_zonal_of_a_loop(loop, tmp_path):
    import numpy as np
    import tifffile

    from imgstats.zones import zonal

    tifffile.imwrite(tmp_path / "img.tif", np.zeros((4, 4), np.uint8))
    with pytest.raises(ImageNotFound):
        zonal(tmp_path / "img.tif", loop, ["mean"])
