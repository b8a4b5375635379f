"""Environment Settings > Network Definitions > Monitored Networks page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from otwatch.console.deps import Permission, SessionDep
from otwatch.console.fleet.models import DuplicatedNetwork, Node
from otwatch.console.networks import duplicated as dup
from otwatch.console.networks.models import MonitoredNetwork
from otwatch.console.web.render import current_principal, render, to_login

router = APIRouter(include_in_schema=False)


@router.get("/settings/networks", response_class=HTMLResponse)
def networks_page(request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    rows = db.scalars(select(MonitoredNetwork).order_by(MonitoredNetwork.cidr).limit(1000))
    copies = list(
        db.scalars(
            select(DuplicatedNetwork).order_by(DuplicatedNetwork.cidr, DuplicatedNetwork.site).limit(1000)
        )
    )
    agents = list(
        db.execute(
            select(Node.id, Node.name, Node.hostname)
            .where(Node.kind == "agent", Node.approved_at.is_not(None))
            .order_by(Node.name, Node.hostname)
        )
    )
    names = {i: n or h or i for i, n, h in agents}
    # one group per range: its copies, each with its site, agent and the assets held in it
    groups: dict[str, list[DuplicatedNetwork]] = {}
    for c in copies:
        groups.setdefault(c.cidr, []).append(c)
    return render(
        request,
        "networks.html",
        p,
        "networks",
        networks=list(rows),
        can_edit=p.can(Permission.MANAGE_SETTINGS),
        duplicated=groups,
        agent_names=names,
        asset_counts=dup.asset_counts(db) if copies else {},
    )
