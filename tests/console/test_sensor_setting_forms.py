"""A sensor's settings forms through the API: PUT one group (validated per field, audited, delivered on
the sensor's next check-in like PATCH .../configuration), roles, and the test buttons against real
local servers (aiosmtpd SMTP, a UDP DNS responder)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from tests.console.helpers import FakeAgent, new_key
from tests.console.test_web_pages import _as
from tests.dnsserver import dns_server
from tests.listeners import password_authenticator, smtp_server

MAIL = {"address": "127.0.0.1", "port": 25, "sender": "sensor@plant.local", "ssl": "none", "username": ""}


def _sensor(admin: TestClient, ctx: ConsoleContext) -> FakeAgent:
    s = FakeAgent(ctx, admin.app, kind="sensor")
    s.enroll(admin, new_key(admin))
    assert admin.post(f"/api/v1/sensors/{s.node_id}/approve").status_code == 200
    s.checkin()
    return s


def _put(admin: TestClient, s: FakeAgent, group: str, value: Any) -> Any:
    return admin.put(f"/api/v1/sensors/{s.node_id}/settings/{group}", json=value)


def test_each_group_saved_audited_and_delivered(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    before = admin.get(f"/api/v1/sensors/{s.node_id}").json()["config_version"]
    values: dict[str, Any] = {
        "mail_server": {**MAIL, "address": "Mail.Plant.Local", "port": 587, "ssl": "starttls"},
        "snmp_mib_monitoring": {
            "enabled": True,
            "version": "v3",
            "v3_user": "mon",
            "allowed_managers": ["10.0.0.5"],
        },
        "active_directory": {
            "enabled": True,
            "domain": "plant.local",
            "servers": ["dc1.plant.local"],
            "port": 389,
            "ldaps": False,
            "starttls": True,
            "base_dn": "DC=plant,DC=local",
            "group_roles": {"OT Admins": "Admin"},
        },
        "dns_reverse_lookup": {
            "enabled": True,
            "servers": ["10.0.0.53"],
            "subnets": ["10.10.0.0/24"],
            "timeout": 1,
        },
        "subnets": ["10.10.0.0/24", "192.168.1.0/24"],
        "port_aliases": {"502": "plc-modbus", "20000": "dnp3 outstation"},
    }
    for group, value in values.items():
        r = _put(admin, s, group, value)
        assert r.status_code == 200, (group, r.text)
        assert r.json()["configured"] is True
    got = {g: admin.get(f"/api/v1/sensors/{s.node_id}/settings/{g}").json()["value"] for g in values}
    assert got["mail_server"]["address"] == "mail.plant.local"  # host names are stored lower-case
    assert got["dns_reverse_lookup"]["port"] == 53  # defaults filled in
    assert got["port_aliases"] == {"502": "plc-modbus", "20000": "dnp3 outstation"}
    view = admin.get(f"/api/v1/sensors/{s.node_id}").json()
    assert view["config_version"] == before + len(values)  # one configuration version per save
    cfg = s.checkin()["config"]
    assert cfg is not None
    for group in values:
        assert cfg[group] == got[group], group
    audit = admin.get("/api/v1/audit?action=sensor.configured").json()["items"]
    assert {tuple(a["detail"]) for a in audit if a["target"] == s.node_id} >= {(g,) for g in values}


def test_errors_name_the_field_inside_the_group(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    r = _put(admin, s, "mail_server", {**MAIL, "port": 70000, "sender": "not an address"})
    assert r.status_code == 422
    fields = {d["field"]: d["problem"] for d in r.json()["error"]["details"]}
    assert set(fields) == {"port", "sender"}
    assert "65535" in fields["port"]
    assert r.json()["error"]["message"].startswith("Mail server: ")
    r = _put(admin, s, "dns_reverse_lookup", {"servers": ["10.0.0.53", "dns.local"], "subnets": []})
    assert [d["field"] for d in r.json()["error"]["details"]] == ["servers.1"]
    r = _put(admin, s, "subnets", ["10.10.0.0/24", "10.10.1.7/24"])
    assert r.status_code == 422
    (detail,) = r.json()["error"]["details"]
    assert detail["field"] == "subnets" and "did you mean 10.10.1.0/24" in detail["problem"]
    r = _put(admin, s, "active_directory", {"enabled": True, "servers": []})
    assert r.status_code == 422 and "needs a domain" in r.json()["error"]["details"][0]["problem"]
    r = _put(admin, s, "port_aliases", {"http": "web"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"].startswith("http")
    assert admin.get(f"/api/v1/sensors/{s.node_id}/settings/subnets").json()["configured"] is False
    assert admin.put(f"/api/v1/sensors/{s.node_id}/settings/learning", json={}).status_code == 422


def test_only_admins_save_or_test(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    analyst = _as(admin, "an", "Security Analyst")
    assert _put(analyst, s, "subnets", ["10.0.0.0/8"]).status_code == 403
    r = analyst.post(f"/api/v1/sensors/{s.node_id}/settings/mail_server/test", json={"settings": MAIL})
    assert r.status_code == 403


def test_mail_test_connects_signs_in_and_sends(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    url = f"/api/v1/sensors/{s.node_id}/settings/mail_server/test"
    with smtp_server(authenticator=password_authenticator("sensor", "s3cret"), auth_require_tls=False) as (
        ctl,
        sink,
    ):
        mail = {**MAIL, "port": ctl.port}
        r = admin.post(url, json={"settings": mail})
        out = r.json()
        assert r.status_code == 200 and out["ok"] is True, out
        assert out["detail"] == f"connected to 127.0.0.1:{ctl.port}"
        assert any("tested from the console" in n for n in out["notes"])
        assert sink.envelopes == []  # connection only: nothing sent

        authed = {**mail, "username": "sensor"}
        r = admin.post(url, json={"settings": authed, "password": "wrong"})
        assert r.json()["ok"] is False and "authentication failed" in r.json()["detail"]
        r = admin.post(url, json={"settings": authed, "password": "s3cret", "to": "ops@plant.local"})
        assert r.json() == {
            **r.json(),
            "ok": True,
            "detail": f"test email sent to ops@plant.local through 127.0.0.1:{ctl.port}",
        }
        (env,) = sink.envelopes
        assert env.rcpt_tos == ["ops@plant.local"] and env.mail_from == "sensor@plant.local"
        assert isinstance(env.content, bytes) and b"mail server settings of an OTWatch sensor" in env.content
        port = ctl.port
    r = admin.post(url, json={"settings": {**MAIL, "port": port}})
    assert r.json()["ok"] is False and "cannot connect" in r.json()["detail"]  # the server is gone
    r = admin.post(url, json={"settings": {**MAIL, "port": 0}})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "port"

    audit = admin.get("/api/v1/audit?action=sensor.settings_tested").json()["items"]
    assert len(audit) == 4  # the refused one is not a test
    assert all("s3cret" not in str(a) and "wrong" not in str(a["detail"]) for a in audit)
    assert "password" not in str(admin.get(f"/api/v1/sensors/{s.node_id}").json()["settings"])


def test_dns_test_asks_each_server(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    url = f"/api/v1/sensors/{s.node_id}/settings/dns_reverse_lookup/test"
    with dns_server(ptr={"1.0.10.10.in-addr.arpa.": "plc-1.plant.local."},
                    a={"historian.plant.local.": "10.10.0.20"}) as dns:  # fmt: skip
        base = {
            "enabled": True,
            "servers": ["127.0.0.1"],
            "port": dns.port,
            "subnets": ["10.10.0.0/24"],
            "timeout": 1,
        }
        out = admin.post(url, json={"settings": base}).json()
        assert out["ok"] is True, out
        assert f"127.0.0.1:{dns.port}: 10.10.0.1 → plc-1.plant.local" in out["notes"]
        assert dns.queries == [("1.0.10.10.in-addr.arpa.", "PTR")]  # the first address of the first subnet
        out = admin.post(url, json={"settings": base, "lookup": "historian.plant.local"}).json()
        assert out["ok"] is True and "historian.plant.local → 10.10.0.20" in out["notes"][0]
        out = admin.post(url, json={"settings": base, "lookup": "10.10.0.99"}).json()
        assert out["ok"] is True and "NXDOMAIN" in out["notes"][0]
        two = {**base, "servers": ["127.0.0.1", "127.0.0.2"], "timeout": 0.3}  # nobody on 127.0.0.2
        out = admin.post(url, json={"settings": two}).json()
        assert out["ok"] is False and out["detail"].startswith("1 of 2 DNS server(s) did not answer")
        assert "127.0.0.2" in out["notes"][1] and "no answer" in out["notes"][1]
    r = admin.post(f"/api/v1/sensors/{s.node_id}/settings/subnets/test", json={"settings": {}})
    assert r.status_code == 404


def test_sensor_page_has_a_form_per_group_read_only_for_others(
    admin: TestClient, ctx: ConsoleContext
) -> None:
    s = _sensor(admin, ctx)
    _put(admin, s, "port_aliases", {"8080": "historian web", "502": "plc-modbus"})
    _put(admin, s, "mail_server", {**MAIL, "address": "mail.plant.local", "username": "ot-sensor"})
    _put(admin, s, "active_directory", {"group_roles": {'"><script>alert(1)</script>': "Admin"}})
    html = admin.get(f"/sensors/{s.node_id}").text
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html  # values are escaped
    for group in ("mail_server", "snmp_mib_monitoring", "active_directory", "dns_reverse_lookup", "subnets",
                  "port_aliases"):  # fmt: skip
        assert f'data-setting-group="{group}"' in html, group
    assert html.count('data-test-group="') == 3  # mail, AD, DNS: the groups that name a server
    assert 'value="mail.plant.local"' in html and 'value="ot-sensor"' in html
    assert html.index('value="502"') < html.index('value="8080"')  # ports in numeric order
    assert html.count("<fieldset disabled>") == 0
    ro = _as(admin, "ro", "Read Only")
    html = ro.get(f"/sensors/{s.node_id}").text
    assert 'value="mail.plant.local"' in html  # the values, read-only
    assert html.count("<fieldset disabled>") == 6 and "data-test-group" not in html
    assert ">Save</button>" not in html.split('id="system-settings"')[1]
    assert "Only an Admin can change these settings." in html


def test_use_ntlm_is_a_field_of_the_pushed_mail_server(admin: TestClient, ctx: ConsoleContext) -> None:
    """The seed's Mail server has Use NTLM; the console's form and Push settings had no such switch, so a
    sensor set from its console could not use it."""
    s = _sensor(admin, ctx)
    r = _put(admin, s, "mail_server", {**MAIL, "username": "ot-sensor", "ntlm": True})
    assert r.status_code == 200, r.text
    assert admin.get(f"/api/v1/sensors/{s.node_id}/settings/mail_server").json()["value"]["ntlm"] is True
    cfg = s.checkin()["config"]
    assert cfg is not None and cfg["mail_server"]["ntlm"] is True
    html = admin.get(f"/sensors/{s.node_id}").text
    assert re.search(r'id="mail_server-ntlm" name="ntlm" data-field="ntlm" data-kind="bool" checked', html)
    # an option of Authentication: without an account it is off
    assert _put(admin, s, "mail_server", {**MAIL, "ntlm": True}).status_code == 200
    assert admin.get(f"/api/v1/sensors/{s.node_id}/settings/mail_server").json()["value"]["ntlm"] is False
