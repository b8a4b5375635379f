"""The one mail server row. The password is sealed with the vault key and never leaves the console."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from otwatch.console.db import Base, utcnow


class MailServer(Base):
    __tablename__ = "mail_server"

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int] = mapped_column(default=25)
    from_address: Mapped[str] = mapped_column(String(320), default="")  # the outgoing account
    security: Mapped[str] = mapped_column(String(16), default="none")  # none | starttls | ssl
    verify_tls: Mapped[bool] = mapped_column(default=True)
    ca_pem: Mapped[str | None] = mapped_column(Text, default=None)
    authentication: Mapped[bool] = mapped_column(default=False)
    username: Mapped[str] = mapped_column(String(320), default="")
    password: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # vault-sealed
    ntlm: Mapped[bool] = mapped_column(default=False)
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
