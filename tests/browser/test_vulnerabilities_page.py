"""An analyst's way through the vulnerabilities in Chromium: the Inventory's Vulnerabilities column
and filter, an asset's advisories with the reason, the Vulnerabilities page with its charts, and an
advisory's page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from otwatch.console.assets.service import ingest, parse_reports
from otwatch.console.vulnerabilities import service
from tests.advisories.shared import ADVISORIES, files
from tests.browser.conftest import screenshot, sign_in
from tests.console.test_vulnerabilities import M340, M340_DOCS, S7, S7_DOCS
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser


def test_which_assets_are_affected_and_why(page: Page, live_console: LiveConsole, tmp_path: Path) -> None:
    files()
    folder = tmp_path / "csaf"
    folder.mkdir()
    for name in M340_DOCS + S7_DOCS:
        shutil.copy(ADVISORIES / ("20" + name.split("-")[1]) / f"{name}.json", folder)
    _, ident = live_console.enrolled(tmp_path / "agent", "agent")
    unknown = {**M340, "ip": "10.30.1.21", "mac": "00:80:f4:01:02:04", "firmware": None,
               "identities": [{**M340["identities"][0], "firmware": None}]}  # fmt: skip
    switch = {"ip": "10.30.1.1", "vendor": "Hirschmann", "device_type": "Switch", "protocols": ["snmp"]}
    with live_console.ctx.db.session() as db:
        ingest(db, ident.node_id, parse_reports([M340, S7, unknown, switch]))
        db.commit()
        report = service.import_files(db, service.advisory_files([folder]))
    assert report.new_matches == 4 + 6 + 7

    url = live_console.url
    sign_in(page, url)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Inventory").click()
    table = page.locator("#assets-table")
    expect(table.get_by_role("columnheader", name="Vulnerabilities")).to_be_visible()
    m340 = page.locator("#assets-table tbody tr", has_text="10.30.1.20")
    expect(m340.get_by_test_id("vulnerabilities")).to_contain_text("4")
    expect(m340.get_by_test_id("vulnerabilities")).to_contain_text("Critical")
    screenshot(page, "inventory-vulnerabilities")

    page.get_by_label("Vulnerabilities").select_option("Critical")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#assets-table tbody tr[data-id]")).to_have_count(2)  # both M340s (all versions)

    m340 = page.locator("#assets-table tbody tr", has_text="10.30.1.20")
    m340.get_by_test_id("vulnerabilities").click()
    found = page.get_by_test_id("asset-vulnerabilities")
    expect(found.locator("tr[data-advisory]")).to_have_count(4)
    first = found.locator('tr[data-advisory="ICSA-21-194-02"]')
    expect(first).to_contain_text("BMXP34*")
    expect(first).to_contain_text("9.8 Critical")
    screenshot(page, "asset-vulnerabilities")

    nav.get_by_role("link", name="Vulnerabilities").click()
    expect(page).to_have_url(url + "/vulnerabilities")
    expect(page.locator('[data-chart="advisories"] svg')).to_be_visible()
    expect(page.locator('[data-chart="severity"] svg')).to_be_visible()
    expect(page.locator("#advisories-table tbody tr[data-id]")).to_have_count(13)  # 3 possibly only
    screenshot(page, "vulnerabilities")
    page.locator("#advisories-table").get_by_role("link", name="ICSA-18-079-02").click()
    expect(page.get_by_test_id("advisory-assets")).to_contain_text("10.30.1.10")
    expect(page.get_by_role("heading", level=1)).to_contain_text("ICSA-18-079-02")
