"""Activation files: a real console signs them, a sensor's own console takes them (Subscription &
Activation Mode) and switches between locally managed and console-connected; every refusal with the
seed's message."""

from __future__ import annotations

import html
import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from otwatch.console.db import utcnow
from otwatch.console.pki import ConsolePKI
from otwatch.sensor.capture.pcapfile import CaptureReader
from otwatch.sensor.capture.synth import demo_plant, write_capture
from otwatch.sensor.local.store import Role, SensorStore
from otwatch.sensor.node.managed import SensorNode
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.web.app import create_sensor_app
from otwatch.wire import activation
from otwatch.wire.activation import ActivationError, ManagementMode
from otwatch.wire.client import NodeState
from otwatch.wire.pairing import PairingKey
from tests.e2e.conftest import LiveConsole
from tests.pg import free_port
from tests.sensor.web.conftest import ENV, login


def _file(admin: httpx.Client, mode: str, sensor_id: str | None = None) -> bytes:
    r = admin.post("/api/v1/sensors/activation-file", json={"mode": mode, "sensor_id": sensor_id})
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].startswith("attachment")
    return r.content


def _upload(sensor: TestClient, data: bytes, name: str = "activation.json") -> httpx.Response:
    page = sensor.get("/system/activation").text
    token = page.split('name="csrf" value="')[1].split('"')[0]
    r: httpx.Response = sensor.post("/system/activation", data={"csrf": token}, files={"file": (name, data)})
    return r


def _error(r: httpx.Response) -> str:
    assert r.status_code == 400, r.text
    return html.unescape(" ".join(r.text.split('data-testid="error">')[1].split("</p>")[0].split()))


def _signed(signer: ConsolePKI, mode: str, address: str, fingerprint: str, **extra: object) -> bytes:
    """An activation file signed by ``signer`` with the given content (files no console would issue)."""
    now = utcnow()
    payload = {
        "id": "made-up", "mode": mode, "issued_at": now.isoformat(),
        "expires_at": (now + timedelta(days=1)).isoformat(),
        "console": {"address": address, "fingerprint": fingerprint}, **extra,
    }  # fmt: skip
    return activation.sign(payload, signer.ca_key, signer.ca_cert)


@pytest.fixture
def sensor_console(tmp_path: Path) -> TestClient:
    store = SensorStore(tmp_path / "state")
    store.ensure_users(ENV)
    client = TestClient(create_sensor_app(Sensor(), store), base_url="https://testserver")
    return login(client, Role.ADMIN)


def test_file_signature_signer_and_expiry(live_console: LiveConsole, tmp_path: Path) -> None:
    admin = live_console.admin()
    data = _file(admin, "console-connected")
    act = activation.verify(data, None)
    assert act.mode is ManagementMode.CONSOLE_CONNECTED and act.address == live_console.address
    assert PairingKey.decode(act.pairing_key or "").fingerprint.replace(":", "") == act.fingerprint.replace(
        ":", ""
    )
    assert activation.verify(data, live_console.ctx.pki.ca_pem).id == act.id  # its own console signed it
    doc = json.loads(data)
    raw = bytearray(doc["payload"].encode())
    raw[40] = ord("A") if raw[40] != ord("A") else ord("B")  # one character of the signed payload
    with pytest.raises(
        ActivationError, match="signature is invalid: it was changed after the console signed it"
    ):
        activation.verify(json.dumps({**doc, "payload": raw.decode()}).encode(), None)
    other = ConsolePKI.load_or_create(tmp_path / "other-pki", ["127.0.0.1"])
    with pytest.raises(ActivationError, match="issued by another management console"):
        activation.verify(data, other.ca_pem)
    with pytest.raises(ActivationError, match="the activation file expired on"):
        activation.verify(data, None, now=utcnow() + timedelta(days=8))
    with pytest.raises(ActivationError, match="not an activation file"):
        activation.verify(b"<html>not json</html>", None)


