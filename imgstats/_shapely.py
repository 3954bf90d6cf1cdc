"""A layer of shapely geometries read with shapely 2's vectorized functions, not one by one.

A GeoDataFrame, a GeoSeries, a numpy array or pandas Series of shapely geometries (what
shapely 2's vectorized functions return) or a list of them is read by
``shapely.to_ragged_array``: one call gives every vertex and the ring, part and feature
offsets that :func:`imgstats.zones.parse_polygons` builds from GeoJSON. Through
``__geo_interface__`` each geometry cost tens of microseconds in Python (its GeoJSON dict,
then its rings back to arrays): a layer of 250,000 boxes spent most of its time there.

shapely is not a dependency of imgstats: a layer can only hold shapely geometries when
shapely is imported already, so nothing here imports it. Anything else (GeoJSON, Points,
a layer mixing shapely with dicts) is left to the GeoJSON path, which reads it, or
refuses it with the feature's index.
"""

from __future__ import annotations

import numpy as np

from ._lazy import imported, is_instance
from .errors import InvalidOption

__all__ = ["ShapelyLayer", "shapely_layer"]

#: shapely's type ids of the geometries that are zones, and of a missing one (None)
_POLYGON, _MULTIPOLYGON, _MISSING = 3, 6, -1


class ShapelyLayer:
    """Shapely geometries (a 1-d object array; ``None`` for a missing one) with their zone ids
    (``checked``: ids known valid, positions or strings), and the CRS their frame names
    (``None``: none)."""

    def __init__(self, geoms: np.ndarray, ids: list, crs=None, checked: bool = True):
        self.geoms = geoms
        self.ids = ids
        self.crs = crs
        self.checked = checked

    def __len__(self) -> int:
        return len(self.geoms)

    def crs_name(self) -> str | None:
        """The frame's CRS as pyproj reads it back (``"EPSG:4326"``, else its WKT), or
        ``None``: a GeoDataFrame in lon/lat is in lon/lat, not in pixels."""
        if self.crs is None:
            return None
        to_string = getattr(self.crs, "to_string", None)
        return to_string() if to_string is not None else str(self.crs)

    def arrays(self):
        """``(pts, lens, ring_feat, part_off, feat_off)`` as
        :func:`imgstats.zones.parse_polygons` builds them: the ``(x, y)`` vertices (a
        geometry's Z dropped, as the GeoJSON path drops it), each ring's vertex count and
        feature, and the offsets of the parts (into the rings) and features (into the
        parts). A missing or empty geometry has no part; so has no empty part of a
        MultiPolygon (``MULTIPOLYGON (EMPTY, ...)``)."""
        import shapely

        n = len(self.geoms)
        if not n or np.equal(self.geoms, None).all():  # shapely finds no type in them
            none = np.zeros(0, np.int64)
            return np.zeros((0, 2)), none, none, np.zeros(1, np.int64), np.zeros(n + 1, np.int64)
        kind, pts, offsets = shapely.to_ragged_array(self.geoms, include_z=False)
        pts = np.asarray(pts, np.float64)
        ring_off = np.asarray(offsets[0], np.int64)
        if kind == shapely.GeometryType.POLYGON:
            part_off = np.asarray(offsets[1], np.int64)
            feat_off = np.arange(n + 1, dtype=np.int64)
        else:
            part_off = np.asarray(offsets[1], np.int64)
            feat_off = np.asarray(offsets[2], np.int64)
        rings_per_part = np.diff(part_off)
        if not rings_per_part.all():  # drop the empty parts (a missing geometry, say)
            keep = rings_per_part > 0
            parts_before = np.concatenate(([0], np.cumsum(keep)))
            feat_off = parts_before[feat_off]
            part_off = np.concatenate(([0], np.cumsum(rings_per_part[keep])))
        lens = np.diff(ring_off)
        part_feat = np.repeat(np.arange(n), np.diff(feat_off))
        ring_feat = np.repeat(part_feat, np.diff(part_off))
        return pts, lens, ring_feat, part_off, feat_off


def shapely_layer(zones, id_property=None) -> ShapelyLayer | None:
    """``zones`` as a :class:`ShapelyLayer` when it is a layer of shapely Polygons and
    MultiPolygons (missing and empty ones allowed), else ``None`` (the GeoJSON path's).

    Zone ids are those of the GeoJSON path: a GeoDataFrame's and a GeoSeries' are its index
    as strings (the ``id`` of geopandas' ``__geo_interface__``), or its column
    ``id_property``; any other layer's are the positions.

    Raises
    ------
    InvalidOption
        ``id_property`` of a layer that has no properties, or no such column.
    """
    shapely = imported("shapely")
    if shapely is None or isinstance(zones, dict | str):
        return None
    frame = is_instance(zones, "geopandas", "GeoDataFrame")
    series = is_instance(zones, "geopandas", "GeoSeries")
    if frame:
        geoms = zones.geometry.array
    elif series or is_instance(zones, "pandas", "Series"):
        geoms = zones.array
    elif isinstance(zones, list | tuple | np.ndarray) or is_instance(
        zones, "geopandas.array", "GeometryArray"
    ):
        geoms = zones
    else:
        return None
    if isinstance(geoms, list | tuple):  # never np.asarray: a list of rings is no layer
        if not all(g is None or isinstance(g, shapely.Geometry) for g in geoms):
            return None
        geoms = np.fromiter(geoms, object, len(geoms))
    elif getattr(getattr(geoms, "dtype", None), "kind", None) != "O" or np.ndim(geoms) != 1:
        return None
    else:
        geoms = np.asarray(geoms, dtype=object)
        if not (shapely.is_geometry(geoms) | np.equal(geoms, None)).all():
            return None
    kinds = shapely.get_type_id(geoms)
    if not np.isin(kinds, (_POLYGON, _MULTIPOLYGON, _MISSING)).all():
        return None  # Points, collections: the GeoJSON path refuses them by their index
    if frame or series:
        ids = _frame_ids(zones, id_property, frame)
    elif id_property is not None:
        raise InvalidOption(f"feature 0: the feature has no property {id_property!r}")
    else:
        ids = list(range(len(geoms)))
    crs = getattr(zones, "crs", None) if frame or series else None
    return ShapelyLayer(geoms, ids, crs, checked=id_property is None)


def _frame_ids(zones, id_property, frame: bool) -> list:
    """The zone ids of a GeoDataFrame's or GeoSeries' rows, as its GeoJSON names them."""
    if id_property is None:
        return [str(i) for i in zones.index]
    if not frame or id_property not in zones.columns or id_property == zones.geometry.name:
        raise InvalidOption(f"feature 0: the feature has no property {id_property!r}")
    return list(zones[id_property].to_numpy(dtype=object))
