"""Exact ``quantile`` and ``median`` of DataArrays, laid out as xarray lays out its own.

:meth:`ImgStatsAccessor.quantile <imgstats.accessor.ImgStatsAccessor.quantile>` and
``median`` compute here. The result's layout (dims, the numeric ``quantile`` coordinate, the
coordinates kept, name and attrs) is taken from xarray itself: its own ``quantile`` (or
``median``) runs on a one-element slice of the reduced dims, and its values are replaced by
ours. So the layout follows the installed xarray.

The values are ``numpy.nanquantile(a, q, method=method)`` of the same samples for each
number ``q``, to the last bit, of numpy's type: the samples' own for the discrete methods
(``nearest``, ``lower``...), else float32 for float32 samples (interpolated in float32, as
numpy does for a number ``q``), float16 for float16 ones (interpolated in float16) and
float64 for the other types. xarray's own ``quantile`` converts
float32 samples to float64 first, so its float32 quantiles may differ in the last float32
bit. ``median`` is ``numpy.nanmedian`` (the mean of the two middle values), as xarray's
``median`` and ``imgstats.compute(a, "median")`` are, not the 0.5 quantile, whose
interpolation may differ from it in the last bit.
A quantile ``q`` in [0, 1] is read exactly: numpy's virtual index is ``(n - 1) * q``, while a
percentile name ``pXXX`` would give ``(n - 1) * (XXX / 100)``, and ``q * 100 / 100`` is not
always ``q`` (``0.999``): :class:`QuantileQ` carries ``q`` through the percentile machinery.

Laziness: on a dask-backed array a full reduction is one dask graph -- ``summarize`` per block,
a tree of ``merge``, then a ``refine`` pass per block and its merge for 32- and 64-bit types
(over the blocks read again once the summary is merged: a block is held by one task at a
time, never all of them until the last is summarized), then the reading -- built like
:mod:`dask.array.reductions` and run by ``.compute()`` on any scheduler. Along some dims
(``dim=``), :func:`imgstats.dims.compute_along` gives one task per block of the remaining dims.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ._inputs import check_dims, dim_tuple, is_half
from .errors import InvalidOption, NoValidSamples
from .functions import Function

__all__ = ["QuantileQ", "quantile_function", "quantile", "median", "xarray_defaults"]


class QuantileQ(float):
    """A percentile (``q * 100`` as a float) that divides by 100 back to exactly ``q``.

    :meth:`imgstats.summary.BandStats.ranks` computes numpy's virtual index as
    ``(n - 1) * numpy.true_divide(q, 100)``; for this number that division gives the
    quantile itself, as ``numpy.quantile`` uses it.
    """

    fraction: float

    def __new__(cls, fraction: float):
        obj = super().__new__(cls, fraction * 100)
        obj.fraction = float(fraction)
        return obj

    def __reduce__(self):
        return (QuantileQ, (self.fraction,))

    def __dask_tokenize__(self):
        return ("imgstats-quantile", self.fraction)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if (
            ufunc is np.true_divide
            and method == "__call__"
            and not kwargs
            and len(inputs) == 2
            and inputs[0] is self
            and not isinstance(inputs[1], QuantileQ)
            and inputs[1] == 100
        ):
            return np.float64(self.fraction)
        plain = tuple(float(x) if isinstance(x, QuantileQ) else x for x in inputs)
        return getattr(ufunc, method)(*plain, **kwargs)


def quantile_function(q) -> Function:
    """The :class:`~imgstats.Function` of quantile ``q`` in [0, 1], read exactly."""
    if isinstance(q, bool) or not isinstance(q, (int, float, np.integer, np.floating)):
        raise InvalidOption(f"quantile must be a number in [0, 1], not {q!r}")
    q = float(q)
    if not 0 <= q <= 1:  # NaN too
        # a percent where a fraction is meant (numpy.percentile's 99 for quantile's 0.99)
        hint = f" (a percent? the quantile {q / 100:.12g})" if 1 < q <= 100 else ""
        raise InvalidOption(f"quantile must be in [0, 1], not {q!r}{hint}")
    return Function(f"quantile({q!r})", "percentile", QuantileQ(q))


def _reduced_dims(obj, dim) -> tuple:
    if dim is None or dim is ...:
        return tuple(obj.dims)
    dims = dim_tuple(dim, obj.dims)  # any hashable name, or a list, tuple or set of them
    check_dims(dim, dims, obj.dims)
    return dims


def xarray_defaults(skipna, keep_attrs) -> tuple[bool, bool]:
    """``skipna`` and ``keep_attrs`` with ``None`` read as xarray reads it: skip NaN (for
    integers there is none), and keep the attrs unless ``xarray.set_options(keep_attrs=...)``
    says otherwise (its ``"default"`` keeps them, as its ``quantile`` and ``median`` do)."""
    if skipna is None:
        skipna = True
    if keep_attrs is None:
        import xarray as xr

        option = xr.get_options()["keep_attrs"]
        keep_attrs = True if option == "default" else option
    return bool(skipna), bool(keep_attrs)


def quantile(obj, q, dim=None, skipna=None, keep_attrs=None, method="linear"):
    """See :meth:`imgstats.accessor.ImgStatsAccessor.quantile`."""
    from dataclasses import replace

    from .functions import check_method

    skipna, keep_attrs = xarray_defaults(skipna, keep_attrs)
    check_method(method)
    qs = np.atleast_1d(np.asarray(q, dtype=object))
    if qs.ndim != 1 or qs.size == 0:
        raise InvalidOption("q must be a number or a non-empty 1-d sequence of numbers")
    funcs = [replace(quantile_function(v), method=method) for v in qs]
    dims = _reduced_dims(obj, dim)
    dtype = _result_type(obj.dtype, method)
    values = _values(obj, funcs, dims, skipna, dtype)  # (quantile, *kept dims)
    if values.dtype.kind == "f" and dtype.kind != "f":
        dtype = values.dtype  # a cell without valid samples (nodata): NaN, as a float
    template = _template(obj, dims, "quantile", np.asarray([f.q.fraction for f in funcs]), method)
    if np.ndim(q) == 0:
        values = values[0]
        template = template.isel(quantile=0) if "quantile" in template.dims else template
    return _filled(template.astype(dtype), values, obj, keep_attrs)


def _result_type(dtype, method: str = "linear") -> np.dtype:
    """numpy's type of ``numpy.nanquantile(a, q, method=method)`` for a number ``q``: the
    samples' own type for the discrete methods (``nearest``, ``lower``...); else float16 and
    float32 for float16 and float32 samples (interpolated in their type), float64 otherwise."""
    from .summary import _DISCRETE

    dtype = np.dtype(dtype)
    if method in _DISCRETE:
        return dtype
    return np.dtype(f"f{dtype.itemsize}" if dtype.kind == "f" and dtype.itemsize <= 4 else "f8")


def median(obj, dim=None, skipna=None, keep_attrs=None):
    """See :meth:`imgstats.accessor.ImgStatsAccessor.median`."""
    skipna, keep_attrs = xarray_defaults(skipna, keep_attrs)
    from .functions import parse_function

    dims = _reduced_dims(obj, dim)
    # numpy's median (the mean of the two middle samples), as compute's "median" and
    # xarray's median are: the 0.5 quantile's lerp may differ in the last bit
    values = _values(obj, [parse_function("median")], dims, skipna, np.dtype("f8"))[0]
    template = _template(obj, dims, "median").astype(_result_type(obj.dtype))
    return _filled(template, values, obj, keep_attrs)


def _template(obj, dims, how: str, qs=None, method: str = "linear"):
    """xarray's own result of ``how`` on a one-element slice of the reduced dims (zeros, so
    that xarray neither warns nor computes anything of the data)."""
    import warnings

    tiny = obj.isel({d: slice(0, 1) for d in dims})
    tiny = tiny.copy(data=np.zeros(tiny.shape, tiny.dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if how == "quantile":
            # with the method asked: xarray's linear one refuses booleans
            return tiny.quantile(qs, dim=list(dims), keep_attrs=True, method=method)
        return tiny.median(dim=list(dims), keep_attrs=True)


def _filled(template, values, obj, keep_attrs: bool):
    """``template`` holding ``values`` (same shape), with ``obj``'s name and attrs."""
    if tuple(np.shape(values)) != template.shape:  # pragma: no cover -- a layout we missed
        raise RuntimeError(f"layout mismatch {np.shape(values)} vs {template.shape}")
    # a float32 image's quantile is a float32 number (interpolated in float32, as numpy
    # does), held in float64 until here: the cast is exact
    out = template.copy(data=values.astype(template.dtype, copy=False))
    out.name = obj.name
    out.attrs = dict(obj.attrs) if keep_attrs else {}
    return out


