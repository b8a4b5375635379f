"""Sensor version updates from the console: "Automatic Version Updates" selection, roll-out of an
uploaded ``sensor-secured-patcher-<version>.tar`` to the selected sensors, progress, Retry and the
failure log.

Rules (seed 002): the console is updated first and must be at least the version it rolls out;
selected sensors that run different versions are an update conflict, and nothing rolls out until
the selection is resolved. Each sensor succeeds or fails on its own; the sensor verifies the package
against its pinned release keys, keeps its previous version and rolls back by itself (sensor/node/versions.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from otwatch.console.audit import service as audit
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.errors import APIError, conflict, not_found
from otwatch.console.fleet import commands, nodes
from otwatch.console.fleet.models import Command, Node
from otwatch.console.fleet.status import NodeStatus
from otwatch.console.updates import service
from otwatch.console.updates.models import SensorUpdateSelection, UpdatePackage
from otwatch.wire import package


@dataclass(frozen=True, slots=True)
class Conflict:
    """Selected sensors that run different versions: {version: [sensor ids]} (empty: no conflict)."""

    versions: dict[str, list[str]]

    @property
    def exists(self) -> bool:
        return len(self.versions) > 1

    def message(self) -> str:
        listed = "; ".join(
            f"{v or 'unknown'}: {len(ids)} sensor(s)" for v, ids in sorted(self.versions.items())
        )
        return (
            "update conflict: the sensors selected for Automatic Version Updates run different versions "
            f"({listed}); select only sensors on the same version"
        )


def selected_ids(db: Session) -> set[str]:
    return set(db.scalars(select(SensorUpdateSelection.node_id)))


def update_conflict(db: Session) -> Conflict:
    by_version: dict[str, list[str]] = defaultdict(list)
    rows = db.execute(
        select(Node.id, Node.version).join(SensorUpdateSelection, SensorUpdateSelection.node_id == Node.id)
    )
    for node_id, version in rows:
        by_version[version].append(node_id)
    return Conflict(dict(by_version))


def set_selection(db: Session, actor: str, ids: list[str], selected: bool) -> dict[str, str]:
    """Select or unselect sensors for Automatic Version Updates; each id answers on its own."""
    results: dict[str, str] = {}
    chosen = selected_ids(db)
    for node_id in dict.fromkeys(ids):
        node = db.get(Node, node_id)
        if node is None or node.kind != "sensor":
            results[node_id] = "sensor not found"
            continue
        if selected and node_id not in chosen:
            db.add(SensorUpdateSelection(node_id=node_id, selected_by=actor))
        elif not selected and node_id in chosen:
            db.delete(db.get(SensorUpdateSelection, node_id))
        results[node_id] = "ok"
    db.flush()
    audit.record(
        db, actor, "sensor.auto_version_update", None, selected=selected,
        sensors=[i for i, r in results.items() if r == "ok"],
    )  # fmt: skip
    return results


def last_update(db: Session, node_id: str) -> Command | None:
    return db.scalar(
        select(Command)
        .where(Command.node_id == node_id, Command.type == "update")
        .order_by(Command.created_at.desc())
        .limit(1)
    )


def request_update(db: Session, ctx: ConsoleContext, actor: str, node: Node, pkg: UpdatePackage) -> Command:
    """Queue the sensor update command: console first, Connected, a real upgrade, one at a time."""
    if node.kind != "sensor":
        raise conflict("agents take OTD engine updates (Data Sources > Agents > Update)")
    if pkg.kind != "sensor":
        raise conflict(f"{pkg.file_name} is not a sensor version package")
    if service.newer_than_console(pkg.version):
        raise conflict(
            f"sensor version {pkg.version} is newer than this console ({service.console_version()}): "
            "update the console first (management-secured-patcher), then the sensors"
        )
    st = nodes.status_of(ctx, node)
    if st is not NodeStatus.CONNECTED:
        raise conflict(f"the sensor must be Connected to update (it is {st.value})")
    try:
        manifest = package.Manifest(pkg.kind, pkg.version, pkg.min_version, "", {})
        package.check_upgrade(manifest, "sensor", node.version or None)
    except package.PackageError as exc:
        raise conflict(str(exc)) from exc
    busy = last_update(db, node.id)
    if busy is not None and busy.state in commands.OPEN_STATES:
        raise conflict("an update is already in progress", {"command_id": busy.id})
    args = {"package_id": pkg.id, "version": pkg.version, "sha256": pkg.sha256, "kind": pkg.kind}
    return commands.queue_command(db, ctx, actor, node, "update", args)


def rollout(db: Session, ctx: ConsoleContext, actor: str, pkg: UpdatePackage | None = None) -> dict[str, str]:
    """Start the update on every sensor selected for Automatic Version Updates.

    Refused as a whole (409) when there is nothing to roll out, the version is newer than the
    console, or the selection is in conflict; otherwise {sensor id: "ok" | why it was not queued}.
    """
    pkg = pkg or service.newest(db, "sensor")
    if pkg is None:
        raise conflict("no sensor version package has been uploaded (System Configuration > Updates)")
    if service.newer_than_console(pkg.version):
        raise conflict(
            f"sensor version {pkg.version} is newer than this console ({service.console_version()}): "
            "update the console first (management-secured-patcher), then the sensors"
        )
    clash = update_conflict(db)
    if clash.exists:
        raise conflict(clash.message(), {"versions": clash.versions})
    ids = sorted(selected_ids(db))
    if not ids:
        raise conflict("no sensor is selected for Automatic Version Updates")
    results: dict[str, str] = {}
    for node_id in ids:
        node = nodes.get_node(db, node_id, "sensor")
        try:
            with db.begin_nested():
                request_update(db, ctx, actor, node, pkg)
            results[node_id] = "ok"
        except APIError as exc:
            results[node_id] = exc.message
    audit.record(db, actor, "sensor.update_rollout", pkg.file_name, version=pkg.version, results=results)
    return results


def retry(db: Session, ctx: ConsoleContext, actor: str, node: Node) -> Command:
    """Retry: the version of the sensor's last failed update, again."""
    last = last_update(db, node.id)
    if last is None or last.state not in ("failed", "expired"):
        raise conflict("the sensor has no failed update to retry")
    pkg = db.get(UpdatePackage, str(last.args.get("package_id", "")))
    if pkg is None:
        raise conflict("the package of the failed update was removed; upload it again")
    return request_update(db, ctx, actor, node, pkg)


