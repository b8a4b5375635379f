"""Environment Settings > Network Definitions > Monitored Networks page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from otwatch.console.deps import Permission, SessionDep
from otwatch.console.networks.models import MonitoredNetwork
from otwatch.console.web.render import current_principal, render, to_login

router = APIRouter(include_in_schema=False)


@router.get("/settings/networks", response_class=HTMLResponse)
def networks_page(request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    rows = db.scalars(select(MonitoredNetwork).order_by(MonitoredNetwork.cidr).limit(1000))
    return render(
        request,
        "networks.html",
        p,
        "networks",
        networks=list(rows),
        can_edit=p.can(Permission.MANAGE_SETTINGS),
    )
