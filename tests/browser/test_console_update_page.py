"""Chromium on System Configuration > Updates with a real console process: upload a console version,
Apply it through the confirmation dialog, follow the steps while the console stops and starts again
(the page says it is reconnecting), and find the new version at the bottom left of the page."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from otwatch.console.handover import alive
from tests.browser.conftest import screenshot, sign_in
from tests.console.test_updates_selfupdate import console_pkg
from tests.faults.procs import ConsoleProc
from tests.sensor.node.test_versions import PUB

pytestmark = [pytest.mark.browser, pytest.mark.timeout(400)]


@pytest.fixture
def console(tmp_path: Path) -> Iterator[ConsoleProc]:
    data = tmp_path / "console"
    (data / "release-keys").mkdir(parents=True)
    (data / "release-keys" / "release.pub").write_bytes(PUB)
    proc = ConsoleProc(data, background_workers="false").start()
    try:
        yield proc
    finally:
        proc.stop()
        status = data / "console-update" / "status.json"
        if status.exists():  # the console the supervisor started, stopped by its pid
            found = json.loads(status.read_text())
            for key in ("supervisor_pid", "new_console_pid"):
                pid = found.get(key)
                if isinstance(pid, int) and alive(pid):
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
                    end = time.monotonic() + 15
                    while alive(pid) and time.monotonic() < end:
                        time.sleep(0.1)


def test_apply_console_update_and_follow_it(page: Page, console: ConsoleProc, tmp_path: Path) -> None:
    pkg = tmp_path / "management-secured-patcher-0.2.0.tar"
    pkg.write_bytes(console_pkg("0.2.0", "0.1.0", ["0901"]))
    sign_in(page, console.url, then="/settings/updates")
    footer = page.get_by_test_id("version-footer")
    expect(footer).to_have_text("OTWatch console 0.1.0")
    box = footer.bounding_box()
    assert box is not None and box["x"] < 100  # bottom left, in the side menu

    page.locator("#upload-file").set_input_files(str(pkg))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_test_id("done")).to_contain_text(
        "management-secured-patcher-0.2.0.tar verified and uploaded"
    )
    row = page.locator('table[data-kind="console"] tbody tr').first
    expect(row).to_contain_text("0.2.0")

    row.get_by_role("button", name="Apply").click()
    dialog = page.get_by_role("dialog", name="Apply the console update?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("management-secured-patcher-0.2.0.tar")
    dialog.get_by_role("button", name="Cancel").click()  # cancelled: nothing starts
    expect(dialog).to_be_hidden()
    assert not (console.data_dir / "console-update" / "status.json").exists()

    row.get_by_role("button", name="Apply").click()
    dialog.get_by_role("button", name="Apply the update").click()
    result = page.get_by_test_id("console-update-result")
    steps = page.get_by_test_id("console-update-steps")
    expect(steps.locator("li")).to_have_count(8)
    expect(steps.locator("li").first).to_contain_text("Verify the package signature")
    # the console is stopped, then the restarted one answers: the page waits for it and goes on
    expect(result).to_have_attribute("data-state", "reconnecting", timeout=60_000)
    expect(result).to_have_text("The console is restarting; reconnecting…")
    # done: the page reloads once the new version answers, and shows it at the bottom left
    expect(footer).to_have_text("OTWatch console 0.2.0", timeout=180_000)
    expect(result).to_have_attribute("data-state", "succeeded")
    expect(result).to_have_text("Updated")
    expect(page.locator("#flash")).to_have_text("Console version 0.2.0 is running")
    expect(page.get_by_test_id("console-update-percent")).to_have_text("100%")
    expect(steps.locator('li[data-state="done"]')).to_have_count(8)
    expect(page.get_by_test_id("console-version")).to_have_text("0.2.0")
    expect(row.get_by_role("button", name="Apply")).to_have_count(0)  # nothing left to apply
    expect(row).to_contain_text("running")
    screenshot(page, "console-update")
