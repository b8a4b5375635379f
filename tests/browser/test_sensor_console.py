"""The sensor's own console in Chromium: the Overview of a sensor that watched a plant, three charts drawn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from otwatch.inventory.vocabulary import Engine
from otwatch.sensor.capture.synth import demo_plant
from otwatch.sensor.local.store import Role, SensorStore
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.web.app import create_sensor_app
from otwatch.sensor.web.server import ConsoleServer
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.network]
PASSWORD = "browser-admin-1"


@pytest.fixture
def sensor_console(tmp_path: Path) -> Iterator[str]:
    sensor = Sensor()
    net = demo_plant(10)
    cut = net.frames[0][0] + 9 * 60
    for ts, lt, data in net.frames:
        if ts >= cut and sensor.learning:
            sensor.learning = False  # the incident in the last minute raises alerts
        sensor.process(ts, lt, data)
    sensor.finish()
    store = SensorStore(tmp_path / "state")
    store.ensure_users({Role.ADMIN.env: PASSWORD, Role.SUPPORT.env: "browser-support-1"})
    server = ConsoleServer(create_sensor_app(sensor, store), store, "127.0.0.1", 0).start()
    try:
        yield f"https://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_sensor_overview_draws_its_charts(page: Page, sensor_console: str) -> None:
    page.goto(f"{sensor_console}/overview")
    expect(page).to_have_url(f"{sensor_console}/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    for title in (
        "General Settings",
        "Traffic Monitoring",
        "Top 5 OT Protocols",
        "Traffic By Port",
        "Top open alerts",
    ):
        expect(page.get_by_role("heading", name=title, level=2)).to_be_visible()

    charts = {
        "traffic": ("circle.point", "Traffic Monitoring (Mbps per hour)"),
        "protocols": ("rect.bar", "Top 5 OT Protocols (devices)"),
        "ports": ("path.slice", "Traffic By Port"),
    }
    for name, (shape, label) in charts.items():
        svg = page.locator(f'figure[data-chart="{name}"] svg')
        expect(svg).to_have_attribute("aria-label", label)
        box = svg.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 80, (name, box)
        shapes = svg.locator(shape)
        assert shapes.count() > 0, name
        first = shapes.first.bounding_box()
        assert first is not None and first["width"] > 0 and first["height"] > 0, name
    expect(page.locator('figure[data-chart="protocols"] rect.bar[data-label="modbus"]')).to_have_count(1)
    expect(page.locator("#top-alerts tbody tr").first).to_be_visible()
    expect(page.get_by_test_id("connectivity")).to_have_text("Locally managed")
    screenshot(page, "sensor-console-overview")

    page.get_by_role("link", name="modbus: ").click()
    expect(page.get_by_role("heading", name="Device inventory")).to_be_visible()
    expect(page.locator("#devices tbody tr").first).to_be_visible()


@pytest.fixture
def local_sensor(tmp_path: Path) -> Iterator[tuple[str, Sensor]]:
    sensor = Sensor()
    store = SensorStore(tmp_path / "state")
    store.ensure_users({Role.ADMIN.env: PASSWORD, Role.SUPPORT.env: "browser-support-1"})
    server = ConsoleServer(create_sensor_app(sensor, store), store, "127.0.0.1", 0).start()
    try:
        yield f"https://127.0.0.1:{server.port}", sensor
    finally:
        server.stop()


def test_detection_engines_page_of_a_locally_managed_sensor(
    page: Page, local_sensor: tuple[str, Sensor]
) -> None:
    url, sensor = local_sensor
    page.goto(f"{url}/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Detection engines and network modeling").click()
    expect(
        page.get_by_role("heading", name="Detection engines and network modeling", level=1)
    ).to_be_visible()
    malware = page.get_by_role("switch", name="Malware")
    expect(malware).to_be_checked()
    malware.uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text(
        "engines on: Protocol Violation, Policy Violation, Anomaly, Operational"
    )
    expect(page.get_by_role("switch", name="Malware")).not_to_be_checked()
    assert sensor.settings.engines == set(Engine) - {Engine.MALWARE}

    page.get_by_role("switch", name="Learning", exact=True).uncheck()
    page.get_by_role("button", name="Save").click()
    dialog = page.get_by_role("alertdialog", name="Confirm")
    expect(dialog).to_contain_text("freezes the baseline")
    assert sensor.learning  # nothing changes before OK
    screenshot(page, "sensor-console-detection-confirm")
    dialog.get_by_role("button", name="OK").click()
    expect(page.get_by_role("status")).to_contain_text("Learning off, Smart IT Learning on")
    expect(page.get_by_role("switch", name="Learning", exact=True)).not_to_be_checked()
    assert not sensor.learning
    assert sensor.settings.engines == set(Engine) - {Engine.MALWARE}  # kept through the confirmation
