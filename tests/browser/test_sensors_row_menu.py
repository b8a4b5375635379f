"""Sites and Sensors in Chromium: Smart IT Learning per sensor (switch, confirmed when turned off) and in
bulk, and the sensor row's menu (⋯) > Download activation file: a file signed by this console's CA."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from otwatch.wire import activation
from otwatch.wire.activation import ManagementMode
from tests.browser.conftest import screenshot, sign_in
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser


def _two_sensors(live: LiveConsole, tmp_path: Path) -> list[str]:
    ids = []
    for name in ("a", "b"):
        _, ident = live.enrolled(tmp_path / name, "sensor")
        api = live.admin()
        try:
            assert api.post(f"/api/v1/sensors/{ident.node_id}/approve").status_code == 200
            assert api.patch(
                f"/api/v1/sensors/{ident.node_id}/configuration", json={"learning": True}
            ).is_success
        finally:
            api.close()
        ids.append(ident.node_id)
    return ids


def _setting(live: LiveConsole, sid: str, key: str) -> object:
    api = live.admin()
    try:
        return api.get(f"/api/v1/sensors/{sid}").json()["settings"][key]
    finally:
        api.close()


def test_smart_it_learning_per_sensor_and_in_bulk(
    page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    a, b = _two_sensors(live_console, tmp_path)
    sign_in(page, live_console.url)
    page.goto(live_console.url + "/sensors")
    expect(page.get_by_role("columnheader", name="Smart IT Learning")).to_be_visible()
    row_a = page.locator(f'tr[data-id="{a}"]')
    switch = row_a.get_by_role("switch", name="Smart IT Learning of")
    expect(switch).to_be_checked()

    messages: list[str] = []
    page.once("dialog", lambda d: (messages.append(d.message), d.dismiss()))
    switch.click()  # dismissed: nothing changes
    expect(switch).to_be_checked()
    assert "false positive policy violation alerts" in messages[0]
    assert _setting(live_console, a, "smart_it_learning") is True

    page.once("dialog", lambda d: d.accept())
    switch.click()
    expect(page.locator("#flash")).to_contain_text("Smart IT Learning of")
    expect(page.locator("#flash")).to_contain_text(": off")
    expect(switch).not_to_be_checked()
    assert _setting(live_console, a, "smart_it_learning") is False

    page.get_by_label("Select all sensors").check()
    page.get_by_role("button", name="Bulk Actions").click()
    page.get_by_role("menuitem", name="Smart IT Learning On").click()
    expect(page.locator("#flash")).to_have_text("Smart IT Learning On: 2 succeeded, 0 failed")
    expect(switch).to_be_checked()
    assert _setting(live_console, a, "smart_it_learning") is True
    assert _setting(live_console, b, "smart_it_learning") is True


def test_row_menu_downloads_an_activation_file(page: Page, live_console: LiveConsole, tmp_path: Path) -> None:
    a, _ = _two_sensors(live_console, tmp_path)
    sign_in(page, live_console.url)
    page.goto(live_console.url + "/sensors")
    row = page.locator(f'tr[data-id="{a}"]')
    row.get_by_role("button", name="More actions for").click()
    row.get_by_role("menuitem", name="Download activation file").click()
    panel = page.locator("#activation-panel")
    expect(panel).to_be_visible()
    panel.get_by_label("Locally managed").check()
    screenshot(page, "sensor-activation-file")
    with page.expect_download() as info:
        panel.get_by_role("button", name="Download").click()
    download = info.value
    assert download.suggested_filename.startswith("activation-locally-managed-")
    data = Path(download.path()).read_bytes()
    ca = live_console.ctx.pki.ca_file.read_text()
    act = activation.verify(data, ca)
    assert act.mode is ManagementMode.LOCALLY_MANAGED and act.node_id == a
    expect(page.locator("#flash")).to_contain_text("Activation file downloaded for")
    expect(panel).to_be_hidden()

    # console-connected: a file carrying a new pairing key
    row.get_by_role("button", name="More actions for").click()
    row.get_by_role("menuitem", name="Download activation file").click()
    expect(panel.get_by_label("Console-connected")).to_be_checked()
    with page.expect_download() as info:
        panel.get_by_role("button", name="Download").click()
    act = activation.verify(Path(info.value.path()).read_bytes(), ca)
    assert act.mode is ManagementMode.CONSOLE_CONNECTED and act.pairing_key


def test_the_last_rows_menu_is_not_clipped_by_the_table(
    page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    """The table scrolls sideways, and its box cut off the bottom of the last row's menu."""
    _two_sensors(live_console, tmp_path)
    sign_in(page, live_console.url)
    page.goto(live_console.url + "/sensors")
    last = page.locator("#sensors-body tr[data-id]").last
    last.get_by_role("button", name="More actions for").click()
    item = last.get_by_role("menuitem", name="Download activation file")
    expect(item).to_be_focused()
    whole = page.evaluate(
        """(el) => {
            const menu = el.closest('[role=menu]').getBoundingClientRect();
            const points = [[menu.left + 3, menu.top + 3], [menu.right - 3, menu.bottom - 3],
                            [menu.left + menu.width / 2, menu.bottom - 2]];
            return points.every(([x, y]) => el.closest('[role=menu]').contains(document.elementFromPoint(x, y)));
        }""",
        item.element_handle(),
    )
    assert whole, "part of the row menu is hidden"
    item.click()
    expect(page.locator("#activation-panel")).to_be_visible()


