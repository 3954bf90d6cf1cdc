"""Input arrays as the counting kernels take them: one normalizer, and masked blocks.

:func:`countable` is applied once to every in-memory or dask array that becomes a read plan:

* ``float16`` is widened to ``float32``, which holds every half-float exactly (so min, max,
  percentiles and sums are those of the half floats; numpy's own float16 arithmetic in
  ``numpy.median`` or ``numpy.percentile`` may round where imgstats does not);
* a numpy masked array keeps its mask (``rasterio``'s ``read(masked=True)``): its masked
  samples are not valid, and count in ``masked_pixels``; without any masked sample it is a
  plain array;
* a 1-D dask array of unknown chunk sizes (``d[d > 3]``) is counted chunk by chunk as it is,
  its shape unknown; other ranks with unknown sizes have them computed first (dask's
  ``compute_chunk_sizes``, one more computation of the array).

:func:`summarize_masked` and :func:`refine_masked` are what :mod:`imgstats._blocks` does with a
block of a masked array: each band's unmasked samples, counted as a one-band block.
"""

from __future__ import annotations

import math
from collections.abc import Set as AbstractSet
from dataclasses import replace

import numpy as np

from ._lazy import is_instance
from .errors import InvalidOption

__all__ = [
    "a_type",
    "as_array",
    "refuse_dataset",
    "check_dims",
    "yx_first",
    "spatial_dims",
    "countable",
    "native",
    "unknown_shape",
    "summarize_masked",
    "refine_masked",
]


def a_type(obj) -> str:
    """The type of ``obj`` with its indefinite article, for messages: ``"an int"``,
    ``"a list"``."""
    name = type(obj).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def as_array(data, what: str) -> np.ndarray:
    """``numpy.asarray(data)``, or InvalidOption naming ``what`` (``"an image"``) when the
    object refuses to be an array: an ``xarray.Dataset`` has ``__array__`` only to say which of
    its variables to pick, a ragged sequence has no shape."""
    try:
        return np.asarray(data)
    except (TypeError, ValueError) as exc:
        if is_instance(data, "xarray", "Dataset"):
            refuse_dataset(data, what)
        raise InvalidOption(f"{what} cannot be {a_type(data)}: {exc}") from None


#: CF attrs holding a value of the stored type, turned with the type by ``_Unsigned``.
_CF_STORED_VALUES = ("_FillValue", "missing_value")


def cf_unsigned(data):
    """``data`` with CF's ``_Unsigned`` attr applied, as xarray's decoding applies it: a
    DataArray of signed integers with ``_Unsigned="true"`` (netCDF-3 has no unsigned types:
    a uint8 band is stored as int8) read as the unsigned type of its width, and unsigned ones
    with ``_Unsigned="false"`` as signed; its ``_FillValue`` and ``missing_value`` turned
    alike. Anything else is returned as it is."""
    attrs = getattr(data, "attrs", None)
    if not is_instance(data, "xarray", "DataArray") or "_Unsigned" not in attrs:
        return data
    flag = str(attrs["_Unsigned"]).strip().lower()
    kind, size = data.dtype.kind, data.dtype.itemsize
    if kind == "i" and flag == "true":
        stored, read = data.dtype, np.dtype(f"u{size}")
    elif kind == "u" and flag == "false":
        stored, read = data.dtype, np.dtype(f"i{size}")
    else:
        return data
    attrs = {k: v for k, v in attrs.items() if k != "_Unsigned"}
    for key in _CF_STORED_VALUES:
        value = attrs.get(key)
        if isinstance(value, (int, np.integer, np.ndarray)) and not isinstance(value, bool):
            number = np.asarray(value)
            if number.dtype.kind in "iu" and number.size == 1:
                try:
                    attrs[key] = number.astype(stored).view(read).reshape(number.shape)[()]
                except (TypeError, ValueError, OverflowError):
                    pass  # not a value of the stored type: left as it is
    out = data.copy(deep=False, data=data.data.view(read))
    out.attrs = attrs
    return out


def refuse_dataset(data, what: str = "an image") -> None:
    """Refuse an xarray Dataset where one array is meant, naming its variables."""
    names = list(getattr(data, "data_vars", {}))
    shown = ", ".join(repr(str(n)) for n in names[:5]) + (", ..." if len(names) > 5 else "")
    raise InvalidOption(
        f"{what} cannot be a Dataset: pick one of its variables ({shown}), a DataArray, "
        "ds['name']; ds.imgstats.median(dim=...), .quantile and .compute(func, dim=...) "
        "reduce each of them"
    )


def dim_tuple(dim, available=()) -> tuple:
    """The dim names ``dim`` stands for, as xarray reads it: a list or tuple of names, a set
    of them (``{"x", "y"}``, ordered as ``available``, the array's dims), or one name (a
    string or any other hashable). ``None`` and ``...`` are the caller's to read."""
    if isinstance(dim, AbstractSet):
        order = {d: i for i, d in enumerate(available)}
        return tuple(sorted(dim, key=lambda d: order.get(d, len(order))))
    if isinstance(dim, (list, tuple)):
        return tuple(dim)
    return (dim,)


def check_dims(dim, dims: tuple, available) -> None:
    """Refuse dims to reduce that the array lacks or that repeat, in xarray's words.

    ``dim`` is what the caller gave, ``dims`` the tuple of names it stands for.

    Raises
    ------
    InvalidOption
        A name not among ``available`` ("'z' not found in array dimensions ('y', 'x')", as
        xarray says it), or a name given twice.
    """
    available = tuple(available)
    missing = tuple(d for d in dims if d not in available)
    if missing:
        what = repr(missing[0]) if len(missing) == 1 else repr(missing)
        raise InvalidOption(
            f"invalid dim {dim!r}: {what} not found in array dimensions {available!r}"
        )
    if len(set(dims)) != len(dims):
        raise InvalidOption(f"invalid dim {dim!r}: a dim is named twice")


