"""Drive the Agents page in Chromium: sign in, pairing key, live status, Actions > Approve."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from otwatch.wire.client import Credentials, NodeState, enroll
from tests.browser.conftest import screenshot, sign_in
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
    expect(page).to_have_url(live_console.url + "/dashboard")  # sign-in lands on the dashboard
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
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


def test_right_click_opens_the_actions_menu_for_that_row(
    browser: Browser, page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    admin = live_console.admin()
    key = admin.post("/api/v1/pairing-keys", json={"max_uses": 20}).json()["pairing_key"]
    ids = [
        enroll(NodeState(tmp_path / f"n{i}"), "agent", Credentials(pairing_key=key))[0].node_id
        for i in range(2)
    ]
    sign_in(page, live_console.url)
    first, second = (page.locator(f'tr[data-id="{i}"]') for i in ids)
    expect(second.locator(".badge")).to_have_text("Pending Approval")

    first.get_by_role("checkbox").check()
    second.locator("td").nth(5).click(button="right")  # outside the selection: it becomes the selection
    menu = page.locator("#actions-menu")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("menuitem")).to_have_text(
        ["Approve", "Configure", "Scan Now", "Abort Scan", "Pause", "Resume", "Update", "Delete"]
    )
    expect(first.get_by_role("checkbox")).not_to_be_checked()
    expect(second.get_by_role("checkbox")).to_be_checked()
    box, row_box = menu.bounding_box(), second.bounding_box()
    assert box and row_box and abs(box["y"] - (row_box["y"] + row_box["height"] / 2)) < row_box["height"]
    page.get_by_role("menuitem", name="Approve").click()
    expect(second.locator(".badge")).to_have_text("Pending Configuration")
    expect(first.locator(".badge")).to_have_text("Pending Approval")  # only the right-clicked row

    # from the keyboard: Shift+F10 on the focused row, Escape closes
    first.get_by_role("checkbox").focus()
    page.keyboard.press("Shift+F10")
    expect(menu).to_be_visible()
    expect(page.get_by_role("menuitem", name="Approve")).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(first.get_by_role("checkbox")).to_be_checked()


def test_a_failed_update_is_rendered_by_the_poll_with_its_reason(
    page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    """The agent refuses the package while the Agents page is open: the poll (agents.js, not a reload)
    turns "updating to" into "update to ... failed" with the agent's reason, as the server renders it."""
    from fastapi.testclient import TestClient

    from otwatch.console.app import create_app
    from tests.conftest import keep_csrf
    from tests.console.test_fleet import _connected_agent
    from tests.console.test_updates import PUB, _upload, otd

    ctx = live_console.ctx
    (ctx.settings.data_dir / "release-keys").mkdir(exist_ok=True)
    (ctx.settings.data_dir / "release-keys" / "release.pub").write_bytes(PUB)
    admin = keep_csrf(TestClient(create_app(ctx), base_url="https://testserver"))  # no lifespan: no workers
    assert (
        admin.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).status_code
        == 200
    )
    agent = _connected_agent(admin, ctx, "gw-refuses")
    _upload(admin, otd("1.1.0"))
    agent.checkin()
    assert admin.post(f"/api/v1/agents/{agent.node_id}/update").status_code in (200, 202)

    sign_in(page, live_console.url)
    cell = page.locator(f'tr[data-id="{agent.node_id}"] td.otd-version')
    expect(cell.get_by_test_id("update-pending")).to_have_text("updating to 1.1.0")
    page.evaluate("window.__notReloaded = true")

    reason = "package refused: no trusted release key on this agent"
    cmd = agent.checkin()["commands"][0]
    agent.checkin(results=[{"id": cmd["id"], "state": "failed", "error": reason}])

    failed = cell.get_by_test_id("update-failed")
    expect(failed).to_have_text("update to 1.1.0 failed")  # within a poll or two
    expect(failed).to_have_attribute("title", reason)
    expect(cell.locator(".update-reason")).to_have_text(reason)
    expect(cell.get_by_test_id("update-pending")).to_have_count(0)
    assert page.evaluate("window.__notReloaded") is True  # drawn by the poll, not a new page

    # and the server renders the same cell on a reload
    polled = cell.inner_text()
    page.reload()
    expect(cell.get_by_test_id("update-failed")).to_have_text("update to 1.1.0 failed")
    assert " ".join(cell.inner_text().split()) == " ".join(polled.split())
