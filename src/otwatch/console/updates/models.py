"""Uploaded, verified update packages (System Configuration > Updates)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from otwatch.console.db import ID, Base, new_id, utcnow


class UpdatePackage(Base):
    __tablename__ = "update_packages"
    __table_args__ = (UniqueConstraint("kind", "version"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(20), index=True)  # otd | sensor | console | threat-intel
    version: Mapped[str] = mapped_column(String(50))
    min_version: Mapped[str] = mapped_column(String(50))
    file_name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str] = mapped_column(String(32))
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class SensorUpdateSelection(Base):
    """A sensor selected for "Automatic Version Updates": uploaded sensor versions roll out to it.

    A row of its own (not a node column) so the selection survives configuration pushes and is
    removed with the sensor (ON DELETE CASCADE).
    """

    __tablename__ = "sensor_update_selection"

    node_id: Mapped[str] = mapped_column(ID, ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True)
    selected_by: Mapped[str] = mapped_column(String(200))
    selected_at: Mapped[datetime] = mapped_column(default=utcnow)
