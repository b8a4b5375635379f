"""System notifications and the per-sensor state the monitor compares against."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from otwatch.console.db import ID, Base, new_id, utcnow


class SystemNotification(Base):
    """One event of the console itself, e.g. "sensor_disconnected" with the reason the console gives."""

    __tablename__ = "system_notifications"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    # sensor_disconnected | sensor_reconnected | span_port_failure | span_port_restored
    kind: Mapped[str] = mapped_column(String(32), index=True)
    node_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("nodes.id", ondelete="SET NULL"), default=None, index=True
    )
    node_name: Mapped[str] = mapped_column(String(255), default="")
    severity: Mapped[str] = mapped_column(String(16), default="Warning")
    reason: Mapped[str | None] = mapped_column(String(300), default=None)  # a DisconnectReason text
    title: Mapped[str] = mapped_column(String(300))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class NodeWatch(Base):
    """What the monitor last notified about a sensor: a transition is a conditional update of this row,
    so several console processes sharing the database raise each notification exactly once."""

    __tablename__ = "node_watch"

    node_id: Mapped[str] = mapped_column(ID, ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # connected | disconnected
    reason: Mapped[str | None] = mapped_column(String(300), default=None)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
