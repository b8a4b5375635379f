"""Tables in Chromium: a column heading sorts (and sorts back), Export CSV downloads what the filter
shows in the same order, and on a narrow screen wide tables scroll sideways inside their frame instead
of being cut or widening the page."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from otwatch.console.audit import service as audit
from tests.browser.conftest import sign_in
from tests.console.test_tables import _seed
from tests.console.test_tables_fleet_audit import _seed_nodes
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


def test_agents_and_audit_log_sort_and_export(page: Page, live_console: LiveConsole) -> None:
    """Agents: a heading sorts, the 2 s poll keeps that order (it asks the API for it), Export CSV
    downloads the same rows in the same order; the Audit Log likewise, with its filter kept."""
    url = live_console.url
    _seed_nodes(live_console.ctx)
    sign_in(page, url, then="/agents")
    rows = page.locator("#agents-body tr[data-id]")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("beta")  # enrolment order

    page.locator("#agents-table th[data-sort='name']").get_by_role("link").click()
    expect(page).to_have_url(url + "/agents?sort=name")
    page.locator("#agents-table th[data-sort='name']").get_by_role("link").click()
    expect(page).to_have_url(url + "/agents?sort=-name")
    expect(page.locator("#agents-table th[data-sort='name']")).to_have_attribute("aria-sort", "descending")
    order = ["gamma", "beta", "alpha", "=cmd|calc"]
    for i, name in enumerate(order):
        expect(rows.nth(i)).to_contain_text(name)
    with page.expect_response(lambda r: "/api/v1/agents?" in r.url and "sort=-name" in r.url, timeout=10_000):
        pass  # the next poll re-renders every row: from the API, in the chosen order
    page.wait_for_timeout(300)
    for i, name in enumerate(order):
        expect(rows.nth(i)).to_contain_text(name)
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    assert info.value.suggested_filename == "agents.csv"
    assert [r["Agent Name"] for r in _read(info.value.path())] == ["gamma", "beta", "alpha", "'=cmd|calc"]

    with live_console.ctx.db.session() as db:
        audit.record(db, "zoe", "agent.pause", "n1")
        audit.record(db, "@evil", "agent.delete", "n2")
        audit.record(db, "bob", "user.create", "carol")
        db.commit()
    page.goto(url + "/settings/audit?action=agent.")
    entries = page.locator("#audit-table tbody tr[data-id]")
    expect(entries).to_have_count(2)
    expect(entries.first).to_contain_text("@evil")  # newest first
    page.locator("#audit-table th[data-sort='actor']").get_by_role("link").click()
    expect(page).to_have_url(url + "/settings/audit?action=agent.&sort=actor")
    page.locator("#audit-table th[data-sort='actor']").get_by_role("link").click()
    expect(page).to_have_url(url + "/settings/audit?action=agent.&sort=-actor")
    expect(page.locator("#audit-table th[data-sort='actor']")).to_have_attribute("aria-sort", "descending")
    expect(entries.first).to_contain_text("zoe")
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    assert info.value.suggested_filename == "audit-log.csv"
    exported = _read(info.value.path())
    assert [(r["Actor"], r["Action"]) for r in exported] == [
        ("zoe", "agent.pause"),
        ("'@evil", "agent.delete"),
    ]


def test_sensors_keep_their_sort_across_polls(page: Page, live_console: LiveConsole) -> None:
    """Sites and Sensors: a heading sorts and the 2 s poll (which re-renders when the order differs)
    keeps the chosen order."""
    url = live_console.url
    _seed_nodes(live_console.ctx)
    sign_in(page, url, then="/sensors")
    page.locator("#sensors-table th[data-sort='site']").get_by_role("link").click()
    expect(page).to_have_url(url + "/sensors?sort=site")
    expect(page.locator("#sensors-table th[data-sort='site']")).to_have_attribute("aria-sort", "ascending")
    rows = page.locator("#sensors-body tr[data-id]")
    order = ["gamma", "alpha", "=cmd|calc", "beta"]  # site 0, 1, 2, 3
    for i, name in enumerate(order):
        expect(rows.nth(i)).to_contain_text(name)
    with page.expect_response(lambda r: "/api/v1/sensors?" in r.url and "sort=site" in r.url, timeout=10_000):
        pass
    page.wait_for_timeout(500)
    for i, name in enumerate(order):
        expect(rows.nth(i)).to_contain_text(name)
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    assert [r["Sensor"] for r in _read(info.value.path())] == ["gamma", "alpha", "'=cmd|calc", "beta"]
