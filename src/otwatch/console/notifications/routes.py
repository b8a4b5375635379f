"""System notifications (a sensor disconnected, and why; a sensor reconnected)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from otwatch.console.deps import SessionDep, Viewer
from otwatch.console.notifications import service
from otwatch.console.pagination import Page, PageDep, paginate

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


@router.get("", response_model=Page[NotificationOut])
def list_notifications(
    _: Viewer,
    db: SessionDep,
    page: PageDep,
    kind: Annotated[
        Literal[
            "sensor_disconnected",
            "sensor_reconnected",
            "span_port_failure",
            "span_port_restored",
            "vulnerabilities_matched",
        ]
        | None,
        Query(),
    ] = None,
    sensor: Annotated[str | None, Query(max_length=32)] = None,
) -> dict[str, object]:
    rows, total = paginate(db, service.query(kind, sensor), page)
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}
