"""Alerts pages: the list with its filters and bulk Acknowledge / Close, and an alert's page."""

from __future__ import annotations

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
from otwatch.console.web.render import current_principal, error_page, pager, render, to_login, window

router = APIRouter(include_in_schema=False)

ALERT_STATUSES = ("open", "acknowledged", "closed")
SEVERITIES = tuple(SEVERITY_ORDER)
ALERT_FILTERS = ("status", "severity", "engine", "protocol", "sensor", "ip")


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
        filtered=any(v for k, v in f.items() if k != "status") or f["status"] != "open",
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
