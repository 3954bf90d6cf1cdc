"""The OpenAPI 3.1 document of the HTTP API, served at ``/api/openapi.json``."""

from __future__ import annotations

from ..functions import FUNCTION_PATTERN, NAMED_FUNCTIONS, QUANTILE_METHODS
from .errors import STATUS_CODES

__all__ = ["openapi_document", "FUNC_REGEX", "GET_FUNC_REGEX"]

#: The whole grammar of a function name, as a JSON-schema pattern.
FUNC_REGEX = "^(" + "|".join(NAMED_FUNCTIONS) + "|" + FUNCTION_PATTERN.replace("?P<q>", "") + ")$"
#: ``GET /stats/{image}/{func}`` takes ``histogram`` too (with ``bins`` and ``range``).
GET_FUNC_REGEX = "^(histogram|" + FUNC_REGEX[2:]


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


#: Statuses any request can get, before any route: the server refuses a request too large
#: to parse (gunicorn's limits), or one whose head or body came too slowly (a loaded
#: machine's client can see it too), answered as JSON by the worker.
_ANY_REQUEST = (408, 414, 431)


def _errors(*codes: int) -> dict:
    """The documented error responses ``codes`` of an operation, and :data:`_ANY_REQUEST`."""
    by_code: dict[int, list[str]] = {}
    for cls, code in STATUS_CODES.items():
        by_code.setdefault(code, []).append(cls.__name__)
    text = {
        404: "image, pattern match or function not found",
        405: "method not allowed (GET only, but POST on /stats/{image} and /zonal/{image})",
        400: "invalid option (band, page, window, polygon, method, body; mixed pixel types in a "
        "collection; an unknown query parameter, or one given twice; a key given twice in one "
        "object of the body)",
        413: "image declares too many pixels, or the body is too large",
        415: "a POST body that is not sent as Content-Type: application/json (or "
        "application/geo+json), or is "
        "compressed (Content-Encoding)",
        422: "unreadable image or no valid samples",
        502: "the image store failed",
        503: "the service is busy (Retry-After says when to retry)",
        504: "the image store did not answer in time",
        501: "a POST body sent with a transfer coding other than chunked",
        412: "a precondition failed: If-Match names no current ETag (a POST answer has none), "
        "or If-None-Match matches on a POST",
        414: "the request line (method, path and query) is longer than 4094 bytes",
        431: "the request line and header fields are too large",
        408: "the request's head did not arrive within IMGSTATS_HEADER_TIMEOUT, or its body "
        "within IMGSTATS_BODY_TIMEOUT (the connection is closed)",
    }
    out = {}
    for code in (*codes, *_ANY_REQUEST):
        kinds = ", ".join(by_code.get(code, []))
        out[str(code)] = _error(text[code] + (f" ({kinds})" if kinds else ""))
    return out


def _json_body(required: list[str], properties: dict) -> dict:
    """A required JSON object body of these ``properties`` (no others)."""
    schema = {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": properties,
    }
    # GeoJSON's own media type (RFC 7946) is taken as JSON is
    types = ("application/json", "application/geo+json")
    return {"required": True, "content": {t: {"schema": schema} for t in types}}


def _funcs_array(pattern: str) -> dict:
    """The ``funcs`` of a POST body: 1 to 64 function names."""
    return {
        "type": "array",
        "minItems": 1,
        "maxItems": 64,
        "items": {"type": "string", "pattern": pattern},
    }


