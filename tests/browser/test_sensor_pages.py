"""Drive Sites and Sensors, the sensor Overview and Alerts in Chromium, against a real TLS console.

A sensor pairs with ``otwatch.wire.client.enroll`` and reports statistics and alerts in a check-in,
as the real sensor's reporter does; a heartbeat keeps it Connected while the browser works.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from otwatch import __version__
from otwatch.console.db import utcnow
from otwatch.console.fleet.models import Node
from otwatch.wire.client import ConsoleLink, Credentials, NodeState, enroll
from otwatch.wire.messages import AlertReport, CheckinRequest, Report
from tests.browser.conftest import screenshot, sign_in
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser

T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
STATS: dict[str, Any] = {
    "traffic_per_hour": [
        {
            "hour": (T0 - timedelta(hours=h)).isoformat(),
            "mbps": mbps,
            "bytes": int(mbps * 450e6),
            "packets": 1000,
        }
        for h, mbps in zip(range(7, -1, -1), (0.8, 1.1, 0.9, 2.4, 3.1, 2.2, 1.7, 2.9), strict=True)
    ],
    "top_ot_protocols": [
        {"protocol": "modbus", "devices": 7},
        {"protocol": "s7comm", "devices": 4},
        {"protocol": "enip", "devices": 3},
        {"protocol": "dnp3", "devices": 2},
        {"protocol": "bacnet", "devices": 1},
    ],
    "traffic_by_port": [
        {"port": "tcp/502", "bytes": 52_000_000},
        {"port": "tcp/102", "bytes": 21_000_000},
        {"port": "tcp/44818", "bytes": 12_500_000},
        {"port": "udp/47808", "bytes": 4_000_000},
        {"port": "tcp/443", "bytes": 1_200_000},
    ],
    "top_open_alerts": [],
    "summary": {"packets": 1_523_004, "bytes": 90_700_000, "assets": 17, "learning": True},
}
PCAP = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")


def _alert(key: str, severity: str, title: str, **over: Any) -> AlertReport:
    fields: dict[str, Any] = {
        "key": key, "code": "S7_STOP", "engine": "Operational", "severity": severity, "title": title,
        "description": "10.0.0.5 sent a STOP command to the PLC at 10.0.0.10.", "protocol": "s7comm",
        "source_ip": "10.0.0.5", "destination_ip": "10.0.0.10", "first_seen": T0, "last_seen": T0,
        "count": 3, "details": {"function": "PLC Stop"}, "pcap_b64": base64.b64encode(PCAP).decode(),
    }  # fmt: skip
    fields.update(over)
    return AlertReport(**fields)


def _checkin(link: ConsoleLink, config_version: int, reports: list[Report] | None = None) -> int:
    resp = link.checkin(
        CheckinRequest(
            client_time=datetime.now(UTC),
            version=__version__,
            config_version=config_version,
            reports=reports or [],
        )
    )
    return resp.config_version if resp.config is not None else config_version


@contextmanager
def _heartbeat(link: ConsoleLink, config_version: int) -> Iterator[None]:
    """Check in every half second (acknowledging new configuration) so the sensor stays Connected."""
    stop = threading.Event()

    def beat() -> None:
        version = config_version
        while not stop.wait(0.5):
            version = _checkin(link, version)

    t = threading.Thread(target=beat, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(5)


def _pair_sensor(live: LiveConsole, directory: Path) -> tuple[str, ConsoleLink]:
    api = live.admin()
    try:
        key = api.post("/api/v1/pairing-keys", json={"max_uses": 20, "description": "browser sensor"}).json()[
            "pairing_key"
        ]
        ident, _ = enroll(NodeState(directory), "sensor", Credentials(pairing_key=key), version=__version__)
        assert api.post(f"/api/v1/sensors/{ident.node_id}/approve").status_code == 200
    finally:
        api.close()
    return ident.node_id, ConsoleLink(NodeState(directory))


def test_sensor_overview_site_management_and_alerts(
    page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    url = live_console.url
    sid, link = _pair_sensor(live_console, tmp_path / "s1")
    quiet_id, quiet = _pair_sensor(live_console, tmp_path / "s2")
    alerts = [
        _alert(uuid.uuid4().hex[:12], "Critical", "Unauthorized PLC Stop Command"),
        _alert(uuid.uuid4().hex[:12], "Major", "Modbus Write to Unknown Register", code="MB_WRITE",
               protocol="modbus", engine="Policy Violation", source_ip="10.0.0.7", pcap_b64=None),
    ]  # fmt: skip
    version = _checkin(
        link,
        0,
        [
            Report(id=uuid.uuid4().hex, kind="stats", stats=STATS),
            Report(id=uuid.uuid4().hex, kind="alerts", alerts=alerts),
        ],
    )
    _checkin(quiet, 0)
    quiet.close()
    with live_console.ctx.db.session() as db:  # the second sensor went silent ten minutes ago
        node = db.get(Node, quiet_id)
        assert node is not None
        node.last_seen = utcnow() - timedelta(minutes=10)
        db.commit()
    api = live_console.admin()
    try:
        with _heartbeat(link, version):
            sign_in(page, url)
            nav = page.get_by_role("navigation", name="Main")

            # ---- Sites and Sensors (Site Management)
            nav.get_by_role("link", name="Sites and Sensors").click()
            expect(page).to_have_url(url + "/sensors")
            expect(page.get_by_role("heading", name="Site Management")).to_be_visible()
            row = page.locator(f'tr[data-id="{sid}"]')
            quiet_row = page.locator(f'tr[data-id="{quiet_id}"]')
            expect(row.locator(".badge")).to_have_text("Connected")
            expect(row).to_contain_text(__version__)
            expect(quiet_row.locator(".badge")).to_have_text("Disconnected")
            expect(quiet_row.locator(".reason")).to_contain_text(
                "Sensor not communicating with on-premises management console."
            )

            # ---- the sensor Overview: five widgets, three charts drawn from the reported data
            row.locator(f'a[href="/sensors/{sid}"]').click()
            expect(page).to_have_url(url + f"/sensors/{sid}")
            for widget in (
                "General Settings",
                "Traffic Monitoring",
                "Top 5 OT Protocols",
                "Traffic By Port",
                "Top open alerts",
            ):
                expect(page.get_by_role("heading", name=widget, exact=True)).to_be_visible()
            expect(page.locator('[data-chart="traffic"] svg circle.point')).to_have_count(8)
            expect(page.locator('[data-chart="traffic"] svg polyline.series')).to_have_count(1)
            expect(page.locator('[data-chart="protocols"] svg rect.bar')).to_have_count(5)
            expect(page.locator('[data-chart="protocols"] svg text.bar-value')).to_have_text(
                ["7", "4", "3", "2", "1"]
            )
            expect(page.locator('[data-chart="ports"] svg path.slice')).to_have_count(5)
            expect(page.get_by_role("img", name="Top 5 OT Protocols (devices)")).to_be_visible()
            bar_heights = page.locator('[data-chart="protocols"] svg rect.bar').evaluate_all(
                "bars => bars.map(b => b.getBBox().height)"
            )
            assert bar_heights == sorted(bar_heights, reverse=True) and bar_heights[0] > 0
            assert bar_heights[1] / bar_heights[0] == pytest.approx(4 / 7, rel=0.02)
            expect(page.locator("#top-alerts tbody tr")).to_have_count(2)
            expect(page.locator("#top-alerts tbody tr").first).to_contain_text(
                "Unauthorized PLC Stop Command"
            )
            expect(page.get_by_test_id("connectivity")).to_contain_text("Connected")

            # ---- Learning Mode off from the General Settings widget; it persists
            learning = page.get_by_role("switch", name=f"Learning Mode of {row_name(api, sid)}")
            expect(learning).to_be_checked()
            learning.focus()
            page.keyboard.press("Space")  # keyboard works
            expect(page.locator("#flash")).to_contain_text("Learning Mode of")
            expect(page.locator("#flash")).to_contain_text(": off")
            expect(learning).not_to_be_checked()
            expect(learning).to_be_focused()
            assert api.get(f"/api/v1/sensors/{sid}").json()["settings"]["learning"] is False
            # the heartbeat picks the new configuration up: Preparing Connection -> Connected
            deadline = time.monotonic() + 10
            while api.get(f"/api/v1/sensors/{sid}").json()["status"] != "Connected":
                assert time.monotonic() < deadline, "the sensor never acknowledged its configuration"
                time.sleep(0.2)
            page.reload()
            switch = page.get_by_role("switch", name=f"Learning Mode of {row_name(api, sid)}")
            expect(switch).not_to_be_checked()
            expect(page.get_by_test_id("connectivity")).to_contain_text("Connected")
            screenshot(page, "sensor-overview")

            # ---- open the top alert and acknowledge it
            page.locator("#top-alerts").get_by_role("link", name="Unauthorized PLC Stop Command").click()
            expect(page.get_by_role("heading", name="Unauthorized PLC Stop Command")).to_be_visible()
            expect(page.get_by_role("link", name="10.0.0.5")).to_have_attribute(
                "href", "/inventory?q=10.0.0.5"
            )
            expect(page.get_by_role("link", name="Download PCAP")).to_be_visible()
            page.get_by_role("button", name="Acknowledge").click()
            expect(page.locator("#flash")).to_have_text("Acknowledge: done")
            expect(page.get_by_test_id("alert-status")).to_have_text("Acknowledged")
            expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
            expect(page.get_by_role("button", name="Reopen")).to_be_visible()
            acked = api.get("/api/v1/alerts?status=acknowledged").json()["items"]
            assert [a["title"] for a in acked] == ["Unauthorized PLC Stop Command"] and acked[0][
                "status_by"
            ] == "admin"

            # ---- the Alerts list: open by default; select the remaining one and close it
            nav.get_by_role("link", name="Alerts").click()
            expect(page).to_have_url(url + "/alerts")
            rows = page.locator("#alerts-table tbody tr[data-id]")
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("Modbus Write to Unknown Register")
            page.get_by_label("Status").select_option("any")
            page.get_by_role("button", name="Apply").click()
            expect(rows).to_have_count(2)
            screenshot(page, "alerts")
            page.get_by_label("Select alert Modbus Write to Unknown Register").check()
            expect(page.locator("#alerts-selected")).to_have_text("1 selected")
            page.get_by_role("button", name="Close", exact=True).click()
            expect(page.locator("#flash")).to_have_text("Close: 1 succeeded, 0 failed")
            expect(page.locator("#alerts-table")).to_contain_text("Closed")
            assert api.get("/api/v1/alerts?status=open").json()["total"] == 0

            # ---- back to Site Management: Bulk Actions > Learning Mode On for both sensors
            nav.get_by_role("link", name="Sites and Sensors").click()
            row = page.locator(f'tr[data-id="{sid}"]')
            expect(row.get_by_role("switch").first).not_to_be_checked()  # Learning Mode is the first switch
            page.get_by_label("Select all sensors").check()
            page.get_by_role("button", name="Bulk Actions").click()
            page.get_by_role("menuitem", name="Learning Mode On").click()
            expect(page.locator("#flash")).to_have_text("Learning Mode On: 2 succeeded, 0 failed")
            expect(row.get_by_role("switch").first).to_be_checked()
            # Sensor Engine Configuration: Malware off on both, the rest untouched
            page.get_by_role("button", name="Bulk Actions").click()
            page.get_by_role("menuitem", name="Sensor Engine Configuration").click()
            page.locator("#engines-panel").get_by_label("Malware", exact=True).select_option("off")
            page.get_by_role("button", name="Save Changes").click()
            expect(page.locator("#flash")).to_have_text("Sensor Engine Configuration: 2 succeeded, 0 failed")
            for node_id in (sid, quiet_id):
                engines = api.get(f"/api/v1/sensors/{node_id}").json()["settings"]["engines"]
                assert engines == ["Protocol Violation", "Policy Violation", "Anomaly", "Operational"]
            expect(page.locator(f'tr[data-id="{sid}"] input[data-engine="Malware"]')).not_to_be_checked()
            expect(page.locator(f'tr[data-id="{sid}"] .badge')).to_have_text("Connected")
            screenshot(page, "sensors")

            # a sensor pairing while the page is open appears without a reload; Approve it
            key = api.post("/api/v1/pairing-keys", json={"max_uses": 20, "description": "late"}).json()[
                "pairing_key"
            ]
            late, _ = enroll(NodeState(tmp_path / "s3"), "sensor", Credentials(pairing_key=key))
            late_row = page.locator(f'tr[data-id="{late.node_id}"]')
            expect(late_row.locator(".badge")).to_have_text("Pending Approval")
            expect(page.locator(f'tr[data-id="{sid}"] input.row-check')).to_be_checked()  # selection kept
            for node_id in (sid, quiet_id):
                page.locator(f'tr[data-id="{node_id}"] input.row-check').uncheck()
            expect(page.locator("#sensors-selected")).to_have_text("0 selected")
            late_row.locator("input.row-check").check()
            page.get_by_role("button", name="Bulk Actions").click()
            page.get_by_role("menuitem", name="Approve").click()
            expect(page.locator("#flash")).to_have_text("Approve: 1 succeeded, 0 failed")
            expect(late_row.locator(".badge")).to_have_text("Waiting for Connection")
    finally:
        api.close()
        link.close()


def row_name(api: httpx.Client, node_id: str) -> str:
    node = api.get(f"/api/v1/sensors/{node_id}").json()
    return str(node["name"] or node["ip"])
