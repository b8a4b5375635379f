"""Tables in Chromium: a column heading sorts (and sorts back), Export CSV downloads what the filter
shows in the same order, and on a narrow screen wide tables scroll sideways inside their frame instead
of being cut or widening the page."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.console.test_tables import _seed
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser


def _read(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


PAGE_OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def test_sort_export_and_scroll(page: Page, live_console: LiveConsole) -> None:
    url = live_console.url
    _seed(live_console.ctx)
    page.set_viewport_size({"width": 1024, "height": 800})
    sign_in(page, url, then="/inventory?type=PLC")
    rows = page.locator("#assets-table tbody tr[data-id]")
    expect(rows).to_have_count(3)

    heading = page.locator("#assets-table th[data-sort='vendor']")
    heading.get_by_role("link").click()
    expect(page).to_have_url(url + "/inventory?type=PLC&sort=vendor")
    expect(heading).to_have_attribute("aria-sort", "ascending")
    expect(rows.first).to_contain_text("ABB")
    page.locator("#assets-table th[data-sort='vendor']").get_by_role("link").click()
    expect(page).to_have_url(url + "/inventory?type=PLC&sort=-vendor")
    expect(page.locator("#assets-table th[data-sort='vendor']")).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_contain_text("Siemens")

    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename == "inventory.csv"
    exported = _read(download.path())
    assert [r["Vendor"] for r in exported] == ["Siemens", "Rockwell", "ABB"]  # the filter, in its order

    # a wide table scrolls inside its frame; the page itself does not grow sideways
    assert page.evaluate(PAGE_OVERFLOW) <= 0
    wrap = page.locator("#assets-table").locator("xpath=..")
    assert wrap.evaluate("w => w.scrollWidth > w.clientWidth && getComputedStyle(w).overflowX")
    last = page.locator("#assets-table th[data-sort='last_seen']")
    last.scroll_into_view_if_needed()
    expect(last).to_be_in_viewport()

    page.goto(url + "/alerts")
    page.locator("#alerts-table th[data-sort='severity']").get_by_role("link").click()
    expect(page).to_have_url(url + "/alerts?sort=severity")
    alert_rows = page.locator("#alerts-table tbody tr[data-id]")
    expect(alert_rows).to_have_count(3)  # open only, as the page shows by default
    expect(alert_rows.first).to_contain_text("Critical")
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    exported = _read(info.value.path())
    assert [r["Severity"] for r in exported] == ["Critical", "Major", "Minor"]

    for path in ("/dashboard", "/alerts", "/inventory", "/sensors", "/agents"):
        page.goto(url + path)
        assert page.evaluate(PAGE_OVERFLOW) <= 0, path
