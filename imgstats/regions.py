"""Regions of an image: a window, a mask, a polygon, and the samples they select.

Every region is in pixel coordinates of the array as stored (``x`` to the right, ``y`` down,
no EXIF rotation), the same array the whole-image statistics use:

* a **window** ``(x0, y0, x1, y1)`` is half-open, ``array[y0:y1, x0:x1]``, clipped to the image;
* a **mask** is a boolean array of the image's ``(y, x)`` shape: ``True`` pixels count;
* a **polygon** ``[(x, y), ...]`` (or a GeoJSON Polygon dict) selects the pixels whose centre
  ``(x + 0.5, y + 0.5)`` lies inside it, the default rule of rasterio's and GDAL's
  rasterization; a centre on an edge is inside as GDAL's scanline fill has it: on a right or
  top edge, not on a left or bottom one. Self-intersecting rings use the even-odd rule (a
  point is inside when a ray from it crosses the ring an odd number of times: a bow tie
  counts both lobes, a pentagram's centre is outside). A GeoJSON Polygon's holes are
  subtracted from its exterior ring; an invalid one's rings are filled as rasterio (GDAL)
  fills them, even-odd over all its rings: a hole outside the exterior is filled, where two
  holes overlap is inside.

All given regions intersect. This module is geometry only (numpy, no image io): the samples
of an image inside a region are :func:`imgstats.selection.select`'s, which turns an image
and a region into an image-like array that :func:`imgstats.summarize`,
:func:`imgstats.refine` and :func:`imgstats.compute` take as they are, so a caller (the web
service) can cache by image and region and refine the same selection later. Only the pixels
inside the region's bounding box are read: a lazily read TIFF decodes just the tiles or
strips the box touches. A window alone of a local TIFF counted in this process skips
``select``: :func:`imgstats.compute` streams the tiles or strips under it on every core, as
it streams a whole image (:func:`imgstats.io._plan.window_plan`).
"""

from __future__ import annotations

import math
import numbers
import re
import reprlib

import numpy as np

from ._inputs import as_array, yx_first
from ._lazy import is_instance
from .errors import InvalidOption, NoValidSamples

__all__ = [
    "parse_window",
    "clip_window",
    "rasterize_polygon",
    "polygon_parts",
    "polygon_rings",
    "MAX_POLYGON_VERTICES",
]

#: The most vertices a polygon (all its rings together) may have in a request to the service
#: (its ``?polygon=``), the default of :func:`polygon_rings` and :func:`polygon_parts`.
MAX_POLYGON_VERTICES = 10_000
#: The most vertices of ``polygon=`` in the library (:func:`imgstats.compute`, ``dim=``): the
#: scanline rasterizer needs no lower limit, and ``zonal`` takes layers of as many.
MAX_REGION_VERTICES = 10_000_000


# -- windows ------------------------------------------------------------------------------------
def parse_window(window) -> tuple[int, int, int, int]:
    """Check a window ``(x0, y0, x1, y1)`` (or the text ``"x0,y0,x1,y1"``) and return it.

    Raises
    ------
    InvalidOption
        Not four numbers, a non-integer, or an empty or inverted window (``x1 <= x0`` or
        ``y1 <= y0``).

    Examples
    --------
    >>> parse_window("10,20,110,70")
    (10, 20, 110, 70)
    """
    text = window
    if isinstance(window, str):
        parts = [p.strip() for p in window.split(",")]
        if not all(re.fullmatch(r"[+-]?[0-9]+", p) for p in parts):
            raise InvalidOption(
                f"invalid window {text!r}: use four whole numbers x0,y0,x1,y1 (pixels)"
            )
        window = [int(p) for p in parts]
    try:
        values = list(window)
    except TypeError:
        raise InvalidOption(
            f"invalid window {text!r}: use four whole numbers (x0, y0, x1, y1)"
        ) from None
    if len(values) != 4:
        raise InvalidOption(
            f"invalid window {text!r}: use four numbers x0, y0, x1, y1, not {len(values)}"
        )
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise InvalidOption(f"invalid window {text!r}: coordinates are whole pixels, not {v!r}")
        out.append(int(v))
    x0, y0, x1, y1 = out
    if x1 <= x0 or y1 <= y0:
        kind = "inverted" if x1 < x0 or y1 < y0 else "empty"
        raise InvalidOption(
            f"{kind} window {tuple(out)}: it needs x0 < x1 and y0 < y1 (half-open, in pixels)"
        )
    return x0, y0, x1, y1


