"""Recording and listing audit entries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from otwatch.console.audit.models import AuditEntry
from otwatch.console.tables import Sorts, sort_by

#: the Audit Log's sortable columns (?sort=); Detail is JSON and sorts by nothing
SORTS: Sorts = {
    "at": (AuditEntry.at,),
    "actor": (AuditEntry.actor,),
    "action": (AuditEntry.action,),
    "target": (AuditEntry.target,),
}


def record(db: Session, actor: str, action: str, target: str | None = None, **detail: Any) -> None:
    db.add(AuditEntry(actor=actor, action=action, target=target, detail=detail))


def query(actor: str | None = None, action: str | None = None, sort: str | None = None) -> Select[Any]:
    """The Audit Log's filters (``actor`` exact, ``action`` a prefix) newest first or by ``sort`` (a key
    of ``SORTS``, ``-`` first for descending; ValueError for another): the page, the API and the CSV
    export share it."""
    stmt = sort_by(select(AuditEntry).order_by(AuditEntry.id.desc()), sort, SORTS, AuditEntry.id)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True))
    return stmt
