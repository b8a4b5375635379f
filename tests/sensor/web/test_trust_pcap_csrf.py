"""Issue 17, item 19: the sensor console's sign-in form carries a CSRF token, and a PCAP upload carries
its token in the form (or a header), never in the URL (where logs and Referer headers keep it)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from otwatch.sensor.pipeline.sensor import Sensor
from tests.sensor.web.conftest import AppFactory, client_for, csrf
from tests.sensor.web.test_pcap import small_capture

__all__ = ["small_capture"]  # the fixture


def _enable(c: TestClient) -> None:
    r = c.post(
        "/system/advanced",
        data={"csrf": csrf(c), "category": "pcaps", "values": "enabled=1\nspeed=0"},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_pcap_upload_token_is_not_in_the_url(make_app: AppFactory, small_capture: bytes) -> None:
    app = make_app(Sensor())
    assert 'name="csrf"' in TestClient(app, base_url="https://testserver").get("/login").text
    admin = client_for(app)
    _enable(admin)
    page = admin.get("/system/pcap").text
    assert "upload?csrf=" not in page and 'action="/system/pcap/upload"' in page
    token = csrf(admin)
    files = [("files", ("a.pcap", small_capture, "application/vnd.tcpdump.pcap"))]
    r = admin.post("/system/pcap/upload", data={"csrf": token}, files=files, follow_redirects=False)
    assert r.status_code == 303, r.text
    r = admin.post(
        "/system/pcap/upload", headers={"X-CSRF-Token": token}, files=files, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    r = admin.post(f"/system/pcap/upload?csrf={token}", files=files, follow_redirects=False)
    assert r.status_code == 403  # a token in the URL is not taken
    r = admin.post("/system/pcap/upload", data={"csrf": "wrong"}, files=files, follow_redirects=False)
    assert r.status_code == 403
