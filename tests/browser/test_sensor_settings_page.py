"""A sensor's System settings forms in Chromium, against a real enrolled sensor (SensorNode) and a real
SMTP server (aiosmtpd): subnets and port aliases filled in and seen arriving at the sensor, field errors
shown inline, the mail server's test button sending a test email, and the Active Directory (slapd) and
DNS (a local UDP responder) test buttons."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from otwatch.sensor.node.managed import SensorNode
from otwatch.wire.client import Credentials, NodeState, enroll
from tests.browser.conftest import screenshot, sign_in
from tests.dnsserver import dns_server
from tests.e2e.conftest import LiveConsole
from tests.e2e.test_pairing_e2e import wait_for
from tests.ldapserver import BIND_DN, BIND_PW, SUFFIX, Slapd, slapd
from tests.listeners import smtp_server

pytestmark = pytest.mark.browser
__all__ = ["slapd"]


def test_settings_forms_reach_the_sensor_and_test_the_mail_server(
    page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    api = live_console.admin()
    api.patch("/api/v1/fleet/settings", json={"auto_approve": True}).raise_for_status()
    key = api.post("/api/v1/pairing-keys", json={"description": "browser"}).json()["pairing_key"]
    ident, _ = enroll(NodeState(tmp_path / "s"), "sensor", Credentials(pairing_key=key))
    node = SensorNode(NodeState(tmp_path / "s"), [], report_every=0.5, longpoll=2.0)
    t = threading.Thread(target=node.run, daemon=True)
    t.start()
    try:
        wait_for(lambda: api.get(f"/api/v1/sensors/{ident.node_id}").json()["status"] == "Connected")
        sign_in(page, live_console.url, then=f"/sensors/{ident.node_id}")
        section = page.locator("#system-settings")

        # Subnets: one per line, saved, delivered to the sensor
        subnets = section.locator('form[data-setting-group="subnets"]')
        subnets.get_by_label("Subnets", exact=True).fill("10.10.0.0/24\n192.168.50.0/24\n")
        subnets.get_by_role("button", name="Save").click()
        expect(page.locator("#flash")).to_have_text("Subnets saved; the sensor takes it on its next check-in")
        wait_for(
            lambda: [str(n) for n in node.sensor.settings.subnets] == ["10.10.0.0/24", "192.168.50.0/24"]
        )

        # Port aliases: rows added, one removed again, saved, delivered
        aliases = section.locator('form[data-setting-group="port_aliases"]')
        for port, name in (("502", "plc-modbus"), ("8080", "mistake"), ("20000", "dnp3 outstation")):
            aliases.get_by_role("button", name="Add port alias").click()
            aliases.get_by_label("Port", exact=True).last.fill(port)
            aliases.get_by_label("Name", exact=True).last.fill(name)
        aliases.locator("tr[data-row]").nth(1).get_by_role("button", name="Remove Port").click()
        aliases.get_by_role("button", name="Save").click()
        expect(page.locator("#flash")).to_have_text(
            "Port aliases saved; the sensor takes it on its next check-in"
        )
        wait_for(lambda: node.sensor.settings.port_aliases == {502: "plc-modbus", 20000: "dnp3 outstation"})
        wait_for(lambda: (lambda v: v["config_acked"] == v["config_version"])(
            api.get(f"/api/v1/sensors/{ident.node_id}").json()))  # fmt: skip
        page.reload()
        expect(aliases.get_by_label("Port", exact=True)).to_have_count(2)
        expect(aliases.get_by_label("Port", exact=True).first).to_have_value("502")
        expect(subnets.get_by_label("Subnets", exact=True)).to_have_value("10.10.0.0/24\n192.168.50.0/24")

        # Field errors inline, next to their fields; nothing saved
        subnets.get_by_label("Subnets", exact=True).fill("10.10.1.7/24")
        subnets.get_by_role("button", name="Save").click()
        expect(subnets.locator('[data-error-for="subnets"]')).to_have_text(
            "'10.10.1.7/24' has host bits set; did you mean 10.10.1.0/24?"
        )
        expect(subnets.get_by_label("Subnets", exact=True)).to_have_attribute("aria-invalid", "true")
        mail = section.locator('form[data-setting-group="mail_server"]')
        mail.get_by_label("SMTP Server Address").fill("127.0.0.1")
        mail.get_by_label("SMTP Server Port").fill("70000")
        mail.get_by_label("Outgoing Mail Account").fill("not-an-address")
        mail.get_by_role("button", name="Save").click()
        expect(mail.locator('[data-error-for="port"]')).to_contain_text("less than or equal to 65535")
        expect(mail.locator('[data-error-for="sender"]')).to_contain_text("should match pattern")
        expect(mail.get_by_label("SMTP Server Port")).to_have_attribute("aria-invalid", "true")
        expect(mail.locator('[data-error-for="address"]')).to_be_hidden()
        screenshot(page, "sensor-settings-errors")
        assert api.get(f"/api/v1/sensors/{ident.node_id}/settings/mail_server").json()["configured"] is False
        assert [str(n) for n in node.sensor.settings.subnets] == ["10.10.0.0/24", "192.168.50.0/24"]

        # The mail server's test button against a real SMTP server, before saving
        with smtp_server() as (ctl, sink):
            mail.get_by_label("SMTP Server Port").fill(str(ctl.port))
            mail.get_by_label("Outgoing Mail Account").fill("sensor@plant.local")
            mail.get_by_label("Send a test email to (optional)").fill("ops@plant.local")
            mail.get_by_role("button", name="Test mail server").click()
            result = mail.locator("[data-test-result]")
            expect(result).to_contain_text(
                f"Test passed: test email sent to ops@plant.local through 127.0.0.1:{ctl.port}"
            )
            expect(result).to_contain_text("tested from the console")
            expect(mail.locator('[data-error-for="port"]')).to_be_hidden()
            assert [e.rcpt_tos for e in sink.envelopes] == [["ops@plant.local"]]
            screenshot(page, "sensor-settings-mail-test")
            gone = ctl.port
        mail.get_by_role("button", name="Test mail server").click()
        expect(result).to_contain_text(f"Test failed: cannot connect to the mail server 127.0.0.1:{gone}")
        mail.get_by_role("button", name="Save").click()
        expect(page.locator("#flash")).to_have_text(
            "Mail server saved; the sensor takes it on its next check-in"
        )
        wait_for(lambda: (node.system.mail_server or {}).get("port") == gone)

        # Authentication with the seed's Use NTLM, delivered to the sensor with the group
        expect(mail.get_by_label("Use NTLM")).to_be_hidden()
        mail.get_by_label("Authentication").check()
        mail.get_by_label("Username").fill("relay")
        mail.get_by_label("Use NTLM").check()
        mail.get_by_role("button", name="Save").click()
        wait_for(lambda: (node.system.mail_server or {}).get("ntlm") is True)
        assert (node.system.mail_server or {}).get("username") == "relay"
    finally:
        node.stop()
        t.join(timeout=10)
        api.close()


def test_ad_and_dns_test_buttons(page: Page, live_console: LiveConsole, tmp_path: Path, slapd: Slapd) -> None:
    _, ident = live_console.enrolled(tmp_path / "s", "sensor")
    sign_in(page, live_console.url, then=f"/sensors/{ident.node_id}")
    ad = page.locator('form[data-setting-group="active_directory"]')
    ad.get_by_label("Domain", exact=True).fill("plant.local")
    ad.get_by_label("Servers", exact=True).fill(slapd.host)
    ad.get_by_label("Port", exact=True).fill(str(slapd.port))
    ad.get_by_label("LDAPS", exact=True).uncheck()
    ad.get_by_label("StartTLS (plain LDAP)").check()
    ad.get_by_label("Base DN", exact=True).fill(SUFFIX)
    ad.get_by_label("Bind DN", exact=True).fill(BIND_DN)
    ad.get_by_label("Bind password (this test only)").fill("wrong")
    ad.get_by_label("CA certificate of the servers (PEM, optional)").fill(slapd.ca_pem)
    ad.get_by_role("button", name="Test connection").click()
    result = ad.locator("[data-test-result]")
    expect(result).to_contain_text("Test failed: 1 of 1 server(s) failed")
    expect(result).to_contain_text("invalid credentials")
    ad.get_by_label("Bind password (this test only)").fill(BIND_PW)
    ad.get_by_role("button", name="Test connection").click()
    expect(result).to_contain_text(f"Test passed: bound to all 1 server(s) as {BIND_DN}")
    expect(result).to_contain_text(f"(StartTLS): bound as {BIND_DN}; base DN {SUFFIX} found")
    ad.get_by_role("button", name="Add AD group").click()
    ad.get_by_label("AD group", exact=True).fill("OT Admins")
    ad.get_by_label("Role", exact=True).select_option("Admin")
    ad.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_have_text(
        "Active Directory saved; the sensor takes it on its next check-in"
    )
    api = live_console.admin()
    saved = api.get(f"/api/v1/sensors/{ident.node_id}/settings/active_directory").json()["value"]
    assert saved["group_roles"] == {"OT Admins": "Admin"} and saved["starttls"] is True
    assert BIND_PW not in str(api.get("/api/v1/audit?limit=50").json())  # the test's secret is not kept

    with dns_server(ptr={"1.0.10.10.in-addr.arpa.": "plc-1.plant.local."}) as dns:
        d = page.locator('form[data-setting-group="dns_reverse_lookup"]')
        d.get_by_label("DNS servers").fill("127.0.0.1")
        d.get_by_label("Port", exact=True).fill(str(dns.port))
        d.get_by_label("Subnets to resolve").fill("10.10.0.0/24")
        d.get_by_role("button", name="Test lookup").click()
        dresult = d.locator("[data-test-result]")
        expect(dresult).to_contain_text("Test passed: all 1 DNS server(s) answered for 10.10.0.1")
        expect(dresult).to_contain_text("10.10.0.1 → plc-1.plant.local")
        d.get_by_label("DNS servers").fill("127.0.0.1\ndns.plant.local")
        d.get_by_role("button", name="Test lookup").click()
        expect(d.locator('[data-error-for="servers"]')).to_have_text(
            "line 2: 'dns.plant.local' is not an IP address"
        )
        assert dns.queries == [("1.0.10.10.in-addr.arpa.", "PTR")]
    api.close()
