"""Forwarding rules (CRUD and Test) and the delivery queue they feed."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from otwatch.console.audit import service as audit
from otwatch.console.db import utcnow
from otwatch.console.deps import CtxDep, Permission, SessionDep, SettingsAdmin, Viewer
from otwatch.console.errors import conflict, not_found
from otwatch.console.forwarding import service
from otwatch.console.forwarding.models import Delivery, ForwardingRule
from otwatch.console.forwarding.schemas import DeliveryOut, RuleIn, RuleOut, TestResult
from otwatch.console.forwarding.senders import SendError
from otwatch.console.forwarding.worker import send_event, snapshot
from otwatch.console.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/api/v1/forwarding-rules", tags=["forwarding"])
deliveries_router = APIRouter(prefix="/api/v1/deliveries", tags=["forwarding"])


@router.get("", response_model=Page[RuleOut])
def list_rules(p: Viewer, ctx: CtxDep, db: SessionDep, page: PageDep) -> dict[str, object]:
    rows, total = paginate(db, select(ForwardingRule).order_by(ForwardingRule.name), page)
    reveal = p.can(Permission.MANAGE_SETTINGS)  # webhook URLs carry tokens
    items = [service.rule_out(db, ctx.vault, r, reveal) for r in rows]
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@router.post("", response_model=RuleOut, status_code=201)
def create_rule(body: RuleIn, p: SettingsAdmin, ctx: CtxDep, db: SessionDep) -> RuleOut:
    rule = service.create_rule(db, ctx.vault, p.actor, body)
    db.commit()
    return service.rule_out(db, ctx.vault, rule)


@router.get("/{rule_id}", response_model=RuleOut)
def get_rule(rule_id: str, p: Viewer, ctx: CtxDep, db: SessionDep) -> RuleOut:
    reveal = p.can(Permission.MANAGE_SETTINGS)
    return service.rule_out(db, ctx.vault, service.get_rule(db, rule_id), reveal)


@router.put("/{rule_id}", response_model=RuleOut)
def replace_rule(rule_id: str, body: RuleIn, p: SettingsAdmin, ctx: CtxDep, db: SessionDep) -> RuleOut:
    rule = service.update_rule(db, ctx.vault, p.actor, rule_id, body)
    db.commit()
    return service.rule_out(db, ctx.vault, rule)


@router.delete("/{rule_id}", status_code=204)
def delete_rule(rule_id: str, p: SettingsAdmin, db: SessionDep) -> None:
    service.delete_rule(db, p.actor, rule_id)
    db.commit()


@router.post("/{rule_id}/test", response_model=TestResult)
async def test_rule(rule_id: str, p: SettingsAdmin, ctx: CtxDep) -> TestResult:
    """Send a test event through the rule's action now (not through the queue); say what happened."""

    def run() -> TestResult:
        with ctx.db.session() as db:
            rule = snapshot(service.get_rule(db, rule_id), ctx)
            audit.record(db, p.actor, "forwarding_rule.tested", rule.id, name=rule.name)
        event = service.sample_event()
        try:
            notes = send_event(ctx, rule, event, event["id"])
        except SendError as exc:
            return TestResult(ok=False, detail=exc.public)  # never the target's response body
        return TestResult(ok=True, detail=f"test message sent by {rule.action_type}", notes=notes)

    return await run_in_threadpool(run)


@deliveries_router.get("", response_model=Page[DeliveryOut])
def list_deliveries(
    _: Viewer,
    db: SessionDep,
    page: PageDep,
    state: Annotated[Literal["pending", "sent", "failed"] | None, Query()] = None,
    rule_id: Annotated[str | None, Query(max_length=32)] = None,
) -> dict[str, object]:
    stmt = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.id)
    if state:
        stmt = stmt.where(Delivery.state == state)
    if rule_id:
        stmt = stmt.where(Delivery.rule_id == rule_id)
    rows, total = paginate(db, stmt, page)
    items = [
        DeliveryOut.model_validate(d).model_copy(update={"title": str(d.payload.get("title", ""))})
        for d in rows
    ]
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@deliveries_router.post("/{delivery_id}/retry", response_model=DeliveryOut)
def retry_delivery(delivery_id: str, p: SettingsAdmin, db: SessionDep) -> DeliveryOut:
    """Put a failed delivery back in the queue (attempts start again)."""
    d = db.get(Delivery, delivery_id)
    if d is None:
        raise not_found("delivery")
    if d.state != "failed":
        raise conflict(f"only a failed delivery can be retried (this one is {d.state})")
    d.state, d.attempts, d.claim_token = "pending", 0, None
    d.next_attempt_at = utcnow()
    audit.record(db, p.actor, "delivery.retried", d.id, rule_id=d.rule_id)
    db.commit()
    return DeliveryOut.model_validate(d).model_copy(update={"title": str(d.payload.get("title", ""))})