#: The names of a DataArray's row and column dims, the first pair it has: ``y`` and ``x``,
#: else a geographic grid's (CF's, which rioxarray also reads as ``y`` and ``x``).
SPATIAL_DIMS = (("y", "x"), ("latitude", "longitude"), ("lat", "lon"))


def spatial_dims(dims) -> tuple | None:
    """The ``(row, column)`` dim names of :data:`SPATIAL_DIMS` that ``dims`` holds, or
    ``None``."""
    return next((pair for pair in SPATIAL_DIMS if pair[0] in dims and pair[1] in dims), None)


def yx_first(arr, last=None):
    """A 2-D or 3-D DataArray with its dims ``y`` and ``x`` (or ``lat`` and ``lon``:
    :data:`SPATIAL_DIMS`) first, in that order, when it has both, and ``last`` (a band dim)
    last: an image is ``(y, x[, band])``, by name where the dims have the names (a ``(x, y)``
    array is not transposed by its position; a ``(time, lat, lon)`` one is a ``time`` band
    of each pixel, not ``lon`` bands of ``(time, lat)`` pixels)."""
    dims = [d for d in arr.dims if d != last]
    pair = spatial_dims(dims)
    if arr.ndim in (2, 3) and pair is not None:
        dims = [*pair, *(d for d in dims if d not in pair)]
    dims += [] if last is None else [last]
    return arr if tuple(dims) == tuple(arr.dims) else arr.transpose(*dims)


def countable(arr):
    """``arr`` ready for a read plan (see the module docstring)."""
    if isinstance(arr, np.ma.MaskedArray) and not np.ma.is_masked(arr):
        arr = np.ma.getdata(arr)
    if np.dtype(arr.dtype) == np.float16:
        arr = arr.astype(np.float32)  # exact: every float16 is a float32
    if unknown_shape(arr):
        arr = arr[:, None] if arr.ndim == 1 else arr.compute_chunk_sizes()
    return arr


def native(block: np.ndarray) -> np.ndarray:
    """``block`` as the kernels read it: in native byte order, ``float16`` widened to ``float32``.

    The kernels read bit patterns, so a big-endian block (a FITS image's ``'>f4'``) must be
    swapped first; :func:`countable` widens whole arrays, but the ``dim=`` and zonal walks
    take their blocks from arrays it never saw. Applied per block: a memory-mapped image is
    never copied whole.
    """
    if not block.dtype.isnative:
        block = block.astype(block.dtype.newbyteorder("="))
    if block.dtype == np.float16:
        block = block.astype(np.float32)  # exact: every float16 is a float32
    return block


def unknown_shape(arr) -> bool:
    """Whether a (dask) array has a dimension of unknown size."""
    return any(isinstance(s, float) and math.isnan(s) for s in arr.shape)


def _band_samples(block):
    """``[(unmasked samples of band c, masked count of band c)]`` of a ``(y, x[, band])``
    block (or of one band of all its values for other ranks, as plans count them)."""
    data = np.ma.getdata(block)
    mask = np.ma.getmaskarray(block)
    if data.ndim == 3:
        pairs = [(data[..., c], mask[..., c]) for c in range(data.shape[-1])]
    else:
        pairs = [(data, mask)]
    return [(d[~m], int(m.sum())) for d, m in pairs]


def summarize_masked(block, band_names, luma: bool, shape, summarize_block):
    """The summary of a masked block: each band's unmasked samples; masked ones in
    ``BandStats.masked``. The luma counts the pixels whose R, G and B are all unmasked.
    ``summarize_block`` is :func:`imgstats._blocks.summarize_block` (passed in: no import
    cycle)."""
    from .summary import Summary

    bands = []
    for values, masked in _band_samples(block):
        one = summarize_block(values.reshape(-1, 1), ("0",), False).bands[0]
        bands.append(replace(one, masked=masked))
    luma_stats = None
    if luma:
        data, mask = np.ma.getdata(block), np.ma.getmaskarray(block)
        keep = ~mask[..., :3].any(axis=-1)
        pixels = data[keep].reshape(-1, 1, data.shape[-1])
        luma_stats = summarize_block(pixels, band_names, True).luma
        luma_stats = replace(luma_stats, masked=int((~keep).sum()))
    return Summary(tuple(bands), tuple(band_names), luma_stats, tuple(shape))


def refine_masked(
    block, targets, dtype, limit: int, refine_block, merge_refinements, pooled=None
) -> dict:
    """:func:`imgstats._blocks.refine_block` of a masked block: each target over the unmasked
    samples of the bands of its selection, ``"all"`` the ``pooled`` bands (every band by
    default; alpha is not pooled) (the two functions of :mod:`imgstats._blocks` are passed in:
    no import cycle)."""
    out: dict = {}
    for c, (values, _) in enumerate(_band_samples(block)):
        column = values.reshape(-1, 1)
        for sel, shift, prefix, count in targets:
            if sel == "all" and pooled is not None and not pooled[c]:
                continue
            if sel not in ("all", f"b{c}"):
                continue
            found = refine_block(column, [("all", shift, prefix, count)], dtype, limit)
            out = merge_refinements(out, {(sel, shift, prefix): found[("all", shift, prefix)]})
    return out
