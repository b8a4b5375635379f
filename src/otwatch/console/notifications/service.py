"""Disconnected-sensor monitoring: one system notification per transition, forwarded by rules.

``scan_fleet`` compares every sensor's derived status with what was last notified (``node_watch``).
A transition is a conditional ``UPDATE node_watch .. WHERE state = <what this process read>`` (or an
``INSERT .. ON CONFLICT DO NOTHING`` for a sensor seen the first time): only the process whose
statement changed the row creates the notification, in the same transaction, so several console
processes sharing the database raise it exactly once, and a restart raises nothing again.

Statuses between Disconnected and connected (Pending Approval, Waiting for Connection after a
repair) leave the watch as it is: the next connected status after a disconnection is a reconnection.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from otwatch.console.context import ConsoleContext
from otwatch.console.db import new_id, utcnow
from otwatch.console.fleet.models import Node
from otwatch.console.fleet.nodes import STATUS_COLUMNS, node_state
from otwatch.console.fleet.status import (
    LEGACY_REASONS,
    DisconnectReason,
    NodeStatus,
    derive_status,
    disconnect_reason,
    short_reason,
)
from otwatch.console.forwarding.service import enqueue_notification
from otwatch.console.notifications.models import NodeWatch, SystemNotification
from otwatch.console.tables import Sorts, sort_by
from otwatch.inventory.vocabulary import Severity

MONITORED_KINDS = ("sensor",)
CONNECTED = frozenset(
    {
        NodeStatus.CONNECTED,
        NodeStatus.PAUSED,
        NodeStatus.UPDATING,
        NodeStatus.SCANNING,
        NodeStatus.PREPARING_CONNECTION,
    }
)
DISCONNECTED_KIND, RECONNECTED_KIND = "sensor_disconnected", "sensor_reconnected"


def classify(ctx: ConsoleContext, node: Node, now: datetime) -> tuple[str, str | None] | None:
    """("disconnected", reason), ("connected", None), or None for statuses in between."""
    s = ctx.settings
    st = node_state(node, s.max_clock_skew)
    status = derive_status(st, now, s.offline_after)
    if status is NodeStatus.DISCONNECTED:
        return "disconnected", disconnect_reason(st, node.disconnect_reason, now, s.offline_after)
    if status in CONNECTED:
        return "connected", None
    return None


def disconnected_message(name: str, reason: str | None, skew: float, max_skew: float) -> str:
    """The seed's disconnection messages (its words), naming the sensor and what the console knows."""
    if reason == DisconnectReason.TIME_DRIFT:
        side = "ahead of" if skew > 0 else "behind"
        return (
            f"Times drift detected. The on-premises management console has been disconnected from sensor "
            f"{name}: its clock is {abs(skew):.0f} s {side} the console's (the limit is {max_skew:.0f} s)."
        )
    if reason == DisconnectReason.CANT_PROCESS:
        return f"The on-premises management console can\u2019t process data received from the sensor {name}."
    if reason == DisconnectReason.NOT_COMMUNICATING:
        return (
            f"Sensor {name} not communicating with on-premises management console. "
            "Check network connectivity or certificate validation."
        )
    if reason == DisconnectReason.UNINSTALLED:
        return f"Sensor {name} was uninstalled and is disconnected from the console."
    return f"Sensor {name} is disconnected from the console: {reason or 'unknown reason'}."


def _notify(
    db: Session, kind: str, node: Node, reason: str | None, title: str, message: str, now: datetime
) -> SystemNotification:
    n = SystemNotification(
        id=new_id(),
        kind=kind,
        node_id=node.id,
        node_name=node.name or node.hostname,
        severity="Major" if kind == DISCONNECTED_KIND else "Warning",
        reason=reason,
        title=title,
        message=message,
        created_at=now,
    )
    db.add(n)
    db.flush()
    enqueue_notification(db, n)
    return n


def _disconnected(
    db: Session, ctx: ConsoleContext, node: Node, reason: str | None, now: datetime
) -> SystemNotification:
    name = node.name or node.hostname
    msg = disconnected_message(name, reason, node.clock_skew, ctx.settings.max_clock_skew)
    title = f"Sensor {name} disconnected: {short_reason(reason)}"
    return _notify(db, DISCONNECTED_KIND, node, reason, title, msg, now)


def _reconnected(db: Session, node: Node, was: str | None, now: datetime) -> SystemNotification:
    name = node.name or node.hostname
    was = short_reason(was)
    msg = f"Sensor {name} is connected to the console again" + (f" (was: {was})." if was else ".")
    return _notify(db, RECONNECTED_KIND, node, None, f"Sensor {name} reconnected", msg, now)


def _insert_watch(db: Session, node_id: str, state: str, reason: str | None, now: datetime) -> bool:
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(NodeWatch)
        .values(node_id=node_id, state=state, reason=reason, changed_at=now)
        .on_conflict_do_nothing(index_elements=["node_id"])
    )
    return bool(db.execute(stmt).rowcount)  # type: ignore[attr-defined]