def _values(obj, funcs, dims, skipna: bool, dtype):
    """The quantiles, shaped ``(len(funcs), *kept dims)``: numpy or dask like ``obj``, of
    ``dtype`` (float64 where a cell may be left without valid samples)."""
    if obj.dtype.kind not in "biuf" or obj.dtype.itemsize > 8:
        raise InvalidOption(f"unsupported pixel type {obj.dtype}: use integers or floats")
    if any(obj.sizes[d] == 0 for d in dims):
        raise InvalidOption(f"nothing to reduce: a dim of {dims} has length 0")
    lazy = hasattr(obj.data, "dask")
    if len(dims) == len(obj.dims) and _every_sample_counts(obj):
        if lazy:
            values = _graph(obj.data, funcs, dtype)
        else:
            values = _answers(_summary_of(np.asarray(obj.data), funcs), funcs, dtype)
    else:
        from .dims import compute_along

        along = compute_along(obj, funcs, dims)  # (*kept, func)
        values = along.data
        values = values.transpose(values.ndim - 1, *range(values.ndim - 1))
    if not skipna and obj.dtype.kind == "f":
        hasnan = obj.isnull().any(dim=list(dims)).data
        values = _where_nan(values, hasnan, lazy)
    return values


def _every_sample_counts(obj) -> bool:
    """Whether every sample but NaN counts: no nodata value in the attrs (``_FillValue`` of
    rioxarray, ``nodata`` of :func:`imgstats.open_image`) and no file behind the array whose
    mask or alpha :func:`imgstats.dims.compute_along` reads. Else the reduction of every dim
    goes through it too, which leaves those samples out."""
    from .io._plan import attr_nodata

    attrs = obj.attrs
    return attr_nodata(attrs) is None and not {"source", "dataset_mask"} & set(attrs)


