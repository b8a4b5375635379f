"""Sensor reports: alerts (idempotent upserts, status workflow, PCAP download), assets and statistics."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from tests.console.helpers import FakeAgent, new_key

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
PCAP = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")


def _sensor(admin: TestClient, ctx: ConsoleContext) -> FakeAgent:
    s = FakeAgent(ctx, admin.app, kind="sensor")
    s.enroll(admin, new_key(admin))
    admin.post(f"/api/v1/sensors/{s.node_id}/approve")
    return s


def _alert(key: str, **over: Any) -> dict[str, Any]:
    a = {
        "key": key, "code": "S7_STOP", "engine": "Operational", "severity": "Major",
        "title": "S7 Stop PLC Command was Sent", "description": "10.0.0.5 stopped 10.0.0.10",
        "protocol": "s7comm", "source_ip": "10.0.0.5", "destination_ip": "10.0.0.10",
        "first_seen": T0.isoformat(), "last_seen": T0.isoformat(), "count": 1,
        "pcap_b64": base64.b64encode(PCAP).decode(),
    }  # fmt: skip
    a.update(over)
    return a


def _report(s: FakeAgent, kind: str, **body: Any) -> None:
    s.checkin(reports=[{"id": f"r-{kind}-{datetime.now().timestamp()}", "kind": kind, **body}])


def test_alerts_upsert_filter_and_workflow(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    _report(
        s,
        "alerts",
        alerts=[
            _alert("1"),
            _alert(
                "2",
                code="MODBUS_EXCEPTION",
                engine="Operational",
                severity="Minor",
                title="Modbus Exception",
                protocol="modbus",
            ),
        ],
    )
    _report(s, "alerts", alerts=[_alert("1", count=5, last_seen=(T0 + timedelta(minutes=3)).isoformat())])
    page = admin.get("/api/v1/alerts").json()
    assert page["total"] == 2
    stop = next(a for a in page["items"] if a["code"] == "S7_STOP")
    assert stop["count"] == 5 and stop["has_pcap"] and stop["sensor_id"] == s.node_id
    assert admin.get("/api/v1/alerts?protocol=modbus").json()["total"] == 1
    assert admin.get("/api/v1/alerts?severity=Major").json()["total"] == 1
    assert admin.get("/api/v1/alerts?ip=10.0.0.10").json()["total"] == 2
    assert admin.get("/api/v1/alerts?severity=Huge").status_code == 422
    pcap = admin.get(f"/api/v1/alerts/{stop['id']}/pcap")
    assert pcap.status_code == 200 and pcap.content == PCAP
    assert admin.post(f"/api/v1/alerts/{stop['id']}/acknowledge").json()["status"] == "acknowledged"
    assert admin.post(f"/api/v1/alerts/{stop['id']}/acknowledge").status_code == 409
    closed = admin.post(f"/api/v1/alerts/{stop['id']}/close").json()
    assert closed["status"] == "closed" and closed["status_by"] == "admin"
    _report(s, "alerts", alerts=[_alert("1", count=5, last_seen=(T0 + timedelta(minutes=3)).isoformat())])
    assert admin.get(f"/api/v1/alerts/{stop['id']}").json()["status"] == "closed"  # a resend changes nothing
    _report(s, "alerts", alerts=[_alert("1", count=6, last_seen=(T0 + timedelta(minutes=9)).isoformat())])
    assert admin.get(f"/api/v1/alerts/{stop['id']}").json()["status"] == "closed"  # it stays closed ...
    again = [a for a in admin.get("/api/v1/alerts?status=open").json()["items"] if a["code"] == "S7_STOP"]
    assert len(again) == 1 and again[0]["count"] == 1  # ... and what happened again is a new alert
    actions = [e["action"] for e in admin.get("/api/v1/audit?action=alert").json()["items"]]
    assert actions.count("alert.acknowledge") == 1 and actions.count("alert.close") == 1


def test_attack_technique_is_kept_shown_and_filterable(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    op = _alert("9", code="PROGRAM_DOWNLOAD", title="PLC Program Download", technique="T0843",
                technique_name="Program Download")  # fmt: skip
    _report(s, "alerts", alerts=[op, _alert("10")])
    [item] = admin.get("/api/v1/alerts?technique=T0843").json()["items"]
    assert (item["code"], item["technique"], item["technique_name"]) == (
        "PROGRAM_DOWNLOAD",
        "T0843",
        "Program Download",
    )
    page = admin.get(f"/alerts/{item['id']}").text
    assert "https://attack.mitre.org/techniques/T0843/" in page and "T0843 Program Download" in page
    assert ">T0843</span>" in admin.get("/alerts").text
    # A technique that is not an ATT&CK id is refused at the boundary, and nothing of the report is stored.
    before = admin.get("/api/v1/alerts").json()["total"]
    with pytest.raises(AssertionError, match="technique: String should match pattern"):
        s.checkin(reports=[{"id": "r-bad-t", "kind": "alerts", "alerts": [_alert("11", technique="<b>")]}])
    assert admin.get("/api/v1/alerts").json()["total"] == before


def test_read_only_cannot_acknowledge(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    _report(s, "alerts", alerts=[_alert("9")])
    aid = admin.get("/api/v1/alerts").json()["items"][0]["id"]
    admin.post("/api/v1/users", json={"username": "ro", "password": "readonly-pass-1", "role": "Read Only"})
    admin.post("/api/v1/auth/login", json={"username": "ro", "password": "readonly-pass-1"})
    assert admin.post(f"/api/v1/alerts/{aid}/acknowledge").status_code == 403
    assert admin.get(f"/api/v1/alerts/{aid}").status_code == 200


def test_sensor_assets_and_stats(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    assets = [{"ip": "10.0.0.10", "mac": "00:0e:8c:01:02:03", "vendor": "Siemens", "device_type": "PLC",
               "protocols": [{"name": "s7comm", "role": "server"}]},
              {"ip": "10.0.0.5", "device_type": "Engineering Station", "protocols": [{"name": "s7comm", "role": "client"}]}]  # fmt: skip
    _report(s, "assets", assets=assets)
    _report(s, "stats", stats={"top_protocols": [["s7comm", 2]]})
    items = admin.get(f"/api/v1/assets?source={s.node_id}").json()["items"]
    assert {(a["ip"], a["device_type"]) for a in items} == {
        ("10.0.0.10", "PLC"),
        ("10.0.0.5", "Engineering Station"),
    }
    client = next(a for a in items if a["ip"] == "10.0.0.5")
    assert client["protocols"] == [{"protocol": "s7comm", "role": "client"}]
    assert client["sources"][0]["kind"] == "sensor"


def test_malformed_report_refused_nothing_stored(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    with s.mtls() as c:
        body = {
            "client_time": datetime.now(UTC).isoformat(),
            "reports": [{"id": "x", "kind": "alerts", "alerts": [{"key": "1"}]}],
        }
        r = c.post("/api/v1/wire/checkin", json=body)
    assert r.status_code == 422 and "alerts" in r.json()["error"]["message"]
    assert admin.get("/api/v1/alerts").json()["total"] == 0
