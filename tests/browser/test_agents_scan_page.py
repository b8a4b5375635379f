"""Chromium on the Agents page with two real agents: Scan Now -> Scanning -> back, and bulk actions."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from otwatch.agent.node import AgentNode
from otwatch.wire.client import Credentials, NodeState, enroll
from tests.browser.conftest import screenshot, sign_in
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser


def test_scan_now_and_bulk_actions(
    browser: Browser, page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    admin = live_console.admin()
    admin.post("/api/v1/networks", json={"cidr": "127.0.0.0/8"}).raise_for_status()
    admin.patch("/api/v1/fleet/settings", json={"auto_approve": True}).raise_for_status()
    key = admin.post("/api/v1/pairing-keys", json={"max_uses": 20}).json()["pairing_key"]
    nodes, threads, ids = [], [], []
    for i in range(2):
        ident, _ = enroll(NodeState(tmp_path / f"a{i}"), "agent", Credentials(pairing_key=key))
        # a deliberately slow scan (5 packets/s over a /30) so Scanning is visible in the table
        cfg = {
            "name": f"gw-{i}",
            "active_query_networks": [f"127.0.0.{96 + 4 * i}/30"],
            "policy": {"rate_pps": 5, "per_host_pps": 5},
        }
        admin.put(f"/api/v1/agents/{ident.node_id}/configuration", json=cfg).raise_for_status()
        node = AgentNode(NodeState(tmp_path / f"a{i}"), longpoll=2.0)
        t = threading.Thread(target=node.run, daemon=True)
        t.start()
        nodes.append(node)
        threads.append(t)
        ids.append(ident.node_id)
    try:
        sign_in(page, live_console.url)
        rows = [page.locator(f'tr[data-id="{i}"]') for i in ids]
        for row in rows:
            expect(row.locator(".badge")).to_have_text("Connected", timeout=20_000)

        rows[0].get_by_role("checkbox").check()
        page.locator("#actions-btn").click()
        page.get_by_role("menuitem", name="Scan Now").click()
        expect(rows[0].locator(".badge")).to_have_text("Scanning", timeout=20_000)
        screenshot(page, "agents-scanning")
        expect(rows[0].locator(".badge")).to_have_text("Connected", timeout=90_000)
        expect(rows[0].locator("td").nth(3)).to_have_text("Completed")

        rows[1].get_by_role("checkbox").check()  # both selected now
        page.locator("#bulk-btn").click()
        page.get_by_role("menuitem", name="Enable Scheduled Scan").click()
        for row in rows:
            expect(row.locator("td").nth(7)).to_have_text("Every 1 minute", timeout=10_000)
        page.locator("#bulk-btn").click()
        page.get_by_role("menuitem", name="Disable Scheduled Scan").click()
        for row in rows:
            expect(row.locator("td").nth(7)).to_have_text("Disabled", timeout=10_000)
    finally:
        for node in nodes:
            node.stop()
        for t in threads:
            t.join(timeout=10)
