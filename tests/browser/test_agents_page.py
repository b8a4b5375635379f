"""Drive the Agents page in Chromium: sign in, pairing key, live status, Actions > Approve."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from otwatch.wire.client import Credentials, NodeState, enroll
from tests.conftest import ADMIN_PASSWORD, REPO
from tests.e2e.conftest import LiveConsole

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    if request.node.callspec.params.get("db_url") != "sqlite":
        pytest.skip("browser tests run on the SQLite leg only")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (scripts/system-deps.sh)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1600, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    try:
        yield pg
    finally:
        context.close()


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

    shot = REPO / "docs" / "screenshots" / "agents.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
