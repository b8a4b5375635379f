"""The sensor console's maintenance pages of issue 20 (items 3 to 5) in Chromium, on a locally managed
sensor: Backup & restore (back up now, download, a restore that must be confirmed, a damaged file
that restores nothing), the self-signed certificate's download, and the network settings form that
keeps what was typed when a field is refused and says the host's network is managed elsewhere."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from playwright.sync_api import Page, expect

from otwatch.sensor.capture.synth import demo_plant
from otwatch.sensor.local.store import Role, SensorStore
from otwatch.sensor.node.managed import SensorNode
from otwatch.sensor.web.app import create_sensor_app
from otwatch.sensor.web.server import ConsoleServer
from otwatch.wire.client import NodeState

pytestmark = pytest.mark.browser
PASSWORD = "browser-admin-1"


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[str, SensorNode]]:
    node = SensorNode(NodeState(tmp_path / "state"), [])  # never paired: locally managed
    for ts, lt, data in demo_plant(2).frames:
        node.sensor.process(ts, lt, data)
    node.sensor.finish()
    store = SensorStore(tmp_path / "state")
    store.ensure_users({Role.ADMIN.env: PASSWORD, Role.SUPPORT.env: "browser-support-1"})
    server = ConsoleServer(create_sensor_app(node, store), store, "127.0.0.1", 0).start()
    try:
        yield f"https://127.0.0.1:{server.port}", node
    finally:
        server.stop()
        node.stop()


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()


def test_backup_download_and_a_confirmed_restore(
    page: Page, console: tuple[str, SensorNode], tmp_path: Path
) -> None:
    base, node = console
    learned = node.sensor.baseline.as_dict()
    assert learned["conversations"]
    _sign_in(page, base)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Backup & restore").click()
    page.get_by_role("button", name="Back up now").click()
    expect(page.get_by_role("status")).to_contain_text("Backup made: sensor-backup-")
    rows = page.get_by_test_id("backup-list").locator("tbody tr")
    expect(rows).to_have_count(1)
    with page.expect_download() as info:
        rows.first.get_by_role("link", name="Download").click()
    archive = tmp_path / info.value.suggested_filename
    info.value.save_as(archive)
    assert archive.read_bytes().startswith(b"\x1f\x8b")

    node.sensor.baseline.conversations.clear()  # lost, e.g. a Clear data
    page.get_by_label("Backup file (.tar.gz)").set_input_files(str(archive))
    confirm = page.get_by_label("Yes, replace this sensor's settings")
    expect(confirm).not_to_be_checked()
    page.get_by_role("button", name="Restore").click()  # not confirmed: the browser keeps the form
    assert page.evaluate("() => document.querySelector('input[name=confirm]').validity.valueMissing")
    assert not node.sensor.baseline.conversations
    confirm.check()
    page.get_by_role("button", name="Restore").click()
    expect(page.get_by_role("status")).to_contain_text(f"Restored {archive.name}")
    assert node.sensor.baseline.as_dict() == learned

    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(archive.read_bytes()[:-64])
    page.get_by_label("Backup file (.tar.gz)").set_input_files(str(damaged))
    page.get_by_label("Yes, replace this sensor's settings").check()
    page.get_by_role("button", name="Restore").click()
    expect(page.get_by_test_id("error")).to_contain_text("Nothing was restored")


def test_the_self_signed_certificate_downloads(page: Page, console: tuple[str, SensorNode]) -> None:
    base, _ = console
    _sign_in(page, base)
    page.goto(f"{base}/system/certificate")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download certificate").click()
    cert = x509.load_pem_x509_certificate(Path(info.value.path()).read_bytes())
    url = urlsplit(base)
    served = ssl.get_server_certificate((url.hostname or "", url.port or 0))
    assert cert.public_bytes(Encoding.DER) == ssl.PEM_cert_to_DER_cert(served)  # the one in use
    assert info.value.suggested_filename.endswith(".crt")


def test_network_settings_keep_what_was_typed_and_say_where_they_apply(
    page: Page, console: tuple[str, SensorNode]
) -> None:
    base, _ = console
    _sign_in(page, base)
    page.goto(f"{base}/system/network")
    expect(page.locator("main")).to_contain_text("This host's network is managed elsewhere")
    page.get_by_label("IP address").fill("10.0.0.300")
    page.get_by_label("Subnet mask").fill("255.255.255.0")
    page.get_by_label("Hostname (optional)").fill("sensor-a")
    page.get_by_label("Proxy host").fill("proxy.plant")
    page.get_by_label("Proxy port").fill("3128")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_label("IP address")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("main")).to_contain_text("'10.0.0.300' is not an IPv4 address")
    for label, value in (("IP address", "10.0.0.300"), ("Subnet mask", "255.255.255.0"),
                         ("Hostname (optional)", "sensor-a"), ("Proxy host", "proxy.plant"),
                         ("Proxy port", "3128")):  # fmt: skip
        expect(page.get_by_label(label)).to_have_value(value)


def test_sensor_pages_ask_for_nothing_that_fails(page: Page, console: tuple[str, SensorNode]) -> None:
    """The sensor console's pages asked for /favicon.ico too, a 404 on each page load."""
    base, _ = console
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("console", lambda m: failed.append(m.text) if m.type == "error" else None)  # the favicon's 404
    _sign_in(page, base)
    for path in ("/overview", "/system/backup", "/system/network", "/system/certificate"):
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
    assert failed == []
