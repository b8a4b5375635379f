"""Active-query credentials. The secret part is Fernet-encrypted with the vault key (outside the DB)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from otwatch.console.db import ID, Base, new_id, utcnow


class Credential(Base):
    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # snmp_v1 | snmp_v2c | snmp_v3
    description: Mapped[str] = mapped_column(String(300), default="")
    secret: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token of the JSON secret fields
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
