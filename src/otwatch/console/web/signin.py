"""Signing in and out, and the console's front door (``/``: the Dashboard or the sign-in form)."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from otwatch.console.audit import service as audit
from otwatch.console.auth import service as auth_service
from otwatch.console.deps import CtxDep, SessionDep, principal_from_request
from otwatch.console.web.render import PASSWORD_PAGE, current_principal, render, templates, to_login
from otwatch.ui import csrf, signin

router = APIRouter(include_in_schema=False)


@router.get("/")
def index(request: Request, db: SessionDep) -> RedirectResponse:
    return RedirectResponse("/dashboard" if current_principal(request, db) else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, db: SessionDep) -> Response:
    if current_principal(request, db):
        return RedirectResponse("/dashboard", status_code=303)
    return templates.TemplateResponse(request, "login.html", {"error": None, "username": ""})


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    console: CtxDep,
    db: SessionDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_field: Annotated[str, Form(alias=csrf.FIELD, max_length=200)] = "",
) -> Response:
    outcome = signin.sign_in(  # login CSRF, lockout per normalised name, one answer (otwatch.ui.signin)
        request,
        username,
        password,
        auth_service.AuditThrottle(
            db, console.sign_in_addresses, request.client.host if request.client else ""
        ),
        partial(auth_service.authenticate, db),
        csrf_field=csrf_field,
    )
    user = outcome.principal
    if user is None:
        ctx = {"error": outcome.error, "username": username}
        headers = {"Retry-After": str(outcome.retry_after)} if outcome.retry_after else None
        return templates.TemplateResponse(
            request, "login.html", ctx, status_code=outcome.status, headers=headers
        )
    auth_service.start_session(request, user)
    token = csrf.token(request)  # rotated by sign_in
    audit.record(db, user.username, "auth.login")
    db.commit()
    return RedirectResponse("/dashboard", status_code=303, headers={csrf.HEADER: token})


@router.api_route("/logout", methods=["GET", "POST"])
def logout(request: Request, ctx: CtxDep, db: SessionDep) -> RedirectResponse:
    auth_service.end_session(db, request, ctx.settings.session_max_age)  # a copied cookie dies too
    db.commit()
    return to_login()


@router.get(PASSWORD_PAGE, response_class=HTMLResponse)
def password_page(request: Request, db: SessionDep) -> Response:
    """Change one's own password (required first after signing in with a one-time password)."""
    p = principal_from_request(request, db)
    if p is None or p.via != "session":
        return to_login()
    return render(request, "password.html", p, "", must_change=p.must_change)
