"""Forwarding rules: matching, enqueueing deliveries (in the caller's transaction), CRUD.

Enqueueing is an ``INSERT .. ON CONFLICT DO NOTHING`` against UNIQUE(rule, subject kind, subject id),
so an alert or a notification is queued at most once per rule, whoever tries again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from otwatch.console.alerts.models import Alert
from otwatch.console.audit import service as audit
from otwatch.console.credentials.vault import Vault
from otwatch.console.db import new_id, utcnow
from otwatch.console.errors import conflict, invalid, not_found
from otwatch.console.fleet.models import Node
from otwatch.console.forwarding.models import Delivery, ForwardingRule
from otwatch.console.forwarding.schemas import MASK, RuleIn, RuleOut, redact_url
from otwatch.console.notifications.models import SystemNotification

Event = dict[str, Any]


# ---------------------------------------------------------------- events


def alert_event(a: Alert, sensor_name: str) -> Event:
    return {
        "kind": "alert",
        "id": a.id,
        "code": a.code,
        "title": a.title,
        "description": a.description,
        "severity": a.severity,
        "engine": a.engine,
        "protocol": a.protocol,
        "technique": a.technique,
        "technique_name": a.technique_name,
        "source_ip": a.source_ip,
        "source_mac": a.source_mac,
        "destination_ip": a.destination_ip,
        "destination_mac": a.destination_mac,
        "first_seen": a.first_seen.isoformat(),
        "last_seen": a.last_seen.isoformat(),
        "count": a.count,
        "sensor_id": a.node_id,
        "sensor_name": sensor_name,
    }


def notification_event(n: SystemNotification) -> Event:
    return {
        "kind": "notification",
        "id": n.id,
        "type": n.kind,
        "title": n.title,
        "message": n.message,
        "severity": n.severity,
        "reason": n.reason,
        "sensor_id": n.node_id,
        "sensor_name": n.node_name,
        "created_at": n.created_at.isoformat(),
    }


def sample_event() -> Event:
    now = utcnow().isoformat()
    return {
        "kind": "test",
        "id": f"test-{new_id()[:12]}",
        "code": "OTWATCH_TEST",
        "title": "OTWatch forwarding test",
        "description": "A test message sent from the forwarding rule's Test button.",
        "severity": "Warning",
        "engine": "Operational",
        "protocol": None,
        "first_seen": now,
        "last_seen": now,
        "count": 1,
    }


# ---------------------------------------------------------------- matching


def matches_alert(rule: ForwardingRule, a: Alert) -> bool:
    if not rule.enabled or not rule.report_alerts:
        return False
    if rule.severities and a.severity not in rule.severities:
        return False
    if rule.engines and a.engine not in rule.engines:
        return False
    if rule.protocols and (a.protocol or "").lower() not in {p.lower() for p in rule.protocols}:
        return False
    return not rule.sensor_ids or a.node_id in rule.sensor_ids


#: the system notification of new vulnerability matches, forwarded by rules that Report Vulnerabilities
VULNERABILITIES_KIND = "vulnerabilities_matched"


def matches_notification(rule: ForwardingRule, n: SystemNotification) -> bool:
    """Severity, engine and protocol describe alerts; only the sensor filter applies here. New
    vulnerability matches go to the rules that report them (they concern no sensor)."""
    if not rule.enabled:
        return False
    if n.kind == VULNERABILITIES_KIND:
        return rule.report_vulnerabilities
    if not rule.report_system_notifications:
        return False
    return not rule.sensor_ids or n.node_id in rule.sensor_ids


def _enqueue(db: Session, rule_id: str, kind: str, subject_id: str, payload: Event) -> bool:
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    stmt = (
        insert(Delivery)
        .values(
            id=new_id(),
            rule_id=rule_id,
            subject_kind=kind,
            subject_id=subject_id,
            payload=payload,
            state="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["rule_id", "subject_kind", "subject_id"])
    )
    return bool(db.execute(stmt).rowcount)  # type: ignore[attr-defined]


def _enabled_rules(db: Session) -> list[ForwardingRule]:
    return list(db.scalars(select(ForwardingRule).where(ForwardingRule.enabled.is_(True))))


def enqueue_alerts(db: Session, node: Node, alerts: Iterable[Alert]) -> int:
    """Queue new alerts for every matching rule; called in the transaction that stored them."""
    alerts = list(alerts)
    if not alerts:
        return 0
    rules = [r for r in _enabled_rules(db) if r.report_alerts]
    queued = 0
    for a in alerts:
        for r in rules:
            if matches_alert(r, a):
                queued += _enqueue(db, r.id, "alert", a.id, alert_event(a, node.name or node.hostname))
    return queued


def enqueue_notification(db: Session, n: SystemNotification) -> int:
    rules = [r for r in _enabled_rules(db) if r.report_system_notifications or r.report_vulnerabilities]
    return sum(
        _enqueue(db, r.id, "notification", n.id, notification_event(n))
        for r in rules
        if matches_notification(r, n)
    )


# ---------------------------------------------------------------- rules


def _receiver(action: dict[str, Any]) -> tuple[object, ...]:
    """What names the webhook receiver its header values go to: scheme, host and port of the URL
    (another path on it is the same receiver), the certificate check and the CA trusted for it."""
    try:
        url = httpx.URL(str(action.get("url", "")))
    except (httpx.InvalidURL, TypeError, ValueError):
        return (str(action.get("url", "")),)
    port = url.port or {"https": 443, "http": 80}.get(url.scheme)
    return (
        url.scheme,
        url.host.lower(),
        port,
        bool(action.get("verify_tls", True)),
        action.get("ca_pem") or None,
    )


def _split_action(
    body: RuleIn, old_headers: dict[str, str], old_action: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The action without its header values, and the values (masked ones kept from ``old_headers``).

    A masked value is kept only for the receiver it was entered for (finding 33, as 24 and 31 for
    passwords): another one, or another certificate check or CA, would be handed the stored value
    (never shown again) by the rule's Test or its next delivery."""
    action = body.action.model_dump(mode="json")
    headers: dict[str, str] = action.pop("headers", None) or {}
    kept: list[str] = []
    for name, value in list(headers.items()):
        if value == MASK:
            if name not in old_headers:
                raise invalid(f"header {name!r}: give its value (the masked value is only for kept headers)")
            headers[name] = old_headers[name]
            kept.append(name)
    if kept and _receiver(action) != _receiver(old_action):
        raise invalid(
            f"type the header values again ({', '.join(kept)}): the stored ones were set for another "
            "receiver (scheme, host, port, certificate check or CA certificate) and are sent only to that one",
            [{"field": "action.headers"}],
        )
    return action, headers


