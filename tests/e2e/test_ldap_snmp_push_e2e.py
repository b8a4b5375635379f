"""SNMP MIB monitoring and Active Directory pushed from sensor A to sensor B through a live console
change what B does: B serves its health over SNMP to the pushed manager and signs AD users in to its
own console (real slapd); pushing SNMP off again stops B's agent."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pysnmp.hlapi.v3arch.asyncio import CommunityData

from otwatch.sensor.local.store import SensorStore
from otwatch.sensor.node.managed import SensorNode
from otwatch.sensor.web.app import create_sensor_app
from otwatch.wire.client import Credentials, NodeState, enroll
from tests.conftest import form_login
from tests.e2e.conftest import LiveConsole
from tests.e2e.test_pairing_e2e import wait_for
from tests.ldapserver import BIND_PW, Slapd, ad_settings, slapd
from tests.sensor.node.test_snmp_agent import free_udp_port, snmp_get

__all__ = ["slapd"]  # the fixture
pytestmark = pytest.mark.network
SYS_NAME = "1.3.6.1.2.1.1.5.0"
PACKETS = "1.3.6.1.4.1.32473.1.1.1.0"


class Running:
    def __init__(self, state: NodeState, snmp_host: str) -> None:
        self.node = SensorNode(state, [], report_every=0.3, longpoll=2.0, snmp_host=snmp_host)
        self.thread = threading.Thread(target=self.node.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.node.stop()
        self.thread.join(timeout=10)


def test_pushed_snmp_and_ad_settings_are_served_by_the_other_sensor(
    live_console: LiveConsole, tmp_path: Path, slapd: Slapd
) -> None:
    admin = live_console.admin()
    admin.patch("/api/v1/fleet/settings", json={"auto_approve": True}).raise_for_status()
    key = admin.post("/api/v1/pairing-keys", json={"max_uses": 20, "description": "sensors"}).json()[
        "pairing_key"
    ]
    states, ids = {}, {}
    for name in "ab":
        states[name] = NodeState(tmp_path / f"sensor-{name}")
        ids[name] = enroll(states[name], "sensor", Credentials(pairing_key=key))[0].node_id
    running = {"a": Running(states["a"], "127.0.0.2"), "b": Running(states["b"], "127.0.0.3")}
    try:
        for name in "ab":  # each sensor's secrets are its own (never pushed)
            running[name].node.secrets.set("snmp_community", f"community-{name}")
            running[name].node.secrets.set("ad_bind_password", BIND_PW)
        port = free_udp_port()
        snmp = {"enabled": True, "version": "v2c", "port": port, "allowed_managers": ["127.0.0.1"]}
        ad: dict[str, Any] = ad_settings(slapd)
        r = admin.patch(
            f"/api/v1/sensors/{ids['a']}/configuration",
            json={"snmp_mib_monitoring": snmp, "active_directory": ad},
        )
        assert r.status_code == 200, r.text
        wait_for(lambda: running["a"].node.snmp.status()["serving"])
        b = running["b"].node
        assert b.snmp.status()["serving"] is False

        r = admin.post(
            "/api/v1/sensors/push-settings",
            json={
                "source_id": ids["a"],
                "groups": ["snmp_mib_monitoring", "active_directory"],
                "target_ids": None,
            },
        )
        assert r.status_code == 200, r.text
        assert {x["sensor_id"]: x["outcome"] for x in r.json()["results"]} == {ids["b"]: "applied"}
        wait_for(lambda: b.snmp.status()["serving"])
        got = snmp_get(
            port, [SYS_NAME, PACKETS], CommunityData("community-b"), host="127.0.0.3", source="127.0.0.1"
        )
        assert isinstance(got, dict) and int(got[PACKETS]) == b.sensor.packets
        # B answers with its own community only; A's does not open it
        assert isinstance(snmp_get(port, [SYS_NAME], CommunityData("community-a"), host="127.0.0.3"), str)
        wait_for(lambda: admin.get(f"/api/v1/sensors/{ids['b']}").json()["stats"].get("system", {})
                 .get("snmp_mib_monitoring", {}).get("serving") is True)  # fmt: skip

        # B's own console signs alice in through the pushed AD settings
        store = SensorStore(states["b"].dir)
        store.ensure_users(
            {"OTWATCH_SENSOR_ADMIN_PASSWORD": "x" * 12, "OTWATCH_SENSOR_SUPPORT_PASSWORD": "y" * 12}
        )
        with TestClient(create_sensor_app(b, store), base_url="https://testserver") as web:
            r2 = form_login(web, "alice", "alice-pass", follow_redirects=False)
            assert r2.status_code == 303 and r2.headers["location"] == "/overview"

        # SNMP switched off on A and pushed again: B stops answering
        r = admin.patch(
            f"/api/v1/sensors/{ids['a']}/configuration",
            json={"snmp_mib_monitoring": {**snmp, "enabled": False}},
        )
        assert r.status_code == 200, r.text
        admin.post(
            "/api/v1/sensors/push-settings",
            json={"source_id": ids["a"], "groups": ["snmp_mib_monitoring"], "target_ids": [ids["b"]]},
        ).raise_for_status()
        wait_for(lambda: not b.snmp.status()["serving"])
        assert isinstance(
            snmp_get(port, [SYS_NAME], CommunityData("community-b"), host="127.0.0.3", timeout=0.5), str
        )
    finally:
        for r_ in running.values():
            r_.stop()