def _where_nan(values, hasnan, lazy):
    if lazy:
        import dask.array as da

        return da.where(hasnan, np.nan, values)
    return np.where(hasnan, np.nan, values)


# -- one reduction: numpy at once, or a dask graph ---------------------------------------------
def _summarize(block):
    """The summary of one block's samples (any shape, as one band)."""
    from ._blocks import summarize_block

    arr = np.asarray(block)
    if is_half(arr.dtype):  # exactly representable in float32, interpolated in float16
        summary = summarize_block(arr.astype(np.float32).reshape(-1, 1), ("0",), False)
        return replace(summary, half=True)
    return summarize_block(arr.reshape(-1, 1), ("0",), False)


def _merge(parts):
    out = parts[0]
    for p in parts[1:]:
        out = out.merge(p)
    return out


def _targets(summary, funcs):
    try:
        return summary.missing(funcs)
    except NoValidSamples:
        return []


def _refine(block, summary, funcs):
    """The refinements one block contributes for what ``summary`` cannot answer yet."""
    from ._blocks import refine_block
    from .summary import collect_limit

    targets = _targets(summary, funcs)
    if not targets:
        return {}
    arr = np.asarray(block)
    if is_half(arr.dtype):
        arr = arr.astype(np.float32)
    px = arr.reshape(-1, 1)
    return refine_block(px, targets, summary.dtype, collect_limit(summary.dtype))


def _merge_found(parts):
    from ._blocks import merge_refinements

    out = parts[0]
    for p in parts[1:]:
        out = merge_refinements(out, p) if out and p else (out or p)
    return out


def _with(summary, found):
    from ._blocks import finish_refinements

    return summary.with_refinements(finish_refinements(found)) if found else summary


#: Refinement passes after which every order statistic is found (see imgstats.reduce).
_MAX_REFINE_PASSES = 4


def _summary_of(arr: np.ndarray, funcs):
    """The summary of a numpy array, refined until it answers ``funcs``."""
    summary = _summarize(arr)
    for _ in range(_MAX_REFINE_PASSES):
        if not _targets(summary, funcs):
            break
        summary = _with(summary, _refine(arr, summary, funcs))
    return summary


