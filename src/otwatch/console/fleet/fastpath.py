"""``POST /api/v1/wire/checkin`` served without the framework's per-request layers.

Every node checks in about every 25 s, so at 10,000 nodes the check-in is nearly all the console's
work, and an idle one does a single indexed ``SELECT``. Through FastAPI its cost was mostly around
that read: the session middleware, routing, dependency solving, the CSRF dependency, response-model
validation and ``jsonable_encoder`` (py-spy of ``bench/fleet.py``, docs/benchmarks.md "Fleet"). This
class (`CheckinFastPath`, called first by the application itself, ``console/app.py``) answers the one
route before any of them, with the same function
(``wire_routes.serve_checkin``), the same request and response models (pydantic's JSON parser and
serialiser, both in Rust) and the same error bodies (``console/errors.py``), including marking a
node whose data cannot be processed. Everything else passes through untouched. It sits before
even Starlette's and FastAPI's outermost middleware (server errors, body limit, telemetry): five
coroutine layers per request, a tenth of the console's time at 1,200 nodes.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DataError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from otwatch.console import errors
from otwatch.console.context import ConsoleContext
from otwatch.console.errors import APIError
from otwatch.console.fleet.wire_routes import _mark_unprocessable, scope_cert_serial, serve_checkin
from otwatch.wire.messages import CheckinRequest

CHECKIN_PATH = "/api/v1/wire/checkin"
MAX_BODY = 64 * 1024 * 1024  # a check-in of 1,000 scan results with their assets stays far below
_JSON = (b"content-type", b"application/json")

Scope = MutableMapping[str, Any]
ASGIApp = Any


def is_checkin(scope: MutableMapping[str, Any]) -> bool:
    return bool(scope["type"] == "http" and scope["path"] == CHECKIN_PATH and scope["method"] == "POST")


class CheckinFastPath:
    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Serve one check-in (`is_checkin`)."""
        error: Response
        try:
            serial = scope_cert_serial(scope)
            raw = await _read_body(receive)
            if raw is None:
                return  # the node went away
            try:
                body = CheckinRequest.model_validate_json(raw)
            except ValidationError as exc:
                await run_in_threadpool(_mark_unprocessable, self.ctx, serial)
                error = errors.validation_response(exc.errors(include_url=False))
            else:
                resp = await serve_checkin(self.ctx, serial, body)
                data = resp.model_dump_json().encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [_JSON, (b"content-length", str(len(data)).encode())],
                    }
                )
                await send({"type": "http.response.body", "body": data})
                return
        except APIError as exc:
            error = errors.api_error_response(exc)
        except DataError as exc:
            error = errors.data_error_response(exc)
        except OperationalError as exc:
            error = errors.database_error_response(exc)
        await error(scope, receive, send)


class _TooLarge(APIError):
    def __init__(self) -> None:
        super().__init__(413, "too_large", f"a check-in may not exceed {MAX_BODY // 2**20} MiB")


async def _read_body(receive: Any) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
