"""``POST /zonal/<image>``: exact statistics per zone of an image of the store.

The body is a JSON object::

    {"funcs": ["mean", "median", "p99"],          # required
     "zones": <GeoJSON FeatureCollection>          # polygons in pixel coordinates
              | {"labels": "<label raster in the store>"},
     "band": null | index | name,                   # optional, as for /stats
     "page": null | int,                            # optional
     "id_property": null | "name",                  # optional, polygons only
     "crs": null | "raster" | "EPSG:4326" | ...}    # optional, polygons only

Polygons are in pixel coordinates, or in map coordinates with ``crs`` (``"raster"``: the
image's own CRS; any other is reprojected with pyproj), or in the CRS the FeatureCollection
names in its own ``crs`` member. Polygons answer the
FeatureCollection itself, each feature's ``properties`` extended with one key per function
and ``count``; a label raster answers ``rows``, one object per label
``{"zone": label, "count": n, "<func>": value, ...}``. A zone with no valid sample has
``count`` 0 and ``null`` values. See ``docs/zonal.md``.

Limits: the body (``MAX_CONTENT_LENGTH``), ``ZONAL_FEATURES`` features, ``ZONAL_VERTICES``
vertices (400), ``ZONAL_LABELS`` labels in a label raster (400), the pixel limit (413) and
the decode budget and slow-work slots (503). A bad feature refuses the whole request with
400, naming the feature's index. Answers are cached (in the worker, and in Redis when the
service has one) by image version, the zones' digest and ``crs`` (or
the label raster's version), the band, the page and the functions.
"""

from __future__ import annotations

import hashlib
import json
import math

from flask import Blueprint, Response, current_app, request

from .._raster import RULE
from ..errors import InvalidOption, UnknownFunction
from ._conditional import check_preconditions
from .api import json_object, json_whole, parse_band
from .service import check_page, of_one_version
from .store import cacheable, racy

__all__ = ["bp"]

bp = Blueprint("zonal", __name__)

#: Keys a body may hold; any other is refused (a typo must not change the question).
_BODY_KEYS = {"funcs", "zones", "band", "page", "id_property", "crs"}
#: Most functions in one request.
MAX_FUNCS = 64


@bp.route("/zonal/<image>", methods=["POST"], provide_automatic_options=False)
def zonal_stats(image: str):
    """Statistics of every zone (polygon or label) of ``image``; see the module's notes."""
    service = current_app.extensions["imgstats"]
    config = current_app.config
    fields = _json_body()
    funcs = _funcs(fields.get("funcs"))
    band = json_whole(fields.get("band"))
    if isinstance(band, bool) or not isinstance(band, (str, int, type(None))):
        raise InvalidOption("'band' must be a band index, a band name or null")
    band = parse_band(band) if isinstance(band, str) else band  # "0" is band 0, as on /stats
    page = check_page(json_whole(fields.get("page")))
    id_property = fields.get("id_property")
    if id_property is not None and not isinstance(id_property, str):
        raise InvalidOption("'id_property' must be a property name")
    crs = fields.get("crs")
    if crs is not None and (not isinstance(crs, str) or not crs.strip() or len(crs) > 200):
        raise InvalidOption("'crs' must be a CRS name such as 'EPSG:4326', or 'raster'")
    zones = fields.get("zones")
    labels = layer = None
    if isinstance(zones, dict) and set(zones) == {"labels"}:
        labels = zones["labels"]
        if not isinstance(labels, str) or not labels:
            raise InvalidOption("'zones': {\"labels\": ...} names a label raster of the store")
        if id_property is not None or crs is not None:
            raise InvalidOption("'id_property' and 'crs' apply to polygons, not to a label raster")
        from ..zones import LABEL_RULE

        digest = ("labels", labels, service.version(labels), LABEL_RULE)
    elif isinstance(zones, dict) and zones.get("type") == "FeatureCollection":
        features = zones.get("features")
        if not isinstance(features, list):
            raise InvalidOption("'zones' must hold a list of 'features'")
        limit = int(config.get("ZONAL_FEATURES", 10_000))
        if len(features) > limit:
            raise InvalidOption(
                f"{len(features)} features, more than the limit of {limit} (ZONAL_FEATURES)"
            )
        _check_vertices(features, int(config.get("ZONAL_VERTICES", 1_000_000)))
        from ..zones import PolygonLayer, declared_crs, map_to_pixels

        to_pixels = None
        if crs is None:  # a FeatureCollection's own crs member: its coordinates are not pixels
            crs = declared_crs(zones)
        if crs is not None:  # map coordinates: placed by the image's georeferencing
            with _store_errors(service):
                to_pixels = map_to_pixels(service.store.source(image), crs, service._options(page))
        # a bad feature: 400 before any pixel is read
        layer = PolygonLayer.parse(zones, id_property, to_pixels)
        canonical = json.dumps(zones, sort_keys=True, separators=(",", ":"))
        digest = (
            "polygons",
            RULE,
            hashlib.sha256(canonical.encode()).hexdigest(),
            id_property,
            crs,
        )
    else:
        raise InvalidOption(
            "'zones' must be a GeoJSON FeatureCollection (pixel coordinates) "
            'or {"labels": "<name of a label raster in the store>"}'
        )
    body = of_one_version(
        lambda: _zonal_now(service, image, page, band, funcs, digest, zones, layer, labels),
        lambda read: _answer(read[0], zones, labels, funcs, image, racy(read[1])),
    )
    return _response(body)


