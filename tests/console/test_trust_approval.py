"""Issue 17, item 1: nothing a node sends is trusted before its approval, and pairing keys are bounded
(a use limit, a node kind, a maximum lifetime; an activation file's key enrols one sensor)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from otwatch.console.alerts.models import Alert
from otwatch.console.assets.models import Asset
from otwatch.console.context import ConsoleContext
from otwatch.console.fleet.models import Node
from otwatch.console.forwarding.models import Delivery
from tests.console.helpers import FakeAgent, new_key
from tests.console.test_alerts import _alert


def _count(ctx: ConsoleContext, model: type) -> int:
    with ctx.db.session() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _reports(kind: str, **body: object) -> list[dict[str, object]]:
    return [{"id": f"r-{kind}-{datetime.now(UTC).timestamp()}", "kind": kind, **body}]


def test_reports_of_a_pending_node_are_not_stored_or_forwarded(
    admin: TestClient, ctx: ConsoleContext
) -> None:
    """A sensor still Pending Approval sends a forged Critical alert, assets and statistics: nothing is
    stored, nothing is queued for the forwarding rules; after approval its reports are taken."""
    r = admin.post(
        "/api/v1/forwarding-rules",
        json={"name": "all", "action": {"type": "syslog", "host": "127.0.0.1", "port": 5514}},
    )
    assert r.status_code == 201, r.text
    s = FakeAgent(ctx, admin.app, kind="sensor")
    s.enroll(admin, new_key(admin))
    resp = s.checkin(reports=_reports("alerts", alerts=[_alert("1", severity="Critical")]))
    assert resp["status"] == "Pending Approval"
    s.checkin(reports=_reports("assets", assets=[{"ip": "10.0.0.10", "vendor": "Forged"}]))
    s.checkin(reports=_reports("stats", stats={"packets": 1}))
    s.checkin(reports=_reports("stats", stats={"packets": 2}))  # the idle path too
    assert _count(ctx, Alert) == 0 and _count(ctx, Delivery) == 0 and _count(ctx, Asset) == 0
    with ctx.db.session() as db:
        assert db.get(Node, s.node_id).stats in ({}, None)  # type: ignore[union-attr]
    # a pending agent's own "scheduled scan" result is not taken either
    a = FakeAgent(ctx, admin.app)
    a.enroll(admin, new_key(admin))
    result = {"scheduled": True, "assets": [{"ip": "10.0.0.11"}], "duration": 1.0}
    a.checkin(results=[{"id": "sched-1", "state": "done", "result": result}])
    assert _count(ctx, Asset) == 0
    assert admin.post(f"/api/v1/sensors/{s.node_id}/approve").status_code == 200
    s.checkin()
    s.checkin(reports=_reports("alerts", alerts=[_alert("1", severity="Critical")]))
    assert _count(ctx, Alert) == 1 and _count(ctx, Delivery) == 1


def test_pairing_key_use_limit_kind_and_lifetime(admin: TestClient, ctx: ConsoleContext) -> None:
    key = new_key(admin)  # default: one node
    FakeAgent(ctx, admin.app).enroll(admin, key)
    second = FakeAgent(ctx, admin.app, kind="sensor")
    r = admin.post("/api/v1/wire/enroll", json=second.enroll_body(key))
    assert r.status_code == 401 and r.json()["error"]["code"] == "used_pairing_key", r.text
    many = new_key(admin, max_uses=2, kind="sensor")
    FakeAgent(ctx, admin.app, kind="sensor").enroll(admin, many)
    agent = FakeAgent(ctx, admin.app)
    r = admin.post("/api/v1/wire/enroll", json=agent.enroll_body(many))
    assert r.status_code == 401 and r.json()["error"]["code"] == "wrong_kind_pairing_key", r.text
    FakeAgent(ctx, admin.app, kind="sensor").enroll(admin, many)
    r = admin.post("/api/v1/wire/enroll", json=FakeAgent(ctx, admin.app, kind="sensor").enroll_body(many))
    assert r.status_code == 401 and r.json()["error"]["code"] == "used_pairing_key"
    listed = admin.get("/api/v1/pairing-keys").json()["items"]
    assert sorted((k["kind"], k["uses"], k["max_uses"]) for k in listed) == [
        ("agent", 1, 1),
        ("sensor", 2, 2),
    ]
    for too_long in (366, 3650):
        r = admin.post("/api/v1/pairing-keys", json={"expires_days": too_long})
        assert r.status_code == 422
    assert admin.post("/api/v1/pairing-keys", json={"max_uses": 0}).status_code == 422
    assert _count(ctx, Node) == 3


def test_activation_file_key_is_single_use_for_a_sensor(admin: TestClient, ctx: ConsoleContext) -> None:
    r = admin.post("/api/v1/sensors/activation-file", json={"mode": "console-connected"})
    assert r.status_code == 200, r.text
    key = json.loads(base64.b64decode(json.loads(r.content)["payload"]))["pairing_key"]
    agent = FakeAgent(ctx, admin.app)
    r = admin.post("/api/v1/wire/enroll", json=agent.enroll_body(key))
    assert r.status_code == 401 and r.json()["error"]["code"] == "wrong_kind_pairing_key", r.text
    FakeAgent(ctx, admin.app, kind="sensor").enroll(admin, key)
    r = admin.post("/api/v1/wire/enroll", json=FakeAgent(ctx, admin.app, kind="sensor").enroll_body(key))
    assert r.status_code == 401 and r.json()["error"]["code"] == "used_pairing_key"
