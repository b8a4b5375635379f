"""One error body for the whole API: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

#: what SQLite and PostgreSQL say when the disk is full
_DISK_FULL = ("database or disk is full", "no space left on device", "could not extend file")


class APIError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def not_found(what: str) -> APIError:
    return APIError(404, "not_found", f"{what} not found")


def conflict(message: str, details: Any = None) -> APIError:
    return APIError(409, "conflict", message, details)


def invalid(message: str, details: Any = None) -> APIError:
    return APIError(422, "invalid", message, details)


def body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def api_error_response(exc: APIError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status in (429, 503) and isinstance(exc.details, dict) and "retry_after" in exc.details:
        headers = {"Retry-After": str(exc.details["retry_after"])}
    return JSONResponse(body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)


def validation_response(errors: Sequence[Any]) -> JSONResponse:
    """422 naming each field and its problem (FastAPI's and pydantic's error lists alike)."""
    details = [
        {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e.get("msg", "")}
        for e in errors
    ]
    msg = "; ".join(f"{d['field'] or 'body'}: {d['problem']}" for d in details) or "invalid request"
    return JSONResponse(body("invalid", msg, details), status_code=422)


def data_error_response(exc: DataError) -> JSONResponse:
    """A value the database refuses (PostgreSQL: NUL characters in text, numbers out of range) is the
    request's fault: 422 saying which rule, never a 500. Nothing was committed."""
    orig = str(exc.orig)
    reason = "text must not contain NUL (0x00) characters" if "NUL" in orig else orig.splitlines()[0]
    return JSONResponse(
        body("invalid", f"a value in the request cannot be stored: {reason}"), status_code=422
    )


def database_error_response(exc: OperationalError) -> JSONResponse:
    """The database is unreachable (PostgreSQL restarting) or its disk is full: a clear 503 with
    Retry-After that nodes back off from, not a bare 500. Nothing was committed."""
    text = str(exc.orig).lower()
    log.error("database error: %s", exc.orig)
    if any(m in text for m in _DISK_FULL):
        code, msg, retry = "disk_full", "the console's database disk is full; nothing was stored", 60
    elif "disk i/o error" in text:  # SQLite when a write fails otherwise (EFBIG, EIO)
        code, msg, retry = (
            "disk_error",
            "the console could not write to its database disk; nothing was stored",
            60,
        )
    else:
        code, msg, retry = "database_unavailable", "the console's database is unavailable; try again", 5
    return JSONResponse(
        body(code, msg, {"retry_after": retry}), status_code=503, headers={"Retry-After": str(retry)}
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return api_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc.errors())

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        return data_error_response(exc)

    @app.exception_handler(StatementError)
    async def _statement(_: Request, exc: StatementError) -> JSONResponse:
        # a value of the wrong type for its column, refused before it reached the database
        if isinstance(exc.orig, TypeError | ValueError):
            return JSONResponse(
                body("invalid", f"a value in the request cannot be stored: {exc.orig}"), status_code=422
            )
        log.error("database error: %s", exc.orig)
        return JSONResponse(body("error", "internal error"), status_code=500)

    @app.exception_handler(OperationalError)
    async def _database(_: Request, exc: OperationalError) -> JSONResponse:
        return database_error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "error"
        )
        return JSONResponse(body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)
