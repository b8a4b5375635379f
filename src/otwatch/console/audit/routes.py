"""The Audit Log over the API: the list (GET /api/v1/audit) and its CSV export, for administrators."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select

from otwatch.console.audit import service
from otwatch.console.audit.models import AuditEntry
from otwatch.console.deps import SessionDep, SettingsAdmin
from otwatch.console.errors import invalid
from otwatch.console.pagination import Page, PageDep, paginate
from otwatch.console.tables import csv_response

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]


def _filters(
    actor: Annotated[str | None, Query(max_length=200, description="exactly this actor")] = None,
    action: Annotated[str | None, Query(max_length=100, description="actions starting with")] = None,
    sort: Annotated[
        str | None,
        Query(
            max_length=20,
            description="column to sort by, - first for descending: " + ", ".join(service.SORTS),
        ),
    ] = None,
) -> Select[Any]:
    """The Audit Log's filters and order as one query (the list and its CSV export share it)."""
    try:
        return service.query(actor=actor, action=action, sort=sort)
    except ValueError as exc:
        raise invalid(str(exc)) from exc


FiltersDep = Annotated[Select[Any], Depends(_filters)]

EXPORT_COLUMNS: list[tuple[str, Callable[[AuditEntry], object]]] = [
    ("Time (UTC)", lambda e: e.at),
    ("Actor", lambda e: e.actor),
    ("Action", lambda e: e.action),
    ("Target", lambda e: e.target),
    ("Detail", lambda e: json.dumps(e.detail, sort_keys=True, default=str) if e.detail else ""),
    ("ID", lambda e: e.id),
]


@router.get("/export", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_audit(_: SettingsAdmin, db: SessionDep, stmt: FiltersDep) -> Response:
    """Every entry the filters select, in the same order, as CSV (the Audit Log's Export CSV)."""
    return csv_response(db, stmt, EXPORT_COLUMNS, "audit-log.csv")


@router.get("", response_model=Page[AuditOut])
def list_audit(_: SettingsAdmin, db: SessionDep, page: PageDep, stmt: FiltersDep) -> dict[str, object]:
    rows, total = paginate(db, stmt, page)
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}
