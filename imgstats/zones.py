"""Zonal statistics: exact statistics per label of a label image, or per polygon of a layer.

``imgstats.zonal(source, zones, funcs)`` walks the image once, block by block (row strips of a
numpy array on every core, the chunks of a dask array on any scheduler), gives every sample
the id of its zone, and hands (values, validity, zone id) to the grouped core
(:mod:`imgstats.grouped`). One row per zone comes back, equal to what
``imgstats.compute(source, funcs, mask=zone)`` gives for that zone alone.

Zones
-----
* A **label image**: integers of the image's ``(y, x)`` shape (numpy, dask, xarray, or the
  path or URL of a label raster). Every label except ``background`` (0 by default; ``None``
  keeps every label) is a zone; zones are the labels present, in increasing order.
* **Polygons** in pixel coordinates (or, with ``crs=``, in map coordinates placed by the
  image's georeferencing, reprojected with pyproj when another CRS is named): a GeoJSON
  FeatureCollection (a dict, or the path of a
  ``.geojson`` / ``.json`` file), one Feature or geometry, or a list of geometries or
  Features. Polygon and MultiPolygon geometries count. A pixel belongs to a polygon when its
  centre ``(x + 0.5, y + 0.5)`` lies inside (even-odd rule, holes subtracted), as
  ``polygon=`` of :func:`imgstats.compute`. Overlapping polygons each get their samples.
  A zone's id is the feature's ``id`` when every feature has one, else its position in the
  list, or the property named by ``id_property``. A FeatureCollection that names its CRS in
  a ``crs`` member (GeoJSON 2008's, which GDAL and QGIS write) is in that CRS when ``crs=``
  is not given: its coordinates are not pixels.
  Rasterization is per block, every feature touching the block at once (one scanline pass,
  :mod:`imgstats._raster`): memory follows the block, never a polygon's bounding box.

Validity
--------
A zone counts the samples :func:`imgstats.compute` counts: not NaN, and GDAL's valid
samples -- a dataset mask (internal or ``.msk`` sidecar), else nodata, else alpha (alpha-0
pixels out, the alpha band never pooled). ``raw=True`` counts every pixel (alpha still
not pooled, as :func:`compute`).

Bad input
---------
A bad feature (an unknown type, non-finite or huge coordinates, a degenerate ring, too
many vertices) refuses the whole call with :class:`~imgstats.errors.InvalidOption`
naming the feature's index: no answer is silently lost or partial.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._blocks import merge_refinements, refine_block
from ._inputs import a_type, as_array, cf_decoded, native, unknown_shape, yx_first
from .errors import InvalidOption, UnreadableImage
from .grouped import (
    Groups,
    few_zones,
    group_labels,
    group_runs,
    label_select,
    label_statistics,
    merge_groups,
    read_groups,
)
from .summary import collect_limit, pooled_bands

__all__ = [
    "zonal",
    "MAX_ZONES",
    "LABEL_RULE",
    "MAX_FEATURES",
    "parse_polygons",
    "PolygonLayer",
    "map_to_pixels",
    "declared_crs",
]

#: What a label image's zones are, in the key of the service's cached answers of a label
#: raster: an answer from before its nodata and masked pixels were no zone is not served.
LABEL_RULE = "unlabelled-no-zone"

#: The most zones a call may have (labels present, or features); ``max_zones=`` overrides it.
MAX_ZONES = 10_000_000
#: The most features of a polygon layer.
MAX_FEATURES = 1_000_000
#: The largest absolute pixel coordinate of a polygon vertex.
MAX_COORDINATE = 2.0**31
#: The most vertices of a whole layer.
MAX_LAYER_VERTICES = 10_000_000
#: Pixels per row strip of a numpy image (a block of the walk); polygons are rasterized per
#: strip, so their temporaries (about 60 bytes per selected pixel) follow this, not the image.
_STRIP_PIXELS = 1 << 22
_POLYGON_STRIP_PIXELS = 1 << 20


#: The keywords of :func:`zonal` itself, for the hint of a typo.
_ZONAL_OPTIONS = ("band", "background", "id_property", "crs", "max_zones", "scheduler")


def zonal(
    source,
    zones,
    funcs,
    *,
    band=None,
    background=0,
    id_property=None,
    crs=None,
    max_zones: int | None = None,
    scheduler=None,
    **io_options,
):
    """Exact statistics of every zone of an image.

    Parameters
    ----------
    source
        The image: anything :func:`imgstats.compute` takes (array, DataArray, path, URL).
    zones
        A label image of the image's ``(y, x)`` shape (numpy, dask, xarray, or a path or URL
        of a label raster), or polygons in pixel coordinates (a GeoJSON FeatureCollection
        dict, the path of a ``.geojson`` file, one Feature or geometry, or a list of
        geometries or Features -- also a 1-d numpy array or pandas Series of them, as
        shapely 2's vectorized functions give; objects with ``__geo_interface__``, such as
        shapely geometries and geopandas frames, by their GeoJSON). See the module's notes.
    funcs : str or list of str
        ``min``, ``max``, ``mean``, ``median`` or ``pXXX``.
    band : None, int or str
        ``None``: every sample of every band (as :func:`imgstats.compute`); a band index or
        name: that band's samples.
    background : int or None
        The label that is no zone (label images only); ``None``: every label is a zone.
    id_property : str, optional
        Polygons only: the property holding each feature's zone id.
    crs : str, optional
        Polygons only: the coordinates' reference system. ``None`` (the default): the CRS a
        FeatureCollection names in its ``crs`` member (see :func:`declared_crs`), else pixel
        coordinates, which need no georeferencing. ``"raster"``: map coordinates in the
        image's own CRS, placed by its GeoTIFF transform (``affine``). Any other
        (``"EPSG:4326"``, ``"OGC:CRS84"`` for RFC 7946 GeoJSON in lon/lat): reprojected to
        the image's CRS with pyproj (the ``geo`` extra), always in x, y (lon, lat) order.
        A GeoDataFrame's or GeoSeries' own CRS is its coordinates': a ``crs=`` naming
        another is refused.
    max_zones : int, optional
        The most zones allowed (default :data:`MAX_ZONES`).
    scheduler : optional
        A dask scheduler for dask inputs (by default the active one).
    **io_options
        ``chunks``, ``pixel_limit``, ``storage_options``, ``page`` for opening paths.

    Returns
    -------
    pandas.DataFrame
        One row per zone (index named ``zone``), one column per function as named plus
        ``count``, the zone's valid samples. A zone with no valid sample has count 0 and NaN.
        min and max keep the image's type when no zone is empty; percentiles equal
        ``numpy.percentile`` (linear) of the zone's valid samples, the mean is exact, rounded
        once to float64.

    Raises
    ------
    UnknownFunction
        A bad function name.
    InvalidOption
        Zones of another shape, float labels not whole, a bad ``background``, more zones than
        ``max_zones``, a bad feature (with its index), a band the image lacks.

    Examples
    --------
    >>> import numpy as np, imgstats
    >>> img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> labels = np.repeat([[1, 1, 2, 2]], 4, axis=0)
    >>> imgstats.zonal(img, labels, ["min", "median"])
          min  median  count
    zone
    1       0     6.5      8
    2       2     8.5      8
    """
    from .io._plan import check_io_options

    check_io_options(io_options, "zonal", _ZONAL_OPTIONS)
    from .functions import parse_function

    names = [funcs] if isinstance(funcs, str) else list(funcs)
    if not names:
        raise InvalidOption("zonal needs at least one function")
    parsed = [parse_function(f) for f in names]
    other = [f.name for f in parsed if f.kind not in _ZONAL_KINDS]
    if other:
        raise InvalidOption(
            f"zonal statistics offer min, max, mean, median, pXXX and count, not {', '.join(other)}"
        )
    other = [f.name for f in parsed if f.method != "linear" or f.scaled]
    if other:  # a Function of with_method or with_scaled: zones read names, as numpy's linear
        raise InvalidOption(
            f"zonal statistics are of the stored values, percentiles by numpy's linear method: "
            f"{', '.join(other)} asks for another method or for scaled values"
        )
    # count is always a column: asking for it adds nothing
    names = list(dict.fromkeys(f.name for f in parsed if f.kind != "count"))
    limit = _max_zones(max_zones)
    from ._shapely import ShapelyLayer, shapely_layer

    # shapely geometries read whole (shapely 2's vectorized functions); other geometries,
    # geopandas frames and series of them, fiona features: their GeoJSON
    zones = shapely_layer(zones, id_property) or getattr(zones, "__geo_interface__", zones)
    if getattr(getattr(zones, "dtype", None), "kind", None) == "O" and np.ndim(zones) == 1:
        zones = list(zones)  # shapely 2's vectorized geometries, a Series of them: a list
    if _is_geojson_path(zones):  # read here: its crs member says what its coordinates are
        zones = _read_geojson(zones, io_options)
    source, zones = cf_decoded(source, io_options), cf_decoded(zones)  # as xarray decodes
    values, dtype, nb, nodata, valid, claim, half = _values(source, band, scheduler, io_options)
    height, width = int(values.shape[0]), int(values.shape[1])
    to_pixels = None
    declared = declared_crs(zones)
    # a frame's crs is its own (geopandas' set_crs refuses to replace it); a crs member, GDAL's
    # -s_srs overrides
    frame_crs = declared if isinstance(zones, ShapelyLayer) else None
    if crs is None:
        crs = declared
    if crs is not None:
        if not _is_polygons(zones):
            raise InvalidOption("crs= applies to polygons, not to label images")
        to_pixels = map_to_pixels(source, crs, io_options, frame_crs=frame_crs)
    elif not _is_polygons(zones):
        try:
            zones = align_labels(source, zones)
        except InvalidOption:
            check_same_grid(source, zones, io_options)  # in a grid's words, when both have one
            raise
        check_same_grid(source, zones, io_options)
    layout = _zones(zones, height, width, background, id_property, limit, io_options, to_pixels)
    walk = _Walk(values, layout, nb, scheduler, valid)
    found = _label_histograms(walk, names, nodata) if layout.kind == "labels" else None
    if found is not None:
        zone_ids, counts, cols = found
        _check_label_zones(zone_ids.size, limit)
        return _frame(layout, zone_ids, counts, cols, names, dtype, claim)
    groups = walk.map_reduce(_group_block, merge_groups, nodata)
    if groups is None:
        groups = Groups.empty(dtype)
    if layout.kind == "labels":
        _check_label_zones(groups.zones.size, limit)

    def refine(wanted):
        return walk.map_reduce(_refine_block, _merge_found, wanted, dtype, nodata)

    counts, cols = read_groups(groups, names, refine, in_place=True, half=half)
    return _frame(layout, groups.zones, counts, cols, names, dtype, claim)


#: The kinds of function a zone answers (the grouped core reads these from sorted keys).
_ZONAL_KINDS = frozenset({"min", "max", "mean", "percentile", "count"})


def _max_zones(max_zones) -> int:
    """The ``max_zones`` option as an int (``None``: :data:`MAX_ZONES`), else InvalidOption."""
    if max_zones is None:
        return MAX_ZONES
    if isinstance(max_zones, bool) or not isinstance(max_zones, numbers.Integral):
        raise InvalidOption(f"max_zones must be a whole number, not {max_zones!r}")
    return int(max_zones)


# -- the image ---------------------------------------------------------------------------------
def _values(source, band, scheduler, io_options):
    """``(samples, dtype, bands, nodata, valid, claim, half)``: the image's samples as a
    numpy or dask array ``(y, x[, band])``, the band selected, the value that is no sample
    (``None``: none), the pixels that count by the dataset's mask or alpha (a ``(y, x)`` bool
    numpy or dask array; ``(y, x, band)`` samples for a masked array; ``None``: all), what
    decided that (:meth:`~imgstats.io.ReadPlan.valid_samples`), and whether they are a
    float16 array's (:attr:`~imgstats.io.ReadPlan.half`).

    The zones honour what :func:`compute` honours, in GDAL's order: a dataset mask (an
    internal mask page or a ``.msk`` sidecar), else the nodata value (the file's, or
    ``nodata=``), else an alpha band (pixels of alpha 0 do not count, and the alpha band is
    not pooled with the colour bands). ``raw=True`` counts every sample.
    """
    from .io._plan import is_local, open_plan

    plan = open_plan(source, local=is_local(scheduler), **io_options)
    if len(plan.shape) not in (2, 3):
        raise InvalidOption(
            f"zonal statistics need a 2-D or 3-D image (y, x[, band]), not shape {plan.shape}"
        )
    arr, kept = _unmasked(plan.array())
    valid = _pixel_validity(plan, arr)
    alpha = None if plan.valid is None else plan.valid.alpha
    colour = None  # the bands "all" pools: never alpha (also one that masks nothing)
    if arr.ndim == 3 and not (pooled := pooled_bands(arr.shape[2], plan.band_names)).all():
        colour = np.flatnonzero(pooled).tolist()
    if band is not None:
        from .summary import BandStats, Summary

        if band == "luma":  # before the probe, whose empty bands have no luma to ask for
            raise InvalidOption("zonal statistics of the luma are not supported: pick a band")
        names = plan.band_names
        probe = Summary(tuple(BandStats.empty(np.uint8) for _ in names), names)
        read = [int(probe.selection(band)[1:])]
        nodata = _zonal_nodata(plan, read[0])
        if arr.ndim == 3:
            index = read[0]
            if index == alpha:
                valid = None  # GDAL gives an alpha band no mask of its own
            arr = arr[:, :, index]
            kept = None if kept is None else kept[:, :, index]
    else:
        read = colour if colour is not None else list(range(len(plan.band_names)))
        nodata = _pooled_nodata(plan, read)
    if band is None and colour is not None:
        arr = arr[:, :, colour]  # "all" pools the colour bands, never alpha
        kept = None if kept is None else kept[:, :, colour]
    nb = arr.shape[2] if arr.ndim == 3 else 1
    if kept is not None:  # per sample: (y, x[, band]), the pixels' validity in each band
        valid = kept if valid is None else kept & (valid[..., None] if kept.ndim == 3 else valid)
    # the rule of the bands read: none for the alpha band alone, its own for a band of an
    # image whose bands each have their own nodata
    claim = plan.valid_samples().of_bands(read, alpha)
    return arr, np.dtype(plan.dtype), nb, nodata, valid, claim, plan.half


def _unmasked(arr):
    """``(samples, unmasked samples or None)`` of a numpy or dask masked array (rasterio's
    ``read(masked=True)``), whose masked samples do not count, as in :func:`compute`."""
    if isinstance(arr, np.ma.MaskedArray):
        return np.ma.getdata(arr), ~np.ma.getmaskarray(arr)
    if isinstance(getattr(arr, "_meta", None), np.ma.MaskedArray):
        import dask.array as da

        return da.ma.getdata(arr), ~da.ma.getmaskarray(arr)
    return arr, None


def _pixel_validity(plan, arr):
    """The ``(y, x)`` pixels kept by the dataset mask and alpha, or ``None``."""
    valid = plan.dataset_mask()
    alpha = None if plan.valid is None else plan.valid.alpha
    if alpha is not None and arr.ndim == 3:
        opaque = arr[..., alpha] != 0
        valid = opaque if valid is None else opaque & valid
    if valid is not None and not isinstance(valid, np.ndarray) and isinstance(arr, np.ndarray):
        valid = np.asarray(valid)
    return valid


def _pooled_nodata(plan, bands):
    """The one nodata value of the ``bands`` pooled (:func:`_zonal_nodata`), or
    ``None``.

    Raises
    ------
    UnreadableImage
        The bands have different nodata values (each its own, from an ``.aux.xml``): the
        zones take one value over the samples pooled.
    """
    each = {_zonal_nodata(plan, b) for b in bands}
    if len(each) > 1:
        from .io._sources import describe

        said = ", ".join(
            "none" if (v := plan.valid.nodata_of(b)) is None else str(v) for b in bands
        )
        raise UnreadableImage(
            f"{describe(plan.source or 'the image')}: its bands have different nodata values "
            f"({said}), which zonal statistics do not apply over every band: ask for one "
            "band, or pass one nodata= value, or raw=True"
        )
    return each.pop() if each else None


def _zonal_nodata(plan, band: int = 0):
    """The nodata value of ``plan``'s band ``band`` as its samples hold it, or ``None``."""
    valid = plan.valid
    if valid is None or valid.nodata_of(band) is None:
        return None
    nd = valid._typed_nodata(np.dtype(plan.dtype), band)
    if nd is None or (isinstance(nd, float | np.floating) and np.isnan(nd)):
        return None  # no sample can equal it, or it is NaN, which never counts anyway
    return nd


