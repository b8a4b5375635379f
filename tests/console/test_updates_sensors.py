"""Sensor version updates in the console: console first, a sensor newer than its console cannot
connect, Automatic Version Updates selection and conflict, roll-out, progress, rollback, Retry and
the failure log."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from otwatch.console.fleet.status import DisconnectReason
from otwatch.console.updates import service
from otwatch.wire import package
from tests.console.helpers import FakeAgent, new_key

PRIV, PUB = package.generate_release_key()


def sensor_pkg(version: str, min_version: str = "0.1.0") -> bytes:
    files = {"version.json": f'{{"version": "{version}"}}'.encode(), "lib/README": b"code"}
    return package.build("sensor", version, min_version, files, package.load_private(PRIV))


@pytest.fixture
def console_at(ctx: ConsoleContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trusted release key, and a console at 0.3.0 (the sensors run 0.1.0)."""
    d = ctx.settings.data_dir / "release-keys"
    d.mkdir()
    (d / "release.pub").write_bytes(PUB)
    monkeypatch.setattr(service, "console_version", lambda: "0.3.0")


def _sensor(admin: TestClient, ctx: ConsoleContext, version: str = "0.1.0") -> FakeAgent:
    s = FakeAgent(ctx, admin.app, kind="sensor")
    s.enroll(admin, new_key(admin), version=version)
    assert admin.post(f"/api/v1/sensors/{s.node_id}/approve").status_code == 200
    s.checkin(version=version)
    return s


def _upload(admin: TestClient, data: bytes) -> Any:
    return admin.post("/api/v1/updates", files={"file": ("s.tar", data, "application/x-tar")})


def _view(admin: TestClient, node_id: str | None) -> dict[str, Any]:
    items = admin.get("/api/v1/updates/sensors").json()["items"]
    view: dict[str, Any] = next(i for i in items if i["id"] == node_id)
    return view


