"""Exact statistics of a DataArray along chosen dims: ``compute(arr, "p99", dim=("y", "x"))``.

The result is a DataArray over the remaining dims, equal to ``numpy.nanmin``, ``nanmax``,
``nanmean`` and ``nanpercentile`` (linear method) along the reduced axes, cell by cell. Each
remaining cell gets its own mergeable :class:`~imgstats.Summary`: the reduced dims may be cut
into any chunks (where ``xarray.DataArray.quantile`` refuses a chunked core dim and
``dask.array.percentile`` is approximate). The nodata value the DataArray carries in its attrs
(:func:`imgstats.open_image`'s of a GeoTIFF) is left out as NaN is, as :func:`imgstats.compute`
leaves it out; ``attrs["raw"]`` keeps it.

Laziness and memory
-------------------
A dask-backed input gives a dask-backed result, chunked like the input along the remaining
dims: one task per block of the remaining dims reads the reduced blocks of that block.
Nothing is computed before ``.compute()``.

Each remaining cell is a group of the grouped core (:mod:`imgstats.grouped`). A cell of at
most 65,536 samples (a per-pixel reduction over time, a band axis) keeps its samples' keys,
as wide as the samples, and is answered by sorting them: memory is a few bytes per sample of
the task plus a few words per cell. A larger cell (one value per time step of a big image)
gets a histogram summary, and a task then holds one input block and its cells' summaries
at a time; 32- and 64-bit percentiles read the blocks again for the refinement passes.

Result
------
One function: a DataArray named after it. Several: a DataArray with a last dim ``func`` whose
coordinate holds the names. Its type is the input's when only ``min`` and ``max`` are asked
(numpy's ``nanmin`` keeps it too), else float64 (a 64-bit integer's min or max beyond 2**53 is
then rounded: ask them on their own to keep every bit). A cell with no valid sample (all NaN)
counts 0 and is NaN for every other function, ``sum`` included: a whole image without valid
samples raises :class:`~imgstats.errors.NoValidSamples` for them, and a cell cannot raise
(numpy's ``nanmedian`` and ``nanmean`` give NaN there too, with a warning; its ``nansum``
gives 0, which would read as a measured sum).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import replace

import numpy as np

from ._inputs import a_type, check_dims, dim_tuple, is_half, native, yx_first
from .errors import InvalidOption, NoValidSamples
from .summary import _DISCRETE, alpha_band, pooled_bands

#: The dim of length 1 that ``dim=[]`` reduces (xarray's reduction over no dim).
_NO_DIM = "__imgstats_no_dim__"

__all__ = ["compute_along"]

_MAX_REFINE_PASSES = 4


class _Opaque:
    """Hides a dask array from dask's argument scan, so a task receives the array itself."""

    def __init__(self, array):
        self.array = array

    def __dask_tokenize__(self):
        # its graph's name, not a pickle of the graph (which may embed a numpy array)
        return ("imgstats-dims", self.array.name)


