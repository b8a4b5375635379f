"""The server-rendered console: sign-in and Data Collection > Data Sources > Agents."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from otwatch.console.audit import service as audit
from otwatch.console.auth import service as auth_service
from otwatch.console.deps import CtxDep, Permission, Principal, SessionDep, principal_from_request
from otwatch.console.fleet import service as fleet
from otwatch.console.fleet.models import Node

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
templates = Jinja2Templates(directory=WEB_DIR / "templates")

router = APIRouter(include_in_schema=False)


def format_time(value: datetime | None) -> str:
    """Same text as app.js ``fmtTime``: UTC, to the second."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def format_duration(seconds: float | None) -> str:
    """Same text as app.js ``fmtDuration``."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    return f"{s // 3600}h {(s % 3600) // 60}m"


templates.env.filters["fmt_time"] = format_time
templates.env.filters["fmt_duration"] = format_duration


def _principal(request: Request, db: SessionDep) -> Principal | None:
    return principal_from_request(request, db)


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


@router.get("/")
def index(request: Request, db: SessionDep) -> RedirectResponse:
    return RedirectResponse("/agents" if _principal(request, db) else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, db: SessionDep) -> Response:
    if _principal(request, db):
        return RedirectResponse("/agents", status_code=303)
    return templates.TemplateResponse(request, "login.html", {"error": None, "username": ""})


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    db: SessionDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    user = auth_service.authenticate(db, username, password) if username and password else None
    if user is None:
        audit.record(db, username or "(blank)", "auth.login_failed")
        db.commit()
        ctx = {"error": "wrong username or password", "username": username}
        return templates.TemplateResponse(request, "login.html", ctx, status_code=401)
    request.session.clear()
    request.session.update({"uid": user.id, "epoch": user.session_epoch})
    audit.record(db, user.username, "auth.login")
    db.commit()
    return RedirectResponse("/agents", status_code=303)


@router.api_route("/logout", methods=["GET", "POST"])
def logout(request: Request) -> RedirectResponse:
    request.session.clear()
    return _to_login()


@router.get("/agents", response_class=HTMLResponse)
def agents_page(request: Request, ctx: CtxDep, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    names = fleet.credential_names(db)
    rows = db.scalars(select(Node).where(Node.kind == "agent").order_by(Node.enrolled_at).limit(1000))
    agents = [fleet.node_out(ctx, n, names) for n in rows]
    can_manage, can_operate = p.can(Permission.MANAGE_FLEET), p.can(Permission.OPERATE)
    return templates.TemplateResponse(
        request,
        "agents.html",
        {
            "principal": p,
            "agents": agents,
            "can_manage": can_manage,
            "can_operate": can_operate,
            "can_act": can_manage or can_operate,
        },
    )
