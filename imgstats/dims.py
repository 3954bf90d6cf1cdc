"""Exact statistics of a DataArray along chosen dims: ``compute(arr, "p99", dim=("y", "x"))``.

The result is a DataArray over the remaining dims, equal to ``numpy.nanmin``, ``nanmax``,
``nanmean`` and ``nanpercentile`` (linear method) along the reduced axes, cell by cell. Each
remaining cell gets its own mergeable :class:`~imgstats.Summary`: the reduced dims may be cut
into any chunks (where ``xarray.DataArray.quantile`` refuses a chunked core dim and
``dask.array.percentile`` is approximate).

Laziness
--------
A dask-backed input gives a dask-backed result, chunked like the input along the remaining
dims: one task per block of the remaining dims summarizes the reduced blocks of that block
one by one, merges their summaries, and for 32- and 64-bit percentiles reads them again for
the refinement passes. Nothing is computed before ``.compute()``, and a task holds one input
block and its cells' summaries at a time, never a whole reduced slab.

Summaries hold a 2**16-bin histogram per cell for 16- to 64-bit types (512 KB), so this suits
reductions over large dims with few remaining cells (a value per time step or band), not a
per-pixel reduction over a short time axis.

Result
------
One function: a DataArray named after it. Several: a DataArray with a last dim ``func`` whose
coordinate holds the names. Its type is the input's when only ``min`` and ``max`` are asked
(numpy's ``nanmin`` keeps it too), else float64 (a 64-bit integer's min or max beyond 2**53 is
then rounded: ask them on their own to keep every bit). A cell with no valid sample (all NaN)
is NaN, as numpy gives, without numpy's warning.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .errors import InvalidOption, NoValidSamples

__all__ = ["compute_along"]

_FAN_IN = 8
_MAX_REFINE_PASSES = 4


class _Opaque:
    """Hides a dask array from dask's argument scan, so a task receives the array itself."""

    def __init__(self, array):
        self.array = array

    def __dask_tokenize__(self):
        # its graph's name, not a pickle of the graph (which may embed a numpy array)
        return ("imgstats-dims", self.array.name)


def compute_along(data, func, dim, *, band=None, scheduler=None):
    """Compute exact statistics of a DataArray along ``dim``, keeping the other dims.

    Parameters
    ----------
    data : xarray.DataArray
        numpy- or dask-backed, of integers, floats or booleans.
    func : str or list of str
        ``min``, ``max``, ``mean``, ``median`` or ``pXXX``.
    dim : str or sequence of str
        The dims to reduce; all of them gives a 0-d result.
    band : None
        Not used with ``dim``: keep ``band`` among the remaining dims instead.
    scheduler : optional
        Not used: a dask-backed result computes on the scheduler of its ``.compute()``;
        a numpy-backed input is computed at once.

    Returns
    -------
    xarray.DataArray
        Over the remaining dims (and ``func`` when ``func`` is a list), with their coordinates.

    Raises
    ------
    InvalidOption
        Not a DataArray, a dim it lacks, a reduced dim of length 0, or ``band`` given.
    UnknownFunction
        A bad function name.

    Examples
    --------
    >>> import numpy as np, xarray as xr, imgstats
    >>> arr = xr.DataArray(np.arange(24.0).reshape(2, 3, 4), dims=("time", "y", "x"))
    >>> imgstats.compute(arr, "median", dim=("y", "x")).values.tolist()
    [5.5, 17.5]
    """
    import xarray as xr

    from .functions import parse_function

    if not isinstance(data, xr.DataArray):
        raise InvalidOption(f"dim= needs an xarray.DataArray, not a {type(data).__name__}")
    if band is not None:
        raise InvalidOption("band= and dim= do not go together: keep 'band' among the dims")
    dims = (dim,) if isinstance(dim, str) else tuple(dim)
    missing = [d for d in dims if d not in data.dims]
    if missing or not dims or len(set(dims)) != len(dims):
        raise InvalidOption(f"invalid dim {dim!r}: the array has dims {list(data.dims)}")
    funcs = [func] if isinstance(func, str) else list(func)
    parsed = [parse_function(f) for f in funcs]
    if data.dtype.kind not in "biuf" or data.dtype.itemsize > 8:
        raise InvalidOption(f"unsupported pixel type {data.dtype}: use integers or floats")
    if any(data.sizes[d] == 0 for d in dims):
        raise InvalidOption(f"nothing to reduce: a dim of {dims} has length 0")
    keep = [d for d in data.dims if d not in dims]
    arr = data.transpose(*keep, *dims)
    out_dtype = data.dtype if all(f.kind in ("min", "max") for f in parsed) else np.float64
    nk = len(keep)
    # the parsed functions, not their names: a Function may carry what no name says
    # (an exact quantile of imgstats.accessor)
    if hasattr(arr.data, "dask"):
        values = _lazy(arr.data, nk, parsed, out_dtype)
    else:
        values = _cells(np.asarray(arr.data), nk, parsed, out_dtype, "sync")
    if isinstance(func, str):
        values = values[..., 0]
        out_dims = tuple(keep)
    else:
        out_dims = (*keep, "func")
    coords = {name: c for name, c in arr.coords.items() if set(c.dims) <= set(keep)}
    if not isinstance(func, str):
        coords["func"] = [f.name for f in parsed]
    return xr.DataArray(
        values,
        dims=out_dims,
        coords=coords,
        attrs=dict(data.attrs),
        name=funcs[0] if isinstance(func, str) else None,
    )


