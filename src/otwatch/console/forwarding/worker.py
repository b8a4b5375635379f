"""The delivery worker: claim due deliveries, send them, record the outcome.

Several console processes may share the database, so a delivery is *claimed* before it is sent:

* PostgreSQL: ``SELECT .. FOR UPDATE SKIP LOCKED`` picks a due row no other process holds, and the
  claim (a token and a lease: ``next_attempt_at`` moved to now + lease) commits before sending;
* SQLite: one ``UPDATE .. WHERE id = (SELECT .. LIMIT 1) AND state = 'pending' AND due`` sets the
  same token and lease atomically (SQLite serialises writers).

Network I/O happens outside any transaction. The outcome is written only while the token still
matches, so a process whose lease ran out cannot overwrite a newer attempt. A process that dies
mid-send leaves the row claimed until the lease ends, then it is tried again: delivery is
at-least-once in that one case, and the webhook body carries the delivery id for de-duplication;
otherwise each (rule, alert/notification) is sent once.
"""

from __future__ import annotations

import logging
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from otwatch import __version__
from otwatch.console.context import ConsoleContext
from otwatch.console.db import new_id, utcnow
from otwatch.console.forwarding import formats
from otwatch.console.forwarding.models import Delivery, ForwardingRule
from otwatch.console.forwarding.senders import SendError, send_syslog, send_webhook
from otwatch.console.forwarding.service import rule_headers
from otwatch.console.mail import service as mail

log = logging.getLogger("otwatch.forwarding")
MAX_ERROR = 2000


@dataclass(frozen=True)
class RuleSnapshot:
    id: str
    name: str
    enabled: bool
    action_type: str
    action: dict[str, Any]
    headers: dict[str, str] = field(repr=False)


@dataclass(frozen=True)
class Job:
    delivery_id: str
    token: str
    attempts: int
    payload: dict[str, Any]
    rule: RuleSnapshot


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential back-off with jitter: ``min(cap, base * 2**(attempt-1))``, then 50-100% of that."""
    delay = min(cap, base * 2.0 ** max(0, attempt - 1))
    return delay / 2 + rand() * delay / 2


def snapshot(rule: ForwardingRule, ctx: ConsoleContext) -> RuleSnapshot:
    headers = rule_headers(rule, ctx.vault) if rule.action_type == "webhook" else {}
    return RuleSnapshot(rule.id, rule.name, rule.enabled, rule.action_type, dict(rule.action), headers)


def _due(now: datetime, skip: set[str]) -> Any:
    cond = (Delivery.state == "pending") & (Delivery.next_attempt_at <= now)
    return cond & Delivery.id.not_in(skip) if skip else cond


def _claim(ctx: ConsoleContext, now: datetime, skip: set[str]) -> Job | None:
    token = new_id()
    lease_until = now + timedelta(seconds=ctx.settings.delivery_lease)
    with ctx.db.session() as db:
        if db.scalar(select(Delivery.id).where(_due(now, skip)).limit(1)) is None:
            return None  # nothing due: no write (and, on SQLite, no write lock)
        if db.get_bind().dialect.name == "postgresql":
            row = db.scalar(
                select(Delivery)
                .where(_due(now, skip))
                .order_by(Delivery.next_attempt_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if row is None:
                return None
            row.claim_token, row.attempts, row.next_attempt_at = token, row.attempts + 1, lease_until
            delivery_id = row.id
        else:
            pick = select(Delivery.id).where(_due(now, skip)).order_by(Delivery.next_attempt_at).limit(1)
            res = db.execute(
                update(Delivery)
                .where(Delivery.id == pick.scalar_subquery(), _due(now, set()))
                .values(claim_token=token, attempts=Delivery.attempts + 1, next_attempt_at=lease_until)
                .execution_options(synchronize_session=False)
            )
            if not res.rowcount:  # type: ignore[attr-defined]
                return None
            claimed = db.scalar(select(Delivery).where(Delivery.claim_token == token))
            if claimed is None:
                return None
            row = claimed
            delivery_id = row.id
        db.flush()
        rule = db.get(ForwardingRule, row.rule_id)
        if rule is None:  # deleted with its deliveries meanwhile
            return None
        return Job(delivery_id, token, row.attempts, dict(row.payload), snapshot(rule, ctx))


def send_event(ctx: ConsoleContext, rule: RuleSnapshot, event: dict[str, Any], delivery_id: str) -> list[str]:
    """Send one event by the rule's action; return notes; raise SendError on failure."""
    timeout = ctx.settings.delivery_timeout
    act = rule.action
    if rule.action_type == "email":
        with ctx.db.session() as db:
            cfg = mail.load_config(db, ctx.vault)
        if cfg is None:
            raise SendError("no mail server is set up (System Settings > Mail server)")
        return mail.send_mail(
            cfg,
            list(act.get("to", [])),
            formats.email_subject(event),
            formats.email_body(event),
            timeout=timeout,
            message_id=f"<{delivery_id}@otwatch>",
        )
    if rule.action_type == "syslog":
        line = formats.syslog_line(
            event,
            str(act.get("format", "cef")),
            hostname=socket.gethostname(),
            version=__version__,
            facility=int(act.get("facility", formats.FACILITY_LOCAL0)),
        )
        send_syslog(
            line,
            host=str(act["host"]),
            port=int(act["port"]),
            transport=str(act.get("transport", "udp")),
            timeout=timeout,
            verify_tls=bool(act.get("verify_tls", True)),
            ca_pem=act.get("ca_pem"),
        )
        return []
    if rule.action_type == "webhook":
        body = formats.webhook_body(event, delivery_id=delivery_id, rule=rule.name, version=__version__)
        headers = {**rule.headers, "X-OTWatch-Delivery": delivery_id}
        send_webhook(
            str(act["url"]),
            body,
            headers=headers,
            timeout=timeout,
            verify_tls=bool(act.get("verify_tls", True)),
            ca_pem=act.get("ca_pem"),
        )
        return []
    raise SendError(f"unknown action {rule.action_type!r}", permanent=True)


