"""Forwarding rules and the delivery outbox (one row per rule and alert/notification)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from otwatch.console.db import ID, Base, new_id, utcnow


class ForwardingRule(Base):
    """Which alerts and system notifications go where. An empty filter list matches everything."""

    __tablename__ = "forwarding_rules"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    report_alerts: Mapped[bool] = mapped_column(default=True)
    report_system_notifications: Mapped[bool] = mapped_column(default=False)
    # new vulnerability matches (an advisory import or a new asset identity): their own rule type
    report_vulnerabilities: Mapped[bool] = mapped_column(default=False, server_default=false())
    severities: Mapped[list[str]] = mapped_column(JSON, default=list)
    engines: Mapped[list[str]] = mapped_column(JSON, default=list)
    protocols: Mapped[list[str]] = mapped_column(JSON, default=list)
    sensor_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    action_type: Mapped[str] = mapped_column(String(16))  # email | syslog | webhook
    action: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # no secrets
    action_secret: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # vault-sealed
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """The durable outbox: enqueued in the transaction that created the alert or notification,
    claimed by one console process at a time, retried with back-off until sent or failed."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("rule_id", "subject_kind", "subject_id"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    rule_id: Mapped[str] = mapped_column(
        ID, ForeignKey("forwarding_rules.id", ondelete="CASCADE"), index=True
    )
    subject_kind: Mapped[str] = mapped_column(String(16))  # alert | notification
    subject_id: Mapped[str] = mapped_column(ID)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the event as it was when enqueued
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claim_token: Mapped[str | None] = mapped_column(String(32), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
