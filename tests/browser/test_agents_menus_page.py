"""Agents in Chromium, with running agents: Pause and Resume from the row's Actions menu (right-click)
and from Bulk Actions; Bulk Actions only with more than one agent selected; the Update OTD Version
dialog; bulk schedules refused for an agent that is not Connected; Host Asset opens the page of the
asset the agent reported as its own host."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from otwatch.agent import hostinfo
from otwatch.agent.node import AgentNode
from otwatch.wire import package
from tests.browser.conftest import screenshot, sign_in
from tests.e2e.conftest import LiveConsole
from tests.e2e.test_pairing_e2e import status, wait_for

pytestmark = pytest.mark.browser


@contextmanager
def _running_agents(live: LiveConsole, tmp_path: Path, n: int) -> Iterator[list[tuple[str, AgentNode]]]:
    """``n`` paired, configured, running agents (they pin the console's release keys at pairing)."""
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


def test_update_dialog_bulk_rules_and_host_asset(
    page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    priv, pub = package.generate_release_key()
    keys = live_console.ctx.settings.data_dir / "release-keys"
    keys.mkdir()
    (keys / "release.pub").write_bytes(pub)
    otd = package.build(
        "otd", "1.1.0", "1.0.0", {"engine.json": json.dumps({"version": "1.1.0", "ports": [502]}).encode()},
        package.load_private(priv),
    )  # fmt: skip
    with _running_agents(live_console, tmp_path, 3) as agents:
        (a, _), (b, _), (c, _) = agents
        api = live_console.admin()
        try:
            api.post("/api/v1/updates", files={"file": ("otd.tar", otd)}).raise_for_status()
            api.post(f"/api/v1/agents/{c}/pause").raise_for_status()
        finally:
            api.close()
        sign_in(page, live_console.url)
        rows = {i: page.locator(f'tr[data-id="{i}"]') for i in (a, b, c)}
        bulk = page.locator("#bulk-btn")

        # Bulk Actions: only with more than one agent selected
        expect(bulk).to_be_disabled()
        rows[a].get_by_role("checkbox").check()
        expect(bulk).to_be_disabled()
        expect(bulk).to_have_attribute("title", "Select more than one agent")
        expect(page.locator("#actions-btn")).to_be_enabled()

        # Actions > Update asks first: Update OTD Version
        page.locator("#actions-btn").click()
        page.locator("#actions-menu").get_by_role("menuitem", name="Update").click()
        dialog = page.get_by_role("dialog", name="Update OTD Version")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("to OTD 1.1.0, the newest uploaded version?")
        expect(dialog.get_by_role("button", name="Update")).to_be_focused()
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_be_hidden()
        assert _engine(live_console, a) == "1.0.0"  # nothing was asked of the agent
        page.locator("#actions-btn").click()
        page.locator("#actions-menu").get_by_role("menuitem", name="Update").click()
        screenshot(page, "agents-update-otd")
        dialog.get_by_role("button", name="Update").click()
        expect(page.locator("#flash")).to_have_text("Update OTD Version: 1 succeeded, 0 failed")
        wait_for(lambda: _engine(live_console, a) == "1.1.0", timeout=30)

        # Bulk Actions > Set Schedule Scan: the paused agent is refused, the Connected one takes it
        rows[a].get_by_role("checkbox").uncheck()
        rows[b].get_by_role("checkbox").check()
        rows[c].get_by_role("checkbox").check()
        expect(bulk).to_be_enabled()
        bulk.click()
        page.locator("#bulk-menu").get_by_role("menuitem", name="Set Schedule Scan").click()
        page.locator("#sched-every").fill("2")
        page.locator("#sched-unit").select_option("hours")
        page.locator("#schedule-panel").get_by_role("button", name="Save").click()
        expect(page.locator("#schedule-error")).to_have_text(
            "Set Schedule Scan: 1 succeeded, 1 failed (the agent is Paused; bulk schedules need a Connected agent)"
        )
        expect(rows[b]).to_contain_text("Every 2 hours")
        expect(rows[c].locator("td").nth(7)).to_have_text("Disabled")

        # Host Asset: a direct link to the asset of the agent's own host (the running agent reported
        # this machine's interfaces: hostinfo)
        link = rows[b].locator("td.host-asset a")
        expect(link).to_have_attribute("href", re.compile(r"^/inventory/[0-9a-f]+$"))
        link.click()
        expect(page).to_have_url(re.compile(r"/inventory/[0-9a-f]+$"))
        expect(page.get_by_role("heading", name=socket.gethostname(), exact=True)).to_be_visible()
        own = [a["mac"] for a in hostinfo.host_assets()]
        expect(page.locator("body")).to_contain_text(re.compile("|".join(map(re.escape, own))))


def _engine(live: LiveConsole, agent_id: str) -> str:
    api = live.admin()
    try:
        return str(api.get(f"/api/v1/agents/{agent_id}").json()["engine_version"])
    finally:
        api.close()
