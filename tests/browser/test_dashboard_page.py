"""The dashboard in Chromium: sign-in lands on it, its charts are drawn, and each tile opens the
filtered list it counted."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.console.test_dashboard import _seed
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser


def test_dashboard_tiles_open_their_lists(page: Page, live_console: LiveConsole) -> None:
    url = live_console.url
    _seed(live_console.ctx)
    sign_in(page, url, then=None)
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard")
    ).to_have_attribute("aria-current", "page")
    expect(page.locator('[data-chart="alerts-severity"] svg.chart-stacked rect.bar')).to_have_count(3)
    expect(page.locator('[data-chart="asset-types"] rect.bar')).to_have_count(3)
    expect(page.locator('[data-slot="most-vulnerable-assets"]')).to_contain_text("advisories")
    screenshot(page, "dashboard")

    # open alerts by severity -> the Alerts list filtered by that severity
    page.get_by_test_id("alerts-by-severity").locator('li[data-label="Critical"] a').click()
    expect(page).to_have_url(url + "/alerts?severity=Critical")
    expect(page.locator("#alerts-table tbody tr[data-id]")).to_have_count(2)

    page.go_back()
    page.get_by_test_id("assets-by-type").get_by_role("link", name="PLC").click()
    expect(page).to_have_url(url + "/inventory?type=PLC")
    expect(page.locator("#assets-table tbody tr[data-id]")).to_have_count(2)

    page.go_back()
    page.get_by_test_id("new-assets").click()
    expect(page).to_have_url(url + "/inventory?new=7")
    expect(page.get_by_test_id("new-filter")).to_be_visible()
    expect(page.locator("#assets-table tbody tr[data-id]")).to_have_count(2)

    page.go_back()
    page.get_by_test_id("sensors-by-status").get_by_role("link", name="Disconnected").click()
    expect(page).to_have_url(url + "/sensors?status=Disconnected")
    expect(page.get_by_test_id("status-filter")).to_be_visible()
    expect(page.locator("#sensors-table tbody tr[data-id]")).to_have_count(1)

    page.go_back()
    page.get_by_test_id("agents-by-status").get_by_role("link", name="Pending Approval").click()
    expect(page).to_have_url(url + "/agents?status=Pending+Approval")
    expect(page.locator("#agents-table tbody tr[data-id]")).to_have_count(1)
    page.wait_for_timeout(2500)  # the page's poll keeps the filter
    expect(page.locator("#agents-table tbody tr[data-id]")).to_have_count(1)