def test_sensor_engine_configuration_holds_learning_and_smart_it_learning(
    page: Page, live_console: LiveConsole, tmp_path: Path
) -> None:
    """Seed 002's Sensor Engine Configuration section sets Learning Mode with the engines, for one or
    more sensors; the panel had the engines only."""
    a, b = _two_sensors(live_console, tmp_path)
    sign_in(page, live_console.url)
    page.goto(live_console.url + "/sensors")
    page.get_by_label("Select all sensors").check()
    page.get_by_role("button", name="Bulk Actions").click()
    page.get_by_role("menuitem", name="Sensor Engine Configuration").click()
    panel = page.locator("#engines-panel")
    panel.get_by_label("Learning Mode").select_option("off")
    panel.get_by_label("Smart IT Learning").select_option("off")
    panel.get_by_label("Anomaly", exact=True).select_option("off")
    page.once("dialog", lambda d: d.dismiss())  # Smart IT Learning off is confirmed first
    panel.get_by_role("button", name="Save Changes").click()
    expect(panel).to_be_visible()
    assert _setting(live_console, a, "learning") is True
    page.once("dialog", lambda d: d.accept())
    panel.get_by_role("button", name="Save Changes").click()
    expect(page.locator("#flash")).to_have_text("Sensor Engine Configuration: 2 succeeded, 0 failed")
    expect(panel).to_be_hidden()
    for sid in (a, b):
        assert _setting(live_console, sid, "learning") is False
        assert _setting(live_console, sid, "smart_it_learning") is False
        assert "Anomaly" not in _setting(live_console, sid, "engines")  # type: ignore[operator]
        assert "Malware" in _setting(live_console, sid, "engines")  # type: ignore[operator]
    # Learning Mode alone: one request, the engines as they are
    page.get_by_role("button", name="Bulk Actions").click()
    page.get_by_role("menuitem", name="Sensor Engine Configuration").click()
    panel.get_by_label("Learning Mode").select_option("on")
    panel.get_by_role("button", name="Save Changes").click()
    expect(page.locator("#flash")).to_have_text("Sensor Engine Configuration: 2 succeeded, 0 failed")
    assert _setting(live_console, a, "learning") is True
    assert "Anomaly" not in _setting(live_console, a, "engines")  # type: ignore[operator]
    expect(page.locator(f'tr[data-id="{a}"]').get_by_role("switch", name="Learning Mode of")).to_be_checked()
