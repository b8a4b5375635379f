"""Inventory quality in Chromium: ghost addresses are hidden until asked for, then marked; a type
inferred from behaviour shows its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from otwatch.console.assets.service import ingest, parse_reports
from tests.browser.conftest import sign_in
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser


def test_ghosts_and_type_reasons(page: Page, live_console: LiveConsole, tmp_path: Path) -> None:
    url = live_console.url
    _, ident = live_console.enrolled(tmp_path / "s", "sensor")
    reports = [
        {"ip": "93.184.216.7", "ghost": True},
        {
            "ip": "10.1.0.50",
            "device_type": "Scanner",
            "type_reason": "probed ports or addresses that did not answer (a scan)",
            "sources": {"device_type": "behaviour"},
        },
    ]
    with live_console.ctx.db.session() as db:
        ingest(db, ident.node_id, parse_reports(reports))
        db.commit()
    sign_in(page, url, then="/inventory")
    rows = page.locator("#assets-table tbody tr[data-id]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Scanner")
    expect(rows.first.locator(".type-reason")).to_have_attribute(
        "title", "By behaviour: probed ports or addresses that did not answer (a scan)"
    )
    page.get_by_label("Ghost addresses").select_option("include")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(2)
    ghost = rows.filter(has_text="93.184.216.7")
    expect(ghost.locator(".ghost")).to_have_text("Ghost")
    ghost.get_by_role("link", name="93.184.216.7").click()
    expect(page.get_by_test_id("asset-ghost")).to_contain_text("probably no device")