def clip_window(window, height: int, width: int) -> tuple[int, int, int, int]:
    """Clip a checked window to an image of ``height`` x ``width`` pixels.

    Raises
    ------
    InvalidOption
        When nothing of the window lies inside the image.
    """
    x0, y0, x1, y1 = window
    clipped = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise InvalidOption(
            f"window {tuple(window)} lies outside the image ({width} x {height} pixels)"
        )
    return clipped


# -- polygons -----------------------------------------------------------------------------------
def polygon_rings(polygon, max_vertices: int = MAX_POLYGON_VERTICES) -> list[np.ndarray]:
    """Check a polygon and return its rings as float64 ``(n, 2)`` arrays of ``(x, y)``.

    Parameters
    ----------
    polygon : sequence of (x, y) or dict
        Vertices in pixel coordinates, or a GeoJSON ``{"type": "Polygon", "coordinates":
        [exterior, hole, ...]}`` (also inside a ``Feature``, or the ``__geo_interface__`` of
        a shapely Polygon). A closing vertex equal to the first is dropped.

    Returns
    -------
    list of numpy.ndarray
        The exterior ring first, then the holes.

    Raises
    ------
    InvalidOption
        Not a polygon, non-finite coordinates, more than ``max_vertices`` (default
        :data:`MAX_POLYGON_VERTICES`, the service's) vertices, or a degenerate ring (fewer
        than 3 distinct vertices, or all on one line).
    """
    polygon = getattr(polygon, "__geo_interface__", polygon)  # a shapely Polygon, say
    if isinstance(polygon, dict):
        if polygon.get("type") == "Feature":
            polygon = polygon.get("geometry") or {}
            if not isinstance(polygon, dict):
                raise InvalidOption("a GeoJSON Feature's geometry must be a GeoJSON object")
        if polygon.get("type") != "Polygon" or not isinstance(
            polygon.get("coordinates"), (list, tuple)
        ):
            raise InvalidOption(
                "a GeoJSON polygon must be {'type': 'Polygon', 'coordinates': [ring, ...]}, "
                f"not type {polygon.get('type')!r}"
            )
        rings = list(polygon["coordinates"])
        if not rings:
            raise InvalidOption("a GeoJSON Polygon needs an exterior ring")
    else:
        rings = [polygon]
    total = 0
    out = []
    for ring in rings:
        pts = _ring_array(ring)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise InvalidOption(
                f"a polygon is a list of [x, y] pairs of numbers, not shape {pts.shape}"
            )
        total += len(pts)
        if total > max_vertices:
            raise InvalidOption(f"the polygon has more than {max_vertices} vertices")
        if not np.isfinite(pts).all():
            raise InvalidOption("polygon coordinates must be finite numbers")
        if len(pts) > 1 and (pts[0] == pts[-1]).all():
            pts = pts[:-1]
        if len(np.unique(np.ascontiguousarray(pts).view(np.complex128))) < 3:  # rows, fast
            raise InvalidOption("degenerate polygon: it needs at least 3 distinct vertices")
        d = pts - pts[0]
        far = d[np.argmax(np.abs(d).sum(axis=1))]
        if not np.any(far[0] * d[:, 1] - far[1] * d[:, 0]):
            raise InvalidOption("degenerate polygon: all its vertices lie on one line")
        out.append(pts)
    return out


