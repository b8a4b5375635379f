"""The sensor console's setting-group pages in Chromium, on a locally managed sensor: the Mail server
page refuses a bad form field by field, sends a test e-mail to a real SMTP server on 127.0.0.1
(aiosmtpd) and saves; Subnets and Port aliases are checked, saved, and the alias names the port on the
Overview's Traffic By Port chart."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from otwatch.sensor.capture.synth import demo_plant
from otwatch.sensor.local.store import Role, SensorStore
from otwatch.sensor.node.managed import SensorNode
from otwatch.sensor.web.app import create_sensor_app
from otwatch.sensor.web.server import ConsoleServer
from otwatch.wire.client import NodeState
from tests.browser.conftest import screenshot
from tests.listeners import MailSink, smtp_server, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.network]
PASSWORD = "browser-admin-1"


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[str, SensorNode, SensorStore]]:
    node = SensorNode(NodeState(tmp_path / "state"), [])  # never paired: locally managed
    for ts, lt, data in demo_plant(3).frames:
        node.sensor.process(ts, lt, data)
    node.sensor.finish()
    store = SensorStore(tmp_path / "state")
    store.ensure_users({Role.ADMIN.env: PASSWORD, Role.SUPPORT.env: "browser-support-1"})
    server = ConsoleServer(create_sensor_app(node, store), store, "127.0.0.1", 0).start()
    try:
        yield f"https://127.0.0.1:{server.port}", node, store
    finally:
        server.stop()
        node.stop()


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()


def test_mail_server_page_sends_a_test_email_and_saves(
    page: Page, console: tuple[str, SensorNode, SensorStore]
) -> None:
    base, node, store = console
    _sign_in(page, base)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Mail server").click()
    expect(page.get_by_role("heading", name="Mail server", level=1)).to_be_visible()
    expect(page.get_by_label("SMTP Server Port")).to_be_visible()

    with smtp_server(MailSink()) as (ctl, sink):
        page.get_by_label("SMTP Server Address").fill("127.0.0.1")
        page.get_by_label("SMTP Server Port").fill(str(ctl.port))
        page.get_by_label("Outgoing Mail Account").fill("not-an-address")
        page.get_by_label("Recipients").fill("ot@plant.example")
        page.get_by_role("button", name="Save").click()
        sender = page.get_by_label("Outgoing Mail Account")
        expect(sender).to_have_attribute("aria-invalid", "true")
        expect(page.locator('.field-error[data-field="sender"]')).to_contain_text("enter an e-mail address")
        expect(page.get_by_test_id("form-errors")).to_have_text("Please correct 1 field.")
        assert node.system.mail_server is None

        sender.fill("sensor@plant.example")
        page.get_by_label("Send the test to").fill("me@plant.example")
        page.get_by_role("button", name="Send test e-mail").click()
        expect(page.get_by_test_id("test-result")).to_have_text("Test e-mail sent to me@plant.example.")
        wait_until(lambda: len(sink.envelopes) == 1)
        msg = message_from_bytes(sink.envelopes[0].content)  # type: ignore[arg-type]
        assert str(msg["Subject"]).startswith("[OTWatch sensor ") and str(msg["Subject"]).endswith(
            "Test e-mail"
        )
        assert sink.envelopes[0].rcpt_tos == ["me@plant.example"]
        screenshot(page, "sensor-mail-server")

        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_have_text("Mail server saved.")
        expect(page.get_by_label("Outgoing Mail Account")).to_have_value("sensor@plant.example")
        expect(page.get_by_label("Recipients")).to_have_value("ot@plant.example")
    assert node.system.mail_server is not None and node.system.mail_server["port"] == ctl.port
    assert store.mail_recipients == ["ot@plant.example"]


def test_subnets_and_port_aliases_pages(page: Page, console: tuple[str, SensorNode, SensorStore]) -> None:
    base, node, _store = console
    _sign_in(page, base)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Subnets").click()
    expect(page.get_by_role("heading", name="Subnets", level=1)).to_be_visible()
    page.get_by_label("Subnets", exact=True).fill("10.10.0.1/24")
    page.get_by_role("button", name="Save").click()
    expect(page.locator('.field-error[data-field="subnets"]')).to_have_text(
        "line 1: '10.10.0.1/24' has host bits set; did you mean 10.10.0.0/24?"
    )
    page.get_by_label("Subnets", exact=True).fill("10.10.0.0/24")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Subnets saved.")
    assert [str(n) for n in node.sensor.settings.subnets] == ["10.10.0.0/24"]

    nav.get_by_role("link", name="Port aliases").click()
    page.get_by_label("Port aliases", exact=True).fill("502 = plant modbus")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Port aliases saved.")
    nav.get_by_role("link", name="Overview").click()
    expect(page.locator('figure[data-chart="ports"] [data-label="plant modbus"]').first).to_be_attached()
