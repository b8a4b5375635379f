"""Duplicated networks in Chromium: define two sites' copies of a range on the Networks page (a
refusal shown at the form), hand one over, see the delete guard's message on the Agents page, delete
the copy and then the agent."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser

RANGE = "10.50.5.0/24"


def test_define_copies_and_the_agent_delete_guard(
    page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    admin = live_console.admin()
    admin.post("/api/v1/networks", json={"cidr": "10.50.0.0/16"}).raise_for_status()
    ids = {}
    for name in ("gw-a", "gw-b"):
        _, ident = live_console.enrolled(tmp_path / name, "agent")
        admin.post(f"/api/v1/agents/{ident.node_id}/approve").raise_for_status()
        cfg = {"name": name, "active_query_networks": ["10.50.9.0/24"]}
        admin.put(f"/api/v1/agents/{ident.node_id}/configuration", json=cfg).raise_for_status()
        ids[name] = ident.node_id
    page.on("dialog", lambda d: d.accept())

    sign_in(page, live_console.url, then="/settings/networks")
    form = page.locator("#duplicated-form")
    form.get_by_label("Duplicated range (CIDR)").fill(RANGE)
    form.get_by_label("Site").fill("Plant A")
    form.get_by_label("Agent that sees this copy").select_option(label="gw-a")
    form.get_by_role("button", name="Add copy").click()
    expect(page.locator("#flash")).to_have_text("Duplicated network copy added")
    table = page.locator("#duplicated-table")
    expect(table.locator(f'tr[data-cidr="{RANGE}"]')).to_have_count(1)
    expect(table).to_contain_text("1 copy")

    # the same site twice is refused at the form, with the reason
    form = page.locator("#duplicated-form")
    form.get_by_label("Duplicated range (CIDR)").fill(RANGE)
    form.get_by_label("Site").fill("Plant A")
    form.get_by_label("Agent that sees this copy").select_option(label="gw-b")
    form.get_by_role("button", name="Add copy").click()
    expect(form.locator(".form-error")).to_have_text(f"{RANGE} already has a copy at Plant A")
    expect(form.get_by_label("Site")).to_have_attribute("aria-invalid", "true")
    form.get_by_label("Site").fill("Plant B")
    form.get_by_role("button", name="Add copy").click()
    expect(page.locator("#flash")).to_have_text("Duplicated network copy added")
    rows = page.locator(f'#duplicated-table tr[data-cidr="{RANGE}"]')
    expect(rows).to_have_count(2)
    expect(page.locator("#duplicated-table")).not_to_contain_text("1 copy")
    screenshot(page, "duplicated-networks")

    # Agents > Delete on gw-a: refused with the seed's message, shown on the page
    page.goto(live_console.url + "/agents")
    row = page.locator(f'tr[data-id="{ids["gw-a"]}"]')
    expect(row).to_contain_text(f"10.50.9.0/24, {RANGE} (duplicated, Plant A)")  # what it scans
    row.locator("td").nth(2).click(button="right")
    page.get_by_role("menuitem", name="Delete").click()
    flash = page.locator("#flash")
    expect(flash).to_contain_text("If there are associated duplicated networks, you must first delete them")
    expect(flash).to_contain_text(f"{RANGE} at Plant A")
    expect(flash).to_have_class("flash flash-error")
    expect(row).to_be_visible()

    # hand Plant A's copy to gw-b? it already sees Plant B's: refused in the row
    page.goto(live_console.url + "/settings/networks")
    plant_a = page.locator(f'#duplicated-table tr[data-cidr="{RANGE}"]', has_text="Plant A")
    plant_a.get_by_label(f"Agent of {RANGE} at Plant A").select_option(label="gw-b")
    plant_a.get_by_role("button", name="Hand over").click()
    expect(plant_a.locator(".form-error")).to_contain_text("already sees a copy of")

    # delete Plant A's copy, then gw-a goes
    plant_a.get_by_role("button", name=f"Delete the copy of {RANGE} at Plant A").click()
    expect(page.locator("#flash")).to_have_text("Delete: done")
    expect(page.locator(f'#duplicated-table tr[data-cidr="{RANGE}"]')).to_have_count(1)
    page.goto(live_console.url + "/agents")
    row = page.locator(f'tr[data-id="{ids["gw-a"]}"]')
    row.locator("td").nth(2).click(button="right")
    page.get_by_role("menuitem", name="Delete").click()
    expect(page.locator("#flash")).to_have_text("Delete: done for 1 agent(s)")
    expect(row).to_have_count(0)
    admin.close()
