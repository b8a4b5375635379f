"""Sign-in, users and roles, API keys, audit log."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select

from otwatch.console.audit import service as audit
from otwatch.console.auth import service
from otwatch.console.auth.models import ApiKey, Role, User
from otwatch.console.auth.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    LoginIn,
    PasswordChange,
    UserIn,
    UserOut,
    UserPatch,
)
from otwatch.console.db import utcnow
from otwatch.console.deps import (
    CtxDep,
    CurrentPrincipal,
    Operator,
    Permission,
    Principal,
    SessionDep,
    SettingsAdmin,
    Viewer,
)
from otwatch.console.errors import APIError, conflict, not_found
from otwatch.console.pagination import Page, PageDep, paginate
from otwatch.ui import csrf, signin

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post("/auth/login", response_model=UserOut)
def login(body: LoginIn, request: Request, response: Response, ctx: CtxDep, db: SessionDep) -> User:
    """Signs in with a session cookie; the CSRF token that later writes must echo comes back in the
    ``X-CSRF-Token`` response header. No token is needed to sign in here: another origin cannot send
    a JSON body without a CORS preflight, which the console never grants."""
    outcome = signin.sign_in(
        None,
        body.username,
        body.password,
        service.AuditThrottle(db, ctx.sign_in_addresses, request.client.host if request.client else ""),
        partial(service.authenticate, db),
    )
    if outcome.status == 429:
        raise APIError(429, "locked_out", outcome.error or "", {"retry_after": outcome.retry_after})
    user = outcome.principal
    if user is None:
        raise APIError(401, "bad_credentials", outcome.error or signin.WRONG)
    request.session.clear()
    service.start_session(request, user)
    response.headers[csrf.HEADER] = csrf.rotate(request)
    audit.record(db, user.username, "auth.login")
    db.commit()
    return user


@router.post("/auth/logout", status_code=204)
def logout(request: Request, ctx: CtxDep, db: SessionDep) -> None:
    """Sign out: the session ends on the server, so a copy of its cookie is refused too."""
    service.end_session(db, request, ctx.settings.session_max_age)
    db.commit()


@router.get("/auth/me", response_model=UserOut)
def me(p: CurrentPrincipal, db: SessionDep) -> User:
    user = db.get(User, p.user_id)
    if user is None:
        raise not_found("user")
    return user


@router.post("/auth/password", status_code=204)
def change_password(body: PasswordChange, p: CurrentPrincipal, request: Request, db: SessionDep) -> None:
    user = db.get(User, p.user_id)
    if user is None or not service.verify_password(body.current_password, user.password_hash):
        raise APIError(400, "bad_credentials", "current password is wrong")
    user.password_hash = service.hash_password(body.new_password)
    user.must_change_password = False
    service.revoke_keys_on_password_change(db, p.actor, user)
    user.session_epoch += 1
    request.session.update({"uid": user.id, "epoch": user.session_epoch})
    audit.record(db, p.actor, "auth.password_changed", user.username)
    db.commit()


@router.get("/users", response_model=Page[UserOut])
def list_users(_: SettingsAdmin, db: SessionDep, page: PageDep) -> dict[str, object]:
    rows, total = paginate(db, select(User).order_by(User.username), page)
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, p: SettingsAdmin, db: SessionDep) -> User:
    if body.role is Role.SUPPORT and not p.can(Permission.CLEAR_DATA):
        raise APIError(403, "forbidden", "only the support user may create another support user")
    if db.scalar(select(User).where(User.username == body.username)):
        raise conflict(f"user {body.username!r} already exists")
    user = User(username=body.username, password_hash=service.hash_password(body.password), role=body.role)
    db.add(user)
    audit.record(db, p.actor, "user.created", body.username, role=body.role.value)
    db.commit()
    return user


def _guard_privileged(db: SessionDep, p: Principal, user: User, demoted: bool) -> None:
    """The Support user is changed only by a Support user (an Admin could otherwise take it over by
    setting its password); the last active Admin is never demoted, deactivated or deleted."""
    if user.role == Role.SUPPORT and not p.can(Permission.CLEAR_DATA):
        raise APIError(403, "forbidden", "only the support user may change or delete the support user")
    if demoted and user.role == Role.ADMIN and user.active:
        admins = db.scalar(
            select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.active.is_(True))
        )
        if (admins or 0) <= 1:
            raise conflict(f"{user.username!r} is the last active Admin; make another Admin first")


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(user_id: str, body: UserPatch, p: SettingsAdmin, db: SessionDep) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise not_found("user")
    if body.role is Role.SUPPORT and not p.can(Permission.CLEAR_DATA):
        raise APIError(403, "forbidden", "only the support user may grant the support role")
    _guard_privileged(db, p, user, demoted=body.role not in (None, Role.ADMIN) or body.active is False)
    changes: dict[str, object] = {}
    if body.role is not None:
        user.role, changes["role"] = body.role, body.role.value
    if body.active is not None:
        user.active, changes["active"] = body.active, body.active
    if body.password is not None:
        user.password_hash, changes["password"] = service.hash_password(body.password), "reset"
        service.revoke_keys_on_password_change(db, p.actor, user)
    user.session_epoch += 1  # any change signs the user out everywhere
    audit.record(db, p.actor, "user.updated", user.username, **changes)
    db.commit()
    return user


@router.post("/users/{user_id}/unlock", status_code=204)
def unlock_user(user_id: str, p: SettingsAdmin, db: SessionDep) -> None:
    """End a user's sign-in lockout now (audited)."""
    user = db.get(User, user_id)
    if user is None:
        raise not_found("user")
    service.unlock_user(db, p.actor, user)
    db.commit()


