"""Uploaded packages sent to the fleet: an agent's OT Discovery engine (Update OTD Version, Auto-Updates)
and threat intelligence to every sensor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from otwatch.console.audit import service as audit
from otwatch.console.context import ConsoleContext
from otwatch.console.errors import conflict
from otwatch.console.fleet.commands import OPEN_STATES, queue_command
from otwatch.console.fleet.models import Command, Node
from otwatch.console.fleet.nodes import intel_version, status_of, threat_intel_version
from otwatch.console.fleet.status import NodeStatus
from otwatch.console.settings import service as settings
from otwatch.console.updates import service as updates
from otwatch.console.updates.models import UpdatePackage

__all__ = [
    "THREAT_INTEL_ATTEMPTS",
    "auto_update",
    "distribute_threat_intel",
    "intel_to_offer",
    "offer_threat_intel",
    "request_update",
]


def request_update(db: Session, ctx: ConsoleContext, actor: str, node: Node) -> Command:
    """Update OTD Version: push the newest uploaded engine to a Connected agent."""
    if node.kind != "agent":
        raise conflict("sensor versions are updated from System Settings > Version Update")
    pkg = updates.newest(db, "otd")
    if pkg is None:
        raise conflict(
            "no OT Discovery engine (OTD) package has been uploaded (System Configuration > Updates)"
        )
    st = status_of(ctx, node)
    if st is not NodeStatus.CONNECTED:
        raise conflict(f"the agent must be Connected to update (it is {st.value})")
    if not updates.needs(node.engine_version, pkg):
        raise conflict(f"the agent already runs OTD {node.engine_version}")
    busy = db.scalar(
        select(Command).where(
            Command.node_id == node.id, Command.type == "update", Command.state.in_(OPEN_STATES)
        )
    )
    if busy is not None:
        raise conflict("an update is already in progress", {"command_id": busy.id})
    args = {"package_id": pkg.id, "version": pkg.version, "sha256": pkg.sha256, "kind": pkg.kind}
    return queue_command(db, ctx, actor, node, "update", args)


def auto_update(db: Session, ctx: ConsoleContext, node: Node) -> None:
    """With Auto-Updates on, a Connected agent on an older engine gets the newest one."""
    if node.kind != "agent" or not settings.cached(db, "auto_update"):
        return
    pkg = updates.newest(db, "otd")
    if (
        pkg is None
        or not updates.needs(node.engine_version, pkg)
        or status_of(ctx, node) is not NodeStatus.CONNECTED
    ):
        return
    tried = db.scalar(
        select(Command)
        .where(Command.node_id == node.id, Command.type == "update")
        .order_by(Command.created_at.desc())
    )
    if tried is not None and (tried.state in OPEN_STATES or tried.args.get("version") == pkg.version):
        return  # in progress, or this version already tried (a failed update is retried by hand)
    queue_command(
        db,
        ctx,
        "auto-update",
        node,
        "update",
        {"package_id": pkg.id, "version": pkg.version, "sha256": pkg.sha256, "kind": pkg.kind},
    )


THREAT_INTEL_ATTEMPTS = 3  # failed installs of one version before the console stops offering it


def offer_threat_intel(
    db: Session,
    ctx: ConsoleContext,
    node: Node,
    actor: str = "threat-intel",
    pkg: UpdatePackage | None = None,
) -> str:
    """Queue the newest threat-intelligence package for a sensor that does not use it yet.

    Called when a package is uploaded (every sensor) and whenever a sensor reports its statistics,
    so a sensor that was disconnected gets it when it comes back (an expired command is offered
    again). Returns "ok" when queued, otherwise why not."""
    if node.kind != "sensor" or node.approved_at is None or node.uninstalled_at is not None:
        return "not an approved sensor"
    if node.paused:
        return "paused"
    pkg = pkg or updates.newest(db, "threat-intel")
    if pkg is None:
        return "no threat-intelligence package uploaded"
    in_use = threat_intel_version(node)
    if in_use is not None and not updates.needs(in_use, pkg):
        return f"already uses {in_use}"
    tries = [
        c
        for c in db.scalars(select(Command).where(Command.node_id == node.id, Command.type == "threat_intel"))
        if c.args.get("version") == pkg.version
    ]
    if any(c.state in (*OPEN_STATES, "done") for c in tries):
        return "already queued"
    if sum(c.state == "failed" for c in tries) >= THREAT_INTEL_ATTEMPTS:
        return f"installing {pkg.version} failed {THREAT_INTEL_ATTEMPTS} times"
    args = {"package_id": pkg.id, "version": pkg.version, "sha256": pkg.sha256, "kind": pkg.kind}
    queue_command(db, ctx, actor, node, "threat_intel", args)
    return "ok"


def distribute_threat_intel(
    db: Session, ctx: ConsoleContext, actor: str, pkg: UpdatePackage
) -> dict[str, str]:
    """An uploaded threat-intelligence package goes to every sensor: {sensor id: "ok" | why not}."""
    sensors = db.scalars(select(Node).where(Node.kind == "sensor", Node.uninstalled_at.is_(None)))
    results = {n.id: offer_threat_intel(db, ctx, n, actor, pkg) for n in sensors}
    audit.record(db, actor, "threat_intel.distributed", pkg.file_name, version=pkg.version, results=results)
    return results


def intel_to_offer(ctx: ConsoleContext, stats: dict[str, Any]) -> bool:
    """Whether a sensor reporting ``stats`` may be offered a threat-intelligence package
    (`offer_threat_intel` decides; this only spares the full path when there is surely nothing)."""
    newest = updates.newest_version(ctx, "threat-intel")
    if newest is None:
        return False
    in_use = intel_version(stats)
    return in_use is None or updates.needs_version(in_use, newest)