def _answers(summary, funcs, dtype=np.float64) -> np.ndarray:
    """``funcs`` of ``summary`` as ``dtype`` (an integer one for the discrete methods of
    integer samples, every one of their 64 bits kept); NaN without valid samples (as numpy:
    a float ``dtype`` then, as every sample but NaN counts for the others)."""
    out = np.empty(len(funcs), dtype)
    for i, f in enumerate(funcs):
        try:
            out[i] = summary.compute(f)
        except NoValidSamples:
            out[i] = math.nan
    return out


class _Hidden:
    """Hides a dask array from dask's argument scan: the task receives the array itself,
    whose blocks it reads only if it must (a dependency would load them all at once)."""

    def __init__(self, array):
        self.array = array

    def __dask_tokenize__(self):
        return ("imgstats-hidden", self.array.name)


def _finish(summary, hidden: _Hidden, funcs, dtype) -> np.ndarray:
    """The answers; the rare further passes (64-bit keys crowded into one bin) read the
    blocks again here, one at a time."""
    for _ in range(_MAX_REFINE_PASSES):
        if not _targets(summary, funcs):
            break
        found = {}
        for block in hidden.array.to_delayed().ravel():
            part = _refine(block.compute(scheduler="sync"), summary, funcs)
            found = _merge_found([found, part])
        summary = _with(summary, found)
    return _answers(summary, funcs, dtype)


def _graph(data, funcs, dtype=np.float64):
    """A lazy 1-d dask array of ``funcs`` over every sample of dask array ``data``.

    One graph built in time linear in the blocks (:mod:`imgstats._tree`): a tree of
    ``dask.delayed`` calls over ``to_delayed()`` blocks merged the whole graph again at
    every call."""
    import dask.array as da
    from dask.base import tokenize

    from ._tree import block_keys, task, tree_reduce

    dsk: dict = {}
    blocks = list(block_keys(dsk, data).ravel())
    name = "imgstats-quantile-" + tokenize(data.name, funcs)
    summary = _per_block(dsk, blocks, _summarize, name + "-summarize")
    summary = tree_reduce(dsk, summary, _merge, name + "-merge").key
    # 8- and 16-bit integer summaries hold their whole histogram; float16 is counted as the
    # float32 it is exactly, whose ranks need a refinement like any float32's
    if data.dtype.itemsize > 2 or is_half(data.dtype):
        refine = task(_refine_of, funcs)
        again = _read_again(dsk, data, summary, name)
        found = _per_block(dsk, again, refine, name + "-refine", summary)
        found = tree_reduce(dsk, found, _merge_found, name + "-found").key
        dsk[(name + "-with", 0)] = (_with, summary, found)
        summary = (name + "-with", 0)
    dsk[(name, 0)] = (task(_finish_of, _Hidden(data), funcs, dtype), summary)
    return da.Array(dsk, name, ((len(funcs),),), dtype=dtype)


def _read_again(dsk: dict, data, after, name: str) -> list:
    """The keys of ``data``'s blocks read anew once the key ``after`` (the merged summary) is
    computed, added to ``dsk``.

    A refine task reading the summary tasks' own block keys kept every block in memory
    until the last one was summarized (1.4 GiB peak for a 1 GiB float32 array in 1024 x
    1024 chunks, on threads): these are other keys (dask's :func:`bind`, which regenerates
    the blocks' graph), so each block is dropped once summarized, and read again only when
    its refine task may run."""
    from dask.delayed import Delayed
    from dask.graph_manipulation import bind

    from ._tree import block_keys

    again = bind(data, Delayed(after, dsk), seed=name)  # seeded: the same question, same keys
    return list(block_keys(dsk, again).ravel())


def _per_block(dsk: dict, blocks: list, fn, name: str, *more) -> list:
    """The keys of ``fn(block, *more)`` added to ``dsk`` for every key of ``blocks``."""
    keys = [(name, k) for k in range(len(blocks))]
    dsk.update((key, (fn, block, *more)) for key, block in zip(keys, blocks, strict=True))
    return keys


def _refine_of(funcs, block, summary):
    return _refine(block, summary, funcs)


def _finish_of(hidden, funcs, dtype, summary):
    return _finish(summary, hidden, funcs, dtype)