def test_sensor_switches_modes_with_the_seed_errors(
    live_console: LiveConsole, sensor_console: TestClient, tmp_path: Path
) -> None:
    admin, sensor = live_console.admin(), sensor_console
    assert 'data-testid="mode">Locally managed' in sensor.get("/system/activation").text
    assert "Subscription &amp; Activation Mode" in sensor.get("/overview").text  # the nav link

    # valid, but the console rejects it: its pairing key was revoked
    revoked = _file(admin, "console-connected")
    key_id = PairingKey.decode(activation.verify(revoked, None).pairing_key or "").key_id
    admin.delete(f"/api/v1/pairing-keys/{key_id}").raise_for_status()
    msg = _error(_upload(sensor, revoked))
    assert msg.startswith("The activation file is valid but the management console rejected it:")
    assert "pairing key was revoked" in msg and "Download another activation file" in msg

    # the sensor cannot reach the console (signed by the real console, pointing at a closed port)
    ctx = live_console.ctx
    closed = f"127.0.0.1:{free_port()}"
    key = PairingKey(address=closed, fingerprint=ctx.pki.fingerprint, key_id="k" * 32, secret="s" * 40)
    unreachable = _signed(ctx.pki, "console-connected", closed, ctx.pki.fingerprint, pairing_key=key.encode())
    msg = _error(_upload(sensor, unreachable))
    assert msg.startswith(f"The sensor can't connect to the management console at {closed}")
    assert "Check the sensor's network settings" in msg

    # console-connected: the sensor enrols with the file's pairing key
    r = _upload(sensor, _file(admin, "console-connected"))
    assert r.status_code == 200 and "Activated: connected to the management console" in r.text
    assert 'data-testid="mode">Connected to a management console' in r.text and live_console.address in r.text
    state = NodeState(tmp_path / "state")
    node_id = state.load().node_id
    assert admin.get(f"/api/v1/sensors/{node_id}").json()["status"] == "Pending Approval"
    admin.post(f"/api/v1/sensors/{node_id}/approve").raise_for_status()

    # now only its own console may switch it, and only for this sensor
    other = ConsolePKI.load_or_create(tmp_path / "other-pki", ["127.0.0.1"])
    foreign = _signed(other, "locally-managed", closed, ctx.pki.fingerprint, sensor={"node_id": node_id})
    assert "issued by another management console" in _error(_upload(sensor, foreign))
    second = admin.post("/api/v1/pairing-keys", json={"max_uses": 20}).json()["pairing_key"]
    from otwatch.wire.client import Credentials, enroll

    other_sensor, _ = enroll(NodeState(tmp_path / "s2"), "sensor", Credentials(pairing_key=second))
    wrong = _file(admin, "locally-managed", other_sensor.node_id)
    assert "the activation file is for another sensor" in _error(_upload(sensor, wrong))
    api = sensor.post(
        "/api/activation",
        files={"file": ("a.json", b"garbage")},
        headers={
            "X-CSRF-Token": sensor.get("/system/activation")
            .text.split('name="csrf" value="')[1]
            .split('"')[0]
        },
    )
    assert api.status_code == 422 and "not an activation file" in api.json()["error"]
    assert (
        sensor.post("/api/activation", files={"file": ("a.json", b"x")}).status_code == 403
    )  # no CSRF token

    # locally managed: goodbye to the console, pairing forgotten
    r = _upload(sensor, _file(admin, "locally-managed", node_id))
    assert r.status_code == 200 and 'data-testid="mode">Locally managed' in r.text
    assert not state.exists()
    view = admin.get(f"/api/v1/sensors/{node_id}").json()
    assert view["status"] == "Disconnected" and view["disconnect_reason"] == "Uninstalled"
    assert json.loads((tmp_path / "state/management.json").read_text())["mode"] == "locally-managed"


def test_locally_managed_sensor_captures_without_a_console(tmp_path: Path) -> None:
    pcap = tmp_path / "p.pcap"
    write_capture(str(pcap), demo_plant(1).frames)
    node = SensorNode(NodeState(tmp_path / "state"), [list(CaptureReader(pcap))], report_every=0.1)
    t = threading.Thread(target=node.run, args=(False,), daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while node.sensor.packets == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    node.stop()
    t.join(5)
    assert node.sensor.packets > 0 and not t.is_alive()
    assert node.runtime.report_box.pending() == []  # nothing queued for a console it does not have


def test_activate_from_the_command_line(live_console: LiveConsole, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from otwatch.cli import app

    runner = CliRunner()
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    r = runner.invoke(app, ["sensor", "activate", str(bad), "--install-base", str(tmp_path / "s")])
    assert r.exit_code == 1 and "not an activation file" in r.output
    good = tmp_path / "activation.json"
    good.write_bytes(_file(live_console.admin(), "console-connected"))
    r = runner.invoke(app, ["sensor", "activate", str(good), "--install-base", str(tmp_path / "s")])
    assert r.exit_code == 0 and "Activated: connected to the management console" in r.output
    assert NodeState(tmp_path / "s/state").exists()
