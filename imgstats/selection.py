"""The samples of an image inside a region: :func:`select`.

The geometry (windows, masks, polygons and how they combine) is :mod:`imgstats.regions`'s;
this module opens the image (a TIFF lazily, so that only the tiles or strips the region
touches are decoded) and cuts the samples out. It sits above io and below the reductions:
:mod:`imgstats.regions` itself reads no image, so io may use its window helpers.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import InvalidOption, NoValidSamples
from .regions import PolygonRegion, region_of

__all__ = ["select"]


def select(data, window=None, mask=None, polygon=None, **io_options):
    """Return the samples of ``data`` inside a region, as an image :func:`compute` takes.

    Parameters
    ----------
    data : numpy.ndarray, dask.array.Array, xarray.DataArray, PIL.Image.Image, str or path
        A 2-D or 3-D image ``(y, x[, band])``; paths are opened with
        :func:`imgstats.open_image` (a TIFF lazily, so that only the tiles or strips the region
        touches are decoded).
    window : (x0, y0, x1, y1) or str, optional
        Half-open pixel window, clipped to the image.
    mask : numpy.ndarray of bool, optional
        Of the image's ``(y, x)`` shape; True pixels count.
    polygon : sequence of (x, y) or GeoJSON Polygon dict, optional
        Pixels whose centre lies inside count (see the module's notes).
    **io_options
        For :func:`imgstats.open_image`.

    Returns
    -------
    xarray.DataArray
        A window: ``(y, x[, band])`` pixels, cut lazily when the image is lazy. A mask or a
        polygon: the selected pixels as dims ``(pixel, one, band)`` or ``(pixel, one)``; their
        samples are exactly the selected ones, band names kept.

    Raises
    ------
    InvalidOption, NoValidSamples
        See :func:`region_of`; also an image that is not 2-D or 3-D.

    Examples
    --------
    >>> import numpy as np, imgstats
    >>> img = np.arange(20, dtype=np.uint8).reshape(4, 5)
    >>> imgstats.compute(select(img, window=(1, 1, 3, 3)), "max")  # img[1:3, 1:3]
    12
    """
    import xarray as xr

    from .io._plan import check_io_options, has_distributed_client, open_plan

    check_io_options(io_options, "select", ("window", "mask", "polygon"))
    if isinstance(data, (str, os.PathLike)):
        from .io._plan import plan_of_image

        source = data
        data = _open_for_region(source, io_options)
        # the file's validity, its dataset mask included (open_image's array alone lacks it)
        plan = plan_of_image(
            data,
            source,
            bool(io_options.get("raw")),
            io_options.get("nodata"),
            io_options.get("storage_options"),
        )
    else:
        plan = None
    raw_ndim = getattr(data, "ndim", None)
    if raw_ndim is not None and raw_ndim not in (2, 3):
        raise InvalidOption(f"a region needs a 2-D or 3-D image (y, x[, band]), not {raw_ndim}-D")
    if plan is None:
        plan = open_plan(data, local=not has_distributed_client(), **io_options)
    arr, names = plan.array(), plan.band_names
    attrs = dict(getattr(data, "attrs", {}) or {})
    # the region's samples keep the image's nodata (the file's, or nodata=): it travels in
    # the attrs, where the plan of the region finds it; raw=True drops it
    nodata = None if plan.valid is None else plan.valid.nodata
    if nodata is None:
        attrs.pop("nodata", None)
    else:
        attrs["nodata"] = nodata
    each = None if plan.valid is None else plan.valid.band_nodata
    if each is None:  # each band's own nodata, when they differ
        attrs.pop("band_nodata", None)
    else:
        attrs["band_nodata"] = list(each)
    attrs["valid_source"] = plan.valid_source  # the file's nodata, or the caller's
    if plan.valid_source == "raw":
        attrs["raw"] = True  # the region's plan counts every sample too (no alpha applied)
    height, width = int(arr.shape[0]), int(arr.shape[1])
    box, local = region_of(height, width, window, mask, polygon, lazy=True)
    x0, y0, x1, y1 = box
    cut = arr[y0:y1, x0:x1]
    # the file's dataset mask travels with the region's pixels, in the attrs, where the
    # region's plan finds it: its masked pixels are counted as masked, as the image's are
    # It is read block by block, beside the pixels: never an array of the region's box.
    attrs.pop("dataset_mask", None)
    kept = plan.mask_reader()
    if kept is not None:
        kept = _crop(kept, y0, y1, x0, x1)
    if isinstance(local, PolygonRegion):
        cut, kept = _in_polygon(cut, local, box, kept)
        dims = ("pixel", "one")
    elif local is not None:
        cut, kept = _masked(cut, local, kept)
        dims = ("pixel", "one")
    else:
        if kept is not None and not isinstance(kept, np.ndarray):
            kept = _lazy_mask(kept, cut)
        dims = ("y", "x")
    if kept is not None:
        attrs["dataset_mask"] = kept
        attrs["mask_kind"] = plan.valid.mask
    attrs.pop("sample_mask", None)
    if _is_masked(cut):
        # xarray fills a masked array with NaN, as floats (int64 samples lost their last
        # digits, uint8 its luma): its mask travels in the attrs, as the dataset mask does
        cut, attrs["sample_mask"] = _unmasked(cut)
    if cut.ndim == 3:
        out = xr.DataArray(cut, dims=(*dims, "band"), coords={"band": list(names)}, attrs=attrs)
    else:
        # a greyscale image keeps its band's name the way open_image records it
        attrs.setdefault("source", "")
        attrs["band"] = names[0]
        out = xr.DataArray(cut, dims=dims, attrs=attrs)
    out.name = None  # not the key of its dask array, which xarray takes for a name
    return out


def _is_masked(cut) -> bool:
    """Whether ``cut`` is a numpy masked array with masked samples, or a dask one."""
    if isinstance(cut, np.ma.MaskedArray):
        return bool(np.ma.is_masked(cut))
    return isinstance(getattr(cut, "_meta", None), np.ma.MaskedArray)


def _unmasked(cut):
    """``(samples, mask)`` of a numpy or dask masked array, the mask True where masked."""
    if isinstance(cut, np.ma.MaskedArray):
        return np.ma.getdata(cut), np.ma.getmaskarray(cut)
    import dask.array as da

    return da.ma.getdata(cut), da.ma.getmaskarray(cut)


def _open_for_region(source, io_options):
    """Open a path lazily when it is a TIFF, so a region decodes only the tiles it touches."""
    from .io import open_image
    from .io._sources import open_source
    from .io._tiff import is_tiff

    options = dict(io_options)
    if options.get("chunks") is None:
        try:
            with open_source(source, options.get("storage_options")) as fh:
                tiff = is_tiff(fh.read(4))
        except Exception:  # noqa: BLE001 -- open_image below reports what is wrong
            tiff = False
        if tiff:
            options["chunks"] = _region_chunks(source, options)
    return open_image(source, **options)


#: Bytes of a chunk of a TIFF opened for a region: a region's task holds its chunk a few times
#: over (the decoded chunk, its polygon's mask, its dataset mask, the samples picked), and
#: every core runs one, so chunks of a quarter of the usual size keep a polygon over a large
#: image to tens of MB per core.
REGION_CHUNK_BYTES = 8 << 20


def _region_chunks(source, options):
    """Chunks of about :data:`REGION_CHUNK_BYTES`, whole tiles or strips of the page, for a
    local TIFF whose header says how it is stored; ``"auto"`` for any other."""
    from .io._sources import is_url
    from .io._tiff import TiffStream, dask_chunks

    if options.get("storage_options") or is_url(source):
        return "auto"
    page, palette = options.get("page") or 0, options.get("palette") or "rgb"
    stream = TiffStream.open(source, page=page, palette=palette)
    if stream is None:
        return "auto"
    facts = stream.facts
    return dask_chunks(facts.shape, facts.tile, facts.dtype.itemsize, REGION_CHUNK_BYTES)


def _crop(kept, y0: int, y1: int, x0: int, x1: int):
    """Rows ``[y0, y1)`` x columns ``[x0, x1)`` of a dataset mask, read later: a file's
    :class:`~imgstats.io._mask.MaskArray` is cut without reading, an array sliced (a view)."""
    return kept.crop(y0, y1, x0, x1) if hasattr(kept, "crop") else kept[y0:y1, x0:x1]


def _lazy_mask(kept, cut):
    """A window's dataset mask as a dask array chunked like ``cut`` (numpy beside numpy)."""
    import dask.array as da

    if not isinstance(cut, da.Array):
        return np.asarray(kept, bool)
    if isinstance(kept, da.Array):
        return kept
    return da.from_array(
        kept, chunks=cut.chunks[:2], asarray=False, meta=np.empty((0, 0), bool), name=False
    )


def _masked(cut, local: np.ndarray, kept=None):
    """``(samples, kept)``: the samples of ``cut`` where ``local`` is True, as
    ``(pixel, 1[, band])``, and the dataset mask ``kept`` (``(y, x)`` of ``cut``, read block
    by block) picked in the same order as ``(pixel, 1)``, or ``None``.

    For a dask array the blocks with no selected pixel are dropped unread, and the others
    keep known sizes (counted from the mask), so the result is an ordinary dask array.
    """
    import dask.array as da

    if not isinstance(cut, da.Array):
        picked = np.asanyarray(cut)[local]  # a masked array keeps its mask, as a window does
        if kept is not None:
            kept = np.asarray(kept[:, :], bool)[local][:, None]
        return picked.reshape(picked.shape[0], 1, *picked.shape[1:]), kept
    import dask

    if cut.ndim == 3 and cut.numblocks[2] > 1:
        cut = cut.rechunk({2: -1})
    ys = np.cumsum((0,) + cut.chunks[0])
    xs = np.cumsum((0,) + cut.chunks[1])
    blocks = cut.to_delayed()
    parts, kparts = [], []
    tail = cut.shape[2:]
    for i in range(len(ys) - 1):
        for j in range(len(xs) - 1):
            m = local[ys[i] : ys[i + 1], xs[j] : xs[j + 1]]
            n = int(m.sum())
            if n == 0:
                continue
            block = blocks[i, j, 0] if cut.ndim == 3 else blocks[i, j]
            k = None if kept is None else _crop(kept, ys[i], ys[i + 1], xs[j], xs[j + 1])
            picked = dask.delayed(_pick, pure=True)(block, m, k)
            _add_part(parts, kparts, picked, n, tail, cut, k is not None)
    return da.concatenate(parts, axis=0), _joined(kparts)


def _add_part(parts, kparts, picked, n: int, tail, cut, masked: bool) -> None:
    """Append a pick task's samples of ``cut`` (a masked array's as masked arrays: its meta)
    and, ``masked``, its dataset mask, as dask arrays."""
    import dask.array as da

    dtype, meta = cut.dtype, cut._meta  # (pixel, 1[, band]) has the ndim of (y, x[, band])
    if not masked:
        parts.append(da.from_delayed(picked, (n, 1, *tail), dtype=dtype, meta=meta))
        return
    parts.append(da.from_delayed(picked[0], (n, 1, *tail), dtype=dtype, meta=meta))
    kparts.append(da.from_delayed(picked[1], (n, 1), dtype=bool))


def _joined(kparts):
    """The dataset mask's parts of a region, one lazy ``(pixel, 1)`` array, or ``None``."""
    if not kparts:
        return None
    import dask.array as da

    return da.concatenate(kparts, axis=0)


#: Pixels of a numpy image rasterized at once (a strip of rows): the polygon's mask of a
#: strip is all that is allocated besides the selected samples.
_STRIP_PIXELS = 1 << 22


def _in_polygon(cut, region: PolygonRegion, box, kept=None):
    """``(samples, kept)``: the samples of ``cut`` (the image's ``box``) inside ``region``,
    as ``(pixel, 1[, band])``, rasterized block by block: a strip of rows of a numpy array, a
    chunk of a dask array (inside its task, so that memory follows the chunk, never the
    polygon's box); and ``kept`` (the file's dataset mask over the box, as
    :meth:`~imgstats.io.ReadPlan.mask_reader` holds it) picked in the same order as
    ``(pixel, 1)``, block by block in the same tasks (a lazy array), or ``None``.

    Raises
    ------
    NoValidSamples
        No pixel centre of the region lies inside the polygon.
    """
    import dask.array as da

    bx0, by0 = box[0], box[1]
    if not isinstance(cut, da.Array):
        cut = np.asanyarray(cut)  # a masked array keeps its mask, as a window does
        h, w = cut.shape[:2]
        rows = max(1, _STRIP_PIXELS // max(w, 1))
        parts, kparts = [], []
        for a in range(0, h, rows):
            b = min(h, a + rows)
            m = region.block_mask(by0 + a, by0 + b, bx0, bx0 + w)
            if m.any():
                parts.append(cut[a:b][m])
                if kept is not None:  # the strip's rows of the mask, read now
                    kparts.append(np.asarray(kept[a:b, :], bool)[m])
        if not parts:
            raise NoValidSamples("no valid samples: no pixel centre lies inside the polygon")
        picked = (np.ma if isinstance(cut, np.ma.MaskedArray) else np).concatenate(parts)
        if kept is not None:
            kept = np.concatenate(kparts)[:, None]
        return picked.reshape(picked.shape[0], 1, *picked.shape[1:]), kept
    import dask

    if cut.ndim == 3 and cut.numblocks[2] > 1:
        cut = cut.rechunk({2: -1})
    ys = np.cumsum((0,) + cut.chunks[0])
    xs = np.cumsum((0,) + cut.chunks[1])
    blocks = cut.to_delayed()
    parts, kparts = [], []
    tail = cut.shape[2:]
    for i in range(len(ys) - 1):
        for j in range(len(xs) - 1):
            ab = (by0 + int(ys[i]), by0 + int(ys[i + 1]), bx0 + int(xs[j]), bx0 + int(xs[j + 1]))
            n = region.count(*ab)
            if n == 0:
                continue
            mask = None if region.mask is None else region.mask[ab[0] : ab[1], ab[2] : ab[3]]
            # the block's part of the dataset mask, read in the task beside the block
            k = None if kept is None else _crop(kept, ys[i], ys[i + 1], xs[j], xs[j + 1])
            block = blocks[i, j, 0] if cut.ndim == 3 else blocks[i, j]
            picked = dask.delayed(_pick_polygon, pure=True)(block, region.layer, ab, mask, k)
            _add_part(parts, kparts, picked, n, tail, cut, k is not None)
    if not parts:
        raise NoValidSamples("no valid samples: no pixel centre lies inside the polygon")
    return da.concatenate(parts, axis=0), _joined(kparts)


def _pick_polygon(block, layer, ab, mask, kept=None):
    """The samples of one block inside the polygon of ``layer`` (and ``mask``), as
    ``(pixel, 1[, band])``: the block's mask is painted here, in the task; with the block's
    dataset mask ``kept``, the pair ``(samples, its pixels of kept as (pixel, 1))``."""
    y0, y1, x0, x1 = ab
    m = layer.mask(layer.spans(np.zeros(1, np.int64), y0, y1, x0, x1), y0, y1, x0, x1)
    if mask is not None:
        m &= mask
    return _pick(block, m, kept)


def _pick(block, m, kept=None):
    """The samples of one block where ``m`` is True, as ``(pixel, 1[, band])``; with the
    block's dataset mask ``kept`` (read here), the pair ``(samples, kept[m] as (pixel, 1))``."""
    picked = np.asanyarray(block)[m]  # a masked block keeps its mask
    picked = picked.reshape(picked.shape[0], 1, *picked.shape[1:])
    if kept is None:
        return picked
    return picked, np.asarray(kept[:, :], bool)[m][:, None]
