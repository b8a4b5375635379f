"""Chromium on System Configuration > Updates: upload a signed OTD engine package, see a tampered one
refused with the reason, and switch the agents' Auto-Updates on."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.console.test_updates import PUB, otd
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser


def test_upload_packages_and_auto_updates(
    browser: Browser, page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    keys = live_console.ctx.settings.data_dir / "release-keys"
    keys.mkdir(exist_ok=True)
    (keys / "release.pub").write_bytes(PUB)
    good = tmp_path / "otd-engine-1.1.0.tar"
    good.write_bytes(otd("1.1.0"))
    tampered = bytearray(otd("1.2.0"))
    tampered[bytes(tampered).index(b"44818")] ^= 1
    bad = tmp_path / "otd-engine-1.2.0.tar"
    bad.write_bytes(bytes(tampered))

    sign_in(page, live_console.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Updates").click()
    otd_table = page.locator('table[data-kind="otd"]')
    expect(otd_table).to_contain_text("No package uploaded")

    page.locator("#upload-file").set_input_files(str(good))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_test_id("done")).to_contain_text("otd-engine-1.1.0.tar verified and uploaded")
    expect(otd_table.locator("tbody tr").first).to_contain_text("1.1.0")

    page.locator("#upload-file").set_input_files(str(bad))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_test_id("error")).to_be_visible()
    expect(otd_table).not_to_contain_text("1.2.0")  # a refused package leaves nothing behind

    auto = page.get_by_test_id("auto-update")
    expect(auto).not_to_be_checked()  # off by default
    auto.check()
    page.locator("#auto-update-form").get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("auto-update")).to_be_checked()
    assert live_console.admin().get("/api/v1/fleet/settings").json()["auto_update"] is True
    screenshot(page, "updates")
