"""Sensors can be named and placed in a site: two sensors on one host are no longer both its host
name, in the fleet lists, alerts and the inventory's discovery sources."""

from __future__ import annotations

from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from tests.console.helpers import FakeAgent, new_key
from tests.console.test_alerts import _alert, _report
from tests.console.test_web_pages import _as


def _sensor(admin: TestClient, ctx: ConsoleContext, hostname: str) -> FakeAgent:
    s = FakeAgent(ctx, admin.app, kind="sensor")
    s.enroll(admin, new_key(admin), hostname=hostname)
    admin.post(f"/api/v1/sensors/{s.node_id}/approve")
    return s


def test_two_sensors_on_one_host_get_their_own_names(admin: TestClient, ctx: ConsoleContext) -> None:
    a, b = _sensor(admin, ctx, "vm"), _sensor(admin, ctx, "vm")
    assert {s["name"] for s in admin.get("/api/v1/sensors").json()["items"]} == {"vm"}
    r = admin.patch(f"/api/v1/sensors/{a.node_id}", json={"name": "  Line 1 SPAN ", "site": "Plant North"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Line 1 SPAN" and r.json()["site"] == "Plant North"
    admin.patch(f"/api/v1/sensors/{b.node_id}", json={"name": "Line 2 SPAN"})
    assert {(s["name"], s["site"]) for s in admin.get("/api/v1/sensors").json()["items"]} == {
        ("Line 1 SPAN", "Plant North"),
        ("Line 2 SPAN", ""),
    }
    # the names travel: alerts, the inventory's discovery sources, the pages
    _report(a, "alerts", alerts=[_alert("1")])
    _report(a, "assets", assets=[{"ip": "10.0.0.10"}])
    assert admin.get("/api/v1/alerts").json()["items"][0]["sensor_name"] == "Line 1 SPAN"
    assert admin.get("/api/v1/assets").json()["items"][0]["sources"][0]["name"] == "Line 1 SPAN"
    page = admin.get("/sensors").text
    assert "Line 1 SPAN" in page and "Plant North" in page and "(vm)" in page
    sensor_page = admin.get(f"/sensors/{a.node_id}").text
    assert 'id="sensor-name-form"' in sensor_page and 'value="Plant North"' in sensor_page
    # an empty name shows the host name again; the change is audited
    assert admin.patch(f"/api/v1/sensors/{a.node_id}", json={"name": ""}).json()["name"] == "vm"
    audit = admin.get("/settings/audit").text
    assert "sensor.named" in audit


def test_naming_is_checked(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx, "vm")
    assert admin.patch(f"/api/v1/sensors/{s.node_id}", json={}).status_code == 422
    assert admin.patch(f"/api/v1/sensors/{s.node_id}", json={"name": "a\x00b"}).status_code == 422
    assert admin.patch(f"/api/v1/sensors/{s.node_id}", json={"name": "x" * 201}).status_code == 422
    assert admin.patch(f"/api/v1/sensors/{s.node_id}", json={"colour": "red"}).status_code == 422
    assert admin.patch("/api/v1/sensors/nope", json={"name": "n"}).status_code == 404
    ro = _as(admin, "ro", "Read Only")
    assert ro.patch(f"/api/v1/sensors/{s.node_id}", json={"name": "n"}).status_code == 403
    assert 'id="sensor-name-form"' not in ro.get(f"/sensors/{s.node_id}").text
