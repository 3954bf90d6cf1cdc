"""The JSON API blueprint: ``/health``, ``/stats/<image>/<func>``, ``/api/images``, OpenAPI."""

from __future__ import annotations

import hashlib
import json
import math

from flask import Blueprint, Response, current_app, jsonify, request

from .. import __version__
from .openapi import openapi_document
from .service import check_page

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

    ``?band=`` picks a selection (default all samples, with every band's value too) and
    ``?page=`` a page of a multi-page image. The service caches the answer by image version.
    """
    band = _band(request.args.get("band"))
    page = check_page(request.args.get("page"))
    answer = _service().answer(image, func, [band], each_band=band is None, page=page)
    etag = _etag(_service().store.url, answer, band)
    if etag in request.if_none_match:
        return _cached(Response(status=304), etag)
    return _cached(Response(_body(answer, band), mimetype="application/json"), etag)


def _body(answer, band) -> bytes:
    """The JSON body of ``/stats`` for an answer of one function."""
    (func,) = answer.funcs
    body = {
        "image": answer.name,
        "func": func,
        "value": _number(answer.value(func, band)),
        "band": None if band is None else str(band),
        "dtype": answer.dtype,
        "shape": list(answer.shape),
        "count": answer.counts[band],
        "version": answer.version,
    }
    if answer.page is not None:
        body["page"] = answer.page
    if answer.bands:
        body["bands"] = {
            answer.band_names[i]: _number(None if answer.values[i] is None
                                          else answer.values[i][func])
            for i in answer.bands
        }
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


def _etag(store: str, answer, band) -> str:
    text = f"{store}\0{answer.name}\0{answer.version}\0{answer.funcs}\0{band}\0{answer.page}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _cached(response: Response, etag: str) -> Response:
    response.set_etag(etag)
    max_age = int(current_app.config["CACHE_MAX_AGE"])
    response.headers["Cache-Control"] = (
        f"public, max-age={max_age}" + (", must-revalidate" if max_age == 0 else "")
    )
    return response
