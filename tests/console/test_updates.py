"""Update packages in the console: upload checks, Update OTD Version, bulk update, auto-update."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from otwatch.console.context import ConsoleContext
from otwatch.console.updates.models import UpdatePackage
from otwatch.wire import package
from tests.console.helpers import FakeAgent, new_key
from tests.console.test_fleet import _connected_agent

PRIV, PUB = package.generate_release_key()


def otd(version: str, min_version: str = "1.0.0", key: bytes = PRIV) -> bytes:
    engine = json.dumps({"version": version, "ports": [502, 102, 44818]}).encode()
    return package.build("otd", version, min_version, {"engine.json": engine}, package.load_private(key))


@pytest.fixture
def trusted(ctx: ConsoleContext) -> None:
    d = ctx.settings.data_dir / "release-keys"
    d.mkdir()
    (d / "release.pub").write_bytes(PUB)


def _upload(client: TestClient, data: bytes) -> object:
    return client.post("/api/v1/updates", files={"file": ("otd.tar", data, "application/x-tar")})


def test_upload_verifies_before_keeping(admin: TestClient, ctx: ConsoleContext, trusted: None) -> None:
    r = _upload(admin, otd("1.1.0"))
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    assert r.json()["file_name"] == "otd-engine-1.1.0.tar"  # type: ignore[attr-defined]
    bad = bytearray(otd("1.2.0"))
    bad[bytes(bad).index(b"44818")] ^= 1
    r = _upload(admin, bytes(bad))
    assert r.status_code == 422 and "does not match its SHA-256" in r.json()["error"]["message"]  # type: ignore[attr-defined]
    other = package.generate_release_key()[0]
    r = _upload(admin, otd("1.3.0", key=other))
    assert r.status_code == 422 and "signature does not match" in r.json()["error"]["message"]  # type: ignore[attr-defined]
    assert _upload(admin, otd("1.1.0")).status_code == 409  # type: ignore[attr-defined]
    with ctx.db.session() as db:
        assert db.scalar(select(func.count()).select_from(UpdatePackage)) == 1
    assert len(list((ctx.settings.data_dir / "packages").glob("*.tar"))) == 1


def test_no_trusted_key_refuses_everything(admin: TestClient) -> None:
    r = _upload(admin, otd("1.1.0"))
    assert r.status_code == 422 and "no trusted release key" in r.json()["error"]["message"]  # type: ignore[attr-defined]


def test_update_action_and_bulk_per_agent_results(
    admin: TestClient, ctx: ConsoleContext, trusted: None
) -> None:
    a, b, c = (_connected_agent(admin, ctx, n) for n in "abc")
    r = admin.post(f"/api/v1/agents/{a.node_id}/update")
    assert r.status_code == 409 and "no OT Discovery engine" in r.json()["error"]["message"]
    _upload(admin, otd("1.1.0"))
    admin.post(f"/api/v1/agents/{c.node_id}/pause")
    for n in (a, b):  # offline_after is 5 s here: stay Connected however slow the set-up was
        n.checkin()
    r = admin.post(
        "/api/v1/agents/bulk", json={"ids": [a.node_id, b.node_id, c.node_id], "action": "update"}
    ).json()
    assert r["results"][a.node_id] == "ok" and r["results"][b.node_id] == "ok"
    assert "must be Connected" in r["results"][c.node_id] and r["succeeded"] == 2
    cmd = a.checkin()["commands"][0]
    assert cmd["type"] == "update" and cmd["args"]["version"] == "1.1.0"
    with a.mtls() as m:
        got = m.get(f"/api/v1/wire/packages/{cmd['args']['package_id']}")
    assert (
        got.status_code == 200
        and package.verify(got.content, [package.load_public(PUB)]).manifest.version == "1.1.0"
    )
    with c.mtls() as m:  # a node without a pending update of that package cannot fetch it
        assert m.get(f"/api/v1/wire/packages/{cmd['args']['package_id']}").status_code == 404
    a.checkin(activity="updating", progress={"percent": 50}, results=[{"id": cmd["id"], "state": "running"}])
    assert admin.get(f"/api/v1/agents/{a.node_id}").json()["status"] == "Updating"
    a.checkin(engine_version="1.1.0", results=[{"id": cmd["id"], "state": "done"}])
    view = admin.get(f"/api/v1/agents/{a.node_id}").json()
    assert view["status"] == "Connected" and view["engine_version"] == "1.1.0"
    r = admin.post(f"/api/v1/agents/{a.node_id}/update")
    assert r.status_code == 409 and "already runs OTD 1.1.0" in r.json()["error"]["message"]


def test_auto_update_pushes_newest_to_connected_agents(
    admin: TestClient, ctx: ConsoleContext, trusted: None
) -> None:
    a = _connected_agent(admin, ctx, "a")
    pending = FakeAgent(ctx, admin.app)
    pending.enroll(admin, new_key(admin))
    _upload(admin, otd("1.1.0"))
    assert a.checkin()["commands"] == []  # Auto-Updates is off by default
    admin.patch("/api/v1/fleet/settings", json={"auto_update": True})
    cmds = a.checkin()["commands"]
    assert [c["type"] for c in cmds] == ["update"] and cmds[0]["args"]["version"] == "1.1.0"
    assert pending.checkin()["commands"] == []
    a.checkin(
        results=[
            {"id": cmds[0]["id"], "state": "failed", "error": "health check failed, rolled back to 1.0.0"}
        ]
    )
    assert a.checkin()["commands"] == []  # a failed version is not retried automatically


def test_a_failed_update_shows_its_reason_where_it_was_asked_for(
    admin: TestClient, ctx: ConsoleContext, trusted: None
) -> None:
    """The agent refused the package: the Agents list (API and page) says so, with the reason, instead
    of the update looking done (before, the reason was only in the Audit Log)."""
    a = _connected_agent(admin, ctx, "a")
    _upload(admin, otd("1.1.0"))
    a.checkin()
    assert admin.post(f"/api/v1/agents/{a.node_id}/update").status_code in (200, 202)
    view = admin.get(f"/api/v1/agents/{a.node_id}").json()
    assert view["last_update"]["state"] == "pending" and view["last_update"]["version"] == "1.1.0"
    assert 'data-testid="update-pending"' in admin.get("/agents").text
    cmd = a.checkin()["commands"][0]
    reason = "package refused: no trusted release key on this agent"
    a.checkin(results=[{"id": cmd["id"], "state": "failed", "error": reason}])
    (row,) = [x for x in admin.get("/api/v1/agents").json()["items"] if x["id"] == a.node_id]
    assert row["last_update"]["state"] == "failed" and row["last_update"]["error"] == reason
    assert row["engine_version"] != "1.1.0"
    page = admin.get("/agents").text
    assert 'data-testid="update-failed"' in page and reason in page
