"""The ``.imgstats`` accessor on xarray DataArrays: ``img.imgstats.compute("p99")``."""

from __future__ import annotations

import xarray as xr

from .reduce import compute, summarize
from .summary import Summary


@xr.register_dataarray_accessor("imgstats")
class ImgStatsAccessor:
    """Exact statistics of a DataArray's samples, registered as ``DataArray.imgstats``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> arr = xr.DataArray(np.arange(12, dtype=np.uint16).reshape(3, 4), dims=("y", "x"))
    >>> arr.imgstats.compute(["min", "p50", "max"])
    {'min': 0, 'p50': 5.5, 'max': 11}
    """

    def __init__(self, obj: xr.DataArray):
        self._obj = obj

    def compute(self, func, band=None, *, dim=None, **options):
        """Compute statistics; see :func:`imgstats.compute`.

        With ``dim`` (a dim name or a tuple of them) the result is a DataArray over the
        other dims, lazy for a dask-backed array (see :func:`imgstats.dims.compute_along`):
        ``stack.imgstats.compute("p99", dim=("y", "x"))`` gives one value per time step.
        """
        return compute(self._obj, func, band, dim=dim, **options)

    def summarize(self, **options) -> Summary:
        """Summarize once, then ask any statistic of it; see :func:`imgstats.summarize`."""
        return summarize(self._obj, **options)