# -- the zones ---------------------------------------------------------------------------------
class PolygonLayer:
    """A checked polygon layer (:func:`parse_polygons`), which :func:`zonal` takes as zones
    without checking it again (the web service checks a body before it reads any pixel)."""

    def __init__(self, layer, ids):
        self.layer = layer
        self.ids = ids

    @classmethod
    def parse(cls, zones, id_property=None, to_pixels=None) -> PolygonLayer:
        """Check a layer as the service takes one: at most
        :data:`imgstats.regions.MAX_POLYGON_VERTICES` vertices a polygon (the library's
        :func:`zonal` takes polygons of any size up to :data:`MAX_LAYER_VERTICES`)."""
        from .regions import MAX_POLYGON_VERTICES

        return cls(*parse_polygons(zones, id_property, to_pixels, MAX_POLYGON_VERTICES))


class _Layout:
    """What gives each pixel its zones: a label image, or polygons (rings per feature)."""

    def __init__(self, kind, labels=None, background=None, features=None, ids=None, unsigned=False):
        self.kind = kind
        self.labels = labels
        self.background = background
        self.layer = features  # a _raster.Layer of the polygons
        self.ids = ids
        self.unsigned = unsigned  # uint64 labels, shifted to int64 (see _shifted)


def _is_polygons(zones) -> bool:
    from ._shapely import ShapelyLayer

    if isinstance(zones, (str, os.PathLike)):
        return _is_geojson_path(zones)
    return isinstance(zones, (PolygonLayer, ShapelyLayer, dict, list, tuple))