def scan_fleet(db: Session, ctx: ConsoleContext, now: datetime | None = None) -> list[SystemNotification]:
    """Raise a notification for every sensor whose connection changed since the last scan."""
    now = now or utcnow()
    # Columns, not ORM objects: this runs every few seconds over every sensor, and a Node carries
    # JSON (configuration, statistics) that the status does not need. At 2,000 sensors loading them
    # took a sixth of a busy console's CPU (docs/benchmarks.md, "Fleet"). Rows have the attribute
    # names `classify` reads; the Node itself is loaded only for a transition.
    watched = {
        nid: (st, rs)
        for nid, st, rs in db.execute(select(NodeWatch.node_id, NodeWatch.state, NodeWatch.reason))
    }
    legacy = {nid: LEGACY_REASONS[rs] for nid, (_, rs) in watched.items() if rs in LEGACY_REASONS}
    created: list[SystemNotification] = []
    rows = db.execute(select(*STATUS_COLUMNS).where(Node.kind.in_(MONITORED_KINDS)).order_by(Node.id))
    for row in rows:
        cur = classify(ctx, cast(Node, row), now)
        if cur is None:
            continue
        state, reason = cur
        old = watched.get(row.id)
        if old is not None:
            old_state, old_reason = old
            same = old_reason == reason or legacy.get(row.id) == reason  # an earlier version's words
            if old_state == state and (state == "connected" or same):
                continue
        node = db.get(Node, row.id)
        if node is None:  # deleted since
            continue
        if old is None:
            if _insert_watch(db, node.id, state, reason, now) and state == "disconnected":
                created.append(_disconnected(db, ctx, node, reason, now))
            continue
        old_state, old_reason = old
        same_reason = NodeWatch.reason.is_(None) if old_reason is None else NodeWatch.reason == old_reason
        res = db.execute(
            update(NodeWatch)
            .where(NodeWatch.node_id == node.id, NodeWatch.state == old_state, same_reason)
            .values(state=state, reason=reason, changed_at=now)
            .execution_options(synchronize_session=False)
        )
        if not res.rowcount:  # type: ignore[attr-defined]
            continue  # another console process recorded this transition
        if state == "disconnected":
            created.append(_disconnected(db, ctx, node, reason, now))
        else:
            created.append(_reconnected(db, node, old_reason, now))
    return created


# ---------------------------------------------------------------- SPAN monitoring-port failures

PORT_FAILED_KIND, PORT_RESTORED_KIND = "span_port_failure", "span_port_restored"


def _port_notification_id(node_id: str, interface: str, failure: str | None, since: float) -> str:
    """The same id for the same state change, in every console process and after restarts: inserted
    once (ON CONFLICT DO NOTHING), so each failure and each recovery is notified exactly once."""
    key = f"{node_id}|{interface}|{failure or ''}|{since!r}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def scan_ports(db: Session, now: datetime | None = None) -> list[SystemNotification]:
    """SPAN monitoring-port failures and recoveries the sensors report in their statistics
    (``system.monitoring_ports``, see otwatch.sensor.tracking.monitoring): one system notification per
    change, forwarded by rules with Report System Notifications (e-mail included). Reads only that piece
    of each sensor's statistics."""
    now = now or utcnow()
    ports = Node.stats["system"]["monitoring_ports"]
    wanted: dict[str, tuple[str, str, str, str | None, str]] = {}
    for node_id, name, host, value in db.execute(
        select(Node.id, Node.name, Node.hostname, ports).where(Node.kind == "sensor")
    ):
        if not isinstance(value, list):
            continue
        for p in value:
            if (
                not isinstance(p, dict)
                or not p.get("interface")
                or not isinstance(p.get("since"), int | float)
            ):
                continue  # never failed: nothing to say
            failure = p.get("failure")
            nid = _port_notification_id(node_id, str(p["interface"]), failure, float(p["since"]))
            wanted[nid] = (
                node_id,
                name or host,
                str(p["interface"])[:64],
                failure,
                str(p.get("message") or ""),
            )
    if not wanted:
        return []
    known = set(db.scalars(select(SystemNotification.id).where(SystemNotification.id.in_(list(wanted)))))
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    created: list[SystemNotification] = []
    for nid, (node_id, name, interface, failure, message) in wanted.items():
        if nid in known:
            continue
        if failure:
            kind, severity = PORT_FAILED_KIND, "Major"
            title = f"Sensor {name}: SPAN monitoring port {interface}: {failure}"
        else:
            kind, severity = PORT_RESTORED_KIND, "Warning"
            title = f"Sensor {name}: SPAN monitoring port {interface}: traffic returned"
        values = {
            "id": nid, "kind": kind, "node_id": node_id, "node_name": name, "severity": severity,
            "reason": str(failure)[:300] if failure else None, "title": title[:300],
            "message": f"Sensor {name}: {message}" if message else title, "created_at": now,
        }  # fmt: skip
        stmt = insert(SystemNotification).values(**values).on_conflict_do_nothing(index_elements=["id"])
        if not db.execute(stmt).rowcount:  # type: ignore[attr-defined]
            continue  # another console process notified it
        n = db.get(SystemNotification, nid)
        assert n is not None
        enqueue_notification(db, n)
        created.append(n)
    return created


_SEVERITY_RANK = {s.value: s.order for s in Severity}
#: the System Notifications list's sortable columns (?sort=); severity by rank (Critical first ascending)
SORTS: Sorts = {
    "created_at": (SystemNotification.created_at,),
    "severity": (case(_SEVERITY_RANK, value=SystemNotification.severity, else_=len(_SEVERITY_RANK)),),
    "title": (SystemNotification.title,),
    "sensor": (SystemNotification.node_name,),
    "reason": (SystemNotification.reason,),
}


def query(kind: str | None = None, sensor: str | None = None, sort: str | None = None) -> Select[Any]:
    """The System Notifications list's filters, newest first or by ``sort`` (a key of ``SORTS``, ``-``
    first for descending; ValueError for another): the page, the API and the CSV export share it."""
    stmt = select(SystemNotification).order_by(SystemNotification.created_at.desc(), SystemNotification.id)
    stmt = sort_by(stmt, sort, SORTS, SystemNotification.id)
    if kind:
        stmt = stmt.where(SystemNotification.kind == kind)
    if sensor:
        stmt = stmt.where(SystemNotification.node_id == sensor)
    return stmt
