"""Users, roles and API keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, true
from sqlalchemy.orm import Mapped, mapped_column

from otwatch.console.db import ID, Base, new_id, utcnow


class Role(StrEnum):
    """Console roles. Support is the privileged user: all Admin rights plus Clear data."""

    ADMIN = "Admin"
    SECURITY_ANALYST = "Security Analyst"
    READ_ONLY = "Read Only"
    SUPPORT = "Support"


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    session_epoch: Mapped[int] = mapped_column(default=0)  # bump to sign out every browser session
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login: Mapped[datetime | None] = mapped_column(default=None)


class ApiKey(Base):
    """A script credential. Only its SHA-256 is stored; the key is shown once on creation."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)  # None: made before expiry existed
    # False (new keys): revoked when its owner's password changes (a leaked password's keys die with it);
    # keys made before this existed keep working (the column's server default)
    keep_on_password_change: Mapped[bool] = mapped_column(default=False, server_default=true())


class EndedSession(Base):
    """A browser session signed out before its cookie expired: the signed cookie alone would still
    be accepted until then, so the console remembers its id (``sid``) until it would have expired."""

    __tablename__ = "ended_sessions"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    ended_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
