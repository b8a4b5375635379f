"""Nodes as the console shows them: look-up, derived status, the API view, and the wake-up of a
node's long-poll after a change is committed.

Every other fleet module builds on this one; it imports none of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from otwatch.console.assets import service as assets_service
from otwatch.console.assets.models import Asset
from otwatch.console.context import ConsoleContext
from otwatch.console.credentials.models import Credential
from otwatch.console.db import after_commit, utcnow
from otwatch.console.errors import not_found
from otwatch.console.fleet.models import Command, DuplicatedNetwork, Node
from otwatch.console.fleet.schemas import SENSOR_DEFAULTS, NodeOut, Schedule, UpdateResultOut
from otwatch.console.fleet.status import (
    REFUSED_STORED,
    DisconnectReason,
    NodeState,
    NodeStatus,
    derive_status,
    disconnect_reason,
)

__all__ = [
    "STATUS_COLUMNS",
    "credential_names",
    "get_node",
    "intel_version",
    "node_out",
    "node_state",
    "sensor_names",
    "status_of",
    "threat_intel_version",
    "wake_after_commit",
]


def get_node(db: Session, node_id: str, kind: str | None = None) -> Node:
    node = db.get(Node, node_id)
    if node is None or (kind is not None and node.kind != kind):
        raise not_found(kind or "node")
    return node


def wake_after_commit(db: Session, ctx: ConsoleContext, node_id: str) -> None:
    """Wake the node's long-poll once this transaction is committed — never before, or the woken
    check-in could read the old row and go back to sleep with nothing. On PostgreSQL the wake-up also
    goes to the other console processes as a NOTIFY in this transaction (sent by the commit)."""
    ctx.notifier.touch(node_id)  # already now: a check-in in this transaction must look (wire_routes)
    ctx.notifier.publish(db, node_id)
    after_commit(db, lambda: ctx.notifier.wake(node_id))


def node_state(n: Node, max_skew: float) -> NodeState:
    return NodeState(
        kind=n.kind,
        approved=n.approved_at is not None,
        configured=n.configured_at is not None,
        paused=n.paused,
        uninstalled=n.uninstalled_at is not None,
        first_seen=n.first_seen,
        last_seen=n.last_seen,
        time_drift=abs(n.clock_skew) > max_skew,
        activity=n.activity,
        config_version=n.config_version,
        config_acked=n.config_acked,
        unprocessable=n.disconnect_reason in REFUSED_STORED,
    )


def status_of(ctx: ConsoleContext, n: Node, now: datetime | None = None) -> NodeStatus:
    return derive_status(
        node_state(n, ctx.settings.max_clock_skew), now or utcnow(), ctx.settings.offline_after
    )


def _reason_for(kind: str, reason: str | None) -> str | None:
    """The seed's sensor messages, about the agent on an agent's row."""
    try:
        return DisconnectReason(reason).for_kind(kind) if reason is not None else None
    except ValueError:
        return reason


def host_asset_ids(db: Session, rows: Iterable[Node]) -> dict[str, str]:
    """Agent id -> its host's asset (Host Asset links to its page): the asset the agent reported as its
    own host (hostinfo), the interface at the address it checks in from first; an agent that has not
    reported its host (an older agent) gets the asset at its address, the one seen last. Two
    statements for a whole page of agents, however many it shows."""
    agents = [n for n in rows if n.kind == "agent"]
    own = assets_service.host_assets(db, [n.id for n in agents])
    out: dict[str, str] = {}
    for n in agents:
        mine = own.get(n.id)
        if mine:
            out[n.id] = next((i for i, ip in mine if ip == n.ip), mine[0][0])
    ips = {n.ip for n in agents if n.id not in out and n.ip}  # run even when empty (a fixed count)
    found = db.execute(
        select(Asset.ip, Asset.id, DuplicatedNetwork.node_id)
        .outerjoin(DuplicatedNetwork, DuplicatedNetwork.id == Asset.network_copy_id)
        .where(Asset.ip.in_(ips))
        .order_by(Asset.last_seen)
    )
    # in a duplicated network, the address is the agent's own only in the copy it sees: another
    # site's asset at the same address is not its host
    by_ip: dict[tuple[str | None, str | None], str] = {}
    for ip, asset_id, seen_by in found:
        by_ip[(ip, seen_by)] = asset_id  # the last seen wins
    for n in agents:
        if n.id not in out:
            found_id = by_ip.get((n.ip, n.id)) or by_ip.get((n.ip, None))
            if found_id is not None:
                out[n.id] = found_id
    return out


def duplicated_networks(db: Session, rows: Iterable[Node]) -> dict[str, list[str]]:
    """Agent id -> its copies of duplicated networks as the Agents page shows them (one statement for
    a whole page of agents, however many: the statement count does not depend on the rows)."""
    ids = [n.id for n in rows if n.kind == "agent"]
    out: dict[str, list[str]] = {}
    stmt = (
        select(DuplicatedNetwork.node_id, DuplicatedNetwork.cidr, DuplicatedNetwork.site)
        .where(DuplicatedNetwork.node_id.in_(ids))
        .order_by(DuplicatedNetwork.cidr)
    )
    for node_id, cidr, site in db.execute(stmt):
        out.setdefault(node_id, []).append(f"{cidr} (duplicated, {site})" if site else f"{cidr} (duplicated)")
    return out


def last_updates(db: Session, rows: Iterable[Node]) -> dict[str, UpdateResultOut]:
    """node id -> its latest update command, as a result: one statement for a whole page of nodes
    (or none: the statement count does not depend on the rows)."""
    ids = [n.id for n in rows]
    newest = (
        select(Command.node_id, func.max(Command.created_at).label("at"))
        .where(Command.node_id.in_(ids), Command.type == "update")
        .group_by(Command.node_id)
        .subquery()
    )
    stmt = (
        select(Command)
        .join(newest, (Command.node_id == newest.c.node_id) & (Command.created_at == newest.c.at))
        .where(Command.type == "update")
    )
    out: dict[str, UpdateResultOut] = {}
    for cmd in db.scalars(stmt):
        out[cmd.node_id] = UpdateResultOut(
            version=str(cmd.args.get("version", "")),
            kind=str(cmd.args.get("kind", "")),
            state=cmd.state,
            error=cmd.error,
            rolled_back=bool((cmd.result or {}).get("rolled_back")),
            requested_at=cmd.created_at,
            finished_at=cmd.finished_at,
        )
    return out


def node_out(
    ctx: ConsoleContext,
    n: Node,
    cred_names: dict[str, str],
    now: datetime | None = None,
    host_asset_id: str | None = None,
    last_update: UpdateResultOut | None = None,
    duplicated: list[str] | None = None,
) -> NodeOut:
    now = now or utcnow()
    st = node_state(n, ctx.settings.max_clock_skew)
    status = derive_status(st, now, ctx.settings.offline_after)
    schedule = Schedule.model_validate(n.config.get("schedule", {}))
    return NodeOut(
        id=n.id,
        kind=n.kind,
        name=n.name or n.hostname,
        site=n.site,
        ip=n.ip,
        hostname=n.hostname,
        status=status.value,
        status_colour=status.colour,
        disconnect_reason=_reason_for(
            n.kind, disconnect_reason(st, n.disconnect_reason, now, ctx.settings.offline_after)
        ),
        last_scan_result=n.last_scan_result,
        active_query_networks=list(n.config.get("active_query_networks", [])),
        duplicated_networks=duplicated or [],
        scan_schedule=schedule.label(),
        last_scan=n.last_scan_at,
        last_scan_duration=n.last_scan_duration,
        credentials=[cred_names.get(c, "(deleted)") for c in n.config.get("credential_ids", [])],
        reported_assets=n.reported_assets,
        version=n.version,
        engine_version=n.engine_version,
        host_os=n.host_os,
        enrolled_at=n.enrolled_at,
        approved_at=n.approved_at,
        last_seen=n.last_seen,
        clock_skew=n.clock_skew,
        paused=n.paused,
        progress=n.progress,
        settings={**SENSOR_DEFAULTS, **n.config} if n.kind == "sensor" else {},
        stats=n.stats if n.kind == "sensor" else {},
        threat_intel_version=threat_intel_version(n) if n.kind == "sensor" else None,
        host_asset_id=host_asset_id,
        last_update=last_update,
        config_version=n.config_version,
        config_acked=n.config_acked,
    )


def credential_names(db: Session) -> dict[str, str]:
    return {cid: name for cid, name in db.execute(select(Credential.id, Credential.name))}


# What `node_state` and a disconnect reason read of a node: for status without the ORM object.
STATUS_COLUMNS = (
    Node.id,
    Node.kind,
    Node.approved_at,
    Node.configured_at,
    Node.paused,
    Node.uninstalled_at,
    Node.first_seen,
    Node.last_seen,
    Node.clock_skew,
    Node.activity,
    Node.config_version,
    Node.config_acked,
    Node.disconnect_reason,
)


def threat_intel_version(node: Node) -> str | None:
    """The threat-intelligence package version a sensor reported in use (its latest statistics)."""
    return intel_version(node.stats)


def intel_version(stats: Any) -> str | None:
    system = stats.get("system") if isinstance(stats, dict) else None
    intel = system.get("threat_intel") if isinstance(system, dict) else None
    version = intel.get("version") if isinstance(intel, dict) else None
    return str(version) if version else None


def sensor_names(db: Session) -> dict[str, str]:
    """Every sensor's display name by id (the pages' sensor filters and choices)."""
    rows = db.execute(
        select(Node.id, Node.name, Node.hostname).where(Node.kind == "sensor").order_by(Node.name)
    )
    return {i: name or host or i for i, name, host in rows}
