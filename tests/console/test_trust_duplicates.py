"""Issue 17, item 9: several asset reports in one check-in make one row per device."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from otwatch.console.assets.models import Asset
from otwatch.console.context import ConsoleContext
from tests.console.helpers import FakeAgent, new_key


def _sensor(admin: TestClient, ctx: ConsoleContext) -> FakeAgent:
    s = FakeAgent(ctx, admin.app, kind="sensor")
    s.enroll(admin, new_key(admin))
    admin.post(f"/api/v1/sensors/{s.node_id}/approve")
    s.checkin()
    return s


def _assets(s: FakeAgent, *reports: list[dict[str, Any]]) -> None:
    stamp = datetime.now(UTC).timestamp()
    s.checkin(
        reports=[{"id": f"a-{stamp}-{i}", "kind": "assets", "assets": r} for i, r in enumerate(reports)]
    )


def test_several_asset_reports_in_one_checkin_make_one_row_per_device(
    admin: TestClient, ctx: ConsoleContext
) -> None:
    """A real sensor made 32 rows for 4 devices: each report of a check-in created its own row."""
    s = _sensor(admin, ctx)
    devices = [{"ip": f"10.0.1.{n}", "mac": f"00:1b:1b:00:01:0{n}"} for n in range(1, 5)]
    no_mac = {"ip": "10.0.1.9"}
    _assets(s, *[[*devices, no_mac] for _ in range(8)])
    _assets(s, [*devices, no_mac], [*devices, no_mac])
    with ctx.db.session() as db:
        assert db.scalar(select(func.count()).select_from(Asset)) == 5
