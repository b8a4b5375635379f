"""Recording and listing audit entries."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from otwatch.console.audit.models import AuditEntry


def record(db: Session, actor: str, action: str, target: str | None = None, **detail: Any) -> None:
    db.add(AuditEntry(actor=actor, action=action, target=target, detail=detail))