def _zonal_operation() -> dict:
    """``POST /zonal/{image}``: statistics per polygon of a FeatureCollection, or per label of
    a label raster of the store (see ``imgstats/web/zonal.py`` and docs/zonal.md)."""
    zonal_funcs = "^(min|max|mean|median|count|" + FUNCTION_PATTERN.replace("?P<q>", "") + ")$"
    polygons = {
        "type": "object",
        "description": "A GeoJSON FeatureCollection of Polygon and MultiPolygon features.",
        "required": ["type", "features"],
        "properties": {"type": {"const": "FeatureCollection"}, "features": {"type": "array"}},
    }
    labels = {
        "type": "object",
        "description": "A label raster of the store.",
        "required": ["labels"],
        "additionalProperties": False,
        "properties": {"labels": {"type": "string"}},
    }
    body = {
        "funcs": _funcs_array(zonal_funcs),
        "zones": {"oneOf": [polygons, labels]},
        "band": {"type": ["string", "integer", "null"]},
        "page": {"type": ["integer", "null"], "minimum": 0},
        "id_property": {
            "type": ["string", "null"],
            "description": "The property naming each polygon's zone (default: the features' "
            "ids, else their positions).",
        },
        "crs": {
            "type": ["string", "null"],
            "maxLength": 200,
            "description": "The polygons' CRS: raster (the image's own) or any CRS pyproj "
            "knows (EPSG:4326).",
        },
    }
    return {
        "post": {
            "summary": "Statistics of every zone: polygons or a label raster",
            "operationId": "zonal",
            "description": "Polygons (a GeoJSON FeatureCollection, in pixel coordinates, or "
            "in map coordinates with crs or the collection's own crs member) answer the "
            "FeatureCollection itself, each feature's properties extended with one key per "
            'function and count; a label raster of the store ({"labels": name}) answers '
            "rows, one per label. A zone without a valid sample has count 0 and null "
            "values. Limits: the body (MAX_CONTENT_LENGTH), ZONAL_FEATURES features, "
            "ZONAL_VERTICES vertices and ZONAL_LABELS labels (400 beyond); a bad feature is "
            "a 400 naming its index.",
            "parameters": [
                {
                    "name": "image",
                    "in": "path",
                    "required": True,
                    "description": "An image name of the store (IMG_1.jpg); not a pattern.",
                    "schema": {"type": "string", "maxLength": 255},
                }
            ],
            "requestBody": _json_body(["funcs", "zones"], body),
            "responses": {
                "200": {
                    "description": "The FeatureCollection with each zone's statistics in "
                    "its properties, or {image, version, labels, funcs, rows} for a label "
                    "raster.",
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [_zonal_features(), _zonal_rows()]}
                        }
                    },
                },
                **_errors(400, 404, 405, 412, 413, 415, 422, 501, 502, 503, 504),
            },
        }
    }


#: A zone's value of one function: null for a zone without a valid sample (or infinite).
_ZONE_VALUE = {"type": ["number", "null"]}
#: ``valid``: what decided which samples an answer counted (inline: answers' schemas are
#: also checked on their own, where a ``$ref`` has no document to point into).
_VALID = {
    "type": ["object", "null"],
    "description": "What decided which samples count, for the page answered: "
    "mask (the words of /api/images/{image}: internal, sidecar, nodata, "
    "alpha, or null: NaN alone), nodata (the value left out, null when none "
    "was) and source (file: the image's own; option: the nodata asked for; "
    "raw: every sample but NaN). Null for a pattern whose images count by "
    "different rules. band_nodata, when the bands selected have different nodata values "
    "(an .aux.xml gives each its own), lists each band's (null: none), nodata then null.",
    "required": ["mask", "nodata", "source"],
    "properties": {
        "mask": {
            "type": ["string", "null"],
            "enum": ["internal", "sidecar", "nodata", "alpha", None],
        },
        "nodata": {"type": ["number", "string", "null"]},
        "source": {"type": "string", "enum": ["file", "option", "raw"]},
        "band_nodata": {"type": "array", "items": {"type": ["number", "string", "null"]}},
    },
}

_ZONAL_FACTS = {
    "image": {"type": "string"},
    "version": {"type": "string"},
    "funcs": {"type": "array", "items": {"type": "string"}},
    "valid": _VALID,
}


def _zonal_features() -> dict:
    """The answer to polygons: the FeatureCollection sent, each feature's properties extended
    with a value per function and ``count``, and the question under ``imgstats``."""
    feature = {
        "type": "object",
        "description": "A feature as sent (a bare geometry sent as a feature comes back with "
        "properties too).",
        "required": ["properties"],
        "properties": {
            "properties": {
                "type": "object",
                "description": "The feature's own properties, then one per function (a number, "
                "or null) and count.",
                "required": ["count"],
                "properties": {"count": {"type": "integer", "minimum": 0}},
            },
        },
    }
    return {
        "type": "object",
        "required": ["type", "features", "imgstats"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "features": {"type": "array", "items": feature},
            "imgstats": {
                "type": "object",
                "required": list(_ZONAL_FACTS),
                "properties": _ZONAL_FACTS,
                "additionalProperties": False,
            },
        },
    }