def test_sensor_newer_than_console_cannot_connect(
    admin: TestClient, ctx: ConsoleContext, console_at: None
) -> None:
    s = _sensor(admin, ctx)
    with s.mtls() as m:
        r = m.post("/api/v1/wire/checkin", json={"client_time": "2026-01-01T00:00:00Z", "version": "0.4.0"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "version_too_new"
    assert "sensor version 0.4.0 is newer than this console (0.3.0)" in r.json()["error"]["message"]
    view = admin.get(f"/api/v1/sensors/{s.node_id}").json()
    assert view["status"] == "Disconnected" and view["version"] == "0.4.0"
    assert view["disconnect_reason"] == DisconnectReason.VERSION_TOO_NEW
    assert admin.get("/api/v1/sensors?status=Disconnected").json()["total"] == 1  # SQL agrees
    s.checkin(version="0.3.0")  # back to a version the console takes: connected again
    assert admin.get(f"/api/v1/sensors/{s.node_id}").json()["status"] == "Connected"
    late = FakeAgent(ctx, admin.app, kind="sensor")
    r = admin.post("/api/v1/wire/enroll", json=late.enroll_body(new_key(admin), version="1.0"))
    assert r.status_code == 409 and "newer than this console" in r.json()["error"]["message"]
    agent = FakeAgent(ctx, admin.app)  # the rule is the sensors'; agents report their own versions
    agent.enroll(admin, new_key(admin), version="9.9")


def test_selection_conflict_and_console_first(
    admin: TestClient, ctx: ConsoleContext, console_at: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = _sensor(admin, ctx), _sensor(admin, ctx), _sensor(admin, ctx, version="0.2.0")
    r = admin.post("/api/v1/updates/sensors/selection", json={"ids": [a.node_id, b.node_id, "nope"]})
    assert r.json()["results"] == {a.node_id: "ok", b.node_id: "ok", "nope": "sensor not found"}
    assert r.json()["conflict"] is None
    r = admin.post("/api/v1/updates/sensors/selection", json={"ids": [c.node_id]}).json()
    assert "update conflict" in r["conflict"] and "0.1.0: 2 sensor(s); 0.2.0: 1 sensor(s)" in r["conflict"]
    assert _upload(admin, sensor_pkg("0.2.0")).status_code == 201
    r = admin.post("/api/v1/updates/sensors/rollout", json={})
    assert r.status_code == 409 and "update conflict" in r.json()["error"]["message"]
    admin.post("/api/v1/updates/sensors/selection", json={"ids": [c.node_id], "selected": False})
    assert admin.get("/api/v1/updates/sensors").json()["conflict"] is None
    # a sensor version newer than the console is kept but never rolled out
    up = _upload(admin, sensor_pkg("0.4.0")).json()
    assert up["rollout"] is None and "newer than this console (0.3.0)" in up["rollout_error"]
    assert "update the console first" in up["rollout_error"]
    assert a.checkin()["commands"] == []
    monkeypatch.setattr(service, "console_version", lambda: "0.4.0")
    r = admin.post("/api/v1/updates/sensors/rollout", json={}).json()
    assert r["results"] == {a.node_id: "ok", b.node_id: "ok"} and r["succeeded"] == 2
    cmd = a.checkin()["commands"][0]
    assert cmd["type"] == "update" and cmd["args"] == {**cmd["args"], "kind": "sensor", "version": "0.4.0"}
    r = admin.post("/api/v1/updates/sensors/rollout", json={}).json()
    assert r["succeeded"] == 0 and "already in progress" in r["results"][a.node_id]


def test_progress_rollback_retry_and_failure_log(
    admin: TestClient, ctx: ConsoleContext, console_at: None
) -> None:
    s = _sensor(admin, ctx)
    admin.post("/api/v1/updates/sensors/selection", json={"ids": [s.node_id]})
    up = _upload(admin, sensor_pkg("0.2.0")).json()
    assert up["rollout"] == {s.node_id: "ok"}  # uploading starts the update on the selected sensors
    cmd = s.checkin()["commands"][0]
    with s.mtls() as m:  # the sensor fetches exactly the package it was told to install
        got = m.get(f"/api/v1/wire/packages/{cmd['args']['package_id']}")
    assert package.verify(got.content, [package.load_public(PUB)]).manifest.file_name == (
        "sensor-secured-patcher-0.2.0.tar"
    )
    s.checkin(
        activity="updating",
        progress={"percent": 60, "phase": "staged"},
        results=[{"id": cmd["id"], "state": "running"}],
    )
    view = _view(admin, s.node_id)
    assert view["status"] == "Updating" and view["percent"] == 60 and view["phase"] == "staged"
    assert admin.get(f"/api/v1/updates/sensors/{s.node_id}/failure-log").status_code == 404
    log = "sensor 0.2.0 started\nTraceback: boom\n"
    s.checkin(
        version="0.1.0",
        results=[
            {
                "id": cmd["id"],
                "state": "failed",
                "error": "0.2.0 did not check in healthy within 60 s; rolled back to 0.1.0",
                "result": {"rolled_back": True, "from": "0.1.0", "to": "0.2.0", "log": log},
            }
        ],
    )
    view = _view(admin, s.node_id)
    assert view["update_state"] == "failed" and view["rolled_back"] and view["can_retry"]
    assert view["version"] == "0.1.0" and view["status"] == "Connected"
    r = admin.get(f"/api/v1/updates/sensors/{s.node_id}/failure-log")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "attachment" in r.headers["content-disposition"]
    assert "rolled back: yes" in r.text and "Traceback: boom" in r.text and "rolled back to 0.1.0" in r.text
    audit = admin.get("/api/v1/audit?action=update.failed").json()["items"]
    assert audit[0]["target"] == s.node_id and audit[0]["detail"]["rolled_back"] is True
    r = admin.post(f"/api/v1/updates/sensors/{s.node_id}/retry")
    assert r.status_code == 202 and r.json()["update_state"] == "pending"
    assert admin.post(f"/api/v1/updates/sensors/{s.node_id}/retry").status_code == 409
    retry = s.checkin()["commands"][0]
    assert retry["id"] != cmd["id"] and retry["args"]["version"] == "0.2.0"
    s.checkin(version="0.2.0", results=[{"id": retry["id"], "state": "done", "result": {"to": "0.2.0"}}])
    view = _view(admin, s.node_id)
    assert view["update_state"] == "done" and view["version"] == "0.2.0" and not view["can_retry"]
    assert admin.get("/api/v1/audit?action=update.installed").json()["total"] == 1


def test_sensor_update_rules(admin: TestClient, ctx: ConsoleContext, console_at: None) -> None:
    s = _sensor(admin, ctx, version="0.2.5")
    admin.post("/api/v1/updates/sensors/selection", json={"ids": [s.node_id]})
    up = _upload(admin, sensor_pkg("0.2.0")).json()  # older than what the sensor runs
    assert "not newer than the installed 0.2.5" in up["rollout"][s.node_id]
    up = _upload(admin, sensor_pkg("0.3.0", min_version="0.2.8")).json()  # from 0.2.8 or later only
    assert "upgrades from 0.2.8 or later; 0.2.5 is installed" in up["rollout"][s.node_id]
    admin.post(f"/api/v1/sensors/{s.node_id}/pause")
    r = admin.post("/api/v1/updates/sensors/rollout", json={}).json()
    assert "must be Connected" in r["results"][s.node_id]
    viewer_denied = admin.post("/api/v1/updates/sensors/nope/retry")
    assert viewer_denied.status_code == 404
