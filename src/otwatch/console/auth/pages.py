"""Local Settings pages of users and their keys: Users and Roles, API Keys."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from otwatch.console.auth.models import ApiKey, Role, User
from otwatch.console.deps import Permission, SessionDep
from otwatch.console.web.render import current_principal, forbidden, render, to_login

router = APIRouter(include_in_schema=False)


@router.get("/settings/users", response_class=HTMLResponse)
def users_page(request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None:
        return to_login()
    if not p.can(Permission.MANAGE_SETTINGS):
        return forbidden(request, p, Permission.MANAGE_SETTINGS)
    roles = [r.value for r in Role if r is not Role.SUPPORT or p.can(Permission.CLEAR_DATA)]
    return render(
        request,
        "users.html",
        p,
        "users",
        users=list(db.scalars(select(User).order_by(User.username).limit(1000))),
        roles=roles,
    )


@router.get("/settings/api-keys", response_class=HTMLResponse)
def api_keys_page(request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    see_all = p.can(Permission.MANAGE_SETTINGS)
    stmt = select(ApiKey).order_by(ApiKey.created_at.desc()).limit(1000)
    if not see_all:
        stmt = stmt.where(ApiKey.user_id == p.user_id)
    keys = list(db.scalars(stmt))
    owners = {
        u.id: u.username for u in db.scalars(select(User).where(User.id.in_({k.user_id for k in keys})))
    }
    # The Read Only role may neither generate API keys nor manage them (no forms, no buttons).
    can_generate = p.can(Permission.OPERATE)
    return render(
        request,
        "api_keys.html",
        p,
        "api-keys",
        keys=keys,
        owners=owners,
        see_all=see_all,
        can_generate=can_generate,
    )
