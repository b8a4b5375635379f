"""Threat intelligence end to end: a signed package uploaded once in a live console reaches every
sensor — B, disconnected during the upload, when it is back — each installs it, reports the version
in use (API and the sensors page), and its Malware engine raises alerts on the package's indicators."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from otwatch.sensor.node.threatintel import IntelStore
from otwatch.wire import package
from otwatch.wire.client import Credentials, NodeState, enroll
from tests.e2e.conftest import LiveConsole
from tests.e2e.test_pairing_e2e import wait_for
from tests.e2e.test_push_settings_e2e import Running
from tests.sensor.node.test_threat_intel import INTEL, plant_with_indicators

pytestmark = pytest.mark.network


def sensor(admin: httpx.Client, node_id: str) -> dict[str, Any]:
    out: dict[str, Any] = admin.get(f"/api/v1/sensors/{node_id}").json()
    return out


def test_uploaded_package_reaches_every_sensor_and_drives_the_malware_engine(
    live_console: LiveConsole, tmp_path: Path
) -> None:
    priv, pub = package.generate_release_key()
    keys = live_console.ctx.settings.data_dir / "release-keys"
    keys.mkdir()
    (keys / "release.pub").write_bytes(pub)
    signed = package.build(
        "threat-intel",
        "2026.11.1",
        "0",
        {"intel.json": json.dumps(INTEL).encode()},
        package.load_private(priv),
    )
    admin = live_console.admin()
    admin.patch("/api/v1/fleet/settings", json={"auto_approve": True}).raise_for_status()
    key = admin.post("/api/v1/pairing-keys", json={"max_uses": 20, "description": "sensors"}).json()[
        "pairing_key"
    ]
    states, ids = {}, {}
    for name in "ab":
        states[name] = NodeState(tmp_path / f"sensor-{name}")
        ids[name] = enroll(states[name], "sensor", Credentials(pairing_key=key))[0].node_id
    running = {name: Running(states[name], []) for name in "ab"}
    try:
        for node_id in ids.values():
            wait_for(lambda i=node_id: sensor(admin, i)["status"] == "Connected")  # type: ignore[misc]
        wait_for(lambda: sensor(admin, ids["a"])["stats"].get("system", {}).get("threat_intel") is not None)
        assert sensor(admin, ids["a"])["threat_intel_version"] is None  # built-in patterns only
        running.pop("b").stop()
        wait_for(lambda: sensor(admin, ids["b"])["status"] == "Disconnected", timeout=30)

        r = admin.post("/api/v1/updates", files={"file": ("threat-intel-2026.11.1.tar", signed)})
        assert r.status_code == 201, r.text
        assert r.json()["kind"] == "threat-intel" and r.json()["rollout"] == {ids["a"]: "ok", ids["b"]: "ok"}

        wait_for(lambda: sensor(admin, ids["a"])["threat_intel_version"] == "2026.11.1", timeout=30)
        page = admin.get("/sensors").text
        row = page[page.index(f'id="sensor-{ids["a"]}"') :]
        assert '<td class="threat-intel"' in row and "2026.11.1" in row[: row.index("</tr>")]
        installed = IntelStore(states["a"].dir).load()
        assert installed is not None and installed.version == "2026.11.1"

        # the Malware engine of A now knows the indicators
        done = threading.Event()
        running["a"].node.play(iter(plant_with_indicators().frames), on_done=done.set)
        assert done.wait(20)

        def codes() -> set[str]:
            items = admin.get(f"/api/v1/alerts?limit=200&sensor={ids['a']}").json()["items"]
            return {a["code"] for a in items}

        wait_for(lambda: {"MALICIOUS_IP", "MALICIOUS_DOMAIN", "ICS_MALWARE"} <= codes(), timeout=30)

        # B comes back and gets the package it missed
        running["b"] = Running(states["b"], [])
        wait_for(lambda: sensor(admin, ids["b"])["threat_intel_version"] == "2026.11.1", timeout=40)
        again = admin.post("/api/v1/updates", files={"file": ("again.tar", signed)})
        assert again.status_code == 409  # uploaded once
    finally:
        for node in running.values():
            node.stop()