def _zonal_rows() -> dict:
    """The answer to a label raster: a row per label, in increasing order."""
    row = {
        "type": "object",
        "description": "A label's zone, its count and one value per function (null when the "
        "zone has no valid sample).",
        "required": ["zone", "count"],
        "properties": {"zone": {"type": "integer"}, "count": {"type": "integer", "minimum": 0}},
        "additionalProperties": _ZONE_VALUE,
    }
    return {
        "type": "object",
        "required": [*_ZONAL_FACTS, "labels", "rows"],
        "properties": {
            **_ZONAL_FACTS,
            "labels": {"type": "string", "description": "The label raster's name."},
            "rows": {"type": "array", "items": row},
        },
        "additionalProperties": False,
    }


def openapi_document(version: str) -> dict:
    """Return the OpenAPI document (a JSON-ready dict) for imgstats ``version``."""
    image = {
        "name": "image",
        "in": "path",
        "required": True,
        "description": "An image name of the store, with its extension (IMG_1.jpg), "
        "or a collection pattern: a name holding * or ? (percent-encoded "
        "as %3F) matches store names by fnmatch rules (IMG_*.jpg), and "
        "the statistic is over all the matched images' samples as one "
        "set. The answer then lists the matched images and versions. No "
        "match is a 404; an unreadable image in the match fails the "
        "question with its own status, naming it; mixed pixel types "
        "are a 400.",
        "schema": {"type": "string", "maxLength": 255, "pattern": r"^[^/\\?#%:]+$"},
    }
    func = {
        "name": "func",
        "in": "path",
        "required": True,
        "description": ", ".join(NAMED_FUNCTIONS) + " or pXXX: a percentile from 0 to 100 in "
        "ASCII digits with an optional fraction (p10, p99.9). count is the valid samples, "
        "masked_pixels the samples seen but not valid (NaN, nodata, masked), valid_percent "
        "their share; sum is exact (see docs/statistics.md). Percentiles "
        "equal numpy.percentile (linear) over the selected samples; NaN "
        "samples are ignored. histogram (GET only, one image) answers "
        "numpy.histogram(valid samples, bins, range) as {counts, edges} per selection "
        "and band: from the summary for 8/16-bit images, in one pass over the pixels for "
        "wider ones.",
        "schema": {"type": "string", "pattern": GET_FUNC_REGEX},
    }
    raw = {
        "name": "raw",
        "in": "query",
        "required": False,
        "description": "true (or 1): every sample counts (NaN aside), the file's nodata, "
        "mask and alpha ignored. Default false: GDAL's valid samples. Not with nodata.",
        "schema": {"type": "boolean"},
    }
    nodata = {
        "name": "nodata",
        "in": "query",
        "required": False,
        "description": "Samples equal to this number do not count, in place of the file's "
        "nodata and mask (-9999, 0.5, nan, -inf). Not a number, not whole for an integer "
        "image, or outside the image type's range: 400.",
        "schema": {"type": "string", "maxLength": 64},
    }
    palette = {
        "name": "palette",
        "in": "query",
        "required": False,
        "description": "rgb (default): a palette image's colours; index: its class indices, "
        "one band P, as GDAL reads a paletted TIFF. index on an image without a palette, "
        "or any other value: 400.",
        "schema": {"type": "string", "enum": ["rgb", "index"]},
    }
    bbox = {
        "name": "bbox",
        "in": "query",
        "required": False,
        "description": "minx,miny,maxx,maxy in map coordinates (the raster's CRS, or crs): "
        "the pixels whose centre lies inside count; it selects the pixel window it covers "
        "(a polygon when reprojected). Not with window; not on a pattern. Bad, inverted or "
        "on an image without georeferencing: 400; no pixel centre inside: 422.",
        "schema": {"type": "string", "maxLength": 128},
    }
    crs = {
        "name": "crs",
        "in": "query",
        "required": False,
        "description": "The CRS of bbox (EPSG:4326, OGC:CRS84), reprojected with pyproj "
        "(the imgstats[geo] extra; without it, or for an unknown CRS: 400). Default the "
        "raster's own.",
        "schema": {"type": "string", "maxLength": 256},
    }
    scaled = {
        "name": "scaled",
        "in": "query",
        "required": False,
        "description": "1 (or true): statistics of the physical values value * scale + offset "
        "(float64), each band's scale and offset from the file's GDAL metadata (1 and 0 "
        "without); order statistics equal numpy on them, mean, sum and std are exact rounded "
        "once. Bands of different scales pooled, or a class statistic: 400. Default 0.",
        "schema": {"type": "boolean"},
    }
    scale = {
        "name": "scale",
        "in": "query",
        "required": False,
        "description": "This scale in place of the file's (implies scaled); 0 or not finite: 400.",
        "schema": {"type": "number"},
    }
    offset = {
        "name": "offset",
        "in": "query",
        "required": False,
        "description": "This offset in place of the file's (implies scaled); not finite: 400.",
        "schema": {"type": "number"},
    }
    bins = {
        "name": "bins",
        "in": "query",
        "required": False,
        "description": "histogram only: the number of equal bins, 1 to 4096 (default 10, "
        "numpy's); else 400.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 4096},
    }
    hist_range = {
        "name": "range",
        "in": "query",
        "required": False,
        "description": "histogram only: lo,hi, the outer edges (finite, lo <= hi); default "
        "the selection's exact min and max (400 when they are not finite).",
        "schema": {"type": "string", "maxLength": 128},
    }
    band = {
        "name": "band",
        "in": "query",
        "required": False,
        "description": "Band index or name (R, G, B...), or 'luma'; default all samples.",
        "schema": {"type": "string"},
    }
    page = {
        "name": "page",
        "in": "query",
        "required": False,
        "description": "The page of a multi-page image (TIFF), from 0; default the first.",
        "schema": {"type": "integer", "minimum": 0, "maximum": 999999},
    }
    window = {
        "name": "window",
        "in": "query",
        "required": False,
        "description": "A half-open pixel window x0,y0,x1,y1 (array[y0:y1, x0:x1] of "
        "the array as stored, no EXIF rotation), clipped to the image. "
        "Empty, inverted, outside the image, non-integer or not four "
        "numbers: 400. The answer gives the clipped window.",
        "schema": {
            "type": "string",
            "maxLength": 64,
            "pattern": r"^-?[0-9]{1,10},-?[0-9]{1,10},-?[0-9]{1,10},-?[0-9]{1,10}$",
        },
    }
    method = {
        "name": "method",
        "in": "query",
        "required": False,
        "description": "numpy's percentile method of a pXXX (numpy.percentile(..., "
        "method=)), default linear; median is numpy.median whatever the method. An unknown "
        "method: 400.",
        "schema": {"type": "string", "enum": list(QUANTILE_METHODS)},
    }
    coordinate = {"type": "number", "minimum": -(2.0**31), "maximum": 2.0**31}
    point = {"type": "array", "items": coordinate, "minItems": 2, "maxItems": 2}
    ring = {"type": "array", "items": point, "minItems": 3, "maxItems": 10000}
    polygon = {
        "description": "Pixel coordinates (x right, y down). A pixel counts when its "
        "centre (x + 0.5, y + 0.5) lies inside, the default rule of "
        "rasterio and GDAL; self-intersecting rings follow the even-odd "
        "rule; GeoJSON holes are subtracted; a GeoJSON MultiPolygon (or a "
        "Feature of one) counts the union of its parts. At most 10,000 vertices "
        "in all; fewer than 3 distinct vertices or all on one line (in any part), "
        "a MultiPolygon of no part: 400; no pixel centre inside: 422.",
        "oneOf": [
            ring,
            {
                "type": "object",
                "required": ["type", "coordinates"],
                "properties": {
                    "type": {"const": "Polygon"},
                    "coordinates": {"type": "array", "items": ring, "minItems": 1},
                },
            },
            {
                "type": "object",
                "required": ["type", "coordinates"],
                "properties": {
                    "type": {"const": "MultiPolygon"},
                    "coordinates": {
                        "type": "array",
                        "items": {"type": "array", "items": ring, "minItems": 1},
                        "minItems": 1,
                    },
                },
            },
        ],
    }
    number = {
        "type": ["number", "null"],
        "description": "An int for min/max of integer images, else a float; null "
        "for NaN or infinite results (not valid JSON numbers).",
    }
    histogram = {
        "type": "object",
        "required": ["counts", "edges"],
        "description": "A histogram: numpy.histogram's counts and bin edges.",
        "properties": {
            "counts": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "edges": {"type": "array", "items": {"type": "number"}},
        },
    }
    value_counts = {
        "type": "object",
        "description": "value_counts: each value (an integer, written as a JSON key) and "
        "how many valid samples hold it.",
        "propertyNames": {"pattern": "^-?[0-9]+$"},
        "additionalProperties": {"type": "integer", "minimum": 1},
    }
    value = {"oneOf": [number, histogram, value_counts]}
    many = {"oneOf": [number, value_counts]}  # POST /stats: no histogram
    region_fields = {
        "window": {
            "type": "array",
            "items": {"type": "integer"},
            "minItems": 4,
            "maxItems": 4,
            "description": "The window asked for, clipped to the image.",
        },
        "pixels": {"type": "integer", "description": "Pixels the window or polygon selects."},
        "raw": {"type": "boolean", "description": "Every sample counted, when asked for."},
        "palette": {"type": "string", "description": "index: the class indices were read."},
        "nodata": {
            "type": ["number", "string"],
            "description": "The nodata value asked for (nan, inf, -inf as strings).",
        },
        "scaled": {"type": "boolean", "description": "Physical values, when asked for."},
        "scale": {"type": "number", "description": "The scale asked for, if any."},
        "offset": {"type": "number", "description": "The offset asked for, if any."},
        "valid": _VALID,
        "pattern": {"type": "string", "description": "The collection pattern, if any."},
        "image_count": {"type": "integer", "description": "Images the pattern matched."},
        "images": {
            "type": "array",
            "description": "The matched images, sorted by name.",
            "items": {
                "type": "object",
                "required": ["name", "version"],
                "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "imgstats",
            "version": version,
            "description": "Exact image statistics (min, max, mean, median, pXXX equal "
            "to numpy's) of the images of a store, of windows and "
            "polygons of them, and of collections of them. GET only, "
            "but POST on /stats/{image} and /zonal/{image}: other methods get 405.",
        },
        "paths": {
            "/health": {
                "get": {
                    "summary": "Liveness",
                    "description": "Takes no query parameter and ignores any (a probe's "
                    "cache-buster), as /ready does.",
                    "operationId": "health",
                    "responses": {
                        "200": {
                            "description": "The body is exactly OK.",
                            "content": {
                                "text/plain": {"schema": {"type": "string", "const": "OK"}}
                            },
                        },
                        **_errors(405),
                    },
                }
            },
            "/ready": {
                "get": {
                    "summary": "Readiness",
                    "description": "200 once the process has loaded every counting kernel "
                    "(the warm-up at start does), so that no request pays a compile; 503 "
                    "before, or when started with IMGSTATS_WARMUP=0. Point a container's "
                    "HEALTHCHECK or a readiness probe here, a liveness probe at /health.",
                    "operationId": "ready",
                    "responses": {
                        "200": {
                            "description": "Ready.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["ready", "kernels"],
                                        "properties": {
                                            "ready": {"type": "boolean", "const": True},
                                            "kernels": {"type": "integer", "minimum": 0},
                                        },
                                    }
                                }
                            },
                        },
                        "503": {
                            "description": "Not ready yet: retry (Retry-After says when).",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["ready", "error"],
                                        "properties": {
                                            "ready": {"type": "boolean", "const": False},
                                            "error": {"type": "string"},
                                        },
                                    }
                                }
                            },
                        },
                        **_errors(405),
                    },
                }
            },
            "/stats/{image}/{func}": {
                "get": {
                    "summary": "One statistic of an image",
                    "operationId": "stats",
                    "parameters": [
                        image,
                        func,
                        band,
                        page,
                        window,
                        method,
                        raw,
                        nodata,
                        palette,
                        bbox,
                        crs,
                        bins,
                        hist_range,
                        scaled,
                        scale,
                        offset,
                    ],
                    "responses": {
                        "200": {
                            "description": "The value. ETag and Cache-Control are set.",
                            "headers": {
                                "ETag": {"schema": {"type": "string"}},
                                "Cache-Control": {"schema": {"type": "string"}},
                            },
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Stats"}
                                }
                            },
                        },
                        "304": {"description": "Not modified (If-None-Match matched the ETag)."},
                        **_errors(400, 404, 405, 412, 413, 422, 502, 503, 504),
                    },
                }
            },
            "/stats/{image}": {
                "post": {
                    "summary": "Several statistics at once, of a polygon and/or window",
                    "operationId": "stats_many",
                    "description": "A POST route, as /zonal/{image}; the others are GET-only. "
                    "The body is bounded (MAX_CONTENT_LENGTH, 1 MiB by default: 413 beyond). The "
                    "image may be a collection pattern (not with a polygon).",
                    "parameters": [image],
                    "requestBody": _json_body(
                        ["funcs"],
                        {
                            "funcs": _funcs_array(FUNC_REGEX),
                            "polygon": polygon,
                            "window": {
                                "oneOf": [
                                    {
                                        "type": "string",
                                        "pattern": window["schema"]["pattern"],
                                    },
                                    {
                                        "type": "array",
                                        "items": {"type": "integer"},
                                        "minItems": 4,
                                        "maxItems": 4,
                                    },
                                ]
                            },
                            "band": {"type": ["string", "integer", "null"]},
                            "method": method["schema"],
                            "page": {
                                "type": ["integer", "null"],
                                "minimum": 0,
                                "maximum": 999999,
                            },
                            "raw": {
                                "type": ["boolean", "null"],
                                "description": raw["description"],
                            },
                            "scaled": {
                                "type": ["boolean", "null"],
                                "description": scaled["description"],
                            },
                            "scale": {
                                "type": ["number", "null"],
                                "description": scale["description"],
                            },
                            "offset": {
                                "type": ["number", "null"],
                                "description": offset["description"],
                            },
                            "nodata": {
                                "type": ["number", "string", "null"],
                                "description": nodata["description"],
                            },
                            "palette": {
                                "type": ["string", "null"],
                                "enum": ["rgb", "index", None],
                                "description": palette["description"],
                            },
                            "bbox": {
                                "description": bbox["description"],
                                "oneOf": [
                                    {"type": "string", "maxLength": 128},
                                    {
                                        "type": "array",
                                        "items": {"type": "number"},
                                        "minItems": 4,
                                        "maxItems": 4,
                                    },
                                ],
                            },
                            "crs": {
                                "type": ["string", "null"],
                                "maxLength": 256,
                                "description": crs["description"],
                            },
                        },
                    ),
                    "responses": {
                        "200": {
                            "description": "Every function's value (no ETag: answers to a "
                            "body are not cached by HTTP caches).",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/StatsMany"}
                                }
                            },
                        },
                        **_errors(400, 404, 405, 412, 413, 415, 422, 501, 502, 503, 504),
                    },
                }
            },
            "/zonal/{image}": _zonal_operation(),
            "/api/images": {
                "get": {
                    "summary": "Image names in the store",
                    "operationId": "images",
                    "responses": {
                        "200": {
                            "description": "Sorted names, read live.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ImageList"}
                                }
                            },
                        },
                        **_errors(405, 412, 502, 503, 504),
                    },
                }
            },
            "/api/images/{image}": {
                "get": {
                    "summary": "One image's header facts",
                    "description": "Read without decoding a pixel, cached by the image's "
                    "version: name, version, bytes, width, height, bands, dtype, format, "
                    "photometric, pages, nodata, mask, scales ([scale, offset] per band, or "
                    "null), crs, transform and bounds (null without georeferencing).",
                    "operationId": "image_info",
                    "parameters": [
                        {
                            "name": "image",
                            "in": "path",
                            "required": True,
                            "description": "An image name of the store (IMG_1.jpg); a "
                            "pattern or an unknown name is a 404.",
                            "schema": {
                                "type": "string",
                                "maxLength": 255,
                                "pattern": r"^[^/\\?#%:]+$",
                            },
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The facts. An ETag is set.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ImageInfo"}
                                }
                            },
                        },
                        **_errors(404, 405, 412, 422, 502, 503, 504),
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "description": "Takes no query parameter (400 for any, as every route).",
                    "operationId": "openapi",
                    "responses": {
                        "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}},
                        **_errors(400, 405),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "ImageInfo": {
                    "type": "object",
                    "required": ["name", "version", "width", "height", "bands", "dtype"],
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string"},
                        "bytes": {"type": "integer"},
                        "width": {"type": "integer"},
                        "height": {"type": "integer"},
                        "bands": {"type": "array", "items": {"type": "string"}},
                        "dtype": {"type": "string"},
                        "format": {"type": "string"},
                        "photometric": {"type": ["string", "null"]},
                        "pages": {"type": "integer"},
                        "nodata": {"type": ["number", "string", "null"]},
                        "mask": {"type": ["string", "null"]},
                        "nodata_problem": {
                            "type": ["string", "null"],
                            "description": "why the statistics refuse the image (422) unless "
                            "raw or nodata is given: its .aux.xml gives some colour bands a "
                            "nodata value and leaves the others to its alpha band; null "
                            "when they do not",
                        },
                        "band_nodata": {
                            "type": "array",
                            "items": {"type": ["number", "string", "null"]},
                            "description": "each band's own nodata value (null: none), "
                            "applied band by band, when its .aux.xml gives the bands "
                            "different ones (nodata is then null); absent otherwise",
                        },
                        "scales": {
                            "type": ["array", "null"],
                            "items": {"type": "array", "items": {"type": "number"}},
                        },
                        "crs": {"type": ["string", "null"]},
                        "transform": {"type": ["array", "null"], "items": {"type": "number"}},
                        "bounds": {"type": ["array", "null"], "items": {"type": "number"}},
                    },
                },
                "Stats": {
                    "type": "object",
                    "required": ["image", "func", "value"],
                    "properties": {
                        "image": {"type": "string"},
                        "func": {"type": "string"},
                        "method": {"type": "string", "enum": list(QUANTILE_METHODS)},
                        "value": value,
                        "band": {"type": ["string", "null"]},
                        "bands": {
                            "type": "object",
                            "additionalProperties": value,
                            "description": "The value per band, for images of several bands.",
                        },
                        "dtype": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                        "count": {
                            "type": "integer",
                            "description": "Valid samples (NaN excluded).",
                        },
                        "page": {"type": "integer", "description": "The page asked for, if any."},
                        "version": {
                            "type": "string",
                            "description": "The image's version, or for a pattern a digest "
                            "of every matched image's version.",
                        },
                        **region_fields,
                    },
                },
                "StatsMany": {
                    "type": "object",
                    "required": ["image", "funcs", "values"],
                    "properties": {
                        "image": {"type": "string"},
                        "funcs": {"type": "array", "items": {"type": "string"}},
                        "method": {"type": "string", "enum": list(QUANTILE_METHODS)},
                        "values": {"type": "object", "additionalProperties": many},
                        "band": {"type": ["string", "null"]},
                        "bands": {
                            "type": "object",
                            "additionalProperties": {
                                "type": ["object", "null"],
                                "additionalProperties": many,
                            },
                            "description": "Every function's value per band.",
                        },
                        "dtype": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                        "count": {"type": "integer"},
                        "page": {"type": "integer"},
                        "version": {"type": "string"},
                        **region_fields,
                    },
                },
                "ImageList": {
                    "type": "object",
                    "required": ["images"],
                    "properties": {
                        "images": {"type": "array", "items": {"type": "string"}},
                        "count": {"type": "integer"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "type": {"type": "string"},
                        "status": {"type": "integer"},
                    },
                },
            }
        },
    }