@router.delete("/users/{user_id}", status_code=204)
def delete_user(user_id: str, p: SettingsAdmin, db: SessionDep) -> None:
    user = db.get(User, user_id)
    if user is None:
        raise not_found("user")
    if user.id == p.user_id:
        raise conflict("you cannot delete your own account")
    _guard_privileged(db, p, user, demoted=True)
    db.delete(user)
    audit.record(db, p.actor, "user.deleted", user.username)
    db.commit()


@router.get("/api-keys", response_model=Page[ApiKeyOut])
def list_api_keys(p: Viewer, db: SessionDep, page: PageDep) -> dict[str, object]:
    stmt = select(ApiKey).order_by(ApiKey.created_at.desc())
    if not p.can(Permission.MANAGE_SETTINGS):
        stmt = stmt.where(ApiKey.user_id == p.user_id)
    rows, total = paginate(db, stmt, page)
    return {"items": _keys_out(db, rows), "total": total, "limit": page.limit, "offset": page.offset}


def _keys_out(db: SessionDep, rows: list[ApiKey]) -> list[ApiKeyOut]:
    """Keys with the name of their owner (whose rights they carry)."""
    ids = {k.user_id for k in rows}
    stmt = select(User.id, User.username).where(User.id.in_(ids))
    names = {uid: name for uid, name in db.execute(stmt)} if ids else {}
    return [ApiKeyOut.model_validate(k).model_copy(update={"owner": names.get(k.user_id, "")}) for k in rows]


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201)
def create_api_key(body: ApiKeyIn, p: Operator, db: SessionDep) -> dict[str, object]:
    user = db.get(User, p.user_id)
    assert user is not None
    new = service.create_api_key(db, user, body.name, body.expires_days, body.keep_on_password_change)
    audit.record(db, p.actor, "api_key.created", body.name, expires_days=body.expires_days)
    db.commit()
    out = {**ApiKeyOut.model_validate(new.key).model_dump(), "owner": user.username}
    return {**out, "key": new.plaintext}


@router.delete("/api-keys/{key_id}", status_code=204)
def revoke_api_key(key_id: str, p: Operator, db: SessionDep) -> None:
    row = db.get(ApiKey, key_id)
    if row is None or (row.user_id != p.user_id and not p.can(Permission.MANAGE_SETTINGS)):
        raise not_found("API key")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(db, p.actor, "api_key.revoked", row.name)
        db.commit()
