"""The API reference (``/docs``, Swagger UI) served whole from the installed packages, so it works
on a plant network with no way out: FastAPI's own page loads its script from a CDN. The script and
style are those ``fastapi-offline`` ships (Swagger UI 5, which reads the OpenAPI 3.1 document FastAPI
writes), under ``/static/apidocs``; the page names no other host, and Swagger UI's remote validator
is turned off. (No ReDoc page: ReDoc fetches its logo from its vendor's CDN.)"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

__all__ = ["STATIC_DIR", "STATIC_URL", "swagger_ui"]

STATIC_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
STATIC_URL = "/static/apidocs"
TITLE = "OTWatch console API"


def swagger_ui(request: Request) -> HTMLResponse:
    """The /docs page (the route, signed-in users only, is in ``app.py``)."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title=f"{TITLE} · Swagger UI",
        swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},  # Swagger UI's default validator is a remote host
    )
