"""``GET /api/openapi.json``: the OpenAPI 3.1 description of the HTTP API, the file
``functions/openapi.json`` beside this module (shipped in the package; a test checks it
against the routes the app registers, both ways)."""

import functools
from pathlib import Path

import azure.functions as func

from functions._api_blueprint import bp

OPENAPI_FILE = Path(__file__).with_name("openapi.json")


@functools.cache
def _document() -> bytes:
    return OPENAPI_FILE.read_bytes()


@bp.function_name("get_openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_openapi(req: func.HttpRequest) -> func.HttpResponse:
    """The OpenAPI document, as stored."""
    return func.HttpResponse(_document(), status_code=200, mimetype="application/json")
