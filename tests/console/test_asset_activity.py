"""An asset's conversations, alerts and timeline: what a real sensor pipeline reports (a generated
plant capture through ``SensorNode.build_reports``) checked in to the console, read back through the
API and the asset page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from otwatch.sensor.capture import synth
from otwatch.sensor.node.managed import SensorNode
from otwatch.wire.client import NodeState
from tests.console.helpers import FakeAgent, new_key


def _reports(tmp_path: Path) -> tuple[SensorNode, list[dict[str, Any]]]:
    node = SensorNode(NodeState(tmp_path / "sensor"), [])
    for frame in synth.demo_plant(minutes=1):
        node.sensor.process(*frame)
    return node, [r.model_dump(mode="json") for r in node.build_reports()]


def _sensor(admin: TestClient, ctx: ConsoleContext) -> FakeAgent:
    s = FakeAgent(ctx, admin.app, kind="sensor")
    s.enroll(admin, new_key(admin))
    admin.post(f"/api/v1/sensors/{s.node_id}/approve")
    return s


def _asset_id(admin: TestClient, ip: str) -> str:
    items = admin.get("/api/v1/assets", params={"q": ip, "limit": 100}).json()["items"]
    return str(next(a["id"] for a in items if a["ip"] == ip))


def test_sensor_reports_connections_with_functions_once(tmp_path: Path) -> None:
    node, reports = _reports(tmp_path)
    kinds = [r["kind"] for r in reports]
    assert kinds.index("assets") < kinds.index("connections")  # the ends are known first
    conns = [c for r in reports if r["kind"] == "connections" for c in r["connections"]]
    modbus = [c for c in conns if c["protocol"] == "modbus"]
    assert modbus and any(c["functions"] for c in modbus)
    assert all(c["client_ip"] and c["server_ip"] for c in modbus)
    assert "connections" not in [r.kind for r in node.build_reports()]  # nothing changed since


def test_asset_conversations_alerts_and_timeline(
    admin: TestClient, ctx: ConsoleContext, tmp_path: Path
) -> None:
    _, reports = _reports(tmp_path)
    s = _sensor(admin, ctx)
    s.checkin(reports=reports)  # assets, then their conversations, in one check-in
    conns = [c for r in reports if r["kind"] == "connections" for c in r["connections"]]
    modbus = next(c for c in conns if c["protocol"] == "modbus" and c["functions"])
    server = _asset_id(admin, modbus["server_ip"])

    talks = admin.get(f"/api/v1/assets/{server}/conversations").json()
    mine = [t for t in talks if t["protocol"] == "modbus" and t["peer_ip"] == modbus["client_ip"]]
    assert len(mine) == 1
    t = mine[0]
    assert t["role"] == "server" and t["port"] == modbus["port"] and t["functions"] == modbus["functions"]
    assert t["packets"] == modbus["packets"] and t["sensor_id"] == s.node_id
    client = t["peer_id"]
    s.checkin(reports=reports)  # a resend updates, never duplicates
    assert admin.get(f"/api/v1/assets/{server}/conversations").json() == talks
    back = admin.get(f"/api/v1/assets/{client}/conversations").json()
    assert any(b["role"] == "client" and b["peer_id"] == server for b in back)

    # alerts: the demo's last minute stops the S7 CPU; its page and the API show the alert
    alerts = [a for r in reports if r["kind"] == "alerts" for a in r["alerts"]]
    target_ip = next(a["destination_ip"] for a in alerts if a["destination_ip"])
    target = _asset_id(admin, target_ip)
    mine_alerts = admin.get(f"/api/v1/assets/{target}/alerts").json()
    expected = {a["title"] for a in alerts if target_ip in (a["source_ip"], a["destination_ip"])}
    assert {a["title"] for a in mine_alerts["items"]} == expected
    assert mine_alerts["total"] == len(expected)

    events = admin.get(f"/api/v1/assets/{target}/timeline").json()
    kinds = {e["kind"] for e in events}
    assert {"first_seen", "last_seen", "discovered", "alert", "conversation"} <= kinds
    assert [e["time"] for e in events] == sorted((e["time"] for e in events), reverse=True)

    page = admin.get(f"/inventory/{server}").text
    assert 'id="conversations-table"' in page and f'href="/inventory/{client}"' in page
    assert next(iter(modbus["functions"])) in page
    page = admin.get(f"/inventory/{target}").text
    assert 'id="asset-alerts"' in page and 'id="asset-timeline"' in page
    assert all(title in page for title in expected)


def test_conversations_of_unknown_assets_are_left_out(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    conn = {
        "client_ip": "10.1.1.1", "server_ip": "10.1.1.2", "protocol": "modbus", "transport": "tcp",
        "port": 502, "first_seen": "2026-12-01T10:00:00Z", "last_seen": "2026-12-01T10:05:00Z",
    }  # fmt: skip
    s.checkin(reports=[{"id": "c1", "kind": "connections", "connections": [conn]}])
    assert admin.get("/api/v1/assets").json()["total"] == 0
    s.checkin(reports=[{"id": "a1", "kind": "assets", "assets": [{"ip": "10.1.1.1"}, {"ip": "10.1.1.2"}]}])
    s.checkin(reports=[{"id": "c2", "kind": "connections", "connections": [conn]}])
    server = _asset_id(admin, "10.1.1.2")
    (t,) = admin.get(f"/api/v1/assets/{server}/conversations").json()
    assert t["peer_ip"] == "10.1.1.1" and t["functions"] == {} and t["role"] == "server"
    assert admin.get("/api/v1/assets/nope/conversations").status_code == 404


def test_merging_assets_keeps_their_conversations(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    addresses = [{"ip": "10.1.1.1"}, {"ip": "10.1.1.2"}, {"ip": "10.1.1.3"}]
    s.checkin(reports=[{"id": "a", "kind": "assets", "assets": addresses}])

    def conn(client: str, server: str, packets: int, functions: dict[str, int]) -> dict[str, Any]:
        return {
            "client_ip": client, "server_ip": server, "protocol": "modbus", "transport": "tcp", "port": 502,
            "first_seen": "2026-12-01T10:00:00Z", "last_seen": "2026-12-01T10:05:00Z", "packets": packets,
            "functions": functions,
        }  # fmt: skip

    conns = [
        conn("10.1.1.1", "10.1.1.2", 10, {"READ_COILS": 2}),
        conn("10.1.1.3", "10.1.1.2", 5, {"READ_COILS": 1, "WRITE_SINGLE_COIL": 1}),
        conn("10.1.1.1", "10.1.1.3", 7, {}),
    ]
    s.checkin(reports=[{"id": "c", "kind": "connections", "connections": conns}])
    keep, server, other = (_asset_id(admin, ip) for ip in ("10.1.1.1", "10.1.1.2", "10.1.1.3"))
    r = admin.post(f"/api/v1/assets/{keep}/merge", json={"from_id": other})
    assert r.status_code == 200, r.text
    (t,) = admin.get(f"/api/v1/assets/{server}/conversations").json()  # the two clients are one now
    assert t["peer_id"] == keep and t["packets"] == 15
    assert t["functions"] == {"READ_COILS": 3, "WRITE_SINGLE_COIL": 1}
    assert [c["peer_id"] for c in admin.get(f"/api/v1/assets/{keep}/conversations").json()] == [server]
