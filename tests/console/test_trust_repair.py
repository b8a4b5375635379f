"""Issue 17, item 5: a repair without the node's current certificate cannot take over an approved node
(approval and configuration are reset, no credential is delivered); node files are private."""

from __future__ import annotations

import stat
from pathlib import Path

from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from otwatch.wire import pki
from otwatch.wire.client import NodeState
from otwatch.wire.messages import EnrollResponse, Report
from otwatch.wire.runtime import Outbox
from tests.console.helpers import FakeAgent, new_key


def _configured_agent(admin: TestClient, ctx: ConsoleContext) -> FakeAgent:
    admin.post("/api/v1/networks", json={"cidr": "10.40.0.0/16"})
    cred = admin.post(
        "/api/v1/credentials", json={"name": "c", "secret": {"kind": "snmp_v2c", "community": "s3cret"}}
    ).json()
    a = FakeAgent(ctx, admin.app)
    a.enroll(admin, new_key(admin))
    admin.post(f"/api/v1/agents/{a.node_id}/approve")
    cfg = {"name": "gw", "active_query_networks": ["10.40.1.0/24"], "credential_ids": [cred["id"]]}
    assert admin.put(f"/api/v1/agents/{a.node_id}/configuration", json=cfg).status_code == 200
    assert a.checkin()["config"]["credentials"][0]["community"] == "s3cret"
    return a


def test_repair_without_the_current_certificate_resets_approval(
    admin: TestClient, ctx: ConsoleContext
) -> None:
    real = _configured_agent(admin, ctx)
    thief = FakeAgent(ctx, admin.app)
    thief.install_id = real.install_id  # a world-readable file on the agent's host
    data = thief.enroll(admin, new_key(admin), repair=True)
    assert data["node_id"] == real.node_id and data["status"] == "Pending Approval"
    resp = thief.checkin()
    assert resp["config"] is None and resp["commands"] == []  # no credentials for the thief
    node = admin.get(f"/api/v1/agents/{real.node_id}").json()
    assert node["status"] == "Pending Approval" and node["approved_at"] is None
    audit = admin.get("/api/v1/audit?action=node.repaired").json()["items"]
    assert audit[0]["detail"]["approval_reset"] is True
    # approved again, it must be configured again before it receives anything
    admin.post(f"/api/v1/agents/{real.node_id}/approve")
    assert thief.checkin()["config"] is None


def test_repair_with_the_current_certificate_keeps_approval(admin: TestClient, ctx: ConsoleContext) -> None:
    real = _configured_agent(admin, ctx)
    old_key = real.key
    real.key = pki.generate_key()
    body = real.enroll_body(new_key(admin), repair=True)
    with real.mtls() as c:  # the node proves it holds its current certificate
        r = c.post("/api/v1/wire/enroll", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["status"] != "Pending Approval"
    real.cert_pem = r.json()["certificate_pem"]
    real.config_version = 0
    assert real.checkin()["config"]["credentials"][0]["community"] == "s3cret"
    assert old_key is not real.key


def test_node_files_are_private(tmp_path: Path) -> None:
    state = NodeState(tmp_path / "node")
    state.install_id()
    key = pki.generate_key()
    resp = EnrollResponse(
        node_id="n", status="Pending Approval", certificate_pem="cert", ca_pem="ca",
        server_time="2026-12-06T00:00:00Z",  # type: ignore[arg-type]
    )  # fmt: skip
    from otwatch.wire.client import Identity

    state.save(Identity("n", state.install_id(), "agent", "127.0.0.1:8443", "now"), key, resp)
    box = Outbox(state.dir / "reports.jsonl", Report)
    box.put(Report(id="r", kind="stats"))
    assert stat.S_IMODE(state.dir.stat().st_mode) == 0o700
    for f in state.dir.iterdir():
        if f.is_file():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name
