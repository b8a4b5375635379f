"""Sites and Sensors > Push settings in Chromium: choose a setting and a source sensor (its values shown
read-only), Duplicate, Save to all other sensors -> a result per sensor; the connected one is
acknowledged, the one that never connected is queued."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from otwatch.sensor.node.managed import SensorNode
from otwatch.wire.client import Credentials, NodeState, enroll
from tests.browser.conftest import screenshot, sign_in
from tests.e2e.conftest import LiveConsole
from tests.e2e.test_pairing_e2e import wait_for

pytestmark = pytest.mark.browser


def test_push_port_aliases_from_one_sensor_to_the_others(
    page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    api = live_console.admin()
    api.patch("/api/v1/fleet/settings", json={"auto_approve": True}).raise_for_status()
    key = api.post("/api/v1/pairing-keys", json={"max_uses": 20, "description": "browser"}).json()[
        "pairing_key"
    ]
    ids = {}
    for name in ("a", "b", "c"):
        ident, _ = enroll(NodeState(tmp_path / name), "sensor", Credentials(pairing_key=key))
        ids[name] = ident.node_id
    r = api.patch(
        f"/api/v1/sensors/{ids['a']}/configuration",
        json={"port_aliases": {"502": "plc-modbus"}, "mail_server": {"address": "mail.plant.local",
              "sender": "ot@plant.local", "ssl": "starttls"}},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    node_b = SensorNode(NodeState(tmp_path / "b"), [], report_every=0.5, longpoll=2.0)
    t = threading.Thread(target=node_b.run, daemon=True)
    t.start()
    try:
        wait_for(lambda: api.get(f"/api/v1/sensors/{ids['b']}").json()["status"] == "Connected")
        sign_in(page, live_console.url)
        page.goto(live_console.url + "/sensors")

        page.get_by_role("button", name="Push settings…").click()
        panel = page.locator("#push-panel")
        expect(panel).to_be_visible()
        page.get_by_label("Setting", exact=True).select_option(label="Mail server")
        page.get_by_label("Share settings from sensor").select_option(ids["a"])
        expect(panel.locator("#push-current")).to_contain_text("mail.plant.local")
        # in the words of the form it was set in (the seed's), not the API's keys ("Ssl starttls")
        current = panel.locator("#push-current dl")
        expect(current.locator("dt").first).to_have_text("SMTP Server Address")
        expect(current).to_contain_text("Outgoing Mail Account")
        expect(current.locator("dt", has_text="SSL").locator("+ dd")).to_have_text("STARTTLS")
        expect(current).not_to_contain_text("Ssl")
        expect(panel.locator("#push-secret-note")).to_contain_text("password")
        page.get_by_label("Setting", exact=True).select_option(label="Port aliases")
        expect(panel.locator("#push-current")).to_contain_text("502 → plc-modbus")
        page.get_by_role("button", name="Duplicate").click()
        expect(page.get_by_label("All other approved sensors")).to_be_checked()
        screenshot(page, "push-settings")
        page.get_by_role("button", name="Save").click()

        results = panel.locator("#push-results tbody")
        row_b, row_c = (
            results.locator(f'tr[data-id="{ids["b"]}"]'),
            results.locator(f'tr[data-id="{ids["c"]}"]'),
        )
        expect(row_b).to_contain_text("Applied")
        expect(row_b).to_contain_text("acknowledged by the sensor")
        expect(row_c).to_contain_text("Queued")
        expect(row_c).to_contain_text("delivered when the sensor reconnects")
        expect(page.locator("#flash")).to_have_text("Port aliases pushed: 1 applied, 1 queued, 0 failed")
        wait_for(lambda: node_b.sensor.settings.port_aliases == {502: "plc-modbus"})
    finally:
        node_b.stop()
        t.join(timeout=10)
        api.close()
