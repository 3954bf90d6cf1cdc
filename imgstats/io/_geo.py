"""Map coordinates: a GeoTIFF's georeferencing, and regions given in map coordinates.

:func:`georeference` reads a page's GeoTIFF tags with tifffile (no GDAL): the model
transformation, or a tie point and pixel scale, as an :class:`affine.Affine` from pixel
``(col, row)`` to map ``(x, y)``, as rasterio's ``transform``; and the EPSG code of the
GeoKeys. :func:`map_region` turns a bbox or a GeoJSON geometry in map coordinates into the
pixel window or pixel polygon that :mod:`imgstats.regions` takes, so the pixel-centre rule is
the same whatever the coordinates. Coordinates in another CRS (RFC 7946 GeoJSON is lon/lat)
are reprojected with pyproj, in the ``geo`` extra.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace

import numpy as np

from ..errors import InvalidOption, NoValidSamples

__all__ = ["Georeference", "georeference", "geo_facts", "map_region", "transformer"]

_USER_DEFINED = 32767


@dataclass(frozen=True)
class Georeference:
    """Where a raster lies: ``transform`` (pixel ``(col, row)`` -> map ``(x, y)``, of the
    pixels' corners) and ``epsg`` (``None`` when the GeoKeys name no EPSG code)."""

    transform: object  # affine.Affine
    epsg: int | None
    width: int
    height: int
    #: Derived from a DataArray's ``x``/``y`` coordinates alone (no CRS, no transform said)
    from_coords: bool = False

    @property
    def crs(self) -> str | None:
        return None if self.epsg is None else f"EPSG:{self.epsg}"

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of the raster's extent, as rasterio's ``bounds``."""
        t = self.transform
        xs, ys = zip(*(t @ (c, r) for c in (0, self.width) for r in (0, self.height)), strict=True)
        return (min(xs), min(ys), max(xs), max(ys))


def georeference(tpage, source=None) -> Georeference | None:
    """The :class:`Georeference` of a tifffile page from its GeoTIFF tags, or ``None``."""
    from affine import Affine

    tags = tpage.tags
    height = int(tpage.shape[tpage.axes.index("Y")])
    width = int(tpage.shape[tpage.axes.index("X")])
    matrix = tags.get(34264)  # ModelTransformationTag
    tie = tags.get(33922)  # ModelTiepointTag
    scale = tags.get(33550)  # ModelPixelScaleTag
    if matrix is not None and len(matrix.value) >= 16:
        m = [float(v) for v in matrix.value]
        transform = Affine(m[0], m[1], m[3], m[4], m[5], m[7])
    elif tie is not None and scale is not None and len(tie.value) == 6 and len(scale.value) >= 2:
        i, j, _, x, y, _ = (float(v) for v in tie.value)
        sx, sy = float(scale.value[0]), float(scale.value[1])
        transform = Affine(sx, 0.0, x - i * sx, 0.0, -sy, y + j * sy)
    else:
        return None  # no georeferencing, or ground control points only
    if not all(math.isfinite(v) for v in transform[:6]) or transform.determinant == 0:
        return None
    keys = _geokeys(tpage)
    if int(keys.get("GTRasterTypeGeoKey", 1) or 1) == 2:
        # RasterPixelIsPoint: the tie point is a pixel's centre; GDAL shifts to its corner
        transform = transform @ Affine.translation(-0.5, -0.5)
    epsg = None
    for name in ("ProjectedCSTypeGeoKey", "GeographicTypeGeoKey"):
        code = keys.get(name)
        if code is not None and int(code) not in (0, _USER_DEFINED):
            epsg = int(code)
            break
    return Georeference(transform, epsg, width, height)


def page_georeference(tif, page: int, source):
    """The georeferencing of page ``page`` of an open ``tifffile.TiffFile``: its GeoTIFF
    tags', else (an overview page, which GDAL writes without them) its image's, scaled."""
    tpage = tif.pages[page]
    geo = georeference(tpage, source)
    if geo is None and subfile_type(tpage) & 1:
        base = base_page(tif, page)
        if base != page:
            height, width = (int(tpage.shape[tpage.axes.index(a)]) for a in "YX")
            geo = _scaled_geo(georeference(tif.pages[base], source), width, height)
    return geo


def subfile_type(page) -> int:
    """A TIFF page's NewSubfileType bits (1: reduced resolution, 4: a mask), 0 if none."""
    return int(getattr(page, "subfiletype", 0) or 0)


def base_page(tif, page: int) -> int:
    """The full-resolution image whose overview page ``page`` is: the last page before it
    that is neither an overview nor a mask (``page`` itself when there is none)."""
    for index in range(page - 1, -1, -1):
        if not subfile_type(tif.pages[index]) & 5:
            return index
    return page


def _scaled_geo(geo, width: int, height: int):
    """``geo`` (a full-resolution image's) for an overview of ``width`` x ``height``."""
    if geo is None:
        return None
    from affine import Affine

    scale = Affine.scale(geo.width / width, geo.height / height)
    return replace(geo, transform=geo.transform * scale, width=width, height=height)


def _geokeys(tpage) -> dict:
    try:
        return dict(tpage.geotiff_tags or {})
    except Exception:  # noqa: BLE001 -- malformed GeoKeys: no CRS, the transform still holds
        return {}


def geo_facts(geo: Georeference | None) -> dict:
    """``crs``, ``transform`` (rasterio's 6 numbers ``a, b, c, d, e, f``) and ``bounds``
    (``left, bottom, right, top``) for a header; ``None`` each without georeferencing."""
    if geo is None:
        return {"crs": None, "transform": None, "bounds": None}
    return {
        "crs": geo.crs,
        "transform": [float(v) for v in geo.transform[:6]],
        "bounds": [float(v) for v in geo.bounds],
    }


# -- regions in map coordinates ------------------------------------------------------------------
def transformer(src_crs, dst_epsg: int | None):
    """A pyproj function ``(xs, ys) -> (xs, ys)`` from ``src_crs`` to the raster's CRS.

    Raises
    ------
    InvalidOption
        pyproj (the ``geo`` extra) is not installed, a CRS is unknown, or the raster has none.
    """
    try:
        from pyproj import CRS, Transformer
        from pyproj.exceptions import CRSError, ProjError
    except ImportError:
        raise InvalidOption(
            f"coordinates in {src_crs} need reprojection, which needs pyproj: "
            'install the geo extra (pip install "imgstats[geo]")'
        ) from None
    if dst_epsg is None:
        raise InvalidOption(
            f"the image has no known CRS: coordinates in {src_crs} cannot be placed on it"
        )
    try:
        src = CRS.from_user_input(src_crs)
    except (CRSError, TypeError, ValueError):
        raise InvalidOption(f"unknown CRS {src_crs!r}: use e.g. 'EPSG:4326'") from None
    dst = CRS.from_epsg(dst_epsg)
    if src == dst:
        return None
    try:
        return Transformer.from_crs(src, dst, always_xy=True).transform
    except ProjError as exc:  # a CRS of the Moon: "not the same celestial body" (was a 500)
        reason = str(exc).partition("(Internal Proj Error: ")[2].rstrip(")") or str(exc)
        raise InvalidOption(
            f"coordinates in {src_crs!r} cannot be placed on the image's EPSG:{dst_epsg}: "
            f"{reason[:160]}"
        ) from None


def _same_crs(crs, epsg) -> bool:
    if crs is None:
        return True
    text = str(crs).strip().upper()
    return epsg is not None and text == f"EPSG:{epsg}"


def _bbox(bbox) -> tuple[float, float, float, float]:
    if isinstance(bbox, str):
        parts = bbox.split(",")
        try:
            bbox = [float(p) for p in parts]
        except ValueError:
            raise InvalidOption(
                f"invalid bbox {bbox!r}: use four numbers minx,miny,maxx,maxy"
            ) from None
    try:
        values = list(bbox)
    except TypeError:
        raise InvalidOption(f"invalid bbox {bbox!r}: use four numbers") from None
    if len(values) != 4 or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in values
    ):
        raise InvalidOption(f"invalid bbox {bbox!r}: use four finite numbers minx,miny,maxx,maxy")
    minx, miny, maxx, maxy = (float(v) for v in values)
    if maxx <= minx or maxy <= miny:
        raise InvalidOption(
            f"inverted or empty bbox {tuple(values)}: it needs minx < maxx and miny < maxy"
        )
    return minx, miny, maxx, maxy


