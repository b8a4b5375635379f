"""System Configuration > Updates: upload signed packages, list them; sensor version updates."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from otwatch.console.deps import CtxDep, FleetAdmin, SessionDep, SettingsAdmin, Viewer
from otwatch.console.errors import APIError, conflict
from otwatch.console.fleet import nodes, packages
from otwatch.console.pagination import Page, PageDep, paginate
from otwatch.console.updates import consoleversion, sensors, service
from otwatch.console.updates.models import UpdatePackage
from otwatch.wire.package import MAX_PACKAGE_BYTES

router = APIRouter(prefix="/api/v1/updates", tags=["updates"])


class PackageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: str
    version: str
    min_version: str
    file_name: str
    sha256: str
    size: int
    key_id: str
    uploaded_by: str
    uploaded_at: datetime
    rollout: dict[str, str] | None = None  # sensor packages: started on the selected sensors
    rollout_error: str | None = None  # why nothing rolled out (console first, conflict, none selected)


@router.get("", response_model=Page[PackageOut])
def list_packages(_: Viewer, db: SessionDep, page: PageDep) -> dict[str, object]:
    rows, total = paginate(db, select(UpdatePackage).order_by(UpdatePackage.uploaded_at.desc()), page)
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}


@router.post("", response_model=PackageOut, status_code=201)
async def upload_package(file: UploadFile, p: SettingsAdmin, ctx: CtxDep, db: SessionDep) -> PackageOut:
    """Upload a signed package; it is verified against the trusted release keys before it is kept.
    A sensor version starts updating the sensors selected for Automatic Version Updates (seed 002)."""
    if (file.size or 0) > MAX_PACKAGE_BYTES:
        raise APIError(422, "invalid", "package is larger than 2 GB")
    # the spooled upload, verified and stored in chunks, off the event loop
    row = await run_in_threadpool(service.upload, db, ctx, p.actor, file.file)
    db.commit()
    out = PackageOut.model_validate(row)
    if row.kind == "sensor" and sensors.selected_ids(db):
        try:
            out.rollout = sensors.rollout(db, ctx, p.actor, row)
        except APIError as exc:
            out.rollout_error = exc.message
        db.commit()
    elif row.kind == "threat-intel":  # uploaded once, distributed to every sensor
        out.rollout = packages.distribute_threat_intel(db, ctx, p.actor, row)
        db.commit()
    return out


SensorUpdateOut = sensors.SensorUpdateView


class SensorUpdatesOut(BaseModel):
    console_version: str
    conflict: str | None  # the update conflict message, None when there is none
    items: list[SensorUpdateOut]


class SelectionIn(BaseModel):
    ids: list[str] = Field(min_length=1, max_length=10_000)
    selected: bool = True


class SensorResults(BaseModel):
    results: dict[str, str]
    succeeded: int
    failed: int
    conflict: str | None = None


def _results(results: dict[str, str], clash: str | None = None) -> SensorResults:
    ok = sum(1 for v in results.values() if v == "ok")
    return SensorResults(results=results, succeeded=ok, failed=len(results) - ok, conflict=clash)


def _conflict_text(db: SessionDep) -> str | None:
    clash = sensors.update_conflict(db)
    return clash.message() if clash.exists else None


@router.get("/sensors", response_model=SensorUpdatesOut)
def sensor_updates(_: Viewer, ctx: CtxDep, db: SessionDep) -> SensorUpdatesOut:
    """Every sensor's version, Automatic Version Updates selection, progress and last update."""
    items = sensors.sensor_views(db, ctx)
    return SensorUpdatesOut(
        console_version=service.console_version(), conflict=_conflict_text(db), items=items
    )


@router.post("/sensors/selection", response_model=SensorResults)
def select_sensors(body: SelectionIn, p: FleetAdmin, db: SessionDep) -> SensorResults:
    """Select (or unselect) sensors for Automatic Version Updates, one or many at once; the answer
    reports an update conflict when the selected sensors run different versions."""
    results = sensors.set_selection(db, p.actor, body.ids, body.selected)
    db.commit()
    return _results(results, _conflict_text(db))


class RolloutIn(BaseModel):
    package_id: str | None = None  # default: the newest uploaded sensor version


@router.post("/sensors/rollout", response_model=SensorResults, status_code=202)
def rollout(body: RolloutIn, p: FleetAdmin, ctx: CtxDep, db: SessionDep) -> SensorResults:
    """Update every selected sensor to the package (each sensor succeeds or fails on its own)."""
    pkg = None
    if body.package_id is not None:
        pkg = db.get(UpdatePackage, body.package_id)
        if pkg is None or pkg.kind != "sensor":
            raise conflict("no sensor version package with this id")
    results = sensors.rollout(db, ctx, p.actor, pkg)
    db.commit()
    return _results(results)


@router.post("/sensors/{node_id}/retry", response_model=SensorUpdateOut, status_code=202)
def retry(node_id: str, p: FleetAdmin, ctx: CtxDep, db: SessionDep) -> SensorUpdateOut:
    """Retry the sensor's last failed update."""
    sensors.retry(db, ctx, p.actor, nodes.get_node(db, node_id, "sensor"))
    db.commit()
    return next(v for v in sensors.sensor_views(db, ctx) if v.id == node_id)


@router.get("/sensors/{node_id}/failure-log", response_class=Response)
def failure_log(node_id: str, _: Viewer, db: SessionDep) -> Response:
    """The failure log of the sensor's last failed update, as a text file to download."""
    node = nodes.get_node(db, node_id, "sensor")
    return Response(
        sensors.failure_log(db, node),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="sensor-update-{node_id}.log"'},
    )


class ApplyIn(BaseModel):
    package_id: str = Field(min_length=1, max_length=64)


@router.get("/console", response_model=consoleversion.ConsoleUpdateOut)
def console_update(_: Viewer, ctx: CtxDep) -> consoleversion.ConsoleUpdateOut:
    """The running console version and the last update applied from the page (kept on disk, so the
    restarted console answers with it): steps, percentage, result and the reason of a failure."""
    return consoleversion.status(ctx)


@router.post("/console/apply", response_model=consoleversion.ConsoleUpdateOut, status_code=202)
def apply_console(
    body: ApplyIn, p: SettingsAdmin, request: Request, ctx: CtxDep, db: SessionDep
) -> consoleversion.ConsoleUpdateOut:
    """Admin only: install an uploaded console version. The console hands over to a supervisor that
    stops it, backs the database up, migrates, starts the new version and checks its health, and
    restores the backup and the previous version when any step fails; follow it with GET /console."""
    restart = getattr(request.app.state, "restart_command", None)
    presence = getattr(request.app.state, "presence", None)
    consoleversion.apply(db, ctx, p.actor, body.package_id, restart, presence)
    return consoleversion.status(ctx)