def _zonal_now(service, image, page, band, funcs, digest, zones, layer, labels):
    """``(body, False)`` for the image's (and label raster's) current version, or
    ``((frame, version), True)`` when that version changed while it was read: the values
    may be of the new bytes, the version of the old (see ``of_one_version``)."""
    version = service.version(image)
    if labels is not None:
        digest = (*digest[:2], service.version(labels), *digest[3:])
    # "valid": bodies that say which samples count (never one of a version before)
    key = ("zonal", "valid", service.store.url, image, version, page, band, tuple(funcs), digest)
    cached = service.answers.peek(key)
    if cached is None and service.redis is not None:
        cached = service.redis.get_bytes(key)  # another worker's answer: no pixel read
        if cached is not None:
            # refused as a decode here would be: another server's PIXEL_LIMIT may be higher
            for name in (image,) if labels is None else (image, labels):
                service.check_limit(name)
            service.answers.slot(key).value = cached
    if cached is not None:
        return cached, False
    slot = service.answers.slot(key)
    # the same question asked meanwhile waits for this answer without a slot of slow
    # work, as /stats does: two such requests held both slots, the store hanging
    with service._single_flight(slot):
        if slot.value is None:
            with service.slow.hold():
                frame = _compute(service, image, layer, labels, funcs, band, page)
            if not service.store.unchanged(image, version) or (
                labels is not None and not service.store.unchanged(labels, digest[2])
            ):  # racy, or replaced meanwhile: answered, not kept
                if not cacheable(version) or (labels is not None and not cacheable(digest[2])):
                    return _answer(frame, zones, labels, funcs, image, version), False
                return (frame, version), True
            body = _answer(frame, zones, labels, funcs, image, version)
            slot.value = body
            if service.redis is not None:
                service.redis.set_bytes(key, body)
        return slot.value, False


def _store_errors(service):
    from .service import _StoreErrors

    return _StoreErrors(service.store.remote)


def _compute(service, image, layer, labels, funcs, band, page):
    from ..zones import zonal

    options = service._options(page)
    source = service.store.source(image)
    label_source = None if labels is None else service.store.source(labels)
    limit = int(current_app.config.get("ZONAL_LABELS", 1_000_000))
    weight_of = [image] + ([labels] if labels is not None else [])
    info = [service.info(n) for n in weight_of]
    pixels = sum(int(i["width"]) * int(i["height"]) for i in info)
    from .service import _StoreErrors

    with service.decodes.hold(pixels), _StoreErrors(service.store.remote):
        return zonal(
            source,
            layer if labels is None else label_source,
            funcs,
            band=band,
            max_zones=limit,
            **options,
        )


