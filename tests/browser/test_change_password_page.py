"""Changing one's own password from the console's pages (issue 19): the page existed for a forced
change only, with no way to it from the UI, and it went on to the Agents table, not the Dashboard."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser


def test_a_user_changes_their_password_from_the_top_bar(page: Page, live_console: LiveConsole) -> None:
    api = live_console.admin()
    r = api.post(
        "/api/v1/users",
        json={"username": "analyst", "password": "Analyst-first-1", "role": "Security Analyst"},
    )
    assert r.status_code == 201, r.text
    api.close()
    sign_in(page, live_console.url, "analyst", "Analyst-first-1", then="/inventory")
    page.get_by_role("banner").get_by_role("link", name="Change password").click()
    expect(page).to_have_url(live_console.url + "/account/password")
    expect(page.get_by_test_id("must-change")).to_have_count(0)  # asked for, not forced
    page.get_by_role("textbox", name="Current password").fill("wrong-password-1")
    page.get_by_role("textbox", name="New password").fill("Pl4nt-floor-2026")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("form .form-error")).to_be_visible()
    expect(page.get_by_role("textbox", name="New password")).to_have_value(
        "Pl4nt-floor-2026"
    )  # kept for a retry
    page.get_by_role("textbox", name="Current password").fill("Analyst-first-1")
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url(live_console.url + "/dashboard")
    expect(page.locator("#flash")).to_have_text("Password changed")

    page.context.clear_cookies()
    sign_in(page, live_console.url, "analyst", "Pl4nt-floor-2026", then=None)
    expect(page.get_by_test_id("whoami")).to_contain_text("analyst")


def test_pages_ask_for_nothing_that_fails(page: Page, live_console: LiveConsole) -> None:
    """Every page asked for /favicon.ico, a 404 in the browser's console on each page load."""
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("console", lambda m: failed.append(m.text) if m.type == "error" else None)
    sign_in(page, live_console.url, then=None)
    for path in ("/dashboard", "/agents", "/sensors", "/inventory", "/settings/updates"):
        page.goto(live_console.url + path)
        page.wait_for_load_state("networkidle")
    assert failed == []