def _is_geojson_path(zones) -> bool:
    return isinstance(zones, (str, os.PathLike)) and str(zones).lower().endswith(
        (".geojson", ".json")
    )


def declared_crs(zones) -> str | None:
    """The CRS a GeoJSON FeatureCollection names in its ``crs`` member (a GeoDataFrame's
    or GeoSeries' ``crs``, read whole as a :class:`~imgstats._shapely.ShapelyLayer`), else
    ``None``.

    GeoJSON 2008's member, which GDAL and QGIS still write:
    ``{"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32633"}}``. Such a
    layer's coordinates are in that CRS, not pixels: read as pixels, they fell outside the
    image (every zone empty), or inside it and answered for the wrong pixels.

    Raises
    ------
    InvalidOption
        A ``crs`` member that names no CRS (a linked CRS, a malformed member).
    """
    from ._shapely import ShapelyLayer

    if isinstance(zones, ShapelyLayer):
        return zones.crs_name()
    member = zones.get("crs") if isinstance(zones, dict) else None
    if member is None:
        return None
    name = member  # a bare name, as some writers put it
    if isinstance(member, dict):
        properties = member.get("properties") if member.get("type") == "name" else None
        name = properties.get("name") if isinstance(properties, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise InvalidOption(
            f"the FeatureCollection's crs member {json.dumps(member)[:100]} names no CRS: "
            'use {"type": "name", "properties": {"name": "EPSG:..."}}, or give crs='
        )
    return name


def map_to_pixels(source, crs, io_options=None, frame_crs=None):
    """A function ``(n, 2) map coordinates -> (n, 2) pixel coordinates`` for ``source``.

    ``crs`` is ``"raster"`` (the image's own CRS) or any CRS pyproj knows, reprojected to
    the image's (see :func:`zonal`). Pixel ``(col, row)`` is that of the pixels' corners, so
    a pixel's centre is ``(col + 0.5, row + 0.5)`` as for pixel coordinates. ``frame_crs``
    is the CRS a GeoDataFrame or GeoSeries of the coordinates names, which ``crs`` must not
    contradict.

    Raises
    ------
    InvalidOption
        The image has no georeferencing, the CRS is unknown, pyproj is missing, ``crs``
        names another CRS than ``frame_crs``.
    """
    from .io._geo import _same_crs, georeference_of, map_to_pixel_coefficients, transformer

    if not isinstance(crs, str) or not crs.strip():
        raise InvalidOption(f"crs must be a CRS name such as 'EPSG:4326' or 'raster', not {crs!r}")
    options = {k: v for k, v in (io_options or {}).items() if k in ("page", "storage_options")}
    geo = georeference_of(source, options)
    if geo is None:
        raise InvalidOption(
            f"the image has no georeferencing: polygons in {crs} cannot be placed on it "
            "(give pixel coordinates, with no crs=, no crs member and a GeoDataFrame of no "
            "CRS: gdf.set_crs(None, allow_override=True))"
        )
    if crs.strip().lower() == "raster":
        crs = None
    if frame_crs is not None:
        _check_frame_crs(frame_crs, crs, geo.epsg)
    project = None if _same_crs(crs, geo.epsg) else transformer(crs, geo.epsg)
    c, a, b, f, d, e = map_to_pixel_coefficients(geo.transform)

    def to_pixels(pts: np.ndarray) -> np.ndarray:
        xs, ys = pts[:, 0], pts[:, 1]
        if project is not None:
            with np.errstate(all="ignore"):
                xs, ys = project(xs, ys)
            xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
        # GDAL's expression (c + x a + y b), element by element, as rasterio places them
        return np.column_stack((c + xs * a + ys * b, f + xs * d + ys * e))

    t = geo.transform
    to_pixels.map_axes = (t.a, t.b, t.d, t.e)  # which way is map north: see Layer
    return to_pixels


def _check_frame_crs(frame_crs: str, crs: str | None, epsg: int | None) -> None:
    """Refuse ``crs=`` (``None``: the image's own CRS, EPSG ``epsg``) that names another CRS
    than the frame's: lon/lat read as metres fell off the image, every zone count 0."""
    said = f"EPSG:{epsg}" if crs is None else crs
    if crs is None and epsg is None:
        return  # the image's CRS is unknown: nothing to contradict, the caller is trusted
    if _crs_equal(frame_crs, said):
        return
    which = "crs='raster' says the image's" if crs is None else f"crs={crs!r} says"
    raise InvalidOption(
        f"the GeoDataFrame (or GeoSeries) is in {frame_crs}, but {which} {said}: leave out "
        f"crs= to reproject it from its own CRS, or, if its coordinates really are in {said}, "
        f"say so with gdf.set_crs({said!r}, allow_override=True) (for pixel coordinates, "
        "set_crs(None, allow_override=True) and no crs=)"
    )


def _crs_equal(a: str, b: str) -> bool:
    """Whether two CRS names are one CRS (axis order aside: coordinates are always x, y)."""
    try:
        from pyproj import CRS
        from pyproj.exceptions import CRSError
    except ImportError:  # no pyproj: reprojection will say so; only equal names are one CRS
        return a.strip().upper() == b.strip().upper()
    try:
        return CRS.from_user_input(a).equals(CRS.from_user_input(b), ignore_axis_order=True)
    except (CRSError, TypeError, ValueError):
        raise InvalidOption(f"unknown CRS {b!r}: use e.g. 'EPSG:4326'") from None


#: How far (in the image's pixels) a label raster's corners may lie from the image's.
GRID_TOLERANCE = 1e-6

#: How far (in the image's pixels) a label coordinate's value may lie from the image's it
#: stands for: float32 latitudes of a 0.1-degree grid are some 2e-5 pixels off float64's.
COORD_TOLERANCE = 1e-3


def align_labels(source, zones):
    """A label DataArray whose row or column coordinate holds the image DataArray's values
    in another order (``lat`` ascending where the image's ``y`` descends, as a netCDF grid
    beside a GeoTIFF) reordered to the image's, as xarray aligns two arrays by their
    coordinates (each value within :data:`COORD_TOLERANCE` of a pixel of one of the image's:
    ``np.linspace`` of a netCDF's latitudes, or float32 ones, and a GeoTIFF's
    ``f + e (row + 0.5)`` differ in the last bits); else ``zones`` as given. Matched by
    position, such labels answered for the mirrored pixels, silently.

    Raises
    ------
    InvalidOption
        A label coordinate of other values than the image's (shifted by more than
        :data:`COORD_TOLERANCE` of a pixel, or holding one twice), as ``xarray.align(...,
        join="exact")`` refuses it, naming the dim and its first value that does not match;
        pixel indices (``0 .. n - 1``) on either side are positions, matched pixel by pixel.
    """
    from ._inputs import spatial_dims
    from ._lazy import is_instance

    if not (
        is_instance(source, "xarray", "DataArray") and is_instance(zones, "xarray", "DataArray")
    ):
        return zones
    image_dims, label_dims = spatial_dims(source.dims), spatial_dims(zones.dims)
    if image_dims is None or label_dims is None:
        return zones
    for image_dim, label_dim in zip(image_dims, label_dims, strict=True):
        if image_dim not in source.coords or label_dim not in zones.coords:
            continue
        want = np.asarray(source[image_dim].values)
        have = np.asarray(zones[label_dim].values)
        if want.shape != have.shape or have.dtype.kind not in "iuf" or np.array_equal(want, have):
            continue
        at = _nearest(have, want)
        if at is not None:
            zones = zones.isel({label_dim: at})
        elif want.size > 1 and want.dtype.kind in "iuf":
            if not (_pixel_indices(have) or _pixel_indices(want)):
                raise InvalidOption(_misaligned(image_dim, label_dim, have, want))
    return zones


def _pixel_indices(values: np.ndarray) -> bool:
    """Whether a coordinate is ``0, 1, ..., n - 1``: pixel indices, which say the position."""
    return bool(np.array_equal(values, np.arange(values.size)))


def _misaligned(image_dim: str, label_dim: str, have: np.ndarray, want: np.ndarray) -> str:
    """Why label coordinate ``have`` does not align with the image's ``want`` (xarray's
    ``join="exact"`` refuses them too), naming the first label value that does not match."""
    named = label_dim if label_dim == image_dim else f"{label_dim} (the image's {image_dim})"
    have64, want64 = have.astype(np.float64), np.sort(want.astype(np.float64))
    step = np.diff(want64).min()
    seen: dict = {}
    shown, wanted = have.tolist(), want64.tolist()  # Python numbers: no np.float64(...)
    for i, value in enumerate(have64.tolist()):
        j = int(np.clip(np.searchsorted(want64, value), 1, want64.size - 1))
        j = j - 1 if abs(want64[j - 1] - value) <= abs(want64[j] - value) else j
        off = abs(want64[j] - value) / step if step > 0 else math.inf
        if not off <= COORD_TOLERANCE:
            what = (
                f"its value {shown[i]!r} at position {i} lies {off:.3g} "
                f"pixel{'' if off == 1 else 's'} from the image's nearest, {wanted[j]!r}"
            )
            break
        if j in seen and shown[seen[j]] == shown[i]:
            what = f"it holds {shown[i]!r} twice, at positions {seen[j]} and {i}"
            break
        if j in seen:
            what = (
                f"its values at positions {seen[j]} and {i} ({shown[seen[j]]!r}, "
                f"{shown[i]!r}) stand for one pixel of the image's, {wanted[j]!r}"
            )
            break
        seen[j] = i
    else:
        what = "its values are not the image's"
    return (
        f"the labels' {named} coordinate does not match the image's: {what}. Labels are "
        "matched to pixels by their coordinates, as xarray aligns arrays: give them the "
        f"image's {image_dim} values (in any order), or none to match pixel by pixel"
    )


def _nearest(have: np.ndarray, want: np.ndarray) -> np.ndarray | None:
    """The index into ``have`` of each of ``want``'s values, when ``have`` holds them all in
    some order, each within :data:`COORD_TOLERANCE` of ``want``'s smallest step; else None."""
    if want.size < 2 or want.dtype.kind not in "iuf" or np.unique(have).size != have.size:
        return None
    have, want = have.astype(np.float64), want.astype(np.float64)  # no unsigned wrap-around
    with np.errstate(invalid="ignore"):
        step = np.diff(np.sort(want)).min()
        order = np.argsort(have, kind="stable")
        right = np.clip(np.searchsorted(have[order], want), 1, have.size - 1)
        left = right - 1
        near = np.where(
            np.abs(have[order[left]] - want) <= np.abs(have[order[right]] - want), left, right
        )
        close = np.abs(have[order[near]] - want) <= COORD_TOLERANCE * step
    if not (step > 0 and close.all() and np.unique(near).size == near.size):
        return None
    return order[near]


def check_same_grid(source, zones, io_options=None) -> None:
    """Refuse a georeferenced label raster that does not lie on the image's pixel grid.

    Labels are matched to samples pixel by pixel: a label raster of the same shape but
    shifted, of another pixel size or in another CRS gave each zone other pixels' samples,
    with no error. Only checked when both say where they lie (a GeoTIFF path or URL, or a
    DataArray with ``transform`` and ``crs`` attrs, or rioxarray's ``spatial_ref``); plain
    arrays, and DataArrays placed by ``x``/``y`` coordinates of no CRS, are taken as aligned.

    Raises
    ------
    InvalidOption
        The two transforms differ by more than :data:`GRID_TOLERANCE` of a pixel at a
        corner, or both name an EPSG code and the codes differ.
    """
    from .io._geo import georeference_of

    options = {k: v for k, v in (io_options or {}).items() if k == "storage_options"}
    labels = georeference_of(zones, options) if _georeferenced(zones) else None
    if labels is None:
        return
    options = {k: v for k, v in (io_options or {}).items() if k in ("page", "storage_options")}
    image = georeference_of(source, options) if _georeferenced(source) else None
    if image is None:
        return
    if (image.from_coords or labels.from_coords) and None in (image.epsg, labels.epsg):
        return  # x/y coordinates alone, of no CRS (often pixel indices): no claim to a place
    if image.epsg is not None and labels.epsg is not None and image.epsg != labels.epsg:
        raise InvalidOption(
            f"the label raster is in {labels.crs}, the image in {image.crs}: labels are "
            "matched pixel by pixel, so both must lie on one grid (reproject the labels)"
        )
    rel = ~image.transform @ labels.transform  # the label raster's pixels in the image's
    h, w = labels.height, labels.width
    off = max(
        math.hypot(*(np.subtract(rel @ corner, corner)))
        for corner in ((0, 0), (w, 0), (0, h), (w, h))
    )
    if not off <= GRID_TOLERANCE:
        raise InvalidOption(
            f"the label raster does not lie on the image's pixel grid (a corner is {off:.3g} "
            f"pixels away; label transform {tuple(labels.transform)[:6]}, image transform "
            f"{tuple(image.transform)[:6]}): labels are matched pixel by pixel (resample "
            "the labels onto the image's grid)"
        )


def _georeferenced(data) -> bool:
    """Whether :func:`georeference_of` can say where ``data`` lies without reading pixels:
    a path or URL, or a DataArray (by its attrs)."""
    from ._lazy import is_instance

    return isinstance(data, (str, os.PathLike)) or is_instance(data, "xarray", "DataArray")


def _zones(
    zones, height, width, background, id_property, limit, io_options, to_pixels=None
) -> _Layout:
    if isinstance(zones, PolygonLayer):
        if to_pixels is not None:
            raise InvalidOption("a checked PolygonLayer is in pixels already: crs= is not taken")
        if zones.layer.size > limit:
            raise InvalidOption(f"{zones.layer.size} features, more than the limit {limit}")
        return _Layout("polygons", features=zones.layer, ids=zones.ids)
    if _is_polygons(zones):
        if background not in (0, None):
            raise InvalidOption("background= applies to label images, not to polygons")
        layer, ids = parse_polygons(zones, id_property, to_pixels)
        if layer.size > limit:
            raise InvalidOption(f"{layer.size} features, more than the limit {limit}")
        return _Layout("polygons", features=layer, ids=ids)
    if id_property is not None:
        raise InvalidOption("id_property= applies to polygons, not to label images")
    if background is not None and (
        isinstance(background, bool) or not isinstance(background, numbers.Integral)
    ):
        raise InvalidOption(f"background must be an integer label or None, not {background!r}")
    labels, background, unsigned = _label_array(zones, io_options, background)
    if tuple(labels.shape) != (height, width):
        raise InvalidOption(
            f"the label image's shape {tuple(labels.shape)} is not the image's (y, x) shape "
            f"{(height, width)}"
        )
    return _Layout("labels", labels=labels, background=background, unsigned=unsigned)


def _label_array(zones, io_options, background):
    """``(labels, background, unsigned)``: a label image as an integer numpy or dask
    ``(y, x)`` array, the label that is no zone, and whether they are uint64 labels shifted
    to int64 (:func:`_shifted`; the zone ids are read back by :func:`unshifted_ids`).

    A palette label raster (a land-cover GeoTIFF, say) is read by its class indices, as GDAL
    reads it, not by the colours of its legend.

    The pixels that hold no label -- a label raster's nodata value (``GDAL_NODATA``, a
    DataArray's ``attrs``), its internal mask or ``.msk`` sidecar, a masked array's masked
    pixels -- are no zone, as GDAL reads the raster: they are given the background label
    (one no pixel holds, below the labels' range, when ``background`` is ``None``).
    """
    from ._lazy import is_instance

    if isinstance(zones, (str, os.PathLike)):
        from .io import open_image

        opts = {k: v for k, v in io_options.items() if k in ("storage_options", "pixel_limit")}
        path, zones = zones, open_image(zones, **opts)
        if zones.attrs.get("photometric") == "palette" or zones.attrs.get("mode") in ("P", "PA"):
            zones = open_image(path, palette="index", **opts)  # a class raster's classes
    source = zones  # what says which pixels hold no label
    if is_instance(zones, "xarray", "DataArray"):
        zones = yx_first(zones).data
    if not is_instance(zones, "dask.array", "Array"):
        zones = as_array(zones, "a label image")
    elif unknown_shape(zones):  # a boolean index's rows: counted, as an image's are
        zones = zones.compute_chunk_sizes()
    if zones.ndim != 2:
        raise InvalidOption(f"a label image has dims (y, x), not shape {tuple(zones.shape)}")
    dtype = np.dtype(zones.dtype)
    not_a_number = None
    if dtype.kind == "f":
        zones, not_a_number = _whole_labels(zones)
    elif dtype.kind not in "ui":
        raise InvalidOption(f"labels must be integers, not {dtype}")
    unsigned = dtype == np.uint64
    if unsigned:  # ids up to 2**64 - 1 (S2 cells, hashes), as int64 in the same order
        zones, background = _shifted(zones), _shifted_background(background)
    unlabelled = _unlabelled(source)
    if not_a_number is not None:
        unlabelled = not_a_number if unlabelled is None else unlabelled | not_a_number
    if unlabelled is not None:
        lowest = "0 (of uint64 labels)" if unsigned else "-2**63"
        zones, background = _as_background(zones, unlabelled, background, lowest)
    return zones, background, unsigned


#: uint64 labels minus this are int64 labels in the same order (the top bit flipped).
_UINT64_SHIFT = 1 << 63


def _shifted(labels):
    """uint64 labels as int64, ``label - 2**63``: the order kept, every id held."""
    if isinstance(labels, np.ndarray):
        return (labels ^ np.uint64(_UINT64_SHIFT)).view(np.int64)
    return labels.map_blocks(_shifted, dtype=np.int64)


def _shifted_background(background):
    """The background label of uint64 labels, shifted as :func:`_shifted` shifts them;
    ``None`` for one no uint64 label can equal (it is then no label's)."""
    if background is None or not 0 <= background < 1 << 64:
        return None
    return int(background) - _UINT64_SHIFT


def unshifted_ids(zone_ids) -> np.ndarray:
    """The uint64 ids of zones found in shifted labels (:func:`_shifted`)."""
    return np.asarray(zone_ids, np.int64).view(np.uint64) ^ np.uint64(_UINT64_SHIFT)


def _whole_labels(zones):
    """``(int64 labels, NaN pixels or None)`` of float labels: whole numbers, NaN for no
    label, as geocube's ``make_geocube`` and ``rioxarray.open_rasterio(masked=True)`` give
    an integer label raster. A label that is not a whole number is refused."""
    if isinstance(zones, np.ndarray):
        nan = np.isnan(zones)
        out = np.empty(zones.shape, np.int64)
        rows = max(1, (1 << 20) // max(1, zones.shape[1]))  # strips: temporaries of 8 MiB
        for y in range(0, zones.shape[0], rows):
            out[y : y + rows] = _whole_block(zones[y : y + rows], nan[y : y + rows])
        return out, (nan if nan.any() else None)
    import dask.array as da

    nan = da.isnan(zones)
    return da.map_blocks(_whole_block, zones, nan, dtype=np.int64), nan


def _whole_block(block: np.ndarray, nan: np.ndarray) -> np.ndarray:
    """One block of float labels as int64 (NaN as 0: those pixels hold no label)."""
    values = np.where(nan, 0, block)
    whole = np.isfinite(values) & (values == np.floor(values))
    whole &= (values >= -(2.0**63)) & (values < 2.0**63)
    if not whole.all():
        bad = values[~whole][0]
        raise InvalidOption(
            f"float labels must be whole numbers (NaN: no zone), not {bad.item()!r}"
        )
    return values.astype(np.int64)


def _unlabelled(source):
    """The ``(y, x)`` pixels of a label image that hold no label (numpy or dask bool), or
    ``None`` for a plain array, which has none."""
    from ._lazy import is_instance

    masked = isinstance(source, np.ma.MaskedArray) or isinstance(
        getattr(source, "_meta", None), np.ma.MaskedArray
    )
    if not masked and not is_instance(source, "xarray", "DataArray"):
        return None
    from .io._plan import open_plan

    plan = open_plan(source)
    labels, kept = _unmasked(plan.array())
    out = None if kept is None else ~kept
    mask = plan.dataset_mask()
    if mask is not None:
        out = ~mask if out is None else out | ~mask
    nodata = _zonal_nodata(plan)
    if nodata is not None:
        out = labels == nodata if out is None else out | (labels == nodata)
    return out


def _as_background(labels, unlabelled, background, lowest="-2**63"):
    """``(labels, background)`` with the ``unlabelled`` pixels given the background label;
    a background the labels' type cannot hold (or ``None``: then ``-2**63``) makes them
    int64. ``lowest`` names the label ``-2**63`` stands for in a refusal (``0`` of shifted
    uint64 labels)."""
    dtype = np.dtype(labels.dtype)
    info = np.iinfo(dtype)
    if background is None or not info.min <= background <= info.max:
        labels = labels.astype(np.int64)  # uint64 labels come shifted to int64 already
        if background is None and dtype == np.int64:
            background = np.iinfo(np.int64).min
            if isinstance(labels, np.ndarray) and isinstance(unlabelled, np.ndarray):
                labels = _free_lowest(labels, unlabelled, lowest)
            else:
                import dask.array as da

                labels = da.map_blocks(_free_lowest, labels, unlabelled, lowest, dtype=labels.dtype)
        background = np.iinfo(np.int64).min if background is None else background
    if isinstance(labels, np.ndarray) and isinstance(unlabelled, np.ndarray):
        return np.where(unlabelled, np.array(background, labels.dtype), labels), background
    import dask.array as da

    return da.where(unlabelled, np.array(background, labels.dtype), labels), background


def _free_lowest(labels: np.ndarray, unlabelled: np.ndarray, lowest="-2**63") -> np.ndarray:
    """int64 labels, refused when a labelled pixel holds ``-2**63``: with
    ``background=None`` that value marks the pixels that hold no label, and such a zone lost
    its samples to them."""
    if np.any((labels == np.iinfo(np.int64).min) & ~np.asarray(unlabelled, bool)):
        raise InvalidOption(
            f"the label {lowest} cannot be a zone of a label image with unlabelled pixels "
            "(nodata, masked) and background=None: give background= a label no pixel holds"
        )
    return labels


def _read_geojson(path, io_options):
    from .io._sources import open_source

    try:
        with open_source(path, io_options.get("storage_options")) as fh:
            text = fh.read((64 << 20) + 1)
    except FileNotFoundError:
        from .errors import ImageNotFound

        raise ImageNotFound(f"no such GeoJSON file: {path}") from None
    if len(text) > 64 << 20:
        raise InvalidOption("the GeoJSON file is over 64 MB")
    try:
        layer = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidOption(f"{path} is not valid JSON: {exc}") from None
    except RecursionError:  # json recurses per level: '[' * 100000 is a few bytes
        raise InvalidOption(f"{path} is nested too deeply to be GeoJSON") from None
    if not isinstance(layer, (dict, list)):  # else read as a label image of shape ()
        raise InvalidOption(
            f"{path} holds a JSON {type(layer).__name__}, not a GeoJSON FeatureCollection, "
            "Feature or geometry"
        )
    return layer


def parse_polygons(zones, id_property=None, to_pixels=None, max_vertices=None) -> tuple:
    """Check a polygon layer and return ``(layer, ids)``.

    ``layer`` is an :class:`imgstats._raster.Layer` (one edge table of every feature, its
    integer pixel bounding boxes not clipped), ``ids`` the zone id of each feature.
    ``to_pixels``, when given, maps an ``(n, 2)`` float64 array of ``(x, y)`` to pixel
    coordinates (map coordinates of a georeferenced image); the checks below apply to the
    pixel coordinates. ``max_vertices`` is the most vertices of one polygon (``None``:
    :data:`MAX_LAYER_VERTICES`, the layer's own limit).

    The rings of every feature are checked at once (numpy over the whole layer), so that a
    layer of thousands of small polygons costs about what reading its JSON costs.

    Raises
    ------
    InvalidOption
        The first bad feature, with its index; duplicate ids; too many features or vertices.
    """
    from ._raster import Layer
    from ._shapely import ShapelyLayer

    if isinstance(zones, ShapelyLayer):
        if len(zones) > MAX_FEATURES:
            raise InvalidOption(f"{len(zones)} features, more than the limit {MAX_FEATURES}")
        pts, lens, ring_feat, part_off, feat_off = zones.arrays()
        ids = zones.ids
        if not zones.checked:  # a column's values, not positions or an index as strings
            ids = []
            for i, zid in enumerate(zones.ids):
                try:
                    ids.append(_zone_id(zid))
                except InvalidOption as exc:
                    raise InvalidOption(f"feature {i}: {exc}") from None
        _check_vertex_counts(lens, ring_feat, part_off, max_vertices)
    else:
        pts, lens, ring_feat, part_off, feat_off, ids = _geojson_arrays(
            zones, id_property, max_vertices
        )
    _check_ids(ids)
    _first_bad(~np.isfinite(pts).all(axis=1), lens, ring_feat, "coordinates must be finite numbers")
    if to_pixels is not None and pts.size:
        pts = np.asarray(to_pixels(pts), np.float64)
        _first_bad(
            ~np.isfinite(pts).all(axis=1),
            lens,
            ring_feat,
            "a coordinate has no pixel position (outside the CRS's area of use)",
        )
    _first_bad(
        (np.abs(pts) > MAX_COORDINATE).any(axis=1),
        lens,
        ring_feat,
        f"a coordinate is beyond ±{MAX_COORDINATE:.0f} pixels",
    )
    pts, lens = _open_rings(pts, lens)
    try:
        _check_degenerate(pts, lens, ring_feat)
    except InvalidOption as exc:
        if to_pixels is None:
            raise
        # a box from -180 to 180 degrees: both sides are one meridian in most projections
        raise InvalidOption(
            f"{exc}, once reprojected onto the image's pixels (a ring that circles the "
            "globe or crosses the antimeridian collapses: split it, as RFC 7946 asks)"
        ) from None
    ring_off = np.zeros(len(lens) + 1, np.int64)
    np.cumsum(lens, out=ring_off[1:])
    part_off = np.asarray(part_off, np.int64)
    feat_off = np.asarray(feat_off, np.int64)
    bbox = _boxes(pts, ring_off, part_off, feat_off)
    axes = getattr(to_pixels, "map_axes", None)
    return Layer.from_arrays(pts, ring_off, part_off, feat_off, bbox, axes), ids


def _geojson_arrays(zones, id_property, max_vertices=None) -> tuple:
    """``(pts, lens, ring_feat, part_off, feat_off, ids)`` of a GeoJSON layer (or a list of
    geometries, Features, shapely geometries), checked feature by feature: the ``(x, y)``
    vertices, each ring's vertex count and feature, the offsets of the parts (into the
    rings) and features (into the parts), and each feature's zone id."""
    from .regions import _ring_array

    most = MAX_LAYER_VERTICES if max_vertices is None else max_vertices
    if isinstance(zones, dict):
        kind = zones.get("type")
        if kind == "FeatureCollection":
            items = zones.get("features")
            if not isinstance(items, list):
                raise InvalidOption("a FeatureCollection needs a list of 'features'")
        elif kind in ("Feature", "Polygon", "MultiPolygon"):
            items = [zones]
        else:
            raise InvalidOption(
                f"zones of GeoJSON type {kind!r}: use a FeatureCollection, a Feature, "
                "a Polygon or a MultiPolygon"
            )
    else:
        items = list(zones)
    if len(items) > MAX_FEATURES:
        raise InvalidOption(f"{len(items)} features, more than the limit {MAX_FEATURES}")
    ids = []
    rings = []  # float64 (n, 2) arrays, feature after feature, part after part
    ring_feat = []
    part_off = [0]
    feat_off = [0]
    vertices = 0
    named = (
        id_property is None
        and items
        and all(isinstance(f, dict) and f.get("type") == "Feature" and "id" in f for f in items)
    )
    for i, item in enumerate(items):
        try:
            geometry, zid = _feature(item, i, id_property, named)
            for poly in _polygons(geometry):
                n = 0
                for ring in poly:
                    pts = _ring_array(ring)
                    if pts.ndim != 2 or pts.shape[1] != 2:
                        raise InvalidOption(
                            f"a polygon is a list of [x, y] pairs of numbers, not shape {pts.shape}"
                        )
                    n += len(pts)
                    rings.append(pts)
                    ring_feat.append(i)
                if n > most:
                    raise InvalidOption(f"a polygon has more than {most} vertices")
                vertices += n
                part_off.append(len(rings))
        except InvalidOption as exc:
            raise InvalidOption(f"feature {i}: {exc}") from None
        if vertices > MAX_LAYER_VERTICES:
            raise InvalidOption(f"the layer has more than {MAX_LAYER_VERTICES} vertices")
        feat_off.append(len(part_off) - 1)
        ids.append(zid)
    lens = np.fromiter((len(r) for r in rings), np.int64, len(rings))
    pts = np.concatenate(rings) if rings else np.zeros((0, 2))
    return pts, lens, np.asarray(ring_feat, np.int64), part_off, feat_off, ids


def _check_vertex_counts(lens, ring_feat, part_off, max_vertices=None) -> None:
    """Refuse a layer read whole (shapely's) whose polygon or layer has too many vertices,
    as :func:`_geojson_arrays` refuses them feature by feature."""
    most = MAX_LAYER_VERTICES if max_vertices is None else max_vertices
    if not lens.size:
        return
    if int(lens.sum()) > MAX_LAYER_VERTICES:
        raise InvalidOption(f"the layer has more than {MAX_LAYER_VERTICES} vertices")
    per_part = np.add.reduceat(lens, np.asarray(part_off[:-1], np.int64))
    big = per_part > most
    if big.any():
        ring = int(np.asarray(part_off)[np.argmax(big)])
        raise InvalidOption(f"feature {ring_feat[ring]}: a polygon has more than {most} vertices")


def _check_ids(ids) -> None:
    if len(set(ids)) != len(ids):
        seen, dup = set(), None
        for z in ids:
            if z in seen:
                dup = z
                break
            seen.add(z)
        raise InvalidOption(f"two features have the zone id {dup!r}: ids must be distinct")


def _first_bad(bad_vertex, lens, ring_feat, message) -> None:
    """Refuse the layer at the feature of the first vertex flagged in ``bad_vertex``."""
    if bad_vertex.any():
        ring = np.searchsorted(np.cumsum(lens), np.argmax(bad_vertex), side="right")
        raise InvalidOption(f"feature {ring_feat[ring]}: {message}")


def _open_rings(pts, lens):
    """Drop each ring's closing vertex (equal to its first), as GeoJSON repeats it."""
    if not lens.size:
        return pts, lens
    ends = np.cumsum(lens) - 1
    starts = ends - lens + 1
    closed = (lens > 1) & (pts[starts] == pts[ends]).all(axis=1)
    if not closed.any():
        return pts, lens
    keep = np.ones(len(pts), bool)
    keep[ends[closed]] = False
    return pts[keep], lens - closed


def _check_degenerate(pts, lens, ring_feat) -> None:
    """Refuse the first ring whose vertices all lie on one line (or are fewer than 3
    distinct), as :func:`imgstats.regions.polygon_rings` does ring by ring."""
    if not lens.size:
        return
    ring = np.repeat(np.arange(len(lens)), lens)
    starts = np.cumsum(lens) - lens
    d = pts - pts[starts][ring]
    norm = np.abs(d).sum(axis=1)
    # the vertex farthest (in L1) from the first, the first such in its ring
    far_of = np.flatnonzero(norm == np.maximum.reduceat(norm, starts)[ring])
    far = far_of[np.searchsorted(far_of, starts)]
    fx, fy = d[far, 0][ring], d[far, 1][ring]
    cross = fx * d[:, 1] - fy * d[:, 0]
    flat = ~np.logical_or.reduceat(cross != 0, starts) | (lens < 3)
    if flat.any():
        r = int(np.argmax(flat))
        mine = np.ascontiguousarray(pts[starts[r] : starts[r] + lens[r]])
        if len(np.unique(mine.view(np.complex128))) < 3:
            why = "it needs at least 3 distinct vertices"
        else:
            why = "all its vertices lie on one line"
        raise InvalidOption(f"feature {ring_feat[r]}: degenerate polygon: {why}")


def _boxes(pts, ring_off, part_off, feat_off) -> np.ndarray:
    """Each feature's integer pixel box ``(x0, y0, x1, y1)`` from all its rings (a hole
    outside its exterior, in an invalid polygon, has pixels of its own, as rasterio fills)."""
    nfeat = len(feat_off) - 1
    out = np.zeros((nfeat, 4), np.int64)
    if not len(pts):
        return out
    starts = ring_off[:-1]
    mins = np.minimum.reduceat(pts, starts, axis=0)
    maxs = np.maximum.reduceat(pts, starts, axis=0)
    part_feat = np.repeat(np.arange(nfeat), np.diff(feat_off))
    ring_feat = np.repeat(part_feat, np.diff(part_off))
    lo = np.full((nfeat, 2), np.inf)
    hi = np.full((nfeat, 2), -np.inf)
    np.minimum.at(lo, ring_feat, mins)
    np.maximum.at(hi, ring_feat, maxs)
    located = np.diff(feat_off) > 0  # a feature of no part (null, empty) meets no block
    out[located, :2] = np.floor(lo[located])
    out[located, 2:] = np.ceil(hi[located]) + 1
    return out


def _feature(item, i, id_property, named):
    """``(geometry, zone id)`` of one item of a layer."""
    item = getattr(item, "__geo_interface__", item)  # a shapely geometry, say
    if item is None or (isinstance(item, float) and math.isnan(item)):
        return None, i  # a missing geometry (None, or pandas' NaN, in a list, array, Series)
    if not isinstance(item, dict):
        if isinstance(item, (list, tuple)):
            return {"type": "Polygon", "coordinates": [item]}, i  # a bare ring of (x, y)
        raise InvalidOption(f"not a GeoJSON object but {a_type(item)}")
    if item.get("type") != "Feature":
        return item, i
    geometry = item.get("geometry")  # null: an unlocated feature (RFC 7946), an empty zone
    if id_property is not None:
        props = item.get("properties")
        if not isinstance(props, dict) or id_property not in props:
            raise InvalidOption(f"the feature has no property {id_property!r}")
        zid = props[id_property]
    elif named:
        zid = item["id"]
    else:
        zid = i
    return geometry, _zone_id(zid)


def _zone_id(zid):
    """A feature's zone id: a string or a number, as GeoJSON's ``id`` is; numpy's integers
    and floats (a DataFrame column's) as Python's, so that ``1`` and ``np.int64(1)`` are one
    id. Booleans (equal to 0 and 1) and non-finite numbers are refused."""
    if isinstance(zid, str):
        return zid
    if isinstance(zid, numbers.Integral) and not isinstance(zid, (bool, np.bool_)):
        return int(zid)
    if isinstance(zid, numbers.Real) and not isinstance(zid, (bool, np.bool_)):
        if math.isfinite(zid):
            return float(zid)
    raise InvalidOption(f"a zone id is a string or a finite number, not {zid!r}")


def _polygons(geometry) -> list:
    """The polygons of a geometry, each a list of raw rings (not yet checked).

    A null geometry (an unlocated feature) and an empty one (``POLYGON EMPTY``, which
    shapely and GDAL write as ``"coordinates": []``) have none: the zone holds no pixel, as
    a polygon off the image.
    """
    if geometry is None:
        return []
    if not isinstance(geometry, dict):
        raise InvalidOption(f"a geometry is a GeoJSON object, not {a_type(geometry)}")
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind in ("Polygon", "MultiPolygon") and isinstance(coords, (list, tuple)) and not coords:
        return []
    if kind == "Polygon":
        polys = [coords]
    elif kind == "MultiPolygon":
        if not isinstance(coords, (list, tuple)):
            raise InvalidOption("a MultiPolygon needs a list of polygons")
        polys = coords
    else:
        raise InvalidOption(f"unsupported geometry type {kind!r}: use Polygon or MultiPolygon")
    for poly in polys:
        if not isinstance(poly, (list, tuple)) or not poly:
            raise InvalidOption("a GeoJSON Polygon needs an exterior ring")
    # an empty part (shapely's MULTIPOLYGON (EMPTY, ...), whose GeoJSON has an empty
    # exterior ring) has no pixel, as an empty geometry has none
    return [p for p in polys if not (isinstance(p[0], (list, tuple)) and not p[0])]


# -- the walk ----------------------------------------------------------------------------------
class _Walk:
    """The blocks of the image with their zones: row strips of numpy, chunks of dask."""

    def __init__(self, values, layout: _Layout, nb: int, scheduler, valid=None):
        self.values = values
        # (y, x) pixels kept by the dataset mask or alpha, (y, x, band) samples of a masked
        # array, or None
        self.valid = valid
        self.layout = layout
        self.nb = nb
        self.scheduler = scheduler
        self.dask = not isinstance(values, np.ndarray)
        if layout.kind == "labels" and not isinstance(layout.labels, np.ndarray):
            self.dask = True
        self._gathered = None  # the dask samples, once chunked for the walk

    def _boxes(self):
        """``(y0, y1, x0, x1)`` of every block."""
        h, w = self.values.shape[:2]
        if not self.dask:
            from .io._plan import workers

            if self.layout.kind == "labels":
                return [(0, h, 0, w)]  # one counting sort over the image: no merge of strips
            strip = _POLYGON_STRIP_PIXELS
            rows = max(1, min(h, strip // max(w, 1)))
            n = max(-(-h // rows), min(h, workers()) if h * w >= 1 << 20 else 1)
            cuts = np.linspace(0, h, n + 1).astype(int)
            return [
                (int(a), int(b), 0, w) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a
            ]
        chunks = self._dask_values().chunks
        ys = np.cumsum((0,) + chunks[0])
        xs = np.cumsum((0,) + chunks[1])
        return [
            (int(ys[i]), int(ys[i + 1]), int(xs[j]), int(xs[j + 1]))
            for i in range(len(ys) - 1)
            for j in range(len(xs) - 1)
        ]

    def _dask_values(self):
        """The samples as a dask array of whole pixels, its chunks the walk's blocks: on a
        local scheduler, chunks under :data:`~imgstats.io._plan.SMALL_CHUNK` samples are
        read together, as :func:`imgstats.compute` reads them (a block's task and its
        groups cost far more than its samples), into blocks of at most the pixels of a
        numpy strip."""
        if self._gathered is not None:
            return self._gathered
        import dask.array as da

        from .io._plan import _coarser, on_a_cluster

        arr = self.values
        if isinstance(arr, np.ndarray):
            labels = self.layout.labels
            arr = da.from_array(arr, chunks=labels.chunks + ((self.nb,) if arr.ndim == 3 else ()))
        if arr.ndim == 3 and arr.numblocks[2] > 1:
            arr = arr.rechunk({2: -1})
        if not on_a_cluster(self.scheduler):  # a cluster's workers read their own chunks
            strip = _STRIP_PIXELS if self.layout.kind == "labels" else _POLYGON_STRIP_PIXELS
            arr = _coarser(arr, pixels=strip)
        self._gathered = arr
        return arr

    def _zone_part(self, box):
        """What the block needs of the zones: its labels, or the features touching it."""
        y0, y1, x0, x1 = box
        if self.layout.kind == "labels":
            return ("labels", self.layout.labels[y0:y1, x0:x1], self.layout.background)
        feats = self.layout.layer.touching(y0, y1, x0, x1)
        return ("polygons", (self.layout.layer, feats), None) if feats.size else None

    def map_reduce(self, fn, merge, *args):
        boxes = self._boxes()
        if not self.dask:
            jobs = [(self._block(b), b, self._zone_part(b)) for b in boxes]
            jobs = [j for j in jobs if _has_zones(j[2])]
            if not jobs:
                return None
            if len(jobs) == 1:
                return fn(*jobs[0], self.nb, *args)
            from .io._plan import workers

            with ThreadPoolExecutor(min(len(jobs), workers())) as pool:
                parts = list(pool.map(lambda j: fn(*j, self.nb, *args), jobs))
            return merge(parts)
        return self._dask(fn, merge, boxes, args)

    def _block(self, b):
        block = self.values[b[0] : b[1], b[2] : b[3]]
        if self.valid is None:
            return block
        return _WithValid(block, np.asarray(self.valid[b[0] : b[1], b[2] : b[3]]))

    def _dask(self, fn, merge, boxes, args):
        from dask.base import tokenize

        from ._cluster import dask_compute
        from ._tree import block_keys, task, tree_reduce

        # one graph, built in time linear in the blocks (see imgstats._tree): a tree of
        # dask.delayed calls over to_delayed() blocks took time quadratic in them
        dsk: dict = {}
        arr = self._dask_values()
        vblocks = block_keys(dsk, arr)
        if arr.ndim == 3:
            vblocks = vblocks[:, :, 0]
        okblocks = None
        if self.valid is not None:
            import dask.array as da

            ok = self.valid
            chunks = arr.chunks[: ok.ndim]  # (y, x) of a pixel's validity, a sample's all 3
            if isinstance(ok, np.ndarray):
                ok = da.from_array(ok, chunks=chunks)
            else:
                ok = ok.rechunk(chunks)
            okblocks = block_keys(dsk, ok)
            if ok.ndim == 3:
                okblocks = okblocks[:, :, 0]
        labels = self.layout.labels
        lname = None
        if self.layout.kind == "labels" and not isinstance(labels, np.ndarray):
            labels = labels.rechunk(arr.chunks[:2])
            lblocks = block_keys(dsk, labels)
            lname = labels.name
        else:
            lblocks = None
        nx = arr.numblocks[1]
        tasks = []
        for k, box in enumerate(boxes):
            i, j = divmod(k, nx)
            ok = None if okblocks is None else okblocks[i, j]
            if lblocks is not None:
                work = task(_call_labels, fn, box, self.layout.background, self.nb, args)
                tasks.append((work, vblocks[i, j], lblocks[i, j], ok))
            else:
                zone = self._zone_part(box)
                if not _has_zones(zone):
                    continue
                work = task(_call, fn, box=box, zone=zone, nb=self.nb, args=args)
                tasks.append((work, vblocks[i, j], ok))
        if not tasks:
            return None
        # the name is a token of every task as it stands (each block's zones, the
        # background, the bands, the validity's keys): two questions on one client that
        # differ in any of them must not share a key, or the scheduler answers both with
        # the result of the first (a token of the image, labels and boxes alone did)
        name = "imgstats-zones-" + tokenize(arr.name, lname, fn, merge, tasks)
        leaves = [(name + "-block", k) for k in range(len(tasks))]
        dsk.update(zip(leaves, tasks, strict=True))
        result = tree_reduce(dsk, leaves, merge, name)
        return dask_compute(result, scheduler=self.scheduler)[0]


def _has_zones(zone) -> bool:
    return zone is not None


def _call(fn, block, ok=None, *, box, zone, nb, args):
    if ok is not None:
        block = _WithValid(block, ok)
    return fn(block, box, zone, nb, *args)


def _call_labels(fn, box, background, nb, args, block, labels, ok=None):
    """:func:`_call` of a block whose zones are a block of a dask label array."""
    return _call(fn, block, ok, box=box, zone=("labels", labels, background), nb=nb, args=args)


class _WithValid:
    """A block of samples with the ``(y, x)`` pixels its dataset mask or alpha keeps."""

    __slots__ = ("values", "ok")

    def __init__(self, values, ok):
        self.values = values
        self.ok = ok


def _split(block):
    """``(samples as the kernels read them, kept pixels or None)`` of a block of the walk."""
    if isinstance(block, _WithValid):
        return native(np.asarray(block.values)), np.asarray(block.ok, bool)
    return native(np.asarray(block)), None


def _sample_validity(values, ok, nb, nodata):
    """Which samples of ``values`` count: not nodata, and kept by ``ok``, of each pixel (its
    ``nb`` samples in turn) or of each sample (a masked array's); ``None``: all (NaN is the
    grouped core's to drop)."""
    from .io._valid import nodata_hits

    valid = None if nodata is None else ~nodata_hits(values, nodata).reshape(-1)
    if ok is not None:
        ok = ok.reshape(-1)
        if nb > 1 and ok.size != values.size:
            ok = np.repeat(ok, nb)
        valid = ok if valid is None else valid & ok
    return valid


def _block_samples(block, box, zone, nb, nodata=None):
    """``(values, gid, zone_ids, valid)`` of one block: every sample with its zone's index
    and whether it counts (``None``: all, NaN aside); for polygons ``gid`` is the samples of
    each zone instead, laid out zone after zone."""
    block, ok = _split(block)
    kind, data, background = zone
    if kind == "labels":
        labels = np.asarray(data)
        gid, zone_ids = _dense_labels(labels, background)
        values = block.reshape(-1)
        if nb > 1:
            gid = np.repeat(gid, nb)
        return values, gid, zone_ids, _sample_validity(values, ok, nb, nodata)
    layer, feats = data
    y0, y1, x0, x1 = box
    spans = layer.spans(feats, y0, y1, x0, x1)
    values, counts = layer.gather(block, y0, x0, spans, feats.size)
    if ok is not None:
        ok, _ = layer.gather(ok.view(np.uint8), y0, x0, spans, feats.size)
        ok = ok.view(bool)
    return values, counts, feats, _sample_validity(values, ok, nb, nodata)


def _dense_labels(labels: np.ndarray, background):
    """``(gid, zone_ids)``: each pixel's index into the block's sorted distinct labels."""
    flat = labels.reshape(-1)
    if flat.dtype == np.uint64 and flat.size and flat.max() > np.iinfo(np.int64).max:
        raise InvalidOption("labels above 2**63 - 1 are not supported")
    flat = flat.astype(np.int64, copy=False)
    if not flat.size:
        return flat, flat
    lo, hi = int(flat.min()), int(flat.max())
    if hi - lo <= 4 * flat.size + 1024:
        gid = flat - lo
        zone_ids = np.arange(lo, hi + 1, dtype=np.int64)
        if background is not None and lo <= background <= hi:
            gid = np.where(flat == background, -1, gid)
        return gid, zone_ids
    zone_ids, gid = np.unique(flat, return_inverse=True)
    gid = gid.reshape(-1).astype(np.int64)
    if background is not None:
        k = np.searchsorted(zone_ids, background)
        if k < zone_ids.size and zone_ids[k] == background:
            gid = np.where(gid == k, -1, gid)
    return gid, zone_ids


def _check_label_zones(n: int, limit: int) -> None:
    """Refuse a label image of more than ``limit`` zones (found by counting its labels)."""
    if n > limit:
        raise InvalidOption(f"the label image has {n} zones, more than the limit {limit}")


def _label_histograms(walk: _Walk, names, nodata):
    """The statistics of a numpy image's label zones in one call: 8-bit samples of a few
    zones by :func:`imgstats.grouped.label_statistics` (one histogram pass, no keys), 8- and
    16-bit ones by :func:`imgstats.grouped.label_select` (keys band by band; for many zones
    of 8-bit samples first, see :data:`imgstats.grouped.HISTOGRAM_ZONES`), each the other's
    fallback for 8-bit samples; ``None`` for the grouped path."""
    if walk.dask or np.dtype(walk.values.dtype).itemsize > 2:
        return None
    h, w = walk.values.shape[:2]
    block, ok = _split(walk._block((0, h, 0, w)))
    valid = _sample_validity(block, ok, walk.nb, nodata)
    layout = walk.layout
    args = (block, layout.labels, layout.background, names, walk.nb, valid)
    first, second = label_select, label_statistics
    if block.dtype.itemsize == 1 and few_zones(layout.labels):
        first, second = label_statistics, label_select
    found = first(*args)
    if found is None and block.dtype.itemsize == 1:  # 16-bit samples have one path
        found = second(*args)
    return found


def _group_block(block, box, zone, nb, nodata=None) -> Groups:
    if zone[0] == "labels":
        block, ok = _split(block)
        valid = _sample_validity(block, ok, nb, nodata)
        if valid is not None:
            valid = valid.reshape(block.shape)
        return group_labels(block, np.asarray(zone[1]), zone[2], nb, valid=valid)
    values, counts, zone_ids, valid = _block_samples(block, box, zone, nb, nodata)
    return group_runs(values, counts, zone_ids, valid=valid)


def _refine_block(block, box, zone, nb, wanted, dtype, nodata=None) -> dict:
    """``{zone: refinements}`` of the block's samples of the big zones in ``wanted``."""
    values, gid, zone_ids, valid = _block_samples(block, box, zone, nb, nodata)
    if zone[0] != "labels":  # the samples of each zone, zone after zone
        bounds = np.zeros(gid.size + 1, np.int64)
        np.cumsum(gid, out=bounds[1:])
    out = {}
    limit = collect_limit(dtype)
    for z, targets in wanted.items():
        k = np.searchsorted(zone_ids, z)
        if k >= zone_ids.size or zone_ids[k] != z:
            continue
        if zone[0] == "labels":
            sel = gid == k
            mine = values[sel]
            keep = None if valid is None else valid[sel]
        else:
            mine = values[bounds[k] : bounds[k + 1]]
            keep = None if valid is None else valid[bounds[k] : bounds[k + 1]]
        if keep is not None:
            mine = mine[keep]
        if mine.dtype.kind == "f":
            mine = mine[~np.isnan(mine)]
        if mine.size:
            out[z] = refine_block(mine.reshape(-1, 1), targets, dtype, limit)
    return out


def _merge_found(parts) -> dict:
    out: dict = {}
    for p in parts:
        if p is None:
            continue
        for z, found in p.items():
            out[z] = merge_refinements(out[z], found) if z in out else found
    return out


# -- the result --------------------------------------------------------------------------------
def with_sample_types(frame):
    """``frame`` with its ``min`` and ``max`` columns as pandas' nullable integers when the
    samples are integers (``frame.attrs["dtype"]``): an empty zone's NaN makes those columns
    float, and the JSON and CSV written from them said ``3.0`` where ``compute`` gives ``3``."""
    import pandas as pd

    dtype = frame.attrs.get("dtype")
    if dtype is None or np.dtype(dtype).kind not in "ui":
        return frame
    out = frame.copy()
    for name in ("min", "max"):
        if name in out.columns and out[name].dtype.kind == "f":
            kind = "Int64" if np.dtype(dtype).kind == "i" else "UInt64"
            out[name] = out[name].astype(pd.api.types.pandas_dtype(kind))
    return out


def _frame(layout: _Layout, zones, counts, cols, names, dtype, claim=None):
    """The zones' frame; its attrs say the samples' ``dtype`` and, as
    :meth:`~imgstats._valid_samples.ValidSamples.as_dict`, what decided which counted
    (``valid``; ``"mask": "array"`` for a masked array's mask)."""
    import pandas as pd

    if layout.kind == "polygons":
        n = len(layout.ids)
        index = pd.Index(layout.ids, name="zone")
        full_counts = np.zeros(n, np.int64)
        full_counts[zones] = counts
        data = {}
        for name in names:
            col = cols[name]
            if col.dtype.kind == "f":
                full = np.full(n, np.nan)
            else:
                full = np.zeros(n, col.dtype)
            full[zones] = col
            data[name] = full
        counts = full_counts
    else:
        index = pd.Index(unshifted_ids(zones) if layout.unsigned else zones, name="zone")
        data = dict(cols)
    empty = counts == 0
    frame = {}
    for name in names:
        col = data[name]
        if col.dtype.kind == "f" and empty.any():
            col = np.where(empty, np.nan, col.astype(np.float64))
        elif col.dtype.kind in "uib" and empty.any():
            if col.dtype.itemsize < 8 or col.dtype.kind == "b":
                col = np.where(empty, np.nan, col.astype(np.float64))
            else:
                col = pd.array(col, dtype="Int64" if col.dtype.kind == "i" else "UInt64")
                col[empty] = pd.NA
        frame[name] = col
    frame["count"] = counts.astype(np.int64)
    out = pd.DataFrame(frame, index=index)
    out.attrs["dtype"] = np.dtype(dtype).name  # the samples' type, which a NaN column hides
    out.attrs["valid"] = None if claim is None else claim.as_dict()
    return out
