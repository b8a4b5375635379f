"""Agents in Chromium: Pause and Resume from the row's Actions menu (right-click) and from Bulk Actions;
the badge follows and the agent itself learns it is paused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from otwatch.agent.node import AgentNode
from tests.browser.conftest import sign_in
from tests.e2e.conftest import LiveConsole
from tests.e2e.test_pairing_e2e import status, wait_for

pytestmark = pytest.mark.browser


@contextmanager
def _running_agents(live: LiveConsole, tmp_path: Path, n: int) -> Iterator[list[tuple[str, AgentNode]]]:
    admin = live.admin()
    admin.post("/api/v1/networks", json={"cidr": "127.0.0.0/8"}).raise_for_status()
    out: list[tuple[str, AgentNode]] = []
    threads = []
    try:
        for i in range(n):
            state, ident = live.enrolled(tmp_path / f"agent{i}", "agent")
            admin.post(f"/api/v1/agents/{ident.node_id}/approve").raise_for_status()
            cfg = {"name": f"gw-{i}", "active_query_networks": [f"127.0.0.{100 + i}/32"]}
            admin.put(f"/api/v1/agents/{ident.node_id}/configuration", json=cfg).raise_for_status()
            node = AgentNode(state, longpoll=1.0)
            t = threading.Thread(target=node.run, daemon=True)
            t.start()
            threads.append(t)
            out.append((ident.node_id, node))
        for node_id, _ in out:
            wait_for(lambda node_id=node_id: status(admin, node_id) == "Connected")  # type: ignore[misc]
        yield out
    finally:
        for _, node in out:
            node.stop()
        for t in threads:
            t.join(timeout=10)
        admin.close()


def test_pause_and_resume_from_the_agents_menus(
    page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    with _running_agents(live_console, tmp_path, 2) as agents:
        (a, node_a), (b, node_b) = agents
        sign_in(page, live_console.url)
        row_a, row_b = page.locator(f'tr[data-id="{a}"]'), page.locator(f'tr[data-id="{b}"]')
        expect(row_a.locator(".badge")).to_have_text("Connected")

        # right-click a row: its Actions menu has Pause
        row_a.locator("td").nth(2).click(button="right")
        page.get_by_role("menuitem", name="Pause").click()
        expect(page.locator("#flash")).to_have_text("Pause: done for 1 agent(s)")
        expect(row_a.locator(".badge")).to_have_text("Paused")
        wait_for(lambda: node_a.paused, timeout=10)
        expect(row_b.locator(".badge")).to_have_text("Connected")

        # Actions > Resume on the selected row
        page.locator("#actions-btn").click()
        page.locator("#actions-menu").get_by_role("menuitem", name="Resume").click()
        expect(row_a.locator(".badge")).to_have_text("Connected")
        wait_for(lambda: not node_a.paused, timeout=10)

        # Bulk Actions > Pause, then Resume, for both
        page.get_by_label("Select all agents").check()
        page.locator("#bulk-btn").click()
        page.locator("#bulk-menu").get_by_role("menuitem", name="Pause").click()
        expect(page.locator("#flash")).to_have_text("Pause: 2 succeeded, 0 failed")
        expect(row_a.locator(".badge")).to_have_text("Paused")
        expect(row_b.locator(".badge")).to_have_text("Paused")
        wait_for(lambda: node_a.paused and node_b.paused, timeout=10)
        page.locator("#bulk-btn").click()
        page.locator("#bulk-menu").get_by_role("menuitem", name="Resume").click()
        expect(page.locator("#flash")).to_have_text("Resume: 2 succeeded, 0 failed")
        expect(row_b.locator(".badge")).to_have_text("Connected")
