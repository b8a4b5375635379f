"""The API reference (``/docs``, Swagger UI) served whole from the installed packages, so it works
on a plant network with no way out: FastAPI's own page loads its script from a CDN. The script and
style are those ``fastapi-offline`` ships (Swagger UI 5, which reads the OpenAPI 3.1 document FastAPI
writes), under ``/static/apidocs``; the page names no other host, and Swagger UI's remote validator
is turned off. (No ReDoc page: ReDoc fetches its logo from its vendor's CDN.)"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

__all__ = ["STATIC_DIR", "STATIC_URL", "router"]

STATIC_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
STATIC_URL = "/static/apidocs"
TITLE = "OTWatch console API"

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title=f"{TITLE} · Swagger UI",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},  # Swagger UI's default validator is a remote host
    )


@router.get("/docs/oauth2-redirect", response_class=HTMLResponse)
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()
