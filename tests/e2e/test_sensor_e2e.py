"""A real sensor paired with a live console: replays a public S7 capture, reports, takes settings."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from otwatch.sensor.capture.sources import PcapReplay
from otwatch.sensor.node.managed import SensorNode
from otwatch.wire.client import Credentials, NodeState, enroll
from tests.conftest import CAPTURES
from tests.e2e.conftest import LiveConsole
from tests.e2e.test_pairing_e2e import wait_for

SNAP7 = CAPTURES / "icsnpp-s7comm" / "tests" / "traces" / "snap7.pcap"


@pytest.mark.skipif(not SNAP7.exists(), reason=f"public captures not found at {CAPTURES}")
def test_sensor_reports_assets_alerts_and_takes_learning_mode(
    live_console: LiveConsole, tmp_path: Path
) -> None:
    admin = live_console.admin()
    admin.patch("/api/v1/fleet/settings", json={"auto_approve": True}).raise_for_status()
    key = admin.post("/api/v1/pairing-keys", json={"max_uses": 20, "description": "sensor"}).json()[
        "pairing_key"
    ]
    state = NodeState(tmp_path / "sensor")
    ident, resp = enroll(state, "sensor", Credentials(pairing_key=key))
    assert resp.status == "Waiting for Connection"
    node = SensorNode(state, [PcapReplay([SNAP7], speed=0)], report_every=0.5, longpoll=2.0)
    t = threading.Thread(target=node.run, daemon=True)
    t.start()
    try:
        wait_for(lambda: admin.get(f"/api/v1/sensors/{ident.node_id}").json()["status"] == "Connected")
        wait_for(lambda: admin.get("/api/v1/alerts").json()["total"] >= 3, timeout=30)
        titles = {a["title"] for a in admin.get("/api/v1/alerts").json()["items"]}
        assert {"S7 Stop PLC Command was Sent", "PLC Program Upload", "Controller Start"} <= titles
        stop = next(
            a for a in admin.get("/api/v1/alerts?protocol=s7comm").json()["items"] if a["code"] == "S7_STOP"
        )
        assert stop["sensor_id"] == ident.node_id and stop["has_pcap"]
        pcap = admin.get(f"/api/v1/alerts/{stop['id']}/pcap").content
        assert pcap[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x0a\x0d\x0d\x0a")
        assets = admin.get(f"/api/v1/assets?source={ident.node_id}").json()
        assert assets["total"] == 2 and {"s7comm"} <= {
            p["protocol"] for a in assets["items"] for p in a["protocols"]
        }
        view = admin.get(f"/api/v1/sensors/{ident.node_id}").json()
        assert view["settings"]["learning"] is True and view["stats"]["summary"]["packets"] == 64

        r = admin.patch(
            f"/api/v1/sensors/{ident.node_id}/configuration",
            json={"learning": False, "engines": ["Operational"]},
        )
        assert r.status_code == 200, r.text
        wait_for(lambda: node.sensor.learning is False, timeout=10)
        assert {e.value for e in node.sensor.settings.engines} == {"Operational"}
        bad = admin.patch(f"/api/v1/sensors/{ident.node_id}/configuration", json={"engines": ["Magic"]})
        assert bad.status_code == 422
        r = admin.post("/api/v1/sensors/bulk", json={"ids": [ident.node_id], "action": "set_sensor_settings",
                                                      "sensor_settings": {"learning": True}})  # fmt: skip
        assert r.json()["succeeded"] == 1
        wait_for(lambda: node.sensor.learning is True, timeout=10)
    finally:
        node.stop()
        t.join(timeout=10)
