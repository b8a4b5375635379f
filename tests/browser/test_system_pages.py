"""Chromium on System Configuration: create a forwarding rule and test it against a real syslog
receiver, set up the mail server and send a test email to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.e2e.conftest import LiveConsole
from tests.listeners import SyslogUDP, smtp_server, wait_until

pytestmark = pytest.mark.browser


def test_create_and_test_a_syslog_forwarding_rule(
    browser: Browser, page: Page, live_console: LiveConsole
) -> None:
    udp = SyslogUDP()
    try:
        sign_in(page, live_console.url)
        page.get_by_role("link", name="Forwarding Rules").click()
        page.get_by_role("link", name="Create Forwarding Rule").click()
        page.get_by_label("Name", exact=True).fill("SOC syslog")
        page.get_by_label("Report System Notifications").check()
        page.get_by_label("Severity").select_option(["Critical", "Major"])
        page.get_by_label("Protocols").fill("Modbus, S7comm")
        page.get_by_label("Send by").select_option("syslog")
        expect(page.get_by_label("Recipients")).to_be_hidden()
        page.get_by_label("Syslog server").fill("127.0.0.1")
        page.get_by_label("Port", exact=True).fill(str(udp.port))
        page.get_by_label("Format").select_option("cef")
        page.get_by_role("button", name="Save").click()

        expect(page).to_have_url(live_console.url + "/settings/forwarding")
        expect(page.locator("#flash")).to_have_text("Rule created")
        row = page.locator("#rules-table tbody tr", has_text="SOC syslog")
        expect(row).to_contain_text("Severity: Critical, Major; Protocol: Modbus, S7comm")
        expect(row).to_contain_text(f"Syslog CEF over UDP to 127.0.0.1:{udp.port}")
        expect(row).to_contain_text("Alerts, System notifications")
        row.get_by_role("button", name="Test").click()
        expect(page.locator("#flash")).to_contain_text("Sent: test message sent by syslog")
        wait_until(lambda: any("CEF:0|" in m for m in udp.messages))
        screenshot(page, "forwarding-rules")

        # edit: the form comes back filled in; a bad port is refused with the field marked
        row.get_by_role("link", name="Edit SOC syslog").click()
        expect(page.get_by_label("Name", exact=True)).to_have_value("SOC syslog")
        expect(page.get_by_label("Port", exact=True)).to_have_value(str(udp.port))
        page.get_by_label("Syslog server").fill("")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_label("Syslog server")).to_be_focused()  # the browser's own check: required
        page.get_by_label("Syslog server").fill("127.0.0.2")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#flash")).to_have_text("Rule saved")
        expect(page.locator("#rules-table")).to_contain_text(f"127.0.0.2:{udp.port}")
    finally:
        udp.close()


def test_mail_server_and_send_test_email(browser: Browser, page: Page, live_console: LiveConsole) -> None:
    with smtp_server() as (ctl, sink):
        sign_in(page, live_console.url)
        page.get_by_role("link", name="Mail Server").click()
        expect(page.get_by_role("button", name="Send test email")).to_be_disabled()  # nothing saved yet
        page.get_by_label("Server address").fill("127.0.0.1")
        page.get_by_label("Port", exact=True).fill(str(ctl.port))
        page.get_by_label("Outgoing account (From address)").fill("otwatch@plant.example")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#flash")).to_have_text("Mail server saved")
        expect(page.get_by_label("Server address")).to_have_value("127.0.0.1")

        page.get_by_label("Recipient").fill("soc@plant.example")
        page.get_by_role("button", name="Send test email").click()
        expect(page.locator("#flash")).to_contain_text("Sent:")
        wait_until(lambda: len(sink.envelopes) == 1)
        assert sink.envelopes[0].rcpt_tos == ["soc@plant.example"]
        assert sink.envelopes[0].mail_from == "otwatch@plant.example"
        screenshot(page, "mail-server")
