"""Request bodies bounded per route, before the framework reads them.

Two anonymous 300 MB bodies once took the console to 1.7 GB: every route read its whole body before
deciding anything. Now a body announced larger than its route's limit is answered 413 before one byte
of it is read, and a body without a length (chunked) is counted as it arrives and cut off at the
limit. Package uploads are the one large body: multipart, spooled to disk by the parser (not held in
memory) and bounded by the package limit; the check-in has its own limit (fleet/fastpath.py).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi.responses import JSONResponse

from otwatch.console import errors
from otwatch.wire.package import MAX_PACKAGE_BYTES

KIB, MIB = 1024, 1024 * 1024
#: the default for every other route: JSON bodies and forms of people and scripts
DEFAULT_LIMIT = 4 * MIB
#: (method, path) -> the most bytes its body may have
LIMITS: dict[tuple[str, str], int] = {
    ("POST", "/api/v1/auth/login"): 64 * KIB,
    ("POST", "/login"): 64 * KIB,
    ("POST", "/api/v1/wire/enroll"): 64 * KIB,
    ("POST", "/api/v1/wire/checkin"): 64 * MIB,  # the same as the check-in fast path (fastpath.MAX_BODY)
    ("POST", "/api/v1/updates"): MAX_PACKAGE_BYTES + MIB,  # multipart: spooled to disk
    ("POST", "/settings/updates/upload"): MAX_PACKAGE_BYTES + MIB,
}

Scope = MutableMapping[str, Any]


def limit_for(scope: Scope) -> int:
    return LIMITS.get((scope.get("method", ""), scope.get("path", "")), DEFAULT_LIMIT)


def _too_large(limit: int) -> JSONResponse:
    size = f"{limit // MIB} MiB" if limit >= MIB else f"{limit // KIB} KiB"
    return JSONResponse(
        errors.body("too_large", f"the request body is larger than this route takes ({size})"),
        status_code=413,
    )


async def bounded(app: Any, scope: Scope, receive: Any, send: Any) -> None:
    """Call ``app`` with the request body bounded by `limit_for` (HTTP only)."""
    if scope["type"] != "http":
        await app(scope, receive, send)
        return
    limit = limit_for(scope)
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                announced = int(value)
            except ValueError:
                announced = -1
            if announced > limit or announced < 0:
                await _too_large(limit)(scope, receive, send)
                return
    received = 0
    over = False  # the body went past the limit: the app sees a disconnect, the client a 413
    started = False

    async def counting_receive() -> Any:
        nonlocal received, over
        if over:
            return {"type": "http.disconnect"}
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                over = True
                return {"type": "http.disconnect"}
        return message

    async def guarded_send(message: Any) -> None:
        nonlocal started
        if over:
            return  # whatever the app answers to the cut-off body, the client gets the 413
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await app(scope, counting_receive, guarded_send)
    except Exception:
        if not over:
            raise
    if over and not started:
        await _too_large(limit)(scope, receive, send)
