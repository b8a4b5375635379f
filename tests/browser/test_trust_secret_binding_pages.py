"""Chromium on the console's Mail Server page (finding 31): saving another server with the stored
password kept is refused at the password field, in words; typed again, it saves."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.e2e.conftest import LiveConsole
from tests.listeners import make_tls, smtp_server

pytestmark = pytest.mark.browser


def test_another_mail_server_needs_the_password_typed_again(
    browser: Browser, page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    with smtp_server() as (ctl, _sink):
        sign_in(page, live_console.url)
        page.get_by_role("link", name="Mail Server").click()
        page.get_by_label("Server address").fill("127.0.0.1")
        page.get_by_label("Port", exact=True).fill(str(ctl.port))
        page.get_by_label("Outgoing account (From address)").fill("otwatch@plant.example")
        page.get_by_label("Authentication").check()
        page.get_by_label("Username").fill("relay")
        page.get_by_label("Password").fill("stored-Smtp-Secret-42")
        page.get_by_label("SSL").select_option("starttls")
        page.get_by_label("CA certificate (PEM, optional)").fill(make_tls(tmp_path / "ca").ca_pem)
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#flash")).to_have_text("Mail server saved")

        page.reload()  # saved again as the page shows it (CA and all): the same server keeps the password
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#flash")).to_have_text("Mail server saved")
        expect(page.locator("#mail-form .form-error")).to_be_hidden()

        page.reload()
        expect(page.get_by_label("Password")).to_have_attribute("placeholder", "unchanged (stored)")
        page.get_by_label("Port", exact=True).fill(str(ctl.port + 1))  # another server, password kept
        page.get_by_role("button", name="Save").click()
        error = page.locator("#mail-form .form-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("enter the password again")
        expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label("Password")).to_be_focused()
        screenshot(page, "mail-server-password-again")

        page.get_by_label("Password").fill("typed-again-Secret-7")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#flash")).to_have_text("Mail server saved")
        page.reload()
        expect(page.get_by_label("Port", exact=True)).to_have_value(str(ctl.port + 1))


def test_another_webhook_receiver_needs_the_header_values_typed_again(
    browser: Browser, page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    """Finding 33 on the rule's edit form: the masked header is refused for another receiver."""
    sign_in(page, live_console.url)
    page.get_by_role("link", name="Forwarding Rules").click()
    page.get_by_role("link", name="Create Forwarding Rule").click()
    page.get_by_label("Name", exact=True).fill("SIEM hook")
    page.get_by_label("Send by").select_option("webhook")
    page.get_by_label("URL").fill("https://127.0.0.1:9443/hook")
    page.get_by_label("Extra headers").fill("Authorization: Bearer stored-Hook-Token-42")
    page.locator("#rule-webhook-ca").fill(make_tls(tmp_path / "ca").ca_pem)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_have_text("Rule created")
    # saved again as the form shows it (masked value, CA and all): the same receiver keeps the value
    edit = page.locator("#rules-table tbody tr", has_text="SIEM hook").get_by_role(
        "link", name="Edit SIEM hook"
    )
    edit.click()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_have_text("Rule saved")

    page.locator("#rules-table tbody tr", has_text="SIEM hook").get_by_role(
        "link", name="Edit SIEM hook"
    ).click()
    expect(page.get_by_label("Extra headers")).to_have_value("Authorization: ********")
    page.get_by_label("URL").fill("https://127.0.0.1:9444/hook")  # another receiver, the value kept
    page.get_by_role("button", name="Save").click()
    error = page.locator("form .form-error")
    expect(error).to_contain_text("type the header values again (Authorization)")
    expect(page.get_by_label("Extra headers")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "forwarding-rule-headers-again")

    page.get_by_label("Extra headers").fill("Authorization: Bearer typed-again")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_have_text("Rule saved")
    expect(page.locator("#rules-table")).to_contain_text("127.0.0.1:9444")
