"""Local Settings > Audit Log page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from otwatch.console.audit.models import AuditEntry
from otwatch.console.deps import Permission, SessionDep
from otwatch.console.pagination import paginate
from otwatch.console.web.render import current_principal, forbidden, pager, render, to_login, window

router = APIRouter(include_in_schema=False)


@router.get("/settings/audit", response_class=HTMLResponse)
def audit_page(request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None:
        return to_login()
    if not p.can(Permission.MANAGE_SETTINGS):
        return forbidden(request, p, Permission.MANAGE_SETTINGS)
    actor = request.query_params.get("actor", "").strip()[:200]
    action = request.query_params.get("action", "").strip()[:100]
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc())
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action))
    page = window(request)
    rows, total = paginate(db, stmt, page)
    return render(
        request,
        "audit.html",
        p,
        "audit",
        entries=rows,
        actor=actor,
        action=action,
        paging=pager(request, page, total),
    )
