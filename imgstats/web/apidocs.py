"""The interactive reference of the HTTP API: Swagger UI at ``/docs``, offline.

Swagger UI's files come from the ``swagger-ui-py`` package (Swagger UI 5, which reads OpenAPI
3.1), served from this blueprint at ``/docs/static/``; the page loads them and the service's
own ``/api/openapi.json``, and nothing from the web (Swagger UI's default validator badge,
fetched from validator.swagger.io, is turned off).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from flask import Blueprint, render_template, request

from .api import check_once

__all__ = ["bp", "swagger_ui_folder"]


def swagger_ui_folder() -> Path:
    """The folder of Swagger UI's files in the installed ``swagger-ui-py`` (not imported)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the HTTP service needs swagger-ui-py for /docs: pip install 'imgstats[web]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "static"


bp = Blueprint(
    "apidocs",
    __name__,
    static_folder=swagger_ui_folder(),
    static_url_path="/docs/static",
)


@bp.route("/docs", methods=["GET"], provide_automatic_options=False)
def page():
    """Swagger UI over this service's OpenAPI document. A page for browsers, as the
    gallery's: another query parameter (a link's tracking tag) is ignored, one given twice
    or empty refused (400)."""
    check_once()
    html = render_template(
        "apidocs/swagger.html", spec_url=f"{request.script_root}/api/openapi.json"
    )
    return html, 200, {"Cache-Control": "no-cache", "Content-Type": "text/html; charset=utf-8"}
