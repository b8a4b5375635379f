"""Storing sensor alerts (idempotent upserts) and changing their status."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sqlalchemy import Select, case, delete, func, select
from sqlalchemy.orm import Session

from otwatch.console.alerts.models import Alert
from otwatch.console.alerts.schemas import AlertOut, alert_out
from otwatch.console.audit import service as audit
from otwatch.console.db import utcnow
from otwatch.console.errors import conflict, invalid, not_found
from otwatch.console.fleet.models import Node
from otwatch.console.tables import Sorts, sort_by
from otwatch.inventory.vocabulary import Severity
from otwatch.wire.messages import AlertReport

SEVERITY_ORDER = {s.value: s.order for s in Severity}  # for SQL CASE ordering
#: the Alerts list's sortable columns (?sort=); severity sorts by rank (Critical first when ascending)
SORTS: Sorts = {
    "severity": (case(SEVERITY_ORDER, value=Alert.severity, else_=len(SEVERITY_ORDER)),),
    "title": (Alert.title,),
    "engine": (Alert.engine,),
    "protocol": (Alert.protocol,),
    "technique": (Alert.technique,),
    "source": (Alert.source_ip, Alert.source_mac),
    "destination": (Alert.destination_ip, Alert.destination_mac),
    "first_seen": (Alert.first_seen,),
    "last_seen": (Alert.last_seen,),
    "count": (Alert.count,),
    "status": (Alert.status,),
}
TRANSITIONS = {"acknowledge": ("open", "acknowledged"), "close": (None, "closed"), "reopen": (None, "open")}


def ingest(db: Session, node_id: str, reports: list[AlertReport]) -> list[Alert]:
    """Upsert by (sensor, sensor's alert key): counts and times are absolute, so a resend is harmless.

    An alert the operator closed stays closed. New occurrences after it (the sensor's count and
    last time moved on for the same key) are a new alert, forwarded like any other: the SIEM hears
    of every PLC stop, also the one after Close (`_recurrence`).
    """
    new: list[Alert] = []
    for r in reports:
        row = db.scalar(select(Alert).where(Alert.node_id == node_id, Alert.sensor_key == r.key))
        if row is not None and row.status == "closed" and r.last_seen > row.last_seen:
            row = _recurrence(db, row, r)
            new.append(row)  # a new alert: forwarded like any other
        pcap = None
        if r.pcap_b64:
            try:
                pcap = base64.b64decode(r.pcap_b64, validate=True)
            except (binascii.Error, ValueError):
                pcap = None
        if row is None:
            row = Alert(
                node_id=node_id,
                sensor_key=r.key,
                first_seen=r.first_seen,
                last_seen=r.last_seen,
                count=r.count,
                count_offset=0,
                status="open",
            )
            db.add(row)
            new.append(row)
        row.code, row.engine, row.severity, row.title = r.code, r.engine, r.severity, r.title
        row.description, row.protocol, row.details = r.description, r.protocol, r.details
        row.technique, row.technique_name = r.technique, r.technique_name
        row.source_ip, row.source_mac = r.source_ip, r.source_mac
        row.destination_ip, row.destination_mac = r.destination_ip, r.destination_mac
        if not row.count_offset:  # a recurrence starts after the closed alert it follows
            row.first_seen = min(row.first_seen, r.first_seen)
        row.last_seen = max(row.last_seen, r.last_seen)
        row.count = max(row.count, r.count - row.count_offset)
        if pcap:
            row.pcap = pcap
    db.flush()
    return new


def _recurrence(db: Session, closed: Alert, r: AlertReport) -> Alert:
    """The alert for new occurrences of a closed alert's key: the closed alert keeps its history under
    a key of its own, and the new one counts only what came after it (the sensor's count is
    cumulative per key)."""
    closed.sensor_key = f"closed:{closed.id}"
    db.flush()  # frees (sensor, key) for the new row
    offset = closed.count_offset + closed.count
    row = Alert(
        node_id=closed.node_id,
        sensor_key=r.key,
        first_seen=r.last_seen,
        last_seen=r.last_seen,
        count=max(1, r.count - offset),
        count_offset=offset,
        status="open",
    )
    db.add(row)
    return row


def query(
    *,
    status: str | None = None,
    severity: str | None = None,
    engine: str | None = None,
    protocol: str | None = None,
    technique: str | None = None,
    sensor: str | None = None,
    ip: str | None = None,
    sort: str | None = None,
) -> Select[Any]:
    """The Alerts list's filters as one query, newest first or by ``sort`` (a key of ``SORTS``, ``-``
    first for descending; ValueError for another)."""
    stmt = sort_by(select(Alert).order_by(Alert.last_seen.desc()), sort, SORTS, Alert.id)
    if status:
        stmt = stmt.where(Alert.status == status)
    if severity:
        stmt = stmt.where(Alert.severity == severity)
    if engine:
        stmt = stmt.where(Alert.engine == engine)
    if protocol:
        stmt = stmt.where(Alert.protocol == protocol)
    if technique:
        stmt = stmt.where(Alert.technique == technique)
    if sensor:
        stmt = stmt.where(Alert.node_id == sensor)
    if ip:
        stmt = stmt.where((Alert.source_ip == ip) | (Alert.destination_ip == ip))
    return stmt


def for_asset(ip: str | None, mac: str | None) -> Select[Any]:
    """The alerts an asset is the source or the destination of (by IP, or by MAC for a layer-2 or
    IP-less asset), the newest first."""
    stmt = select(Alert).order_by(Alert.last_seen.desc())
    if ip:
        return stmt.where((Alert.source_ip == ip) | (Alert.destination_ip == ip))
    if mac:
        return stmt.where((Alert.source_mac == mac) | (Alert.destination_mac == mac))
    return stmt.where(Alert.id.is_(None))


def change_status(db: Session, actor: str, alert_id: str, action: str) -> Alert:
    if action not in TRANSITIONS:
        raise invalid(f"unknown action {action!r}")
    row = db.get(Alert, alert_id)
    if row is None:
        raise not_found("alert")
    need, to = TRANSITIONS[action]
    if need is not None and row.status != need:
        raise conflict(f"only an open alert can be acknowledged (this one is {row.status})")
    if row.status == to:
        raise conflict(f"the alert is already {to}")
    row.status, row.status_by, row.status_at = to, actor, utcnow()
    audit.record(db, actor, f"alert.{action}", row.id, title=row.title)
    return row


def alert_outs(db: Session, rows: list[Alert]) -> list[AlertOut]:
    """Alerts as the pages show them: with their sensor's name and whether a PCAP is stored."""
    ids = [a.id for a in rows]
    node_ids = {a.node_id for a in rows}
    names = {
        i: name or host
        for i, name, host in db.execute(
            select(Node.id, Node.name, Node.hostname).where(Node.id.in_(node_ids))
        )
    }
    pcaps = (
        set(db.scalars(select(Alert.id).where(Alert.id.in_(ids), Alert.pcap.is_not(None)))) if ids else set()
    )
    return [alert_out(a, names, a.id in pcaps) for a in rows]


def open_counts(db: Session) -> dict[str, int]:
    """Open alerts per sensor (node id)."""
    stmt = select(Alert.node_id, func.count()).where(Alert.status == "open").group_by(Alert.node_id)
    return {node_id: n for node_id, n in db.execute(stmt)}


def top_open(db: Session, node_id: str, limit: int = 5) -> list[Alert]:
    """A sensor's most severe open alerts, the newest first within a severity."""
    rank = case(SEVERITY_ORDER, value=Alert.severity, else_=len(SEVERITY_ORDER))
    return list(
        db.scalars(
            select(Alert)
            .where(Alert.node_id == node_id, Alert.status == "open")
            .order_by(rank, Alert.last_seen.desc())
            .limit(limit)
        )
    )


def forget_node(db: Session, node_id: str) -> int:
    """Delete every alert ``node_id`` raised (a sensor's Clear data with its console data); returns
    how many. One statement, whatever the count."""
    return int(db.execute(delete(Alert).where(Alert.node_id == node_id)).rowcount or 0)  # type: ignore[attr-defined]
