"""Inventory quality at the console: ghost addresses (seen only as targets of probes nobody
answered) are hidden unless asked for and marked when shown, one answer makes an address real for
good, and a type a sensor inferred from behaviour carries its reason until the device says better."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from tests.console.helpers import FakeAgent, new_key
from tests.console.test_alerts import _report


def _sensor(admin: TestClient, ctx: ConsoleContext) -> FakeAgent:
    s = FakeAgent(ctx, admin.app, kind="sensor")
    s.enroll(admin, new_key(admin))
    admin.post(f"/api/v1/sensors/{s.node_id}/approve")
    return s


def _ips(admin: TestClient, **params: str) -> set[str]:
    r = admin.get("/api/v1/assets", params=params)
    assert r.status_code == 200, r.text
    return {a["ip"] for a in r.json()["items"]}


def test_ghosts_hidden_marked_and_made_real(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    _report(
        s, "assets", assets=[{"ip": "93.184.216.7", "ghost": True}, {"ip": "10.1.0.10", "device_type": "PLC"}]
    )
    assert _ips(admin) == {"10.1.0.10"}
    assert _ips(admin, ghosts="include") == {"10.1.0.10", "93.184.216.7"}
    assert _ips(admin, ghosts="only") == {"93.184.216.7"}
    (ghost,) = admin.get("/api/v1/assets", params={"ghosts": "only"}).json()["items"]
    assert ghost["ghost"] is True
    assert admin.get("/api/v1/dashboard").json()["assets"] == 1  # the dashboard counts devices
    page = admin.get("/inventory?ghosts=include").text
    assert page.count('class="badge badge-grey ghost"') == 1
    assert "93.184.216.7" not in admin.get("/inventory").text
    assert "probably no device" in admin.get(f"/inventory/{ghost['id']}").text
    # it answers at last: a device, for good (a later ghost report does not hide it again)
    _report(s, "assets", assets=[{"ip": "93.184.216.7"}])
    _report(s, "assets", assets=[{"ip": "93.184.216.7", "ghost": True}])
    assert _ips(admin) == {"10.1.0.10", "93.184.216.7"}
    assert admin.get("/api/v1/assets", params={"ghosts": "bogus"}).status_code == 422


def test_behaviour_type_carries_its_reason(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    laptop: dict[str, Any] = {
        "ip": "10.1.0.50",
        "device_type": "Scanner",
        "type_reason": "probed ports or addresses that did not answer (a scan)",
        "sources": {"device_type": "behaviour"},
    }
    _report(s, "assets", assets=[laptop])
    (a,) = admin.get("/api/v1/assets").json()["items"]
    assert a["device_type"] == "Scanner" and a["type_reason"] == laptop["type_reason"]
    assert "by behaviour: probed ports" in admin.get("/inventory").text
    assert "by behaviour: probed ports" in admin.get(f"/inventory/{a['id']}").text
    rows = admin.get("/api/v1/assets/export").text.splitlines()
    assert "Type reason" in rows[0] and "a scan" in rows[1]
    # the device then says what it is (an OT answer outranks behaviour): the reason goes
    _report(
        s, "assets", assets=[{"ip": "10.1.0.50", "device_type": "HMI", "sources": {"device_type": "enip"}}]
    )
    (a,) = admin.get("/api/v1/assets").json()["items"]
    assert a["device_type"] == "HMI" and a["type_reason"] is None


def test_a_sensors_reported_assets_count_what_its_link_lists(admin: TestClient, ctx: ConsoleContext) -> None:
    """Site Management's Reported Assets of a sensor was 0 for good (only agent scans set it), while
    its link listed every device the sensor reported."""
    s = _sensor(admin, ctx)
    _report(
        s, "assets", assets=[{"ip": "10.1.0.10"}, {"ip": "10.1.0.11"}, {"ip": "93.184.216.7", "ghost": True}]
    )
    _report(s, "assets", assets=[{"ip": "10.1.0.11"}, {"ip": "10.1.0.12"}])
    listed = _ips(admin, source=s.node_id)
    assert listed == {"10.1.0.10", "10.1.0.11", "10.1.0.12"}
    assert admin.get(f"/api/v1/sensors/{s.node_id}").json()["reported_assets"] == len(listed)
    page = admin.get("/sensors").text
    assert 'aria-label="3 assets reported by' in page
