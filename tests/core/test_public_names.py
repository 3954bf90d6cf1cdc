"""What a newcomer's tab completion offers on ``imgstats.``: the API, not the module's helpers."""

from __future__ import annotations

import numpy as np

import imgstats


def test_dir_offers_every_public_name_and_no_helper():
    names = dir(imgstats)
    assert set(imgstats.__all__) <= set(names)
    assert "__version__" in names
    for helper in ("TYPE_CHECKING", "importlib", "annotations", "ModuleType"):
        assert helper not in names
    assert [n for n in names if n.startswith("_") and not n.startswith("__")] == []


def test_every_name_dir_offers_can_be_read():
    for name in dir(imgstats):
        getattr(imgstats, name)  # a lazy name resolves; a listed submodule is loaded


def test_the_accessors_repr_names_the_array_and_its_methods():
    import xarray as xr

    da = xr.DataArray(np.arange(12, dtype=np.uint16).reshape(3, 4), dims=("y", "x"))
    # it was "<imgstats.accessor.ImgStatsAccessor object at 0x...>" in a notebook
    assert repr(da.imgstats) == (
        "<imgstats accessor of an xarray.DataArray (y: 3, x: 4) uint16: "
        "compute, median, quantile, summarize, zonal>"
    )
    text = repr(da.to_dataset(name="v").imgstats)
    assert text.startswith("<imgstats accessor of an xarray.Dataset (y: 3, x: 4): ")
    for name in (n for n in dir(da.to_dataset(name="v").imgstats) if not n.startswith("_")):
        assert name in text
