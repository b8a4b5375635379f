"""Monitored Networks (Environment Settings > Network Definitions)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from otwatch.console.db import ID, Base, new_id, utcnow


class MonitoredNetwork(Base):
    __tablename__ = "monitored_networks"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    cidr: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
