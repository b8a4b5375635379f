"""System Configuration > System Notifications page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from otwatch.console.deps import Permission, SessionDep
from otwatch.console.fleet.nodes import sensor_names
from otwatch.console.notifications import service as notifications
from otwatch.console.notifications.routes import NotificationOut
from otwatch.console.pagination import paginate
from otwatch.console.web.render import current_principal, pager, render, to_login, window

router = APIRouter(include_in_schema=False)

NOTIFICATION_KINDS = {
    "sensor_disconnected": "Sensor disconnected",
    "sensor_reconnected": "Sensor reconnected",
    "span_port_failure": "SPAN monitoring port failure",
    "span_port_restored": "SPAN monitoring port traffic returned",
    "vulnerabilities_matched": "New vulnerability matches",
}


@router.get("/settings/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    qp = request.query_params
    kind = qp.get("kind", "")
    sensor = qp.get("sensor", "")
    page = window(request)
    stmt = notifications.query(kind if kind in NOTIFICATION_KINDS else None, sensor or None)
    rows, total = paginate(db, stmt, page)
    return render(
        request,
        "notifications.html",
        p,
        "notifications",
        items=[NotificationOut.model_validate(r) for r in rows],
        kinds=NOTIFICATION_KINDS,
        kind=kind,
        sensor=sensor,
        sensors=sensor_names(db),
        paging=pager(request, page, total),
    )
