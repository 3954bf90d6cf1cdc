"""Reductions of an xarray Dataset, variable by variable, laid out as xarray's own.

``ds.median(dim="time")`` reduces each data variable along the dims it has and gives a
Dataset of the results; ``ds.imgstats.median(dim="time")`` does the same with imgstats'
exact reductions, following xarray's rules for the variables a reduction does not fit:

- a numeric (or boolean) variable that has none of the reduced dims is reduced over no dim,
  as xarray does: each element is its own sample (its median is itself, its count 1, or 0
  for NaN). imgstats does it by reducing a dim of length one added for the purpose. Except
  for quantiles: ``ds.quantile`` keeps such a variable as it is (no ``quantile`` dim), and
  so does ``ds.imgstats.quantile``;
- a complex or timedelta variable, which xarray counts as numbers (``np.number``) but
  imgstats' kernels do not read, is reduced by xarray's own reduction (numpy's: complex
  numbers ordered by real part, then imaginary part), as ``ds.median(dim=...)`` reduces
  it; quantiles of complex numbers are refused, as xarray's ``ds.quantile`` refuses them;
- a variable of another type (strings, dates) is dropped when it has a reduced dim, and kept
  as it is when it has none (xarray's ``numeric_only``);
- a dim that no variable has is refused (xarray raises too), in xarray's words.

The coordinates of the Dataset that lie along no reduced dim are kept, and its attrs with
``keep_attrs``.
"""

from __future__ import annotations

from collections.abc import Callable

from ._inputs import cf_decoded, check_dims, dim_tuple
from .errors import ImgStatsError, with_message

__all__ = ["reduce_dataset"]

#: The dim a variable that has none of the reduced dims is given, and reduced along.
_ONE = "__imgstats_one__"


def reduce_dataset(
    ds,
    reduce: Callable,
    dim,
    keep_attrs: bool = True,
    other=None,
    keep_unreduced=False,
    io_options=None,
):
    """``reduce(var, dims)`` of every data variable of ``ds`` along the dims of ``dim`` it has.

    Parameters
    ----------
    ds : xarray.Dataset
    reduce : callable
        ``reduce(DataArray, tuple of dims) -> DataArray``: one variable's reduction.
    dim : str, sequence of str, ``...`` or None
        The dims to reduce; ``None`` (or ``...``): every dim of the Dataset.
    keep_attrs : bool
        Keep the Dataset's attrs.
    other : callable, optional
        ``other(DataArray, tuple of dims) -> DataArray``: the reduction of a complex or
        timedelta variable (xarray's own); ``None``: ``reduce``, which refuses them.
    keep_unreduced : bool
        Keep a variable that has dims but none of the reduced ones as it is (xarray's
        quantile), rather than reduce it over no dim (xarray's other reductions).

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    InvalidOption
        A dim no variable has; a variable's reduction refused (named in the message).
    """
    import xarray as xr

    available = tuple(ds.dims)
    if dim is None or dim is ...:
        dims = available
    else:
        dims = dim_tuple(dim, available)
        check_dims(dim, dims, available)
    results = {}
    for name, var in ds.data_vars.items():
        var = cf_decoded(var, io_options)  # CF's unsigned bytes and missing values, as xarray
        mine = tuple(d for d in dims if d in var.dims)
        kind = var.dtype.kind
        if kind not in "biufcm":
            if not mine:
                results[name] = var  # xarray keeps what it cannot reduce and need not
            continue
        if not mine and var.dims and keep_unreduced:
            results[name] = var  # ds.quantile keeps it, with no quantile dim
            continue
        if not mine:
            var, mine = var.expand_dims(_ONE), (_ONE,)
        how = other if kind in "cm" and other is not None else reduce
        try:
            out = how(var, mine)
        except ImgStatsError as exc:
            raise with_message(exc, f"variable {name!r}: {exc}") from None
        results[name] = out.rename(name)
    kept = {k: c for k, c in ds.coords.items() if not set(c.dims) & set(dims)}
    out = xr.Dataset(results, attrs=dict(ds.attrs) if keep_attrs else {})
    return out.assign_coords({k: c for k, c in kept.items() if k not in out.coords})
