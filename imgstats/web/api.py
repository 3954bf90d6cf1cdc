"""The JSON API blueprint: ``/health``, ``/ready``, ``/stats``, ``/api/images``, OpenAPI.

``GET /stats/<image>/<func>`` answers one statistic of an image, of a window of it
(``?window=x0,y0,x1,y1``), or of a collection when ``<image>`` is a pattern holding ``*`` or
``?`` (fnmatch rules over the store's names). ``POST /stats/<image>`` takes a JSON body with
several functions and a polygon and/or a window, and answers every function at once (with
``POST /zonal/<image>``, the only routes that are not GET-only).
"""

from __future__ import annotations

import hashlib
import json
import math

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug import exceptions
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)
from werkzeug.http import parse_options_header

from .. import __version__
from .._lazy import imported
from .._version import fingerprint
from ..errors import ImageNotFound, InvalidOption, UnknownFunction
from ..functions import NAMED_FUNCTIONS, with_method, with_scaled
from ._conditional import check_preconditions, conditional
from .openapi import openapi_document
from .service import check_page, is_pattern
from .store import cacheable

__all__ = ["body_refusal", "bp", "check_body", "parse_band"]

bp = Blueprint("api", __name__)


def _route(rule: str):
    """A GET-only route: no automatic OPTIONS (HEAD stays, as HTTP requires it with GET)."""
    return bp.route(rule, methods=["GET"], provide_automatic_options=False)


def _service():
    return current_app.extensions["imgstats"]


@_route("/health")
def health():
    """Liveness: 200 ``OK`` as text/plain. The probes (this and ``/ready``) take no query
    parameter and ignore any, unlike every other route: a load balancer or monitor that adds
    one (a cache-buster) must not see a live server as failing and take it out."""
    return Response("OK", mimetype="text/plain", headers={"Cache-Control": "no-store"})


@_route("/ready")
def ready():
    """Readiness: 200 once this process has loaded every kernel (the app factory's warm-up
    does, before the worker accepts requests), else 503; JSON either way."""
    from .. import _jit

    headers = {"Cache-Control": "no-store"}
    if _jit.loaded() and _service().warmed:
        return jsonify(ready=True, kernels=len(_jit.kernels())), 200, headers
    body = {
        "ready": False,
        "error": "not ready: the counting kernels are not loaded yet "
        "(the service starts with IMGSTATS_WARMUP=0, or is still warming up)",
    }
    return jsonify(body), 503, {**headers, "Retry-After": "1"}


@_route("/stats/<image>/<func>")
def stats(image: str, func: str):
    """One statistic of an image (or of a collection), with per-band values and counts.

    ``?band=`` picks a selection (default all samples, with every band's value too),
    ``?page=`` a page of a multi-page image, ``?window=x0,y0,x1,y1`` a half-open pixel
    window and ``?method=`` numpy's percentile method of a ``pXXX`` (default ``linear``).
    An ``image`` holding ``*`` or ``?`` is a pattern: the answer is over the samples
    of every matched image together. The service caches answers by image version(s), and
    the finished body of each URL of one image by its version (:func:`_repeated`).
    """
    if (repeated := _repeated(image, func)) is not None:
        return repeated
    check_query(GET_PARAMETERS)
    band = parse_band(request.args.get("band"))
    page = check_page(request.args.get("page"))
    window = request.args.get("window")
    method = request.args.get("method")
    samples = _samples(request.args)
    if func == HISTOGRAM:
        if any(name in request.args for name in SCALE_OPTIONS):
            raise InvalidOption(f"the {HISTOGRAM} counts stored values: it takes no scaled")
        return _histogram(image, band, page, window, method, samples)
    func_name = func
    for name in HISTOGRAM_PARAMETERS:
        if name in request.args:
            raise InvalidOption(f"?{name}= is an option of {HISTOGRAM} only, not of {func[:40]!r}")
    func = with_method(func, method)  # a bad name or method is refused here, as a 4xx
    scaling = _scaling(request.args)
    func = with_scaled(func, *scaling)
    if is_pattern(image):
        answer = _service().collection(
            image, func, [band], each_band=band is None, page=page, window=window, **samples
        )
    else:
        answer = _service().answer(
            image, func, [band], each_band=band is None, page=page, window=window, **samples
        )
    etag = _etag(_service().store.url, answer, band, method, scaling)
    if _not_modified(etag):
        return _cached(Response(status=304), etag)
    body = _body(answer, band, method, scaling)
    if not is_pattern(image) and cacheable(answer.version):
        key = (image, func_name, request.query_string)
        _service().bodies.slot(key).value = (answer.version, etag, body)
    return _cached(Response(body, mimetype="application/json"), etag)


