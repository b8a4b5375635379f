"""System Configuration > Forwarding Rules pages: the rules with the delivery queue, and a rule's form.

Rendered from the same queries and response models as the JSON API; forms post to that API through
static/js/, and controls a role may not use are not rendered.
"""

from __future__ import annotations

from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from otwatch.console.deps import Permission, SessionDep
from otwatch.console.errors import APIError
from otwatch.console.fleet.nodes import sensor_names
from otwatch.console.forwarding import service as forwarding
from otwatch.console.forwarding.models import Delivery, ForwardingRule
from otwatch.console.forwarding.schemas import MASK, RuleOut, Severity
from otwatch.console.pagination import paginate
from otwatch.console.web.render import current_principal, error_page, pager, render, to_login, window
from otwatch.inventory.vocabulary import EngineName

router = APIRouter(include_in_schema=False)

SEVERITIES: tuple[str, ...] = get_args(Severity)
ENGINE_NAMES: tuple[str, ...] = get_args(EngineName)
DELIVERY_STATES = ("pending", "sent", "failed")


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
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    ctx = request.app.state.ctx
    rules = [
        forwarding.rule_out(db, ctx.vault, r, p.can(Permission.MANAGE_SETTINGS))
        for r in db.scalars(select(ForwardingRule).order_by(ForwardingRule.name).limit(500))
    ]
    state = request.query_params.get("state", "")
    page = window(request, 25)
    stmt = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.id)
    if state in DELIVERY_STATES:
        stmt = stmt.where(Delivery.state == state)
    deliveries, total = paginate(db, stmt, page)
    return render(
        request,
        "forwarding.html",
        p,
        "forwarding",
        rules=rules,
        rule_names={r.id: r.name for r in rules},
        sensors=sensor_names(db),
        summary=action_summary,
        deliveries=deliveries,
        state=state,
        states=DELIVERY_STATES,
        paging=pager(request, page, total),
        can_edit=p.can(Permission.MANAGE_SETTINGS),
    )


def _rule_form(request: Request, db: SessionDep, rule: RuleOut | None) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    if not p.can(Permission.MANAGE_SETTINGS):
        return error_page(
            request, p, 403, "Not allowed", f"The {p.role.value} role may not edit forwarding rules."
        )
    headers = ""
    if rule is not None and rule.action.get("type") == "webhook":
        headers = "\n".join(f"{k}: {MASK}" for k in rule.action.get("headers", {}))
    return render(
        request,
        "forwarding_rule.html",
        p,
        "forwarding",
        rule=rule,
        action=rule.action if rule else {"type": "email"},
        headers_text=headers,
        sensors=sensor_names(db),
        severities=SEVERITIES,
        engines=ENGINE_NAMES,
        mask=MASK,
    )


@router.get("/settings/forwarding/new", response_class=HTMLResponse)
def new_rule_page(request: Request, db: SessionDep) -> Response:
    return _rule_form(request, db, None)


@router.get("/settings/forwarding/{rule_id}", response_class=HTMLResponse)
def edit_rule_page(rule_id: str, request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None:
        return to_login()
    try:
        rule = forwarding.rule_out(db, request.app.state.ctx.vault, forwarding.get_rule(db, rule_id))
    except APIError:
        return error_page(request, p, 404, "Not found", "There is no forwarding rule with this id.")
    return _rule_form(request, db, rule)