def _lazy(data, nk: int, names, out_dtype):
    """A dask array of the results, one task per block of the ``nk`` remaining dims."""
    import dask
    import dask.array as da

    from .io._plan import workers as _workers

    grid = [range(n) for n in data.numblocks[:nk]]
    starts = [np.cumsum((0,) + c) for c in data.chunks[:nk]]
    nblocks = math.prod(data.numblocks[:nk])
    # Few tasks (e.g. every remaining dim in one chunk): let each use the local cores.
    inner = "threads" if nblocks < _workers() else "sync"
    blocks = np.empty(data.numblocks[:nk], dtype=object)
    for idx in itertools.product(*grid):
        sl = tuple(slice(starts[a][i], starts[a][i + 1]) for a, i in enumerate(idx))
        sub = data[sl]
        shape = tuple(s.stop - s.start for s in sl) + (len(names),)
        task = dask.delayed(_cells_task, pure=True)(_Opaque(sub), nk, names, out_dtype, inner)
        blocks[idx] = da.from_delayed(task, shape, dtype=out_dtype)
    if nk == 0:
        return blocks[()]
    # one more level of nesting than remaining dims: da.block then leaves the func axis alone
    return da.block(_nest(blocks.tolist(), nk))


def _nest(tree, depth: int):
    if depth == 0:
        return [tree]
    return [_nest(t, depth - 1) for t in tree]


def _cells_task(opaque, nk, names, out_dtype, inner):
    return _cells(opaque.array, nk, names, out_dtype, inner)


def _cells(data, nk: int, names, out_dtype, scheduler) -> np.ndarray:
    """The statistics of every remaining cell of ``data`` (remaining dims first)."""
    kshape = tuple(int(s) for s in data.shape[:nk])
    ncell = math.prod(kshape)
    summaries = _run_blocks(data, _summarize_cells, (ncell,), _merge_cells, scheduler)
    for _ in range(_MAX_REFINE_PASSES):
        nodes = [_missing(s, names) for s in summaries]
        if not any(nodes):
            break
        dtype = summaries[0].dtype
        found = _run_blocks(data, _refine_cells, (ncell, nodes, dtype), _merge_found, scheduler)
        from ._blocks import finish_refinements

        summaries = [
            s.with_refinements(finish_refinements(f)) if n else s
            for s, f, n in zip(summaries, found, nodes, strict=True)
        ]
    out = np.empty((ncell, len(names)), dtype=out_dtype)
    for k, s in enumerate(summaries):
        for j, name in enumerate(names):
            try:
                out[k, j] = s.compute(name)
            except NoValidSamples:
                out[k, j] = np.nan
    return out.reshape(*kshape, len(names))


def _missing(summary, names):
    try:
        return summary.missing(names)
    except NoValidSamples:
        return []


def _run_blocks(data, work, args, merge, scheduler):
    """``merge`` of ``work(block, *args)`` over every block of ``data`` (one if numpy)."""
    if not hasattr(data, "dask"):
        return work(data, *args)
    import dask

    parts = [dask.delayed(work, pure=True)(b, *args) for b in data.to_delayed().ravel()]
    while len(parts) > 1:
        parts = [
            dask.delayed(merge, pure=True)(parts[i : i + _FAN_IN])
            for i in range(0, len(parts), _FAN_IN)
        ]
    return dask.compute(parts[0], scheduler=scheduler)[0]


def _summarize_cells(block, ncell):
    """One summary per remaining cell of a block (remaining axes first)."""
    from ._blocks import summarize_block

    flat = np.asarray(block).reshape(ncell, -1)
    return [summarize_block(flat[k].reshape(-1, 1), ("0",), False) for k in range(ncell)]


def _refine_cells(block, ncell, nodes, dtype):
    """One refinement dict per remaining cell of a block (empty where none is wanted)."""
    from ._blocks import refine_block
    from .summary import collect_limit

    flat = np.asarray(block).reshape(ncell, -1)
    limit = collect_limit(dtype)
    return [  # nodes[k]: the cell's (selection, shift, prefix, count) targets
        refine_block(flat[k].reshape(-1, 1), nodes[k], dtype, limit) if nodes[k] else {}
        for k in range(ncell)
    ]


def _merge_cells(parts):
    out = parts[0]
    for p in parts[1:]:
        out = [a.merge(b) for a, b in zip(out, p, strict=True)]
    return out


def _merge_found(parts):
    from ._blocks import merge_refinements

    out = parts[0]
    for p in parts[1:]:
        out = [merge_refinements(a, b) for a, b in zip(out, p, strict=True)]
    return out