def failure_log(db: Session, node: Node) -> str:
    """The downloadable failure log of the sensor's last failed update (what the sensor sent up)."""
    last = last_update(db, node.id)
    if last is None or last.state not in ("failed", "expired"):
        raise not_found("failure log (the last update did not fail)")
    lines = [
        f"sensor: {node.name or node.hostname} ({node.id})",
        f"update: {last.args.get('kind')} {last.args.get('version')} (command {last.id})",
        f"requested: {last.created_at:%Y-%m-%d %H:%M:%S} UTC by {last.created_by}",
        f"finished: {last.finished_at:%Y-%m-%d %H:%M:%S} UTC" if last.finished_at else "finished: -",
        f"state: {last.state}; rolled back: {'yes' if last.result.get('rolled_back') else 'no'}",
        f"error: {last.error or '-'}",
        "",
        "---- sensor log ----",
        str(last.result.get("log") or "(the sensor sent no log)"),
    ]
    return "\n".join(lines) + "\n"


class SensorUpdateView(BaseModel):
    """One sensor in System Configuration > Updates (page and ``GET /api/v1/updates/sensors``)."""

    id: str
    name: str
    status: str
    version: str
    auto_version_update: bool
    percent: int | None
    phase: str | None
    update_version: str | None
    update_state: str | None  # pending | delivered | running | done | failed | expired
    update_error: str | None
    rolled_back: bool
    finished_at: datetime | None
    can_retry: bool


def sensor_views(db: Session, ctx: ConsoleContext) -> list[SensorUpdateView]:
    """The sensors with their version, selection, progress and the result of their last update."""
    now = utcnow()
    chosen = selected_ids(db)
    out: list[SensorUpdateView] = []
    for node in db.scalars(select(Node).where(Node.kind == "sensor").order_by(Node.enrolled_at)):
        st = nodes.status_of(ctx, node, now)
        last = last_update(db, node.id)
        updating = st is NodeStatus.UPDATING
        percent = node.progress.get("percent") if updating else None
        out.append(
            SensorUpdateView(
                id=node.id,
                name=node.name or node.hostname,
                status=st.value,
                version=node.version,
                auto_version_update=node.id in chosen,
                percent=int(percent) if isinstance(percent, int | float) else None,
                phase=str(node.progress.get("phase")) if updating and node.progress.get("phase") else None,
                update_version=str(last.args.get("version")) if last else None,
                update_state=last.state if last else None,
                update_error=last.error if last else None,
                rolled_back=bool(last and last.result.get("rolled_back")),
                finished_at=last.finished_at if last else None,
                can_retry=bool(last and last.state in ("failed", "expired")),
            )
        )
    return out
