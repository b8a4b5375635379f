"""Alerts list and alert page: acknowledge, close, reopen, download PCAP."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel
from sqlalchemy import select

from otwatch.console.alerts import service
from otwatch.console.alerts.models import Alert
from otwatch.console.deps import Operator, SessionDep, Viewer
from otwatch.console.errors import not_found
from otwatch.console.fleet.models import Node
from otwatch.console.pagination import Page, PageDep, paginate
from otwatch.inventory.vocabulary import EngineName, SeverityName

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

Severity = SeverityName


class AlertOut(BaseModel):
    id: str
    sensor_id: str
    sensor_name: str
    code: str
    engine: str
    severity: str
    title: str
    description: str
    protocol: str | None
    source_ip: str | None
    source_mac: str | None
    destination_ip: str | None
    destination_mac: str | None
    first_seen: datetime
    last_seen: datetime
    count: int
    status: str
    status_by: str | None
    status_at: datetime | None
    details: dict[str, Any]
    has_pcap: bool


def alert_out(a: Alert, names: dict[str, str], has_pcap: bool) -> AlertOut:
    return AlertOut(
        id=a.id, sensor_id=a.node_id, sensor_name=names.get(a.node_id, ""), code=a.code, engine=a.engine,
        severity=a.severity, title=a.title, description=a.description, protocol=a.protocol,
        source_ip=a.source_ip, source_mac=a.source_mac, destination_ip=a.destination_ip,
        destination_mac=a.destination_mac, first_seen=a.first_seen, last_seen=a.last_seen, count=a.count,
        status=a.status, status_by=a.status_by, status_at=a.status_at, details=a.details, has_pcap=has_pcap,
    )  # fmt: skip


def _names(db: SessionDep, rows: list[Alert]) -> dict[str, str]:
    ids = {a.node_id for a in rows}
    if not ids:
        return {}
    stmt = select(Node.id, Node.name, Node.hostname).where(Node.id.in_(ids))
    return {i: name or host for i, name, host in db.execute(stmt)}


def _with_pcap(db: SessionDep, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    return {i for (i,) in db.query(Alert.id).filter(Alert.id.in_(ids), Alert.pcap.is_not(None))}


@router.get("", response_model=Page[AlertOut])
def list_alerts(
    _: Viewer,
    db: SessionDep,
    page: PageDep,
    status: Annotated[Literal["open", "acknowledged", "closed"] | None, Query()] = None,
    severity: Annotated[Severity | None, Query()] = None,
    engine: Annotated[EngineName | None, Query()] = None,
    protocol: Annotated[str | None, Query(max_length=50)] = None,
    sensor: Annotated[str | None, Query(max_length=32)] = None,
    ip: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, object]:
    stmt = service.query(
        status=status, severity=severity, engine=engine, protocol=protocol, sensor=sensor, ip=ip
    )
    rows, total = paginate(db, stmt, page)
    names, pcaps = _names(db, rows), _with_pcap(db, [a.id for a in rows])
    items = [alert_out(a, names, a.id in pcaps) for a in rows]
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@router.get("/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: str, _: Viewer, db: SessionDep) -> AlertOut:
    a = db.get(Alert, alert_id)
    if a is None:
        raise not_found("alert")
    return alert_out(a, _names(db, [a]), bool(_with_pcap(db, [a.id])))


@router.post("/{alert_id}/{action}", response_model=AlertOut)
def act(
    alert_id: str, action: Literal["acknowledge", "close", "reopen"], p: Operator, db: SessionDep
) -> AlertOut:
    service.change_status(db, p.actor, alert_id, action)
    db.commit()
    return get_alert(alert_id, p, db)


@router.get("/{alert_id}/pcap", response_class=Response)
def download_pcap(alert_id: str, _: Viewer, db: SessionDep) -> Response:
    a = db.get(Alert, alert_id)
    if a is None or a.pcap is None:
        raise not_found("alert PCAP")
    headers = {"Content-Disposition": f'attachment; filename="alert-{alert_id}.pcap"'}
    return Response(a.pcap, media_type="application/vnd.tcpdump.pcap", headers=headers)
