"""System Configuration pages: Forwarding Rules (with the delivery queue), Mail Server, System Notifications.

Same shape as the other pages (console/web/routes.py): rendered from the same queries and response
models as the JSON API, forms post to that API through static/app.js, and controls a role may not
use are not rendered.
"""

from __future__ import annotations

from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from otwatch.console.deps import Permission, SessionDep
from otwatch.console.errors import APIError
from otwatch.console.fleet.models import Node
from otwatch.console.forwarding import service as forwarding
from otwatch.console.forwarding.models import Delivery, ForwardingRule
from otwatch.console.forwarding.schemas import MASK, RuleOut, Severity
from otwatch.console.mail import service as mail
from otwatch.console.mail.routes import settings_out
from otwatch.console.notifications import service as notifications
from otwatch.console.notifications.routes import NotificationOut
from otwatch.console.pagination import paginate
from otwatch.console.web.routes import _error_page, _page, _pager, _principal, _to_login, _window
from otwatch.inventory.vocabulary import EngineName

router = APIRouter(include_in_schema=False)

SEVERITIES: tuple[str, ...] = get_args(Severity)
ENGINE_NAMES: tuple[str, ...] = get_args(EngineName)
NOTIFICATION_KINDS = {
    "sensor_disconnected": "Sensor disconnected",
    "sensor_reconnected": "Sensor reconnected",
}
DELIVERY_STATES = ("pending", "sent", "failed")


def _sensors(db: SessionDep) -> dict[str, str]:
    rows = db.execute(
        select(Node.id, Node.name, Node.hostname).where(Node.kind == "sensor").order_by(Node.name)
    )
    return {i: name or host or i for i, name, host in rows}


def action_summary(action: dict[str, Any]) -> str:
    """One line an operator reads in the rules table: where the rule sends and how."""
    kind = action.get("type")
    if kind == "email":
        return "Email to " + ", ".join(action.get("to", []))
    if kind == "syslog":
        fmt = {"rfc5424": "RFC 5424", "cef": "CEF", "leef": "LEEF"}.get(action.get("format", ""), "?")
        transport = str(action.get("transport", "udp")).upper()
        return f"Syslog {fmt} over {transport} to {action.get('host')}:{action.get('port')}"
    if kind == "webhook":
        return f"Webhook (JSON over HTTPS) to {action.get('url')}"
    return str(kind)


@router.get("/settings/forwarding", response_class=HTMLResponse)
def forwarding_page(request: Request, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    ctx = request.app.state.ctx
    rules = [
        forwarding.rule_out(db, ctx.vault, r)
        for r in db.scalars(select(ForwardingRule).order_by(ForwardingRule.name).limit(500))
    ]
    state = request.query_params.get("state", "")
    page = _window(request, 25)
    stmt = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.id)
    if state in DELIVERY_STATES:
        stmt = stmt.where(Delivery.state == state)
    deliveries, total = paginate(db, stmt, page)
    return _page(
        request,
        "forwarding.html",
        p,
        "forwarding",
        rules=rules,
        rule_names={r.id: r.name for r in rules},
        sensors=_sensors(db),
        summary=action_summary,
        deliveries=deliveries,
        state=state,
        states=DELIVERY_STATES,
        paging=_pager(request, page, total),
        can_edit=p.can(Permission.MANAGE_SETTINGS),
    )


def _rule_form(request: Request, db: SessionDep, rule: RuleOut | None) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    if not p.can(Permission.MANAGE_SETTINGS):
        return _error_page(
            request, p, 403, "Not allowed", f"The {p.role.value} role may not edit forwarding rules."
        )
    headers = ""
    if rule is not None and rule.action.get("type") == "webhook":
        headers = "\n".join(f"{k}: {MASK}" for k in rule.action.get("headers", {}))
    return _page(
        request,
        "forwarding_rule.html",
        p,
        "forwarding",
        rule=rule,
        action=rule.action if rule else {"type": "email"},
        headers_text=headers,
        sensors=_sensors(db),
        severities=SEVERITIES,
        engines=ENGINE_NAMES,
        mask=MASK,
    )


@router.get("/settings/forwarding/new", response_class=HTMLResponse)
def new_rule_page(request: Request, db: SessionDep) -> Response:
    return _rule_form(request, db, None)


@router.get("/settings/forwarding/{rule_id}", response_class=HTMLResponse)
def edit_rule_page(rule_id: str, request: Request, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None:
        return _to_login()
    try:
        rule = forwarding.rule_out(db, request.app.state.ctx.vault, forwarding.get_rule(db, rule_id))
    except APIError:
        return _error_page(request, p, 404, "Not found", "There is no forwarding rule with this id.")
    return _rule_form(request, db, rule)


@router.get("/settings/mail", response_class=HTMLResponse)
def mail_page(request: Request, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    return _page(
        request,
        "mail.html",
        p,
        "mail",
        mail=settings_out(mail.get_row(db)),
        can_edit=p.can(Permission.MANAGE_SETTINGS),
    )


@router.get("/settings/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    qp = request.query_params
    kind = qp.get("kind", "")
    sensor = qp.get("sensor", "")
    page = _window(request)
    stmt = notifications.query(kind if kind in NOTIFICATION_KINDS else None, sensor or None)
    rows, total = paginate(db, stmt, page)
    return _page(
        request,
        "notifications.html",
        p,
        "notifications",
        items=[NotificationOut.model_validate(r) for r in rows],
        kinds=NOTIFICATION_KINDS,
        kind=kind,
        sensor=sensor,
        sensors=_sensors(db),
        paging=_pager(request, page, total),
    )
