"""An asset's page in Chromium: conversations with their functions, a peer's page one click away, the
asset's alerts and its timeline, from what a real sensor pipeline reported."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from otwatch.console.alerts.service import ingest as ingest_alerts
from otwatch.console.assets.service import ingest, ingest_connections
from otwatch.wire.messages import Report
from tests.browser.conftest import screenshot, sign_in
from tests.console.test_asset_activity import _reports
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser


def test_asset_page_conversations_alerts_timeline(
    page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    url = live_console.url
    _, raw = _reports(tmp_path)
    reports = [Report.model_validate(r) for r in raw]
    _, ident = live_console.enrolled(tmp_path / "s", "sensor")
    with live_console.ctx.db.session() as db:
        for r in reports:
            if r.kind == "assets":
                ingest(db, ident.node_id, r.assets)
        for r in reports:
            if r.kind == "connections":
                ingest_connections(db, ident.node_id, r.connections)
            elif r.kind == "alerts":
                ingest_alerts(db, ident.node_id, r.alerts)
        db.commit()
    conns = [c for r in reports if r.kind == "connections" for c in r.connections]
    modbus = next(c for c in conns if c.protocol == "modbus" and c.functions)
    function = max(modbus.functions, key=lambda k: modbus.functions[k])
    alert = next(a for r in reports if r.kind == "alerts" for a in r.alerts if a.destination_ip)

    sign_in(page, url, then=f"/inventory?q={modbus.server_ip}")
    page.locator("#assets-table").get_by_role("link", name=str(modbus.server_ip), exact=True).click()
    table = page.locator("#conversations-table")
    row = table.locator("tbody tr").filter(has_text="modbus").filter(has_text=str(modbus.client_ip))
    expect(row).to_have_count(1)
    expect(row.locator(".functions")).to_contain_text(function)
    expect(row).to_contain_text("← from peer")
    graph = page.locator("#neighbourhood-graph")  # its neighbourhood, drawn from what the sensor saw
    expect(graph).to_have_attribute("data-state", "ready", timeout=20_000)
    assert int(graph.get_attribute("data-nodes") or 0) >= 2
    screenshot(page, "asset")

    # the peer is one click away, and sees the same conversation from its side
    row.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(str(modbus.client_ip))
    expect(
        page.locator("#conversations-table tbody tr").filter(has_text="modbus").filter(has_text="→ to peer")
    ).not_to_have_count(0)

    # an alerted asset: its alerts, and the alert on its timeline leads to the alert's page
    page.goto(f"{url}/inventory?q={alert.destination_ip}")
    page.locator("#assets-table").get_by_role("link", name=str(alert.destination_ip), exact=True).click()
    expect(page.locator("#asset-alerts")).to_contain_text(alert.title)
    timeline = page.locator("#asset-timeline")
    expect(timeline.locator('li[data-kind="first_seen"]')).to_have_count(1)
    timeline.locator('li[data-kind="alert"]').get_by_role("link", name=alert.title).first.click()
    expect(page).to_have_url(re.compile(r".*/alerts/\w+$"))
