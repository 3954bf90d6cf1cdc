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

    from .io._plan import has_distributed_client, open_plan

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
    height, width = int(arr.shape[0]), int(arr.shape[1])
    box, local = region_of(height, width, window, mask, polygon, lazy=True)
    x0, y0, x1, y1 = box
    cut = arr[y0:y1, x0:x1]
    # the file's dataset mask travels with the region's pixels, in the attrs, where the
    # region's plan finds it: its masked pixels are counted as masked, as the image's are
    attrs.pop("dataset_mask", None)
    kept = plan.dataset_mask()
    if kept is not None:
        kept = np.asarray(kept[y0:y1, x0:x1], bool)
    if isinstance(local, PolygonRegion):
        cut, kept = _in_polygon(cut, local, box, kept)
        dims = ("pixel", "one")
    elif local is not None:
        if kept is not None:
            kept = kept[local][:, None]
        cut = _masked(cut, local)
        dims = ("pixel", "one")
    else:
        dims = ("y", "x")
    if kept is not None:
        attrs["dataset_mask"] = kept
        attrs["mask_kind"] = plan.valid.mask
    if cut.ndim == 3:
        return xr.DataArray(cut, dims=(*dims, "band"), coords={"band": list(names)}, attrs=attrs)
    # a greyscale image keeps its band's name the way open_image records it
    attrs.setdefault("source", "")
    attrs["band"] = names[0]
    return xr.DataArray(cut, dims=dims, attrs=attrs)


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
            options["chunks"] = "auto"
    return open_image(source, **options)


def _masked(cut, local: np.ndarray):
    """The samples of ``cut`` where ``local`` is True, as ``(pixel, 1[, band])``.

    For a dask array the blocks with no selected pixel are dropped unread, and the others
    keep known sizes (counted from the mask), so the result is an ordinary dask array.
    """
    import dask.array as da

    if not isinstance(cut, da.Array):
        picked = np.asarray(cut)[local]
        return picked.reshape(picked.shape[0], 1, *picked.shape[1:])
    import dask

    if cut.ndim == 3 and cut.numblocks[2] > 1:
        cut = cut.rechunk({2: -1})
    ys = np.cumsum((0,) + cut.chunks[0])
    xs = np.cumsum((0,) + cut.chunks[1])
    blocks = cut.to_delayed()
    parts = []
    tail = cut.shape[2:]
    for i in range(len(ys) - 1):
        for j in range(len(xs) - 1):
            m = local[ys[i] : ys[i + 1], xs[j] : xs[j + 1]]
            n = int(m.sum())
            if n == 0:
                continue
            block = blocks[i, j, 0] if cut.ndim == 3 else blocks[i, j]
            picked = dask.delayed(_pick, pure=True)(block, m)
            parts.append(da.from_delayed(picked, (n, 1, *tail), dtype=cut.dtype))
    return da.concatenate(parts, axis=0)


#: Pixels of a numpy image rasterized at once (a strip of rows): the polygon's mask of a
#: strip is all that is allocated besides the selected samples.
_STRIP_PIXELS = 1 << 22


def _in_polygon(cut, region: PolygonRegion, box, kept=None):
    """``(samples, kept)``: the samples of ``cut`` (the image's ``box``) inside ``region``,
    as ``(pixel, 1[, band])``, rasterized block by block: a strip of rows of a numpy array, a
    chunk of a dask array (inside its task, so that memory follows the chunk, never the
    polygon's box); and ``kept`` (a ``(y, x)`` bool array of the box, the file's dataset
    mask) picked in the same order as ``(pixel, 1)``, or ``None``.

    Raises
    ------
    NoValidSamples
        No pixel centre of the region lies inside the polygon.
    """
    import dask.array as da

    bx0, by0 = box[0], box[1]
    if not isinstance(cut, da.Array):
        cut = np.asarray(cut)
        h, w = cut.shape[:2]
        rows = max(1, _STRIP_PIXELS // max(w, 1))
        parts, kparts = [], []
        for a in range(0, h, rows):
            b = min(h, a + rows)
            m = region.block_mask(by0 + a, by0 + b, bx0, bx0 + w)
            if m.any():
                parts.append(cut[a:b][m])
                if kept is not None:
                    kparts.append(kept[a:b][m])
        if not parts:
            raise NoValidSamples("no valid samples: no pixel centre lies inside the polygon")
        picked = np.concatenate(parts)
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
            if kept is not None:  # the mask's pixels in the order the task picks them
                m = region.block_mask(*ab)
                kparts.append(kept[ys[i] : ys[i + 1], xs[j] : xs[j + 1]][m])
            mask = None if region.mask is None else region.mask[ab[0] : ab[1], ab[2] : ab[3]]
            block = blocks[i, j, 0] if cut.ndim == 3 else blocks[i, j]
            picked = dask.delayed(_pick_polygon, pure=True)(block, region.layer, ab, mask)
            parts.append(da.from_delayed(picked, (n, 1, *tail), dtype=cut.dtype))
    if not parts:
        raise NoValidSamples("no valid samples: no pixel centre lies inside the polygon")
    if kept is not None:
        kept = np.concatenate(kparts)[:, None]
    return da.concatenate(parts, axis=0), kept


def _pick_polygon(block, layer, ab, mask):
    """The samples of one block inside the polygon of ``layer`` (and ``mask``), as
    ``(pixel, 1[, band])``: the block's mask is painted here, in the task."""
    y0, y1, x0, x1 = ab
    m = layer.mask(layer.spans(np.zeros(1, np.int64), y0, y1, x0, x1), y0, y1, x0, x1)
    if mask is not None:
        m &= mask
    return _pick(block, m)


def _pick(block, m):
    """The samples of one block where ``m`` is True, as ``(pixel, 1[, band])``."""
    picked = np.asarray(block)[m]
    return picked.reshape(picked.shape[0], 1, *picked.shape[1:])
