"""FastAPI dependency aliases: the console context, a DB session, the signed-in principal, permissions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from otwatch.console.auth.models import EndedSession, Role, User
from otwatch.console.auth.service import resolve_api_key
from otwatch.console.context import ConsoleContext
from otwatch.console.errors import APIError
from otwatch.ui import csrf


class Permission(StrEnum):
    VIEW = "view"
    OPERATE = "operate"  # acknowledge alerts, Scan Now, Abort Scan
    MANAGE_FLEET = "manage_fleet"  # pairing keys, approve, configure, update, delete
    MANAGE_SETTINGS = "manage_settings"  # networks, credentials, users, certificates
    CLEAR_DATA = "clear_data"  # the privileged support user only


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.READ_ONLY: frozenset({Permission.VIEW}),
    Role.SECURITY_ANALYST: frozenset({Permission.VIEW, Permission.OPERATE}),
    Role.ADMIN: frozenset(
        {Permission.VIEW, Permission.OPERATE, Permission.MANAGE_FLEET, Permission.MANAGE_SETTINGS}
    ),
    Role.SUPPORT: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    username: str
    role: Role
    via: str  # "session" | "api_key"
    api_key_name: str | None = None
    must_change: bool = False  # signed in with a password the user must change first

    def can(self, perm: Permission) -> bool:
        return perm in ROLE_PERMISSIONS[self.role]

    @property
    def actor(self) -> str:
        return f"{self.username} (API key {self.api_key_name})" if self.api_key_name else self.username


def get_ctx(request: Request) -> ConsoleContext:
    ctx: ConsoleContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[ConsoleContext, Depends(get_ctx)]


def get_db(ctx: CtxDep) -> Iterator[Session]:
    """A session per request; writes commit explicitly in the route before answering."""
    with ctx.db.session() as s:
        yield s


SessionDep = Annotated[Session, Depends(get_db)]


def _api_key_from(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def principal_from_request(request: Request, db: Session) -> Principal | None:
    key = _api_key_from(request)
    if key:
        found = resolve_api_key(db, key)
        if found is None:
            raise APIError(401, "unauthorized", "API key is invalid or revoked")
        user, row = found
        return Principal(user.id, user.username, Role(user.role), "api_key", row.name)
    uid = request.session.get("uid") if "session" in request.scope else None
    if not uid:
        return None
    sid = request.session.get("sid")
    # the user and whether this session was signed out (auth.service.end_session), in one statement
    ended = select(EndedSession.sid).where(EndedSession.sid == str(sid)).exists()
    found_user = db.execute(select(User, ended).where(User.id == uid)).first() if sid else None
    su = found_user[0] if found_user is not None else None
    if (
        found_user is None
        or found_user[1]
        or su is None
        or not su.active
        or request.session.get("epoch") != su.session_epoch
    ):
        request.session.clear()
        return None
    return Principal(su.id, su.username, Role(su.role), "session", must_change=su.must_change_password)


#: what a user who must change their password may still do through the API
PASSWORD_CHANGE_ROUTES = frozenset({"/api/v1/auth/password", "/api/v1/auth/me", "/api/v1/auth/logout"})


def current_principal(request: Request, db: SessionDep) -> Principal:
    p = principal_from_request(request, db)
    if p is None:
        raise APIError(401, "unauthorized", "sign in or send an API key")
    if p.must_change and request.url.path not in PASSWORD_CHANGE_ROUTES:
        raise APIError(
            403,
            "password_change_required",
            "change your password first (POST /api/v1/auth/password, or the page /account/password)",
        )
    return p


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(perm: Permission) -> Callable[[Principal], Principal]:
    def _check(p: CurrentPrincipal) -> Principal:
        if not p.can(perm):
            raise APIError(403, "forbidden", f"the {p.role.value} role may not do this (needs {perm.value})")
        return p

    _check.__name__ = f"require_{perm.value}"
    return _check


Viewer = Annotated[Principal, Depends(require(Permission.VIEW))]
Operator = Annotated[Principal, Depends(require(Permission.OPERATE))]
FleetAdmin = Annotated[Principal, Depends(require(Permission.MANAGE_FLEET))]
SettingsAdmin = Annotated[Principal, Depends(require(Permission.MANAGE_SETTINGS))]
Privileged = Annotated[Principal, Depends(require(Permission.CLEAR_DATA))]


async def csrf_guard(request: Request) -> None:
    """Writes that ride on a signed-in session cookie must echo the session's CSRF token.

    API keys and mTLS carry no cookie; anonymous requests are refused by the routes themselves
    (the HTML sign-in form checks its token in its own route, to answer with the form).
    """
    if request.method in csrf.SAFE_METHODS or "session" not in request.scope or _api_key_from(request):
        return
    if not request.session.get("uid"):
        return
    if not csrf.matches(request, await csrf.supplied_token(request)):
        raise APIError(
            403,
            "csrf_failed",
            "the request did not carry this session's CSRF token (X-CSRF-Token header); reload the page",
        )
