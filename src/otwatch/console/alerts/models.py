"""Alerts raised by sensors, as the console keeps them (status, who acknowledged, the PCAP)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from otwatch.console.db import ID, Base, new_id, utcnow


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("node_id", "sensor_key"),
        Index("ix_alerts_status_last_seen", "status", "last_seen"),  # the Alerts page's default view
        Index("ix_alerts_status_node_id", "status", "node_id"),  # open alerts per sensor
        Index("ix_alerts_source_ip", "source_ip"),  # an asset's alerts (its page)
        Index("ix_alerts_destination_ip", "destination_ip"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    node_id: Mapped[str] = mapped_column(ID, ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    sensor_key: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))
    engine: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    protocol: Mapped[str | None] = mapped_column(String(50), default=None, index=True)
    technique: Mapped[str | None] = mapped_column(String(16), default=None, index=True)  # ATT&CK for ICS
    technique_name: Mapped[str | None] = mapped_column(String(100), default=None)
    source_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    source_mac: Mapped[str | None] = mapped_column(String(17), default=None)
    destination_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    destination_mac: Mapped[str | None] = mapped_column(String(17), default=None)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime] = mapped_column(index=True)
    count: Mapped[int] = mapped_column(default=1)
    # the sensor's cumulative count for this key before this alert (an alert for occurrences after a
    # closed one counts only its own)
    count_offset: Mapped[int] = mapped_column(default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    status_by: Mapped[str | None] = mapped_column(String(200), default=None)
    status_at: Mapped[datetime | None] = mapped_column(default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pcap: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
