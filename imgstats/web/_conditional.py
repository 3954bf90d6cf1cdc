"""Conditional requests (RFC 9110, section 13): ``If-Match`` and ``If-None-Match``.

Every answer that carries an ``ETag`` is checked here, in the RFC's order: a failed
``If-Match`` (strong comparison; ``*`` matches any current representation) is a 412; a matched
``If-None-Match`` (weak comparison, so a proxy's ``W/"..."`` matches) a 304 to GET and HEAD, a
412 to other methods. A POST answer has no entity tag: no tag it lists matches it, ``*`` does.
``If-Unmodified-Since`` and ``If-Modified-Since`` are ignored, as RFC 9110 says of a resource
without a modification date: answers are versioned by their ETag only.

The preconditions are evaluated once the answer is known, so an unknown image, a bad request
or an unreadable file keeps its own status (RFC 9110, 13.2.1).
"""

from __future__ import annotations

import functools

from flask import Response, request
from werkzeug.exceptions import PreconditionFailed
from werkzeug.http import parse_etags, parse_range_header

__all__ = ["conditional", "check_preconditions", "static_view"]

#: Headers a 304 repeats from the answer it stands for (RFC 9110, 15.4.5).
_NOT_MODIFIED_HEADERS = ("ETag", "Cache-Control", "Vary", "Content-Location", "Expires")


def check_preconditions(etag: str | None) -> bool:
    """Whether the request's preconditions hold for an answer whose entity tag is ``etag``
    (None: an answer without one); False means 304 Not Modified.

    Raises
    ------
    werkzeug.exceptions.PreconditionFailed
        A failed ``If-Match``, or a matched ``If-None-Match`` of a method other than GET or
        HEAD (412).
    """
    environ = request.environ
    if environ.get("HTTP_IF_MATCH"):  # most requests have none: werkzeug parses it only here
        _check_if_match(environ["HTTP_IF_MATCH"], etag)
    if environ.get("HTTP_IF_NONE_MATCH"):
        tags = request.if_none_match
        if tags.star_tag or (etag is not None and tags.contains_weak(etag)):
            if request.method in ("GET", "HEAD"):
                return False
            raise PreconditionFailed("If-None-Match matches the current answer")
    return True


def _check_if_match(value: str, etag: str | None) -> None:
    """Raise a 412 unless the ``If-Match`` field ``value`` holds for ``etag`` (strong
    comparison; ``*`` matches any current representation)."""
    tags = parse_etags(value)
    if not (tags.star_tag or (etag is not None and tags.is_strong(etag))):
        raise PreconditionFailed(
            "If-Match names no current version of this answer"
            + (f' (its ETag is "{etag}")' if etag is not None else ": a POST has no ETag")
        )


def static_view(view):
    """``view`` (a static files' view: Flask's ``send_static_file``) with ``If-Match``
    evaluated here, as for every other answer, and werkzeug left the rest (``If-None-Match``,
    ``If-Modified-Since``, ``Range``).

    werkzeug read ``If-Match: *`` as failing, and answered a failed ``If-Match`` 412 with the
    file itself as its body (``Content-Type: text/css``), where the service's 412 is its
    error (JSON, or the gallery's page). A ``Range`` werkzeug cannot answer as one byte
    range is ignored (:func:`_ignored_range`).
    """

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if _ignored_range(request.environ.get("HTTP_RANGE")):
            del request.environ["HTTP_RANGE"]  # the whole file, 200
        value = request.environ.pop("HTTP_IF_MATCH", None)
        response = view(*args, **kwargs)
        if value is not None and response.status_code < 400:
            try:
                _check_if_match(value, response.get_etag()[0])
            except PreconditionFailed:
                response.close()  # the file send_file opened
                raise
        return response

    return wrapped


def _ignored_range(value: str | None) -> bool:
    """Whether a ``Range`` field is answered with the whole file: a unit other than bytes,
    which a server must ignore (RFC 9110, 14.2: ``items=0-5`` was a 416), or several byte
    ranges, which werkzeug does not send (``bytes=0-0,-1``, both satisfiable, was a 416 "the
    server cannot provide the requested range"; a server may ignore any Range)."""
    if not value:
        return False
    if value.partition("=")[0].strip().lower() != "bytes":
        return True
    ranges = parse_range_header(value)
    return ranges is not None and len(ranges.ranges) > 1


def conditional(response: Response) -> Response:
    """``response`` (with its ``ETag`` set), or a 304 in its place; a 412 is raised
    (:func:`check_preconditions`)."""
    etag = response.get_etag()[0]
    if check_preconditions(etag):
        return response
    return not_modified(response)


def not_modified(response: Response) -> Response:
    """The 304 that stands for ``response``: no body, its validators and caching headers."""
    empty = Response(status=304)
    for name in _NOT_MODIFIED_HEADERS:
        if name in response.headers:
            empty.headers[name] = response.headers[name]
    return empty
