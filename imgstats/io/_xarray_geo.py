"""Where a DataArray lies, read as rioxarray writes it, without importing rioxarray.

rioxarray (``rioxarray.open_rasterio``, ``da.rio.write_crs``) keeps a raster's place in a
*grid mapping* coordinate (CF's convention; named by ``encoding["grid_mapping"]``, else
``spatial_ref``): its attrs hold the CRS (``crs_wkt``, or GDAL's ``spatial_ref``) and the
transform (``GeoTransform``: GDAL's six numbers in a string), while the ``x`` and ``y``
coordinates (``lon`` and ``lat`` of a geographic grid) hold the pixels' centres. imgstats'
own :func:`imgstats.open_image` writes ``attrs["transform"]`` (rasterio's six numbers) and
``attrs["crs"]`` instead; both are read.

The transform follows rioxarray's ``da.rio.transform()``: a rotated ``GeoTransform`` as it is;
else the pixel size of the ``GeoTransform`` and the origin of the ``x``/``y`` coordinates (so
that ``da.isel(x=slice(10, 20))`` lies where its pixels are), and when nothing gives a pixel
size, the coordinates' even spacing. Where the coordinates' spacing disagrees with the
``GeoTransform`` (``da.isel(x=slice(None, None, 2))``, whose attrs xarray leaves alone), the
coordinates win: they move with the pixels, the attrs do not.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .._inputs import spatial_dims

__all__ = ["dataarray_georeference", "epsg_of"]

#: The relative difference under which two pixel sizes are one (float noise in coordinates
#: computed as ``origin + (i + 0.5) * size``).
_SAME_SIZE = 1e-9

#: The top-level authority of a WKT 1 (``AUTHORITY["EPSG","32633"]]``) or WKT 2
#: (``ID["EPSG",32633]]``) CRS: the last element of its outermost bracket.
_WKT_EPSG = re.compile(
    r'(?:AUTHORITY\[\s*"EPSG"\s*,\s*"?(\d+)"?\s*\]|ID\[\s*"EPSG"\s*,\s*(\d+)\s*\])\s*\]\s*$'
)
_TEXT_EPSG = re.compile(r"^\s*(?:\+init=)?epsg:(\d+)\s*$", re.IGNORECASE)


def epsg_of(crs) -> int | None:
    """The EPSG code a CRS names: ``"EPSG:32633"``, ``"+init=epsg:32633"``, a WKT 1 or 2 string
    whose top-level authority is EPSG, or an object with ``to_epsg()`` (rasterio's and
    pyproj's CRS); ``None`` otherwise."""
    if crs is None:
        return None
    if hasattr(crs, "to_epsg"):
        try:
            code = crs.to_epsg()
        except Exception:  # noqa: BLE001 -- a CRS object that cannot say: no known CRS
            return None
        return None if code is None else int(code)
    if isinstance(crs, bytes):
        crs = crs.decode("utf-8", "replace")
    if not isinstance(crs, str):
        return None
    match = _TEXT_EPSG.match(crs) or _WKT_EPSG.search(crs)
    if match is None:
        return None
    return int(next(g for g in match.groups() if g is not None))


def dataarray_georeference(arr):
    """Where a DataArray lies: ``(transform, epsg, width, height, from_coords)``, the fields
    of an :class:`imgstats.io._geo.Georeference`, or ``None``.

    Read from ``attrs["transform"]``/``attrs["crs"]`` (imgstats' :func:`open_image`), else
    from the grid mapping coordinate and the ``x``/``y`` coordinates (rioxarray's), see the
    module docstring.
    """
    from affine import Affine

    height, width = _height_width(arr)
    attrs = dict(getattr(arr, "attrs", {}) or {})
    if attrs.get("transform") is not None:
        transform = Affine(*[float(v) for v in attrs["transform"][:6]])
        _check_not_cut(transform, attrs.get("bounds"), width, height)
        return _found(transform, epsg_of(attrs.get("crs")), width, height)
    mapping = _grid_mapping(arr, attrs)
    crs = None
    gdal = None
    if mapping is not None:
        crs = mapping.get("crs_wkt") or mapping.get("spatial_ref")
        gdal = _geotransform(mapping.get("GeoTransform"))
    if crs is None:
        crs = attrs.get("crs")
    epsg = epsg_of(crs)
    cached = None if gdal is None else Affine.from_gdal(*gdal)
    if cached is not None and (cached.b != 0 or cached.d != 0):
        return _found(cached, epsg, width, height)  # rotated: as it is
    pair = spatial_dims(getattr(arr, "dims", ())) or ("y", "x")
    xs, ys = _centres(arr, pair[1]), _centres(arr, pair[0])
    if xs is None or ys is None:
        if cached is None:
            return None
        return _found(cached, epsg, width, height)
    size_x = _pixel_size(xs, None if cached is None else cached.a)
    size_y = _pixel_size(ys, None if cached is None else cached.e)
    if size_x is None or size_y is None:
        return None
    transform = Affine(size_x, 0.0, xs[0] - size_x / 2, 0.0, size_y, ys[0] - size_y / 2)
    return _found(transform, epsg, width, height, from_coords=cached is None)


def _check_not_cut(transform, bounds, width: int, height: int) -> None:
    """Refuse attrs that describe a larger raster than the array: ``open_image``'s
    ``transform`` and ``bounds`` stay as they are when the array is sliced
    (``img.isel(x=slice(40, 80))``), and would place map coordinates 40 pixels off."""
    from ..errors import InvalidOption

    if bounds is None or transform.b != 0 or transform.d != 0:
        return
    try:
        left, bottom, right, top = (float(v) for v in bounds)
    except (TypeError, ValueError):
        return
    whole = (round((top - bottom) / abs(transform.e)), round((right - left) / abs(transform.a)))
    if whole != (height, width):
        raise InvalidOption(
            f"the array's transform and bounds attrs are of a {whole[1]} x {whole[0]} raster, "
            f"the array is {width} x {height}: a slice keeps the attrs of the whole and they "
            "no longer say where it lies (select a region with bbox=, geometry= or window= "
            "on the whole array, or give the slice its own transform attr)"
        )


def _found(transform, epsg, width, height, from_coords=False) -> tuple | None:
    """The fields of a Georeference, ``None`` for a transform of no finite, invertible map."""
    if not all(math.isfinite(v) for v in transform[:6]) or transform.determinant == 0:
        return None
    return (transform, epsg, width, height, from_coords)


def _height_width(arr) -> tuple[int, int]:
    sizes = dict(getattr(arr, "sizes", {}) or {})
    pair = spatial_dims(sizes)
    if pair is not None:
        return int(sizes[pair[0]]), int(sizes[pair[1]])
    shape = getattr(arr, "shape", (0, 0))
    return int(shape[0]), int(shape[1])


def _grid_mapping(arr, attrs: dict) -> dict | None:
    """The attrs of ``arr``'s grid mapping coordinate, or ``None``."""
    coords = getattr(arr, "coords", {})
    encoding = getattr(arr, "encoding", {}) or {}
    name = encoding.get("grid_mapping") or attrs.get("grid_mapping") or "spatial_ref"
    if not isinstance(name, str) or name not in coords:
        return None
    return dict(coords[name].attrs)


def _geotransform(text) -> tuple | None:
    """GDAL's six numbers ``c a b f d e`` of a ``GeoTransform`` attr (a string or numbers)."""
    if text is None:
        return None
    try:
        values = [float(v) for v in (text.split() if isinstance(text, str) else text)]
    except (TypeError, ValueError):
        return None
    return tuple(values) if len(values) == 6 else None


def _centres(arr, dim: str) -> np.ndarray | None:
    """The float64 values of ``arr``'s 1-D numeric coordinate along ``dim``, or ``None``."""
    if dim not in getattr(arr, "dims", ()) or dim not in arr.coords:
        return None
    coord = arr.coords[dim]
    if coord.dims != (dim,) or coord.dtype.kind not in "iuf":
        return None
    values = np.asarray(coord.values, np.float64)
    return values if values.size and np.isfinite(values).all() else None


def _pixel_size(centres: np.ndarray, cached: float | None) -> float | None:
    """The pixel size along a coordinate: ``cached`` (the GeoTransform's) when the centres'
    even spacing agrees with it or there is one centre, else the spacing; ``None`` when the
    centres are not evenly spaced or one centre is all there is to go by."""
    if centres.size == 1:
        return cached
    steps = np.diff(centres)
    step = (centres[-1] - centres[0]) / (centres.size - 1)
    if step == 0 or not np.allclose(steps, step, rtol=1e-6, atol=0):
        return None
    if cached is not None and abs(cached - step) <= _SAME_SIZE * abs(step) * centres.size:
        return cached
    return float(step)
