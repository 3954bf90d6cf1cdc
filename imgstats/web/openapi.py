"""The OpenAPI 3.1 document of the HTTP API, served at ``/api/openapi.json``."""

from __future__ import annotations

from ..functions import FUNCTION_PATTERN, NAMED_FUNCTIONS
from .errors import STATUS_CODES

__all__ = ["openapi_document", "FUNC_REGEX"]

#: The whole grammar of a function name, as a JSON-schema pattern.
FUNC_REGEX = "^(" + "|".join(NAMED_FUNCTIONS) + "|" + FUNCTION_PATTERN.replace("?P<q>", "") + ")$"


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _errors(*codes: int) -> dict:
    by_code: dict[int, list[str]] = {}
    for cls, code in STATUS_CODES.items():
        by_code.setdefault(code, []).append(cls.__name__)
    text = {404: "image or function not found", 405: "method not allowed (GET only)",
            400: "invalid option (band)", 413: "image declares too many pixels",
            422: "unreadable image or no valid samples", 502: "the image store failed",
            503: "the service is busy (Retry-After says when to retry)",
            504: "the image store did not answer in time"}
    out = {}
    for code in codes:
        kinds = ", ".join(by_code.get(code, []))
        out[str(code)] = _error(text[code] + (f" ({kinds})" if kinds else ""))
    return out


def openapi_document(version: str) -> dict:
    """Return the OpenAPI document (a JSON-ready dict) for imgstats ``version``."""
    image = {"name": "image", "in": "path", "required": True,
             "description": "An image name of the store, with its extension (IMG_1.jpg).",
             "schema": {"type": "string", "maxLength": 255, "pattern": r"^[^/\\?#%:]+$"}}
    func = {"name": "func", "in": "path", "required": True,
            "description": "min, max, mean, median or pXXX: a percentile from 0 to 100 in "
                           "ASCII digits with an optional fraction (p10, p99.9). Percentiles "
                           "equal numpy.percentile (linear) over the selected samples; NaN "
                           "samples are ignored.",
            "schema": {"type": "string", "pattern": FUNC_REGEX}}
    band = {"name": "band", "in": "query", "required": False,
            "description": "Band index or name (R, G, B...), or 'luma'; default all samples.",
            "schema": {"type": "string"}}
    page = {"name": "page", "in": "query", "required": False,
            "description": "The page of a multi-page image (TIFF), from 0; default the first.",
            "schema": {"type": "integer", "minimum": 0, "maximum": 999999}}
    number = {"type": ["number", "null"],
              "description": "An int for min/max of integer images, else a float; null "
                             "for NaN or infinite results (not valid JSON numbers)."}
    return {
        "openapi": "3.1.0",
        "info": {"title": "imgstats", "version": version,
                 "description": "Exact image statistics (min, max, mean, median, pXXX equal "
                                "to numpy's) of the images of a store. GET only: other "
                                "methods get 405."},
        "paths": {
            "/health": {"get": {
                "summary": "Liveness", "operationId": "health",
                "responses": {"200": {"description": "The body is exactly OK.",
                                      "content": {"text/plain": {"schema": {
                                          "type": "string", "const": "OK"}}}},
                              **_errors(405)}}},
            "/stats/{image}/{func}": {"get": {
                "summary": "One statistic of an image", "operationId": "stats",
                "parameters": [image, func, band, page],
                "responses": {
                    "200": {"description": "The value. ETag and Cache-Control are set.",
                            "headers": {"ETag": {"schema": {"type": "string"}},
                                        "Cache-Control": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {
                                "$ref": "#/components/schemas/Stats"}}}},
                    "304": {"description": "Not modified (If-None-Match matched the ETag)."},
                    **_errors(400, 404, 405, 413, 422, 502, 503, 504)}}},
            "/api/images": {"get": {
                "summary": "Image names in the store", "operationId": "images",
                "responses": {"200": {"description": "Sorted names, read live.",
                                      "content": {"application/json": {"schema": {
                                          "$ref": "#/components/schemas/ImageList"}}}},
                              **_errors(405, 502, 503, 504)}}},
            "/api/openapi.json": {"get": {
                "summary": "This document", "operationId": "openapi",
                "responses": {"200": {"description": "OpenAPI 3.1",
                                      "content": {"application/json": {}}}}}},
        },
        "components": {"schemas": {
            "Stats": {"type": "object", "required": ["image", "func", "value"], "properties": {
                "image": {"type": "string"}, "func": {"type": "string"}, "value": number,
                "band": {"type": ["string", "null"]},
                "bands": {"type": "object", "additionalProperties": number,
                          "description": "The value per band, for images of several bands."},
                "dtype": {"type": "string"}, "shape": {"type": "array",
                                                       "items": {"type": "integer"}},
                "count": {"type": "integer", "description": "Valid samples (NaN excluded)."},
                "page": {"type": "integer", "description": "The page asked for, if any."},
                "version": {"type": "string"}}},
            "ImageList": {"type": "object", "required": ["images"], "properties": {
                "images": {"type": "array", "items": {"type": "string"}},
                "count": {"type": "integer"}}},
            "Error": {"type": "object", "required": ["error"], "properties": {
                "error": {"type": "string"}, "type": {"type": "string"},
                "status": {"type": "integer"}}},
        }},
    }
