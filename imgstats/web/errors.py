"""HTTP statuses of the domain errors, in one table, and the app's error handlers.

Every error reaches the client as JSON ``{"error": message, "type": class name}`` (or the
gallery's HTML page for gallery views, unless the client asks for JSON): never a stack
trace. Unexpected exceptions are logged by Flask and answered with a bare JSON 500; they are
bugs, each to be reproduced by a test.
"""

from __future__ import annotations

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from ..errors import (
    Busy,
    ClientGone,
    ImageChanged,
    ImageNotFound,
    ImageTooLarge,
    InvalidOption,
    NotAnImage,
    NoValidSamples,
    RequestTimeout,
    StoreTimeout,
    StoreUnavailable,
    UnknownFunction,
    UnreadableImage,
    WorkersDied,
    WorkersPaused,
    reword,
)

__all__ = [
    "STATUS_CODES",
    "status_of",
    "register_error_handlers",
    "error_response",
    "in_http_words",
    "prefers_json",
]

#: HTTP status of each domain error (the most specific class in an error's MRO wins).
STATUS_CODES: dict[type[Exception], int] = {
    ImageNotFound: 404,
    UnknownFunction: 404,
    InvalidOption: 400,
    UnreadableImage: 422,
    NotAnImage: 422,  # an UnreadableImage: a file named on its own that is no image
    NoValidSamples: 422,
    ImageTooLarge: 413,
    StoreUnavailable: 502,
    ImageChanged: 502,  # the store cut the read, or the file changed under it: retry
    WorkersDied: 503,  # a dask.distributed cluster lost the work
    WorkersPaused: 503,  # its workers are all paused for memory (a WorkersDied)
    StoreTimeout: 504,
    Busy: 503,  # with Retry-After, as its subclass:
    RequestTimeout: 503,
    # nginx's "client closed request": nobody reads it, but logs tell it from a 5xx
    ClientGone: 499,
}

#: Paths that always answer JSON, even for a URL that matches no route.
API_PREFIXES = ("/stats", "/api", "/health", "/ready", "/zonal")


def status_of(exc: BaseException) -> int:
    """The status of a domain error from :data:`STATUS_CODES` (500 if it has none)."""
    for cls in type(exc).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


def error_response(message: str, status: int, kind: str, headers=None):
    """A JSON error response ``{"error": message, "type": kind}``."""
    response = jsonify(error=message, type=kind, status=status)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _gallery_renderer():
    """The gallery's HTML error page renderer, when this request belongs to the gallery and
    its client does not prefer JSON (``Accept: application/json``: a script, or the gallery's
    own fetches, reads the JSON error as the API gives it)."""
    render = current_app.extensions.get("imgstats.render_error")
    if render is None or prefers_json():
        return None
    if request.blueprint == "gallery":
        return render
    if request.blueprint is None and not request.path.startswith(API_PREFIXES):
        return render
    return None


def prefers_json() -> bool:
    """Whether the client's ``Accept`` ranks JSON above HTML (no ``Accept``, or ``*/*``: no)."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


#: Python's words in the library's messages, and the service's for them (``band`` left out
#: of a query or body is the library's ``band=None``).
_HTTP_WORDS = [
    (", 'luma' or None", ", or luma (leave band out for every sample)"),
    ("ask for band=None", "leave band out"),
    ("pass one nodata= value, or raw=True", "ask with one nodata value, or with raw=1"),
    ("band='luma'", "band=luma"),
]


def in_http_words(message: str) -> str:
    """A library message in the service's words (``leave band out``, not ``band=None``)."""
    return reword(message, _HTTP_WORDS)


def _domain_error(exc: Exception):
    status = status_of(exc)
    if isinstance(exc, ClientGone):  # nobody reads the answer: say in the log what stopped
        current_app.logger.warning(
            "stopped %s %s: the client closed the connection", request.method, request.path
        )
    render = _gallery_renderer()
    if render is not None:
        return render(exc, status)
    service = current_app.extensions.get("imgstats")
    message = in_http_words(service.redact(str(exc)) if service is not None else str(exc))
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Busy) else None
    return error_response(message, status, type(exc).__name__, headers)


def _http_error(exc: HTTPException):
    # a 405 must say which methods the URL takes (RFC 9110), on a page as in JSON, a 415 of
    # an encoded body which codings it takes, and a 416 of a static file how long it is
    kept = ("Allow", "Accept-Encoding", "Content-Range")
    headers = {k: v for k, v in exc.get_headers() if k in kept}
    if "Allow" in headers:
        headers["Allow"] = _allowed(headers["Allow"])
    render = _gallery_renderer()
    if render is not None:
        response = render(exc, exc.code)
        response.headers.update(headers)
        return response
    return error_response(exc.description or exc.name, exc.code or 500, exc.name, headers)


def _allowed(methods: str) -> str:
    """An ``Allow`` value without ``OPTIONS``, which every route answers 405 (see
    :mod:`imgstats.web._target`): Flask's automatic OPTIONS put it in the 405s of gallery
    pages and static files, naming a method the same URL refuses."""
    kept = [m.strip() for m in methods.split(",") if m.strip() and m.strip() != "OPTIONS"]
    return ", ".join(sorted(kept))


def _internal_error(exc: InternalServerError):
    render = _gallery_renderer()
    if render is not None:
        return render(exc, 500)
    return error_response("internal server error", 500, "InternalServerError")


def register_error_handlers(app: Flask) -> None:
    """Register a handler per :data:`STATUS_CODES` entry, HTTP errors and the bare 500."""
    for cls in STATUS_CODES:
        app.register_error_handler(cls, _domain_error)
    app.register_error_handler(InternalServerError, _internal_error)
    app.register_error_handler(HTTPException, _http_error)
