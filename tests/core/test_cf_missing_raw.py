"""``raw=True`` and ``nodata=`` see CF's missing values as they are stored.

4786962 replaced every CF missing value but the first by the first, so that all count as
nodata; with ``raw=True`` (every stored sample counts) or a caller's ``nodata`` they are
samples, and the replacement changed them: ``compute(da, "mean", raw=True)`` of
``[1, -9999, -8888, 7]`` gave -4997.5, numpy -4719.75.
"""

import numpy as np
import pytest

import imgstats

xr = pytest.importorskip("xarray")

STORED = np.array([[1, -9999, -8888, 7]], np.int16)


def _da():
    return xr.DataArray(
        STORED.copy(), dims=("y", "x"), attrs={"_FillValue": -9999, "missing_value": -8888}
    )


@pytest.mark.parametrize(
    ("options", "kept"),
    [
        ({"raw": True}, STORED.ravel()),
        ({"nodata": 7}, np.array([1, -9999, -8888])),
        ({}, np.array([1, 7])),
    ],
    ids=["raw", "nodata", "file"],
)
@pytest.mark.parametrize("how", ["compute", "accessor", "dataset", "summarize"])
def test_raw_and_nodata_count_the_missing_values_as_stored(options, kept, how):
    da = _da()
    funcs = ["min", "mean", "count"]
    if how == "compute":
        got = imgstats.compute(da, funcs, **options)
    elif how == "accessor":
        got = da.imgstats.compute(funcs, **options)
    elif how == "summarize":
        got = imgstats.summarize(da, **options).compute(funcs)
    else:
        out = xr.Dataset({"v": da}).imgstats.compute(funcs, **options)["v"]
        got = dict(zip(out["func"].values.tolist(), out.values.tolist(), strict=True))
    assert got["count"] == kept.size
    assert got["min"] == kept.min()
    assert got["mean"] == pytest.approx(kept.astype("f8").mean(), rel=1e-12)
