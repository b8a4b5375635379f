"""Drive the settings, Configure Agent and Inventory pages in Chromium.

Monitored Networks (with an inline validation error) -> Credentials -> Agents: Auto-Approve toggle,
Actions > Configure (an error for a network outside the Monitored Networks, then a good
configuration), Bulk Actions disabled for one agent -> Inventory through the Reported Assets link.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from otwatch.console.assets.service import ingest, parse_reports
from otwatch.wire.client import Credentials, NodeState, enroll
from tests.browser.conftest import screenshot, sign_in
from tests.console.test_assets import HOST, PLC, SWITCH
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser


def _shot(page: Page, name: str) -> None:
    screenshot(page, name)


def test_configure_agent_after_adding_a_monitored_network(
    page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    url = live_console.url
    sign_in(page, url)
    nav = page.get_by_role("navigation", name="Main")

    # Auto-Approve Agent Pairing Requests: a new agent skips Pending Approval
    toggle = page.get_by_role("switch", name="Auto-Approve Agent Pairing Requests")
    expect(toggle).not_to_be_checked()
    toggle.check()
    expect(page.locator("#flash")).to_have_text("Auto-Approve Agent Pairing Requests: on")
    api = live_console.admin()
    try:
        assert api.get("/api/v1/fleet/settings").json()["auto_approve"] is True
        key = api.post("/api/v1/pairing-keys", json={"max_uses": 20, "description": "browser"}).json()[
            "pairing_key"
        ]
    finally:
        api.close()
    ident, _ = enroll(NodeState(tmp_path / "a"), "agent", Credentials(pairing_key=key))
    row = page.locator(f'tr[data-id="{ident.node_id}"]')
    expect(row.locator(".badge")).to_have_text("Pending Configuration")

    # Environment Settings > Network Definitions > Monitored Networks
    nav.get_by_role("link", name="Monitored Networks").click()
    expect(page).to_have_url(url + "/settings/networks")
    page.get_by_label("Network (CIDR)").fill("10.30.1.7/16")
    page.get_by_role("button", name="Add", exact=True).click()
    error = page.locator("#network-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("host bits set; did you mean 10.30.0.0/16?")
    expect(page.get_by_label("Network (CIDR)")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Network (CIDR)").fill("10.30.0.0/16")
    expect(error).to_be_hidden()  # editing the field clears the message
    page.get_by_label("Description").fill("plant floor")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#flash")).to_have_text("Network added")
    expect(page.locator("#networks-table")).to_contain_text("10.30.0.0/16")
    expect(page.locator("#networks-table")).to_contain_text("plant floor")
    _shot(page, "networks")

    # Active Queries > Credentials: SNMPv3 fields appear for the v3 type only
    nav.get_by_role("link", name="Credentials").click()
    page.get_by_label("Name", exact=True).fill("plant-v3")
    page.get_by_label("Type").select_option("snmp_v3")
    expect(page.get_by_label("Community string")).to_be_hidden()
    page.get_by_label("Username").fill("opsuser")
    page.get_by_label("Authentication password").fill("auth-secret-1")
    page.get_by_label("Privacy protocol").select_option("AES")
    page.get_by_label("Privacy password").fill("priv-secret-1")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#credentials-table")).to_contain_text("plant-v3")
    expect(page.locator("#credentials-table")).to_contain_text("SNMP v3")
    assert "auth-secret-1" not in page.content()

    # Data Sources > Agents: Actions > Configure
    nav.get_by_role("link", name="Agents").click()
    row.get_by_role("checkbox").check()
    page.locator("#actions-btn").click()
    page.get_by_role("menuitem", name="Configure").click()
    panel = page.locator("#configure-panel")
    expect(panel).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    page.get_by_label("Name", exact=True).fill("gw-browser")
    page.get_by_label("Active Query networks").fill("192.168.7.0/24")
    page.get_by_role("button", name="Save").click()
    cfg_error = page.locator("#configure-error")
    expect(cfg_error).to_contain_text("must lie inside the Monitored Networks")
    expect(cfg_error).to_contain_text("192.168.7.0/24")
    expect(page.get_by_label("Active Query networks")).to_have_attribute("aria-invalid", "true")
    expect(row.locator(".badge")).to_have_text("Pending Configuration")

    page.get_by_label("Active Query networks").fill("10.30.1.0/24\n10.30.2.0/24")
    expect(cfg_error).to_be_hidden()
    expect(page.locator("#cfg-every")).to_be_disabled()
    page.get_by_role("switch", name="Run Schedule Scan").check()
    expect(page.locator("#cfg-every")).to_be_enabled()
    page.locator("#cfg-every").fill("2")
    page.locator("#cfg-unit").select_option("hours")
    page.get_by_label("Credentials", exact=True).select_option(label="plant-v3")
    _shot(page, "agents-configure")
    page.get_by_role("button", name="Save").click()
    expect(panel).to_be_hidden()
    expect(row.locator(".badge")).to_have_text(re.compile("^(Waiting for Connection|Preparing Connection)$"))
    expect(row).to_contain_text("gw-browser")
    expect(row).to_contain_text("10.30.1.0/24, 10.30.2.0/24")
    expect(row).to_contain_text("Every 2 hours")
    expect(row).to_contain_text("plant-v3")

    # Configure again: the panel shows the saved configuration
    expect(row.get_by_role("checkbox")).to_be_checked()
    page.locator("#actions-btn").click()
    page.get_by_role("menuitem", name="Configure").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("gw-browser")
    expect(page.locator("#cfg-unit")).to_have_value("hours")
    page.get_by_role("button", name="Cancel").click()
    expect(panel).to_be_hidden()

    # Bulk Actions needs more than one agent selected (seed 000); with running agents, Bulk Actions >
    # Set Schedule Scan is driven in test_agents_menus_page.py
    expect(page.locator("#bulk-btn")).to_be_disabled()

    # Inventory, reached from the agent's Reported Assets link; filters narrow the rows
    with live_console.ctx.db.session() as db:
        ingest(db, ident.node_id, parse_reports([PLC, SWITCH, HOST]))
        db.commit()
    row.locator(f'a[href="/inventory?source={ident.node_id}"]').click()
    expect(page).to_have_url(url + f"/inventory?source={ident.node_id}")
    assets = page.locator("#assets-table tbody tr[data-id]")
    expect(assets).to_have_count(3)
    expect(page.get_by_label("Discovery source")).to_have_value(ident.node_id)
    page.get_by_label("Protocol").select_option("s7comm")
    page.get_by_role("button", name="Apply").click()
    expect(assets).to_have_count(1)
    expect(assets.first).to_contain_text("Siemens")
    page.get_by_role("link", name="Clear").click()
    expect(assets).to_have_count(3)
    _shot(page, "inventory")
    page.get_by_role("link", name="10.30.1.10").click()
    expect(page.get_by_role("heading", name="10.30.1.10", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="gw-browser")).to_have_attribute(
        "href", f"/agents#agent-{ident.node_id}"
    )


def test_users_and_api_keys_pages(page: Page, live_console: LiveConsole) -> None:
    url = live_console.url
    sign_in(page, url)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="API Keys").click()
    page.get_by_label("Name").fill("nightly export")
    page.get_by_role("button", name="Generate").click()
    key_box = page.locator("#apikey-key")
    expect(key_box).to_be_focused()
    key = key_box.input_value()
    assert len(key) > 20
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#flash")).to_have_text("Copied to the clipboard")
    page.get_by_role("button", name="Done").click()
    table = page.locator("#apikeys-table")
    expect(table).to_contain_text("nightly export")
    assert key not in page.content()  # shown once
    page.once("dialog", lambda d: d.accept())
    table.get_by_role("button", name="Revoke nightly export").click()
    expect(table).to_contain_text("Revoked")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users and Roles").click()
    page.get_by_label("Username").fill("bad name")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Add User").click()  # the browser's own validation stops this
    expect(page.locator("#users-table")).not_to_contain_text("bad name")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-password-1")
    page.locator("#user-role").select_option("Security Analyst")
    page.get_by_role("button", name="Add User").click()
    alice = page.locator('#users-table tr[data-username="alice"]')
    expect(alice).to_contain_text("Active")
    expect(alice.get_by_label("Role of alice")).to_have_value("Security Analyst")
    alice.get_by_label("Role of alice").select_option("Read Only")
    alice.get_by_role("button", name="Change role").click()
    expect(page.locator("#flash")).to_have_text("Role changed")
    expect(alice.get_by_label("Role of alice")).to_have_value("Read Only")
    page.once("dialog", lambda d: d.accept())
    alice.get_by_role("button", name="Deactivate alice").click()
    expect(alice).to_contain_text("Inactive")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit Log").click()
    expect(page.locator("#audit-table")).to_contain_text("user.updated")
