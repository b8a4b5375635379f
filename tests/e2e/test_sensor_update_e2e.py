"""A real sensor, run by its supervisor, updates to a signed version from a real console; a version
that fails after the switch is rolled back by the sensor itself and the console shows it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from otwatch import __version__
from otwatch.console.updates import service
from otwatch.sensor.capture.synth import demo_plant, write_capture
from otwatch.sensor.node.versions import Supervisor, VersionStore
from otwatch.wire import package
from otwatch.wire.client import Credentials, NodeState, enroll
from tests.e2e.conftest import LiveConsole
from tests.e2e.test_pairing_e2e import wait_for
from tests.sensor.node.test_versions import KEY, PUB, code_tree

BROKEN_NODE = """

def _broken_run(self, *args):
    raise RuntimeError("broken build: the capture engine does not start")


SensorNode.run = _broken_run
"""


def _view(admin: httpx.Client, node_id: str) -> dict[str, Any]:
    items = admin.get("/api/v1/updates/sensors").json()["items"]
    view: dict[str, Any] = next(i for i in items if i["id"] == node_id)
    return view


def test_sensor_version_update_then_rollback(
    live_console: LiveConsole, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "console_version", lambda: "0.3.0")
    keys = live_console.ctx.settings.data_dir / "release-keys"
    keys.mkdir()
    (keys / "release.pub").write_bytes(PUB)
    admin = live_console.admin()
    base = tmp_path / "sensor"
    pk = admin.post("/api/v1/pairing-keys", json={"max_uses": 20}).json()["pairing_key"]
    ident, _ = enroll(NodeState(base / "state"), "sensor", Credentials(pairing_key=pk), version=__version__)
    admin.post(f"/api/v1/sensors/{ident.node_id}/approve").raise_for_status()
    pcap = tmp_path / "plant.pcap"
    write_capture(str(pcap), demo_plant(1).frames)
    store = VersionStore(base)
    args = ["--install-base", str(base), "--pcap", str(pcap), "--speed", "0", "--longpoll", "2"]
    sup = Supervisor(store, args, health_timeout=90)
    t = threading.Thread(target=sup.run, daemon=True)
    t.start()
    try:
        wait_for(lambda: _view(admin, ident.node_id)["status"] == "Connected", timeout=60)
        assert _view(admin, ident.node_id)["version"] == __version__
        admin.post("/api/v1/updates/sensors/selection", json={"ids": [ident.node_id]}).raise_for_status()

        good = package.build("sensor", "0.2.0", __version__, code_tree("0.2.0"), KEY)
        up = admin.post("/api/v1/updates", files={"file": ("s.tar", good)}).json()
        assert up["file_name"] == "sensor-secured-patcher-0.2.0.tar" and up["rollout"] == {
            ident.node_id: "ok"
        }
        wait_for(lambda: _view(admin, ident.node_id)["update_state"] == "done", timeout=120)
        view = _view(admin, ident.node_id)
        assert view["version"] == "0.2.0" and not view["rolled_back"]  # the new code checked in
        assert store.current_version() == "0.2.0" and store.healthy_version() == "0.2.0"

        # console first: a sensor version newer than the console is never rolled out
        too_new = package.build("sensor", "0.4.0", "0.2.0", code_tree("0.4.0"), KEY)
        up = admin.post("/api/v1/updates", files={"file": ("n.tar", too_new)}).json()
        assert up["rollout"] is None and "update the console first" in up["rollout_error"]

        broken = package.build(
            "sensor",
            "0.3.0",
            "0.2.0",
            code_tree("0.3.0", {"sensor/node/managed.py": _node_source() + BROKEN_NODE}),
            KEY,
        )
        up = admin.post("/api/v1/updates", files={"file": ("b.tar", broken)}).json()
        assert up["rollout"] == {ident.node_id: "ok"}
        wait_for(lambda: _view(admin, ident.node_id)["update_state"] == "failed", timeout=150)
        view = _view(admin, ident.node_id)
        assert view["rolled_back"] and view["can_retry"]
        assert "exited (code 1) before checking in healthy; rolled back to 0.2.0" in view["update_error"]
        assert store.current_version() == "0.2.0"
        wait_for(lambda: _view(admin, ident.node_id)["status"] == "Connected", timeout=30)
        assert _view(admin, ident.node_id)["version"] == "0.2.0"
        log = admin.get(f"/api/v1/updates/sensors/{ident.node_id}/failure-log")
        assert log.status_code == 200 and "broken build: the capture engine does not start" in log.text
        audit = admin.get("/api/v1/audit?action=update.failed").json()["items"]
        assert audit and audit[0]["detail"]["rolled_back"] is True
    finally:
        sup.stop()
        t.join(30)


def _node_source() -> str:
    from otwatch.sensor.node import managed as node

    return Path(node.__file__).read_text()
