"""The dashboard as the API and the home page show it: counts with the filtered list each one opens."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["Count", "DashboardOut", "Series", "VulnerableAssetOut"]


class Count(BaseModel):
    """One number of a tile and the list it stands for (``href``: the filtered page, None for none)."""

    label: str
    count: int
    href: str | None


class Series(BaseModel):
    """One stacked series of a chart over ``DashboardOut.days``: a value per day."""

    label: str
    values: list[int]
    href: str


class VulnerableAssetOut(BaseModel):
    """A row of the "most vulnerable assets" tile."""

    asset_id: str
    label: str
    vulnerabilities: int  # advisories confirmed (firmware in an affected range)
    possibly: int = 0  # advisories that may concern it (firmware unknown)
    highest_score: float | None = None  # highest CVSS base score of the confirmed ones
    href: str


class DashboardOut(BaseModel):
    open_alerts: int
    alerts_by_severity: list[Count]
    alerts_by_engine: list[Count]
    days: list[str]  # YYYY-MM-DD, oldest first, today last (UTC)
    alerts_per_day_by_severity: list[Series]
    alerts_per_day_by_engine: list[Series]
    assets: int
    assets_by_type: list[Count]
    assets_by_vendor: list[Count]
    new_assets_this_week: Count
    agents_by_status: list[Count]
    sensors_by_status: list[Count]
    # None until the vulnerabilities domain provides it; [] once it does and nothing is vulnerable
    most_vulnerable_assets: list[VulnerableAssetOut] | None = None
