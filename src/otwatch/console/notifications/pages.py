"""System Configuration > System Notifications page."""

from __future__ import annotations

from urllib.parse import urlencode

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
    sort = qp.get("sort", "")
    if sort.removeprefix("-") not in notifications.SORTS:
        sort = ""  # an odd ?sort= is ignored
    page = window(request)
    kind_kept = kind if kind in NOTIFICATION_KINDS else None
    stmt = notifications.query(kind_kept, sensor or None, sort or None)
    kept = {k: v for k, v in (("kind", kind_kept), ("sensor", sensor[:32]), ("sort", sort)) if v}
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
        sort=sort,
        export="/api/v1/notifications/export" + (f"?{urlencode(kept)}" if kept else ""),
        sensors=sensor_names(db),
        paging=pager(request, page, total),
    )
