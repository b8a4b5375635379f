"""System Settings > Sensor management > Subscription & Activation Mode: upload the console's signed
activation file to switch between locally managed and console-connected (sensor/node/activation.py).

The page's form and ``POST /api/activation`` (multipart ``file``; the session's CSRF token in the
``X-CSRF-Token`` header or a ``csrf`` form field) do the same thing. The running sensor takes the
new mode at its next start.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import UploadFile as StarletteUpload

from otwatch import __version__
from otwatch.sensor.node.activation import ActivationResult, activate, last_activation, mode_of
from otwatch.sensor.tracking.timeline import EventType
from otwatch.sensor.web.deps import ConsoleDep, CurrentUser, check_csrf, flash, redirect
from otwatch.wire.activation import MAX_FILE_BYTES, ActivationError
from otwatch.wire.client import NodeState

router = APIRouter(prefix="")


def _state(c: ConsoleDep) -> NodeState:
    runtime = c.host.runtime
    return runtime.state if runtime is not None else NodeState(c.store.dir.parent)


def _page(
    request: Request, c: ConsoleDep, user: CurrentUser, status_code: int = 200, **extra: Any
) -> Response:
    state = _state(c)
    address = None
    if state.exists():
        address = state.load().address
    return c.render(
        request, "activation.html", user, status_code, active="activation",
        mode=mode_of(state), console=address, last=last_activation(state), error=extra.get("error"),
    )  # fmt: skip


async def _apply(request: Request, c: ConsoleDep) -> ActivationResult:
    form = await request.form()
    check_csrf(request, request.headers.get("X-CSRF-Token") or str(form.get("csrf") or ""))
    upload = form.get("file")
    if not isinstance(upload, StarletteUpload) or not upload.filename:
        raise ActivationError("choose the activation file to upload")
    data = await upload.read(MAX_FILE_BYTES + 1)
    result = activate(_state(c), data, version=__version__)
    c.event(EventType.SETTINGS, f"Activation: {result.mode.label}", mode=result.mode.value)
    return result


@router.get("/system/activation", response_class=HTMLResponse)
def activation_page(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    return _page(request, c, user)


@router.post("/system/activation", response_class=HTMLResponse)
async def activation_upload(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    try:
        result = await _apply(request, c)
    except ActivationError as exc:
        return _page(request, c, user, 400, error=str(exc))
    flash(request, result.message)
    return redirect("/system/activation")


@router.post("/api/activation")
async def activation_api(request: Request, c: ConsoleDep, user: CurrentUser) -> JSONResponse:
    try:
        result = await _apply(request, c)
    except ActivationError as exc:
        return JSONResponse({"error": str(exc)}, status_code=422)
    return JSONResponse({"mode": result.mode.value, "message": result.message, "node_id": result.node_id})