def _geometry_parts(geometry) -> tuple[str, list]:
    """``(type, polygons)`` of a GeoJSON Polygon or MultiPolygon (or a Feature of one): each
    polygon a list of rings."""
    geometry = getattr(geometry, "__geo_interface__", geometry)  # a shapely geometry
    if isinstance(geometry, dict) and geometry.get("type") == "Feature":
        geometry = geometry.get("geometry") or {}
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind not in ("Polygon", "MultiPolygon"):
        raise InvalidOption(
            "a geometry in map coordinates must be a GeoJSON Polygon or MultiPolygon"
        )
    coords = geometry.get("coordinates")
    if not isinstance(coords, (list, tuple)) or not coords:
        raise InvalidOption(f"a GeoJSON {kind} needs a list of rings in 'coordinates'")
    parts = [coords] if kind == "Polygon" else list(coords)
    for part in parts:
        if not isinstance(part, (list, tuple)) or not part:
            raise InvalidOption(f"a GeoJSON {kind} needs a list of rings in 'coordinates'")
    return kind, parts


def map_to_pixel_coefficients(transform) -> tuple[float, ...]:
    """The map -> pixel transform ``(c, a, b, f, d, e)``: ``col = c + x a + y b``,
    ``row = f + x d + y e``, computed and applied in GDAL's order (``GDALInvGeoTransform``,
    ``GDALApplyGeoTransform``), as rasterio's ``geometry_mask`` places a polygon's vertices.
    ``~transform`` (affine's inverse, ``a x + b y + c``) may differ in the last bit, and a
    vertex on a row or column of pixel centres then lands on the other side of it: other
    edge pixels than rasterio's."""
    c, a, b, f, d, e = transform.to_gdal()
    if b == 0 and d == 0 and a != 0 and e != 0:  # north-up: no determinant, as GDAL
        return (-c / a, 1.0 / a, 0.0, -f / e, 0.0, 1.0 / e)
    inv_det = 1.0 / (a * e - b * d)
    return (
        (b * f - c * e) * inv_det,
        e * inv_det,
        -b * inv_det,
        (-a * f + c * d) * inv_det,
        -d * inv_det,
        a * inv_det,
    )