def _repeated(image: str, func: str) -> Response | None:
    """The answer to a URL answered before, if its image has not changed since, else None.

    The body of ``GET /stats`` depends only on the URL, the image's version and the
    service's settings, so a repeated URL (the common case behind a dashboard or a tile
    client) skips parsing, the answer cache and the JSON encoding: one version check (as
    every answer makes) and one lookup. Patterns and histograms are not kept this way.
    """
    hit = _service().bodies.peek((image, func, request.query_string))
    if hit is None:
        return None
    version, etag, body = hit
    if _service().version(image) != version:
        return None
    if _not_modified(etag):
        return _cached(Response(status=304), etag)
    return _cached(Response(body, mimetype="application/json"), etag)


#: The options of which samples count and where (``raw``, ``nodata``: issue 16), in the
#: query of ``GET /stats`` and the body of ``POST /stats`` alike.
SAMPLE_OPTIONS = ("raw", "nodata", "bbox", "crs", "palette")
#: The function name of a histogram, and its own query parameters.
HISTOGRAM = "histogram"
HISTOGRAM_PARAMETERS = ("bins", "range")
#: Query parameters ``GET /stats`` takes; any other is refused, naming it (a typo such as
#: ``?bands=R`` must not widen the question to every band).
#: The options of physical values (``value * scale + offset``), in the query and the body.
SCALE_OPTIONS = ("scaled", "scale", "offset")
GET_PARAMETERS = {
    "band",
    "page",
    "window",
    "method",
    *SAMPLE_OPTIONS,
    *HISTOGRAM_PARAMETERS,
    *SCALE_OPTIONS,
}
#: Query parameters ``POST /stats`` takes (its options are in the body).
POST_PARAMETERS: set[str] = set()


def check_query(known, none: str = "none") -> None:
    """Refuse a query parameter the route does not take, or one given twice, naming it (400):
    of ``?band=0&band=1`` only the first would count, silently. ``none`` says what a route
    that takes none offers instead."""
    unknown = sorted(set(request.args) - set(known))
    if unknown:
        shown = ", ".join(repr(k[:40]) for k in unknown[:5])
        allowed = ", ".join(sorted(known)) or none
        raise InvalidOption(f"unknown query parameter(s) {shown}: this route takes {allowed}")
    check_once()


def check_once(own=()) -> None:
    """Refuse a query parameter given twice, or empty, naming it (400): one rule for every
    route. Of ``?band=0&band=1`` only the first would count, silently; and ``?band=`` was
    every band while ``?window=`` was a 400 and ``?raw=`` false: an empty value means no one
    thing, so it is refused. The names in ``own`` (a gallery page's form fields, which
    its page refuses empty in its own words) are left to their route."""
    repeated = sorted(k[:40] for k, values in request.args.lists() if len(values) > 1)
    if repeated:
        shown = ", ".join(repr(k) for k in repeated)
        raise InvalidOption(f"query parameter(s) {shown} given more than once: give each once")
    empty = sorted(k[:40] for k, value in request.args.items() if value == "" and k not in own)
    if empty:
        shown = ", ".join(repr(k) for k in empty)
        raise InvalidOption(
            f"query parameter(s) {shown} given empty: give each a value, or leave it out"
        )


#: Keys a POST body may hold; any other is refused (a typo must not widen the question).
_BODY_KEYS = {"funcs", "polygon", "window", "band", "page", "method", *SAMPLE_OPTIONS}
_BODY_KEYS |= set(SCALE_OPTIONS)
#: Most functions in one POST.
MAX_FUNCS = 64


