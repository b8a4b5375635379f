"""Drive the Agents page in Chromium: sign in, pairing key, live status, Actions > Approve."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from otwatch.wire.client import Credentials, NodeState, enroll
from tests.browser.conftest import screenshot
from tests.conftest import ADMIN_PASSWORD
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser


def test_pair_and_approve_from_the_agents_page(
    browser: Browser, page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    page.goto(live_console.url + "/")
    expect(page).to_have_url(live_console.url + "/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(live_console.url + "/agents")
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()

    page.get_by_role("button", name="Generate Pairing Key").click()
    expect(page.get_by_label("Expiration Period (days)")).to_have_value("90")
    page.get_by_label("Description").fill("browser test")
    page.get_by_role("button", name="Next").click()
    key_box = page.locator("#pk-key")
    expect(key_box).not_to_have_value("")
    key = key_box.input_value()
    page.get_by_role("button", name="Copy").click()
    page.get_by_role("button", name="Done").click()

    ident, _ = enroll(NodeState(tmp_path / "a"), "agent", Credentials(pairing_key=key))
    row = page.locator(f'tr[data-id="{ident.node_id}"]')
    expect(row.locator(".badge")).to_have_text("Pending Approval")  # appears by polling, no reload

    row.get_by_role("checkbox").check()
    page.locator("#actions-btn").click()
    page.get_by_role("menuitem", name="Approve").click()
    expect(row.locator(".badge")).to_have_text("Pending Configuration")
    expect(row.get_by_role("checkbox")).to_be_checked()  # selection survives the refresh

    screenshot(page, "agents")
