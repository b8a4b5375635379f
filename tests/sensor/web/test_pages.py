"""Sign-in, the Overview's five widgets, Devices and Alerts, rendered from a sensor that saw a plant."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from otwatch.sensor.local.store import Role, SensorStore
from otwatch.sensor.node.managed import SensorNode
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.wire.client import NodeState
from tests.conftest import form_login
from tests.sensor.web.conftest import PASSWORDS, AppFactory, client_for

SVG = "{http://www.w3.org/2000/svg}"


def _charts(html: str) -> dict[str, ET.Element]:
    return {
        name: ET.fromstring(markup)
        for name, markup in re.findall(
            r'<figure class="chart-box" data-chart="(\w+)">(.*?)</figure>', html, re.S
        )
    }


def _shapes(svg: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in svg.iter(SVG + tag) if cls in (e.get("class") or "").split()]


def _dd(html: str, label: str) -> str:
    m = re.search(rf"<dt>{re.escape(label)}</dt>\s*<dd[^>]*>(.*?)</dd>", html, re.S)
    assert m, f"no {label} in General Settings"
    return " ".join(re.sub(r"<[^>]+>", " ", m.group(1)).split())


# ---------------------------------------------------------------- sign-in


def test_pages_need_a_session(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver") as c:
        for path in (
            "/overview",
            "/devices",
            "/alerts",
            "/system/certificate",
            "/system/network",
            "/system/time",
            "/system/pcap",
            "/system/advanced",
            "/support",
        ):
            r = c.get(path, follow_redirects=False)
            assert (r.status_code, r.headers.get("location")) == (303, "/login"), path
        assert c.get("/login").status_code == 200


def test_wrong_password_and_lockout(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver") as c:
        for _ in range(5):
            r = form_login(c, "admin", "wrong")
            assert r.status_code == 401 and "Wrong user name or password." in r.text
        r = form_login(c, "admin", PASSWORDS[Role.ADMIN])
        assert r.status_code == 429 and "Too many failed sign-ins" in r.text
        assert c.get("/overview", follow_redirects=False).status_code == 303


def test_unknown_user_is_refused(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver") as c:
        r = form_login(c, "root", "x")
        assert r.status_code == 401


def test_session_cookie_is_secure_and_strict(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver") as c:
        r = form_login(c, "admin", PASSWORDS[Role.ADMIN], follow_redirects=False)
        cookie = r.headers["set-cookie"].lower()
        assert "secure" in cookie and "samesite=strict" in cookie and "httponly" in cookie


def test_generated_passwords_are_returned_once_and_stored_hashed(tmp_path: Path) -> None:
    s = SensorStore(tmp_path)
    first = s.ensure_users({})
    assert set(first) == {Role.ADMIN, Role.SUPPORT}
    assert s.ensure_users({}) == {}  # second start: nothing new to show
    raw = (s.dir / "users.json").read_text()
    assert first[Role.ADMIN] not in raw and "$argon2" in raw
    assert (s.dir / "users.json").stat().st_mode & 0o777 == 0o600
    assert s.authenticate("admin", first[Role.ADMIN]) is Role.ADMIN
    assert s.authenticate("support", first[Role.ADMIN]) is None


def test_logout(admin: TestClient) -> None:
    assert admin.post("/logout", follow_redirects=False).headers["location"] == "/login"
    assert admin.get("/overview", follow_redirects=False).status_code == 303


# ---------------------------------------------------------------- overview


def test_overview_widgets(admin: TestClient, fed_sensor: Sensor) -> None:
    html = admin.get("/overview").text
    for title in (
        "General Settings",
        "Traffic Monitoring",
        "Top 5 OT Protocols",
        "Traffic By Port",
        "Top open alerts",
    ):
        assert f">{title}</h2>" in html
    assert _dd(html, "Connectivity") == "Locally managed"
    assert _dd(html, "Management mode") == "Locally managed"
    assert _dd(html, "Learning mode") == "Off"
    assert "Service connection error" not in html
    engines = _dd(html, "Engines")
    for e in ("Protocol Violation", "Policy Violation", "Malware", "Anomaly", "Operational"):
        assert f"On {e}" in engines
    assert _dd(html, "Devices") == str(len(fed_sensor.inventory.assets))

    charts = _charts(html)
    assert set(charts) == {"traffic", "protocols", "ports"}
    points = _shapes(charts["traffic"], "circle", "point")
    assert points and all(float(p.get("data-value") or 0) > 0 for p in points)
    bars = {
        b.get("data-label"): float(b.get("data-value") or 0)
        for b in _shapes(charts["protocols"], "rect", "bar")
    }
    devices = fed_sensor.stats.protocol_devices(fed_sensor.inventory)
    assert bars and len(bars) <= 5
    for name, n in bars.items():
        assert devices[name] == n  # the bar is the number of devices using the protocol
    assert {"modbus", "s7comm", "dnp3"} <= set(bars)
    slices = {s.get("data-label") for s in _shapes(charts["ports"], "path", "slice")}
    assert "tcp/502" in slices and "tcp/102" in slices

    rows = re.findall(r'<tr data-id="(\d+)">(.*?)</tr>', html, re.S)
    assert rows, "the incident raised high-severity alerts"
    for _, row in rows:
        assert "Critical" in row or "Major" in row
    # each widget links to its details
    assert (
        'href="/devices?protocol=modbus"' in html and 'href="/alerts"' in html and 'href="/devices"' in html
    )


def test_overview_of_an_idle_sensor_shows_empty_charts(make_app: AppFactory) -> None:
    with client_for(make_app(Sensor())) as c:
        html = c.get("/overview").text
    charts = _charts(html)
    assert all("chart-empty" in (svg.get("class") or "") for svg in charts.values())
    assert "No open alerts of high severity." in html


def _paired_node(tmp_path: Path) -> SensorNode:
    state = tmp_path / "paired"
    state.mkdir()
    (state / "identity.json").write_text(
        json.dumps(
            {
                "node_id": "n1",
                "install_id": "i1",
                "kind": "sensor",
                "address": "console.plant:8443",
                "enrolled_at": "2026-01-01T00:00:00+00:00",
            }
        )
    )
    return SensorNode(NodeState(state), [])


def test_disconnected_sensor_shows_the_service_connection_error(make_app: AppFactory, tmp_path: Path) -> None:
    node = _paired_node(tmp_path)
    node.runtime.last_error = "console unreachable: [Errno 111] Connection refused"
    with client_for(make_app(node)) as c:
        html = c.get("/overview").text
    assert _dd(html, "Management mode") == "Managed by the console at console.plant:8443"
    assert _dd(html, "Connectivity").startswith("Disconnected")
    assert "Connection refused" in _dd(html, "Connectivity")
    banner = re.search(r'data-testid="system-message">(.*?)</div>', html, re.S)
    assert (
        banner and "Service connection error." in banner.group(1) and "Connection refused" in banner.group(1)
    )


def test_certificate_refusal_is_named_on_the_overview(make_app: AppFactory, tmp_path: Path) -> None:
    node = _paired_node(tmp_path)
    node.runtime.last_error = (
        "console unreachable: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    )
    with client_for(make_app(node)) as c:
        html = c.get("/overview").text
    assert "Validation of the management console certificate failed" in _dd(html, "Connectivity")


def test_connected_sensor(make_app: AppFactory, tmp_path: Path) -> None:
    node = _paired_node(tmp_path)
    node.runtime.status = "Connected"
    with client_for(make_app(node)) as c:
        html = c.get("/overview").text
    assert _dd(html, "Connectivity") == "Connected"
    assert "Service connection error" not in html


# ---------------------------------------------------------------- devices and alerts


def test_devices_page_lists_the_inventory(admin: TestClient, fed_sensor: Sensor) -> None:
    html = admin.get("/devices").text
    rows = re.findall(r'<tr data-id="\d+">', html)
    assert len(rows) == len(fed_sensor.inventory.assets)
    assert "10.10.0.11" in html and "10.10.0.10" in html
    only = admin.get("/devices", params={"protocol": "s7comm"}).text
    s7 = [a for a in fed_sensor.inventory.assets if any(p == "s7comm" for p, _ in a.protocols)]
    assert 0 < len(re.findall(r'<tr data-id="\d+">', only)) == len(s7) < len(rows)


def test_alerts_page_lists_and_filters(admin: TestClient, fed_sensor: Sensor) -> None:
    html = admin.get("/alerts").text
    opened = [a for a in fed_sensor.alerts.alerts.values() if a.status == "open"]
    assert len(re.findall(r'<tr id="alert-\d+"', html)) == len(opened)
    major = admin.get("/alerts", params={"severity": "Major", "status": "all"}).text
    want = [a for a in fed_sensor.alerts.alerts.values() if a.severity == "Major"]
    assert len(re.findall(r'<tr id="alert-\d+"', major)) == len(want)
