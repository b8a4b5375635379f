"""Pairing keys, enrolment (and its refusals), approval, configuration, commands, check-ins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.fleet.models import DuplicatedNetwork, IssuedCertificate, Node, PairingKey
from otwatch.wire.pairing import PairingKey as WireKey
from tests.console.helpers import FakeAgent, new_key


def _count(ctx: ConsoleContext, model: type) -> int:
    with ctx.db.session() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _nothing_stored(ctx: ConsoleContext) -> None:
    assert _count(ctx, Node) == 0 and _count(ctx, IssuedCertificate) == 0


def test_pairing_key_carries_address_pin_and_hashed_secret(admin: TestClient, ctx: ConsoleContext) -> None:
    r = admin.post(
        "/api/v1/pairing-keys", json={"address": "10.1.2.3:8443", "expires_days": 30, "description": "x"}
    )
    assert r.status_code == 201
    key = WireKey.decode(r.json()["pairing_key"])
    assert key.address == "10.1.2.3:8443" and key.fingerprint == ctx.pki.fingerprint
    exp = datetime.fromisoformat(r.json()["expires_at"])
    assert timedelta(days=29, hours=23) < exp - datetime.now(UTC) <= timedelta(days=30)
    listed = admin.get("/api/v1/pairing-keys").json()["items"]
    assert len(listed) == 1 and "pairing_key" not in listed[0]
    with ctx.db.session() as db:
        assert key.secret not in db.scalars(select(PairingKey)).one().secret_hash
    default = admin.post("/api/v1/pairing-keys", json={}).json()
    assert (datetime.fromisoformat(default["expires_at"]) - datetime.now(UTC)).days == 89


def test_enroll_approve_configure_connect(admin: TestClient, ctx: ConsoleContext) -> None:
    agent = FakeAgent(ctx, admin.app)
    data = agent.enroll(admin, new_key(admin))
    assert data["status"] == "Pending Approval"
    node = admin.get(f"/api/v1/agents/{agent.node_id}").json()
    assert node["status"] == "Pending Approval" and node["host_os"] == "Linux test"
    r = agent.checkin()
    assert r["status"] == "Pending Approval" and r["commands"] == [] and r["config"] is None
    assert admin.post(f"/api/v1/agents/{agent.node_id}/approve").json()["status"] == "Pending Configuration"
    assert admin.post(f"/api/v1/agents/{agent.node_id}/approve").status_code == 409
    cfg = {
        "name": "gw-1",
        "active_query_networks": ["10.10.0.0/24"],
        "schedule": {"enabled": True, "every": 2, "unit": "hours"},
    }
    r = admin.put(f"/api/v1/agents/{agent.node_id}/configuration", json=cfg)
    assert r.status_code == 422 and "inside the Monitored Networks" in r.json()["error"]["message"]
    admin.post("/api/v1/networks", json={"cidr": "10.10.0.0/16"})
    cred = admin.post(
        "/api/v1/credentials", json={"name": "c", "secret": {"kind": "snmp_v2c", "community": "pub1"}}
    ).json()
    r = admin.put(
        f"/api/v1/agents/{agent.node_id}/configuration", json={**cfg, "credential_ids": [cred["id"]]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "Preparing Connection"
    assert r.json()["scan_schedule"] == "Every 2 hours" and r.json()["credentials"] == ["c"]
    resp = agent.checkin()
    assert resp["config"]["active_query_networks"] == ["10.10.0.0/24"]
    assert resp["config"]["credentials"][0]["community"] == "pub1"  # only over the node's mTLS link
    agent.checkin()
    assert admin.get(f"/api/v1/agents/{agent.node_id}").json()["status"] == "Connected"


def test_auto_approve(admin: TestClient, ctx: ConsoleContext) -> None:
    assert admin.patch("/api/v1/fleet/settings", json={"auto_approve": True}).json()["auto_approve"] is True
    agent = FakeAgent(ctx, admin.app)
    assert agent.enroll(admin, new_key(admin))["status"] == "Pending Configuration"
    sensor = FakeAgent(ctx, admin.app, kind="sensor")
    sensor.enroll(admin, new_key(admin))
    assert sensor.checkin()["status"] == "Connected"  # sensors need no configuration


def test_expired_revoked_wrong_secret_refused_nothing_stored(admin: TestClient, ctx: ConsoleContext) -> None:
    key = new_key(admin, expires_days=1)
    with ctx.db.session() as db:
        row = db.scalars(select(PairingKey)).one()
        row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    agent = FakeAgent(ctx, admin.app)
    r = admin.post("/api/v1/wire/enroll", json=agent.enroll_body(key))
    assert r.status_code == 401 and r.json()["error"]["code"] == "expired_pairing_key"
    key2 = new_key(admin)
    admin.delete(f"/api/v1/pairing-keys/{WireKey.decode(key2).key_id}")
    r = admin.post("/api/v1/wire/enroll", json=agent.enroll_body(key2))
    assert r.status_code == 401 and r.json()["error"]["code"] == "revoked_pairing_key"
    r = admin.post("/api/v1/wire/enroll", json=agent.enroll_body(new_key(admin), secret="guess"))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_pairing_key"
    _nothing_stored(ctx)
    refusals = admin.get("/api/v1/audit?action=node.enroll_refused").json()["total"]
    assert refusals == 3


def test_password_and_api_key_enrolment(admin: TestClient, ctx: ConsoleContext) -> None:
    from tests.conftest import ADMIN_PASSWORD

    a = FakeAgent(ctx, admin.app)
    body = a.enroll_body(new_key(admin))
    for k in ("key_id", "secret"):
        body.pop(k)
    r = admin.post(
        "/api/v1/wire/enroll", json={**body, "method": "password", "username": "admin", "password": "wrong"}
    )
    assert r.status_code == 401 and r.json()["error"]["message"].startswith(
        "wrong console username or password"
    )
    _nothing_stored(ctx)
    r = admin.post(
        "/api/v1/wire/enroll",
        json={**body, "method": "password", "username": "admin", "password": ADMIN_PASSWORD},
    )
    assert r.status_code == 200
    api_key = admin.post("/api/v1/api-keys", json={"name": "installer"}).json()["key"]
    b = FakeAgent(ctx, admin.app)
    body_b = b.enroll_body(new_key(admin))
    body_b.pop("key_id"), body_b.pop("secret")
    r = admin.post("/api/v1/wire/enroll", json={**body_b, "method": "api_key", "api_key": api_key})
    assert r.status_code == 200, r.text
    admin.post("/api/v1/users", json={"username": "ro", "password": "readonly-pass-1", "role": "Read Only"})
    c = FakeAgent(ctx, admin.app)
    body_c = c.enroll_body(new_key(admin))
    body_c.pop("key_id"), body_c.pop("secret")
    r = admin.post(
        "/api/v1/wire/enroll",
        json={**body_c, "method": "password", "username": "ro", "password": "readonly-pass-1"},
    )
    assert r.status_code == 401  # a right password of a role that may not pair: the same answer


def test_replayed_enrolment_and_repair(admin: TestClient, ctx: ConsoleContext) -> None:
    agent = FakeAgent(ctx, admin.app)
    key = new_key(admin, max_uses=3)
    body = agent.enroll_body(key)
    first = admin.post("/api/v1/wire/enroll", json=body)
    assert first.status_code == 200
    replay = admin.post("/api/v1/wire/enroll", json=body)
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "replayed_enrollment"
    assert _count(ctx, Node) == 1 and _count(ctx, IssuedCertificate) == 1
    agent.node_id, agent.cert_pem = first.json()["node_id"], first.json()["certificate_pem"]
    agent.checkin()
    admin.post(f"/api/v1/agents/{agent.node_id}/approve")
    old_cert = agent.cert_pem
    from otwatch.wire import pki

    agent.key = pki.generate_key()
    again = admin.post("/api/v1/wire/enroll", json=agent.enroll_body(key))
    assert again.status_code == 409 and "repair" in again.json()["error"]["message"]
    with agent.mtls() as c:  # presenting its current certificate: approval kept (test_trust_repair.py)
        repaired = c.post("/api/v1/wire/enroll", json=agent.enroll_body(key, repair=True))
    assert repaired.status_code == 200 and repaired.json()["node_id"] == agent.node_id
    assert _count(ctx, Node) == 1
    assert admin.get(f"/api/v1/agents/{agent.node_id}").json()["approved_at"] is not None  # history kept
    agent.cert_pem = old_cert
    with agent.mtls() as c:
        r = c.post("/api/v1/wire/checkin", json={"client_time": datetime.now(UTC).isoformat()})
    assert r.status_code == 401 and r.json()["error"]["code"] == "certificate_revoked"


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"method": "pairing_key", "kind": "agent"},
        {
            "method": "pairing_key",
            "kind": "robot",
            "install_id": "abcdefgh",
            "csr_pem": "x" * 200,
            "key_id": "k",
            "secret": "s",
        },
        {"method": "password", "kind": "agent", "install_id": "abcdefgh", "csr_pem": "x" * 200},
        {
            "method": "pairing_key",
            "kind": "agent",
            "install_id": "../../etc",
            "csr_pem": "x" * 200,
            "key_id": "k",
            "secret": "s",
        },
    ],
)
def test_malformed_enrolment_bodies(admin: TestClient, ctx: ConsoleContext, bad: dict[str, object]) -> None:
    r = admin.post("/api/v1/wire/enroll", json=bad)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    _nothing_stored(ctx)


def test_garbage_csr_refused(admin: TestClient, ctx: ConsoleContext) -> None:
    agent = FakeAgent(ctx, admin.app)
    r = admin.post(
        "/api/v1/wire/enroll",
        json=agent.enroll_body(new_key(admin), csr_pem="-----BEGIN CERTIFICATE REQUEST-----\n" + "A" * 200),
    )
    assert r.status_code == 422 and "certificate signing request" in r.json()["error"]["message"]
    _nothing_stored(ctx)


def test_checkin_without_client_certificate(admin: TestClient) -> None:
    r = admin.post("/api/v1/wire/checkin", json={"client_time": datetime.now(UTC).isoformat()})
    assert r.status_code == 401 and r.json()["error"]["code"] == "client_certificate_required"


def _connected_agent(admin: TestClient, ctx: ConsoleContext, name: str = "gw") -> FakeAgent:
    admin.post("/api/v1/networks", json={"cidr": "10.20.0.0/16"})
    agent = FakeAgent(ctx, admin.app)
    agent.enroll(admin, new_key(admin))
    admin.post(f"/api/v1/agents/{agent.node_id}/approve")
    cfg = {"name": name, "active_query_networks": ["10.20.1.0/24"]}
    assert admin.put(f"/api/v1/agents/{agent.node_id}/configuration", json=cfg).status_code == 200
    agent.checkin()
    agent.checkin()
    return agent


def test_scan_commands_are_idempotent_by_id(admin: TestClient, ctx: ConsoleContext) -> None:
    agent = _connected_agent(admin, ctx)
    assert admin.post(f"/api/v1/agents/{agent.node_id}/scan").status_code == 202
    assert admin.post(f"/api/v1/agents/{agent.node_id}/scan").status_code == 409
    cmds = agent.checkin()["commands"]
    assert [c["type"] for c in cmds] == ["scan"]
    cid = cmds[0]["id"]
    assert [c["id"] for c in agent.checkin()["commands"]] == [cid]  # redelivered until answered
    agent.checkin(
        activity="scanning",
        progress={"phase": "Discovery", "done": 3, "total": 10},
        results=[{"id": cid, "state": "running"}],
    )
    node = admin.get(f"/api/v1/agents/{agent.node_id}").json()
    assert node["status"] == "Scanning" and node["progress"]["phase"] == "Discovery"
    done = {
        "id": cid,
        "state": "done",
        "result": {"asset_count": 7, "duration": 12.5, "started_at": datetime.now(UTC).isoformat()},
    }
    assert agent.checkin(results=[done])["commands"] == []
    agent.checkin(results=[{**done, "result": {"asset_count": 99}}])  # a replayed result changes nothing
    node = admin.get(f"/api/v1/agents/{agent.node_id}").json()
    assert node["status"] == "Connected" and node["last_scan_result"] == "Completed"
    assert node["reported_assets"] == 7 and node["last_scan_duration"] == 12.5


def test_abort_makes_last_result_failed(admin: TestClient, ctx: ConsoleContext) -> None:
    agent = _connected_agent(admin, ctx)
    admin.post(f"/api/v1/agents/{agent.node_id}/scan")
    cid = agent.checkin()["commands"][0]["id"]
    agent.checkin(activity="scanning", results=[{"id": cid, "state": "running"}])
    r = admin.post(f"/api/v1/agents/{agent.node_id}/abort")
    assert r.status_code == 202 and r.json()["last_scan_result"] == "Failed"
    cmds = agent.checkin(activity="scanning")["commands"]
    assert [c["type"] for c in cmds] == ["abort_scan"]
    agent.checkin(
        results=[{"id": cid, "state": "failed", "error": "aborted"}, {"id": cmds[0]["id"], "state": "done"}]
    )
    node = admin.get(f"/api/v1/agents/{agent.node_id}").json()
    assert node["status"] == "Connected" and node["last_scan_result"] == "Failed"


def test_time_drift_is_a_disconnection_reason(admin: TestClient, ctx: ConsoleContext) -> None:
    agent = _connected_agent(admin, ctx)
    agent.checkin(client_time=(datetime.now(UTC) + timedelta(minutes=10)).isoformat())
    node = admin.get(f"/api/v1/agents/{agent.node_id}").json()
    assert node["status"] == "Disconnected" and node["disconnect_reason"] == (
        "Times drift detected. The on-premises management console has been disconnected from agent."
    )  # seed 002's message, about the agent
    assert 590 < node["clock_skew"] < 610
    agent.checkin()
    assert admin.get(f"/api/v1/agents/{agent.node_id}").json()["status"] == "Connected"


def test_bulk_actions_report_per_node(admin: TestClient, ctx: ConsoleContext) -> None:
    a, b = _connected_agent(admin, ctx, "a"), _connected_agent(admin, ctx, "b")
    pending = FakeAgent(ctx, admin.app)
    pending.enroll(admin, new_key(admin))
    ids = [a.node_id, b.node_id, pending.node_id, "nope"]
    r = admin.post("/api/v1/agents/bulk", json={"ids": ids, "action": "enable_schedule"}).json()
    assert r["results"][a.node_id] == "ok" and r["results"][b.node_id] == "ok"
    assert r["results"][pending.node_id] == (
        "the agent is Pending Approval; bulk schedules need a Connected agent"
    )
    assert r["results"]["nope"] == "not found"
    assert (r["succeeded"], r["failed"]) == (2, 2)
    assert admin.get(f"/api/v1/agents/{a.node_id}").json()["scan_schedule"] == "Every 1 minute"
    r = admin.post(
        "/api/v1/agents/bulk",
        json={"ids": ids[:2], "action": "set_schedule", "schedule": {"every": 3, "unit": "days"}},
    )
    assert r.json()["succeeded"] == 2
    assert {admin.get(f"/api/v1/agents/{i}").json()["scan_schedule"] for i in ids[:2]} == {"Every 3 days"}
    r = admin.post("/api/v1/agents/bulk", json={"ids": ids[:2], "action": "scan_now"}).json()
    assert r["succeeded"] == 2
    admin.post("/api/v1/agents/bulk", json={"ids": ids[:2], "action": "disable_schedule"})
    assert admin.get(f"/api/v1/agents/{b.node_id}").json()["scan_schedule"] == "Disabled"


def test_bulk_schedules_only_for_connected_agents(admin: TestClient, ctx: ConsoleContext) -> None:
    """Seed 000: the agents must be online, their Status Connected; Paused, Disconnected, Waiting for
    Connection are refused one by one, the others take the schedule."""
    a, b, c = (_connected_agent(admin, ctx, n) for n in ("a", "b", "c"))
    admin.post(f"/api/v1/agents/{b.node_id}/pause").raise_for_status()
    with ctx.db.session() as db:
        node = db.get(Node, c.node_id)
        assert node is not None
        node.last_seen = utcnow() - timedelta(minutes=10)  # silent: Disconnected
        db.commit()
    waiting = FakeAgent(ctx, admin.app)
    waiting.enroll(admin, new_key(admin))
    admin.post(f"/api/v1/agents/{waiting.node_id}/approve")
    cfg = {"name": "w", "active_query_networks": ["10.20.1.0/24"]}
    assert admin.put(f"/api/v1/agents/{waiting.node_id}/configuration", json=cfg).status_code == 200
    ids = [a.node_id, b.node_id, c.node_id, waiting.node_id]
    for action, extra in (
        ("enable_schedule", {}),
        ("set_schedule", {"schedule": {"every": 2, "unit": "hours"}}),
        ("disable_schedule", {}),
    ):
        a.checkin()  # online (the tests' offline_after is 5 s)
        b.checkin()  # paused, it still checks in
        r = admin.post("/api/v1/agents/bulk", json={"ids": ids, "action": action, **extra}).json()
        assert r["results"][a.node_id] == "ok", (action, r)
        assert r["results"][b.node_id] == "the agent is Paused; bulk schedules need a Connected agent"
        assert r["results"][c.node_id] == "the agent is Disconnected; bulk schedules need a Connected agent"
        assert "Waiting for Connection" in r["results"][waiting.node_id]
        assert (r["succeeded"], r["failed"]) == (1, 3)
    for i in ids[1:]:
        assert admin.get(f"/api/v1/agents/{i}").json()["scan_schedule"] == "Disabled"
    # right after one bulk action the agent is Preparing Connection (taking it): a second one is taken
    a.checkin()
    r = admin.post("/api/v1/agents/bulk", json={"ids": [a.node_id], "action": "enable_schedule"}).json()
    assert admin.get(f"/api/v1/agents/{a.node_id}").json()["status"] == "Preparing Connection"
    r = admin.post(
        "/api/v1/agents/bulk",
        json={"ids": [a.node_id], "action": "set_schedule", "schedule": {"every": 5, "unit": "minutes"}},
    ).json()
    assert r["succeeded"] == 1
    assert admin.get(f"/api/v1/agents/{a.node_id}").json()["scan_schedule"] == "Every 5 minutes"


def test_delete_refused_while_duplicated_networks_reference_agent(
    admin: TestClient, ctx: ConsoleContext
) -> None:
    agent = _connected_agent(admin, ctx)
    with ctx.db.session() as db:
        db.add(DuplicatedNetwork(node_id=agent.node_id, cidr="10.20.1.0/24"))
    r = admin.delete(f"/api/v1/agents/{agent.node_id}")
    assert r.status_code == 409 and "duplicated networks" in r.json()["error"]["message"]
    with ctx.db.session() as db:
        db.query(DuplicatedNetwork).delete()
    assert admin.delete(f"/api/v1/agents/{agent.node_id}").status_code == 204
    assert admin.get(f"/api/v1/agents/{agent.node_id}").status_code == 404
    with agent.mtls() as c:
        assert (
            c.post("/api/v1/wire/checkin", json={"client_time": datetime.now(UTC).isoformat()}).status_code
            == 401
        )


def test_status_filter_and_read_only_cannot_act(admin: TestClient, ctx: ConsoleContext) -> None:
    _connected_agent(admin, ctx)
    FakeAgent(ctx, admin.app).enroll(admin, new_key(admin))
    assert admin.get("/api/v1/agents?status=Pending Approval").json()["total"] == 1
    assert admin.get("/api/v1/agents?status=Connected").json()["total"] == 1
    assert admin.get("/api/v1/agents?status=Bogus").status_code == 422
    admin.post("/api/v1/users", json={"username": "ro", "password": "readonly-pass-1", "role": "Read Only"})
    admin.post("/api/v1/auth/login", json={"username": "ro", "password": "readonly-pass-1"})
    ids = [n["id"] for n in admin.get("/api/v1/agents").json()["items"]]
    r = admin.post("/api/v1/agents/bulk", json={"ids": ids, "action": "scan_now"})
    assert r.status_code == 403 and "Read Only" in r.json()["error"]["message"]
    admin.post("/api/v1/auth/login", json={"username": "admin", "password": "admin-password-1"})
    admin.post(
        "/api/v1/users", json={"username": "an", "password": "analyst-pass-1", "role": "Security Analyst"}
    )
    admin.post("/api/v1/auth/login", json={"username": "an", "password": "analyst-pass-1"})
    r = admin.post("/api/v1/agents/bulk", json={"ids": ids, "action": "delete"}).json()
    assert r["succeeded"] == 0 and all("Security Analyst" in v for v in r["results"].values())