def compute_along(
    data,
    func,
    dim,
    *,
    band=None,
    scheduler=None,
    window=None,
    mask=None,
    polygon=None,
    progress: bool = False,
    raw: bool = False,
    nodata=None,
):
    """Compute exact statistics of a DataArray along ``dim``, keeping the other dims.

    Parameters
    ----------
    data : xarray.DataArray
        numpy- or dask-backed, of integers, floats or booleans.
    func : str or list of str
        ``min``, ``max``, ``mean``, ``median`` or ``pXXX``.
    dim : str, list or tuple of str, or ...
        The dims to reduce; all of them (or ``...``, as in xarray) gives a 0-d result, none
        (``[]``) each element as its own sample, as xarray's reductions give it.
    band : None
        Not used with ``dim``: keep ``band`` among the remaining dims instead.
    scheduler : optional
        Not used: a dask-backed result computes on the scheduler of its ``.compute()``;
        a numpy-backed input is computed at once.
    window, mask, polygon : optional
        Only these pixels count, as for :func:`imgstats.compute`: the array needs dims ``y``
        and ``x`` (reduced or kept). A window cuts them (cells outside it are gone from the
        result); a boolean ``(y, x)`` mask and a polygon of pixel centres mark the samples
        outside as invalid (a cell left without valid samples is NaN).
    raw, nodata : optional
        As for :func:`imgstats.compute`: every sample but NaN, or this nodata value in place
        of the one the DataArray's attrs carry.
    progress : bool
        Refused: a dask-backed result is lazy (wrap its ``.compute()`` in
        ``dask.diagnostics.ProgressBar``), and a numpy-backed one is computed at once.

    Returns
    -------
    xarray.DataArray
        Over the remaining dims (and ``func`` when ``func`` is a list), with their coordinates.

    Raises
    ------
    InvalidOption
        Not a DataArray, a dim it lacks, a reduced dim of length 0, ``band``, ``progress``
        or physical values (``scaled``, ``scale``, ``offset``) given, a region on an array
        without dims ``y`` and ``x``, a bad region.
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
        raise InvalidOption(
            f"dim= needs an xarray.DataArray, not {a_type(data)}: name its axes, as in "
            "imgstats.compute(xarray.DataArray(a, dims=('time', 'y', 'x')), func, dim='time')"
        )
    if band is not None:
        raise InvalidOption("band= and dim= do not go together: keep 'band' among the dims")
    dims = _dims_of(data, dim)
    check_dims(dim, dims, data.dims)
    if not dims:  # dim=[]: reduced over no dim, each element its own sample, as xarray does
        data, dims = data.expand_dims(_NO_DIM), (_NO_DIM,)
    single = not isinstance(func, (list, tuple))  # a name or a Function (with its method)
    funcs = [func] if single else list(func)
    parsed = [parse_function(f) for f in funcs]
    if data.dtype.kind not in "biuf" or data.dtype.itemsize > 8:
        raise InvalidOption(f"unsupported pixel type {data.dtype}: use integers or floats")
    if any(data.sizes[d] == 0 for d in dims):
        raise InvalidOption(f"nothing to reduce: a dim of {dims} has length 0")
    if progress:
        raise InvalidOption(
            "progress= does not go with dim=: the result of a dask array is lazy (wrap its "
            ".compute() in dask.diagnostics.ProgressBar)"
        )
    if any(f.scaled for f in parsed):
        raise InvalidOption(
            "scaled=, scale= and offset= do not go with dim=: compute the stored values "
            "along the dim, then map them (with a positive scale, result * scale + offset)"
        )
    if raw or nodata is not None:  # in a copy's attrs, where compute finds them too
        from .io._open import _with_options

        data = _with_options(data.assign_attrs(), bool(raw), nodata)
    # the file's own validity, read at full size and cut with the window as a coordinate
    file_valid, pooled = _file_valid(data, dims)
    if file_valid is not None:
        data = data.assign_coords({_FILE_VALID: file_valid})
    data, region = _region(data, window, mask, polygon)
    if file_valid is not None:
        file_valid = data.coords[_FILE_VALID].variable
        data = data.drop_vars(_FILE_VALID)
        file_valid = xr.DataArray(file_valid)
    if file_valid is not None and file_valid.attrs.get("kind") == "mask":
        valid = region  # GDAL: a file with a mask ignores its nodata value
    else:
        valid = _without_nodata(data, region)
    if file_valid is not None:
        valid = file_valid if valid is None else valid & file_valid
    seen_region = region if pooled is None else (pooled if region is None else region & pooled)
    keep = [d for d in data.dims if d not in dims]
    arr = data.transpose(*keep, *dims)
    out_dtype = data.dtype if all(_of_the_samples(f) for f in parsed) else np.float64
    if valid is not None:
        out_dtype = np.float64  # a cell may be left without samples: NaN
        valid = valid.broadcast_like(data).transpose(*keep, *dims).data
    nk = len(keep)
    # the parsed functions, not their names: a Function may carry what no name says
    # (a percentile method, an exact quantile of imgstats.accessor); the cells keep their
    # valid samples only, so what was seen but not valid is read from the count
    count = parse_function("count")
    names = [count if f.kind in _SEEN else f for f in parsed]
    if any(arr.sizes[d] == 0 for d in keep):  # nothing to reduce: numpy's empty result
        kshape = tuple(arr.sizes[d] for d in keep)
        values = np.empty((*kshape, len(parsed)), dtype=out_dtype)
    elif hasattr(arr.data, "dask"):
        if valid is not None:
            import dask.array as da

            valid = da.asarray(valid).rechunk(arr.data.chunks)
        values = _lazy(arr.data, nk, names, out_dtype, valid)
    else:
        if valid is not None:
            valid = np.asarray(valid)
        values = _cells(np.asarray(arr.data), nk, names, out_dtype, "sync", valid)
    if any(f.kind in _SEEN for f in parsed):
        values = _from_seen(values, parsed, _seen(data, seen_region, keep, dims))
    if single:
        values = values[..., 0]
        out_dims = tuple(keep)
    else:
        out_dims = (*keep, "func")
    coords = {name: c for name, c in arr.coords.items() if set(c.dims) <= set(keep)}
    if not single:
        coords["func"] = [f.name for f in parsed]
    out = xr.DataArray(values, dims=out_dims, coords=coords, attrs=dict(data.attrs))
    # set, not passed: xarray names a DataArray of name=None after its dask array's key
    out.name = parsed[0].name if single else None
    return out


#: The readings of the samples seen but not valid, which a cell's count gives with the number
#: of samples it saw.
_SEEN = ("masked_pixels", "valid_percent")


def _seen(data, region, keep, dims):
    """The samples of each remaining cell that the region keeps (all of them without one):
    those that count, or are NaN, nodata or masked; a number, or an array over ``keep``."""
    if region is None:
        return math.prod(int(data.sizes[d]) for d in dims)
    return region.broadcast_like(data).transpose(*keep, *dims).sum(dims).data


def _from_seen(values, parsed, seen):
    """``values`` (``(..., func)``, the count where ``parsed`` asks ``masked_pixels`` or
    ``valid_percent``) with those read from the count and the samples ``seen``, as
    :meth:`imgstats.summary.BandStats.valid_percent` reads them (NaN for a cell that saw none)."""
    columns = []
    for j, f in enumerate(parsed):
        column = values[..., j]
        if f.kind == "masked_pixels":
            column = seen - column
        elif f.kind == "valid_percent":  # one division of two whole numbers: correctly rounded
            with np.errstate(all="ignore"):
                column = np.where(np.asarray(seen) > 0, 100.0 * column / seen, np.nan)
        columns.append(column)
    return np.stack(columns, axis=-1)


#: The coordinate that carries the file's validity through a window's cut.
_FILE_VALID = "_imgstats_file_valid"


def _file_valid(data, dims):
    """``(valid, pooled)``: the samples that the file's dataset mask or alpha band leaves
    out, as :func:`imgstats.compute` leaves them out (a boolean DataArray over ``y``, ``x``
    and maybe the band dim, its ``attrs["kind"]`` ``"mask"`` or ``"alpha"``; or ``None``),
    and the samples a reduction over the band dim pools (all but alpha; ``None``: all).

    GDAL's order: an open_image array of a TIFF with a dataset mask counts its mask (not
    its nodata); else, without a nodata value, its transparent pixels (alpha 0) are out of
    the colour bands. The alpha band itself is never pooled with the colour bands, with
    ``raw`` too; kept as a band of its own, every alpha sample counts.
    """
    import xarray as xr

    from .io._plan import _masked_tiff, attr_nodata, band_dim_of, plan_of_image

    band = band_dim_of(data)  # as compute finds it
    bands = data[band].values.tolist() if band is not None and band in data.coords else []
    alpha = alpha_band(bands) is not None  # a mask; an alpha among extra samples is not
    kept = pooled_bands(len(bands), bands)
    colour = xr.DataArray(kept, dims=band) if not kept.all() else None
    pooled = colour if colour is not None and band in dims else None
    raw = bool(data.attrs.get("raw"))
    if not raw and set(data.dims) <= {"y", "x", band} and _masked_tiff(data.attrs):
        plan = plan_of_image(yx_first(data, band), None)
        if plan.mask is not None:
            mask = plan.mask if hasattr(plan.mask, "dask") else np.asarray(plan.mask, bool)
            valid = xr.DataArray(mask, dims=("y", "x"))
            valid = valid if pooled is None else valid & pooled
            return valid.assign_attrs(kind="mask"), pooled
    each = data.attrs.get("band_nodata")  # each band its own nodata: no alpha mask
    if alpha and not raw and attr_nodata(data.attrs) is None and not each:
        opaque = xr.DataArray(data.isel({band: -1}, drop=True).variable != 0)
        valid = (opaque | ~colour) if pooled is None else (opaque & colour)
        return valid.assign_attrs(kind="alpha"), pooled
    if pooled is not None:
        return pooled.assign_attrs(kind="alpha"), pooled
    return None, None


def _without_nodata(data, valid):
    """``valid`` (a boolean DataArray or ``None``) without the samples equal to the nodata
    value ``data`` carries in its attrs (:func:`imgstats.open_image`'s, a user's, or a CF
    ``_FillValue``: :func:`imgstats.io._plan.attr_nodata`), as :func:`imgstats.compute`
    leaves them out; ``raw`` in the attrs keeps them."""
    from .io._plan import attr_nodata
    from .io._valid import Validity, nodata_hits

    each = None if data.attrs.get("raw") else _band_nodata(data)
    if each is not None:
        kept = _without_band_nodata(data, each)
        return kept if valid is None else valid & kept
    value = attr_nodata(data.attrs)
    if value is None or data.attrs.get("raw") or isinstance(value, bool):
        return valid
    if not isinstance(value, numbers.Real):
        return valid
    nodata = Validity(np.dtype(data.dtype), 1, nodata=value)._typed_nodata(np.dtype(data.dtype))
    if nodata is None or (isinstance(nodata, float | np.floating) and math.isnan(nodata)):
        return valid  # no sample holds it, or NaN: left out anyway
    kept = ~nodata_hits(data, nodata)
    return kept if valid is None else valid & kept


def _band_nodata(data) -> tuple | None:
    """Each band's own nodata value that :func:`imgstats.open_image` records for an image
    whose ``.aux.xml`` gives its bands different ones (``attrs["band_nodata"]``), one per
    band of ``data`` (``None``: none), or ``None``.

    Raises
    ------
    UnreadableImage
        A colour band without one beside ones with and an alpha band, as compute refuses.
    """
    from .io._pam import band_nodata_of_bands, band_nodata_refused
    from .io._plan import band_dim_of

    band = band_dim_of(data)
    if band is None:
        return None
    names = data[band].values.tolist() if band in data.coords else []
    each = band_nodata_of_bands(data.attrs, names) if names else data.attrs.get("band_nodata")
    if not isinstance(each, (list, tuple)) or not each:
        return None
    if len(each) > data.sizes[band]:
        return None  # not this array's bands (cut since)
    refused = band_nodata_refused(str(data.attrs.get("nodata_problem", "")), each, names)
    if refused is not None:
        from .errors import UnreadableImage

        raise UnreadableImage(refused)
    return tuple(each) + (None,) * (data.sizes[band] - len(each))


def _without_band_nodata(data, each):
    """Which samples of ``data`` are not their band's nodata value, ``each`` (one per band
    of its band dim), as :func:`imgstats.compute` leaves them out: a boolean DataArray."""
    import xarray as xr

    from .io._plan import band_dim_of
    from .io._valid import Validity, nodata_hits

    band = band_dim_of(data)
    dtype = np.dtype(data.dtype)
    parts = []
    for i, value in enumerate(each):
        one = data.isel({band: i})
        nd = None if value is None else Validity(dtype, 1, nodata=value)._typed_nodata(dtype)
        if nd is None or (isinstance(nd, float | np.floating) and math.isnan(nd)):
            parts.append(xr.ones_like(one, dtype=bool))  # no sample holds it, or NaN
        else:
            parts.append(~nodata_hits(one, nd))
    return xr.concat(parts, dim=band)


def _dims_of(data, dim) -> tuple:
    """The dims ``dim`` names: one name (any hashable, as xarray's), a list, tuple or set
    of names, or ``...`` for every dim (xarray's spelling)."""
    if dim is ...:
        return tuple(data.dims)
    return dim_tuple(dim, data.dims)


def _region(data, window, mask, polygon):
    """``(data, valid)``: the array cut to ``window``, and a boolean ``(y, x)`` DataArray of
    the samples ``mask`` and ``polygon`` keep (``None`` without them)."""
    if window is None and mask is None and polygon is None:
        return data, None
    import xarray as xr

    from .regions import clip_window, parse_window, region_of

    if "y" not in data.dims or "x" not in data.dims:
        raise InvalidOption(
            "window, mask and polygon with dim= need dims 'y' and 'x'; "
            f"the array has {list(data.dims)}"
        )
    height, width = data.sizes["y"], data.sizes["x"]
    if window is not None:
        x0, y0, x1, y1 = clip_window(parse_window(window), height, width)
        data = data.isel(y=slice(y0, y1), x=slice(x0, x1))
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != (height, width):
                raise InvalidOption(
                    f"the mask's shape {mask.shape} is not the array's (y, x) shape "
                    f"{(height, width)}"
                )
            mask = mask[y0:y1, x0:x1]
        if polygon is not None:
            from .regions import MAX_REGION_VERTICES, polygon_parts

            parts = polygon_parts(polygon, MAX_REGION_VERTICES)  # shifted into the window
            shift = np.array([x0, y0], np.float64)
            polygon = {
                "type": "MultiPolygon",
                "coordinates": [[(r - shift).tolist() for r in rings] for rings in parts],
            }
        height, width = y1 - y0, x1 - x0
    if mask is None and polygon is None:
        return data, None
    box, local = region_of(height, width, None, mask, polygon, lazy=True)
    painter = _Painted(height, width, box, local)
    if hasattr(data.data, "dask"):
        # painted chunk by chunk in the tasks that read the data: never the polygon's box
        import dask.array as da

        chunks = (
            data.data.chunks[data.get_axis_num("y")],
            data.data.chunks[data.get_axis_num("x")],
        )
        valid = da.from_array(
            painter, chunks=chunks, asarray=False, meta=np.empty((0, 0), bool), name=False
        )
    else:
        valid = painter[:, :]  # beside a numpy array held whole: the (y, x) plane
    return data, xr.DataArray(valid, dims=("y", "x"))


class _Painted:
    """The ``(y, x)`` samples a region keeps, as a lazy bool array: ``[y0:y1, x0:x1]``
    paints that block only (a polygon through :class:`imgstats.regions.PolygonRegion`, the
    one block rasterizer of regions and zones; a mask or a window cut from their box)."""

    dtype = np.dtype(bool)
    ndim = 2

    def __init__(self, height: int, width: int, box, local):
        self.shape = (int(height), int(width))
        self.box = tuple(int(v) for v in box)
        self.local = local  # None (the whole box), a bool array of the box, or a region

    def __getitem__(self, key) -> np.ndarray:
        ky, kx = key
        y0, y1, _ = ky.indices(self.shape[0])
        x0, x1, _ = kx.indices(self.shape[1])
        y1, x1 = max(y0, y1), max(x0, x1)
        out = np.zeros((y1 - y0, x1 - x0), bool)
        bx0, by0, bx1, by1 = self.box
        a, b, c, d = max(y0, by0), min(y1, by1), max(x0, bx0), min(x1, bx1)
        if b <= a or d <= c:
            return out
        from .regions import PolygonRegion

        if isinstance(self.local, PolygonRegion):
            part = self.local.block_mask(a, b, c, d)
        elif self.local is None:
            part = True
        else:
            part = self.local[a - by0 : b - by0, c - bx0 : d - bx0]
        out[a - y0 : b - y0, c - x0 : d - x0] = part
        return out


def _of_the_samples(func) -> bool:
    """Whether ``func`` is one of the samples (min, max, a ``pXXX`` of numpy's discrete
    methods; ``median`` is ``numpy.median`` whatever the method), which numpy gives in the
    samples' own type, every bit of a 64-bit one kept."""
    if func.kind == "percentile":
        return func.name != "median" and func.method in _DISCRETE
    return func.kind in ("min", "max")


def _lazy(data, nk: int, names, out_dtype, valid=None):
    """A dask array of the results, one task per block of the ``nk`` remaining dims.

    Built in time linear in the blocks: each task gets a dask array of its own blocks'
    graph (:func:`_parts`), and the tasks are one layer of plain tasks (a ``dask.delayed``,
    a ``from_delayed`` and a ``da.block`` entry per block merged graphs at every step)."""
    import dask.array as da
    from dask.base import tokenize

    from ._tree import task
    from .io._plan import workers as _workers

    nblocks = math.prod(data.numblocks[:nk])
    # Few tasks (e.g. every remaining dim in one chunk): let each use the local cores.
    inner = "threads" if nblocks < _workers() else "sync"
    parts = _parts(data, nk)
    vparts = None if valid is None else _parts(valid, nk)
    # nk and the type in the name: dim=("y", "x") and dim="x" of one (t, y, x) array are the
    # same transposed array asked the same functions, and computed together they collided
    vname = None if valid is None else valid.name
    name = "imgstats-dims-" + tokenize(data.name, vname, names, nk, str(out_dtype), inner)
    work = task(_cells_task, nk, names, out_dtype, inner)
    dsk = {}
    for idx in np.ndindex(*data.numblocks[:nk]):
        vpart = None if vparts is None else _Opaque(vparts[idx])
        dsk[(name, *idx, 0)] = (work, _Opaque(parts[idx]), vpart)
    chunks = (*data.chunks[:nk], (len(names),))
    return da.Array(dsk, name, chunks, dtype=out_dtype)


def _parts(array, nk: int) -> np.ndarray:
    """``array`` cut at its blocks of the ``nk`` leading dims: an object array of dask
    arrays, each over its own blocks' graph only. ``array[slice]`` carried the whole graph
    into each task, whose ``da.store`` then built all of it: 4x the blocks took 5.4x the
    CPU. The array's graph is built once here, and cut by walking back from each part's
    keys (dask's ``cull``)."""
    import dask.array as da
    from dask.base import tokenize
    from dask.optimization import cull

    from ._tree import block_keys

    dsk: dict = {}
    keys = block_keys(dsk, array)
    out = np.empty(array.numblocks[:nk], object)
    for idx in np.ndindex(*array.numblocks[:nk]):
        own = keys[idx]  # the keys of this part's blocks, over the reduced dims
        name = "imgstats-dims-part-" + tokenize(array.name, idx)
        graph, _ = cull(dsk, list(own.ravel()))
        lead = (0,) * nk
        graph.update(((name, *lead, *j), own[j]) for j in np.ndindex(*own.shape))  # aliases
        chunks = tuple((array.chunks[a][i],) for a, i in enumerate(idx)) + array.chunks[nk:]
        out[idx] = da.Array(graph, name, chunks, meta=array._meta)
    return out


def _cells_task(nk, names, out_dtype, inner, opaque, valid=None):
    """The statistics of one task's cells (its arguments after ``inner`` dask's)."""
    return _cells(opaque.array, nk, names, out_dtype, inner, None if valid is None else valid.array)


def _cells(data, nk: int, names, out_dtype, scheduler, valid=None) -> np.ndarray:
    """The statistics of every remaining cell of ``data`` (remaining dims first).

    The grouped core (:mod:`imgstats.grouped`): each cell is a group. Cells of at most
    :data:`~imgstats.grouped.SMALL_GROUP` samples keep their samples' keys, a few bytes each,
    and are answered exactly from them; larger cells get a histogram summary each, refined in
    further passes over the blocks when a 32- or 64-bit percentile needs it.
    """
    from .grouped import SMALL_GROUP

    kshape = tuple(int(s) for s in data.shape[:nk])
    ncell = math.prod(kshape)
    m = math.prod(int(s) for s in data.shape[nk:])
    if m <= SMALL_GROUP:
        cells = _small_cells(data, ncell, names, out_dtype, valid)
        return cells.reshape(*kshape, len(names))
    data, valid = _gathered(data, valid, nk)
    summaries = _run_blocks(data, valid, _summarize_cells, (ncell,), _merge_cells, scheduler)
    for _ in range(_MAX_REFINE_PASSES):
        nodes = [_missing(s, names) for s in summaries]
        if not any(nodes):
            break
        dtype = summaries[0].dtype
        found = _run_blocks(
            data, valid, _refine_cells, (ncell, nodes, dtype), _merge_found, scheduler
        )
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


def _gathered(data, valid, nk: int):
    """``(data, valid)`` with tiny chunks of the reduced axes read together (as
    :func:`imgstats.compute` and zonal read them, :func:`imgstats.io._plan._coarser_along`):
    each block made a task and a 65,536-bin summary per cell, far more than its samples (a
    median and p99 of a (2, 400, 400) stack in (1, 10, 10) chunks: 3,200 of them, 4.4 s of
    CPU). Always on this process's scheduler: a ``dim=`` task runs its blocks itself."""
    if not hasattr(data, "dask"):
        return data, valid
    from .io._plan import _coarser_along

    data = _coarser_along(data, nk)
    if valid is not None and valid.chunks != data.chunks:
        valid = valid.rechunk(data.chunks)
    return data, valid


#: Samples of small cells read at once (one batch of cells per thread).
_BATCH_SAMPLES = 1 << 22


def _small_cells(data, ncell: int, names, out_dtype, valid=None) -> np.ndarray:
    """``(ncell, len(names))`` statistics of cells small enough to keep their samples."""
    owned = hasattr(data, "dask")
    half = is_half(data.dtype)  # interpolated as numpy does (Summary.half)
    if owned:
        data = _filled(data)  # this task's cells: a few bytes per sample
    if valid is not None and hasattr(valid, "dask"):
        valid = _filled(valid)
    arr = native(np.asarray(data))
    m = arr.size // max(ncell, 1)
    rows = arr.reshape(ncell, m) if arr.size else arr.reshape(ncell, 0)
    vrows = None if valid is None else np.asarray(valid).reshape(rows.shape)
    batch = max(1, _BATCH_SAMPLES // max(m, 1))
    cuts = list(range(0, ncell, batch)) + [ncell]
    jobs = list(zip(cuts[:-1], cuts[1:], strict=True))

    def run(ab):
        part = None if vrows is None else vrows[ab[0] : ab[1]]
        return _rows_stats(rows[ab[0] : ab[1]], names, out_dtype, part, owned, half)

    if len(jobs) == 1:
        return run(jobs[0])
    from concurrent.futures import ThreadPoolExecutor

    from .io._plan import workers

    with ThreadPoolExecutor(min(len(jobs), workers())) as pool:
        return np.concatenate(list(pool.map(run, jobs)))


def _filled(data) -> np.ndarray:
    """A dask array's values in one native numpy array, filled chunk by chunk: a chunk is
    dropped once copied. ``data.compute()`` holds every chunk and then their concatenation,
    twice the data (716 MB beside 348 MB for a (365, 500, 500) float32 stack chunked one
    plane per step)."""
    import dask.array as da

    dtype = data.dtype
    if not dtype.isnative or is_half(dtype):
        dtype = native(np.empty(0, dtype)).dtype
        data = data.astype(dtype)
    out = np.empty(data.shape, dtype)
    da.store(data, out, lock=False, scheduler="sync")
    return out


def _rows_stats(rows, names, out_dtype, valid=None, owned=False, half=False) -> np.ndarray:
    """The statistics of each row of ``rows`` (a cell each); ``owned``: ``rows`` may be
    overwritten by their keys; ``half``: they are a float16 array's samples."""
    from .grouped import groups_of_rows, read_groups

    out = np.empty((rows.shape[0], len(names)), dtype=out_dtype)
    # a cell without valid samples counts 0 of them (as a large cell's summary says), and
    # its other statistics are NaN
    counted = [getattr(name, "kind", None) == "count" for name in names]
    if rows.shape[1] == 0:
        out[:] = np.nan
        out[:, counted] = 0
        return out
    groups = groups_of_rows(rows, valid, in_place=owned)
    counts, cols = read_groups(groups, names, in_place=True, half=half)
    empty = counts == 0
    for j, name in enumerate(names):
        col = cols[getattr(name, "name", name)]  # a parsed Function, or a name
        if empty.any() and not counted[j]:
            col = np.where(empty, np.nan, col.astype(np.float64))
        out[:, j] = col
    return out


def _missing(summary, names):
    try:
        return summary.missing(names)
    except NoValidSamples:
        return []


def _run_blocks(data, valid, work, args, merge, scheduler):
    """``merge`` of ``work(block, valid block, *args)`` over every block of ``data`` (one if
    numpy); ``valid`` is None or a boolean array chunked like ``data``.

    One graph built in time linear in the blocks (:mod:`imgstats._tree`): a tree of
    ``dask.delayed`` calls over ``to_delayed()`` blocks merged the whole graph again at
    every call."""
    if not hasattr(data, "dask"):
        return work(data, valid, *args)
    from dask.base import tokenize

    from ._cluster import dask_compute
    from ._tree import block_keys, task, tree_reduce

    dsk: dict = {}
    leaves = block_keys(dsk, data).ravel()
    vleaves = [None] * len(leaves) if valid is None else block_keys(dsk, valid).ravel()
    work_of = task(_work_on, work, args)
    name = "imgstats-dims-" + tokenize(data.name, None if valid is None else valid.name, work, args)
    keys = [(name + "-block", k) for k in range(len(leaves))]
    for key, b, v in zip(keys, leaves, vleaves, strict=True):
        dsk[key] = (work_of, b) if v is None else (work_of, b, v)
    return dask_compute(tree_reduce(dsk, keys, merge, name), scheduler=scheduler)[0]


def _work_on(work, args, block, valid=None):
    """``work(block, valid, *args)``: the task of one block (its keys last)."""
    return work(block, valid, *args)


def _summarize_cells(block, valid, ncell):
    """One summary per remaining cell of a block (remaining axes first)."""
    from ._blocks import summarize_block

    half = is_half(np.asarray(block).dtype)  # interpolated as numpy does (Summary.half)
    flat = native(np.asarray(block)).reshape(ncell, -1)
    v = None if valid is None else np.asarray(valid).reshape(ncell, -1)
    return [
        replace(
            summarize_block(
                (flat[k] if v is None else flat[k][v[k]]).reshape(-1, 1), ("0",), False
            ),
            half=half,
        )
        for k in range(ncell)
    ]


def _refine_cells(block, valid, ncell, nodes, dtype):
    """One refinement dict per remaining cell of a block (empty where none is wanted)."""
    from ._blocks import refine_block
    from .summary import collect_limit

    flat = native(np.asarray(block)).reshape(ncell, -1)
    v = None if valid is None else np.asarray(valid).reshape(ncell, -1)
    limit = collect_limit(dtype)
    return [  # nodes[k]: the cell's (selection, shift, prefix, count) targets
        refine_block(
            (flat[k] if v is None else flat[k][v[k]]).reshape(-1, 1), nodes[k], dtype, limit
        )
        if nodes[k]
        else {}
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
