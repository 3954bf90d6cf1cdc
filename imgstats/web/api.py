"""The JSON API blueprint: ``/health``, ``/stats/<image>/<func>``, ``/api/images``, OpenAPI."""

from __future__ import annotations

import hashlib
import json
import math

from flask import Blueprint, Response, current_app, jsonify, request

from .. import __version__
from ..functions import parse_function
from .openapi import openapi_document
from .service import needs_refinement
from .store import cacheable

__all__ = ["bp"]

bp = Blueprint("api", __name__)


def _route(rule: str):
    """A GET-only route: no automatic OPTIONS (HEAD stays, as HTTP requires it with GET)."""
    return bp.route(rule, methods=["GET"], provide_automatic_options=False)


def _service():
    return current_app.extensions["imgstats"]


@_route("/health")
def health():
    """Liveness: 200 ``OK`` as text/plain."""
    return Response("OK", mimetype="text/plain", headers={"Cache-Control": "no-store"})


@_route("/stats/<image>/<func>")
def stats(image: str, func: str):
    """One statistic of an image, with its per-band values, dtype and sample count.

    Answers are cached as JSON bytes by ``(store, image, version, func, band)``, so a
    repeated question costs a version check and a dict lookup.
    """
    parse_function(func)  # before any cache: a flood of bad names must not evict answers
    band = _band(request.args.get("band"))
    service = _service()
    version = service.version(image)
    etag = _etag(service.store.url, version, func, band)
    if etag in request.if_none_match:
        return _cached(Response(status=304), etag)
    key = (service.store.url, image, version, func, band)
    fill = lambda: _answer(service, image, version, func, band)  # noqa: E731
    # a racy version (the file may be being written) is answered, never kept
    body = service.answers.get_or_fill(key, fill) if cacheable(version) else fill()
    return _cached(Response(body, mimetype="application/json"), etag)


def _answer(service, image: str, version: str, func: str, band) -> bytes:
    """The JSON body of ``/stats``, computed from the (cached) summary."""
    summary = service.lookup(image, [func], [band], version=version)[1]
    names = summary.band_names if band is None and len(summary.band_names) > 1 else ()
    if names and needs_refinement(summary, [func], range(len(names))):
        summary = service.lookup(image, [func], list(range(len(names))), version=version)[1]
    body = {
        "image": image,
        "func": func,
        "value": _number(summary.compute(func, band)),
        "band": None if band is None else str(band),
        "dtype": summary.dtype.name,
        "shape": list(summary.shape),
        "count": summary.stats(band).count,
        "version": version,
    }
    if names:
        body["bands"] = {n: _number(summary.compute(func, i)) for i, n in enumerate(names)}
    # allow_nan=False: a NaN that slipped through is a bug (500), never invalid JSON
    return (json.dumps(body, separators=(",", ":"), allow_nan=False) + "\n").encode()


@_route("/api/images")
def images():
    """The image names in the store, read live."""
    names = _service().list_images()
    response = jsonify(images=names, count=len(names))
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    return response.make_conditional(request)


@_route("/api/openapi.json")
def openapi():
    """This API's OpenAPI document."""
    response = jsonify(openapi_document(__version__))
    response.headers["Cache-Control"] = "public, max-age=300"
    response.add_etag()
    return response.make_conditional(request)


def _band(value: str | None):
    """``?band=0`` is an index, ``?band=R`` or ``?band=luma`` a name; absent is all samples."""
    if value is None or value == "":
        return None
    if value.isascii() and value.lstrip("-").isdigit() and len(value) < 6:
        return int(value)
    return value


def _number(value):
    """A JSON-safe number: NaN and infinities have no JSON spelling, so they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _etag(store: str, version: str, func: str, band) -> str:
    return hashlib.sha256(f"{store}\0{version}\0{func}\0{band}".encode()).hexdigest()[:32]


def _cached(response: Response, etag: str) -> Response:
    response.set_etag(etag)
    max_age = int(current_app.config["CACHE_MAX_AGE"])
    response.headers["Cache-Control"] = (
        f"public, max-age={max_age}" + (", must-revalidate" if max_age == 0 else "")
    )
    return response
