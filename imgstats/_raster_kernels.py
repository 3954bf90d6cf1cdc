"""Kernels of the scanline rasterizer (:mod:`imgstats._raster`): spans of polygons per block.

One call rasterizes every feature that touches a block of rows and columns at once and
returns its *spans*: ``(row, x start, x stop, feature)`` runs of pixels whose centre lies
inside, feature after feature, rows in order. Nothing is allocated per pixel: the spans
follow rows x crossings, and the samples they select are gathered straight from the block.

Each ring keeps an *active edge table*: its edges sorted by their lower y, added as the
scanline reaches them and dropped once it passes them, so a row costs the edges it crosses,
not the ring's size. The crossing of an edge ``(xa, ya) -> (xb, yb)`` with the scanline
``yc`` is ``xa + (yc - ya) * (xb - xa) / (yb - ya)``, the very float64 expression of
:func:`imgstats.regions.point_in_ring`, so a pixel is in or out here exactly as there.

They run as Python for small inputs until numba is loaded (:mod:`imgstats._jit`).
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import njit


@njit(nogil=True, cache=True)
def _grow(arr, need):
    """``arr`` copied into an array of at least ``need`` elements (doubling)."""
    n = arr.size
    while n < need:
        n *= 2
    out = np.empty(n, arr.dtype)
    out[: arr.size] = arr
    return out


@njit(nogil=True, cache=True)
def _insertion_sort(xs, n):
    for i in range(1, n):
        v = xs[i]
        j = i - 1
        while j >= 0 and xs[j] > v:
            xs[j + 1] = xs[j]
            j -= 1
        xs[j + 1] = v


@njit(nogil=True, cache=True)
def layer_spans(
    feats,
    bbox,
    feat_off,
    part_off,
    ring_off,
    order,
    ex0,
    ey0,
    ex1,
    ey1,
    elo,
    ehi,
    eburn,
    y0,
    y1,
    x0,
    x1,
    cap,
):
    """Spans of the features ``feats`` (sorted indices) inside rows ``[y0, y1)`` and columns
    ``[x0, x1)``: ``(rows, starts, stops, k, n)`` where ``k`` is the position in ``feats``.
    ``cap`` is the spans expected (a feature's rows in the block: one span a row of a convex
    polygon), the room the arrays start with; they double when a feature has more.

    A pixel is inside a polygon part when its centre lies inside an odd number of the part's
    rings (each even-odd), as GDAL fills a polygon's scanline from the crossings of all its
    rings: the exterior less its holes for a valid polygon, and what rasterio gives of an
    invalid one (a hole outside the exterior, overlapping holes); inside a feature when
    inside any of its parts (GDAL burns each part of a MultiPolygon on its own). A centre on
    a ring's horizontal edge with the ring's interior below it (``eburn``) is inside: GDAL
    fills such an edge's pixels apart from its scanline.
    """
    cap = max(cap, 16)
    rows = np.empty(cap, np.int64)
    starts = np.empty(cap, np.int64)
    stops = np.empty(cap, np.int64)
    ks = np.empty(cap, np.int64)
    n = 0
    for k in range(feats.size):
        f = feats[k]
        fy0 = max(y0, bbox[f, 1])
        fy1 = min(y1, bbox[f, 3])
        fx0 = max(x0, bbox[f, 0])
        fx1 = min(x1, bbox[f, 2])
        if fy1 <= fy0 or fx1 <= fx0:
            continue
        p0, p1 = feat_off[f], feat_off[f + 1]
        r0, r1 = part_off[p0], part_off[p1]
        e0, e1 = ring_off[r0], ring_off[r1]
        nr = r1 - r0
        ne = e1 - e0
        # per ring: the next edge to add (in ``order``), and its active edges in ``act``
        ptr = np.empty(nr, np.int64)
        nact = np.zeros(nr, np.int64)
        act = np.empty(ne, np.int64)
        xs = np.empty(ne + 2, np.float64)
        # events of one row (general features): x, ring (local), +1/-1
        ev_x = np.empty(2 * ne + 2, np.int64)
        ev_r = np.empty(2 * ne + 2, np.int64)
        ev_d = np.empty(2 * ne + 2, np.int64)
        ring_part = np.empty(nr, np.int64)
        for p in range(p0, p1):
            for r in range(part_off[p], part_off[p + 1]):
                ring_part[r - r0] = p - p0
        npart = p1 - p0
        cover = np.zeros(npart, np.int64)  # the part's ring spans over x: odd is inside
        burnt = np.zeros(npart, np.int64)  # its burnt hole edges over x: inside
        for r in range(nr):
            ptr[r] = ring_off[r0 + r]
        simple = nr == 1  # one ring with no burnt edge: its spans are the feature's
        for e in range(e0, e1 if simple else e0):
            if eburn[e]:
                simple = False
                break
        for y in range(fy0, fy1):
            yc = y + 0.5
            nev = 0
            for r in range(nr):
                a0 = ring_off[r0 + r] - e0  # this ring's slice of act
                m = nact[r]
                # add the edges the scanline reached (sorted by lower y)
                end = ring_off[r0 + r + 1]
                while ptr[r] < end and elo[order[ptr[r]]] <= yc:
                    e = order[ptr[r]]
                    if eburn[e] and elo[e] == yc:
                        # a horizontal edge on this scanline, its ring's interior below:
                        # GDAL fills its pixels (floor(x + 0.5) on) whatever the crossings
                        # say
                        a = max(fx0, math.floor(min(ex0[e], ex1[e]) + 0.5))
                        b = min(fx1, math.floor(max(ex0[e], ex1[e]) + 0.5))
                        if b > a:  # events of +-2: a burnt edge, not a ring's span
                            ev_x[nev] = a
                            ev_r[nev] = r
                            ev_d[nev] = 2
                            ev_x[nev + 1] = b
                            ev_r[nev + 1] = r
                            ev_d[nev + 1] = -2
                            nev += 2
                    act[a0 + m] = e
                    m += 1
                    ptr[r] += 1
                # keep the edges still crossing it (lower y <= yc < upper y)
                c = 0
                for i in range(m):
                    e = act[a0 + i]
                    if ehi[e] > yc:
                        act[a0 + c] = e
                        c += 1
                nact[r] = c
                if c == 0:
                    continue
                for i in range(c):
                    e = act[a0 + i]
                    xs[i] = ex0[e] + (yc - ey0[e]) * (ex1[e] - ex0[e]) / (ey1[e] - ey0[e])
                if c <= 32:
                    _insertion_sort(xs, c)
                else:
                    xs[:c] = np.sort(xs[:c])
                # pixel x is inside when x + 0.5 lies in (s0, s1], (s2, s3]... as GDAL fills a
                # scanline (floor(s + 0.5) to floor(s' + 0.5) - 1): a centre on a crossing
                # belongs to the span on its left
                for i in range(0, c - 1, 2):
                    a = max(fx0, math.floor(xs[i] + 0.5))
                    b = min(fx1, math.floor(xs[i + 1] + 0.5))
                    if b <= a:
                        continue
                    if simple:
                        if n == rows.size:
                            rows = _grow(rows, n + 1)
                            starts = _grow(starts, n + 1)
                            stops = _grow(stops, n + 1)
                            ks = _grow(ks, n + 1)
                        rows[n] = y
                        starts[n] = a
                        stops[n] = b
                        ks[n] = k
                        n += 1
                    else:
                        ev_x[nev] = a
                        ev_r[nev] = r
                        ev_d[nev] = 1
                        ev_x[nev + 1] = b
                        ev_r[nev + 1] = r
                        ev_d[nev + 1] = -1
                        nev += 2
            if simple or nev == 0:
                continue
            # sweep: inside where some part has an odd number of its rings, or a burnt edge
            idx = np.argsort(ev_x[:nev], kind="mergesort")
            inside = 0
            j = 0
            open_at = 0
            while j < nev:
                xcur = ev_x[idx[j]]
                before = inside
                while j < nev and ev_x[idx[j]] == xcur:
                    r = ev_r[idx[j]]
                    p = ring_part[r]
                    d = ev_d[idx[j]]
                    was = cover[p] % 2 == 1 or burnt[p] > 0
                    if d == 2 or d == -2:
                        burnt[p] += d // 2
                    else:
                        cover[p] += d
                    now = cover[p] % 2 == 1 or burnt[p] > 0
                    if now and not was:
                        inside += 1
                    elif was and not now:
                        inside -= 1
                    j += 1
                if before == 0 and inside > 0:
                    open_at = xcur
                elif before > 0 and inside == 0:
                    if n == rows.size:
                        rows = _grow(rows, n + 1)
                        starts = _grow(starts, n + 1)
                        stops = _grow(stops, n + 1)
                        ks = _grow(ks, n + 1)
                    rows[n] = y
                    starts[n] = open_at
                    stops[n] = xcur
                    ks[n] = k
                    n += 1
    return rows, starts, stops, ks, n


@njit(nogil=True, cache=True)
def gather(block, nb, y0, x0, rows, starts, stops, n, values):
    """Copy the samples of the spans out of ``block`` (``(h, w * nb)``: ``nb`` bands per
    pixel, origin ``(y0, x0)``) into ``values``, span after span."""
    pos = 0
    for i in range(n):
        r = rows[i] - y0
        a = (starts[i] - x0) * nb
        m = (stops[i] - starts[i]) * nb
        values[pos : pos + m] = block[r, a : a + m]
        pos += m
    return pos


@njit(nogil=True, cache=True)
def fill_mask(out, y0, x0, rows, starts, stops, n):
    """Set the spans' pixels of the boolean ``out`` (origin ``(y0, x0)``)."""
    for i in range(n):
        r = rows[i] - y0
        for x in range(starts[i] - x0, stops[i] - x0):
            out[r, x] = True
