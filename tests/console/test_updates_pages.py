"""System Configuration > Updates page: upload form, package lists, Auto-Updates, sensor selection
with conflict, progress, Retry and the failure-log link; every form carries the CSRF token."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from otwatch.console.updates import service
from tests.console.test_updates import PUB as OTD_PUB
from tests.console.test_updates import otd
from tests.console.test_updates_sensors import PUB, _sensor, sensor_pkg
from tests.console.test_web_pages import _as


@pytest.fixture
def page_ready(ctx: ConsoleContext, monkeypatch: pytest.MonkeyPatch) -> None:
    d = ctx.settings.data_dir / "release-keys"
    d.mkdir()
    (d / "release.pub").write_bytes(PUB)  # sensor packages' key
    (d / "otd.pub").write_bytes(OTD_PUB)  # the OTD packages' key (tests/console/test_updates.py)
    monkeypatch.setattr(service, "console_version", lambda: "0.3.0")


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "form without a CSRF field"
    return m.group(1)


def _form_client(admin: TestClient) -> tuple[TestClient, str]:
    """The admin as a browser posting the page's forms: the token only in the form field."""
    html = admin.get("/settings/updates").text
    admin.headers.pop("X-CSRF-Token", None)
    return admin, _csrf(html)


def test_upload_form_and_packages_per_kind(admin: TestClient, ctx: ConsoleContext, page_ready: None) -> None:
    html = admin.get("/settings/updates").text
    assert 'href="/settings/updates" aria-current="page"' in html  # the nav link
    assert 'data-testid="console-version">0.3.0' in html and 'action="/settings/updates/upload"' in html
    assert html.count('name="csrf"') >= 4  # upload, auto-update, selection (+ sign out)
    c, token = _form_client(admin)
    r = c.post(
        "/settings/updates/upload",
        data={"csrf": token},
        files={"file": ("otd-engine-1.1.0.tar", otd("1.1.0"), "application/x-tar")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = c.get(r.headers["location"]).text
    assert "otd-engine-1.1.0.tar verified and uploaded" in page
    assert re.search(r'data-kind="otd".*?<td>otd-engine-1.1.0.tar</td><td>1.1.0</td>', page, re.S)
    bad = bytearray(otd("1.2.0"))
    bad[bytes(bad).index(b"44818")] ^= 1
    r = c.post(
        "/settings/updates/upload", data={"csrf": token}, files={"file": ("x.tar", bytes(bad))}
    )  # redirect followed: the page shows why
    assert r.status_code == 200 and "x.tar: file engine.json does not match its SHA-256" in r.text
    r = c.post("/settings/updates/upload", files={"file": ("x.tar", otd("1.3.0"))})  # no token
    assert r.status_code == 403 and "csrf" in r.text.lower()
    r = c.post("/settings/updates/auto-update", data={"csrf": token, "enabled": "on"})
    assert "Auto-Updates for agents turned on" in r.text and 'data-testid="auto-update"' in r.text
    assert admin.get("/api/v1/fleet/settings").json()["auto_update"] is True


def test_sensor_selection_conflict_retry_and_log(
    admin: TestClient, ctx: ConsoleContext, page_ready: None
) -> None:
    a, b = _sensor(admin, ctx), _sensor(admin, ctx, version="0.2.0")
    c, token = _form_client(admin)
    both = {"csrf": token, "listed": [a.node_id, b.node_id], "sensor": [a.node_id, b.node_id]}
    r = c.post("/settings/updates/sensors/selection", data=both)
    assert 'data-testid="conflict"' in r.text and "update conflict" in r.text
    only_a = {"csrf": token, "listed": [a.node_id, b.node_id], "sensor": [a.node_id]}
    r = c.post("/settings/updates/sensors/selection", data=only_a)
    assert "1 sensor(s) for Automatic Version Updates" in r.text and 'data-testid="conflict"' not in r.text
    r = c.post(
        "/settings/updates/upload", data={"csrf": token}, files={"file": ("s.tar", sensor_pkg("0.2.0"))}
    )
    assert "updating 1 of 1 selected sensor(s)" in r.text
    cmd = a.checkin()["commands"][0]
    a.checkin(activity="updating", progress={"percent": 40, "phase": "verified"})
    page = c.get("/settings/updates").text
    assert '<progress max="100" value="40"' in page and "(verified)" in page
    a.checkin(
        results=[
            {
                "id": cmd["id"],
                "state": "failed",
                "error": "rolled back to 0.1.0",
                "result": {"rolled_back": True, "log": "boom"},
            }
        ]
    )
    page = c.get("/settings/updates").text
    assert "0.2.0: failed, rolled back — rolled back to 0.1.0" in page
    assert f'href="/api/v1/updates/sensors/{a.node_id}/failure-log"' in page
    r = c.post(f"/settings/updates/sensors/{a.node_id}/retry", data={"csrf": token})
    assert "Retrying the update to 0.2.0" in r.text
    assert c.get(f"/api/v1/updates/sensors/{a.node_id}/failure-log").status_code == 404  # retry pending


def test_read_only_sees_no_controls_and_may_not_post(admin: TestClient, page_ready: None) -> None:
    ro = _as(admin, "vera", "Read Only")
    html = ro.get("/settings/updates").text
    assert "Sensor version updates" in html and 'action="/settings/updates/upload"' not in html
    assert "Save selection" not in html and 'data-testid="auto-update"' in html  # shown, disabled
    token = _csrf(html)
    ro.headers.pop("X-CSRF-Token", None)
    r = ro.post("/settings/updates/upload", data={"csrf": token}, files={"file": ("o.tar", otd("1.1.0"))})
    assert r.status_code == 403 and "may not open this page" in r.text
    r = ro.post("/settings/updates/auto-update", data={"csrf": token, "enabled": "on"})
    assert r.status_code == 403
    assert ro.get("/api/v1/fleet/settings").json()["auto_update"] is False