def _finish(ctx: ConsoleContext, job: Job, error: SendError | None, at: datetime) -> str:
    s = ctx.settings
    mine = (Delivery.id == job.delivery_id) & (Delivery.claim_token == job.token)
    if error is None:
        values: dict[str, Any] = {"state": "sent", "sent_at": at, "last_error": None}
        outcome = "sent"
    elif error.permanent or job.attempts >= s.delivery_max_attempts:
        why = "" if error.permanent else f" (gave up after {job.attempts} attempts)"
        values = {"state": "failed", "last_error": (str(error) + why)[:MAX_ERROR]}
        outcome = "failed"
    else:
        delay = backoff(job.attempts, s.delivery_retry_base, s.delivery_retry_max)
        values = {"next_attempt_at": at + timedelta(seconds=delay), "last_error": str(error)[:MAX_ERROR]}
        outcome = "retried"
    with ctx.db.session() as db:
        res = db.execute(
            update(Delivery)
            .where(mine)
            .values(claim_token=None, **values)
            .execution_options(synchronize_session=False)
        )
        if not res.rowcount:  # type: ignore[attr-defined]
            log.warning(
                "delivery %s: the claim expired before the outcome (%s) was recorded",
                job.delivery_id,
                outcome,
            )
    return outcome


def deliver_due(ctx: ConsoleContext, now: datetime | None = None, limit: int = 100) -> DeliveryReport:
    """Send every due delivery once (at most ``limit``). ``now`` lets tests step over back-off delays."""
    report = DeliveryReport()
    seen: set[str] = set()
    for _ in range(limit):
        at = now or utcnow()
        job = _claim(ctx, at, seen)
        if job is None:
            break
        seen.add(job.delivery_id)
        error: SendError | None = None
        if not job.rule.enabled:
            error = SendError("the forwarding rule was disabled before delivery", permanent=True)
        else:
            try:
                send_event(ctx, job.rule, job.payload, job.delivery_id)
            except SendError as exc:
                error = exc
            except Exception as exc:  # a bug must not wedge the queue: record it and back off
                log.exception("delivery %s failed unexpectedly", job.delivery_id)
                error = SendError(f"internal error: {type(exc).__name__}: {exc}")
        outcome = _finish(ctx, job, error, now or utcnow())
        setattr(report, outcome, getattr(report, outcome) + 1)
        if error is not None:
            report.errors.append(str(error))
            log.warning("delivery %s (rule %s) %s: %s", job.delivery_id, job.rule.name, outcome, error)
    return report
