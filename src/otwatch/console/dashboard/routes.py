"""Dashboard: the home page's numbers as JSON, each with the link of its filtered list."""

from __future__ import annotations

from fastapi import APIRouter

from otwatch.console.dashboard import service
from otwatch.console.dashboard.schemas import DashboardOut
from otwatch.console.db import utcnow
from otwatch.console.deps import CtxDep, SessionDep, Viewer

router = APIRouter(prefix="/api/v1/dashboard", tags=["dashboard"])


@router.get("", response_model=DashboardOut)
def get_dashboard(_: Viewer, ctx: CtxDep, db: SessionDep) -> DashboardOut:
    """Open alerts by severity and engine (totals and per day, last 14 days), assets by type and
    vendor, new assets this week, agents and sensors by status, and (once the vulnerabilities domain
    fills it) the most vulnerable assets."""
    return service.dashboard(db, ctx.settings, utcnow())