def map_region(geo: Georeference | None, bbox=None, geometry=None, crs=None):
    """Turn a bbox and/or a GeoJSON polygon in map coordinates into pixel terms.

    Parameters
    ----------
    geo : Georeference or None
        The raster's.
    bbox : (minx, miny, maxx, maxy) or str, optional
        In ``crs`` (the raster's CRS by default).
    geometry : GeoJSON Polygon or MultiPolygon (or Feature), optional
        In ``crs``.
    crs : str, optional
        The CRS of ``bbox`` and ``geometry``: ``None`` or ``"raster"`` for the raster's own,
        any other (``"EPSG:4326"``, ``"OGC:CRS84"``: RFC 7946 GeoJSON) is reprojected with
        pyproj, always in x, y (lon, lat) order.

    Returns
    -------
    (window, polygon)
        A pixel window (bbox of a north-up raster) or ``None``, and a pixel polygon (a
        GeoJSON dict, or the bbox's corners on a rotated raster, with a ``map_axes`` member:
        see :class:`imgstats._raster.Layer`) or ``None``.

    Raises
    ------
    InvalidOption
        No georeferencing, a bad or inverted bbox, an unknown CRS, pyproj missing.
    NoValidSamples
        The bbox lies outside the image.
    """
    if geo is None:
        raise InvalidOption("the image has no georeferencing: give a window in pixels instead")
    if isinstance(crs, str) and crs.strip().lower() == "raster":
        crs = None
    project = None if _same_crs(crs, geo.epsg) else transformer(crs, geo.epsg)
    col0, ca, cb, row0, rd, re_ = map_to_pixel_coefficients(geo.transform)
    window = pixel_polygon = None

    def to_pixels(points):
        xs = [float(p[0]) for p in points]
        ys = [float(p[1]) for p in points]
        if project is not None:
            xs, ys = project(xs, ys)
        out = [
            (col0 + x * ca + y * cb, row0 + x * rd + y * re_) for x, y in zip(xs, ys, strict=True)
        ]
        if not all(math.isfinite(c) for xy in out for c in xy):
            raise InvalidOption("the coordinates do not project onto the image's CRS")
        return [[c, r] for c, r in out]

    if bbox is not None:
        minx, miny, maxx, maxy = _bbox(bbox)
        if project is not None:
            minx, miny, maxx, maxy = _clip_to_footprint((minx, miny, maxx, maxy), geo, crs)
            if minx >= maxx or miny >= maxy:
                raise NoValidSamples(
                    f"no valid samples: bbox {tuple(_bbox(bbox))} in {crs} holds no pixel "
                    f"centre of the image (bounds {tuple(geo.bounds)} in EPSG:{geo.epsg})"
                )
        ring = [(minx, miny), (maxx, miny), (maxx, maxy), (minx, maxy)]
        if project is not None:  # a projected bbox is a densified ring, not a rectangle
            ring = _densify(ring, 16)
        corners = to_pixels(ring)
        t = geo.transform
        if project is None and t.b == 0 and t.d == 0:
            cols = sorted(c for c, _ in corners)
            rows = sorted(r for _, r in corners)
            # pixels whose centre (c + 0.5, r + 0.5) lies inside [min, max]
            x0 = math.ceil(cols[0] - 0.5)
            x1 = math.floor(cols[-1] - 0.5) + 1
            y0 = math.ceil(rows[0] - 0.5)
            y1 = math.floor(rows[-1] - 0.5) + 1
            x0, y0 = max(x0, 0), max(y0, 0)
            x1, y1 = min(x1, geo.width), min(y1, geo.height)
            if x1 <= x0 or y1 <= y0:
                raise NoValidSamples(
                    f"no valid samples: bbox {tuple(_bbox(bbox))} holds no pixel centre of the "
                    f"image (bounds {tuple(geo.bounds)})"
                )
            window = (x0, y0, x1, y1)
        else:
            pixel_polygon = {"type": "Polygon", "coordinates": [corners]}
    if geometry is not None:
        kind, parts = _geometry_parts(geometry)
        pixels = [[to_pixels(ring) for ring in rings] for rings in parts]
        shape = {"type": kind, "coordinates": pixels[0] if kind == "Polygon" else pixels}
        if pixel_polygon is not None:
            raise InvalidOption("give a bbox or a polygon in map coordinates, not both")
        pixel_polygon = shape
    if pixel_polygon is not None:  # which way map north lies decides GDAL's edge pixels
        t = geo.transform
        pixel_polygon["map_axes"] = [t.a, t.b, t.d, t.e]
    return window, pixel_polygon


