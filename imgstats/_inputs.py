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

from ._lazy import is_instance, is_masked_array
from .errors import InvalidOption

__all__ = [
    "a_type",
    "as_array",
    "refuse_dataset",
    "check_dims",
    "yx_first",
    "spatial_dims",
    "countable",
    "is_half",
    "cf_decoded",
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


def cf_decoded(data, io_options=None):
    """``data`` with CF's ``_Unsigned`` (:func:`cf_unsigned`) and missing values
    (:func:`cf_missing`, as ``io_options`` say) applied, as xarray's decoding applies them;
    anything but a DataArray is returned as it is."""
    return cf_missing(cf_unsigned(data), io_options)


def cf_missing(data, io_options=None):
    """``data`` whose CF missing values all count as its nodata value, as xarray's decoding
    masks them all: a DataArray whose ``_FillValue`` and ``missing_value`` (each one number
    or a list) name several values has each of the others replaced by the first, which
    :func:`imgstats.io._plan.attr_nodata` then reads as its nodata (both attrs become that
    one number). Its other samples are left as they are, in its own type.

    ``data`` is left as it is when :func:`_stored_samples_count` (raw, or a nodata of
    imgstats' own), and when its missing values are not numbers of its type.
    """
    attrs = getattr(data, "attrs", None)
    if not is_instance(data, "xarray", "DataArray") or not set(_CF_STORED_VALUES) & set(attrs):
        return data
    if _stored_samples_count(attrs, io_options or {}) or data.dtype.kind not in "iuf":
        return data
    values = _cf_values(attrs, data.dtype)
    if values is None or len(values) < 2:
        return data
    first = values[0]
    others = [v for v in values[1:] if not math.isnan(v)]  # NaN never counts anyway
    if not others:
        return data
    source = data.data
    if is_instance(source, "dask.array", "Array"):
        import dask.array as xp
    else:
        xp, source = np, np.asarray(source)
    hit = xp.isin(source, others)
    out = data.copy(deep=False, data=xp.where(hit, data.dtype.type(first), source))
    out.attrs = {**attrs, **{k: data.dtype.type(first) for k in _CF_STORED_VALUES if k in attrs}}
    return out


def _stored_samples_count(attrs, options) -> bool:
    """Whether CF's missing values are left as stored: with ``raw`` (an option, or the attr
    a raw read leaves) every stored sample counts, and with a nodata of imgstats' own (the
    ``nodata`` option, or a ``nodata`` attr, which takes the place of CF's) those not equal
    to it; a missing value replaced by another would change them (a mean of ``raw=True``)."""
    raw = options.get("raw") or attrs.get("raw")
    return bool(raw) or options.get("nodata") is not None or "nodata" in attrs


def _cf_values(attrs, dtype) -> list | None:
    """The distinct missing values of CF attrs, ``_FillValue`` first, each a number that
    samples of ``dtype`` can hold exactly; ``None`` when one is not (left alone)."""
    found = []
    for key in _CF_STORED_VALUES:
        if key not in attrs:
            continue
        for value in np.asarray(attrs[key]).reshape(-1).tolist():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None
            typed = dtype.type(value) if _holds(dtype, value) else None
            if typed is None:
                return None
            if not any(_same(typed, seen) for seen in found):
                found.append(typed)
    return [v.item() for v in found]


def _holds(dtype, value) -> bool:
    """Whether samples of ``dtype`` hold ``value`` exactly (NaN: a float type)."""
    if dtype.kind == "f":
        return math.isnan(value) or float(dtype.type(value)) == value
    if isinstance(value, float) and not value.is_integer():
        return False
    info = np.iinfo(dtype)
    return info.min <= value <= info.max


def _same(a, b) -> bool:
    return a == b or (a != a and b != b)  # NaN is NaN's missing value too


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


def is_half(dtype) -> bool:
    """Whether ``dtype`` is ``float16``, in either byte order (``'>f2' != float16``)."""
    dtype = np.dtype(dtype)
    return dtype.kind == "f" and dtype.itemsize == 2


def countable(arr):
    """``arr`` ready for a read plan (see the module docstring)."""
    if is_masked_array(arr) and not np.ma.is_masked(arr):
        arr = np.ma.getdata(arr)
    if is_half(arr.dtype):
        arr = arr.astype(np.float32)  # exact: every float16 is a float32 (native order)
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
    if is_half(block.dtype):
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
