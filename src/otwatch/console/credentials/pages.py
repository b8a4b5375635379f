"""Active Queries > Credentials page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from otwatch.console.credentials.models import Credential
from otwatch.console.deps import Permission, SessionDep
from otwatch.console.fleet.models import Node
from otwatch.console.web.render import current_principal, render, to_login

router = APIRouter(include_in_schema=False)

KIND_LABELS = {"snmp_v1": "SNMP v1", "snmp_v2c": "SNMP v2c", "snmp_v3": "SNMP v3"}


@router.get("/settings/credentials", response_class=HTMLResponse)
def credentials_page(request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    used: dict[str, int] = {}
    for config in db.scalars(select(Node.config).where(Node.kind == "agent")):
        for cid in set(config.get("credential_ids", [])):
            used[cid] = used.get(cid, 0) + 1
    return render(
        request,
        "credentials.html",
        p,
        "credentials",
        credentials=list(db.scalars(select(Credential).order_by(Credential.name))),
        kind_labels=KIND_LABELS,
        used=used,
        can_edit=p.can(Permission.MANAGE_SETTINGS),
    )