def polygon_parts(polygon, max_vertices: int = MAX_POLYGON_VERTICES) -> list[list[np.ndarray]]:
    """Check a polygon or a GeoJSON MultiPolygon and return its polygons (their union is
    the region), each a list of rings as :func:`polygon_rings` gives them.

    Raises
    ------
    InvalidOption
        As :func:`polygon_rings`, for any part (named by its index); a MultiPolygon of no
        part; more than ``max_vertices`` vertices in all.
    """
    polygon = getattr(polygon, "__geo_interface__", polygon)  # a shapely MultiPolygon, say
    geometry = polygon
    if isinstance(polygon, dict) and polygon.get("type") == "Feature":
        geometry = polygon.get("geometry")
    if isinstance(polygon, dict):
        _check_polygonal(geometry)
    if not (isinstance(geometry, dict) and geometry.get("type") == "MultiPolygon"):
        return [polygon_rings(polygon, max_vertices)]
    coords = geometry.get("coordinates")
    if not isinstance(coords, (list, tuple)) or not coords:
        raise InvalidOption("a GeoJSON MultiPolygon needs a non-empty list of polygons")
    parts = []
    total = 0
    for i, part in enumerate(coords):
        try:
            rings = polygon_rings({"type": "Polygon", "coordinates": part}, max_vertices)
        except InvalidOption as exc:
            raise InvalidOption(f"MultiPolygon part {i}: {exc}") from None
        total += sum(len(r) for r in rings)
        if total > max_vertices:
            raise InvalidOption(f"the polygon has more than {max_vertices} vertices")
        parts.append(rings)
    return parts


def _check_polygonal(geometry) -> None:
    """Refuse a GeoJSON geometry (of a Feature, or given alone) that is neither a Polygon
    nor a MultiPolygon, naming both: the message of :func:`polygon_rings`, which takes a
    Polygon only, would send a caller of :func:`polygon_parts` away from a MultiPolygon."""
    if not isinstance(geometry, dict):
        raise InvalidOption("a GeoJSON Feature's geometry must be a GeoJSON object")
    kind = geometry.get("type")
    if kind in ("Polygon", "MultiPolygon"):
        return
    hint = ""
    if kind == "FeatureCollection":  # statistics per feature are zonal statistics
        hint = "; a FeatureCollection's features are zones (POST /zonal, imgstats.zonal)"
    raise InvalidOption(
        "a GeoJSON polygon must be a Polygon or a MultiPolygon, or a Feature of one "
        f"({{'type': 'Polygon', 'coordinates': [ring, ...]}}), not type {kind!r}{hint}"
    )


#: The types of coordinates a ring read from JSON holds: checked at once, as a set.
_PLAIN_NUMBERS = frozenset({int, float})


def _ring_array(ring) -> np.ndarray:
    """A ring's coordinates as float64, refusing what is not a number (numpy would parse
    ``"1"``, take ``True`` for 1 and round a 400-digit integer to inf); the x and y of
    positions that carry more (GeoJSON's altitude, as a 3-D layer or shapely geometry has)."""
    pts = _ring_numbers(ring)
    return pts[:, :2] if pts.ndim == 2 and pts.shape[1] > 2 else pts


def _ring_numbers(ring) -> np.ndarray:
    if isinstance(ring, np.ndarray):
        if ring.dtype.kind not in "iuf":
            raise InvalidOption(f"polygon coordinates must be numbers, not {ring.dtype}")
        return ring.astype(np.float64)
    if not isinstance(ring, (list, tuple)):
        raise InvalidOption("a polygon is a list of [x, y] pairs of numbers")
    try:
        kinds = {type(v) for point in ring for v in point}
    except TypeError:  # a point that is not a sequence
        kinds = None
    if kinds is None or not kinds <= _PLAIN_NUMBERS:
        _check_numbers(ring)
    try:
        return np.array(ring, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise InvalidOption("a polygon is a list of [x, y] pairs of numbers") from None


def _check_numbers(ring) -> None:
    """Refuse a ring whose coordinates are not real numbers (the slow path of
    :func:`_ring_array`: numpy scalars, nested arrays)."""
    for point in ring:
        if isinstance(point, np.ndarray) and point.dtype.kind in "iuf":
            continue
        if not isinstance(point, (list, tuple)) or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in point
        ):
            raise InvalidOption(
                f"a polygon is a list of [x, y] pairs of numbers, not {reprlib.repr(point)}"
            )


