"""mkdocs hook: the HTTP API reference page, drawn by Swagger UI from the service's OpenAPI
document, offline.

The document is written at build time from :func:`imgstats.web.openapi.openapi_document` (the
one the service serves at ``/api/openapi.json``) and Swagger UI's files are copied from the
installed ``swagger-ui-py``, the same ones the service serves at ``/docs``.
"""

from __future__ import annotations

import json

from mkdocs.structure.files import File

SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")


def on_files(files, config):
    import imgstats
    from imgstats.web.apidocs import swagger_ui_folder
    from imgstats.web.openapi import openapi_document

    document = json.dumps(openapi_document(imgstats.__version__), indent=1)
    files.append(File.generated(config, "openapi.json", content=document))
    folder = swagger_ui_folder()
    for name in SWAGGER_FILES:
        files.append(
            File.generated(config, f"assets/swagger-ui/{name}", abs_src_path=str(folder / name))
        )
    return files
