"""A sensor's Clear data with "also clear this sensor's assets and alerts from the console": the
``cleared`` report makes the console forget what that sensor reported (assets only it saw, its source
on the others, its conversations and alerts), audited, and keep what came after it and what others
reported."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from otwatch.console.alerts.models import Alert
from otwatch.console.assets.models import Asset, AssetConnection, AssetSource
from otwatch.console.audit.models import AuditEntry
from otwatch.console.context import ConsoleContext
from tests.console.helpers import FakeAgent, new_key

NOW = datetime.now(UTC).isoformat()


def _node(admin: TestClient, ctx: ConsoleContext, kind: str = "sensor") -> FakeAgent:
    n = FakeAgent(ctx, admin.app, kind=kind)
    n.enroll(admin, new_key(admin))
    assert admin.post(f"/api/v1/{kind}s/{n.node_id}/approve").status_code == 200
    return n


def _report(kind: str, **body: Any) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "kind": kind, **body}


def _alert(key: str, ip: str) -> dict[str, Any]:
    return {
        "key": key, "code": "S7_STOP", "engine": "Operational", "severity": "Critical", "title": "PLC Stop",
        "source_ip": ip, "destination_ip": "10.0.0.10", "first_seen": NOW, "last_seen": NOW,
    }  # fmt: skip


PLC = {"ip": "10.0.0.10", "mac": "00:1b:1b:00:00:10", "vendor": "Siemens", "sources": {"vendor": "s7comm"}}
HMI = {"ip": "10.0.0.20", "mac": "00:0c:29:00:00:20", "name": "hmi-1", "sources": {"name": "nbns"}}
EWS = {"ip": "10.0.0.30", "mac": "00:0c:29:00:00:30"}
CONNECTION = {
    "client_ip": "10.0.0.20", "client_mac": HMI["mac"], "server_ip": "10.0.0.10", "server_mac": PLC["mac"],
    "protocol": "s7comm", "transport": "tcp", "port": 102, "first_seen": NOW, "last_seen": NOW, "packets": 9,
}  # fmt: skip


def _sources(ctx: ConsoleContext, ip: str) -> set[str] | None:
    with ctx.db.session() as db:
        asset = db.scalar(select(Asset).where(Asset.ip == ip))
        return None if asset is None else {s.node_id for s in asset.sources}


def test_cleared_forgets_the_sensors_assets_and_alerts(admin: TestClient, ctx: ConsoleContext) -> None:
    a, b = _node(admin, ctx), _node(admin, ctx)
    a.checkin(reports=[
        _report("assets", assets=[PLC, HMI]), _report("connections", connections=[CONNECTION]),
        _report("alerts", alerts=[_alert("a1", "10.0.0.20"), _alert("a2", "10.0.0.20")]),
    ])  # fmt: skip
    b.checkin(
        reports=[_report("assets", assets=[PLC]), _report("alerts", alerts=[_alert("b1", "10.0.0.30")])]
    )
    assert _sources(ctx, "10.0.0.10") == {a.node_id, b.node_id} and _sources(ctx, "10.0.0.20") == {a.node_id}

    # Clear data with the console option: the cleared report, then the fresh sensor's first report
    a.checkin(reports=[_report("cleared"), _report("assets", assets=[EWS])])
    assert _sources(ctx, "10.0.0.20") is None  # only a saw it: removed
    assert _sources(ctx, "10.0.0.10") == {b.node_id}  # b saw it too: kept, a no longer a source
    assert _sources(ctx, "10.0.0.30") == {a.node_id}  # reported after the clear: kept
    with ctx.db.session() as db:
        plc = db.scalar(select(Asset).where(Asset.ip == "10.0.0.10"))
        assert plc is not None and plc.vendor == "Siemens"  # the values stay
        assert db.scalar(select(func.count()).select_from(AssetConnection)) == 0
        keys = set(db.scalars(select(Alert.sensor_key)))
        assert keys == {"b1"}
        entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "sensor.data_cleared"))
        assert entry is not None and entry.target == a.node_id and entry.actor == f"node:{a.node_id}"
        assert entry.detail == {"assets_removed": 1, "assets_kept": 1, "alerts_removed": 2}
        assert db.scalar(select(func.count()).select_from(AssetSource)) == 2  # PLC<-b, EWS<-a
    assert admin.get(f"/api/v1/alerts?sensor={a.node_id}").json()["total"] == 0
    # the inventory as the pages see it: the removed asset is gone from the list and its page
    ips = {i["ip"] for i in admin.get("/api/v1/assets").json()["items"]}
    assert ips == {"10.0.0.10", "10.0.0.30"}


def test_without_the_option_the_console_keeps_everything(admin: TestClient, ctx: ConsoleContext) -> None:
    a = _node(admin, ctx)
    a.checkin(
        reports=[_report("assets", assets=[HMI]), _report("alerts", alerts=[_alert("a1", "10.0.0.20")])]
    )
    a.checkin(reports=[_report("assets", assets=[EWS])])  # a Clear data without the option: no cleared report
    assert _sources(ctx, "10.0.0.20") == {a.node_id} and _sources(ctx, "10.0.0.30") == {a.node_id}
    assert admin.get(f"/api/v1/alerts?sensor={a.node_id}").json()["total"] == 1


def test_an_agent_cannot_clear(admin: TestClient, ctx: ConsoleContext) -> None:
    agent = _node(admin, ctx, "agent")
    agent.checkin(reports=[_report("assets", assets=[HMI])])
    agent.checkin(reports=[_report("cleared")])  # only sensors have Clear data
    assert _sources(ctx, "10.0.0.20") == {agent.node_id}
