"""What a request's head must say before any route sees it: its ``Host`` and its target.

* RFC 9112, 3.2: an HTTP/1.1 request without ``Host``, or with a ``Host`` that is no
  ``host[:port]`` (``a b``, ``<b>x</b>``, two values), is a 400. Such requests were served.
* RFC 9110, 9.3.7: ``OPTIONS *`` asks about the server, not a resource: it is answered 204
  with the methods some route takes (``Allow``). It was the gallery's HTML 404; any other
  method with the target ``*`` is a 400.
* One rule for ``OPTIONS`` on a resource and for ``CONNECT``: 405 with ``Allow``. Flask
  answered ``OPTIONS`` on gallery pages and static files 200 (its automatic OPTIONS) where
  API routes answer 405, and ``CONNECT host:port`` got the gallery's 404. The service sends no
  CORS headers, so a preflight fails either way; a 405 says so, on every route alike. An
  origin server is no proxy: ``CONNECT`` (any target) is 405 with the methods it serves.
"""

from __future__ import annotations

import re

from flask import Response, request
from werkzeug.exceptions import BadRequest, MethodNotAllowed

__all__ = ["check_target", "SERVER_METHODS"]

#: The methods some route of the service takes, as ``OPTIONS *`` answers them.
SERVER_METHODS = "GET, HEAD, POST"

#: RFC 3986's ``host [ ":" port ]``: an IP literal in brackets, or a reg-name / IPv4 address
#: (unreserved, percent-encoded and sub-delims characters), then an optional port.
_HOST = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+(?:%25[A-Za-z0-9._~-]+)?\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?"
)


def check_target() -> Response | None:
    """Before every view (registered by the app factory first): refuse a bad ``Host``
    (400), answer ``OPTIONS *`` (204), refuse ``*`` for other methods (400), and refuse
    ``CONNECT`` and ``OPTIONS`` on a route (405 with ``Allow``)."""
    environ = request.environ
    host = environ.get("HTTP_HOST")
    if host is None:
        if environ.get("SERVER_PROTOCOL") == "HTTP/1.1":
            raise BadRequest("an HTTP/1.1 request must have a Host header (RFC 9112, 3.2)")
    elif not _HOST.fullmatch(host):
        raise BadRequest(
            f"the Host header {host[:80]!r} is not a host name or address with an optional port"
        )
    if _asterisk(environ):
        if request.method != "OPTIONS":
            raise BadRequest(f"the request target * is for OPTIONS only, not {request.method}")
        return Response(status=204, headers={"Allow": SERVER_METHODS})
    if request.method == "CONNECT":
        raise MethodNotAllowed(
            valid_methods=SERVER_METHODS.split(", "),
            description="CONNECT is for proxies, and this server is not one",
        )
    if request.method == "OPTIONS" and request.url_rule is not None:
        # a route Flask gave an automatic OPTIONS (gallery pages, static files)
        methods = sorted(request.url_rule.methods - {"OPTIONS"})
        raise MethodNotAllowed(valid_methods=methods)
    return None


def _asterisk(environ) -> bool:
    """Whether the request line's target is ``*`` (the asterisk form)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw is not None:
        return raw == "*"
    return environ.get("PATH_INFO") == "*"
