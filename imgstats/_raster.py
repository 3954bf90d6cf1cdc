"""Polygons to pixels, one block at a time: the scanline rasterizer of zones and regions.

A :class:`Layer` holds checked polygons (:func:`imgstats.regions.polygon_rings`) as one flat
edge table. :meth:`Layer.spans` rasterizes every feature that touches a block (a row strip,
a dask chunk, a TIFF tile) at once, as runs of pixels ``(row, x start, x stop, feature)``;
:meth:`Layer.gather` copies the samples of those runs out of the block, with each one's
feature, and :meth:`Layer.mask` paints them into a boolean array of the block. Memory
follows the block (and rows x crossings for the spans), never a polygon's bounding box.

The rule is :mod:`imgstats.regions`'s: a pixel ``(x, y)`` is inside a polygon when its
centre ``(x + 0.5, y + 0.5)`` is inside an odd number of its rings (each even-odd: the
exterior less the holes, and what rasterio gives of an invalid polygon); a feature of
several polygons (a MultiPolygon) is their union. Overlapping features each get their
pixels.
"""

from __future__ import annotations

import numpy as np

from ._lazy import lazy_module

__all__ = ["Layer", "RULE"]

#: The rasterization rule's name, in the key of every cached answer of a polygon (the
#: service's, in Redis): an answer computed under an earlier rule (a centre on a left edge
#: inside, before GDAL's; a centre on a hole's top edge in the hole; an invalid polygon's
#: holes subtracted, not filled even-odd) is not served for this one.
RULE = "gdal-rings"

_k = lazy_module("imgstats._raster_kernels")


