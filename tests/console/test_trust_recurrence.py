"""Issue 17, item 10: an alert that recurs after it was closed reaches the forwarding rules again."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from tests.console.test_alerts import T0, _alert, _report, _sensor


def test_a_stop_that_recurs_after_close_is_a_new_forwarded_alert(
    admin: TestClient, ctx: ConsoleContext
) -> None:
    rule = {"name": "SIEM", "action": {"type": "syslog", "host": "127.0.0.1", "port": 5514}}
    assert admin.post("/api/v1/forwarding-rules", json=rule).status_code == 201
    s = _sensor(admin, ctx)
    _report(s, "alerts", alerts=[_alert("1")])
    first = admin.get("/api/v1/alerts").json()["items"][0]
    assert admin.post(f"/api/v1/alerts/{first['id']}/close").status_code == 200
    _report(s, "alerts", alerts=[_alert("1")])  # a resend of what was closed: nothing new
    assert admin.get("/api/v1/alerts").json()["total"] == 1
    later = (T0 + timedelta(minutes=9)).isoformat()
    _report(s, "alerts", alerts=[_alert("1", count=3, last_seen=later)])  # the PLC was stopped again
    items = admin.get("/api/v1/alerts").json()["items"]
    assert len(items) == 2
    again = next(a for a in items if a["id"] != first["id"])
    assert again["status"] == "open" and again["count"] == 2
    assert admin.get(f"/api/v1/alerts/{first['id']}").json()["status"] == "closed"
    deliveries = admin.get("/api/v1/deliveries").json()["items"]
    assert sorted(d["subject_id"] for d in deliveries) == sorted([first["id"], again["id"]])
    # the sensor's later resends of this key update the new alert, not the closed one
    _report(s, "alerts", alerts=[_alert("1", count=5, last_seen=(T0 + timedelta(minutes=10)).isoformat())])
    assert admin.get(f"/api/v1/alerts/{again['id']}").json()["count"] == 4
    assert admin.get(f"/api/v1/alerts/{first['id']}").json()["count"] == 1
