"""System Configuration > Mail Server page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from otwatch.console.deps import Permission, SessionDep
from otwatch.console.mail import service as mail
from otwatch.console.mail.routes import settings_out
from otwatch.console.web.render import current_principal, render, to_login

router = APIRouter(include_in_schema=False)


@router.get("/settings/mail", response_class=HTMLResponse)
def mail_page(request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    return render(
        request,
        "mail.html",
        p,
        "mail",
        mail=settings_out(mail.get_row(db)),
        can_edit=p.can(Permission.MANAGE_SETTINGS),
    )