class Layer:
    """An edge table of polygon features.

    Parameters
    ----------
    features : list of (bbox, parts)
        ``bbox`` is ``(x0, y0, x1, y1)``, integers covering every pixel centre the feature
        may hold (clipping is the caller's); ``parts`` a list of polygons, each a list of
        rings (exterior first) as float64 ``(n, 2)`` arrays of ``(x, y)``.
    map_axes : tuple of float, optional
        ``(a, b, d, e)``, the linear part of the transform from these pixel coordinates to
        the map coordinates the polygons were given in (``None``: they were given in
        pixels). GDAL turns each ring clockwise in map coordinates before it fills the
        horizontal edges that run towards smaller x: which edges those are depends on it.
    """

    @classmethod
    def from_arrays(cls, pts, ring_off, part_off, feat_off, bbox, map_axes=None) -> Layer:
        """A layer from flat arrays: vertices ``pts`` (float64 ``(n, 2)``, rings open), and
        the offsets of the rings (into ``pts``), parts (into rings) and features (into
        parts), and each feature's box ``(x0, y0, x1, y1)``. ``map_axes``: see
        :class:`Layer`."""
        self = cls.__new__(cls)
        self._build(pts, ring_off, part_off, feat_off, bbox, map_axes)
        return self

    def __init__(self, features, map_axes=None):
        self.size = len(features)
        bbox = np.zeros((self.size, 4), np.int64)
        feat_off = [0]
        part_off = [0]
        ring_off = [0]
        rings = []
        for i, (bb, parts) in enumerate(features):
            bbox[i] = bb
            for poly in parts:
                for ring in poly:
                    rings.append(ring)
                    ring_off.append(ring_off[-1] + len(ring))
                part_off.append(len(rings))
            feat_off.append(len(part_off) - 1)
        pts = np.concatenate(rings) if rings else np.zeros((0, 2))
        self._build(pts, ring_off, part_off, feat_off, bbox, map_axes)

    def _build(self, pts, ring_off, part_off, feat_off, bbox, map_axes) -> None:
        self.map_axes = map_axes
        self.bbox = np.asarray(bbox, np.int64).reshape(-1, 4)
        self.size = len(self.bbox)
        self.feat_off = np.asarray(feat_off, np.int64)
        self.part_off = np.asarray(part_off, np.int64)
        self.ring_off = np.asarray(ring_off, np.int64)
        start = np.asarray(pts, np.float64)
        if len(start):
            # each vertex's successor in its ring: the next one, or the ring's first
            nxt = np.arange(1, len(start) + 1)
            nxt[self.ring_off[1:] - 1] = self.ring_off[:-1]
            end = start[nxt]
        else:
            end = start
        # each edge from its lower-y end, as GDAL's scanline computes a crossing from it: from
        # the other end, a crossing at a vertex may come out a last bit off the vertex's x
        low = (start[:, 1] <= end[:, 1])[:, None]
        lo, hi = np.where(low, start, end), np.where(low, end, start)
        self.ex0 = np.ascontiguousarray(lo[:, 0])
        self.ey0 = np.ascontiguousarray(lo[:, 1])
        self.ex1 = np.ascontiguousarray(hi[:, 0])
        self.ey1 = np.ascontiguousarray(hi[:, 1])
        self.elo = np.minimum(self.ey0, self.ey1)
        self.ehi = np.maximum(self.ey0, self.ey1)
        ring_of = np.repeat(np.arange(len(self.ring_off) - 1), np.diff(self.ring_off))
        # the edges of each ring by lower y: the order the scanline meets them
        self.order = np.lexsort((self.elo, ring_of)).astype(np.int64)
        self.eburn = _top_edges(start, end, ring_of, self.ring_off, self.map_axes)

    def touching(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Sorted indices of the features whose bounding box meets the block."""
        b = self.bbox
        hit = (b[:, 0] < x1) & (b[:, 2] > x0) & (b[:, 1] < y1) & (b[:, 3] > y0)
        return np.flatnonzero(hit).astype(np.int64)

    def spans(self, feats, y0: int, y1: int, x0: int, x1: int):
        """``(rows, starts, stops, k)``: the runs of pixels of ``feats`` in the block rows
        ``[y0, y1)`` x columns ``[x0, x1)``; ``k`` is the position in ``feats``."""
        feats = np.ascontiguousarray(feats, np.int64)
        b = self.bbox[feats]
        rows = int((np.minimum(b[:, 3], y1) - np.maximum(b[:, 1], y0)).clip(0).sum())
        _ensure_compiled(rows * 8)
        rows, starts, stops, ks, n = _k.layer_spans(
            feats,
            self.bbox,
            self.feat_off,
            self.part_off,
            self.ring_off,
            self.order,
            self.ex0,
            self.ey0,
            self.ex1,
            self.ey1,
            self.elo,
            self.ehi,
            self.eburn,
            int(y0),
            int(y1),
            int(x0),
            int(x1),
            rows,  # one span a row of a convex feature: no doubling (and its copies) then
        )
        return rows[:n], starts[:n], stops[:n], ks[:n]

    def gather(self, block, y0: int, x0: int, spans, nfeat: int):
        """``(values, counts)``: the samples of ``spans`` in ``block`` (``(h, w[, bands])``
        with origin ``(y0, x0)``), every band of a pixel in turn, feature after feature, and
        the samples of each of the ``nfeat`` feature positions."""
        block = np.asarray(block)
        nb = block.shape[2] if block.ndim == 3 else 1
        flat = np.ascontiguousarray(block).reshape(block.shape[0], -1)
        if not flat.dtype.isnative:
            flat = flat.astype(flat.dtype.newbyteorder("="))
        rows, starts, stops, ks = spans
        total = int((stops - starts).sum()) * nb
        values = np.empty(total, flat.dtype)
        _ensure_compiled(total)
        _k.gather(flat, nb, int(y0), int(x0), rows, starts, stops, rows.size, values)
        counts = np.bincount(ks, weights=stops - starts, minlength=nfeat).astype(np.int64) * nb
        return values, counts

    def mask(self, spans, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """A boolean array of the block ``[y0, y1) x [x0, x1)``: True on the spans."""
        rows, starts, stops, _ = spans
        out = np.zeros((y1 - y0, x1 - x0), bool)
        _ensure_compiled(out.size)
        _k.fill_mask(out, int(y0), int(x0), rows, starts, stops, rows.size)
        return out


def _top_edges(start, end, ring_of, ring_off, map_axes=None) -> np.ndarray:
    """Which edges GDAL's scanline fills apart from the crossings: the horizontal edges that
    run towards smaller x once each ring is turned clockwise in map coordinates, as rasterio
    burns them (a centre on one is in the polygon; for a valid polygon, its edges facing
    map south, whose centres the crossings leave out). ``map_axes`` is ``(a, b, d, e)`` of
    the pixel -> map transform (``None``: pixel coordinates, the identity)."""
    if not len(start):
        return np.zeros(0, bool)
    a, b, d, e = (1.0, 0.0, 0.0, 1.0) if map_axes is None else map_axes
    turned = _map_counterclockwise(start, end, ring_of, ring_off, (a, b, d, e))
    dx = end[:, 0] - start[:, 0]
    return (start[:, 1] == end[:, 1]) & np.where(turned[ring_of], dx > 0, dx < 0)


def _map_counterclockwise(pts, ends, ring_of, ring_off, axes) -> np.ndarray:
    """Each ring's orientation in map coordinates as GDAL's ``OGRLinearRing::isClockwise``
    finds it (counterclockwise: True): the turn at the lowest, then rightmost vertex, or the
    signed area when that vertex is repeated or its turn is flat (a self-intersecting ring's
    area may say otherwise)."""
    a, b, d, e = axes
    if b == 0 and d == 0:  # north-up or pixels: the order of map x and y, exactly
        kx, ky = np.sign(a) * pts[:, 0], np.sign(e) * pts[:, 1]
    else:
        kx, ky = a * pts[:, 0] + b * pts[:, 1], d * pts[:, 0] + e * pts[:, 1]
    first = ring_off[:-1]
    sizes = np.diff(ring_off)
    order = np.lexsort((-kx, ky, ring_of))  # stable: the first of equal vertices first
    v = order[first]
    w = order[np.minimum(first + 1, ring_off[1:] - 1)]
    repeated = (sizes > 1) & (kx[w] == kx[v]) & (ky[w] == ky[v])
    local = v - first
    prev = first + (local - 1) % sizes
    nxt = first + (local + 1) % sizes
    dx0, dy0 = pts[prev, 0] - pts[v, 0], pts[prev, 1] - pts[v, 1]
    dx1, dy1 = pts[nxt, 0] - pts[v, 0], pts[nxt, 1] - pts[v, 1]
    turn = dx1 * dy0 - dx0 * dy1
    cross = pts[:, 0] * ends[:, 1] - ends[:, 0] * pts[:, 1]
    area = np.bincount(ring_of, weights=cross, minlength=len(first))  # twice the signed area
    flat = repeated | (turn == 0) | ((dx0 == 0) & (dy0 == 0)) | ((dx1 == 0) & (dy1 == 0))
    sign = np.where(flat, np.sign(area), np.sign(turn))
    return sign * np.sign(a * e - b * d) > 0


def _ensure_compiled(work: int) -> None:
    """Load numba before a call whose work is large (the kernels judge by their first
    argument only, which here is small whatever the work)."""
    from . import _jit

    if work > _jit.SMALL and not _jit.loaded() and _jit.mode() == "auto":
        _jit.load()
