"""Alerts pages: the list with its filters and bulk Acknowledge / Close, and an alert's page."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from otwatch.console.alerts import service as alerts
from otwatch.console.alerts.models import Alert
from otwatch.console.alerts.service import SEVERITY_ORDER
from otwatch.console.deps import Permission, SessionDep
from otwatch.console.fleet.models import Node
from otwatch.console.fleet.schemas import ENGINES
from otwatch.console.pagination import paginate
from otwatch.console.tables import parse_sort
from otwatch.console.web.render import (
    current_principal,
    error_page,
    pager,
    render,
    to_login,
    window,
)

router = APIRouter(include_in_schema=False)

ALERT_STATUSES = ("open", "acknowledged", "closed")
SEVERITIES = tuple(SEVERITY_ORDER)
ALERT_FILTERS = ("status", "severity", "engine", "protocol", "sensor", "ip", "sort")


def _sortable(value: str) -> bool:
    try:
        return parse_sort(value, alerts.SORTS) is not None
    except ValueError:
        return False


def _export(status: str | None, severity: str | None, engine: str | None, f: dict[str, str]) -> str:
    """The CSV export of what the page shows: the filters it applied (the default status, open,
    made explicit; "any" as no status; values it ignored left out)."""
    query = {
        "status": status,
        "severity": severity,
        "engine": engine,
        "protocol": f["protocol"],
        "sensor": f["sensor"],
        "ip": f["ip"],
        "sort": f["sort"] if _sortable(f["sort"]) else None,
    }
    kept = {k: v for k, v in query.items() if v}
    return "/api/v1/alerts/export" + (f"?{urlencode(kept)}" if kept else "")


def _sensors(db: Session) -> list[Node]:
    return list(db.scalars(select(Node).where(Node.kind == "sensor").order_by(Node.name, Node.hostname)))


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    qp = request.query_params
    f = {k: qp.get(k, "").strip()[:200] for k in ALERT_FILTERS}
    if not f["status"]:
        f["status"] = "open"  # the default view: what still needs attention; "any" shows every status
    # unknown values are ignored rather than failing the page
    status = f["status"] if f["status"] in ALERT_STATUSES else None
    severity = f["severity"] if f["severity"] in SEVERITIES else None
    engine = f["engine"] if f["engine"] in ENGINES else None
    stmt = alerts.query(
        status=status,
        severity=severity,
        engine=engine,
        protocol=f["protocol"] or None,
        sensor=f["sensor"] or None,
        ip=f["ip"] or None,
        sort=f["sort"] if _sortable(f["sort"]) else None,  # an odd ?sort= is ignored
    )
    page = window(request)
    rows, total = paginate(db, stmt, page)
    protocols = db.scalars(
        select(Alert.protocol).where(Alert.protocol.is_not(None)).distinct().order_by(Alert.protocol)
    )
    return render(
        request,
        "alerts.html",
        p,
        "alerts",
        items=alerts.alert_outs(db, list(rows)),
        filters=f,
        filtered=any(v for k, v in f.items() if k not in ("status", "sort")) or f["status"] != "open",
        export=_export(status, severity, engine, f),
        paging=pager(request, page, total),
        limit=page.limit,
        statuses=ALERT_STATUSES,
        severities=SEVERITIES,
        engines=ENGINES,
        protocols=list(protocols),
        sensors=_sensors(db),
        can_operate=p.can(Permission.OPERATE),
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(alert_id: str, request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    row = db.get(Alert, alert_id)
    if row is None:
        return error_page(request, p, 404, "Alert not found", "This alert does not exist or was removed.")
    (a,) = alerts.alert_outs(db, [row])
    return render(request, "alert.html", p, "alerts", alert=a, can_operate=p.can(Permission.OPERATE))
