"""System Configuration > Updates: upload signed packages, the agents' Auto-Updates toggle, and
sensor version updates (Automatic Version Updates selection, progress, result, Retry, failure log).

Plain HTML forms (a package upload is a multipart file) posted to the routes below, each carrying
the session's CSRF token in its ``csrf`` field (checked by ``deps.csrf_guard`` before the route
runs); each answers with a redirect back to the page and a one-line message. The work itself is the
same service code the JSON API under ``/api/v1/updates`` calls.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from otwatch.console.audit import service as audit
from otwatch.console.deps import CtxDep, Permission, Principal, SessionDep
from otwatch.console.errors import APIError
from otwatch.console.fleet import nodes
from otwatch.console.settings import service as settings
from otwatch.console.updates import consoleversion, sensors, service
from otwatch.console.updates.models import UpdatePackage
from otwatch.console.web.render import current_principal, forbidden, render, to_login
from otwatch.wire import package
from otwatch.wire.package import KINDS, MAX_PACKAGE_BYTES

router = APIRouter(include_in_schema=False)
PAGE = "/settings/updates"
KIND_TITLES = {
    "otd": "OT Discovery Engine (OTD) Update",
    "sensor": "Sensor version update",
    "console": "Console version (management-secured-patcher)",
    "threat-intel": "Threat intelligence",
}


def _back(done: str | None = None, error: str | None = None) -> RedirectResponse:
    query = urlencode({k: v for k, v in (("done", done), ("error", error)) if v})
    return RedirectResponse(f"{PAGE}?{query}" if query else PAGE, status_code=303)


def _allowed(request: Request, db: SessionDep, perm: Permission) -> Principal | Response:
    p = current_principal(request, db)
    if p is None:
        return to_login()
    if not p.can(perm):
        return forbidden(request, p, perm)
    return p


def _upgrades_console(row: UpdatePackage) -> bool:
    """The package can be applied to this console: newer, and from a version at or below it."""
    try:
        package.check_upgrade(
            package.Manifest(row.kind, row.version, row.min_version, "", {}),
            "console",
            service.console_version(),
        )
    except package.PackageError:
        return False
    return True


@router.get(PAGE, response_class=HTMLResponse)
def updates_page(request: Request, ctx: CtxDep, db: SessionDep) -> Response:
    p = _allowed(request, db, Permission.VIEW)
    if not isinstance(p, Principal):
        return p
    rows = list(db.scalars(select(UpdatePackage).order_by(UpdatePackage.uploaded_at.desc())))
    clash = sensors.update_conflict(db)
    return render(
        request,
        "updates.html",
        p,
        "updates",
        packages={k: [r for r in rows if r.kind == k] for k in KINDS},
        kind_titles=KIND_TITLES,
        newest_sensor=service.newest(db, "sensor"),
        console_version=service.console_version(),
        console_update=consoleversion.status(ctx).update,
        applicable={r.id for r in rows if r.kind == "console" and _upgrades_console(r)},
        auto_update=bool(settings.get(db, "auto_update")),
        sensors=sensors.sensor_views(db, ctx),
        conflict=clash.message() if clash.exists else None,
        can_upload=p.can(Permission.MANAGE_SETTINGS),
        can_manage=p.can(Permission.MANAGE_FLEET),
        done=request.query_params.get("done"),
        error=request.query_params.get("error"),
        max_mb=MAX_PACKAGE_BYTES // 1024**2,
    )


@router.post(PAGE + "/upload")
async def upload(request: Request, ctx: CtxDep, db: SessionDep, file: UploadFile) -> Response:
    p = _allowed(request, db, Permission.MANAGE_SETTINGS)
    if not isinstance(p, Principal):
        return p
    if not file.size:
        return _back(error="choose a package file to upload")
    if file.size > MAX_PACKAGE_BYTES:
        return _back(error="package is larger than 2 GB")
    try:
        # the spooled upload, verified and stored in chunks, off the event loop
        row = await run_in_threadpool(service.upload, db, ctx, p.actor, file.file)
    except APIError as exc:
        db.rollback()
        audit.record(db, p.actor, "update.refused", file.filename or "", reason=exc.message)
        db.commit()
        return _back(error=f"{file.filename}: {exc.message}")
    db.commit()
    message = f"{row.file_name} verified and uploaded"
    if row.kind == "sensor" and sensors.selected_ids(db):
        try:
            results = sensors.rollout(db, ctx, p.actor, row)
            db.commit()
            ok = sum(1 for v in results.values() if v == "ok")
            message += f"; updating {ok} of {len(results)} selected sensor(s)"
        except APIError as exc:
            db.rollback()
            return _back(done=message, error=f"not rolled out: {exc.message}")
    return _back(done=message)


@router.post(PAGE + "/auto-update")
def auto_update(
    request: Request, db: SessionDep, enabled: Annotated[str | None, Form(max_length=10)] = None
) -> Response:
    p = _allowed(request, db, Permission.MANAGE_FLEET)
    if not isinstance(p, Principal):
        return p
    value = enabled == "on"
    settings.put(db, "auto_update", value)
    audit.record(db, p.actor, "fleet.setting_changed", "auto_update", value=value)
    db.commit()
    return _back(done=f"Auto-Updates for agents turned {'on' if value else 'off'}")


@router.post(PAGE + "/sensors/selection")
async def selection(request: Request, db: SessionDep) -> Response:
    """Save the Automatic Version Updates column: checked sensors selected, the others not."""
    p = _allowed(request, db, Permission.MANAGE_FLEET)
    if not isinstance(p, Principal):
        return p
    form = await request.form()
    chosen = {str(v) for v in form.getlist("sensor")}
    listed = {str(v) for v in form.getlist("listed")}  # the sensors the form showed
    if chosen - listed:
        return _back(error="the selection names sensors the page did not show; reload the page")
    if chosen:
        sensors.set_selection(db, p.actor, sorted(chosen), True)
    if listed - chosen:
        sensors.set_selection(db, p.actor, sorted(listed - chosen), False)
    db.commit()
    clash = sensors.update_conflict(db)
    if clash.exists:
        return _back(done="Selection saved", error=clash.message())
    return _back(done=f"Selection saved: {len(chosen)} sensor(s) for Automatic Version Updates")


@router.post(PAGE + "/sensors/rollout")
def rollout(request: Request, ctx: CtxDep, db: SessionDep) -> Response:
    p = _allowed(request, db, Permission.MANAGE_FLEET)
    if not isinstance(p, Principal):
        return p
    try:
        results = sensors.rollout(db, ctx, p.actor)
    except APIError as exc:
        return _back(error=exc.message)
    db.commit()
    failed = {k: v for k, v in results.items() if v != "ok"}
    done = f"updating {len(results) - len(failed)} of {len(results)} selected sensor(s)"
    return _back(done=done, error="; ".join(failed.values()) if failed else None)


@router.post(PAGE + "/sensors/{node_id}/retry")
def retry(node_id: str, request: Request, ctx: CtxDep, db: SessionDep) -> Response:
    p = _allowed(request, db, Permission.MANAGE_FLEET)
    if not isinstance(p, Principal):
        return p
    try:
        cmd = sensors.retry(db, ctx, p.actor, nodes.get_node(db, node_id, "sensor"))
    except APIError as exc:
        return _back(error=exc.message)
    db.commit()
    return _back(done=f"Retrying the update to {cmd.args.get('version')}")