def point_in_ring(ring: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Even-odd test of points ``(x, y)`` against one ring, point by point (the oracle)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    inside = np.zeros(x.shape, bool)
    x1, y1 = ring[:, 0], ring[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    for a, b, c, d in zip(x1, y1, x2, y2, strict=True):
        if b > d:  # from the lower-y end, as GDAL computes the crossing
            a, b, c, d = c, d, a, b
        hit = (b > y) != (d > y)
        with np.errstate(all="ignore"):  # a near-flat edge: +-inf, as compiled code gives
            xs = a + (y - b) * (c - a) / (d - b)
        inside ^= hit & (xs < x)  # crossings strictly left: a centre on one is inside its left
    return inside


def burnt_edges(ring: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The points on the ring's horizontal edges that GDAL fills apart from the crossings of
    its scanline, whatever they say (the oracle, for polygons given in pixel coordinates):
    once the ring is turned clockwise (:func:`gdal_clockwise`), those that run towards
    smaller x, a pixel centre's ``floor(x + 0.5)`` on."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    burnt = np.zeros(np.broadcast(x, y).shape, bool)
    x1, y1 = ring[:, 0], ring[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    turn = 1 if gdal_clockwise(ring) else -1
    for a, b, c, d in zip(x1, y1, x2, y2, strict=True):
        if b != d or not (turn * (c - a) < 0):
            continue  # not horizontal, or it runs towards larger x once turned
        lo, hi = math.floor(min(a, c) + 0.5), math.floor(max(a, c) + 0.5)
        burnt |= (y == b) & (x - 0.5 >= lo) & (x - 0.5 < hi)
    return burnt


def gdal_clockwise(ring: np.ndarray) -> bool:
    """Whether an open ring is clockwise (y up) as ``OGRLinearRing::isClockwise`` decides:
    by the turn at its lowest, then rightmost vertex, or by its signed area when that vertex
    is repeated or the turn is flat (the oracle)."""
    n = len(ring)
    v, repeated = 0, False
    for i in range(1, n):
        if ring[i, 1] < ring[v, 1] or (ring[i, 1] == ring[v, 1] and ring[i, 0] > ring[v, 0]):
            v, repeated = i, False
        elif ring[i, 1] == ring[v, 1] and ring[i, 0] == ring[v, 0]:
            repeated = True
    dx0, dy0 = ring[v - 1] - ring[v]
    dx1, dy1 = ring[(v + 1) % n] - ring[v]
    turn = dx1 * dy0 - dx0 * dy1
    if repeated or turn == 0 or (dx0 == 0 and dy0 == 0) or (dx1 == 0 and dy1 == 0):
        x1, y1 = ring[:, 0], ring[:, 1]
        return float(np.sum(x1 * np.roll(y1, -1) - np.roll(x1, -1) * y1)) < 0
    return turn < 0


def point_in_part(rings, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points inside one polygon (exterior and holes), as GDAL fills it (the oracle): inside
    an odd number of its rings (each even-odd: the exterior less the holes of a valid
    polygon), or on a burnt horizontal edge of any ring (:func:`burnt_edges`). A hole
    outside its exterior, or two overlapping holes, are filled as rasterio fills them."""
    inside = point_in_ring(rings[0], x, y)
    burnt = burnt_edges(rings[0], x, y)
    for ring in rings[1:]:
        inside ^= point_in_ring(ring, x, y)
        burnt |= burnt_edges(ring, x, y)
    return inside | burnt


def rasterize_polygon(polygon, height: int, width: int):
    """Rasterize a polygon onto an image of ``height`` x ``width`` pixels.

    A pixel ``(x, y)`` is selected when its centre ``(x + 0.5, y + 0.5)`` lies inside the
    polygon (even-odd rule over its rings, as :func:`point_in_part` says). Only the
    polygon's bounding box is rasterized. The returned mask covers the selected pixels'
    box; :class:`PolygonRegion` rasterizes block by block instead, with no array of the box
    at all.

    Returns
    -------
    window : tuple of int or None
        ``(x0, y0, x1, y1)``: the bounding box of the selected pixels, clipped to the image;
        ``None`` when no pixel centre lies inside.
    mask : numpy.ndarray of bool or None
        The selection inside ``window``.

    Raises
    ------
    InvalidOption
        See :func:`polygon_rings`.

    Examples
    --------
    >>> window, mask = rasterize_polygon([(0, 0), (4, 0), (0, 3)], height=5, width=6)
    >>> window
    (0, 0, 3, 3)
    >>> mask.astype(int)
    array([[1, 1, 1],
           [1, 1, 0],
           [1, 0, 0]])
    """
    region = PolygonRegion(height, width, polygon=polygon)
    box = region.box
    if box is None:
        return None, None
    x0, y0, x1, y1 = box
    return _shrink(box, region.block_mask(y0, y1, x0, x1))


def map_axes(polygon) -> tuple[float, float, float, float] | None:
    """The ``map_axes`` member of a pixel polygon (a GeoJSON dict): ``(a, b, d, e)``, the
    linear part of the transform from its pixel coordinates to the map coordinates it was
    given in, which decides the horizontal edges GDAL fills (see
    :class:`imgstats._raster.Layer`); :func:`imgstats.io._geo.map_region` sets it. ``None``
    when absent: the polygon was given in pixels.

    Raises
    ------
    InvalidOption
        A member that is not four finite numbers of a non-zero determinant (a client's own
        ``map_axes`` in a body is checked as any member is).
    """
    axes = polygon.get("map_axes") if isinstance(polygon, dict) else None
    if axes is None:
        return None
    numbers_ok = isinstance(axes, (list, tuple)) and len(axes) == 4
    numbers_ok = numbers_ok and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in axes
    )
    if numbers_ok:  # only the directions count: scaled to at most 1, no overflow after
        scale = max(abs(float(v)) for v in axes) or 1.0
        a, b, d, e = (float(v) / scale for v in axes)
    if not numbers_ok or a * e - b * d == 0:
        raise InvalidOption(
            "a polygon's 'map_axes' must be four finite numbers [a, b, d, e] (the linear part "
            f"of its pixel-to-map transform, of a non-zero determinant), not {reprlib.repr(axes)}"
        )
    return a, b, d, e


class PolygonRegion:
    """A polygon, and maybe a window and a mask, rasterized block by block on demand.

    Nothing the size of the polygon's bounding box is ever allocated: :meth:`block_mask`
    paints one block (a dask chunk, a strip of rows), :meth:`count` sums the runs of pixels
    of a block without painting them (see :mod:`imgstats._raster`).

    Parameters
    ----------
    height, width : int
        The image's size.
    window : (x0, y0, x1, y1), optional
        A window (checked, clipped): only its pixels count.
    mask : numpy.ndarray of bool, optional
        Of the image's ``(y, x)`` shape (checked): only its True pixels count.
    polygon
        As for :func:`polygon_rings`.

    Attributes
    ----------
    box : tuple of int or None
        ``(x0, y0, x1, y1)``: a window of the image holding every selected pixel (the
        polygon's box within the window and the mask's box); ``None`` when it is empty.
    """

    def __init__(self, height: int, width: int, window=None, mask=None, polygon=None):
        from ._raster import Layer

        parts = polygon_parts(polygon, MAX_REGION_VERTICES)
        if np.abs(np.concatenate([r for rings in parts for r in rings])).max() > _MAX_COORDINATE:
            raise InvalidOption("polygon coordinates beyond 2**31 pixels")
        pts = np.concatenate([r for rings in parts for r in rings])  # a hole may lie outside
        bbox = (
            math.floor(pts[:, 0].min()),
            math.floor(pts[:, 1].min()),
            math.ceil(pts[:, 0].max()) + 1,
            math.ceil(pts[:, 1].max()) + 1,
        )
        self.layer = Layer([(bbox, parts)], map_axes(polygon))
        self.mask = mask
        box = _intersect((0, 0, width, height), bbox)
        if window is not None:
            box = _intersect(box, window)
        if mask is not None:
            mbox, _ = _shrink((0, 0, width, height), mask)
            box = box if mbox is None else _intersect(box, mbox)
            if mbox is None:
                box = (0, 0, 0, 0)
        self.box = None if box[2] <= box[0] or box[3] <= box[1] else box

    def _spans(self, y0, y1, x0, x1):
        return self.layer.spans(np.zeros(1, np.int64), y0, y1, x0, x1)

    def block_mask(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """The selected pixels of the block ``[y0, y1) x [x0, x1)`` (image coordinates)."""
        out = self.layer.mask(self._spans(y0, y1, x0, x1), y0, y1, x0, x1)
        if self.mask is not None:
            out &= self.mask[y0:y1, x0:x1]
        return out

    def count(self, y0: int, y1: int, x0: int, x1: int) -> int:
        """How many pixels of the block are selected."""
        if self.mask is not None:
            return int(self.block_mask(y0, y1, x0, x1).sum())
        _, starts, stops, _ = self._spans(y0, y1, x0, x1)
        return int((stops - starts).sum())


#: The largest absolute polygon coordinate (pixels).
_MAX_COORDINATE = 2.0**31


def _shrink(window, mask):
    """Cut ``mask`` (over ``window``) to the bounding box of its True pixels."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not rows.size:
        return None, None
    cols = np.flatnonzero(mask.any(axis=0))
    x0, y0 = window[0], window[1]
    sub = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    box = (x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1)
    return box, sub


# -- combining regions -------------------------------------------------------------------------
def _intersect(a, b):
    return max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])


def _crop(mask, window, box):
    """The part of ``mask`` (over ``window``) inside ``box`` (within ``window``)."""
    return mask[box[1] - window[1] : box[3] - window[1], box[0] - window[0] : box[2] - window[0]]


def region_of(height: int, width: int, window=None, mask=None, polygon=None, lazy=False):
    """Combine the given regions into ``(box, local_mask)`` on a ``height`` x ``width`` image.

    ``box`` is a window inside the image; ``local_mask`` is ``None`` (the whole box) or a
    boolean array of the box's shape. With ``lazy=True`` and a polygon, ``local_mask`` is a
    :class:`PolygonRegion` instead (the window and the mask folded in), which rasterizes
    block by block: no array of the box is made, and whether any pixel is selected is the
    caller's to find out, block by block.

    Raises
    ------
    InvalidOption
        A bad window, mask or polygon.
    NoValidSamples
        The regions together select no pixel.
    """
    box = (0, 0, width, height)
    local = None
    if window is not None:
        box = clip_window(parse_window(window), height, width)
    if mask is not None:
        mask = as_array(
            yx_first(mask) if is_instance(mask, "xarray", "DataArray") else mask, "a mask"
        )
        if mask.dtype != np.bool_:
            raise InvalidOption(f"a mask must be a boolean array, not {mask.dtype}")
        if mask.shape != (height, width):
            raise InvalidOption(
                f"the mask's shape {mask.shape} is not the image's (y, x) shape {(height, width)}"
            )
        mbox, mlocal = _shrink((0, 0, width, height), mask)
        if mbox is None:
            raise NoValidSamples("no valid samples: the mask selects no pixel")
        if polygon is not None and lazy:
            mlocal = None  # the region reads the mask block by block
        new = _intersect(box, mbox)
        if new[2] <= new[0] or new[3] <= new[1]:
            raise NoValidSamples("no valid samples: the mask selects no pixel in the window")
        local = None if mlocal is None else _crop(mlocal, mbox, new)
        box = new
    if polygon is not None and lazy:
        region = PolygonRegion(height, width, window=box, mask=mask, polygon=polygon)
        if region.box is None:
            raise NoValidSamples("no valid samples: no pixel centre lies inside the polygon")
        return region.box, region
    if polygon is not None:
        pbox, plocal = rasterize_polygon(polygon, height, width)
        if pbox is None:
            raise NoValidSamples("no valid samples: no pixel centre lies inside the polygon")
        new = _intersect(box, pbox)
        if new[2] <= new[0] or new[3] <= new[1]:
            raise NoValidSamples("no valid samples: the polygon selects no pixel of the region")
        part = _crop(plocal, pbox, new)
        local = part if local is None else _crop(local, box, new) & part
        box = new
    if local is not None:
        if local.all():
            local = None
        elif not local.any():
            raise NoValidSamples("no valid samples: the regions together select no pixel")
    return box, local