@bp.route("/stats/<image>", methods=["POST"], provide_automatic_options=False)
def stats_many(image: str):
    """Every function of a JSON body at once, over a polygon and/or window of an image.

    The body is ``{"funcs": [...], "polygon": [[x, y], ...] or a GeoJSON Polygon or
    MultiPolygon,
    "window": "x0,y0,x1,y1" or [x0, y0, x1, y1], "band": ..., "page": ...,
    "method": "linear"}``; only ``funcs`` is required. Bodies over ``MAX_CONTENT_LENGTH``
    bytes get 413.
    """
    check_query(POST_PARAMETERS, "none: the options go in the JSON body")
    fields = _json_body()
    funcs = _funcs(fields.get("funcs"))
    method = fields.get("method")
    if method is not None and not isinstance(method, str):
        raise InvalidOption("'method' must be one of numpy's percentile methods, as a string")
    funcs = with_method(funcs, method)
    scaling = _scaling(fields)
    funcs = with_scaled(funcs, *scaling)
    band = json_whole(fields.get("band"))
    if isinstance(band, bool) or not isinstance(band, (str, int, type(None))):
        raise InvalidOption("'band' must be a band index, a band name, 'luma' or null")
    band = parse_band(band) if isinstance(band, str) else band
    page = check_page(json_whole(fields.get("page")))
    window = fields.get("window")
    if isinstance(window, list):
        window = [json_whole(v) for v in window]
    if window is not None and not isinstance(window, (str, list)):
        raise InvalidOption("'window' must be \"x0,y0,x1,y1\" or [x0, y0, x1, y1]")
    polygon = fields.get("polygon")
    if polygon is not None and not isinstance(polygon, (list, dict)):
        raise InvalidOption(
            "'polygon' must be a list of [x, y] pairs or a GeoJSON Polygon or MultiPolygon"
        )
    samples = _samples(fields, body=True)
    if is_pattern(image):
        if polygon is not None:
            raise InvalidOption("a polygon applies to one image, not to a pattern")
        answer = _service().collection(
            image, funcs, [band], each_band=band is None, page=page, window=window, **samples
        )
    else:
        answer = _service().answer(
            image,
            funcs,
            [band],
            each_band=band is None,
            page=page,
            window=window,
            polygon=polygon,
            **samples,
        )
    body = _common(answer, band)
    body["funcs"] = list(answer.funcs)
    if method is not None:
        body["method"] = method
    _scaling_keys(body, scaling)
    body["values"] = {f: _number(answer.value(f, band)) for f in answer.funcs}
    if answer.bands:
        body["bands"] = {
            answer.band_names[i]: None
            if answer.values[i] is None
            else {f: _number(answer.values[i][f]) for f in answer.funcs}
            for i in answer.bands
        }
    check_preconditions(None)  # an If-Match naming tags fails: a POST answer has none
    response = Response(_dumps(body), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _histogram(image: str, band, page, window, method, samples) -> Response:
    """``GET /stats/<image>/histogram?bins=&range=``: numpy.histogram of the valid samples,
    per selection (and per band), as ``{"counts": [...], "edges": [...]}``."""
    if method is not None:
        raise InvalidOption(f"?method= is an option of percentiles, not of {HISTOGRAM}")
    if is_pattern(image):
        raise InvalidOption(f"{HISTOGRAM} applies to one image, not to a pattern")
    bins, rng = request.args.get("bins"), request.args.get("range")
    answer = _service().histogram(
        image,
        [band],
        bins=bins,
        range=rng,
        each_band=band is None,
        page=page,
        window=window,
        **samples,
    )
    etag = _etag(_service().store.url, answer, band, f"{bins}\0{rng}")
    if _not_modified(etag):
        return _cached(Response(status=304), etag)
    return _cached(Response(_body(answer, band), mimetype="application/json"), etag)


def _samples(fields, body: bool = False) -> dict:
    """The options of which samples count and where, from a query (``?raw=1&nodata=0``) or a
    JSON body (``"raw": true``, ``"nodata": 0``, ``"bbox": [minx, miny, maxx, maxy]``),
    type-checked here (their values are checked by the service); absent ones are left out.
    A bbox over a pattern is refused: each image would need its own window."""
    out = {k: fields.get(k) for k in SAMPLE_OPTIONS if fields.get(k) is not None}
    if body:
        if "raw" in out and not isinstance(out["raw"], bool):
            raise InvalidOption("'raw' must be true or false")
        if "nodata" in out and (
            isinstance(out["nodata"], bool) or not isinstance(out["nodata"], (int, float, str))
        ):
            raise InvalidOption('\'nodata\' must be a number (or its text: "nan", "-inf")')
        if "bbox" in out and not isinstance(out["bbox"], (str, list)):
            raise InvalidOption(
                "'bbox' must be \"minx,miny,maxx,maxy\" or [minx, miny, maxx, maxy]"
            )
        if "crs" in out and not isinstance(out["crs"], str):
            raise InvalidOption("'crs' must be a CRS name such as \"EPSG:4326\"")
        if "palette" in out and not isinstance(out["palette"], str):
            raise InvalidOption('\'palette\' must be "rgb" (the colours) or "index"')
    if is_pattern(request.view_args.get("image", "")) and ("bbox" in out or "crs" in out):
        raise InvalidOption(
            "a bbox applies to one image, not to a pattern: give a window in pixels"
        )
    return out


#: The media types a POST body may be declared as: JSON, and GeoJSON's own (RFC 7946), which
#: GIS clients send a FeatureCollection as. Neither is one an HTML form can send.
JSON_TYPES = ("application/json", "application/geo+json")


def check_body() -> None:
    """Before every POST view (registered by the app factory): the body must be declared
    ``Content-Type: application/json`` or ``application/geo+json`` (415 otherwise, so a
    cross-site HTML form cannot send one) and hold at most ``MAX_CONTENT_LENGTH`` bytes
    (413), chunked or not. The body read here is what ``request.get_data()`` then returns to
    the view."""
    if request.method != "POST" or request.url_rule is None:  # None: a 404 or 405 follows
        return
    refusal = body_refusal(request.headers)
    if refusal is not None:
        raise refusal
    request._cached_data = _read_body(int(current_app.config["MAX_CONTENT_LENGTH"]))


def body_refusal(headers) -> HTTPException | None:
    """Why a POST body declared by these header fields is refused unread (415 for a
    Content-Type that is not JSON or a ``Content-Encoding``, 501 for an unknown transfer
    coding), or None when it is read.

    The buffering worker asks it too, of a request head that waits for ``100 Continue``: such
    a body is refused before the client is invited to send it.
    """
    mimetype = parse_options_header(headers.get("Content-Type", ""))[0].lower()
    if mimetype not in JSON_TYPES:
        return UnsupportedMediaType(
            "send the body as JSON, with Content-Type: application/json "
            f"(not {mimetype[:60] or 'none'!r})"
        )
    return _coding_refusal(headers)


class _EncodedBody(UnsupportedMediaType):
    """415 for a body with a ``Content-Encoding``, whose ``Accept-Encoding`` says that only
    ``identity`` is taken (RFC 9110, 15.5.16), so that a client may send it again plain."""

    def get_headers(self, environ=None, scope=None):
        return [*super().get_headers(environ, scope), ("Accept-Encoding", "identity")]


def _coding_refusal(headers) -> HTTPException | None:
    """A compressed body is refused by name: it was read as JSON, and its first byte was a
    400 "not valid JSON: 'utf-8' codec can't decode byte 0x8b" (``Content-Encoding``), or the
    coding was ignored (``Transfer-Encoding: gzip, chunked``)."""
    encoding = headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        return _EncodedBody(
            f"the body is encoded ({encoding[:40]!r}): send it as plain JSON, without "
            "Content-Encoding"
        )
    codings = headers.get("Transfer-Encoding", "").lower().split(",")
    unknown = [c.strip() for c in codings if c.strip() not in ("", "chunked", "identity")]
    if unknown:
        return exceptions.NotImplemented(  # 501, as RFC 9112 asks of an unknown coding
            f"the transfer coding {unknown[0][:40]!r} is not supported: send the body as is, "
            "with a Content-Length or chunked"
        )
    return None


def _json_body() -> dict:
    """The request's JSON object (checked by :func:`check_body`)."""
    return json_object(request.get_data(), _BODY_KEYS, '{"funcs": [...], ...}')


def json_object(data: bytes, keys, shape: str) -> dict:
    """The JSON object of a POST body whose keys are all in ``keys`` (400 otherwise; ``shape``
    is how the message shows the expected object)."""
    if not data.strip():  # json's "Expecting value: line 1 column 1 (char 0)" says less
        raise InvalidOption(f"the body is empty: send a JSON object {shape}")
    try:
        fields = json.loads(
            data,
            object_pairs_hook=_unique_keys,
            parse_float=_finite_number,
            parse_int=_whole_number,
            parse_constant=_not_json,
        )
    except InvalidOption:
        raise
    except RecursionError:  # "[[[[...": Python's words named its recursion limit
        raise InvalidOption("the body is not valid JSON: it is nested too deeply") from None
    except UnicodeDecodeError as exc:  # was Python's "'utf-8' codec can't decode byte 0xe9"
        raise InvalidOption(
            f"the body is not UTF-8, which JSON must be (RFC 8259): byte "
            f"0x{exc.object[exc.start]:02x} at offset {exc.start} is not; send it as UTF-8, "
            "whatever charset the Content-Type names"
        ) from None
    except ValueError as exc:
        raise InvalidOption(f"the body is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(fields, dict):
        raise InvalidOption(f"the body must be a JSON object {shape}")
    unknown = sorted(set(fields) - set(keys))
    if unknown:
        raise InvalidOption(
            f"unknown key(s) {', '.join(map(repr, unknown[:5]))} in the "
            f"body: use {', '.join(sorted(keys))}"
        )
    return fields


def json_whole(value):
    """A whole JSON number as an int: JSON has one kind of number, and ``10.0`` or ``1E+1``
    (as many serializers write a double) is 10, which a band, page or window takes (they
    were 400s, "coordinates are whole pixels, not 10.0"). Anything else as it is, and a
    float beyond 2**53 too: ``1e300`` read as an int was echoed in 301 digits by the 400."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


def _finite_number(text: str) -> float:
    """A JSON number as a float, or 400 past float64's range (``1e400``): it would read as an
    infinity, which no JSON answer can echo (a feature's properties in ``/zonal``: a 500)."""
    value = float(text)
    if not math.isfinite(value):
        raise InvalidOption(
            f"the body holds the number {text[:40]}, beyond float64's range: numbers must be "
            'finite (a nodata of infinity is the text "inf" or "-inf")'
        )
    return value


#: Most digits of a whole number in a body, under Python's limit (4300), whose error told a
#: client to call sys.set_int_max_str_digits(). A shorter absurd number (a 400-digit
#: coordinate) is refused where it is used, by name.
MAX_DIGITS = 4000


def _whole_number(text: str) -> int:
    """A JSON whole number, or 400 past :data:`MAX_DIGITS` digits."""
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise InvalidOption(
            f"the body holds a whole number of {len(text.lstrip('-'))} digits, more than "
            f"{MAX_DIGITS}: no option takes such a number"
        )
    return int(text)


def _not_json(name: str):
    """400 for Python's ``NaN``, ``Infinity`` and ``-Infinity``, which are not JSON."""
    raise InvalidOption(
        f"the body is not valid JSON: {name} is not a JSON value (numbers must be finite; "
        'a nodata of NaN or infinity is the text "nan", "inf" or "-inf")'
    )


def _unique_keys(pairs: list) -> dict:
    """A JSON object whose keys are all different (400 otherwise): of two ``"window"`` keys
    only the last would count, silently."""
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise InvalidOption(
                f"the key {key[:40]!r} appears twice in one JSON object of the body: give each once"
            )
        seen.add(key)
    return dict(pairs)


def _read_body(limit: int) -> bytes:
    """At most ``limit`` bytes of body, else 413; a chunked body (no Content-Length) is read
    up to one byte past the limit, never silently cut at it."""

    # what makes a body large: a polygon's vertices, or a zone layer's features too
    fewer = "features or vertices" if request.path.startswith("/zonal/") else "vertices"

    def too_large():
        return RequestEntityTooLarge(
            f"the body is larger than {limit} bytes (MAX_CONTENT_LENGTH): send fewer {fewer}"
        )

    length = request.content_length
    if length is not None:
        if length > limit:
            raise too_large()
        try:
            return request.get_data(cache=False)
        except RequestEntityTooLarge:
            raise too_large() from None
    stream = request.environ.get("wsgi.input")
    if stream is None:
        return b""
    data = bytearray()
    while len(data) <= limit:
        try:
            chunk = stream.read(min(1 << 16, limit + 1 - len(data)))
        except _stream_errors() as exc:  # the server decodes the chunks as the view reads
            raise BadRequest(f"the chunked body is malformed: {str(exc)[:120]}") from None
        if not chunk:
            break
        data += chunk
    if len(data) > limit:
        raise too_large()
    return bytes(data)


def _stream_errors() -> tuple[type[Exception], ...]:
    """What the WSGI server's input stream raises for a malformed chunked body: gunicorn's
    ``ParseException`` (``InvalidChunkSize`` ...), when gunicorn serves; ``OSError`` for a
    body cut short. Werkzeug's own server raises an HTTP 400 itself."""
    gunicorn_errors = imported("gunicorn.http.errors")  # loaded if gunicorn serves
    return (OSError,) + ((gunicorn_errors.ParseException,) if gunicorn_errors else ())


def _funcs(funcs) -> list:
    """The body's ``funcs`` parsed (once: the service takes them as they are), from a
    non-empty list of names; an unknown one is a 400: the resource exists, the body is wrong."""
    if isinstance(funcs, str):
        funcs = [funcs]
    if not isinstance(funcs, list) or not funcs or not all(isinstance(f, str) for f in funcs):
        raise InvalidOption(
            "'funcs' must be a non-empty list of function names ("
            + ", ".join(NAMED_FUNCTIONS)
            + ", pXXX)"
        )
    if len(funcs) > MAX_FUNCS:
        raise InvalidOption(f"at most {MAX_FUNCS} functions in one request, not {len(funcs)}")
    from ..functions import parse_function

    try:
        return [parse_function(f) for f in funcs]
    except UnknownFunction as exc:
        raise InvalidOption(str(exc)) from None


def _common(answer, band) -> dict:
    """The keys every /stats body shares: the image (or pattern), selection and counts."""
    body = {
        "image": answer.name,
        "band": None if band is None else str(band),
        "dtype": answer.dtype,
        "shape": list(answer.shape),
        "count": answer.counts[band],
        "version": answer.version,
    }
    if answer.page is not None:
        body["page"] = answer.page
    body.update(answer.region)
    # what decided which samples of this selection count (null: no one rule)
    body["valid"] = answer.valid_for(band)
    if answer.images:
        body["pattern"] = answer.name
        body["image_count"] = len(answer.images)
        body["images"] = [{"name": n, "version": v} for n, v in answer.images]
    return body


def _dumps(body: dict) -> bytes:
    # allow_nan=False: a NaN that slipped through is a bug (500), never invalid JSON
    return (json.dumps(body, separators=(",", ":"), allow_nan=False) + "\n").encode()


def _body(answer, band, method=None, scaling=(False, None, None)) -> bytes:
    """The JSON body of ``GET /stats`` for an answer of one function."""
    (func,) = answer.funcs
    body = _common(answer, band)
    body["func"] = func
    if method is not None:
        body["method"] = method
    _scaling_keys(body, scaling)
    body["value"] = _number(answer.value(func, band))
    if answer.bands:
        body["bands"] = {
            answer.band_names[i]: _number(
                None if answer.values[i] is None else answer.values[i][func]
            )
            for i in answer.bands
        }
    return _dumps(body)


@_route("/api/images")
def images():
    """The image names in the store, read live."""
    check_query(())
    names = _service().list_images()
    response = jsonify(images=names, count=len(names))
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    return conditional(response)


@_route("/api/images/<image>")
def image_info(image: str):
    """One image's header facts, read without decoding a pixel and cached by version: size,
    bands, type, format, pages, which samples count (``nodata``, ``mask``), ``scales`` and
    where it lies (``crs``, ``transform``, ``bounds``)."""
    if is_pattern(image):
        raise ImageNotFound("image facts are one image's: give a name, not a pattern")
    # ?page=1 was answered with the first page's facts, silently
    check_query((), "none: the facts are of the first page, and 'pages' counts them")
    info = _finite(_service().info(image))
    response = Response(_dumps(info), mimetype="application/json")
    response.headers["Cache-Control"] = "no-cache"
    # with the code's fingerprint: other code's header facts may differ (a field more,
    # another nodata)
    tag = f"{fingerprint()}\0{info['version']}"
    response.set_etag(hashlib.sha256(tag.encode()).hexdigest()[:32])
    return conditional(response)


def _finite(value):
    """``value`` with every non-finite float as its text (``"nan"``, ``"-inf"``): JSON has
    none, and a file's header may hold one (a NaN scale is refused only when applied)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


@_route("/api/openapi.json")
def openapi():
    """This API's OpenAPI document (no query parameter: 400, as on every route)."""
    check_query(set())
    response = jsonify(openapi_document(__version__))
    response.headers["Cache-Control"] = "public, max-age=300"
    response.add_etag()
    return conditional(response)


def parse_band(value: str | None) -> int | str | None:
    """The band a request's text names: ``?band=`` of ``/stats`` and of the gallery's pages.

    Parameters
    ----------
    value : str or None
        ``"0"`` or ``"-1"`` (ASCII digits, at most five) is a band index, any other text a
        band name (``"R"``, ``"luma"``); absent or empty is every sample (None).

    Returns
    -------
    int, str or None
        What the library's ``band=`` takes; whether the image has that band is its to say.
    """
    if value is None or value == "":
        return None
    if value.isascii() and value.lstrip("-").isdigit() and len(value) < 6:
        return int(value)
    return value


def _scaling(fields) -> tuple:
    """``(scaled, scale, offset)`` of a query (``?scaled=1``, ``?scale=``, ``?offset=``) or
    a POST body (``"scaled": true``, numbers), checked: a bad one is a 400."""
    from ..functions import check_scale

    scaled = fields.get("scaled")
    if isinstance(scaled, str):
        flags = {"1": True, "true": True, "0": False, "false": False}
        if scaled.lower() not in flags:
            raise InvalidOption(f"scaled must be 1 or 0 (true or false), not {scaled[:64]!r}")
        scaled = flags[scaled.lower()]
    elif scaled is not None and not isinstance(scaled, bool):
        raise InvalidOption("'scaled' must be true or false")
    scale, offset = fields.get("scale"), fields.get("offset")
    scale = None if scale is None else check_scale(scale, "scale")
    offset = None if offset is None else check_scale(offset, "offset")
    return bool(scaled) or scale is not None or offset is not None, scale, offset


def _scaling_keys(body: dict, scaling) -> None:
    """``"scaled"`` (and the scale and offset given) in an answer of physical values."""
    scaled, scale, offset = scaling
    if scaled:
        body["scaled"] = True
    if scale is not None:
        body["scale"] = scale
    if offset is not None:
        body["offset"] = offset


def _number(value):
    """A JSON-safe number: NaN and infinities have no JSON spelling, so they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _etag(store: str, answer, band, method=None, scaling=(False, None, None)) -> str:
    """The ``ETag`` of an answer: what it is of, and the fingerprint of imgstats' code,
    whose answer to the same question may differ (a 304 would keep the code before's)."""
    text = (
        f"{fingerprint()}\0{store}\0{answer.name}\0{answer.version}\0{answer.funcs}\0{band}"
        f"\0{answer.page}"
        f"\0{sorted(answer.region.items())}\0{method}\0{scaling}"
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _not_modified(etag: str) -> bool:
    """Whether the answer of ``etag`` is a 304 by the request's preconditions; a failed
    ``If-Match`` raises (412). See :mod:`imgstats.web._conditional`."""
    return not check_preconditions(etag)


def _cached(response: Response, etag: str) -> Response:
    response.set_etag(etag)
    max_age = int(current_app.config["CACHE_MAX_AGE"])
    response.headers["Cache-Control"] = f"public, max-age={max_age}" + (
        ", must-revalidate" if max_age == 0 else ""
    )
    return response
