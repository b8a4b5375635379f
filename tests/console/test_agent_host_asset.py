"""The agent's own host in the inventory: reported by the agent (source "agent host"), merged by the one
rule with what a sensor saw of the same interface (no duplicate), and Host Asset on the Agents page
links to that asset's page."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from otwatch.agent import hostinfo
from otwatch.console.context import ConsoleContext
from otwatch.console.fleet.models import Node
from tests.console.helpers import FakeAgent, new_key
from tests.console.test_assets import _agent

SENSED = {"ip": "10.30.2.7", "mac": "00:0c:29:3e:51:07", "name": "WS-OLD", "sources": {"name": "nbns"},
          "protocols": [{"name": "s7comm", "role": "client"}]}  # fmt: skip
OWN = {
    "ip": "10.30.2.7", "mac": "00:0c:29:3e:51:07", "name": "ews-7", "os": "Windows 10",
    "sources": {"name": "agent host", "os": "agent host"},
    "identities": [{"protocol": "agent host", "name": "ews-7", "extra": {"interface": "Ethernet0"}}],
}  # fmt: skip
SECOND_NIC = {**OWN, "ip": "192.168.50.7", "mac": "00:0c:29:3e:51:08"}


def _assets(node: FakeAgent, *assets: dict[str, Any]) -> None:
    node.checkin(reports=[{"id": uuid.uuid4().hex, "kind": "assets", "assets": list(assets)}])


def _sensor(admin: TestClient, ctx: ConsoleContext) -> FakeAgent:
    s = FakeAgent(ctx, admin.app, kind="sensor")
    s.enroll(admin, new_key(admin))
    assert admin.post(f"/api/v1/sensors/{s.node_id}/approve").status_code == 200
    return s


def test_the_agents_host_merges_with_what_a_sensor_saw(admin: TestClient, ctx: ConsoleContext) -> None:
    sensor = _sensor(admin, ctx)
    _assets(sensor, SENSED)
    a = _agent(admin, ctx, "ews-agent")
    assert admin.get(f"/api/v1/agents/{a.node_id}").json()["host_asset_id"] is None
    with ctx.db.session() as db:  # the agent checks in from its second interface
        row = db.get(Node, a.node_id)
        assert row is not None
        row.ip = SECOND_NIC["ip"]
        db.commit()
    _assets(a, OWN, SECOND_NIC)
    items = admin.get("/api/v1/assets").json()["items"]
    assert len(items) == 2  # one per interface: the sensed one was not duplicated
    ews = next(i for i in items if i["mac"] == SENSED["mac"])
    assert ews["name"] == "ews-7" and ews["os"] == "Windows 10"  # the host's own word outranks NetBIOS
    assert {s["node_id"] for s in ews["sources"]} == {sensor.node_id, a.node_id}
    assert [p["protocol"] for p in ews["protocols"]] == ["s7comm"]  # the sensor's facts stay
    nic2 = next(i for i in items if i["mac"] == SECOND_NIC["mac"])

    # Host Asset: the interface the agent checks in from, then the page of that asset
    assert admin.get(f"/api/v1/agents/{a.node_id}").json()["host_asset_id"] == nic2["id"]
    with ctx.db.session() as db:
        row = db.get(Node, a.node_id)
        assert row is not None
        row.ip = "172.16.0.1"  # behind NAT: any of its own interfaces
        db.commit()
    host_id = admin.get(f"/api/v1/agents/{a.node_id}").json()["host_asset_id"]
    assert host_id in {ews["id"], nic2["id"]}
    listed = admin.get("/api/v1/agents").json()["items"]
    assert [x["host_asset_id"] for x in listed if x["id"] == a.node_id] == [host_id]
    html = admin.get("/agents").text
    assert f'<a href="/inventory/{host_id}" title="The host asset\'s details">' in html
    page = admin.get(f"/inventory/{host_id}")
    assert page.status_code == 200 and "ews-7" in page.text

    # a second agent on the same host: both link to its assets; the first agent's mark stays
    b = _agent(admin, ctx, "second-agent")
    _assets(b, OWN)
    assert admin.get(f"/api/v1/agents/{b.node_id}").json()["host_asset_id"] == ews["id"]
    assert admin.get(f"/api/v1/agents/{a.node_id}").json()["host_asset_id"] in {ews["id"], nic2["id"]}


def test_this_machines_real_host_report(admin: TestClient, ctx: ConsoleContext) -> None:
    """What hostinfo reads of this very machine goes through the console's validation and merge."""
    a = _agent(admin, ctx, "real")
    own = hostinfo.host_assets()
    _assets(a, *own)
    items = admin.get(f"/api/v1/assets?source={a.node_id}").json()["items"]
    assert sorted(i["mac"] for i in items) == sorted(o["mac"] for o in own)
    assert admin.get(f"/api/v1/agents/{a.node_id}").json()["host_asset_id"] in {i["id"] for i in items}
    _assets(a, *own)  # reported again (hourly): no duplicate
    assert admin.get(f"/api/v1/assets?source={a.node_id}").json()["total"] == len(own)
