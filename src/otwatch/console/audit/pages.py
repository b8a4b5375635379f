"""Local Settings > Audit Log page."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from otwatch.console.audit import service
from otwatch.console.deps import Permission, SessionDep
from otwatch.console.pagination import paginate
from otwatch.console.tables import parse_sort
from otwatch.console.web.render import current_principal, forbidden, pager, render, to_login, window

router = APIRouter(include_in_schema=False)


def _sortable(value: str) -> str | None:
    try:
        return value if parse_sort(value, service.SORTS) is not None else None
    except ValueError:
        return None


@router.get("/settings/audit", response_class=HTMLResponse)
def audit_page(request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None:
        return to_login()
    if not p.can(Permission.MANAGE_SETTINGS):
        return forbidden(request, p, Permission.MANAGE_SETTINGS)
    actor = request.query_params.get("actor", "").strip()[:200]
    action = request.query_params.get("action", "").strip()[:100]
    sort = _sortable(request.query_params.get("sort", ""))  # an odd ?sort= is ignored
    stmt = service.query(actor=actor or None, action=action or None, sort=sort)
    page = window(request)
    rows, total = paginate(db, stmt, page)
    kept = {k: v for k, v in (("actor", actor), ("action", action), ("sort", sort)) if v}
    return render(
        request,
        "audit.html",
        p,
        "audit",
        entries=rows,
        actor=actor,
        action=action,
        sort=sort or "",
        export="/api/v1/audit/export" + (f"?{urlencode(kept)}" if kept else ""),
        paging=pager(request, page, total),
    )
