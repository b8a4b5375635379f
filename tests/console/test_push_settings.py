"""Push system settings from one sensor to others: validation, per-sensor results, delivery on check-in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.fleet.models import Node
from tests.console.helpers import FakeAgent, new_key

SETTINGS: dict[str, Any] = {
    "mail_server": {
        "address": "mail.plant.local",
        "port": 587,
        "sender": "sensor@plant.local",
        "ssl": "starttls",
        "username": "sensor",
        "ntlm": True,  # pushed like the rest of the group
    },
    "snmp_mib_monitoring": {
        "enabled": True,
        "version": "v3",
        "v3_user": "monitor",
        "allowed_managers": ["10.1.0.5", "10.1.0.6"],
    },
    "active_directory": {
        "enabled": True,
        "domain": "plant.local",
        "servers": ["dc1.plant.local", "10.1.0.10"],
        "base_dn": "DC=plant,DC=local",
        "group_roles": {"OT-Admins": "Admin", "OT-Viewers": "Read Only"},
    },
    "dns_reverse_lookup": {
        "enabled": True,
        "servers": ["10.1.0.53"],
        "subnets": ["10.10.0.0/24"],
        "timeout": 1.5,
    },
    "subnets": ["10.10.0.0/24", "192.168.50.0/24"],
    "port_aliases": {"502": "plc-modbus", "8080": "historian web"},
}
GROUPS = list(SETTINGS)


def _sensor(
    admin: TestClient, ctx: ConsoleContext, *, approve: bool = True, checkin: bool = True
) -> FakeAgent:
    s = FakeAgent(ctx, admin.app, kind="sensor")
    s.enroll(admin, new_key(admin))
    if approve:
        assert admin.post(f"/api/v1/sensors/{s.node_id}/approve").status_code == 200
        if checkin:
            s.checkin()
    return s


def _disconnect(ctx: ConsoleContext, node_id: str | None) -> None:
    with ctx.db.session() as db:
        node = db.scalars(select(Node).where(Node.id == node_id)).one()
        node.last_seen = utcnow() - timedelta(minutes=10)


def _push(admin: TestClient, source: FakeAgent, groups: list[str], targets: list[str] | None = None) -> Any:
    body: dict[str, Any] = {"source_id": source.node_id, "groups": groups}
    if targets is not None:
        body["target_ids"] = targets
    return admin.post("/api/v1/sensors/push-settings", json=body)


def test_push_reports_per_sensor_and_queues_for_disconnected(admin: TestClient, ctx: ConsoleContext) -> None:
    a = _sensor(admin, ctx)
    r = admin.patch(f"/api/v1/sensors/{a.node_id}/configuration", json=SETTINGS)
    assert r.status_code == 200, r.text
    b = _sensor(admin, ctx)  # connected
    c = _sensor(admin, ctx, checkin=False)  # approved, never connected yet
    d = _sensor(admin, ctx)
    _disconnect(ctx, d.node_id)  # was connected, now silent
    pending = _sensor(admin, ctx, approve=False)  # not approved: never a target of "all"
    assert admin.get(f"/api/v1/sensors/{d.node_id}").json()["status"] == "Disconnected"

    r = _push(admin, a, GROUPS)
    assert r.status_code == 200, r.text
    out = r.json()
    by_id = {x["sensor_id"]: x for x in out["results"]}
    assert set(by_id) == {b.node_id, c.node_id, d.node_id}  # source and unapproved sensor left out
    assert by_id[b.node_id]["outcome"] == "applied" and by_id[b.node_id]["status"] == "Connected"
    assert by_id[c.node_id]["outcome"] == "queued" and "reconnects" in by_id[c.node_id]["message"]
    assert by_id[d.node_id]["outcome"] == "queued" and by_id[d.node_id]["status"] == "Disconnected"
    assert (out["applied"], out["queued"], out["failed"]) == (1, 2, 0)
    assert "the mail account's password" in out["not_pushed"]

    # the connected sensor gets them on its next check-in and acknowledges them
    got = b.checkin()["config"]
    assert got is not None
    source = admin.get(f"/api/v1/sensors/{a.node_id}").json()["settings"]
    for group in GROUPS:
        assert got[group] == source[group], group  # A's settings, defaults filled in
    assert got["dns_reverse_lookup"]["servers"] == ["10.1.0.53"] and got["snmp_mib_monitoring"]["port"] == 161
    assert got["learning"] is True  # its own engine settings are untouched
    b.checkin()
    view = admin.get(f"/api/v1/sensors/{b.node_id}").json()
    assert view["config_acked"] == view["config_version"] == by_id[b.node_id]["config_version"]
    assert view["settings"]["port_aliases"] == {"502": "plc-modbus", "8080": "historian web"}

    # the disconnected ones get them when they come back
    for late in (c, d):
        cfg = late.checkin()["config"]
        assert cfg is not None and cfg["dns_reverse_lookup"] == source["dns_reverse_lookup"]
        assert cfg["mail_server"] == SETTINGS["mail_server"] and "password" not in cfg["mail_server"]
        late.checkin()
        assert admin.get(f"/api/v1/sensors/{late.node_id}").json()["status"] == "Connected"
    assert pending.node_id is not None
    assert "mail_server" not in admin.get(f"/api/v1/sensors/{pending.node_id}").json()["settings"] or (
        admin.get(f"/api/v1/sensors/{pending.node_id}").json()["settings"]["mail_server"] is None
    )

    audit = admin.get("/api/v1/audit?action=sensor.settings_pushed").json()["items"]
    assert len(audit) == 1 and audit[0]["target"] == a.node_id
    assert audit[0]["detail"]["targets"] == {b.node_id: "applied", c.node_id: "queued", d.node_id: "queued"}


def test_push_to_chosen_sensors_each_on_its_own(admin: TestClient, ctx: ConsoleContext) -> None:
    a, b, c = _sensor(admin, ctx), _sensor(admin, ctx), _sensor(admin, ctx)
    unapproved = _sensor(admin, ctx, approve=False)
    admin.patch(f"/api/v1/sensors/{a.node_id}/configuration", json={"port_aliases": {"502": "plc-modbus"}})
    admin.patch(f"/api/v1/sensors/{c.node_id}/configuration", json={"subnets": ["172.16.0.0/16"]})
    r = _push(admin, a, ["port_aliases", "subnets"], [b.node_id, unapproved.node_id, a.node_id, "nope"])
    assert r.status_code == 200, r.text
    res = {x["sensor_id"]: x for x in r.json()["results"]}
    assert res[b.node_id]["outcome"] == "applied"
    assert res[unapproved.node_id]["outcome"] == "failed" and "approve" in res[unapproved.node_id]["message"]
    assert res[a.node_id]["outcome"] == "failed" and "source" in res[a.node_id]["message"]
    assert res["nope"] == {**res["nope"], "outcome": "failed", "message": "sensor not found"}
    assert c.node_id not in res
    cfg = b.checkin()["config"]
    assert cfg["port_aliases"] == {"502": "plc-modbus"} and cfg["subnets"] == []  # A's subnets: none
    assert admin.get(f"/api/v1/sensors/{c.node_id}").json()["settings"]["subnets"] == ["172.16.0.0/16"]
    assert c.checkin()["config"]["port_aliases"] == {}  # not chosen: C keeps its own


def test_push_validation(admin: TestClient, ctx: ConsoleContext) -> None:
    a, b = _sensor(admin, ctx), _sensor(admin, ctx)
    assert _push(admin, a, []).status_code == 422
    assert _push(admin, a, ["learning"]).status_code == 422  # not a pushable group
    assert _push(admin, a, ["subnets"], []).status_code == 422
    r = admin.post("/api/v1/sensors/push-settings", json={"source_id": "missing", "groups": ["subnets"]})
    assert r.status_code == 404
    r = _push(admin, a, ["mail_server", "subnets"])
    assert r.status_code == 409 and "no Mail server settings" in r.json()["error"]["message"]
    assert b.checkin()["config"] is None  # nothing half-pushed
    bad = [
        {"mail_server": {"address": "mail server!", "sender": "a@b.c"}},
        {"mail_server": {"address": "mail.local", "sender": "not-an-address"}},
        {"mail_server": {"address": "mail.local", "sender": "a@b.c", "password": "secret"}},
        {"mail_server": {"address": "mail.local", "sender": "a@b.c", "ssl": "tls1.0"}},
        {"snmp_mib_monitoring": {"enabled": True, "version": "v3"}},
        {"snmp_mib_monitoring": {"enabled": True, "community": "public"}},
        {"snmp_mib_monitoring": {"allowed_managers": ["10.0.0.300"]}},
        {"active_directory": {"enabled": True, "domain": "plant.local"}},
        {"active_directory": {"base_dn": "plant.local"}},
        {"active_directory": {"group_roles": {"x": "Root"}}},
        {"dns_reverse_lookup": {"enabled": True, "servers": ["10.0.0.53"]}},
        {"dns_reverse_lookup": {"servers": ["dns.local"]}},
        {"dns_reverse_lookup": {"subnets": ["10.0.0.1/24"]}},
        {"dns_reverse_lookup": {"timeout": 0}},
    ]
    for body in bad:
        r = admin.patch(f"/api/v1/sensors/{a.node_id}/configuration", json=body)
        assert r.status_code == 422, (body, r.text)


def test_get_setting_group_for_the_dialog(admin: TestClient, ctx: ConsoleContext) -> None:
    a = _sensor(admin, ctx)
    r = admin.get(f"/api/v1/sensors/{a.node_id}/settings/mail_server")
    assert r.status_code == 200 and r.json()["configured"] is False and r.json()["value"] is None
    assert r.json()["not_pushed"] == "the mail account's password"
    admin.patch(f"/api/v1/sensors/{a.node_id}/configuration", json=SETTINGS)
    got = admin.get(f"/api/v1/sensors/{a.node_id}/settings/active_directory").json()
    assert got["configured"] and got["label"] == "Active Directory"
    assert got["value"]["group_roles"] == {"OT-Admins": "Admin", "OT-Viewers": "Read Only"}
    assert got["value"]["port"] == 636 and got["value"]["ldaps"] is True  # defaults filled in
    subnets = admin.get(f"/api/v1/sensors/{a.node_id}/settings/subnets").json()
    assert subnets["value"] == SETTINGS["subnets"] and subnets["not_pushed"] is None
    assert admin.get(f"/api/v1/sensors/{a.node_id}/settings/learning").status_code == 422
    assert admin.get("/api/v1/sensors/missing/settings/subnets").status_code == 404


def test_read_only_may_not_push_or_read(admin: TestClient, ctx: ConsoleContext) -> None:
    a, b = _sensor(admin, ctx), _sensor(admin, ctx)
    admin.patch(f"/api/v1/sensors/{a.node_id}/configuration", json={"port_aliases": {"502": "plc"}})
    admin.post("/api/v1/users", json={"username": "ro", "password": "readonly-pass-1", "role": "Read Only"})
    admin.post("/api/v1/auth/login", json={"username": "ro", "password": "readonly-pass-1"})
    assert _push(admin, a, ["port_aliases"]).status_code == 403
    assert admin.get(f"/api/v1/sensors/{a.node_id}/settings/port_aliases").status_code == 403
    assert b.checkin()["config"] is None
