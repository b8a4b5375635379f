"""Push settings end to end: three real sensors paired with a live console replay a generated plant
capture; pushing a port alias and a subnet from sensor A to B and C changes what B and C report — the
alias shows up in their Traffic By Port statistics, and C (disconnected during the push) keys the
addresses outside the pushed subnet by IP alone once it is back."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from otwatch.sensor.capture import synth
from otwatch.sensor.capture.sources import PcapReplay
from otwatch.sensor.node.managed import SensorNode
from otwatch.wire.client import Credentials, NodeState, enroll
from tests.e2e.conftest import LiveConsole
from tests.e2e.test_pairing_e2e import wait_for

pytestmark = pytest.mark.network


class Running:
    """One SensorNode on its own thread."""

    def __init__(self, state: NodeState, sources: list[Any]) -> None:
        self.node = SensorNode(state, sources, report_every=0.3, longpoll=2.0)
        self.thread = threading.Thread(target=self.node.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.node.stop()
        self.thread.join(timeout=10)


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "plant.pcap"
    assert synth.write_capture(str(path), iter(synth.demo_plant(minutes=2))) > 500
    return path


def _labels(admin: httpx.Client, node_id: str) -> set[str]:
    stats = admin.get(f"/api/v1/sensors/{node_id}").json()["stats"]
    return {row["port"] for row in stats.get("traffic_by_port", [])}


def _status(admin: httpx.Client, node_id: str) -> str:
    s: str = admin.get(f"/api/v1/sensors/{node_id}").json()["status"]
    return s


def test_pushed_port_alias_and_subnet_change_what_other_sensors_do(
    live_console: LiveConsole, tmp_path: Path, capture: Path
) -> None:
    admin = live_console.admin()
    admin.patch("/api/v1/fleet/settings", json={"auto_approve": True}).raise_for_status()
    key = admin.post("/api/v1/pairing-keys", json={"max_uses": 20, "description": "sensors"}).json()[
        "pairing_key"
    ]
    states, ids = {}, {}
    for name in "abc":
        states[name] = NodeState(tmp_path / f"sensor-{name}")
        ident, _ = enroll(states[name], "sensor", Credentials(pairing_key=key))
        ids[name] = ident.node_id
    running: dict[str, Running] = {}
    try:
        running["a"] = Running(states["a"], [])
        running["b"] = Running(states["b"], [PcapReplay([capture])])  # B reads the plant before the push
        running["c"] = Running(states["c"], [])
        for name in "abc":
            wait_for(lambda n=name: _status(admin, ids[n]) == "Connected")
        running.pop("c").stop()  # C goes away: it must get the settings when it is back
        wait_for(lambda: _status(admin, ids["c"]) == "Disconnected", timeout=30)

        wait_for(lambda: "tcp/502" in _labels(admin, ids["b"]))  # before: B labels Modbus by its port
        assert "plc-modbus" not in _labels(admin, ids["b"])

        # A is given its settings on the console, applies them and reads the plant
        r = admin.patch(
            f"/api/v1/sensors/{ids['a']}/configuration",
            json={"port_aliases": {"502": "plc-modbus"}, "subnets": ["10.10.0.0/28"]},
        )
        assert r.status_code == 200, r.text
        a = running["a"].node
        wait_for(lambda: a.sensor.settings.port_aliases == {502: "plc-modbus"})
        a.play(PcapReplay([capture]))
        wait_for(lambda: "plc-modbus" in _labels(admin, ids["a"]))

        # the dialog: A's current port aliases, then Duplicate + Save to every other sensor
        shown = admin.get(f"/api/v1/sensors/{ids['a']}/settings/port_aliases").json()
        assert shown["value"] == {"502": "plc-modbus"}
        r = admin.post(
            "/api/v1/sensors/push-settings",
            json={"source_id": ids["a"], "groups": ["port_aliases", "subnets"], "target_ids": None},
        )
        assert r.status_code == 200, r.text
        results = {x["sensor_id"]: x for x in r.json()["results"]}
        assert set(results) == {ids["b"], ids["c"]}
        assert results[ids["b"]]["outcome"] == "applied"
        assert results[ids["c"]]["outcome"] == "queued" and results[ids["c"]]["status"] == "Disconnected"

        # B, running: its statistics now name port 502 by the pushed alias (it changed what B does)
        wait_for(
            lambda: "plc-modbus" in _labels(admin, ids["b"]) and "tcp/502" not in _labels(admin, ids["b"])
        )
        b = running["b"].node
        with b.lock:
            assert [str(n) for n in b.sensor.settings.subnets] == ["10.10.0.0/28"]
            assert not b.sensor.inventory._local("10.10.0.20")  # decided again under the pushed subnet
        view_b = admin.get(f"/api/v1/sensors/{ids['b']}").json()
        assert view_b["config_acked"] == view_b["config_version"] == results[ids["b"]]["config_version"]
        assert view_b["stats"]["system"]["port_aliases"] == {"502": "plc-modbus"}

        # C comes back: it picks the settings up on its first check-in, then reads the plant with them
        running["c"] = Running(states["c"], [])
        c = running["c"].node
        wait_for(lambda: c.sensor.settings.port_aliases == {502: "plc-modbus"})
        assert [str(n) for n in c.sensor.settings.subnets] == ["10.10.0.0/28"]
        c.play(PcapReplay([capture]))
        wait_for(lambda: "plc-modbus" in _labels(admin, ids["c"]))
        assert "tcp/502" not in _labels(admin, ids["c"])
        wait_for(lambda: _status(admin, ids["c"]) == "Connected")
        with c.lock:
            by_ip = {x.ip: x for x in c.sensor.inventory.assets if x.ip}
            # inside 10.10.0.0/28: local, keyed by MAC + IP; outside it (the HMI at .20): remote, IP only
            assert by_ip["10.10.0.10"].local and by_ip["10.10.0.10"].mac is not None
            assert not by_ip["10.10.0.20"].local and by_ip["10.10.0.20"].mac is None
        audit = admin.get("/api/v1/audit?action=sensor.settings_pushed").json()["items"]
        assert audit and audit[0]["detail"]["targets"] == {ids["b"]: "applied", ids["c"]: "queued"}
    finally:
        for r_ in running.values():
            r_.stop()
