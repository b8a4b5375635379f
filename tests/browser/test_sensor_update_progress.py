"""Site Management (Sites and Sensors) in Chromium: a sensor's version update is followed in its row, with
the numbers the Updates page shows (percent and phase while Updating), live as the sensor reports them,
and the reason when the update failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from otwatch import __version__
from otwatch.console.db import utcnow
from otwatch.console.fleet.models import Command
from otwatch.wire.client import ConsoleLink
from otwatch.wire.messages import CheckinRequest, CommandResult
from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_sensor_pages import _pair_sensor
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser


def _report(link: ConsoleLink, **fields: object) -> None:
    link.checkin(CheckinRequest(client_time=datetime.now(UTC), version=__version__, **fields))  # type: ignore[arg-type]


def test_site_management_follows_a_sensor_update(
    page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    sid, link = _pair_sensor(live_console, tmp_path / "s1")
    with live_console.ctx.db.session() as db:  # an update requested from the Updates page
        cmd = Command(
            node_id=sid, type="update", args={"kind": "sensor", "version": "9.1.0"},
            expires_at=utcnow() + timedelta(hours=1), delivered_at=utcnow(), state="delivered",
        )  # fmt: skip
        db.add(cmd)
        db.commit()
        cmd_id = cmd.id
    _report(link, activity="updating", progress={"percent": 40, "phase": "verified"})
    sign_in(page, live_console.url)
    page.goto(live_console.url + "/sensors")
    cell = page.locator(f'tr[data-id="{sid}"] td.version')
    progress = cell.get_by_test_id("update-progress")
    expect(progress).to_contain_text("40% (verified) to 9.1.0")  # server-rendered
    expect(cell.get_by_role("progressbar")).to_have_attribute("value", "40")
    assert cell.get_by_role("progressbar").get_attribute("aria-label", timeout=1000) is not None
    # the same numbers on the Updates page
    api = live_console.admin()
    try:
        view = next(s for s in api.get("/api/v1/updates/sensors").json()["items"] if s["id"] == sid)
    finally:
        api.close()
    assert (view["percent"], view["phase"]) == (40, "verified")

    _report(link, activity="updating", progress={"percent": 80, "phase": "staged"}, results=[
        CommandResult(id=cmd_id, state="running")
    ])  # fmt: skip
    expect(progress).to_contain_text("80% (staged) to 9.1.0")  # the row's poll, no reload
    expect(cell.get_by_role("progressbar")).to_have_attribute("value", "80")
    screenshot(page, "sensors-update-progress")

    _report(link, results=[CommandResult(id=cmd_id, state="failed", error="did not start; rolled back",
                                         result={"rolled_back": True})])  # fmt: skip
    expect(cell.get_by_test_id("update-progress")).to_have_count(0)
    expect(cell.get_by_test_id("update-failed")).to_contain_text("update to 9.1.0 failed (rolled back)")
    expect(cell.locator(".update-reason")).to_have_text("did not start; rolled back")
    expect(cell.locator(".version-text")).to_have_text(__version__)
    page.reload()  # and the server renders the same
    expect(cell.get_by_test_id("update-failed")).to_contain_text("update to 9.1.0 failed (rolled back)")
    link.close()
