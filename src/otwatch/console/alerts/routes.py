"""Alerts list and alert page: acknowledge, close, reopen, download PCAP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import Select, select

from otwatch.console.alerts import service
from otwatch.console.alerts.models import Alert
from otwatch.console.alerts.schemas import AlertOut, alert_out
from otwatch.console.deps import Operator, SessionDep, Viewer
from otwatch.console.errors import invalid, not_found
from otwatch.console.fleet.models import Node
from otwatch.console.pagination import Page, PageDep, paginate
from otwatch.console.tables import csv_response
from otwatch.inventory.vocabulary import EngineName, SeverityName

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

Severity = SeverityName


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


def _filters(
    status: Annotated[Literal["open", "acknowledged", "closed"] | None, Query()] = None,
    severity: Annotated[Severity | None, Query()] = None,
    engine: Annotated[EngineName | None, Query()] = None,
    protocol: Annotated[str | None, Query(max_length=50)] = None,
    technique: Annotated[
        str | None, Query(max_length=16, description="ATT&CK for ICS id, e.g. T0843")
    ] = None,
    sensor: Annotated[str | None, Query(max_length=32)] = None,
    ip: Annotated[str | None, Query(max_length=64)] = None,
    sort: Annotated[
        str | None,
        Query(
            max_length=20,
            description="column to sort by, - first for descending: " + ", ".join(service.SORTS),
        ),
    ] = None,
) -> Select[Any]:
    """The Alerts list's filters and order as one query (the list and its CSV export share it)."""
    try:
        return service.query(
            status=status,
            severity=severity,
            engine=engine,
            protocol=protocol,
            technique=technique,
            sensor=sensor,
            ip=ip,
            sort=sort,
        )
    except ValueError as exc:
        raise invalid(str(exc)) from exc


FiltersDep = Annotated[Select[Any], Depends(_filters)]

EXPORT_COLUMNS: list[tuple[str, Callable[[AlertOut], object]]] = [
    ("Severity", lambda a: a.severity),
    ("Title", lambda a: a.title),
    ("Engine", lambda a: a.engine),
    ("Protocol", lambda a: a.protocol),
    ("Technique", lambda a: a.technique),
    ("Technique name", lambda a: a.technique_name),
    ("Source IP", lambda a: a.source_ip),
    ("Source MAC", lambda a: a.source_mac),
    ("Destination IP", lambda a: a.destination_ip),
    ("Destination MAC", lambda a: a.destination_mac),
    ("Sensor", lambda a: a.sensor_name or a.sensor_id),
    ("First seen (UTC)", lambda a: a.first_seen),
    ("Last seen (UTC)", lambda a: a.last_seen),
    ("Count", lambda a: a.count),
    ("Status", lambda a: a.status),
    ("Status by", lambda a: a.status_by),
    ("Description", lambda a: a.description),
    ("ID", lambda a: a.id),
]


@router.get("/export", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_alerts(_: Viewer, db: SessionDep, stmt: FiltersDep) -> Response:
    """Every alert the filters select, in the same order, as CSV (the Alerts list's Export CSV)."""

    def prepare(rows: list[Alert]) -> Callable[[Alert], AlertOut]:
        names = _names(db, rows)
        return lambda a: alert_out(a, names, False)

    return csv_response(db, stmt, EXPORT_COLUMNS, "alerts.csv", prepare)


@router.get("", response_model=Page[AlertOut])
def list_alerts(_: Viewer, db: SessionDep, page: PageDep, stmt: FiltersDep) -> dict[str, object]:
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