def _clip_to_footprint(bbox, geo: Georeference, crs) -> tuple:
    """``bbox`` (in ``crs``) less what lies beyond the raster's footprint there: the box of
    the footprint's edges (32 points each) taken to ``crs``, widened by 1% on every side.

    A pixel's centre lies in its footprint, so no pixel is lost; but a bbox far larger than
    the raster (``-180,-90,180,90`` in lon/lat on a UTM raster, or ``-1e300...``) is no
    longer taken into the raster's CRS whole, where the far corners land anywhere (a UTM
    projection 170 degrees off its meridian) and the ring held no pixel at all. When the
    footprint cannot be taken to ``crs`` (points beyond that CRS's domain), ``bbox`` as it
    is.
    """
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError, ProjError

    t = geo.transform
    corners = [(0, 0), (geo.width, 0), (geo.width, geo.height), (0, geo.height)]
    edge = _densify([t @ c for c in corners], 32)
    try:
        # its own Transformer, not transformer()'s run backwards: pyproj's inverse of that
        # one differs from this one by an ulp (UTM, Web Mercator and polar stereographic
        # against lon/lat), and the clip only needs the footprint's box, 1% wider
        back = Transformer.from_crs(
            CRS.from_epsg(geo.epsg), CRS.from_user_input(crs), always_xy=True
        )
        xs, ys = back.transform([p[0] for p in edge], [p[1] for p in edge])
    except (CRSError, ProjError):  # a pair pyproj cannot relate: the bbox as it is
        return bbox
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        return bbox
    dx = (xs.max() - xs.min()) * 0.01
    dy = (ys.max() - ys.min()) * 0.01
    minx, miny, maxx, maxy = bbox
    return (
        max(minx, xs.min() - dx),
        max(miny, ys.min() - dy),
        min(maxx, xs.max() + dx),
        min(maxy, ys.max() + dy),
    )


