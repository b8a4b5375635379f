"""Signing in and out, and the console's front door (``/``: the Agents page or the sign-in form)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from otwatch.console.audit import service as audit
from otwatch.console.auth import service as auth_service
from otwatch.console.deps import SessionDep
from otwatch.console.web.render import current_principal, templates, to_login
from otwatch.ui import csrf

router = APIRouter(include_in_schema=False)


@router.get("/")
def index(request: Request, db: SessionDep) -> RedirectResponse:
    return RedirectResponse("/agents" if current_principal(request, db) else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, db: SessionDep) -> Response:
    if current_principal(request, db):
        return RedirectResponse("/agents", status_code=303)
    return templates.TemplateResponse(request, "login.html", {"error": None, "username": ""})


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    db: SessionDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_field: Annotated[str, Form(alias=csrf.FIELD, max_length=200)] = "",
) -> Response:
    if not csrf.matches(request, csrf_field):  # login CSRF: the form must come from our own page
        ctx = {"error": "The sign-in form expired; please sign in again.", "username": username}
        return templates.TemplateResponse(request, "login.html", ctx, status_code=403)
    try:
        auth_service.check_lockout(db, username)
    except auth_service.LockedOut as exc:
        ctx = {"error": str(exc), "username": username}
        return templates.TemplateResponse(
            request, "login.html", ctx, status_code=429, headers={"Retry-After": str(exc.retry_after)}
        )
    user = auth_service.authenticate(db, username, password) if username and password else None
    if user is None:
        audit.record(db, username or "(blank)", "auth.login_failed")
        db.commit()
        ctx = {"error": "wrong username or password", "username": username}
        return templates.TemplateResponse(request, "login.html", ctx, status_code=401)
    request.session.clear()
    request.session.update({"uid": user.id, "epoch": user.session_epoch})
    token = csrf.rotate(request)
    audit.record(db, user.username, "auth.login")
    db.commit()
    return RedirectResponse("/agents", status_code=303, headers={csrf.HEADER: token})


@router.api_route("/logout", methods=["GET", "POST"])
def logout(request: Request) -> RedirectResponse:
    request.session.clear()
    return to_login()
