"""Support > Clear data on a console-connected sensor, in Chromium: the confirmation offers "Also clear this
sensor's assets and alerts from the console" (checked by default, as the seed's cloud-connected sensor
updates its inventory there) and says what happens otherwise; the real sensor node then tells the real
console, which forgets the sensor's assets and alerts (audited) — or keeps them when unchecked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from otwatch.sensor.capture.synth import demo_plant
from otwatch.sensor.local.store import Role, SensorStore
from otwatch.sensor.node.managed import SensorNode
from otwatch.sensor.web.app import create_sensor_app
from otwatch.sensor.web.server import ConsoleServer
from otwatch.wire.client import ConsoleLink
from tests.browser.conftest import screenshot
from tests.e2e.conftest import LiveConsole

pytestmark = [pytest.mark.browser, pytest.mark.network]
SUPPORT_PASSWORD = "browser-support-1"


def _watch_and_report(node: SensorNode, link: ConsoleLink) -> None:
    """The plant's traffic through the sensor, and its reports to the console (two check-ins: the
    first fetches the configuration)."""
    node.play(iter(demo_plant(2).frames)).join(60)
    for r in node.build_reports():
        node.runtime.send_report(r)
    node.runtime._once(link)
    node.runtime._once(link)


def _counts(live: LiveConsole, sid: str) -> tuple[int, int]:
    api = live.admin()
    try:
        assets = api.get("/api/v1/assets", params={"source": sid}).json()["total"]
        alerts = api.get("/api/v1/alerts", params={"sensor": sid}).json()["total"]
    finally:
        api.close()
    return assets, alerts


@pytest.fixture
def managed(live_console: LiveConsole, tmp_path: Path) -> Iterator[tuple[str, SensorNode, str]]:
    state, ident = live_console.enrolled(tmp_path / "node", "sensor")
    api = live_console.admin()
    assert api.post(f"/api/v1/sensors/{ident.node_id}/approve").status_code == 200
    api.close()
    node = SensorNode(state, [], longpoll=0.0)
    node.runtime.longpoll = 0.0  # each check-in returns at once
    store = SensorStore(tmp_path / "console")
    store.ensure_users({Role.ADMIN.env: "browser-admin-1", Role.SUPPORT.env: SUPPORT_PASSWORD})
    server = ConsoleServer(create_sensor_app(node, store), store, "127.0.0.1", 0).start()
    try:
        yield ident.node_id, node, f"https://127.0.0.1:{server.port}"
    finally:
        server.stop()


def _clear(page: Page, url: str, console_too: bool) -> None:
    page.goto(f"{url}/support")
    box = page.get_by_label("Also clear this sensor's assets and alerts from the console")
    expect(box).to_be_checked()  # the default
    if not console_too:
        box.uncheck()
    page.get_by_label("Yes, clear all data from the sensor and reset it").check()
    page.get_by_role("button", name="Clear data").click()


def test_clear_data_with_and_without_the_consoles_copy(
    page: Page, live_console: LiveConsole, managed: tuple[str, SensorNode, str]
) -> None:
    sid, node, url = managed
    link = ConsoleLink(node.runtime.state)
    try:
        _watch_and_report(node, link)
        assets, alerts = _counts(live_console, sid)
        assert assets > 5 and alerts >= 1, (assets, alerts)

        page.goto(f"{url}/login")
        page.get_by_label("User name").fill("support")
        page.get_by_label("Password").fill(SUPPORT_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{url}/support")
        panel = page.get_by_test_id("console-data")
        expect(panel).to_contain_text(f"The console at {live_console.address}")
        expect(panel).to_contain_text(
            "Unchecked: the console keeps the assets and alerts this sensor reported"
        )
        screenshot(page, "sensor-clear-data")

        _clear(page, url, console_too=False)  # the console keeps what the sensor reported
        expect(
            page.get_by_text("The console keeps the assets and alerts this sensor reported before.")
        ).to_be_visible()
        node.runtime._once(link)
        assert _counts(live_console, sid) == (assets, alerts)

        _clear(page, url, console_too=True)
        expect(page.get_by_text("The console removes this sensor's assets and alerts")).to_be_visible()
        node.runtime._once(link)  # the check-in carrying the cleared report
        assert _counts(live_console, sid) == (0, 0)
        api = live_console.admin()
        try:
            audit = api.get("/api/v1/audit", params={"action": "sensor.data_cleared"}).json()["items"]
        finally:
            api.close()
        assert [e["target"] for e in audit] == [sid]
        assert (
            audit[0]["detail"]["assets_removed"] == assets and audit[0]["detail"]["alerts_removed"] == alerts
        )
    finally:
        link.close()