def _densify(ring, n: int):
    out = []
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        out.extend((x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n) for k in range(n))
    return out


#: The options of a region in map coordinates (popped from ``compute``'s io options).
MAP_OPTIONS = ("bbox", "geometry", "crs")


def georeference_of(data, io_options) -> Georeference | None:
    """The georeferencing of a path, URL or DataArray (its attrs, or rioxarray's grid mapping
    coordinate and ``x``/``y`` coordinates: :mod:`imgstats.io._xarray_geo`)."""
    import os

    if isinstance(data, (str, os.PathLike)):
        import tifffile

        from ._guard import GuardedFile, decoding
        from ._sources import open_source

        page = io_options.get("page", 0) or 0
        with open_source(data, io_options.get("storage_options")) as fh:
            if fh.read(4) not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
                return None  # not a TIFF: no GeoTIFF tags (the read says what else is wrong)
            fh.seek(0)
            with (
                decoding(data, "is not a readable TIFF"),
                tifffile.TiffFile(GuardedFile(fh, data)) as tif,
            ):
                if page >= len(tif.pages):
                    return None  # the read refuses the page
                return page_georeference(tif, page, data)
    from ._xarray_geo import dataarray_georeference

    found = dataarray_georeference(data)
    return None if found is None else Georeference(*found)


def pixel_region(data, window, polygon, io_options: dict):
    """``(window, polygon, io_options)`` with a map region (``bbox``, ``geometry``, ``crs``
    in ``io_options``) turned into pixels; as given when there is none.

    Raises
    ------
    InvalidOption
        A map region beside a pixel window (bbox) or polygon (geometry), a ``crs`` alone,
        or anything :func:`map_region` refuses.
    """
    if not any(io_options.get(k) is not None for k in MAP_OPTIONS):
        return window, polygon, {k: v for k, v in io_options.items() if k not in MAP_OPTIONS}
    options = dict(io_options)
    bbox, geometry, crs = (options.pop(k, None) for k in MAP_OPTIONS)
    if bbox is None and geometry is None:
        raise InvalidOption("crs= says the CRS of a bbox or geometry: give one of them")
    if bbox is not None and window is not None:
        raise InvalidOption("give a window in pixels or a bbox in map coordinates, not both")
    if geometry is not None and polygon is not None:
        raise InvalidOption("give a polygon in pixels or a geometry in map coordinates, not both")
    geo = georeference_of(data, options)
    map_window, map_polygon = map_region(geo, bbox, geometry, crs)
    return (
        window if map_window is None else map_window,
        polygon if map_polygon is None else map_polygon,
        options,
    )
