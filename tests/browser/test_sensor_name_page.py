"""Naming a sensor in Chromium: the Overview's Name and Site fields, then the name in the breadcrumb
and the Sites and Sensors list with its site."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser


def test_name_a_sensor_and_its_site(page: Page, live_console: LiveConsole, tmp_path: Path) -> None:
    url = live_console.url
    _, ident = live_console.enrolled(tmp_path / "s", "sensor")
    api = live_console.admin()
    try:
        api.post(f"/api/v1/sensors/{ident.node_id}/approve").raise_for_status()
    finally:
        api.close()
    sign_in(page, url, then=f"/sensors/{ident.node_id}")
    page.get_by_label("Name", exact=True).fill("x" * 5 + "\u0007")
    page.get_by_role("region", name="General Settings").get_by_role("button", name="Save").click()
    expect(page.locator("#sensor-name-error")).to_be_visible()  # a control character is refused
    page.get_by_label("Name", exact=True).fill("Line 1 SPAN")
    page.get_by_label("Site", exact=True).fill("Plant North")
    page.get_by_role("region", name="General Settings").get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_have_text("Sensor name and site saved")
    expect(page.get_by_test_id("sensor-name")).to_have_text("Line 1 SPAN")
    expect(page.get_by_test_id("sensor-site")).to_have_text("Plant North")
    expect(page.get_by_role("navigation", name="Breadcrumb")).to_contain_text("Line 1 SPAN")
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Sites and Sensors").click()
    row = page.locator(f'#sensors-table tr[data-id="{ident.node_id}"]')
    expect(row).to_contain_text("Line 1 SPAN")
    expect(row.locator("td.site")).to_have_text("Plant North")