def _answer(frame, zones, labels, funcs, image, version) -> bytes:
    """The response body: the FeatureCollection with statistics, or rows of labels."""
    from ..zones import with_sample_types

    columns = list(dict.fromkeys([*funcs, "count"]))  # "count" may be asked for too
    records = with_sample_types(frame)[columns].to_dict(orient="index")
    if labels is not None:
        rows = [
            {"zone": _plain(z), **{k: _number(v) for k, v in rec.items()}}
            for z, rec in records.items()
        ]
        body = {
            "image": image,
            "version": version,
            "labels": labels,
            "funcs": funcs,
            "valid": frame.attrs.get("valid"),
            "rows": rows,
        }
        return _dumps(body)
    features = []
    values = list(records.values())
    for feature, rec in zip(zones["features"], values, strict=True):
        props = feature.get("properties")
        props = dict(props) if isinstance(props, dict) else {}
        props.update({k: _number(v) for k, v in rec.items()})
        features.append({**feature, "properties": props})
    out = {k: v for k, v in zones.items() if k != "features"}
    out["features"] = features
    out["imgstats"] = {
        "image": image,
        "version": version,
        "funcs": funcs,
        "valid": frame.attrs.get("valid"),  # which samples of the image count
    }
    return _dumps(out)


def _plain(z):
    return z.item() if hasattr(z, "item") else z


def _number(v):
    """A JSON number, or null for NaN (an empty zone) and infinities (as /stats does)."""
    if v is None:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN nor infinities
    if v is not None and type(v).__name__ == "NAType":
        return None
    return v


def _dumps(body) -> bytes:
    return (json.dumps(body, separators=(",", ":"), allow_nan=False) + "\n").encode()


def _response(body: bytes) -> Response:
    check_preconditions(None)  # an If-Match naming tags fails: a POST answer has none
    response = Response(body, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _json_kind(value) -> str:
    """What a parsed JSON value is, in JSON's words (a client sent JSON, not Python)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    kinds = {dict: "an object", list: "an array", str: "a string", int: "a number"}
    return next((k for t, k in kinds.items() if isinstance(value, t)), "a number")


def _check_vertices(features, limit: int) -> None:
    """Refuse a layer of more than ``limit`` vertices, or an item that is no GeoJSON object,
    before parsing it. A bare geometry among the features counts as its own geometry."""
    total = 0
    for i, feature in enumerate(features):
        if not isinstance(feature, dict):  # the answer extends each feature's properties
            raise InvalidOption(f"feature {i}: not a GeoJSON object but {_json_kind(feature)}")
        props = feature.get("properties")
        if props is not None and not isinstance(props, dict):  # the answer would drop them
            raise InvalidOption(
                f"feature {i}: 'properties' must be a JSON object or null (GeoJSON), "
                f"not {_json_kind(props)}"
            )
        geometry = feature.get("geometry") if feature.get("type") == "Feature" else feature
        coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
        total += _count(coords)
        if total > limit:
            raise InvalidOption(
                f"the zones have more than {limit} vertices (ZONAL_VERTICES), "
                f"reached at feature {i}"
            )


def _count(coords, depth: int = 0) -> int:
    if not isinstance(coords, list) or depth > 4:
        return 0
    if coords and not isinstance(coords[0], list):
        return 1
    return sum(_count(c, depth + 1) for c in coords)


def _json_body() -> dict:
    # the app reads every POST body first, bounded by MAX_CONTENT_LENGTH (413), chunked too
    return json_object(request.get_data(), _BODY_KEYS, '{"funcs": [...], "zones": ...}')


def _funcs(funcs) -> list[str]:
    if isinstance(funcs, str):
        funcs = [funcs]
    if not isinstance(funcs, list) or not funcs or not all(isinstance(f, str) for f in funcs):
        raise InvalidOption(
            "'funcs' must be a non-empty list of function names (min, max, mean, median, pXXX)"
        )
    if len(funcs) > MAX_FUNCS:
        raise InvalidOption(f"at most {MAX_FUNCS} functions in one request, not {len(funcs)}")
    from ..functions import parse_function

    try:
        return list(dict.fromkeys(parse_function(f).name for f in funcs))
    except UnknownFunction as exc:
        raise InvalidOption(str(exc)) from None