def rule_headers(rule: ForwardingRule, vault: Vault) -> dict[str, str]:
    if not rule.action_secret:
        return {}
    return {str(k): str(v) for k, v in vault.open(rule.action_secret).get("headers", {}).items()}


def _check_sensors(db: Session, ids: list[str]) -> None:
    if not ids:
        return
    known = set(db.scalars(select(Node.id).where(Node.id.in_(ids), Node.kind == "sensor")))
    missing = [i for i in ids if i not in known]
    if missing:
        raise invalid("unknown sensors: " + ", ".join(missing), {"unknown": missing})


def _apply(db: Session, vault: Vault, rule: ForwardingRule, body: RuleIn) -> None:
    _check_sensors(db, body.sensor_ids)
    clash = db.scalar(select(ForwardingRule).where(ForwardingRule.name == body.name))
    if clash is not None and clash.id != rule.id:
        raise conflict(f"a forwarding rule named {body.name!r} already exists")
    old = rule_headers(rule, vault) if rule.action_type == "webhook" else {}
    action, headers = _split_action(body, old, dict(rule.action or {}))
    rule.name, rule.enabled = body.name, body.enabled
    rule.report_alerts = body.report_alerts
    rule.report_system_notifications = body.report_system_notifications
    rule.report_vulnerabilities = body.report_vulnerabilities
    rule.severities, rule.engines = list(body.severities), list(body.engines)
    rule.protocols, rule.sensor_ids = list(body.protocols), list(dict.fromkeys(body.sensor_ids))
    rule.action_type, rule.action = body.action.type, action
    rule.action_secret = vault.seal({"headers": headers}) if headers else None
    rule.updated_at = utcnow()


def create_rule(db: Session, vault: Vault, actor: str, body: RuleIn) -> ForwardingRule:
    rule = ForwardingRule(id=new_id(), created_by=actor, action_type=body.action.type)
    _apply(db, vault, rule, body)
    db.add(rule)
    db.flush()
    audit.record(db, actor, "forwarding_rule.created", rule.id, name=rule.name, kind=rule.action_type)
    return rule


def update_rule(db: Session, vault: Vault, actor: str, rule_id: str, body: RuleIn) -> ForwardingRule:
    rule = get_rule(db, rule_id)
    _apply(db, vault, rule, body)
    audit.record(db, actor, "forwarding_rule.updated", rule.id, name=rule.name, enabled=rule.enabled)
    return rule


def delete_rule(db: Session, actor: str, rule_id: str) -> None:
    rule = get_rule(db, rule_id)
    audit.record(db, actor, "forwarding_rule.deleted", rule.id, name=rule.name)
    db.delete(rule)


def get_rule(db: Session, rule_id: str) -> ForwardingRule:
    rule = db.get(ForwardingRule, rule_id)
    if rule is None:
        raise not_found("forwarding rule")
    return rule


def rule_out(db: Session, vault: Vault, rule: ForwardingRule, reveal: bool = True) -> RuleOut:
    """A rule as the API and pages show it: header values always masked; the webhook URL (tokens in
    its path, query or user info) in full only when ``reveal`` (those who may edit rules)."""
    action = dict(rule.action)
    if rule.action_type == "webhook":
        action["headers"] = dict.fromkeys(rule_headers(rule, vault), MASK)
        if not reveal:
            action["url"] = redact_url(str(action.get("url", "")))
    counts = dict(
        db.execute(
            select(Delivery.state, func.count()).where(Delivery.rule_id == rule.id).group_by(Delivery.state)
        ).all()
    )
    return RuleOut(
        id=rule.id,
        name=rule.name,
        enabled=rule.enabled,
        report_alerts=rule.report_alerts,
        report_system_notifications=rule.report_system_notifications,
        report_vulnerabilities=rule.report_vulnerabilities,
        severities=rule.severities,
        engines=rule.engines,
        protocols=rule.protocols,
        sensor_ids=rule.sensor_ids,
        action={"type": rule.action_type, **action},
        created_by=rule.created_by,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
        pending=counts.get("pending", 0),
        sent=counts.get("sent", 0),
        failed=counts.get("failed", 0),
    )
