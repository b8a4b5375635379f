"""System notifications (a sensor disconnected, and why; a sensor reconnected)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select

from otwatch.console.deps import SessionDep, Viewer
from otwatch.console.errors import invalid
from otwatch.console.notifications import service
from otwatch.console.notifications.models import SystemNotification
from otwatch.console.pagination import Page, PageDep, paginate
from otwatch.console.tables import csv_response

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: str
    node_id: str | None
    node_name: str
    severity: str
    reason: str | None
    title: str
    message: str
    created_at: datetime


Kind = Literal[
    "sensor_disconnected",
    "sensor_reconnected",
    "span_port_failure",
    "span_port_restored",
    "vulnerabilities_matched",
]


def _filters(
    kind: Annotated[Kind | None, Query()] = None,
    sensor: Annotated[str | None, Query(max_length=32)] = None,
    sort: Annotated[
        str | None,
        Query(
            max_length=20,
            description="column to sort by, - first for descending: " + ", ".join(service.SORTS),
        ),
    ] = None,
) -> Select[Any]:
    """The list's filters and order as one query (the list and its CSV export share it)."""
    try:
        return service.query(kind, sensor, sort)
    except ValueError as exc:
        raise invalid(str(exc)) from exc


FiltersDep = Annotated[Select[Any], Depends(_filters)]

EXPORT_COLUMNS: list[tuple[str, Callable[[SystemNotification], object]]] = [
    ("Time (UTC)", lambda n: n.created_at),
    ("Severity", lambda n: n.severity),
    ("Type", lambda n: n.kind),
    ("Notification", lambda n: n.title),
    ("Sensor", lambda n: n.node_name),
    ("Sensor ID", lambda n: n.node_id),
    ("Reason", lambda n: n.reason),
    ("Details", lambda n: n.message),
    ("ID", lambda n: n.id),
]


@router.get("/export", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_notifications(_: Viewer, db: SessionDep, stmt: FiltersDep) -> Response:
    """Every notification the filters select, in the same order, as CSV (the page's Export CSV)."""
    return csv_response(db, stmt, EXPORT_COLUMNS, "system-notifications.csv")


@router.get("", response_model=Page[NotificationOut])
def list_notifications(_: Viewer, db: SessionDep, page: PageDep, stmt: FiltersDep) -> dict[str, object]:
    rows, total = paginate(db, stmt, page)
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}
